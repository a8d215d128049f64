//! Installations in the user's personal scope, in chats and in teams (spec sections 4, 5, 6.2,
//! 6.3, 9, 10): install, list/get with OData options, upgrade, consent, Self permissions,
//! permission refusals, uninstall, the user-scope chat, meeting chats and paging. Every refused
//! write is followed by a read that shows nothing changed.

use crate::common::graph::Scope;
use crate::common::*;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};

const GRAPH_META: &str = "https://graph.microsoft.com/v1.0/$metadata#";
const BOT_ID: &str = "1f81bb29-bb29-1f81-29bb-811f29bb811f";
/// `CHAT` percent-encoded as Graph writes it in `@odata.context`.
const CHAT_IN_CONTEXT: &str = "19%3Aea28e88c00e94c7786b065394a61f296%40thread.v2";

// ---------------------------------------------------------------------------------------------
// Scopes
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sc {
    User,
    Chat,
    Team,
}

const SCOPES: [Sc; 3] = [Sc::User, Sc::Chat, Sc::Team];

impl Sc {
    /// The scope id an installation id embeds (Adele for the user scope).
    fn id(self) -> &'static str {
        match self {
            Sc::User => ADELE,
            Sc::Chat => CHAT,
            Sc::Team => TEAM,
        }
    }

    /// The collection path without the version segment.
    fn path(self) -> String {
        match self {
            Sc::User => format!("/users/{ADELE}/teamwork/installedApps"),
            Sc::Chat => format!("/chats/{}/installedApps", enc(CHAT)),
            Sc::Team => format!("/teams/{TEAM}/installedApps"),
        }
    }

    /// The scope as the request helpers take it.
    fn scope(self) -> Scope<'static> {
        match self {
            Sc::User => Scope::User(ADELE),
            Sc::Chat => Scope::Chat(CHAT),
            Sc::Team => Scope::Team(TEAM),
        }
    }

    fn v1(self) -> String {
        format!("/v1.0{}", self.path())
    }

    /// The list `@odata.context` (spec 4.1-4.3).
    fn context(self) -> String {
        match self {
            Sc::User => format!("{GRAPH_META}users('{ADELE}')/teamwork/installedApps"),
            Sc::Chat => format!("{GRAPH_META}chats('{CHAT_IN_CONTEXT}')/installedApps"),
            Sc::Team => format!("{GRAPH_META}teams('{TEAM}')/installedApps"),
        }
    }

    /// 201 for user and chat, 200 for team (spec 4.1-4.3).
    fn install_status(self) -> u16 {
        match self {
            Sc::Team => 200,
            _ => 201,
        }
    }

    fn installation_id(self, app_id: &str) -> String {
        b64(&format!("{}##{app_id}", self.id()))
    }

    /// RSC permissions of this scope: one application, one delegated (spec 2.4 suffixes).
    fn rsc(self) -> [(&'static str, &'static str); 2] {
        match self {
            Sc::User => [
                ("TeamsActivity.Send.User", "Application"),
                ("InAppPurchase.Allow.User", "Delegated"),
            ],
            Sc::Chat => {
                [("ChatMessage.Read.Chat", "Application"), ("ChatMember.Read.Chat", "Delegated")]
            }
            Sc::Team => {
                [("ChannelMessage.Read.Group", "Application"), ("Member.Read.Group", "Delegated")]
            }
        }
    }

    /// A second delegated RSC permission of this scope.
    fn other_delegated(self) -> (&'static str, &'static str) {
        match self {
            Sc::User => ("TeamsActivity.Read.User", "Delegated"),
            Sc::Chat => ("OnlineMeeting.ReadBasic.Chat", "Delegated"),
            Sc::Team => ("Channel.Create.Group", "Delegated"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn b64(s: &str) -> String {
    STANDARD.encode(s)
}

fn unb64(s: &str) -> String {
    let bytes = STANDARD_NO_PAD.decode(s.trim_end_matches('=')).expect("base64 id");
    String::from_utf8(bytes).expect("utf-8 id")
}

/// A manifest whose only capability is a bot limited to the personal scope.
fn personal_only(mid: &str, version: &str) -> Value {
    let mut m = manifest(mid, version);
    m["bots"] = json!([{"botId": BOT_ID, "scopes": ["personal"]}]);
    m
}

/// A personal app without a bot (a static tab).
fn without_bot(mid: &str, version: &str) -> Value {
    let mut m = manifest(mid, version);
    m.as_object_mut().unwrap().remove("bots");
    m["staticTabs"] = json!([{"entityId": "home", "scopes": ["personal"]}]);
    m
}

/// A manifest tied to an Entra app (the Self permission tie, spec 5.2).
fn tied_to(mid: &str, version: &str, aad: &str) -> Value {
    let mut m = manifest(mid, version);
    m["webApplicationInfo"] = json!({"id": aad, "resource": "api://x"});
    m
}

fn perms(list: &[(&str, &str)]) -> Value {
    let items: Vec<Value> =
        list.iter().map(|(n, t)| json!({"permissionValue": n, "permissionType": t})).collect();
    json!({ "resourceSpecificPermissions": items })
}

fn consent_body(list: &[(&str, &str)]) -> Value {
    json!({ "consentedPermissionSet": perms(list) })
}

fn install_body_with_consent(app_id: &str, list: &[(&str, &str)]) -> Value {
    let mut b = bind(app_id);
    b["consentedPermissionSet"] = perms(list);
    b
}

/// The consented set as (value, type) pairs; asserts the shape of each entry and no duplicates.
fn perm_set(v: &Value) -> BTreeSet<(String, String)> {
    let obj = v.as_object().unwrap_or_else(|| panic!("permission set expected: {v}"));
    assert_eq!(obj.keys().collect::<Vec<_>>(), vec!["resourceSpecificPermissions"], "{v}");
    let list = v["resourceSpecificPermissions"].as_array().expect("array");
    let set: BTreeSet<(String, String)> = list
        .iter()
        .map(|p| {
            let keys: BTreeSet<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys, BTreeSet::from(["permissionValue", "permissionType"]), "{p}");
            (
                p["permissionValue"].as_str().unwrap().to_string(),
                p["permissionType"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(set.len(), list.len(), "duplicates stored: {v}");
    set
}

/// The expected stored set: permission types in canonical lower case.
fn stored(list: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    list.iter().map(|(n, t)| (n.to_string(), t.to_ascii_lowercase())).collect()
}

/// Replaces volatile values (`@odata.etag`, timestamps) with placeholders, checking their form.
fn scrub(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == "@odata.etag" {
                    assert!(x.as_str().is_some_and(|s| !s.is_empty()), "etag: {x}");
                    *x = json!("<etag>");
                } else if k == "lastModifiedDateTime" && x.is_string() {
                    let s = x.as_str().unwrap();
                    assert!(s.len() == 28 && s.ends_with('Z') && s.as_bytes()[10] == b'T', "{s}");
                    *x = json!("<date>");
                } else {
                    scrub(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(scrub),
        _ => {}
    }
}

fn scrubbed(v: &Value) -> Value {
    let mut v = v.clone();
    scrub(&mut v);
    v
}

/// The v1.0 teamsApp view of an organization app published from `m`.
fn app_view(app_id: &str, m: &Value) -> Value {
    json!({
        "id": app_id,
        "externalId": m["id"],
        "displayName": m["name"]["short"],
        "distributionMethod": "organization",
    })
}

/// The v1.0 teamsAppDefinition view (scrubbed) of the published definition from `m`, created by
/// the admin (Megan).
fn def_view(app_id: &str, m: &Value) -> Value {
    let version = m["version"].as_str().unwrap();
    let required: Vec<Value> = m["authorization"]["permissions"]["resourceSpecific"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|p| {
                    json!({
                        "permissionValue": p["name"],
                        "permissionType": p["type"].as_str().unwrap().to_ascii_lowercase(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "@odata.etag": "<etag>",
        "id": b64(&format!("{app_id}##{version}##Published")),
        "teamsAppId": app_id,
        "displayName": m["name"]["short"],
        "version": version,
        "publishingState": "published",
        "shortDescription": m["description"]["short"],
        "description": m["description"]["full"],
        "lastModifiedDateTime": "<date>",
        "createdBy": {
            "application": null, "device": null, "conversation": null,
            "user": {"id": MEGAN, "displayName": null, "userIdentityType": "aadUser"}
        },
        "authorization": {
            "clientAppId": m["webApplicationInfo"]["id"],
            "requiredPermissionSet": {"resourceSpecificPermissions": required}
        },
    })
}

async fn publish_app(s: &Server, admin: &str, m: &Value) -> String {
    s.publish(admin, m).await["id"].as_str().unwrap().to_string()
}

/// Publishes `manifest(new id, version)`; returns (catalog id, manifest).
async fn publish_new(s: &Server, admin: &str, version: &str) -> (String, Value) {
    let m = manifest(&new_manifest_id(), version);
    (publish_app(s, admin, &m).await, m)
}

async fn install(s: &Server, tok: &str, sc: Sc, app_id: &str) {
    let r = s.graph(tok).install_app(sc.scope(), app_id).await;
    assert_eq!(r.status.as_u16(), sc.install_status(), "{sc:?} install: {}", r.body);
    assert_eq!(r.body, Value::Null, "{sc:?}: install answers without a body");
}

/// The installation as stored: `id`, `consentedPermissionSet` and the expanded definition
/// (scrubbed), or `None` when it does not exist (404).
async fn snapshot(s: &Server, tok: &str, sc: Sc, app_id: &str) -> Option<Value> {
    let path = format!(
        "{}/{}?$select=id,consentedPermissionSet&$expand=teamsAppDefinition",
        sc.v1(),
        sc.installation_id(app_id)
    );
    let r = s.get(tok, &path).await;
    if r.status == 404 {
        r.assert_error(404, "NotFound");
        return None;
    }
    assert_eq!(r.status, 200, "{sc:?}: {}", r.body);
    Some(scrubbed(&r.body))
}

fn version_of(snap: &Option<Value>) -> &str {
    snap.as_ref().expect("installed")["teamsAppDefinition"]["version"].as_str().unwrap()
}

/// The ids in a list response.
fn ids(body: &Value) -> Vec<String> {
    body["value"]
        .as_array()
        .unwrap_or_else(|| panic!("collection expected: {body}"))
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

async fn list_ids(s: &Server, tok: &str, sc: Sc) -> Vec<String> {
    let r = s.graph(tok).list_installed_apps(sc.scope(), "").await;
    assert_eq!(r.status, 200, "{sc:?}: {}", r.body);
    ids(&r.body)
}

async fn post_raw(s: &Server, tok: &str, path: &str, ct: &str, body: &[u8]) -> Resp {
    s.send(Method::POST, Some(tok), path, Some((ct, body.to_vec())), &[]).await
}

/// Parses Graph's missing-permission 403 message (spec 5.7, E2/E3) into (accepted, held).
fn missing_permission(msg: &str, delegated: bool) -> (Vec<String>, Vec<String>) {
    let (head, middle) = if delegated {
        (
            "Missing scope permissions on the request. API requires one of '",
            "'. Scopes on the request '",
        )
    } else {
        (
            "Missing role permissions on the request. API required one of '",
            "'. Roles on the request '",
        )
    };
    let rest = msg.strip_prefix(head).unwrap_or_else(|| panic!("message shape: {msg}"));
    let (accepted, held) = rest.split_once(middle).unwrap_or_else(|| panic!("message: {msg}"));
    let held = held.strip_suffix('\'').unwrap_or_else(|| panic!("message end: {msg}"));
    let split = |s: &str| -> Vec<String> {
        s.split(", ").filter(|x| !x.is_empty()).map(str::to_string).collect()
    };
    (split(accepted), split(held))
}

/// Asserts a 403 missing-permission answer: the accepted list starts with the least privileged
/// permission of the spec table and contains every documented one; the held list is the token's.
fn assert_missing(r: &Resp, delegated: bool, documented: &[&str], held: &[&str]) {
    let msg = r.assert_error(403, "Forbidden").to_string();
    let (accepted, on_request) = missing_permission(&msg, delegated);
    assert_eq!(accepted[0], documented[0], "least privileged first: {msg}");
    let unique: BTreeSet<&str> = accepted.iter().map(String::as_str).collect();
    assert_eq!(unique.len(), accepted.len(), "duplicates: {msg}");
    for p in documented {
        assert!(unique.contains(p), "{p} missing from: {msg}");
    }
    let got: BTreeSet<&str> = on_request.iter().map(String::as_str).collect();
    for p in held {
        assert!(got.contains(p), "{p} not named as held: {msg}");
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

const READER_ROLES: [&str; 4] = [
    "AppCatalog.Read.All",
    "TeamsAppInstallation.ReadForUser.All",
    "TeamsAppInstallation.ReadForChat.All",
    "TeamsAppInstallation.ReadForTeam.All",
];

// ---------------------------------------------------------------------------------------------
// Install
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn install_answers_documented_status_without_body_and_id_encodes_scope_and_app() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    let (app_id, _) = publish_new(&s, &admin, "1.0.0").await;
    for sc in SCOPES {
        let r = s.graph(&tok).install_app(sc.scope(), &app_id).await;
        assert_eq!(r.status.as_u16(), sc.install_status(), "{sc:?}: {}", r.body);
        assert_eq!(r.body, Value::Null, "{sc:?}: no body");

        let listed = list_ids(&s, &tok, sc).await;
        assert_eq!(listed.len(), 1, "{sc:?}: {listed:?}");
        let id = &listed[0];
        // Padded standard base64 of `{scopeId}##{teamsAppId}` (spec 10).
        assert_eq!(
            STANDARD.decode(id).ok().map(|b| String::from_utf8(b).unwrap()),
            Some(format!("{}##{app_id}", sc.id())),
            "{sc:?}: {id}"
        );
        assert_eq!(id, &sc.installation_id(&app_id));

        // A second install of the same app in the same scope: 409, nothing added.
        let again = s.graph(&tok).install_app(sc.scope(), &app_id).await;
        again.assert_error(409, "Conflict");
        assert_eq!(list_ids(&s, &tok, sc).await, listed, "{sc:?}: 409 changed the list");
    }
}

#[tokio::test]
async fn install_bind_forms_and_malformed_binds() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    let (relative_app, _) = publish_new(&s, &admin, "1.0.0").await;
    let (beta_app, _) = publish_new(&s, &admin, "1.0.0").await;
    for sc in SCOPES {
        // No body at all, no bind, a bind that is not a string, binds that name no catalog app.
        let none = s.post_empty(&tok, &sc.v1()).await;
        none.assert_error(400, "BadRequest");
        let bad_bodies = [
            json!({}),
            json!({"teamsApp@odata.bind": 5}),
            json!({"teamsApp@odata.bind": null}),
            json!({"teamsApp@odata.bind": ["x"]}),
            json!({"teamsApp@odata.bind": "not a url"}),
            json!({"teamsApp@odata.bind": "https://graph.microsoft.com"}),
            json!({"teamsApp@odata.bind": format!("https://graph.microsoft.com/v1.0/users/{ADELE}")}),
            json!({"teamsApp@odata.bind": "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/"}),
            json!([]),
        ];
        for body in &bad_bodies {
            let r = s.graph(&tok).install_app_with(sc.scope(), body).await;
            assert_eq!(r.status, 400, "{sc:?} {body}: {}", r.body);
            r.assert_error(400, "BadRequest");
        }
        // An app the catalog does not have: 404.
        let unknown = uuid::Uuid::new_v4().to_string();
        s.graph(&tok).install_app(sc.scope(), &unknown).await.assert_error(404, "NotFound");
        assert!(list_ids(&s, &tok, sc).await.is_empty(), "{sc:?}: refused installs wrote");

        // Relative bind and a beta-host bind both work.
        let rel = json!({"teamsApp@odata.bind": format!("appCatalogs/teamsApps/{relative_app}")});
        let r = s.graph(&tok).install_app_with(sc.scope(), &rel).await;
        assert_eq!(r.status.as_u16(), sc.install_status(), "{sc:?} relative: {}", r.body);
        let beta = json!({
            "teamsApp@odata.bind": format!("https://graph.microsoft.com/beta/appCatalogs/teamsApps/{beta_app}")
        });
        let r = s.graph(&tok).install_app_with(sc.scope(), &beta).await;
        assert_eq!(r.status.as_u16(), sc.install_status(), "{sc:?} beta host: {}", r.body);
        let got: BTreeSet<String> = list_ids(&s, &tok, sc).await.into_iter().collect();
        let want: BTreeSet<String> =
            [sc.installation_id(&relative_app), sc.installation_id(&beta_app)].into();
        assert_eq!(got, want, "{sc:?}");
    }
}

#[tokio::test]
async fn install_refuses_scopes_the_manifest_does_not_allow() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    let app_id = publish_app(&s, &admin, &personal_only(&new_manifest_id(), "1.0.0")).await;
    for sc in [Sc::Chat, Sc::Team] {
        s.graph(&tok).install_app(sc.scope(), &app_id).await.assert_error(400, "BadRequest");
        assert_eq!(snapshot(&s, &tok, sc, &app_id).await, None, "{sc:?}");
        assert!(list_ids(&s, &tok, sc).await.is_empty());
    }
    install(&s, &tok, Sc::User, &app_id).await;
    assert_eq!(version_of(&snapshot(&s, &tok, Sc::User, &app_id).await), "1.0.0");
}

#[tokio::test]
async fn install_refuses_an_app_with_only_a_submitted_definition() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    let m = manifest(&new_manifest_id(), "1.0.0");
    let r = s.graph(&admin).publish_teams_app(&m, true).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let app_id = r.body["id"].as_str().unwrap().to_string();
    for sc in SCOPES {
        s.graph(&tok).install_app(sc.scope(), &app_id).await.assert_error(400, "BadRequest");
        assert_eq!(snapshot(&s, &tok, sc, &app_id).await, None, "{sc:?}");
    }
}

#[tokio::test]
async fn unknown_user_chat_or_team_is_404() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    let (app_id, _) = publish_new(&s, &admin, "1.0.0").await;
    let ghost = "0badf00d-0000-4000-8000-00000000dead";

    let user = format!("/v1.0/users/{ghost}/teamwork/installedApps");
    let msg =
        s.post_json(&tok, &user, &bind(&app_id)).await.assert_error(404, "NotFound").to_string();
    assert_eq!(msg, format!("User Id '{ghost}' not found."));
    let msg = s.get(&tok, &user).await.assert_error(404, "NotFound").to_string();
    assert_eq!(msg, format!("User Id '{ghost}' not found."));
    let upn = "/v1.0/users/nobody@contoso.example/teamwork/installedApps";
    s.post_json(&tok, upn, &bind(&app_id)).await.assert_error(404, "NotFound");
    // A user of another tenant is not found from this one, and the other way round.
    let ann = "0f0f0f0f-2222-4a2b-9c3d-000000000001";
    let r = s.graph(&tok).install_app_for_user(ann, &app_id).await;
    assert_eq!(r.assert_error(404, "NotFound"), format!("User Id '{ann}' not found."));
    let fab = s.app_token_in(TENANT_B, FAB).await;
    let r = s.graph(&fab).install_app(Sc::User.scope(), &app_id).await;
    assert_eq!(r.assert_error(404, "NotFound"), format!("User Id '{ADELE}' not found."));
    assert!(list_ids(&s, &tok, Sc::User).await.is_empty());

    let chat = format!("/v1.0/chats/{}/installedApps", enc("19:0000000000000000@thread.v2"));
    s.post_json(&tok, &chat, &bind(&app_id)).await.assert_error(404, "NotFound");
    s.get(&tok, &chat).await.assert_error(404, "NotFound");

    let team = format!("/v1.0/teams/{ghost}/installedApps");
    s.post_json(&tok, &team, &bind(&app_id)).await.assert_error(404, "NotFound");
    s.get(&tok, &team).await.assert_error(404, "NotFound");
}

// ---------------------------------------------------------------------------------------------
// List and get
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn list_and_get_bodies_and_contexts_in_every_scope() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    let (app_id, _) = publish_new(&s, &admin, "1.0.0").await;
    for sc in SCOPES {
        install(&s, &tok, sc, &app_id).await;
        let id = sc.installation_id(&app_id);

        let list = s.graph(&tok).list_installed_apps(sc.scope(), "").await;
        assert_eq!(list.status, 200, "{}", list.body);
        let mut want = json!({"@odata.context": sc.context(), "value": [{"id": id}]});
        if sc == Sc::Team {
            // Team lists always carry @odata.count (spec 4.3).
            want["@odata.count"] = json!(1);
        }
        assert_eq!(list.body, want, "{sc:?}");

        let one = s.graph(&tok).get_installed_app(sc.scope(), &id, "").await;
        assert_eq!(one.status, 200, "{}", one.body);
        assert_eq!(
            one.body,
            json!({"@odata.context": format!("{}/$entity", sc.context()), "id": id}),
            "{sc:?}"
        );
        let ct = one.headers["content-type"].to_str().unwrap();
        assert!(ct.starts_with("application/json"), "{ct}");

        // beta writes its own service root into the context.
        let beta = s.get(&tok, &format!("/beta{}", sc.path())).await;
        assert_eq!(beta.status, 200, "{}", beta.body);
        assert_eq!(
            beta.body["@odata.context"],
            sc.context().replace("/v1.0/$metadata", "/beta/$metadata"),
            "{sc:?}"
        );
        assert_eq!(ids(&beta.body), vec![id.clone()]);

        // $count=true adds the count on every list.
        let counted = s.graph(&tok).list_installed_apps(sc.scope(), "$count=true").await;
        assert_eq!(counted.body["@odata.count"], 1, "{sc:?}: {}", counted.body);
    }
}

#[tokio::test]
async fn expand_teams_app_and_definition_shapes_and_contexts() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    let (app_id, m) = publish_new(&s, &admin, "1.0.0").await;
    let item = json!({
        "id": "",
        "teamsApp": app_view(&app_id, &m),
        "teamsAppDefinition": def_view(&app_id, &m),
    });
    for sc in SCOPES {
        install(&s, &tok, sc, &app_id).await;
        let id = sc.installation_id(&app_id);
        let mut want_item = item.clone();
        want_item["id"] = json!(id);
        let ctx = format!("{}(teamsApp(),teamsAppDefinition())", sc.context());

        let list = s
            .graph(&tok)
            .list_installed_apps(sc.scope(), "$expand=teamsApp,teamsAppDefinition")
            .await;
        assert_eq!(list.status, 200, "{}", list.body);
        let mut want = json!({"@odata.context": ctx, "value": [want_item]});
        if sc == Sc::Team {
            want["@odata.count"] = json!(1);
        }
        assert_eq!(scrubbed(&list.body), want, "{sc:?}");

        let one = s
            .graph(&tok)
            .get_installed_app(sc.scope(), &id, "$expand=teamsApp,teamsAppDefinition")
            .await;
        assert_eq!(one.status, 200, "{}", one.body);
        let mut want_one = want_item.clone();
        want_one["@odata.context"] = json!(format!("{ctx}/$entity"));
        assert_eq!(scrubbed(&one.body), want_one, "{sc:?}");

        // Nested expand of the bot (spec 2.5).
        let nested = s
            .graph(&tok)
            .list_installed_apps(sc.scope(), "$expand=teamsAppDefinition($expand=bot)")
            .await;
        assert_eq!(nested.status, 200, "{}", nested.body);
        let ctx = nested.body["@odata.context"].as_str().unwrap();
        // The chat doc example writes `(teamsAppDefinition())`, OData's rules `(…(bot()))`.
        assert!(
            ctx == format!("{}(teamsAppDefinition(bot()))", sc.context())
                || ctx == format!("{}(teamsAppDefinition())", sc.context()),
            "{ctx}"
        );
        let mut def = def_view(&app_id, &m);
        def["bot"] = json!({"id": BOT_ID});
        assert_eq!(
            scrubbed(&nested.body["value"]),
            json!([{"id": id, "teamsAppDefinition": def}]),
            "{sc:?}"
        );
    }
}

#[tokio::test]
async fn select_consented_permission_set_filter_and_unknown_options() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    let (a, ma) = publish_new(&s, &admin, "1.0.0").await;
    let (b, _) = publish_new(&s, &admin, "1.0.0").await;
    for sc in SCOPES {
        install(&s, &tok, sc, &a).await;
        install(&s, &tok, sc, &b).await;
        let (ia, ib) = (sc.installation_id(&a), sc.installation_id(&b));

        // consentedPermissionSet only when selected; null when nothing was consented.
        let sel = s
            .graph(&tok)
            .list_installed_apps(sc.scope(), "$select=consentedPermissionSet,id")
            .await;
        assert_eq!(sel.status, 200, "{}", sel.body);
        assert_eq!(
            sel.body["@odata.context"],
            format!("{}(consentedPermissionSet,id)", sc.context()),
            "{sc:?}"
        );
        let mut items = sel.body["value"].as_array().unwrap().clone();
        items.sort_by_key(|i| i["id"].as_str().unwrap().to_string());
        let mut want = vec![
            json!({"id": ia, "consentedPermissionSet": null}),
            json!({"id": ib, "consentedPermissionSet": null}),
        ];
        want.sort_by_key(|i| i["id"].as_str().unwrap().to_string());
        assert_eq!(items, want, "{sc:?}");

        let one = s
            .graph(&tok)
            .get_installed_app(sc.scope(), &ia, "$select=consentedPermissionSet,id")
            .await;
        assert_eq!(
            one.body,
            json!({
                "@odata.context": format!("{}(consentedPermissionSet,id)/$entity", sc.context()),
                "id": ia,
                "consentedPermissionSet": null,
            }),
            "{sc:?}"
        );

        // $filter on the external id picks one installation.
        let f = s
            .get(
                &tok,
                &format!(
                    "{}?$expand=teamsApp,teamsAppDefinition&$filter=teamsApp/externalId eq '{}'",
                    sc.v1(),
                    ma["id"].as_str().unwrap()
                ),
            )
            .await;
        assert_eq!(f.status, 200, "{}", f.body);
        let mut want = json!({
            "@odata.context": format!("{}(teamsApp(),teamsAppDefinition())", sc.context()),
            "value": [{"id": ia, "teamsApp": app_view(&a, &ma), "teamsAppDefinition": def_view(&a, &ma)}],
        });
        if sc == Sc::Team {
            want["@odata.count"] = json!(1);
        }
        assert_eq!(scrubbed(&f.body), want, "{sc:?}");

        // Unknown navigation or property: 400.
        for q in
            ["$expand=nope", "$select=nope", "$select=id,teamsApp/id", "$expand=appDefinitions"]
        {
            let r = s.graph(&tok).list_installed_apps(sc.scope(), q).await;
            assert_eq!(r.status, 400, "{sc:?} {q}: {}", r.body);
            r.assert_error(400, "BadRequest");
            let r = s.graph(&tok).get_installed_app(sc.scope(), &ia, q).await;
            assert_eq!(r.status, 400, "{sc:?} get {q}: {}", r.body);
        }
    }
}

#[tokio::test]
async fn get_accepts_padded_and_unpadded_ids_and_refuses_foreign_or_garbage_ids() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    // Uninstall in chats and teams is not in the AndConsent permissions' table (spec 4.2, 4.3).
    let plain = s.app_token(PLAIN).await;
    let (app_id, _) = publish_new(&s, &admin, "1.0.0").await;
    for sc in SCOPES {
        install(&s, &tok, sc, &app_id).await;
    }
    // Megan gets it too, so a foreign id names a real installation.
    let r = s.graph(&tok).install_app_for_user(MEGAN, &app_id).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let megan_id = b64(&format!("{MEGAN}##{app_id}"));
    for sc in SCOPES {
        let id = sc.installation_id(&app_id);
        assert!(id.ends_with('='), "{sc:?}: this id should carry padding: {id}");
        for form in [id.clone(), id.trim_end_matches('=').to_string()] {
            let r = s.graph(&tok).get_installed_app(sc.scope(), &form, "").await;
            assert_eq!(r.status, 200, "{sc:?} {form}: {}", r.body);
            assert_eq!(r.body["id"], id, "the padded form is emitted");
        }
        let garbage = [
            "garbage".to_string(),
            "!!!".to_string(),
            b64("no-separator"),
            b64(&format!("{}##", sc.id())),
            b64(&format!("{}##{}", sc.id(), uuid::Uuid::new_v4())),
        ];
        for g in garbage {
            let r = s.graph(&tok).get_installed_app(sc.scope(), &g, "").await;
            assert_eq!(r.status, 404, "{sc:?} {g}: {}", r.body);
            r.assert_error(404, "NotFound");
        }
    }
    // Ids of another scope name nothing here (spec 10).
    let user_id = Sc::User.installation_id(&app_id);
    let team_id = Sc::Team.installation_id(&app_id);
    let chat_id = Sc::Chat.installation_id(&app_id);
    let cases = [
        (Sc::Team.v1(), user_id.clone()),
        (Sc::Chat.v1(), team_id.clone()),
        (Sc::User.v1(), chat_id),
        (Sc::User.v1(), megan_id.clone()),
        (format!("/v1.0/users/{MEGAN}/teamwork/installedApps"), user_id.clone()),
        (Sc::Chat.v1(), user_id),
        (Sc::Team.v1(), megan_id),
    ];
    for (base, id) in cases {
        let r = s.get(&tok, &format!("{base}/{id}")).await;
        assert_eq!(r.status, 404, "{base}/{id} ({}): {}", unb64(&id), r.body);
        r.assert_error(404, "NotFound");
        let r = s.post_empty(&tok, &format!("{base}/{id}/upgrade")).await;
        assert_eq!(r.status, 404, "upgrade {base}/{id}: {}", r.body);
        let r = s.delete(&plain, &format!("{base}/{id}")).await;
        assert_eq!(r.status, 404, "delete {base}/{id}: {}", r.body);
    }
    // Nothing was removed by the refused deletes.
    for sc in SCOPES {
        assert_eq!(list_ids(&s, &tok, sc).await, vec![sc.installation_id(&app_id)]);
    }
}

#[tokio::test]
async fn users_by_upn_chat_ids_raw_or_encoded_and_case_insensitive_segments() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    let (a, _) = publish_new(&s, &admin, "1.0.0").await;
    let (b, _) = publish_new(&s, &admin, "1.0.0").await;

    // Install by UPN; the id embeds the user's object id.
    let by_upn = "/v1.0/users/adele@contoso.example/teamwork/installedApps";
    let r = s.post_json(&tok, by_upn, &bind(&a)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = Sc::User.installation_id(&a);
    assert_eq!(list_ids(&s, &tok, Sc::User).await, vec![id.clone()]);
    let listed = s.get(&tok, by_upn).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(ids(&listed.body), vec![id.clone()]);
    let one = s.get(&tok, &format!("{by_upn}/{id}")).await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.body["id"], id);

    // Case-insensitive segment names.
    let shouting = format!("/v1.0/USERS/{ADELE}/TeamWork/InstalledApps");
    let r = s.get(&tok, &shouting).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids(&r.body), vec![id.clone()]);
    let r = s.get(&tok, &format!("{shouting}/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.get(&tok, &format!("/v1.0/TEAMS/{TEAM}/INSTALLEDAPPS")).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Upgrade through the UPN and with differently cased action names.
    let a_manifest = s.graph(&tok).get_teams_app(&a, "").await;
    assert_eq!(a_manifest.status, 200, "{}", a_manifest.body);
    let mid = a_manifest.body["externalId"].as_str().unwrap().to_string();
    for (version, path) in [
        ("1.1.0", format!("{by_upn}/{id}/upgrade")),
        ("1.2.0", format!("{shouting}/{id}/UPGRADE")),
        ("1.3.0", format!("{shouting}/{id}/Microsoft.Graph.Upgrade")),
    ] {
        s.update(&admin, &a, &manifest(&mid, version)).await;
        let r = s.post_empty(&tok, &path).await;
        assert_eq!(r.status, 204, "{path}: {}", r.body);
        assert_eq!(version_of(&snapshot(&s, &tok, Sc::User, &a).await), version, "{path}");
    }

    // Chat ids raw and percent-encoded name the same chat.
    let raw = format!("/v1.0/chats/{CHAT}/installedApps");
    let r = s.post_json(&tok, &raw, &bind(&b)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let chat_id = Sc::Chat.installation_id(&b);
    for base in [raw.clone(), Sc::Chat.v1(), format!("/v1.0/Chats/{}/installedapps", enc(CHAT))] {
        let r = s.get(&tok, &base).await;
        assert_eq!(r.status, 200, "{base}: {}", r.body);
        assert_eq!(r.body["@odata.context"], Sc::Chat.context(), "{base}");
        assert_eq!(ids(&r.body), vec![chat_id.clone()], "{base}");
        let r = s.get(&tok, &format!("{base}/{chat_id}")).await;
        assert_eq!(r.status, 200, "{base}: {}", r.body);
    }
    s.graph(&tok).install_app(Sc::Chat.scope(), &b).await.assert_error(409, "Conflict");
}

// ---------------------------------------------------------------------------------------------
// Upgrade
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn upgrade_moves_to_the_newest_published_version_with_every_body_form() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    let mid = new_manifest_id();
    let app_id = publish_app(&s, &admin, &manifest(&mid, "1.0.0")).await;
    for sc in SCOPES {
        install(&s, &tok, sc, &app_id).await;
    }
    let forms: [(&str, &str, Option<Value>); 3] = [
        ("1.1.0", "upgrade", None),
        ("1.2.0", "microsoft.graph.upgrade", Some(json!({}))),
        ("1.3.0", "upgrade", Some(consent_body(&[]))),
    ];
    for (version, action, body) in forms {
        s.update(&admin, &app_id, &manifest(&mid, version)).await;
        for sc in SCOPES {
            let before = snapshot(&s, &tok, sc, &app_id).await;
            assert_ne!(version_of(&before), version);
            let path = format!("{}/{}/{action}", sc.v1(), sc.installation_id(&app_id));
            let r = match &body {
                None => s.post_empty(&tok, &path).await,
                Some(b) => s.post_json(&tok, &path, b).await,
            };
            assert_eq!(r.status, 204, "{sc:?} {version} {action}: {}", r.body);
            assert_eq!(r.body, Value::Null);
            let after = snapshot(&s, &tok, sc, &app_id).await.unwrap();
            let m = manifest(&mid, version);
            assert_eq!(
                after,
                json!({
                    "@odata.context": format!(
                        "{}(id,consentedPermissionSet,teamsAppDefinition())/$entity",
                        sc.context()
                    ),
                    "id": sc.installation_id(&app_id),
                    "consentedPermissionSet": null,
                    "teamsAppDefinition": def_view(&app_id, &m),
                }),
                "{sc:?} {version}"
            );
        }
    }
    // A newer definition under review is not an upgrade target: still at 1.3.0.
    let r = s.graph(&admin).update_teams_app(&app_id, &manifest(&mid, "1.4.0"), true).await;
    assert_eq!(r.status, 201, "{}", r.body);
    for sc in SCOPES {
        let path = format!("{}/{}/upgrade", sc.v1(), sc.installation_id(&app_id));
        let r = s.post_empty(&tok, &path).await;
        assert_eq!(r.status, 204, "{sc:?}: {}", r.body);
        assert_eq!(version_of(&snapshot(&s, &tok, sc, &app_id).await), "1.3.0", "{sc:?}");
    }
}

#[tokio::test]
async fn upgrade_when_already_current_is_a_no_op_by_default() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    let (app_id, _) = publish_new(&s, &admin, "1.0.0").await;
    for sc in SCOPES {
        install(&s, &tok, sc, &app_id).await;
        let before = snapshot(&s, &tok, sc, &app_id).await;
        let path = format!("{}/{}/upgrade", sc.v1(), sc.installation_id(&app_id));
        let r = s.post_empty(&tok, &path).await;
        assert_eq!(r.status, 204, "{sc:?}: {}", r.body);
        let r = s.post_json(&tok, &path, &json!({})).await;
        assert_eq!(r.status, 204, "{sc:?}: {}", r.body);
        assert_eq!(snapshot(&s, &tok, sc, &app_id).await, before, "{sc:?}");
    }
}

#[tokio::test]
async fn upgrade_when_already_current_is_400_with_the_bad_request_flag() {
    let s = Server::start_args(&["--upgrade-when-current", "bad-request"]).await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    let mid = new_manifest_id();
    let app_id = publish_app(&s, &admin, &manifest(&mid, "1.0.0")).await;
    for sc in SCOPES {
        install(&s, &tok, sc, &app_id).await;
        let before = snapshot(&s, &tok, sc, &app_id).await;
        let path = format!("{}/{}/upgrade", sc.v1(), sc.installation_id(&app_id));
        s.post_empty(&tok, &path).await.assert_error(400, "BadRequest");
        assert_eq!(snapshot(&s, &tok, sc, &app_id).await, before, "{sc:?}");
    }
    // A real upgrade still works, and then the next one is refused again.
    s.update(&admin, &app_id, &manifest(&mid, "2.0.0")).await;
    for sc in SCOPES {
        let path = format!("{}/{}/upgrade", sc.v1(), sc.installation_id(&app_id));
        let r = s.post_empty(&tok, &path).await;
        assert_eq!(r.status, 204, "{sc:?}: {}", r.body);
        assert_eq!(version_of(&snapshot(&s, &tok, sc, &app_id).await), "2.0.0");
        s.post_empty(&tok, &path).await.assert_error(400, "BadRequest");
    }
}

#[tokio::test]
async fn upgrade_refuses_bodies_that_are_not_json() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    let mid = new_manifest_id();
    let app_id = publish_app(&s, &admin, &manifest(&mid, "1.0.0")).await;
    for sc in SCOPES {
        install(&s, &tok, sc, &app_id).await;
    }
    s.update(&admin, &app_id, &manifest(&mid, "1.1.0")).await;
    for sc in SCOPES {
        let before = snapshot(&s, &tok, sc, &app_id).await;
        assert_eq!(version_of(&before), "1.0.0");
        let path = format!("{}/{}/upgrade", sc.v1(), sc.installation_id(&app_id));
        post_raw(&s, &tok, &path, "application/json", b"{not json")
            .await
            .assert_error(400, "BadRequest");
        post_raw(&s, &tok, &path, "application/json", b"[1,2]")
            .await
            .assert_error(400, "BadRequest");
        post_raw(&s, &tok, &path, "application/json; charset=utf-8", b"\"x\"")
            .await
            .assert_error(400, "BadRequest");
        let r = post_raw(&s, &tok, &path, "text/plain", b"{}").await;
        r.assert_error(415, "UnsupportedMediaType");
        // Unknown members of the action body.
        s.post_json(&tok, &path, &json!({"version": "1.1.0"}))
            .await
            .assert_error(400, "BadRequest");
        assert_eq!(snapshot(&s, &tok, sc, &app_id).await, before, "{sc:?}: refused upgrade wrote");
    }
}

// ---------------------------------------------------------------------------------------------
// Consent (spec 5.4)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn consent_on_install_requires_the_exact_set_and_a_consent_capable_permission() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    let plain = s.app_token(PLAIN).await;
    for sc in SCOPES {
        let [app_p, del_p] = sc.rsc();
        let app_id =
            publish_app(&s, &admin, &with_rsc(manifest(&new_manifest_id(), "1.0.0"), &sc.rsc()))
                .await;
        let refused: [(&str, Value); 5] = [
            ("no set", bind(&app_id)),
            ("empty set", install_body_with_consent(&app_id, &[])),
            ("application only", install_body_with_consent(&app_id, &[app_p])),
            ("extra", install_body_with_consent(&app_id, &[app_p, del_p, sc.other_delegated()])),
            (
                "types swapped",
                install_body_with_consent(
                    &app_id,
                    &[(app_p.0, "Delegated"), (del_p.0, "Application")],
                ),
            ),
        ];
        for (what, body) in &refused {
            let r = s.graph(&tok).install_app_with(sc.scope(), body).await;
            assert_eq!(r.status, 400, "{sc:?} {what}: {}", r.body);
            r.assert_error(400, "BadRequest");
            assert_eq!(snapshot(&s, &tok, sc, &app_id).await, None, "{sc:?} {what}");
        }
        // Exact set, types in any case, shuffled, with duplicates.
        let exact = [
            (del_p.0, "DELEGATED"),
            (app_p.0, "application"),
            (del_p.0, "Delegated"),
            (app_p.0, "APPLICATION"),
        ];
        // The plain writer (ReadWriteFor*.All) cannot consent: 403, nothing written.
        let r = s
            .graph(&plain)
            .install_app_with(sc.scope(), &install_body_with_consent(&app_id, &exact))
            .await;
        r.assert_error(403, "Forbidden");
        assert_eq!(snapshot(&s, &tok, sc, &app_id).await, None, "{sc:?} plain");

        let r = s
            .graph(&tok)
            .install_app_with(sc.scope(), &install_body_with_consent(&app_id, &exact))
            .await;
        assert_eq!(r.status.as_u16(), sc.install_status(), "{sc:?}: {}", r.body);
        let id = sc.installation_id(&app_id);
        let one = s
            .graph(&tok)
            .get_installed_app(sc.scope(), &id, "$select=consentedPermissionSet,id")
            .await;
        assert_eq!(one.status, 200, "{}", one.body);
        let keys: BTreeSet<&str> =
            one.body.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["@odata.context", "id", "consentedPermissionSet"]));
        assert_eq!(one.body["id"], id);
        assert_eq!(
            perm_set(&one.body["consentedPermissionSet"]),
            stored(&[app_p, del_p]),
            "{sc:?}"
        );
        // Not returned unless selected.
        let plain_get = s.graph(&tok).get_installed_app(sc.scope(), &id, "").await;
        assert!(plain_get.body.get("consentedPermissionSet").is_none(), "{}", plain_get.body);
    }
}

