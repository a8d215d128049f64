//! Authorization beyond the permission lists (spec 5): Selected apps, RSC permissions bound to
//! their resource, tenant consent settings, denial explanations, national clouds, personal
//! accounts, and tokens outliving their app registration's secret. Each test runs the real
//! server on its own fixture.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::common::*;
use serde_json::{json, Value};

const T: &str = "2f1a6c2e-0000-4000-8000-000000000001";
const ADMIN: &str = "5b649834-7412-4cce-9e69-176e95a394f5";
const MEMBER: &str = "8b081ef6-4792-4def-b2c9-c363a1bf41d5";
const GROUP_CHAT: &str = "19:ea28e88c00e94c7786b065394a61f296@thread.v2";
const OTHER_CHAT: &str = "19:0000000000000000000000000000000b@thread.v2";
const THE_TEAM: &str = "6903fa93-605b-43ef-920e-77c4729f8258";
const OTHER_TEAM: &str = "7a7a7a7a-0000-4000-8000-00000000000b";
const PUBLISHER: (&str, &str) = ("10000000-0000-4000-8000-000000000001", "pub-secret");
const SELECTOR: (&str, &str) = ("20000000-0000-4000-8000-000000000002", "sel-secret");
const RSC_APP: (&str, &str) = ("30000000-0000-4000-8000-000000000003", "rsc-secret");
const SELECTED_MANIFEST: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
const OTHER_MANIFEST: &str = "bbbbbbbb-0000-4000-8000-00000000000b";
const RSC_MANIFEST: &str = "cccccccc-0000-4000-8000-00000000000c";
const CONSUMER_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

fn fixture(settings: &str, rsc_secret: &str) -> String {
    format!(
        r#"
tenants:
  - id: {T}
    users:
      - {{ id: {ADMIN}, userPrincipalName: admin@contoso.example, password: pw, roles: [TeamsServiceAdministrator] }}
      - {{ id: {MEMBER}, userPrincipalName: member@contoso.example, password: pw }}
    chats:
      - {{ id: "{GROUP_CHAT}", members: [{ADMIN}, {MEMBER}] }}
      - {{ id: "{OTHER_CHAT}", members: [{ADMIN}, {MEMBER}] }}
    teams:
      - {{ id: {THE_TEAM}, owners: [{ADMIN}], members: [{MEMBER}] }}
      - {{ id: {OTHER_TEAM}, owners: [{ADMIN}], members: [{MEMBER}] }}
    {settings}
    applications:
      - appId: {pub_id}
        clientSecret: {pub_secret}
        delegatedPermissions: [AppCatalog.ReadWrite.All, TeamsAppInstallation.ReadWriteAndConsentForUser, TeamsAppInstallation.ReadWriteAndConsentForChat, TeamsAppInstallation.ReadWriteAndConsentForTeam, TeamsAppInstallation.ReadForChat]
        applicationPermissions: [TeamsAppInstallation.ReadWriteAndConsentForUser.All, TeamsAppInstallation.ReadWriteAndConsentForChat.All, TeamsAppInstallation.ReadWriteAndConsentForTeam.All]
      - appId: {sel_id}
        clientSecret: {sel_secret}
        selectedTeamsApps: [{SELECTED_MANIFEST}]
        applicationPermissions: [TeamsAppInstallation.ManageSelectedForUser.All, TeamsAppInstallation.ManageSelectedForChat.All, TeamsAppInstallation.ManageSelectedForTeam.All]
      - appId: {rsc_id}
        clientSecret: {rsc_secret}
        applicationPermissions: [Chat.Manage.Chat, TeamsAppInstallation.Read.Chat, TeamsAppInstallation.Read.Group, TeamsAppInstallation.Read.User]
  - id: {CONSUMER_TENANT}
    displayName: Personal Microsoft accounts
    users:
      - {{ id: 0c0c0c0c-0000-4000-8000-00000000000c, userPrincipalName: someone@outlook.example, password: pw }}
    applications:
      - appId: {pub_id}
        clientSecret: {pub_secret}
        delegatedPermissions: [TeamsAppInstallation.ReadWriteForUser]
"#,
        pub_id = PUBLISHER.0,
        pub_secret = PUBLISHER.1,
        sel_id = SELECTOR.0,
        sel_secret = SELECTOR.1,
        rsc_id = RSC_APP.0,
    )
}

