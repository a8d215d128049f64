"""The stock Graph SDK (msgraph-sdk) against the `teamsapps` fixture: publish an app, install it
for a user, publish a new version and upgrade the installation to it."""

import asyncio

import pytest

pytest.importorskip("msgraph")

from kiota_abstractions.base_request_configuration import RequestConfiguration  # noqa: E402
from kiota_abstractions.method import Method  # noqa: E402
from kiota_abstractions.request_information import RequestInformation  # noqa: E402
from msgraph.generated.chats.item.installed_apps.item.upgrade.upgrade_post_request_body import (  # noqa: E402
    UpgradePostRequestBody)
from msgraph.generated.models.o_data_errors.o_data_error import ODataError  # noqa: E402
from msgraph.generated.models.teams_app import TeamsApp  # noqa: E402
from msgraph.generated.models.teams_app_definition import TeamsAppDefinition  # noqa: E402
from msgraph.generated.models.user_scope_teams_app_installation import (  # noqa: E402
    UserScopeTeamsAppInstallation)
from msgraph.generated.users.item.teamwork.installed_apps.installed_apps_request_builder import (  # noqa: E402
    InstalledAppsRequestBuilder)

ERRORS = {"XXX": ODataError}


async def upload(client, url, package, model):
    """Publish/update through a raw request: the generated builders send JSON, not a zip."""
    info = RequestInformation(Method.POST, url)
    info.set_stream_content(package, "application/zip")
    return await client.request_adapter.send_async(info, model, ERRORS)


def test_install_and_upgrade_with_msgraph(teamsapps_reset):
    server = teamsapps_reset
    adele = server.user("adele@contoso.example")
    external_id = "5f0c6a52-3a0e-4f57-9d7a-2b1f7e3c9a10"

    async def flow():
        # Megan, the fixture's Teams admin, signed in to the Rollout bot publishes (delegated);
        # the Rollout bot itself installs and upgrades (application permissions).
        admin = server.graph_client(user=server.user())
        bot = server.graph_client(app="Rollout bot")

        app = await upload(admin, f"{server.graph_url}/appCatalogs/teamsApps",
                           server.package(id=external_id, version="1.0.0"), TeamsApp)
        assert app.display_name == "Hello" and app.external_id == external_id

        installed = bot.users.by_user_id(adele.id).teamwork.installed_apps
        bind = f"https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{app.id}"
        await installed.post(UserScopeTeamsAppInstallation(additional_data={"teamsApp@odata.bind": bind}))

        async def adeles_installation():
            query = InstalledAppsRequestBuilder.InstalledAppsRequestBuilderGetQueryParameters(
                filter=f"teamsApp/id eq '{app.id}'", expand=["teamsApp", "teamsAppDefinition"])
            found = (await installed.get(RequestConfiguration(query_parameters=query))).value
            assert len(found) == 1, found
            return found[0]

        before = await adeles_installation()
        assert before.teams_app.id == app.id
        assert before.teams_app_definition.version == "1.0.0"

        await upload(admin, f"{server.graph_url}/appCatalogs/teamsApps/{app.id}/appDefinitions",
                     server.package(id=external_id, version="1.1.0"), TeamsAppDefinition)

        # The user-scope upgrade has no builder in the v1.0 SDK: the chat one, at the user URL.
        upgrade = (bot.chats.by_chat_id("x").installed_apps.by_teams_app_installation_id("y").upgrade
                   .with_url(f"{server.graph_url}/users/{adele.id}/teamwork/installedApps/{before.id}/upgrade"))
        await upgrade.post(UpgradePostRequestBody())

        after = await adeles_installation()
        assert after.id == before.id
        assert after.teams_app_definition.version == "1.1.0"

    asyncio.run(flow())

    ops = [r["operation"] for r in server.admin.requests()]
    for op in ("InstallAppForUser", "UpgradeAppForUser"):
        assert op in ops, ops


def test_application_token_may_not_publish(teamsapps_reset):
    """Graph's own 403: publishing needs a delegated token."""
    async def flow():
        bot = teamsapps_reset.graph_client()
        with pytest.raises(ODataError) as e:
            await upload(bot, f"{teamsapps_reset.graph_url}/appCatalogs/teamsApps",
                         teamsapps_reset.package(), TeamsApp)
        assert e.value.response_status_code == 403

    asyncio.run(flow())


def test_azure_identity_credential(teamsapps):
    """azure-identity's ClientSecretCredential, as an application signs in, against the fixture."""
    pytest.importorskip("azure.identity")

    async def flow():
        client = teamsapps.graph_client(credential=teamsapps.azure_credential("Rollout bot"))
        apps = (await client.app_catalogs.teams_apps.get()).value
        assert "OneNote" in [a.display_name for a in apps]

    asyncio.run(flow())