#[tokio::test]
async fn consent_on_upgrade_requires_the_exact_set_and_refusals_change_nothing() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    let plain = s.app_token(PLAIN).await;
    for sc in SCOPES {
        let [app_p, del_p] = sc.rsc();
        let mid = new_manifest_id();
        let app_id = publish_app(&s, &admin, &manifest(&mid, "1.0.0")).await;
        install(&s, &tok, sc, &app_id).await;
        s.update(&admin, &app_id, &with_rsc(manifest(&mid, "2.0.0"), &sc.rsc())).await;
        let before = snapshot(&s, &tok, sc, &app_id).await;
        assert_eq!(version_of(&before), "1.0.0");
        assert_eq!(before.as_ref().unwrap()["consentedPermissionSet"], Value::Null);
        let path = format!("{}/{}/upgrade", sc.v1(), sc.installation_id(&app_id));

        let r = s.post_empty(&tok, &path).await;
        assert_eq!(r.status, 400, "{sc:?} no body: {}", r.body);
        r.assert_error(400, "BadRequest");
        assert_eq!(snapshot(&s, &tok, sc, &app_id).await, before, "{sc:?} no body");
        let refused = [
            json!({}),
            consent_body(&[]),
            consent_body(&[app_p]),
            consent_body(&[del_p]),
            consent_body(&[app_p, del_p, sc.other_delegated()]),
            consent_body(&[(app_p.0, "Delegated"), (del_p.0, "Application")]),
        ];
        for body in &refused {
            let r = s.post_json(&tok, &path, body).await;
            assert_eq!(r.status, 400, "{sc:?} {body}: {}", r.body);
            r.assert_error(400, "BadRequest");
            assert_eq!(snapshot(&s, &tok, sc, &app_id).await, before, "{sc:?} {body}");
        }
        let exact = consent_body(&[
            (del_p.0, "delegated"),
            (app_p.0, "Application"),
            (app_p.0, "APPLICATION"),
            (del_p.0, "Delegated"),
        ]);
        // The plain writer holds no consent-capable permission: 403, unchanged.
        s.post_json(&plain, &path, &exact).await.assert_error(403, "Forbidden");
        assert_eq!(snapshot(&s, &tok, sc, &app_id).await, before, "{sc:?} plain");

        let r = s.post_json(&tok, &path, &exact).await;
        assert_eq!(r.status, 204, "{sc:?}: {}", r.body);
        let after = snapshot(&s, &tok, sc, &app_id).await;
        assert_eq!(version_of(&after), "2.0.0");
        let after = after.unwrap();
        assert_eq!(perm_set(&after["consentedPermissionSet"]), stored(&[app_p, del_p]));

        // The list with $select returns the stored set with lower-case types.
        let sel = s
            .graph(&tok)
            .list_installed_apps(sc.scope(), "$select=consentedPermissionSet,id")
            .await;
        assert_eq!(sel.status, 200, "{}", sel.body);
        let item = sel.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == sc.installation_id(&app_id))
            .cloned()
            .unwrap_or_else(|| panic!("{}", sel.body));
        assert_eq!(perm_set(&item["consentedPermissionSet"]), stored(&[app_p, del_p]));

        // Already current: the body is still validated first (spec 5.7 step 7 before step 8),
        // then nothing changes.
        let current = snapshot(&s, &tok, sc, &app_id).await;
        s.post_empty(&tok, &path).await.assert_error(400, "BadRequest");
        let r = s.post_json(&tok, &path, &exact).await;
        assert_eq!(r.status, 204, "{sc:?}: {}", r.body);
        assert_eq!(snapshot(&s, &tok, sc, &app_id).await, current, "{sc:?}");
    }
}

