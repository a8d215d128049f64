"""The `teamsapps` pytest fixtures and the installed package, without the Graph SDK."""

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import teamsapps

DEMO_TENANT = "2f1a6c2e-0000-4000-8000-000000000001"
ONENOTE = "0d820ecd-def2-4297-adad-78056cde7c78"


def installed_apps(server, user):
    r = server.request("GET", f"/v1.0/users/{user}/teamwork/installedApps?$expand=teamsApp")
    return sorted(i["teamsApp"]["displayName"] for i in r.raise_for_status().json()["value"])


def test_the_fixture_describes_the_demo_tenant(teamsapps):
    assert teamsapps.base_url.startswith("https://127.0.0.1:")
    assert teamsapps.graph_url == teamsapps.base_url + "/v1.0"
    assert teamsapps.tenant_id == DEMO_TENANT
    assert Path(teamsapps.seed_path).name == "demo.yaml"
    # Credentials as the fixture file declares them.
    assert [(a.display_name, a.client_secret) for a in teamsapps.apps] == [
        ("Rollout bot", "rollout-secret"), ("Inventory report", "report-secret")]
    assert teamsapps.client_id == "11111111-1111-4111-8111-111111111111"
    assert teamsapps.user().user_principal_name == "megan@contoso.example"  # the Teams admin
    assert teamsapps.user("Adele Vance").password == "adele-password"
    assert Path(teamsapps.ca_cert).is_file()
    assert teamsapps.admin.ready()


def test_tokens_come_from_the_servers_token_endpoint(teamsapps):
    catalog = teamsapps.request("GET", "/v1.0/appCatalogs/teamsApps", token=teamsapps.token())
    assert [a["id"] for a in catalog.raise_for_status().json()["value"]] == [ONENOTE]
    # A delegated token: Megan signed in to the Rollout bot.
    me = teamsapps.request("GET", "/v1.0/appCatalogs/teamsApps", user="megan@contoso.example")
    assert me.status == 200
    log = teamsapps.admin.requests()[-2:]
    assert [r["tokenType"] for r in log] == ["application", "delegated"]
    # The read-only app may not install.
    denied = teamsapps.request(
        "POST", "/v1.0/users/adele@contoso.example/teamwork/installedApps", app="Inventory report",
        json={"teamsApp@odata.bind": f"https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{ONENOTE}"})
    assert denied.status == 403, denied.text


def test_a_test_that_changes_the_tenant(teamsapps_reset):
    r = teamsapps_reset.request(
        "POST", "/v1.0/users/adele@contoso.example/teamwork/installedApps",
        json={"teamsApp@odata.bind": f"https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{ONENOTE}"})
    assert r.status == 201, r.text
    teamsapps_reset.publish(teamsapps_reset.package())
    assert installed_apps(teamsapps_reset, "adele@contoso.example") == ["OneNote"]
    teamsapps_reset.admin.settings({"faults": {"rules": [
        {"operations": ["ListTeamsApps"], "rate": 1, "statuses": [503]}]}})
    assert teamsapps_reset.request("GET", "/v1.0/appCatalogs/teamsApps").status == 503


def test_teamsapps_reset_restores_the_seed(teamsapps_reset):
    # The previous test's installation, app and fault rule are gone; so is its request log.
    assert teamsapps_reset.admin.requests() == []
    assert installed_apps(teamsapps_reset, "adele@contoso.example") == []
    assert installed_apps(teamsapps_reset, "megan@contoso.example") == ["OneNote"]
    catalog = teamsapps_reset.request("GET", "/v1.0/appCatalogs/teamsApps")
    assert catalog.status == 200
    assert [a["displayName"] for a in catalog.json()["value"]] == ["OneNote"]
    assert teamsapps_reset.admin.settings()["faults"]["rules"] == []


def test_snapshot_and_restore(teamsapps_reset):
    admin = teamsapps_reset.admin
    admin.snapshot("empty-adele")
    teamsapps_reset.request(
        "POST", "/v1.0/users/adele@contoso.example/teamwork/installedApps",
        json={"teamsApp@odata.bind": f"https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{ONENOTE}"}
    ).raise_for_status()
    assert installed_apps(teamsapps_reset, "adele@contoso.example") == ["OneNote"]
    admin.restore("empty-adele")
    assert installed_apps(teamsapps_reset, "adele@contoso.example") == []
    try:
        admin.restore("never-taken")
    except KeyError:
        pass
    else:
        raise AssertionError("restoring a missing snapshot should raise KeyError")
    assert admin.reset()["reset"] is True


