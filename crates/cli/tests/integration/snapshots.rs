//! Whole-body snapshots of every operation's success answer on v1.0 and on beta: a change in
//! any field, header-free, shows up as a diff in `snapshots/`. Values that differ per run (the
//! catalog id, the ids derived from it, timestamps) are replaced by named placeholders first, so
//! everything else is compared as Graph sends it.
//!
//! New snapshots are written with `INSTA_UPDATE=always cargo test -p teamsapps --test
//! integration snapshots` and reviewed in the diff; under `CI=true` a missing or different
//! snapshot fails. The last test checks that every operation of `/openapi.json` has its two.

use std::collections::BTreeSet;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use crate::common::graph::{Graph, Scope, Version};
use crate::common::*;

/// A fixed manifest id: every server here is fresh, so it cannot collide.
const MID: &str = "5a9b0000-0000-4000-8000-00000000a001";
/// The app installed through the aliases (no RSC).
const MID_PLAIN: &str = "5a9b0000-0000-4000-8000-00000000a002";
/// The Entra app the manifest names (RSC grants carry it).
const CLIENT: &str = "5a9b0000-0000-4000-8000-00000000c11e";

/// Replaces per-run values with placeholders, in every string of a body.
#[derive(Default)]
struct Redactions {
    pairs: Vec<(String, String)>,
}

impl Redactions {
    fn add(&mut self, actual: &str, placeholder: &str) {
        assert!(!actual.is_empty());
        self.pairs.push((actual.to_owned(), format!("[{placeholder}]")));
        // Longest first, so an id is replaced before a shorter one it contains.
        self.pairs.sort_by_key(|(a, _)| std::cmp::Reverse(a.len()));
    }