#[tokio::test]
async fn delegated_only_rsc_may_omit_the_set_and_gets_the_required_set_stored() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    for sc in SCOPES {
        let del = sc.rsc()[1];
        let other = sc.other_delegated();
        let mid = new_manifest_id();
        let app_id = publish_app(&s, &admin, &with_rsc(manifest(&mid, "1.0.0"), &[del])).await;
        install(&s, &tok, sc, &app_id).await;
        let snap = snapshot(&s, &tok, sc, &app_id).await.unwrap();
        assert_eq!(perm_set(&snap["consentedPermissionSet"]), stored(&[del]), "{sc:?}");

        s.update(&admin, &app_id, &with_rsc(manifest(&mid, "1.1.0"), &[del, other])).await;
        let before = snapshot(&s, &tok, sc, &app_id).await;
        let path = format!("{}/{}/upgrade", sc.v1(), sc.installation_id(&app_id));
        // A set that is given must still match.
        s.post_json(&tok, &path, &consent_body(&[del])).await.assert_error(400, "BadRequest");
        assert_eq!(snapshot(&s, &tok, sc, &app_id).await, before, "{sc:?}");
        let r = s.post_empty(&tok, &path).await;
        assert_eq!(r.status, 204, "{sc:?}: {}", r.body);
        let after = snapshot(&s, &tok, sc, &app_id).await;
        assert_eq!(version_of(&after), "1.1.0");
        assert_eq!(perm_set(&after.unwrap()["consentedPermissionSet"]), stored(&[del, other]));
    }
}