/// The real binary on `data` with `seed_text` as its fixture, plus `extra` flags.
struct Node {
    base: String,
    child: Child,
    client: reqwest::Client,
}

impl Node {
    fn start(data: &Path, seed_text: &str, extra: &[&str]) -> Node {
        let seed = data.join("seed.yaml");
        std::fs::write(&seed, seed_text).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_teamsapps"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(crate::common::store_args(data))
            .arg("--seed")
            .arg(&seed)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base = line.trim().strip_prefix("listening on ").expect("listening line").to_string();
        Node { base, child, client: reqwest::Client::new() }
    }

    async fn token(&self, tenant: &str, form: &[(&str, &str)]) -> String {
        let r = self
            .client
            .post(format!("{}/{tenant}/oauth2/v2.0/token", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        let body: Value = r.json().await.unwrap();
        body["access_token"].as_str().unwrap_or_else(|| panic!("{body}")).to_string()
    }

    async fn app_token(&self, app: (&str, &str)) -> String {
        self.token(
            T,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", app.0),
                ("client_secret", app.1),
                ("scope", "https://graph.microsoft.com/.default"),
            ],
        )
        .await
    }

    async fn user_token(&self, tenant: &str, upn: &str) -> String {
        self.token(
            tenant,
            &[
                ("grant_type", "password"),
                ("client_id", PUBLISHER.0),
                ("client_secret", PUBLISHER.1),
                ("username", upn),
                ("password", "pw"),
                ("scope", "https://graph.microsoft.com/.default"),
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
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth(token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn publish(&self, admin: &str, manifest: &Value) -> String {
        let r = self
            .client
            .post(format!("{}/v1.0/appCatalogs/teamsApps", self.base))
            .bearer_auth(admin)
            .header("content-type", "application/zip")
            .body(package(manifest))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.unwrap();
        body["id"].as_str().unwrap().to_string()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn scope_paths() -> [(String, &'static str); 3] {
    [
        (format!("/v1.0/users/{MEMBER}/teamwork/installedApps"), "User"),
        (format!("/v1.0/chats/{}/installedApps", enc(GROUP_CHAT)), "Chat"),
        (format!("/v1.0/teams/{THE_TEAM}/installedApps"), "Group"),
    ]
}

#[tokio::test]
async fn selected_permissions_reach_only_the_selected_app_and_lists_are_filtered() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), &fixture("", RSC_APP.1), &[]);
    let admin = node.user_token(T, "admin@contoso.example").await;
    let selected = node.publish(&admin, &manifest(SELECTED_MANIFEST, "1.0.0")).await;
    let other = node.publish(&admin, &manifest(OTHER_MANIFEST, "1.0.0")).await;
    let publisher = node.app_token(PUBLISHER).await;
    let selector = node.app_token(SELECTOR).await;
    for (path, _) in scope_paths() {
        // The selected app: install works; the other app: 403 with the Selected message.
        let (s, b) = node.call("POST", &selector, &path, Some(bind(&selected)), &[]).await;
        assert!(s == 200 || s == 201, "{path}: {s} {b}");
        let (s, b) = node.call("POST", &selector, &path, Some(bind(&other)), &[]).await;
        assert_eq!(s, 403, "{path}: {b}");
        assert_eq!(
            b["error"]["message"],
            format!("The Teams app '{other}' is not among the apps selected for the calling application '{}'.", SELECTOR.0)
        );
        // Installed by someone else, the other app is invisible to the selector's list.
        let (s, _) = node.call("POST", &publisher, &path, Some(bind(&other)), &[]).await;
        assert!(s == 200 || s == 201);
        let (_, all) =
            node.call("GET", &publisher, &format!("{path}?$expand=teamsApp"), None, &[]).await;
        let (_, mine) =
            node.call("GET", &selector, &format!("{path}?$expand=teamsApp"), None, &[]).await;
        let ids = |v: &Value| -> Vec<String> {
            v["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["teamsApp"]["id"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(ids(&all).len(), 2, "{path}: {all}");
        assert_eq!(ids(&mine), vec![selected.clone()], "{path}");
        // ManageSelected may also uninstall the selected app, not the other one.
        let other_inst = all["value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["teamsApp"]["id"] == other.as_str())
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let (s, _) =
            node.call("DELETE", &selector, &format!("{path}/{other_inst}"), None, &[]).await;
        assert_eq!(s, 403, "{path}");
        let sel_inst = mine["value"][0]["id"].as_str().unwrap().to_string();
        let (s, _) = node.call("DELETE", &selector, &format!("{path}/{sel_inst}"), None, &[]).await;
        assert_eq!(s, 204, "{path}");
    }
}

#[tokio::test]
async fn rsc_application_permissions_hold_only_where_the_calling_app_is_installed_with_consent() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), &fixture("", RSC_APP.1), &[]);
    let admin = node.user_token(T, "admin@contoso.example").await;
    // The calling app's own Teams app asks for the RSC permissions in every scope.
    let own = with_rsc(
        json!({
            "manifestVersion": "1.17", "id": RSC_MANIFEST, "version": "1.0.0",
            "name": {"short": "Rsc"}, "description": {"short": "s", "full": "f"},
            "developer": {"name": "C", "websiteUrl": "https://c.example", "privacyUrl": "https://c.example", "termsOfUseUrl": "https://c.example"},
            "icons": {"color": "color.png", "outline": "outline.png"},
            "bots": [{"botId": "1f81bb29-bb29-1f81-29bb-811f29bb811f", "scopes": ["personal", "team", "groupChat"]}],
            "webApplicationInfo": {"id": RSC_APP.0, "resource": "api://rsc"}
        }),
        &[
            ("Chat.Manage.Chat", "Application"),
            ("TeamsAppInstallation.Read.Chat", "Application"),
            ("TeamsAppInstallation.Read.Group", "Application"),
            ("TeamsAppInstallation.Read.User", "Application"),
        ],
    );
    let own_id = node.publish(&admin, &own).await;
    let other_id = node.publish(&admin, &manifest(OTHER_MANIFEST, "1.0.0")).await;
    let publisher = node.app_token(PUBLISHER).await;
    let rsc = node.app_token(RSC_APP).await;
    let consent = json!({"resourceSpecificPermissions": [
        {"permissionValue": "Chat.Manage.Chat", "permissionType": "application"},
        {"permissionValue": "TeamsAppInstallation.Read.Chat", "permissionType": "application"},
        {"permissionValue": "TeamsAppInstallation.Read.Group", "permissionType": "application"},
        {"permissionValue": "TeamsAppInstallation.Read.User", "permissionType": "application"}]});
    let mut body = bind(&own_id);
    body["consentedPermissionSet"] = consent;
    let other_chat = format!("/v1.0/chats/{}/installedApps", enc(OTHER_CHAT));
    let other_team = format!("/v1.0/teams/{OTHER_TEAM}/installedApps");
    let other_user = format!("/v1.0/users/{ADMIN}/teamwork/installedApps");
    let elsewhere = [other_user, other_chat.clone(), other_team];
    for ((path, _), there) in scope_paths().into_iter().zip(elsewhere.iter()) {
        // Before the app is installed here, its RSC permissions grant nothing here (5.7 step 4).
        let (s, b) = node.call("GET", &rsc, &path, None, &[]).await;
        assert_eq!(s, 403, "{path}: {b}");
        let (s, _) = node.call("POST", &publisher, &path, Some(body.clone()), &[]).await;
        assert!(s == 200 || s == 201, "{path}");
        let (s, _) = node.call("POST", &publisher, &path, Some(bind(&other_id)), &[]).await;
        assert!(s == 200 || s == 201, "{path}");
        // Now it reads every installation of that resource…
        let (s, b) = node.call("GET", &rsc, &path, None, &[]).await;
        assert_eq!(s, 200);
        assert_eq!(b["value"].as_array().unwrap().len(), 2, "{path}: {b}");
        // …but nothing of another resource where it is not installed.
        let (s, _) = node.call("POST", &publisher, there, Some(bind(&other_id)), &[]).await;
        assert!(s == 200 || s == 201, "{there}");
        let (s, b) = node.call("GET", &rsc, there, None, &[]).await;
        assert_eq!(s, 403, "{there}: {b}");
    }
    // Chat.Manage.Chat manages installations in that chat only (and cannot consent).
    let chat_path = format!("/v1.0/chats/{}/installedApps", enc(GROUP_CHAT));
    let (_, list) =
        node.call("GET", &rsc, &format!("{chat_path}?$expand=teamsApp"), None, &[]).await;
    let other_inst = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["teamsApp"]["id"] == other_id.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, b) = node.call("DELETE", &rsc, &format!("{chat_path}/{other_inst}"), None, &[]).await;
    assert_eq!(s, 204, "{b}");
    let (s, _) = node.call("POST", &rsc, &chat_path, Some(bind(&other_id)), &[]).await;
    assert_eq!(s, 201);
    let (_, list) =
        node.call("GET", &publisher, &format!("{other_chat}?$expand=teamsApp"), None, &[]).await;
    let there_inst = list["value"][0]["id"].as_str().unwrap().to_string();
    let (s, b) = node.call("DELETE", &rsc, &format!("{other_chat}/{there_inst}"), None, &[]).await;
    assert_eq!(s, 403, "not installed in that chat: {b}");
}

#[tokio::test]
async fn tenant_settings_turn_off_user_consent_in_delegated_calls_only() {
    let dir = tempfile::tempdir().unwrap();
    let settings = "teamsAppSettings: { isUserPersonalScopeResourceSpecificConsentEnabled: false, isChatResourceSpecificConsentEnabled: false }";
    let node = Node::start(dir.path(), &fixture(settings, RSC_APP.1), &[]);
    let admin = node.user_token(T, "admin@contoso.example").await;
    let app_only = node.app_token(PUBLISHER).await;
    let member = node.user_token(T, "member@contoso.example").await;
    let rsc_for = |suffix: &str, id: &str| {
        with_rsc(manifest(id, "1.0.0"), &[(&format!("ChatMessage.Read.{suffix}"), "Application")])
    };
    for (path, suffix, blocked) in [
        (format!("/v1.0/users/{MEMBER}/teamwork/installedApps"), "User", true),
        (format!("/v1.0/chats/{}/installedApps", enc(GROUP_CHAT)), "Chat", true),
        (format!("/v1.0/teams/{THE_TEAM}/installedApps"), "Group", false),
    ] {
        let mid = new_manifest_id();
        let app_id = node.publish(&admin, &rsc_for(suffix, &mid)).await;
        let mut body = bind(&app_id);
        body["consentedPermissionSet"] = json!({"resourceSpecificPermissions": [
            {"permissionValue": format!("ChatMessage.Read.{suffix}"), "permissionType": "application"}]});
        let (s, b) = node.call("POST", &member, &path, Some(body.clone()), &[]).await;
        if blocked {
            assert_eq!(s, 403, "{path}: {b}");
            let msg = b["error"]["message"].as_str().unwrap();
            assert!(msg.contains("teamsAppSettings."), "{msg}");
            // Application tokens are not users: the switch does not apply.
            let (s, b) = node.call("POST", &app_only, &path, Some(body), &[]).await;
            assert!(s == 200 || s == 201, "{path}: {b}");
        } else {
            assert!(s == 200 || s == 201, "{path}: {b}");
        }
    }
}

#[tokio::test]
async fn explanations_name_the_rule_and_the_permissions_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), &fixture("", RSC_APP.1), &[]);
    let admin = node.user_token(T, "admin@contoso.example").await;
    let other = node.publish(&admin, &manifest(OTHER_MANIFEST, "1.0.0")).await;
    let selector = node.app_token(SELECTOR).await;
    let path = format!("/v1.0/users/{MEMBER}/teamwork/installedApps");
    let (s, plain) = node.call("POST", &selector, &path, Some(bind(&other)), &[]).await;
    assert_eq!(s, 403);
    assert!(plain["error"]["innerError"].get("teamsappsExplanation").is_none());
    let (s, explained) = node
        .call(
            "POST",
            &selector,
            &path,
            Some(bind(&other)),
            &[("x-teamsapps-explain-denials", "true")],
        )
        .await;
    assert_eq!(s, 403);
    let msg = explained["error"]["message"].as_str().unwrap();
    assert!(msg.starts_with(plain["error"]["message"].as_str().unwrap()), "{msg}");
    let x = &explained["error"]["innerError"]["teamsappsExplanation"];
    assert!(x["rule"].as_str().unwrap().starts_with("Selected"), "{x}");
    assert!(
        x["wouldAllow"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "TeamsAppInstallation.ReadWriteForUser.All"),
        "{x}"
    );
    assert!(
        x["held"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "TeamsAppInstallation.ManageSelectedForUser.All"),
        "{x}"
    );

    // Missing permission: the would-allow list is the accepted list.
    let (s, b) = node
        .call(
            "GET",
            &selector,
            "/v1.0/appCatalogs/teamsApps",
            None,
            &[("x-teamsapps-explain-denials", "1")],
        )
        .await;
    assert_eq!(s, 403, "{b}");
    let x = &b["error"]["innerError"]["teamsappsExplanation"];
    assert!(x["rule"].as_str().unwrap().starts_with("permission"), "{x}");
    assert_eq!(x["wouldAllow"], json!(["AppCatalog.Read.All", "AppCatalog.ReadWrite.All"]));
    drop(node);

    // The server-wide flag explains without the header.
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), &fixture("", RSC_APP.1), &["--explain-denials"]);
    let member = node.user_token(T, "member@contoso.example").await;
    let (s, b) = node
        .call("GET", &member, &format!("/v1.0/users/{ADMIN}/teamwork/installedApps"), None, &[])
        .await;
    assert_eq!(s, 403, "{b}");
    let x = &b["error"]["innerError"]["teamsappsExplanation"];
    assert!(x["rule"].as_str().unwrap().starts_with("membership"), "{b}");
    assert!(b["error"]["message"].as_str().unwrap().contains("[teamsapps explanation]"));
}

