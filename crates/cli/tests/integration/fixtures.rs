//! The fixtures under `fixtures/`: each one documented and seeding, what the RSC and
//! isolation tenants are for, and the large tenant `teamsapps fixture generate` writes,
//! seeded and read back through Graph.

use crate::common::*;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_teamsapps"))
}

fn repo_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures").join(name)
}

/// A server seeded with `seed` on a fresh SQLite data directory.
struct Seeded {
    base: String,
    child: Child,
    client: reqwest::Client,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Seeded {
    fn start(seed: &Path) -> Seeded {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("stderr.log");
        let mut child = bin()
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(dir.path().join("data"))
            .arg("--seed")
            .arg(seed)
            .env("TEAMSAPPS_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base = match line.trim().strip_prefix("listening on ") {
            Some(b) => b.to_string(),
            None => panic!("{}: {}", seed.display(), std::fs::read_to_string(&log).unwrap()),
        };
        let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        Seeded { base, child, client, log, _dir: dir }
    }

    async fn token(&self, tenant: &str, form: &[(&str, &str)]) -> String {
        let mut form = form.to_vec();
        form.push(("scope", "https://graph.microsoft.com/.default"));
        let r = self
            .client
            .post(format!("{}/{tenant}/oauth2/v2.0/token", self.base))
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    async fn app_token(&self, tenant: &str, id: &str, secret: &str) -> String {
        self.token(
            tenant,
            &[("grant_type", "client_credentials"), ("client_id", id), ("client_secret", secret)],
        )
        .await
    }

    async fn user_token(&self, tenant: &str, app: (&str, &str), upn: &str, pw: &str) -> String {
        self.token(
            tenant,
            &[
                ("grant_type", "password"),
                ("client_id", app.0),
                ("client_secret", app.1),
                ("username", upn),
                ("password", pw),
            ],
        )
        .await
    }

    async fn call(
        &self,
        method: &str,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let mut req = self.client.request(method.parse().unwrap(), url).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Every item of a list, following its nextLinks.
    async fn all(&self, token: &str, path: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut next = Some(path.to_string());
        while let Some(url) = next {
            let (status, page) = self.call("GET", token, &url, None).await;
            assert_eq!(status, 200, "{url}: {page}");
            out.extend(page["value"].as_array().unwrap().iter().cloned());
            next = page["@odata.nextLink"].as_str().map(str::to_string);
        }
        out
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Seeded {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn every_fixture_is_documented_in_one_line_and_every_line_names_a_fixture() {
    let readme = std::fs::read_to_string(repo_fixture("README.md")).unwrap();
    let dir = repo_fixture("");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".json"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    for file in &files {
        let lines =
            readme.lines().filter(|l| l.starts_with("- ") && l.contains(&format!("`{file}`")));
        assert_eq!(lines.count(), 1, "fixtures/README.md: one list line for {file}");
        // And each one loads.
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        teamsapps_core::fixture::to_seed(&teamsapps_core::fixture::parse(&text).unwrap())
            .unwrap_or_else(|e| panic!("{file}: {e:#}"));
    }
}

const RSC_TENANT: &str = "7c3e5a10-0000-4000-8000-000000000003";
const CONSENT_BOT: (&str, &str) = ("77777777-7777-4777-8777-777777777777", "consent-secret");
const PLAIN_INSTALLER: (&str, &str) = ("88888888-8888-4888-8888-888888888888", "plain-secret");
const DIEGO: &str = "1d7a0b9e-0000-4000-8000-0000000000a2";
const RSC_CHAT: &str = "19:5f1c0d7e2a3b4c5d6e7f8091a2b3c4d5@thread.v2";
const RSC_TEAM: &str = "2e8b1c0f-0000-4000-8000-0000000000b1";

#[tokio::test]
async fn the_rsc_tenant_plays_its_consent_switches() {
    let s = Seeded::start(&repo_fixture("rsc.yaml"));
    let bot = s.app_token(RSC_TENANT, CONSENT_BOT.0, CONSENT_BOT.1).await;
    let diego =
        s.user_token(RSC_TENANT, CONSENT_BOT, "diego@fabrikam.example", "diego-password").await;
    let plain = s.app_token(RSC_TENANT, PLAIN_INSTALLER.0, PLAIN_INSTALLER.1).await;
    let apps = s.all(&bot, "/v1.0/appCatalogs/teamsApps?$expand=appDefinitions").await;
    let id_of = |name: &str| {
        apps.iter()
            .find(|a| a["displayName"] == name)
            .unwrap_or_else(|| panic!("{name} in {apps:?}"))["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let consent = |perm: &str| json!({"resourceSpecificPermissions": [{"permissionValue": perm, "permissionType": "application"}]});
    let install = |app: &str, perm: &str| {
        let mut body = bind(app);
        body["consentedPermissionSet"] = consent(perm);
        body
    };
    let me = format!("/v1.0/users/{DIEGO}/teamwork/installedApps");
    let chat = format!("/v1.0/chats/{}/installedApps", enc(RSC_CHAT));
    // The personal-scope switch is off: Diego may not consent for himself...
    let notifier = id_of("Activity notifier");
    let (status, body) =
        s.call("POST", &diego, &me, Some(install(&notifier, "TeamsActivity.Send.User"))).await;
    assert_eq!(status, 403, "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("isUserPersonalScopeResourceSpecificConsentEnabled"), "{msg}");
    // ...the application can.
    let (status, body) =
        s.call("POST", &bot, &me, Some(install(&notifier, "TeamsActivity.Send.User"))).await;
    assert!(status == 200 || status == 201, "{body}");
    // The chat switch is on: he may consent in a chat he is in.
    let notes = id_of("Chat notes");
    let (status, body) =
        s.call("POST", &diego, &chat, Some(install(&notes, "ChatMessage.Read.Chat"))).await;
    assert!(status == 200 || status == 201, "{body}");
    // An app without a consent permission cannot install an RSC app at all.
    let lynne = "/v1.0/users/1d7a0b9e-0000-4000-8000-0000000000a3/teamwork/installedApps";
    let (status, body) =
        s.call("POST", &plain, lynne, Some(install(&notifier, "TeamsActivity.Send.User"))).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("cannot grant"), "{body}");
    // The digest came installed in the team with its consent granted.
    let team = s
        .all(&bot, &format!("/v1.0/teams/{RSC_TEAM}/installedApps?$expand=teamsAppDefinition"))
        .await;
    assert_eq!(team.len(), 1, "{team:?}");
    assert_eq!(team[0]["teamsAppDefinition"]["displayName"], "Channel digest");
}

const NORTHWIND: &str = "a1a1a1a1-0000-4000-8000-00000000000a";
const TAILSPIN: &str = "b2b2b2b2-0000-4000-8000-00000000000b";
const NW_APP: (&str, &str) = ("a1a1a1a1-0000-4000-8000-0000000000c1", "northwind-secret");
const TS_APP: (&str, &str) = ("b2b2b2b2-0000-4000-8000-0000000000c1", "tailspin-secret");
const NINA: &str = "a1a1a1a1-0000-4000-8000-0000000000a2";
const TOBY: &str = "b2b2b2b2-0000-4000-8000-0000000000a2";
const TS_TEAM: &str = "b2b2b2b2-0000-4000-8000-0000000000b1";

#[tokio::test]
async fn the_isolation_tenants_see_nothing_of_each_other() {
    let s = Seeded::start(&repo_fixture("isolation.yaml"));
    let nw = s.app_token(NORTHWIND, NW_APP.0, NW_APP.1).await;
    let ts = s.app_token(TAILSPIN, TS_APP.0, TS_APP.1).await;
    let nw_apps = s
        .all(&nw, "/v1.0/appCatalogs/teamsApps?$filter=distributionMethod eq 'organization'")
        .await;
    let ts_apps = s
        .all(&ts, "/v1.0/appCatalogs/teamsApps?$filter=distributionMethod eq 'organization'")
        .await;
    assert_eq!((nw_apps.len(), ts_apps.len()), (1, 1));
    // The same package, two catalog entries.
    assert_eq!(nw_apps[0]["externalId"], ts_apps[0]["externalId"]);
    assert_ne!(nw_apps[0]["id"], ts_apps[0]["id"]);
    let ts_app_id = ts_apps[0]["id"].as_str().unwrap();
    let (status, _) =
        s.call("GET", &nw, &format!("/v1.0/appCatalogs/teamsApps/{ts_app_id}"), None).await;
    assert_eq!(status, 404);
    for path in [
        format!("/v1.0/users/{TOBY}/teamwork/installedApps"),
        format!("/v1.0/teams/{TS_TEAM}/installedApps"),
    ] {
        let (status, body) = s.call("GET", &nw, &path, None).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(s.all(&ts, &path).await.len(), usize::from(path.contains("teams")), "{path}");
    }
    assert_eq!(s.all(&nw, &format!("/v1.0/users/{NINA}/teamwork/installedApps")).await.len(), 1);
    // Northwind's registration does not exist in Tailspin.
    let r = s
        .client
        .post(format!("{}/{TAILSPIN}/oauth2/v2.0/token", s.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", NW_APP.0),
            ("client_secret", NW_APP.1),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
}

#[tokio::test]
async fn a_generated_tenant_seeds_and_reads_back_through_graph() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("large.json");
    // The documented size.
    let out = bin()
        .args(["fixture", "generate", "--users", "10000", "--teams", "500", "--chats", "2000"])
        .args(["--apps", "20", "--seed", "42", "--out"])
        .arg(&file)
        .output()
        .unwrap();
    let summary = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{summary}");
    assert!(summary.contains("10000 users, 500 teams, 2000 chats, 20 catalog apps"), "{summary}");
    // Deterministic: the same flags write the same bytes.
    let again = dir.path().join("again.json");
    let out = bin()
        .args(["fixture", "generate", "--users", "10000", "--teams", "500", "--chats", "2000"])
        .args(["--apps", "20", "--seed", "42", "--out"])
        .arg(&again)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(std::fs::read(&file).unwrap(), std::fs::read(&again).unwrap());

    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let tenant = &fixture["tenants"][0];
    let tid = tenant["id"].as_str().unwrap();
    // What the file says, per scope.
    let mut expected: HashMap<(String, String), usize> = HashMap::new();
    for i in tenant["installations"].as_array().unwrap() {
        let (scope, id) = ["user", "team", "chat"]
            .iter()
            .find_map(|k| i[*k].as_str().map(|id| (k.to_string(), id.to_string())))
            .unwrap();
        *expected.entry((scope, id)).or_default() += 1;
    }
    let s = Seeded::start(&file);
    let log = s.log();
    assert!(log.contains("seed applied in"), "{log}");
    assert!(log.contains("users=10000"), "{log}");
    let reg = &tenant["applications"][0];
    let bot = s
        .app_token(tid, reg["appId"].as_str().unwrap(), reg["clientSecret"].as_str().unwrap())
        .await;
    let apps = s
        .all(&bot, "/v1.0/appCatalogs/teamsApps?$filter=distributionMethod eq 'organization'")
        .await;
    assert_eq!(apps.len(), 20);
    // A sample of each scope, evenly through the file, installation counts as written.
    let pick = |key: &str, n: usize| -> Vec<String> {
        let all = tenant[key].as_array().unwrap();
        (0..n).map(|i| all[i * all.len() / n]["id"].as_str().unwrap().to_string()).collect()
    };
    let mut checked = 0;
    for (scope, ids) in
        [("user", pick("users", 40)), ("team", pick("teams", 15)), ("chat", pick("chats", 15))]
    {
        for id in ids {
            let path = match scope {
                "user" => format!("/v1.0/users/{id}/teamwork/installedApps"),
                "team" => format!("/v1.0/teams/{id}/installedApps"),
                _ => format!("/v1.0/chats/{}/installedApps", enc(&id)),
            };
            let got = s.all(&bot, &path).await.len();
            let want = expected.get(&(scope.to_string(), id.clone())).copied().unwrap_or(0);
            assert_eq!(got, want, "{path}");
            checked += got;
        }
    }
    assert!(checked > 0, "the sample holds installations");
    // The most popular app is installed for a realistic share of users.
    let popular = tenant["catalog"][0]["manifest"]["id"].as_str().unwrap();
    let popular_users = expected_users_of(tenant, popular);
    assert!((3500..=6500).contains(&popular_users), "{popular_users} of 10000");
    // The admin can sign in and publish; everyone else signs in with the shared password.
    let admin = s
        .user_token(
            tid,
            (reg["appId"].as_str().unwrap(), reg["clientSecret"].as_str().unwrap()),
            "admin@generated.example",
            "admin-password",
        )
        .await;
    let (status, body) = s.call("GET", &admin, "/v1.0/appCatalogs/teamsApps?$top=1", None).await;
    assert_eq!(status, 200, "{body}");
    s.user_token(
        tid,
        (reg["appId"].as_str().unwrap(), reg["clientSecret"].as_str().unwrap()),
        "user09999@generated.example",
        "user-password",
    )
    .await;
}

fn expected_users_of(tenant: &Value, manifest_id: &str) -> usize {
    tenant["installations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["user"].is_string() && i["app"] == manifest_id)
        .count()
}

#[test]
fn generate_refuses_bad_flags_with_clear_messages() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["fixture", "generate", "--users", "0", "--out"])
        .arg(dir.path().join("x.yaml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--users"));
    let out = bin().args(["fixture", "generate", "--out"]).arg(dir.path()).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a directory"));
    let out = bin().args(["fixture", "generate"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--out"));
}