#[tokio::test]
async fn an_app_without_rsc_refuses_a_non_empty_consent_set() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    for sc in SCOPES {
        let mid = new_manifest_id();
        let app_id = publish_app(&s, &admin, &manifest(&mid, "1.0.0")).await;
        let body = install_body_with_consent(&app_id, &[sc.rsc()[1]]);
        s.graph(&tok).install_app_with(sc.scope(), &body).await.assert_error(400, "BadRequest");
        assert_eq!(snapshot(&s, &tok, sc, &app_id).await, None, "{sc:?}");
        // An empty set is fine.
        let r = s
            .graph(&tok)
            .install_app_with(sc.scope(), &install_body_with_consent(&app_id, &[]))
            .await;
        assert_eq!(r.status.as_u16(), sc.install_status(), "{sc:?}: {}", r.body);

        s.update(&admin, &app_id, &manifest(&mid, "1.1.0")).await;
        let before = snapshot(&s, &tok, sc, &app_id).await;
        assert_eq!(before.as_ref().unwrap()["consentedPermissionSet"], Value::Null);
        let path = format!("{}/{}/upgrade", sc.v1(), sc.installation_id(&app_id));
        let r = s.post_json(&tok, &path, &consent_body(&[sc.rsc()[0]])).await;
        r.assert_error(400, "BadRequest");
        assert_eq!(snapshot(&s, &tok, sc, &app_id).await, before, "{sc:?}");
        let r = s.post_json(&tok, &path, &consent_body(&[])).await;
        assert_eq!(r.status, 204, "{sc:?}: {}", r.body);
        assert_eq!(version_of(&snapshot(&s, &tok, sc, &app_id).await), "1.1.0");
    }
}