#[tokio::test]
async fn national_clouds_refuse_what_they_do_not_offer() {
    for (cloud, user_app_ok, user_delegated_ok, chat_ok, team_ok) in [
        ("global", true, true, true, true),
        ("usgov", false, true, true, true),
        ("dod", false, true, true, true),
        ("china", false, false, true, false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::start(dir.path(), &fixture("", RSC_APP.1), &["--cloud", cloud]);
        let app = node.app_token(PUBLISHER).await;
        let member = node.user_token(T, "member@contoso.example").await;
        let (s, b) = node
            .call("GET", &app, &format!("/v1.0/users/{MEMBER}/teamwork/installedApps"), None, &[])
            .await;
        assert_eq!(s == 200, user_app_ok, "{cloud}: {s} {b}");
        if !user_app_ok {
            assert_eq!(s, 400);
            assert!(b["error"]["message"].as_str().unwrap().contains("not supported"), "{b}");
        }
        let (s, _) = node
            .call(
                "GET",
                &member,
                &format!("/v1.0/users/{MEMBER}/teamwork/installedApps"),
                None,
                &[],
            )
            .await;
        assert_eq!(s == 200, user_delegated_ok, "{cloud} delegated user scope");
        let (s, _) = node
            .call("GET", &app, &format!("/v1.0/chats/{}/installedApps", enc(GROUP_CHAT)), None, &[])
            .await;
        assert_eq!(s == 200, chat_ok, "{cloud} chat");
        let (s, _) = node
            .call("GET", &app, &format!("/v1.0/teams/{THE_TEAM}/installedApps"), None, &[])
            .await;
        assert_eq!(s == 200, team_ok, "{cloud} team");
    }
}

#[tokio::test]
async fn personal_microsoft_accounts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), &fixture("", RSC_APP.1), &[]);
    let msa = node.user_token(CONSUMER_TENANT, "someone@outlook.example").await;
    let (s, b) = node
        .call(
            "GET",
            &msa,
            "/v1.0/users/0c0c0c0c-0000-4000-8000-00000000000c/teamwork/installedApps",
            None,
            &[],
        )
        .await;
    assert_eq!(s, 403, "{b}");
    assert_eq!(b["error"]["message"], "This API is not supported for personal Microsoft accounts.");
}

#[tokio::test]
async fn tokens_die_with_a_rotated_secret() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), &fixture("", RSC_APP.1), &[]);
    let token = node.app_token(RSC_APP).await;
    let path = format!("/v1.0/chats/{}/installedApps", enc(GROUP_CHAT));
    // Authenticated (the RSC app is not installed in the chat, so the call itself is 403).
    assert_eq!(node.call("GET", &token, &path, None, &[]).await.0, 403);
    drop(node);
    // Same database and signing key, the app registration's secret rotated by the fixture.
    let node = Node::start(dir.path(), &fixture("", "rotated-secret"), &[]);
    let (s, b) = node.call("GET", &token, &path, None, &[]).await;
    assert_eq!(s, 401, "{b}");
    assert_eq!(b["error"]["code"], "InvalidAuthenticationToken");
    let fresh = node.app_token((RSC_APP.0, "rotated-secret")).await;
    assert_eq!(
        node.call("GET", &fresh, &path, None, &[]).await.0,
        403,
        "a fresh token authenticates"
    );
}
