"""A rollout flow through the stock Python Graph SDK (msgraph-sdk) and its retry handler,
against teamsapps started with --fault-rate: every step must get through, and the request
log must show that faults were injected (and retried)."""

import asyncio
import json
import sys
import urllib.request

from kiota_abstractions.authentication import (
    AccessTokenProvider, AllowedHostsValidator, BaseBearerTokenAuthenticationProvider)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.user_scope_teams_app_installation import (
    UserScopeTeamsAppInstallation)

BASE, ADMIN_KEY = sys.argv[1], sys.argv[2]
TENANT = "2f1a6c2e-0000-4000-8000-000000000001"
CLIENT = ("11111111-1111-4111-8111-111111111111", "rollout-secret")
USER = "8b081ef6-4792-4def-b2c9-c363a1bf41d5"
APP = "0d820ecd-def2-4297-adad-78056cde7c78"
ROUNDS = 3


def http(method, url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req) as res:
        body = res.read()
        return json.loads(body) if body else None


class StaticTokenProvider(AccessTokenProvider):
    def __init__(self, token):
        self._token = token

    async def get_authorization_token(self, uri, additional_authentication_context={}):
        return self._token

    def get_allowed_hosts_validator(self):
        return AllowedHostsValidator([])


async def main():
    form = (f"grant_type=client_credentials&client_id={CLIENT[0]}&client_secret={CLIENT[1]}"
            "&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default").encode()
    token = http("POST", f"{BASE}/{TENANT}/oauth2/v2.0/token", form,
                 {"Content-Type": "application/x-www-form-urlencoded"})["access_token"]
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(StaticTokenProvider(token)))
    adapter.base_url = f"{BASE}/v1.0"
    client = GraphServiceClient(request_adapter=adapter)
    installed = client.users.by_user_id(USER).teamwork.installed_apps

    for round_ in range(ROUNDS):
        apps = await client.app_catalogs.teams_apps.get()
        assert any(a.id == APP for a in apps.value), "the catalog lists the app"
        body = UserScopeTeamsAppInstallation(additional_data={
            "teamsApp@odata.bind": f"https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{APP}"})
        await installed.post(body)
        listed = await installed.get()
        assert len(listed.value) == 1, f"round {round_}: one installation, got {len(listed.value)}"
        await installed.by_user_scope_teams_app_installation_id(listed.value[0].id).delete()
        listed = await installed.get()
        assert listed.value == [], f"round {round_}: uninstalled"

    log = http("GET", f"{BASE}/_teamsapps/requests", None,
               {"Authorization": f"Bearer {ADMIN_KEY}"})["value"]
    faults = [e for e in log if e["injected"] == "fault"]
    steps = ROUNDS * 5
    assert len(log) == steps + len(faults), (len(log), len(faults))
    assert faults, "no fault was injected: the check proves nothing"
    print(f"python msgraph-sdk: {steps} steps through, {len(faults)} injected faults retried "
          f"({', '.join(str(f['status']) for f in faults)})")


asyncio.run(main())