// ---------------------------------------------------------------------------------------------
// Self permission (spec 5.2)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn self_permission_manages_only_the_callers_own_app() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    let me = s.app_token(SELF_APP).await;
    let own_mid = new_manifest_id();
    let own = publish_app(&s, &admin, &tied_to(&own_mid, "1.0.0", SELF_APP.0)).await;
    let foreign_mid = new_manifest_id();
    let foreign = publish_app(&s, &admin, &manifest(&foreign_mid, "1.0.0")).await;
    // Another tied app, to another Entra app (ids are unique per catalog).
    let other_mid = new_manifest_id();
    let other_aad = "77777777-7777-4777-8777-777777777777";
    let other = publish_app(&s, &admin, &tied_to(&other_mid, "1.0.0", other_aad)).await;
    let refusal = |app: &str| {
        format!("AAD App Id '{}' is not allowed to manage the Teams App '{app}'", SELF_APP.0)
    };

    for sc in SCOPES {
        for app in [&foreign, &other] {
            let r = s.graph(&me).install_app(sc.scope(), app).await;
            assert_eq!(r.assert_error(403, "Forbidden"), refusal(app), "{sc:?}");
            assert_eq!(snapshot(&s, &tok, sc, app).await, None, "{sc:?}: refused install wrote");
        }
        let r = s.graph(&me).install_app(sc.scope(), &own).await;
        assert_eq!(r.status.as_u16(), sc.install_status(), "{sc:?}: {}", r.body);
        install(&s, &tok, sc, &foreign).await;
        install(&s, &tok, sc, &other).await;

        // Lists show only the caller's own app; foreign installations are invisible.
        let list = s.graph(&me).list_installed_apps(sc.scope(), "").await;
        assert_eq!(list.status, 200, "{}", list.body);
        assert_eq!(ids(&list.body), vec![sc.installation_id(&own)], "{sc:?}");
        if sc == Sc::Team {
            assert_eq!(list.body["@odata.count"], 1, "{}", list.body);
        }
        assert_eq!(list_ids(&s, &tok, sc).await.len(), 3, "{sc:?}");
        let r = s.graph(&me).get_installed_app(sc.scope(), &sc.installation_id(&foreign), "").await;
        r.assert_error(404, "NotFound");
        let r = s.graph(&me).get_installed_app(sc.scope(), &sc.installation_id(&own), "").await;
        assert_eq!(r.status, 200, "{}", r.body);
    }

    s.update(&admin, &own, &tied_to(&own_mid, "1.1.0", SELF_APP.0)).await;
    s.update(&admin, &foreign, &manifest(&foreign_mid, "1.1.0")).await;
    for sc in SCOPES {
        let up = |app: &str| format!("{}/{}/upgrade", sc.v1(), sc.installation_id(app));
        let r = s.post_empty(&me, &up(&foreign)).await;
        assert_eq!(r.assert_error(403, "Forbidden"), refusal(&foreign), "{sc:?}");
        assert_eq!(version_of(&snapshot(&s, &tok, sc, &foreign).await), "1.0.0");
        let r = s.post_empty(&me, &up(&own)).await;
        assert_eq!(r.status, 204, "{sc:?}: {}", r.body);
        assert_eq!(version_of(&snapshot(&s, &tok, sc, &own).await), "1.1.0");

        let r = s.graph(&me).uninstall_app(sc.scope(), &sc.installation_id(&foreign)).await;
        assert_eq!(r.assert_error(403, "Forbidden"), refusal(&foreign), "{sc:?}");
        assert!(snapshot(&s, &tok, sc, &foreign).await.is_some(), "{sc:?}: refused delete removed");
        let r = s.graph(&me).uninstall_app(sc.scope(), &sc.installation_id(&own)).await;
        assert_eq!(r.status, 204, "{sc:?}: {}", r.body);
        assert_eq!(snapshot(&s, &tok, sc, &own).await, None);
        let list = s.graph(&me).list_installed_apps(sc.scope(), "").await;
        assert_eq!(ids(&list.body), Vec::<String>::new(), "{sc:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Permissions
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn read_only_app_cannot_install_upgrade_or_uninstall() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    let reader = s.app_token(READER).await;
    let mid = new_manifest_id();
    let app_id = publish_app(&s, &admin, &manifest(&mid, "1.0.0")).await;
    let (other, _) = publish_new(&s, &admin, "1.0.0").await;
    for sc in SCOPES {
        install(&s, &tok, sc, &app_id).await;
    }
    s.update(&admin, &app_id, &manifest(&mid, "1.1.0")).await;

    let t = |names: &[&str]| -> Vec<String> {
        names
            .iter()
            .map(|n| {
                if ["Chat.", "Group.", "Directory."].iter().any(|p| n.starts_with(p)) {
                    n.to_string()
                } else {
                    format!("TeamsAppInstallation.{n}")
                }
            })
            .collect()
    };
    // (scope, install, upgrade, uninstall) accepted application permissions.
    type Table = (Sc, Vec<String>, Vec<String>, Vec<String>);
    let tables: [Table; 3] = [
        (
            Sc::User,
            t(&[
                "ReadWriteSelfForUser.All",
                "ManageSelectedForUser.All",
                "ReadWriteAndConsentForUser.All",
                "ReadWriteAndConsentSelfForUser.All",
                "ReadWriteForUser.All",
                "ReadWriteSelectedForUser.All",
            ]),
            t(&[
                "ReadWriteSelfForUser.All",
                "ManageSelectedForUser.All",
                "ReadWriteAndConsentForUser.All",
                "ReadWriteAndConsentSelfForUser.All",
                "ReadWriteForUser.All",
                "ReadWriteSelectedForUser.All",
            ]),
            t(&[
                "ReadWriteSelfForUser.All",
                "ReadWriteAndConsentForUser.All",
                "ReadWriteAndConsentSelfForUser.All",
                "ReadWriteForUser.All",
            ]),
        ),
        (
            Sc::Chat,
            t(&[
                "ReadWriteSelfForChat.All",
                "Chat.Manage.Chat",
                "ManageSelectedForChat.All",
                "ReadWriteAndConsentForChat.All",
                "ReadWriteAndConsentSelfForChat.All",
                "ReadWriteForChat.All",
            ]),
            t(&[
                "ReadWriteSelfForChat.All",
                "Chat.Manage.Chat",
                "ManageSelectedForChat.All",
                "ReadWriteAndConsentForChat.All",
                "ReadWriteAndConsentSelfForChat.All",
                "ReadWriteForChat.All",
            ]),
            t(&[
                "ReadWriteSelfForChat.All",
                "Chat.Manage.Chat",
                "ManageSelectedForChat.All",
                "ReadWriteForChat.All",
            ]),
        ),
        (
            Sc::Team,
            t(&[
                "ReadWriteSelfForTeam.All",
                "ManageSelectedForTeam.All",
                "ReadWriteAndConsentForTeam.All",
                "ReadWriteAndConsentSelfForTeam.All",
                "ReadWriteForTeam.All",
                "Group.ReadWrite.All",
                "Directory.ReadWrite.All",
            ]),
            t(&[
                "ReadWriteSelfForTeam.All",
                "ManageSelectedForTeam.All",
                "ReadWriteAndConsentForTeam.All",
                "ReadWriteAndConsentSelfForTeam.All",
                "ReadWriteForTeam.All",
                "Group.ReadWrite.All",
                "Directory.ReadWrite.All",
            ]),
            t(&[
                "ReadWriteSelfForTeam.All",
                "ManageSelectedForTeam.All",
                "ReadWriteForTeam.All",
                "Group.ReadWrite.All",
                "Directory.ReadWrite.All",
            ]),
        ),
    ];
    for (sc, install_t, upgrade_t, uninstall_t) in &tables {
        let sc = *sc;
        let before = snapshot(&s, &tok, sc, &app_id).await;

        let r = s.graph(&reader).install_app(sc.scope(), &other).await;
        assert_missing(&r, false, &strs(install_t), &READER_ROLES);
        assert_eq!(snapshot(&s, &tok, sc, &other).await, None, "{sc:?}");

        let path = format!("{}/{}", sc.v1(), sc.installation_id(&app_id));
        let r = s.post_empty(&reader, &format!("{path}/upgrade")).await;
        assert_missing(&r, false, &strs(upgrade_t), &READER_ROLES);
        let r = s.delete(&reader, &path).await;
        assert_missing(&r, false, &strs(uninstall_t), &READER_ROLES);
        assert_eq!(snapshot(&s, &tok, sc, &app_id).await, before, "{sc:?}");
        assert_eq!(version_of(&before), "1.0.0");

        // Reading is what it may do.
        let r = s.graph(&reader).list_installed_apps(sc.scope(), "").await;
        assert_eq!(r.status, 200, "{sc:?}: {}", r.body);
        assert_eq!(ids(&r.body), vec![sc.installation_id(&app_id)]);
        let r = s.get(&reader, &path).await;
        assert_eq!(r.status, 200, "{sc:?}: {}", r.body);
    }
}

#[tokio::test]
async fn app_without_installation_permissions_cannot_list() {
    let s = Server::start().await;
    let none = s.app_token(NOPERM).await;
    let cases: [(Sc, &[&str]); 3] = [
        (
            Sc::User,
            &[
                "TeamsAppInstallation.ReadForUser.All",
                "TeamsAppInstallation.ReadWriteSelfForUser.All",
                "TeamsAppInstallation.ManageSelectedForUser.All",
                "TeamsAppInstallation.ReadWriteAndConsentForUser.All",
                "TeamsAppInstallation.ReadWriteAndConsentSelfForUser.All",
                "TeamsAppInstallation.ReadWriteForUser.All",
                "TeamsAppInstallation.ReadWriteSelectedForUser.All",
            ],
        ),
        (
            Sc::Chat,
            &[
                "TeamsAppInstallation.ReadForChat.All",
                "TeamsAppInstallation.ReadWriteSelfForChat.All",
                "Chat.Manage.Chat",
                "TeamsAppInstallation.ManageSelectedForChat.All",
                "TeamsAppInstallation.Read.Chat",
                "TeamsAppInstallation.ReadWriteAndConsentForChat.All",
                "TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All",
                "TeamsAppInstallation.ReadWriteForChat.All",
            ],
        ),
        (
            Sc::Team,
            &[
                "TeamsAppInstallation.Read.Group",
                "TeamsAppInstallation.ReadWriteSelfForTeam.All",
                "TeamsAppInstallation.ManageSelectedForTeam.All",
                "TeamsAppInstallation.Read.All",
                "TeamsAppInstallation.ReadForTeam.All",
                "TeamsAppInstallation.ReadWriteAndConsentForTeam.All",
                "TeamsAppInstallation.ReadWriteAndConsentSelfForTeam.All",
                "TeamsAppInstallation.ReadWriteForTeam.All",
            ],
        ),
    ];
    for (sc, documented) in cases {
        let r = s.graph(&none).list_installed_apps(sc.scope(), "").await;
        assert_missing(&r, false, documented, &["User.Read.All"]);
    }
    // No token at all: 401 (spec E1).
    for sc in SCOPES {
        let r = s.send(Method::GET, None, &sc.v1(), None, &[]).await;
        r.assert_error(401, "InvalidAuthenticationToken");
        let r = s
            .send(Method::POST, None, &sc.v1(), Some(("application/json", b"{}".to_vec())), &[])
            .await;
        r.assert_error(401, "InvalidAuthenticationToken");
    }
    // Delegated wording for a delegated token without any installation scope.
    let adele = s.user_token(NOPERM, "adele@contoso.example", "adele-pw").await;
    let r = s.graph(&adele).list_installed_apps(Sc::User.scope(), "").await;
    assert_missing(
        &r,
        true,
        &[
            "TeamsAppInstallation.ReadForUser",
            "TeamsAppInstallation.ReadWriteSelfForUser",
            "TeamsAppInstallation.ReadWriteForUser",
        ],
        &["User.Read"],
    );
}

#[tokio::test]
async fn delegated_user_manages_only_their_own_personal_scope() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    let adele = s.user_token(ROLLOUT, "adele@contoso.example", "adele-pw").await;
    let (app_id, _) = publish_new(&s, &admin, "1.0.0").await;

    let r = s.graph(&adele).install_app(Sc::User.scope(), &app_id).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let own_upn = "/v1.0/users/adele@contoso.example/teamwork/installedApps";
    let r = s.get(&adele, own_upn).await;
    assert_eq!(r.status, 200, "{}", r.body);
    s.post_json(&adele, own_upn, &bind(&app_id)).await.assert_error(409, "Conflict");
    assert_eq!(
        ids(&s.graph(&adele).list_installed_apps(Sc::User.scope(), "").await.body),
        vec![Sc::User.installation_id(&app_id)]
    );

    let megan = format!("/v1.0/users/{MEGAN}/teamwork/installedApps");
    for path in [megan.clone(), "/v1.0/users/megan@contoso.example/teamwork/installedApps".into()] {
        s.post_json(&adele, &path, &bind(&app_id)).await.assert_error(403, "Forbidden");
        s.get(&adele, &path).await.assert_error(403, "Forbidden");
    }
    let megan_inst = b64(&format!("{MEGAN}##{app_id}"));
    let r = s.get(&tok, &format!("{megan}/{megan_inst}")).await;
    r.assert_error(404, "NotFound");
}