    fn apply(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => {
                if looks_like_datetime(s) {
                    return json!("[datetime]");
                }
                let mut out = s.clone();
                for (actual, placeholder) in &self.pairs {
                    out = out.replace(actual, placeholder);
                }
                Value::String(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(|i| self.apply(i)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        // Entity tags are random per write.
                        let v = if k == "@odata.etag" { json!("[etag]") } else { self.apply(v) };
                        (k.clone(), v)
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// `2026-12-06T18:50:04.123Z` and the like.
fn looks_like_datetime(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
}

/// What one operation's snapshot holds: its status and its redacted body.
struct Snapshots {
    version: Version,
    redact: Redactions,
    taken: BTreeSet<&'static str>,
}

impl Snapshots {
    fn new(version: Version) -> Snapshots {
        Snapshots { version, redact: Redactions::default(), taken: BTreeSet::new() }
    }

    /// Asserts `r` succeeded with `status` and matches the operation's stored snapshot.
    fn check(&mut self, operation: &'static str, status: u16, r: &Resp) {
        assert_eq!(r.status.as_u16(), status, "{operation}: {}", r.body);
        assert!(self.taken.insert(operation), "{operation} snapshotted twice");
        let suffix = match self.version {
            Version::V1 => "v1.0",
            Version::Beta => "beta",
        };
        let value = json!({ "status": status, "body": self.redact.apply(&r.body) });
        insta::with_settings!({ snapshot_suffix => suffix, prepend_module_to_snapshot => false }, {
            insta::assert_json_snapshot!(operation, value);
        });
    }
}

fn id_of(r: &Resp) -> String {
    r.body["id"].as_str().unwrap_or_else(|| panic!("no id in {}", r.body)).to_owned()
}

fn rsc_manifest(version: &str) -> Value {
    let mut m = with_rsc(
        manifest(MID, version),
        &[("ChatSettings.Read.Chat", "Application"), ("ChannelMessage.Read.Group", "Application")],
    );
    m["webApplicationInfo"] = json!({"id": CLIENT, "resource": "api://snapshots"});
    m
}

fn consent() -> Value {
    json!({"consentedPermissionSet": {"resourceSpecificPermissions": [
        {"permissionValue": "ChatSettings.Read.Chat", "permissionType": "Application"},
        {"permissionValue": "ChannelMessage.Read.Group", "permissionType": "Application"},
    ]}})
}

/// Every operation once, in an order that gives each one something to answer with. The
/// installations are the Rollout app's, consenting to the app's RSC permissions.
async fn every_operation(version: Version) -> BTreeSet<&'static str> {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let rollout = s.app_token(ROLLOUT).await;
    let directory = s.app_token(DIRECTORY).await;
    let megan_directory = s.user_token(DIRECTORY, "megan@contoso.example", "megan-pw").await;
    let g = |token: &str| -> Graph<'_> { s.graph(token).on(version) };
    let (admin_g, app_g) = (g(&admin), g(&rollout));
    let mut snap = Snapshots::new(version);

    // The catalog.
    let r = admin_g.publish_teams_app(&rsc_manifest("1.0.0"), false).await;
    let app = id_of(&r);
    snap.redact.add(&app, "app");
    snap.check("publish_teams_app", 201, &r);
    let defs = admin_g.list_app_definitions(&app, "").await;
    let def1 = defs.body["value"][0]["id"].as_str().expect("a definition").to_owned();
    snap.redact.add(&def1, "definition-1.0.0");
    snap.check("list_app_definitions", 200, &defs);
    let r = admin_g.list_teams_apps(&format!("$filter=externalId eq '{MID}'")).await;
    snap.check("list_teams_apps", 200, &r);
    snap.check("get_teams_app", 200, &admin_g.get_teams_app(&app, "").await);
    snap.check("get_app_definition", 200, &admin_g.get_app_definition(&app, &def1, "").await);
    snap.check("get_teamwork_bot", 200, &admin_g.get_teamwork_bot(&app, &def1).await);

    // The icons of the published package (beta only, delegated only).
    if version == Version::Beta {
        snap.redact.add(&s.url(""), "server");
        for (kind, suffix) in [("colorIcon", ""), ("outlineIcon", "_via_outline_icon")] {
            let name =
                |op: &str| -> &'static str { Box::leak(format!("{op}{suffix}").into_boxed_str()) };
            let r = admin_g.get_teams_app_icon(&app, &def1, kind, "$expand=hostedContent").await;
            // The ids encode a hash of the definition id, which holds the catalog id.
            snap.redact.add(r.body["id"].as_str().expect("an icon id"), &format!("{kind}-id"));
            let hosted = r.body["hostedContent"]["id"].as_str().expect("a hosted content id");
            snap.redact.add(hosted, &format!("{kind}-hostedContent-id"));
            snap.check(name("get_teams_app_icon"), 200, &r);
            let r = admin_g.get_teamwork_hosted_content(&app, &def1, kind).await;
            snap.check(name("get_teamwork_hosted_content"), 200, &r);
            let (r, bytes) = admin_g.get_teamwork_hosted_content_bytes(&app, &def1, kind).await;
            // A snapshot holds JSON: the bytes as their content type and base64.
            let content_type = r.headers["content-type"].to_str().unwrap().to_owned();
            let body = json!({ "contentType": content_type, "base64": STANDARD.encode(bytes) });
            let shown = Resp { status: r.status, headers: r.headers.clone(), body };
            snap.check(name("get_teamwork_hosted_content_bytes"), 200, &shown);
        }
    }

    // Installations in the three scopes (with consent to the app's RSC permissions).
    let mut installations = Vec::new();
    for (scope, install, name) in [
        (Scope::User(MEGAN), "install_app_for_user", "user"),
        (Scope::Chat(CHAT), "install_app_in_chat", "chat"),
        (Scope::Team(TEAM), "install_app_in_team", "team"),
    ] {
        let mut body = bind(&app);
        body["consentedPermissionSet"] = consent()["consentedPermissionSet"].clone();
        let g = &app_g;
        let r = g.install_app_with(scope, &body).await;
        let status = if matches!(scope, Scope::Team(_)) { 200 } else { 201 };
        assert_eq!(r.status.as_u16(), status, "{install}: {}", r.body);
        let listed = g.list_installed_apps(scope, &format!("$filter=teamsApp/id eq '{app}'")).await;
        let id = listed.body["value"][0]["id"].as_str().expect("installed").to_owned();
        snap.redact.add(&id, &format!("installation-{name}"));
        snap.check(install, status, &r);
        installations.push((scope, id, listed));
    }
    for (scope, id, listed) in &installations {
        let (list, get) = match scope {
            Scope::User(_) => ("list_user_installed_apps", "get_user_installed_app"),
            Scope::Chat(_) => ("list_chat_installed_apps", "get_chat_installed_app"),
            Scope::Team(_) => ("list_team_installed_apps", "get_team_installed_app"),
            alias => unreachable!("{alias:?}"),
        };
        snap.check(list, 200, listed);
        snap.check(
            get,
            200,
            &app_g.get_installed_app(*scope, id, "$expand=teamsAppDefinition").await,
        );
    }
    let user_installation = &installations[0].1;
    let r = app_g.get_user_installed_app_chat(MEGAN, user_installation).await;
    snap.check("get_user_installed_app_chat", 200, &r);

    // A new version, and each installation upgraded to it.
    snap.check(
        "update_teams_app",
        204,
        &admin_g.update_teams_app(&app, &rsc_manifest("1.1.0"), false).await,
    );
    for (scope, id, _) in &installations {
        let name = match scope {
            Scope::User(_) => "upgrade_app_for_user",
            Scope::Chat(_) => "upgrade_app_in_chat",
            Scope::Team(_) => "upgrade_app_in_team",
            alias => unreachable!("{alias:?}"),
        };
        snap.check(name, 204, &app_g.upgrade_app(*scope, id, Some(&consent())).await);
    }

    // The grants the consent created.
    let reader = s.app_token(READER).await;
    let rg = g(&reader);
    snap.check("list_chat_permission_grants", 200, &rg.list_chat_permission_grants(CHAT, "").await);
    snap.check("list_team_permission_grants", 200, &rg.list_team_permission_grants(TEAM, "").await);
    snap.check(
        "list_group_permission_grants",
        200,
        &g(&directory).list_group_permission_grants(TEAM, "").await,
    );
    snap.check(
        "list_user_permission_grants",
        200,
        &app_g.list_user_permission_grants(MEGAN, "").await,
    );

    // A submission, approved; another, cancelled.
    let r = admin_g.update_teams_app(&app, &rsc_manifest("1.2.0"), true).await;
    let submitted = id_of(&r);
    snap.redact.add(&submitted, "definition-1.2.0-submitted");
    let r = admin_g.review_app_definition(&app, &submitted, "published").await;
    snap.redact.add(&id_of(&r), "definition-1.2.0-published");
    snap.check("review_app_definition", 200, &r);
    let r = admin_g.update_teams_app(&app, &rsc_manifest("1.3.0"), true).await;
    let cancelled = id_of(&r);
    snap.redact.add(&cancelled, "definition-1.3.0-submitted");
    snap.check(
        "delete_app_definition",
        204,
        &admin_g.delete_app_definition(&app, &cancelled).await,
    );

    // Uninstalls (consent permissions do not include uninstalling), then the app itself.
    let plain = s.app_token(PLAIN).await;
    for (scope, id, _) in &installations {
        let name = match scope {
            Scope::User(_) => "uninstall_app_for_user",
            Scope::Chat(_) => "uninstall_app_in_chat",
            Scope::Team(_) => "uninstall_app_in_team",
            alias => unreachable!("{alias:?}"),
        };
        snap.check(name, 204, &g(&plain).uninstall_app(*scope, id).await);
    }
    snap.check("delete_teams_app", 204, &admin_g.delete_teams_app(&app).await);

    // The aliases (lifecycle spec 2): the same handlers through Graph's other navigations, each
    // operation once, as Megan with a plain app (no RSC, so no consent is involved).
    let r = admin_g.publish_teams_app(&manifest(MID_PLAIN, "1.0.0"), false).await;
    let plain_app = id_of(&r);
    snap.redact.add(&plain_app, "plain-app");
    let writer = s.user_token(WRITER, "megan@contoso.example", "megan-pw").await;
    let wg = g(&writer);
    for (scope, via) in [
        (Scope::Me, "via_me"),
        (Scope::MyChat(CHAT), "via_me"),
        (Scope::UserChat(MEGAN, CHAT), "via_users"),
        (Scope::GroupTeam(TEAM), "via_groups_team"),
        (Scope::MyJoinedTeam(TEAM), "via_me_joined_teams"),
        (Scope::UserJoinedTeam(MEGAN, TEAM), "via_users_joined_teams"),
    ] {
        let (kind, list, get, status) = match scope {
            Scope::Me => ("for_user", "list_user_installed_apps", "get_user_installed_app", 201),
            Scope::MyChat(_) | Scope::UserChat(..) => {
                ("in_chat", "list_chat_installed_apps", "get_chat_installed_app", 201)
            }
            _ => ("in_team", "list_team_installed_apps", "get_team_installed_app", 200),
        };
        let name = |op: &str| -> &'static str { Box::leak(format!("{op}_{via}").into_boxed_str()) };
        let r = wg.install_app(scope, &plain_app).await;
        snap.check(name(&format!("install_app_{kind}")), status, &r);
        let listed =
            wg.list_installed_apps(scope, &format!("$filter=teamsApp/id eq '{plain_app}'")).await;
        let id = listed.body["value"][0]["id"].as_str().expect("installed").to_owned();
        snap.redact.add(&id, &format!("plain-installation-{kind}"));
        snap.check(name(list), 200, &listed);
        snap.check(name(get), 200, &wg.get_installed_app(scope, &id, "").await);
        if scope == Scope::Me {
            let r = s
                .send(
                    reqwest::Method::GET,
                    Some(&writer),
                    &format!("{}/me/teamwork/installedApps/{id}/chat", version.segment()),
                    None,
                    &[],
                )
                .await;
            snap.check(name("get_user_installed_app_chat"), 200, &r);
        }
        snap.check(
            name(&format!("upgrade_app_{kind}")),
            204,
            &wg.upgrade_app(scope, &id, None).await,
        );
        snap.check(
            name(&format!("uninstall_app_{kind}")),
            204,
            &wg.uninstall_app(scope, &id).await,
        );
    }

    // Directory reads, as an application and as Megan.
    let (dg, mg) = (g(&directory), g(&megan_directory));
    snap.check("list_users", 200, &dg.list_users("").await);
    snap.check("count_users", 200, &dg.count_users("").await);
    snap.check("get_user", 200, &dg.get_user(ADELE, "").await);
    snap.check("get_me", 200, &mg.get_me("").await);
    snap.check("list_teams", 200, &dg.list_teams("").await);
    snap.check("get_team", 200, &dg.get_team(TEAM, "").await);
    snap.check("list_user_joined_teams", 200, &dg.list_user_joined_teams(ADELE, "").await);
    snap.check("list_my_joined_teams", 200, &mg.list_my_joined_teams("").await);
    snap.check("list_user_chats", 200, &dg.list_user_chats(MEGAN, "").await);
    snap.check("list_my_chats", 200, &mg.list_my_chats("").await);
    snap.check("list_chats", 200, &mg.list_chats("").await);
    snap.check("get_chat", 200, &dg.get_chat(CHAT, "").await);
    snap.check("list_groups", 200, &dg.list_groups("").await);

    // Tenant settings.
    snap.check("get_teams_app_settings", 200, &mg.get_teams_app_settings().await);
    let body = json!({"isUserPersonalScopeResourceSpecificConsentEnabled": true});
    snap.check("update_teams_app_settings", 204, &mg.update_teams_app_settings(&body).await);
    snap.taken
}

#[tokio::test]
async fn every_operation_answers_as_its_v1_snapshot() {
    every_operation(Version::V1).await;
}

#[tokio::test]
async fn every_operation_answers_as_its_beta_snapshot() {
    let taken = every_operation(Version::Beta).await;
    // Every operation of /openapi.json has its snapshots: a new row needs a new snapshot.
    let s = Server::start().await;
    let r = s.send(reqwest::Method::GET, None, "/openapi.json", None, &[]).await;
    assert_eq!(r.status, 200);
    let mut operations = BTreeSet::new();
    for (path, item) in r.body["paths"].as_object().unwrap() {
        if path.ends_with("$batch") {
            continue;
        }
        for op in item.as_object().unwrap().values() {
            if let Some(id) = op["operationId"].as_str() {
                operations.insert(id.to_owned());
            }
        }
    }
    let taken: BTreeSet<String> = taken.into_iter().map(str::to_owned).collect();
    assert_eq!(operations, taken, "operations without a snapshot, or snapshots of none");
}