def test_another_tenant_from_the_factory(teamsapps_factory, teamsapps):
    rsc = teamsapps_factory("rsc", tls=False)
    assert rsc.base_url.startswith("http://") and rsc.base_url != teamsapps.base_url
    assert rsc.tenant_id == "7c3e5a10-0000-4000-8000-000000000003"
    assert rsc.request("GET", "/v1.0/appCatalogs/teamsApps", app="Consent bot").status == 200


def test_python_m_teamsapps():
    out = subprocess.run([sys.executable, "-m", "teamsapps", "--version"], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == f"teamsapps {teamsapps.__version__}"
    help_text = subprocess.run([sys.executable, "-m", "teamsapps", "serve", "--help"],
                               capture_output=True, text=True, check=True).stdout
    assert "--seed" in help_text


def test_the_binary_is_installed_in_the_environment():
    scripts = Path(sysconfig.get_path("scripts"))
    binary = Path(teamsapps.find_binary())
    assert binary.parent.resolve() == scripts.resolve(), (binary, scripts)
    assert os.access(binary, os.X_OK)
    out = subprocess.run([str(scripts / binary.name), "--version"], capture_output=True, text=True)
    assert out.stdout.startswith("teamsapps ")
    # The package imported is the installed one, and in an activated virtualenv the binary is
    # what `teamsapps` on PATH finds.
    here = Path(teamsapps.__file__).resolve()
    assert any(here.is_relative_to(Path(sysconfig.get_path(k)).resolve()) for k in ("platlib", "purelib")), here
    if os.environ.get("VIRTUAL_ENV"):
        assert Path(shutil.which("teamsapps")).resolve() == binary.resolve()


def run_project(tmp_path, files, *args):
    """pytest in a fresh project directory (its own rootdir, no conftest.py)."""
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)


def test_the_fixture_of_the_projects_choosing(tmp_path):
    (tmp_path / "tenants").mkdir()
    (tmp_path / "tenants" / "mine.yaml").write_text(textwrap.dedent("""\
        tenants:
          - id: 0c0c0c0c-0000-4000-8000-00000000000c
            displayName: Mine
            users:
              - { id: 0c0c0c0c-0000-4000-8000-0000000000a1, userPrincipalName: me@mine.example,
                  displayName: Me, password: me-password, roles: [TeamsServiceAdministrator] }
            applications:
              - { appId: 0c0c0c0c-0000-4000-8000-0000000000c1, displayName: Mine bot,
                  clientSecret: mine-secret, applicationPermissions: [AppCatalog.Read.All] }
        """))
    files = {
        "pytest.ini": """\
            [pytest]
            teamsapps_fixture = isolation
            teamsapps_tls = false
            """,
        "test_choice.py": """\
            import os

            def test_tenant(teamsapps):
                assert teamsapps.tenant_id == os.environ["EXPECTED_TENANT"]
                assert teamsapps.base_url.startswith("http://")
                assert teamsapps.token(teamsapps.apps[0].display_name)
            """,
    }
    env = {**os.environ, "EXPECTED_TENANT": "a1a1a1a1-0000-4000-8000-00000000000a"}
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    ini = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                         cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert ini.returncode == 0, ini.stdout + ini.stderr
    assert "teamsapps: isolation.yaml server at http://127.0.0.1:" in ini.stdout
    env["EXPECTED_TENANT"] = "0c0c0c0c-0000-4000-8000-00000000000c"
    cli = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "--teamsapps-fixture", "tenants/mine.yaml"],
                         cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert cli.returncode == 0, cli.stdout + cli.stderr


def test_a_failing_test_shows_the_server_log(tmp_path):
    run = run_project(tmp_path, {"test_fails.py": """\
        def test_fails(teamsapps):
            assert teamsapps.request("GET", "/v1.0/appCatalogs/teamsApps").status == 418
        """})
    assert run.returncode == 1, run.stdout + run.stderr
    assert "teamsapps server log" in run.stdout, run.stdout
    log = next(line for line in run.stdout.splitlines() if line.startswith("log: "))[5:]
    assert "request served" in Path(log).read_text()