#[tokio::test]
async fn delegated_chat_and_team_access_needs_membership() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    let (app_id, _) = publish_new(&s, &admin, "1.0.0").await;
    let (mine, _) = publish_new(&s, &admin, "1.0.0").await;
    for sc in [Sc::Chat, Sc::Team] {
        install(&s, &tok, sc, &app_id).await;
    }
    let meeting = format!("/v1.0/chats/{}/installedApps", enc(MEETING_CHAT));
    let r = s.post_json(&tok, &meeting, &bind(&app_id)).await;
    assert_eq!(r.status, 201, "{}", r.body);

    let lee = s.user_token(READER, "lee@contoso.example", "lee-pw").await;
    let adele = s.user_token(READER, "adele@contoso.example", "adele-pw").await;
    for sc in [Sc::Chat, Sc::Team] {
        s.graph(&lee).list_installed_apps(sc.scope(), "").await.assert_error(403, "Forbidden");
        let r = s.graph(&lee).get_installed_app(sc.scope(), &sc.installation_id(&app_id), "").await;
        r.assert_error(403, "Forbidden");
        let r = s.graph(&adele).list_installed_apps(sc.scope(), "").await;
        assert_eq!(r.status, 200, "{sc:?}: {}", r.body);
        assert_eq!(ids(&r.body), vec![sc.installation_id(&app_id)], "{sc:?}");
    }
    // Lee reads his own personal scope; Adele is not in the meeting chat.
    let r = s.graph(&lee).list_user_installed_apps(LEE, "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    s.get(&adele, &meeting).await.assert_error(403, "Forbidden");

    // Adele (member) installs with the Rollout app's delegated permissions; Lee may not.
    let adele_rw = s.user_token(ROLLOUT, "adele@contoso.example", "adele-pw").await;
    let lee_rw = s.user_token(ROLLOUT, "lee@contoso.example", "lee-pw").await;
    for sc in [Sc::Chat, Sc::Team] {
        s.graph(&lee_rw).install_app(sc.scope(), &mine).await.assert_error(403, "Forbidden");
        assert_eq!(snapshot(&s, &tok, sc, &mine).await, None, "{sc:?}");
        let r = s.graph(&adele_rw).install_app(sc.scope(), &mine).await;
        assert_eq!(r.status.as_u16(), sc.install_status(), "{sc:?}: {}", r.body);
    }
}

// ---------------------------------------------------------------------------------------------
// Uninstall, user-scope chat, meeting chat, paging, seeded store app
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn uninstall_removes_the_installation_once() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    let plain = s.app_token(PLAIN).await;
    let (app_id, _) = publish_new(&s, &admin, "1.0.0").await;
    let (kept, _) = publish_new(&s, &admin, "1.0.0").await;
    for sc in SCOPES {
        install(&s, &tok, sc, &app_id).await;
        install(&s, &tok, sc, &kept).await;
        let path = format!("{}/{}", sc.v1(), sc.installation_id(&app_id));
        if sc != Sc::User {
            // ReadWriteAndConsentFor{Chat,Team}.All is not in the uninstall tables (spec 4.2,
            // 4.3, 5.6): 403 and nothing removed.
            let r = s.delete(&tok, &path).await;
            let msg = r.assert_error(403, "Forbidden").to_string();
            let (accepted, _) = missing_permission(&msg, false);
            assert!(!accepted.iter().any(|a| a.contains("AndConsent")), "{msg}");
            assert_eq!(list_ids(&s, &tok, sc).await.len(), 2, "{sc:?}");
        }
        // Rollout's ReadWriteAndConsentForUser.All uninstalls in the user scope; the plain
        // writer's ReadWriteFor*.All everywhere.
        let remover = if sc == Sc::User { &tok } else { &plain };
        let r = s.delete(remover, &path).await;
        assert_eq!(r.status, 204, "{sc:?}: {}", r.body);
        assert_eq!(r.body, Value::Null);
        s.get(&tok, &path).await.assert_error(404, "NotFound");
        assert_eq!(list_ids(&s, &tok, sc).await, vec![sc.installation_id(&kept)], "{sc:?}");
        s.delete(remover, &path).await.assert_error(404, "NotFound");
        s.post_empty(&tok, &format!("{path}/upgrade")).await.assert_error(404, "NotFound");
        // It can be installed again afterwards.
        install(&s, &tok, sc, &app_id).await;
    }
}

#[tokio::test]
async fn user_scope_installation_chat_is_the_bot_chat() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    let (bot_app, _) = publish_new(&s, &admin, "1.0.0").await;
    let no_bot = publish_app(&s, &admin, &without_bot(&new_manifest_id(), "1.0.0")).await;
    install(&s, &tok, Sc::User, &bot_app).await;
    install(&s, &tok, Sc::User, &no_bot).await;

    let r = s
        .get(&tok, &format!("{}/{}/chat", Sc::User.v1(), Sc::User.installation_id(&bot_app)))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["@odata.context"], format!("{GRAPH_META}chats/$entity"));
    assert_eq!(r.body["id"], format!("19:{BOT_ID}_{ADELE}@unq.gbl.spaces"));
    assert_eq!(
        r.body,
        json!({
            "@odata.context": format!("{GRAPH_META}chats/$entity"),
            "id": format!("19:{BOT_ID}_{ADELE}@unq.gbl.spaces"),
            "topic": null,
            "createdDateTime": null,
            "lastUpdatedDateTime": null,
            "chatType": "oneOnOne",
            "webUrl": null,
            "tenantId": TENANT,
            "onlineMeetingInfo": null,
        })
    );
    let r = s
        .get(
            &tok,
            &format!("{}/{}/chat?$select=id", Sc::User.v1(), Sc::User.installation_id(&bot_app)),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["id"], format!("19:{BOT_ID}_{ADELE}@unq.gbl.spaces"));

    let r =
        s.get(&tok, &format!("{}/{}/chat", Sc::User.v1(), Sc::User.installation_id(&no_bot))).await;
    r.assert_error(404, "NotFound");
    let garbage = b64(&format!("{ADELE}##{}", uuid::Uuid::new_v4()));
    s.get(&tok, &format!("{}/{garbage}/chat", Sc::User.v1())).await.assert_error(404, "NotFound");
}

#[tokio::test]
async fn meeting_chat_install_list_and_upgrade() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    let mid = new_manifest_id();
    let app_id = publish_app(&s, &admin, &manifest(&mid, "1.0.0")).await;
    let base = format!("/v1.0/chats/{}/installedApps", enc(MEETING_CHAT));
    let r = s.post_json(&tok, &base, &bind(&app_id)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body, Value::Null);
    let id = b64(&format!("{MEETING_CHAT}##{app_id}"));
    let list = s.get(&tok, &base).await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(
        list.body,
        json!({
            "@odata.context": format!("{GRAPH_META}chats('{}')/installedApps", enc(MEETING_CHAT)),
            "value": [{"id": id}],
        })
    );
    // The group chat does not see it.
    assert!(list_ids(&s, &tok, Sc::Chat).await.is_empty());

    s.update(&admin, &app_id, &manifest(&mid, "1.1.0")).await;
    let r = s.post_json(&tok, &format!("{base}/{id}/upgrade"), &json!({})).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let one = s.get(&tok, &format!("{base}/{id}?$expand=teamsAppDefinition")).await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.body["teamsAppDefinition"]["version"], "1.1.0");
    let raw = format!("/v1.0/chats/{MEETING_CHAT}/installedApps/{id}");
    let r = s.delete(&s.app_token(PLAIN).await, &raw).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(ids(&s.get(&tok, &base).await.body).is_empty());
}

#[tokio::test]
async fn paging_with_top_skiptoken_and_count() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    let (a, _) = publish_new(&s, &admin, "1.0.0").await;
    let (b, _) = publish_new(&s, &admin, "1.0.0").await;
    for sc in SCOPES {
        install(&s, &tok, sc, &a).await;
        install(&s, &tok, sc, &b).await;
        let all: BTreeSet<String> = [sc.installation_id(&a), sc.installation_id(&b)].into();

        let first = s.graph(&tok).list_installed_apps(sc.scope(), "$top=1").await;
        assert_eq!(first.status, 200, "{}", first.body);
        assert_eq!(first.body["@odata.context"], sc.context());
        let first_ids = ids(&first.body);
        assert_eq!(first_ids.len(), 1, "{}", first.body);
        let next =
            first.body["@odata.nextLink"].as_str().unwrap_or_else(|| panic!("{}", first.body));
        assert!(next.starts_with(&format!("{}/v1.0/", s.base)), "{next} vs {}", s.base);
        assert!(next.contains("$skiptoken="), "{next}");
        if sc == Sc::Team {
            assert_eq!(first.body["@odata.count"], 2, "{}", first.body);
        }

        let second = s.get(&tok, &next[s.base.len()..]).await;
        assert_eq!(second.status, 200, "{}", second.body);
        let second_ids = ids(&second.body);
        assert_eq!(second_ids.len(), 1, "{}", second.body);
        assert!(second.body.get("@odata.nextLink").is_none(), "{}", second.body);
        let got: BTreeSet<String> = first_ids.into_iter().chain(second_ids).collect();
        assert_eq!(got, all, "{sc:?}");

        // The nextLink keeps the other query options (spec 9).
        let first = s.graph(&tok).list_installed_apps(sc.scope(), "$expand=teamsApp&$top=1").await;
        assert_eq!(first.status, 200, "{}", first.body);
        let next =
            first.body["@odata.nextLink"].as_str().unwrap_or_else(|| panic!("{}", first.body));
        let second = s.get(&tok, &next[s.base.len()..]).await;
        assert_eq!(second.status, 200, "{}", second.body);
        assert_eq!(second.body["@odata.context"], format!("{}(teamsApp())", sc.context()));
        let item = &second.body["value"][0];
        assert_eq!(
            item["teamsApp"]["id"],
            unb64(item["id"].as_str().unwrap()).split("##").nth(1).unwrap()
        );

        let counted = s.graph(&tok).list_installed_apps(sc.scope(), "$top=1&$count=true").await;
        assert_eq!(counted.body["@odata.count"], 2, "{}", counted.body);
        assert_eq!(ids(&counted.body).len(), 1);

        let big = s.graph(&tok).list_installed_apps(sc.scope(), "$top=5").await;
        assert_eq!(ids(&big.body).len(), 2);
        assert!(big.body.get("@odata.nextLink").is_none(), "{}", big.body);

        s.graph(&tok)
            .list_installed_apps(sc.scope(), "$top=1000")
            .await
            .assert_error(400, "BadRequest");
        let max = s.graph(&tok).list_installed_apps(sc.scope(), "$top=999").await;
        assert_eq!(max.status, 200, "{}", max.body);
    }
}

#[tokio::test]
async fn seeded_store_app_is_installed_for_megan() {
    let (s, _dir) = start_with_store_app().await;
    let tok = s.app_token(ROLLOUT).await;
    let path = format!("/v1.0/users/{MEGAN}/teamwork/installedApps?$expand=teamsApp");
    let r = s.get(&tok, &path).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = b64(&format!("{MEGAN}##{STORE_APP}"));
    let item = r.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("store app not installed for Megan: {}", r.body));
    let app = &item["teamsApp"];
    assert_eq!(app["id"], STORE_APP);
    assert_eq!(app["distributionMethod"], "store");
    assert_eq!(app["externalId"], Value::Null, "{app}");
    assert!(app["displayName"].is_string(), "{app}");
    let keys: BTreeSet<&str> = app.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["id", "externalId", "displayName", "distributionMethod"]));
    // Store definitions use the two-part id (spec 10).
    let one = s.graph(&tok).get_user_installed_app(MEGAN, &id, "$expand=teamsAppDefinition").await;
    assert_eq!(one.status, 200, "{}", one.body);
    let def_id = one.body["teamsAppDefinition"]["id"].as_str().unwrap();
    let version = one.body["teamsAppDefinition"]["version"].as_str().unwrap();
    assert_eq!(unb64(def_id), format!("{STORE_APP}##{version}"));
    // Adele does not have it.
    assert!(!list_ids(&s, &tok, Sc::User).await.contains(&b64(&format!("{ADELE}##{STORE_APP}"))));
}

/// The store app (`STORE_APP`) with Megan's installation, as a fixture adds it.
const STORE_SEED: &str = r#"
tenants:
  - id: 2f1a6c2e-0000-4000-8000-000000000001
    displayName: Contoso
    users:
      - { id: 5b649834-7412-4cce-9e69-176e95a394f5, userPrincipalName: megan@contoso.example, displayName: Megan, password: megan-pw, roles: [TeamsServiceAdministrator] }
    catalog:
      - distributionMethod: store
        manifest:
          manifestVersion: "1.17"
          id: 0d820ecd-def2-4297-adad-78056cde7c78
          version: "1.0.0"
          name: { short: OneNote, full: Microsoft OneNote }
          description: { short: Notes, full: Capture notes and share them. }
          staticTabs: [{ entityId: notes, scopes: [personal, team, groupChat] }]
    installations:
      - { user: 5b649834-7412-4cce-9e69-176e95a394f5, app: 0d820ecd-def2-4297-adad-78056cde7c78 }
"#;

/// A server whose seed installs `STORE_APP` for Megan. The shared fixture is used alone when it
/// has the store app; otherwise the database is first seeded with [`STORE_SEED`] by a short run
/// of the binary (seeding is idempotent, so the shared fixture applies on top).
async fn start_with_store_app() -> (Server, Option<tempfile::TempDir>) {
    let fixture = std::fs::read_to_string(fixture_path()).expect("fixture");
    if fixture.contains(STORE_APP) {
        return (Server::start().await, None);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = dir.path().join("store-app.yaml");
    std::fs::write(&seed, STORE_SEED).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_teamsapps"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(store_args(dir.path()))
        .arg("--seed")
        .arg(seed)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn teamsapps for pre-seeding");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.starts_with("listening on "), "pre-seed run failed: {line:?}");
    (Server::spawn(dir.path(), &[]), Some(dir))
}

#[tokio::test]
async fn install_binds_the_newest_published_definition() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    let mid = new_manifest_id();
    let app_id = publish_app(&s, &admin, &manifest(&mid, "1.0.0")).await;
    s.update(&admin, &app_id, &manifest(&mid, "2.0.0")).await;
    let r = s.graph(&admin).update_teams_app(&app_id, &manifest(&mid, "3.0.0"), true).await;
    assert_eq!(r.status, 201, "{}", r.body);
    for sc in SCOPES {
        install(&s, &tok, sc, &app_id).await;
        let snap = snapshot(&s, &tok, sc, &app_id).await;
        assert_eq!(version_of(&snap), "2.0.0", "{sc:?}");
        assert_eq!(
            snap.unwrap()["teamsAppDefinition"],
            def_view(&app_id, &manifest(&mid, "2.0.0")),
            "{sc:?}"
        );
    }
}

#[tokio::test]
async fn deleting_the_app_removes_its_installations() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    let plain = s.app_token(PLAIN).await;
    let (gone, _) = publish_new(&s, &admin, "1.0.0").await;
    let (kept, _) = publish_new(&s, &admin, "1.0.0").await;
    for sc in SCOPES {
        install(&s, &tok, sc, &gone).await;
        install(&s, &tok, sc, &kept).await;
    }
    let r = s.graph(&admin).delete_teams_app(&gone).await;
    assert_eq!(r.status, 204, "{}", r.body);
    for sc in SCOPES {
        assert_eq!(list_ids(&s, &tok, sc).await, vec![sc.installation_id(&kept)], "{sc:?}");
        let path = format!("{}/{}", sc.v1(), sc.installation_id(&gone));
        s.get(&tok, &path).await.assert_error(404, "NotFound");
        s.post_empty(&tok, &format!("{path}/upgrade")).await.assert_error(404, "NotFound");
        s.delete(&plain, &path).await.assert_error(404, "NotFound");
        s.graph(&tok).install_app(sc.scope(), &gone).await.assert_error(404, "NotFound");
    }
}

#[tokio::test]
async fn methods_not_served_on_installations_are_405() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let tok = s.app_token(ROLLOUT).await;
    let (app_id, _) = publish_new(&s, &admin, "1.0.0").await;
    for sc in SCOPES {
        install(&s, &tok, sc, &app_id).await;
        let path = format!("{}/{}", sc.v1(), sc.installation_id(&app_id));
        let r = s
            .send(Method::PATCH, Some(&tok), &path, Some(("application/json", b"{}".to_vec())), &[])
            .await;
        r.assert_error(405, "MethodNotAllowed");
        let r = s.get(&tok, &format!("{path}/upgrade")).await;
        assert_eq!(r.status, 405, "{sc:?}: {}", r.body);
        assert_eq!(list_ids(&s, &tok, sc).await, vec![sc.installation_id(&app_id)]);
    }
}

#[tokio::test]
async fn guids_in_paths_match_whatever_their_case() {
    let s = Server::start().await;
    let app = s.app_token(ROLLOUT).await;
    let g = s.graph(&app);
    for (lower, scope) in [(ADELE, Scope::User(ADELE)), (TEAM, Scope::Team(TEAM))] {
        let upper = lower.to_ascii_uppercase();
        let expected = g.list_installed_apps(scope, "").await;
        assert_eq!(expected.status, 200, "{}", expected.body);
        let path = scope.installed_apps().replace(lower, &upper);
        let r = s.get(&app, &format!("/v1.0{path}")).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(r.body["value"], expected.body["value"], "{path}");
    }
    // The tenant in the token endpoint's path too.
    let (status, body) = s
        .token_raw(
            &TENANT.to_ascii_uppercase(),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", ROLLOUT.0),
                ("client_secret", ROLLOUT.1),
                ("scope", "https://graph.microsoft.com/.default"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
}
