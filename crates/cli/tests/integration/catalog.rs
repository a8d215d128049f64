//! The app catalog over real HTTP (spec sections 1, 2, 3, 5.6, 5.7, 6.1, 7, 9, 10, 11):
//! publish, update, review, list/get with OData options, visibility, delete, bot, and the
//! headers every response carries. Whole bodies are compared after replacing volatile values
//! (etags, timestamps, request ids) with placeholders.

use crate::common::*;

use std::io::{BufRead, BufReader, Cursor, Write};
use std::process::{Command, Stdio};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};

const BOT: &str = "1f81bb29-bb29-1f81-29bb-811f29bb811f";
const V1: &str = "https://graph.microsoft.com/v1.0/$metadata#";
const BETA: &str = "https://graph.microsoft.com/beta/$metadata#";
const JSON_CT: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";
const APPS: &str = "/v1.0/appCatalogs/teamsApps";
const ENTRA_APP: &str = "7d3c1a2b-9e8f-4a6b-8c5d-0e1f2a3b4c5d";

// ---- local helpers ----------------------------------------------------------------------------

fn b64(s: &str) -> String {
    STANDARD.encode(s)
}

fn unb64(s: &str) -> String {
    let bytes = STANDARD.decode(s).unwrap_or_else(|e| panic!("{s} is not padded base64: {e}"));
    String::from_utf8(bytes).unwrap()
}

/// An organization app's definition id (spec section 10): base64 of `{appId}##{version}##{State}`.
fn def_id(app: &str, version: &str, state: &str) -> String {
    b64(&format!("{app}##{version}##{state}"))
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("no string '{key}' in {v}"))
}

/// `yyyy-MM-ddTHH:mm:ss[.f{1,7}]Z`.
fn is_utc_timestamp(t: &str) -> bool {
    let b = t.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    if b.len() < 20 || !t.ends_with('Z') {
        return false;
    }
    let head = digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    let rest = &t[19..t.len() - 1];
    head && (rest.is_empty()
        || (rest.starts_with('.')
            && (2..=8).contains(&rest.len())
            && rest[1..].bytes().all(|c| c.is_ascii_digit())))
}

/// Replaces volatile values by placeholders (after checking their form): `@odata.etag`,
/// `lastModifiedDateTime`, and the error envelope's `date`, `request-id`, `client-request-id`.
fn norm(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let nv = match (k.as_str(), v) {
                        ("@odata.etag", Value::String(e)) => {
                            assert!(!e.is_empty(), "empty etag");
                            json!("<etag>")
                        }
                        ("lastModifiedDateTime", Value::String(t)) => {
                            assert!(is_utc_timestamp(t), "lastModifiedDateTime {t}");
                            json!("<timestamp>")
                        }
                        ("date", Value::String(d)) => {
                            assert_eq!(d.len(), 19, "innerError.date {d}");
                            json!("<date>")
                        }
                        ("request-id", Value::String(_)) => json!("<request-id>"),
                        ("client-request-id", Value::String(_)) => json!("<client-request-id>"),
                        _ => norm(v),
                    };
                    (k.clone(), nv)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(norm).collect()),
        _ => v.clone(),
    }
}

/// A Graph error body as it looks after [`norm`].
fn error_json(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message, "innerError": {
        "date": "<date>", "request-id": "<request-id>", "client-request-id": "<client-request-id>"}}})
}

/// Asserts a Graph error with an exact (spec-given) message, comparing the whole body.
fn assert_exact_error(r: &Resp, status: u16, code: &str, message: &str) {
    r.assert_error(status, code);
    assert_eq!(norm(&r.body), error_json(code, message), "{}", r.body);
}

fn created_by(user: &str) -> Value {
    json!({"application": null, "device": null, "conversation": null,
           "user": {"id": user, "displayName": null, "userIdentityType": "aadUser"}})
}

/// The v1.0 definition (after [`norm`]) of `manifest(..)`-built packages.
fn v1_definition(app: &str, version: &str, state: &str, creator: &str) -> Value {
    let pascal = match state {
        "published" => "Published",
        "submitted" => "Submitted",
        "rejected" => "Rejected",
        other => panic!("{other}"),
    };
    json!({
        "@odata.etag": "<etag>",
        "id": def_id(app, version, pascal),
        "teamsAppId": app,
        "displayName": "Hello",
        "version": version,
        "publishingState": state,
        "shortDescription": "Says hello",
        "description": "Says hello everywhere.",
        "lastModifiedDateTime": "<timestamp>",
        "createdBy": created_by(creator),
        "authorization": {"clientAppId": null, "requiredPermissionSet": {"resourceSpecificPermissions": []}}
    })
}

fn with_context(context: String, body: Value) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("@odata.context".into(), Value::String(context));
    if let Value::Object(m) = body {
        out.extend(m);
    }
    Value::Object(out)
}

fn teams_app_json(id: &str, external: &str, name: &str) -> Value {
    json!({"id": id, "externalId": external, "displayName": name, "distributionMethod": "organization"})
}

/// `value` of a collection, sorted by `id` (the spec gives no order).
fn values_by_id(body: &Value) -> Vec<Value> {
    let mut items = body["value"].as_array().unwrap_or_else(|| panic!("no value: {body}")).clone();
    items.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    items
}

fn ids_of(body: &Value) -> Vec<String> {
    values_by_id(body).iter().map(|v| str_of(v, "id").to_string()).collect()
}

fn sorted(mut v: Vec<Value>) -> Vec<Value> {
    v.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    v
}

fn named(mut m: Value, short: &str) -> Value {
    m["name"]["short"] = json!(short);
    m
}

fn with_entra_app(mut m: Value, entra: &str) -> Value {
    m["webApplicationInfo"] = json!({"id": entra, "resource": "api://contoso.example/hello"});
    m
}

fn without_bot(mut m: Value) -> Value {
    m.as_object_mut().unwrap().remove("bots");
    m
}

async fn adele(s: &Server) -> String {
    s.user_token(PLAIN, "adele@contoso.example", "adele-pw").await
}

async fn lee(s: &Server) -> String {
    s.user_token(PLAIN, "lee@contoso.example", "lee-pw").await
}

async fn publish_with(s: &Server, token: &str, query: &str, m: &Value) -> Resp {
    s.post_zip(token, &format!("{APPS}{query}"), package(m)).await
}

async fn patch_json(
    s: &Server,
    token: &str,
    path: &str,
    body: &Value,
    if_match: Option<&str>,
) -> Resp {
    let headers: Vec<(&str, &str)> = if_match.map(|e| vec![("if-match", e)]).unwrap_or_default();
    s.send(
        Method::PATCH,
        Some(token),
        path,
        Some(("application/json", body.to_string().into_bytes())),
        &headers,
    )
    .await
}

/// Publishes (as `token`, with `query`) and returns the new app's id.
async fn publish_id(s: &Server, token: &str, query: &str, m: &Value) -> String {
    let r = publish_with(s, token, query, m).await;
    assert_eq!(r.status, 201, "{}", r.body);
    str_of(&r.body, "id").to_string()
}

/// The whole catalog as the admin sees it, with definitions.
async fn catalog_snapshot(s: &Server, admin: &str) -> Value {
    let r = s.graph(admin).list_teams_apps("$expand=appDefinitions").await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// Graph headers (spec 1.3, 8.1): request-id (GUID), client-request-id (echo or request-id),
/// Date, and on JSON bodies the full media type and OData-Version 4.0.
fn assert_graph_headers(r: &Resp, sent_client_request_id: Option<&str>) {
    let h = |name: &str| {
        r.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header on {} {:?}", r.status, r.headers))
            .to_string()
    };
    let rid = h("request-id");
    assert!(uuid::Uuid::parse_str(&rid).is_ok(), "request-id {rid}");
    let crid = h("client-request-id");
    assert_eq!(crid, sent_client_request_id.unwrap_or(&rid));
    let date = h("date");
    assert!(date.ends_with(" GMT") && date.len() == 29, "Date {date}");
    // Also always there (spec 8.1).
    assert!(h("x-ms-ags-diagnostic").starts_with("{\"ServerInfo\":"));
    assert!(["no-cache", "private"].contains(&h("cache-control").as_str()));
    assert_eq!(h("strict-transport-security"), "max-age=31536000");
    if r.body.is_null() {
        return;
    }
    assert_eq!(h("content-type"), JSON_CT);
    assert_eq!(h("odata-version"), "4.0");
    if let Some(inner) = r.body.get("error").and_then(|e| e.get("innerError")) {
        assert_eq!(inner["request-id"], rid.as_str());
        assert_eq!(inner["client-request-id"], crid.as_str());
    }
}

const STORE_SEED: &str = r#"
tenants:
  - id: 2f1a6c2e-0000-4000-8000-000000000001
    displayName: Contoso
    catalog:
      - distributionMethod: store
        manifest:
          manifestVersion: "1.17"
          id: 0d820ecd-def2-4297-adad-78056cde7c78
          version: "1.0.0"
          name: { short: OneNote, full: Microsoft OneNote }
          description: { short: Notes, full: Capture notes and share them. }
      - distributionMethod: sideloaded
        id: a1b2c3d4-0000-4000-8000-00000000051d
        manifest:
          manifestVersion: "1.17"
          id: 5e1f0a3d-0000-4000-8000-00000000051d
          version: "1.0.0"
          name: { short: Sideloaded, full: A sideloaded app }
          description: { short: Side, full: Installed by hand somewhere. }
"#;
const SIDELOADED_APP: &str = "a1b2c3d4-0000-4000-8000-00000000051d";

/// A server whose catalog also holds the store app `STORE_APP` and the sideloaded app
/// `SIDELOADED_APP`: the database is pre-seeded with them by a short run of the binary (the
/// harness always passes the shared fixture; seeding is idempotent and keyed by app id).
async fn start_with_seeded_catalog() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = dir.path().join("store-app.yaml");
    std::fs::write(&seed, STORE_SEED).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_teamsapps"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(store_args(dir.path()))
        .arg("--seed")
        .arg(&seed)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn teamsapps for pre-seeding");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.starts_with("listening on "), "pre-seed run failed: {line:?}");
    (Server::spawn(dir.path(), &[]), dir)
}

// ---- publish ----------------------------------------------------------------------------------

#[tokio::test]
async fn admin_publish_creates_an_organization_app_with_location_and_a_published_definition() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let mid = new_manifest_id();
    let r = s
        .send(
            Method::POST,
            Some(&admin),
            APPS,
            Some(("application/zip", package(&manifest(&mid, "1.0.0")))),
            &[("client-request-id", "publish-1")],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_graph_headers(&r, Some("publish-1"));
    let id = str_of(&r.body, "id").to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "id {id} is not a GUID");
    assert_ne!(id, mid, "the catalog id differs from the manifest id");
    assert_eq!(
        r.body,
        with_context(
            format!("{V1}appCatalogs/teamsApps/$entity"),
            teams_app_json(&id, &mid, "Hello")
        )
    );

    // Location points at the new app, and following it finds it.
    let location = r.headers.get("location").expect("Location").to_str().unwrap().to_string();
    assert!(location.ends_with(&format!("/v1.0/appCatalogs/teamsApps/{id}")), "{location}");
    let url = if location.starts_with("http") { location.clone() } else { s.url(&location) };
    let url = url.replacen("https://graph.microsoft.com", &s.base, 1);
    let followed = s.client.get(&url).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(followed.status(), 200, "{location}");
    let followed: Value = followed.json().await.unwrap();
    assert_eq!(followed, r.body);

    let one = s.graph(&admin).get_teams_app(&id, "$expand=appDefinitions").await;
    assert_eq!(one.status, 200, "{}", one.body);
    let mut expected = teams_app_json(&id, &mid, "Hello");
    expected["appDefinitions"] = json!([v1_definition(&id, "1.0.0", "published", MEGAN)]);
    assert_eq!(
        norm(&one.body),
        with_context(format!("{V1}appCatalogs/teamsApps(appDefinitions())/$entity"), expected)
    );
    let def = &one.body["appDefinitions"][0];
    assert_eq!(unb64(str_of(def, "id")), format!("{id}##1.0.0##Published"));

    // requiresReview=false is the same as no parameter.
    let r =
        publish_with(&s, &admin, "?requiresReview=false", &manifest(&new_manifest_id(), "1.0.0"))
            .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let defs = s.graph(&admin).list_app_definitions(str_of(&r.body, "id"), "").await;
    assert_eq!(defs.body["value"][0]["publishingState"], "published", "{}", defs.body);
}

#[tokio::test]
async fn publish_with_requires_review_creates_a_submitted_definition() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let mid = new_manifest_id();
    let r = publish_with(&s, &admin, "?requiresReview=true", &manifest(&mid, "1.0.0")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_graph_headers(&r, None);
    let id = str_of(&r.body, "id").to_string();
    assert_eq!(
        r.body,
        with_context(
            format!("{V1}appCatalogs/teamsApps/$entity"),
            teams_app_json(&id, &mid, "Hello")
        )
    );
    let location = r.headers.get("location").expect("Location").to_str().unwrap();
    assert!(location.ends_with(&format!("/v1.0/appCatalogs/teamsApps/{id}")), "{location}");

    let defs = s.graph(&admin).list_app_definitions(&id, "").await;
    assert_eq!(defs.status, 200, "{}", defs.body);
    assert_eq!(
        norm(&defs.body),
        json!({
            "@odata.context": format!("{V1}appCatalogs/teamsApps('{id}')/appDefinitions"),
            "value": [v1_definition(&id, "1.0.0", "submitted", MEGAN)]
        })
    );
    assert_eq!(unb64(str_of(&defs.body["value"][0], "id")), format!("{id}##1.0.0##Submitted"));

    // The beta surface publishes the same way, with beta context and Location.
    let mid = new_manifest_id();
    let r = s.beta(&admin).publish_teams_app(&manifest(&mid, "1.0.0"), true).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = str_of(&r.body, "id").to_string();
    assert_eq!(
        r.body,
        with_context(
            format!("{BETA}appCatalogs/teamsApps/$entity"),
            teams_app_json(&id, &mid, "Hello")
        )
    );
    let location = r.headers.get("location").expect("Location").to_str().unwrap();
    assert!(location.ends_with(&format!("/beta/appCatalogs/teamsApps/{id}")), "{location}");
}

#[tokio::test]
async fn non_admin_publish_needs_requires_review() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let adele = adele(&s).await;
    let before = catalog_snapshot(&s, &admin).await;
    let mid = new_manifest_id();
    for query in ["", "?requiresReview=false"] {
        let r = publish_with(&s, &adele, query, &manifest(&mid, "1.0.0")).await;
        r.assert_error(403, "Forbidden");
        assert_graph_headers(&r, None);
    }
    assert_eq!(catalog_snapshot(&s, &admin).await, before, "a refused publish wrote something");

    let r = publish_with(&s, &adele, "?requiresReview=true", &manifest(&mid, "1.0.0")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = str_of(&r.body, "id").to_string();
    assert_eq!(
        r.body,
        with_context(
            format!("{V1}appCatalogs/teamsApps/$entity"),
            teams_app_json(&id, &mid, "Hello")
        )
    );
    let defs = s.graph(&admin).list_app_definitions(&id, "").await;
    assert_eq!(norm(&defs.body["value"]), json!([v1_definition(&id, "1.0.0", "submitted", ADELE)]));
}

#[tokio::test]
async fn publish_with_an_app_only_token_is_access_denied() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let before = catalog_snapshot(&s, &admin).await;
    for app in [ROLLOUT, READER, NOPERM] {
        let token = s.app_token(app).await;
        for query in ["", "?requiresReview=true"] {
            let r = publish_with(&s, &token, query, &manifest(&new_manifest_id(), "1.0.0")).await;
            assert_exact_error(&r, 403, "AccessDenied", "User not authorized");
            assert_graph_headers(&r, None);
        }
    }
    assert_eq!(catalog_snapshot(&s, &admin).await, before);
}

#[tokio::test]
async fn tokens_without_catalog_permissions_get_the_missing_permission_message() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let before = catalog_snapshot(&s, &admin).await;
    let noperm = s.user_token(NOPERM, "adele@contoso.example", "adele-pw").await;
    let r = publish_with(&s, &noperm, "", &manifest(&new_manifest_id(), "1.0.0")).await;
    assert_exact_error(
        &r,
        403,
        "Forbidden",
        "Missing scope permissions on the request. API requires one of 'AppCatalog.Submit, AppCatalog.ReadWrite.All, Directory.ReadWrite.All'. Scopes on the request 'User.Read'",
    );
    // Reading the catalog needs one of the list permissions (spec 3.1), in documented order.
    let r = s.graph(&noperm).list_teams_apps("").await;
    assert_exact_error(
        &r,
        403,
        "Forbidden",
        "Missing scope permissions on the request. API requires one of 'AppCatalog.Submit, AppCatalog.Read.All, AppCatalog.ReadWrite.All, Directory.Read.All, Directory.ReadWrite.All'. Scopes on the request 'User.Read'",
    );
    let app_only = s.app_token(NOPERM).await;
    let r = s.graph(&app_only).list_teams_apps("").await;
    assert_exact_error(
        &r,
        403,
        "Forbidden",
        "Missing role permissions on the request. API required one of 'AppCatalog.Read.All, AppCatalog.ReadWrite.All'. Roles on the request 'User.Read.All'",
    );
    // AppCatalog.Read.All reads but does not publish.
    let reader = s.user_token(READER, "megan@contoso.example", "megan-pw").await;
    let r = publish_with(&s, &reader, "", &manifest(&new_manifest_id(), "1.0.0")).await;
    assert_exact_error(
        &r,
        403,
        "Forbidden",
        "Missing scope permissions on the request. API requires one of 'AppCatalog.Submit, AppCatalog.ReadWrite.All, Directory.ReadWrite.All'. Scopes on the request 'AppCatalog.Read.All, TeamsAppInstallation.ReadForChat, TeamsAppInstallation.ReadForTeam, TeamsAppInstallation.ReadForUser'",
    );
    // No token at all.
    let r = s
        .send(
            Method::POST,
            None,
            APPS,
            Some(("application/zip", package(&manifest(&new_manifest_id(), "1.0.0")))),
            &[],
        )
        .await;
    r.assert_error(401, "InvalidAuthenticationToken");
    assert_eq!(catalog_snapshot(&s, &admin).await, before);
}

#[tokio::test]
async fn duplicate_manifest_id_and_shared_entra_app_id_conflict() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let mid = new_manifest_id();
    let first = with_entra_app(manifest(&mid, "1.0.0"), ENTRA_APP);
    let id = publish_id(&s, &admin, "", &first).await;
    let before = catalog_snapshot(&s, &admin).await;

    // The same manifest id again (even as a higher version, even for review).
    for (query, version) in [("", "1.0.0"), ("", "2.0.0"), ("?requiresReview=true", "3.0.0")] {
        let r = publish_with(&s, &admin, query, &manifest(&mid, version)).await;
        r.assert_error(409, "Conflict");
        assert_graph_headers(&r, None);
    }
    // Another app with the Entra app id already used by the first (spec 5.2).
    let r = publish_with(
        &s,
        &admin,
        "",
        &with_entra_app(manifest(&new_manifest_id(), "1.0.0"), ENTRA_APP),
    )
    .await;
    r.assert_error(409, "Conflict");
    // Case does not make it another GUID.
    let r = publish_with(
        &s,
        &admin,
        "",
        &with_entra_app(manifest(&new_manifest_id(), "1.0.0"), &ENTRA_APP.to_uppercase()),
    )
    .await;
    r.assert_error(409, "Conflict");
    assert_eq!(catalog_snapshot(&s, &admin).await, before);
    let org = s.graph(&admin).list_teams_apps("$filter=distributionMethod eq 'organization'").await;
    assert_eq!(ids_of(&org.body), vec![id]);
}

// ---- invalid packages -------------------------------------------------------------------------

/// Asserts the manifest error envelope (spec 3.3, 11) and returns the details.
fn manifest_error(r: &Resp) -> Vec<(String, String, String)> {
    r.assert_error(400, "BadRequest");
    let err = &r.body["error"];
    let inner = &err["innerError"];
    assert_eq!(inner["code"], "UnableToParseTeamsAppManifest", "{}", r.body);
    let details: Vec<(String, String, String)> = inner["details"]
        .as_array()
        .unwrap_or_else(|| panic!("no details: {}", r.body))
        .iter()
        .map(|d| {
            let keys: Vec<&String> = d.as_object().unwrap().keys().collect();
            assert_eq!(keys.len(), 3, "detail keys {d}");
            (str_of(d, "code").into(), str_of(d, "message").into(), str_of(d, "target").into())
        })
        .collect();
    assert!(!details.is_empty());
    let joined =
        details.iter().map(|(_, m, t)| format!("{t} | {m}")).collect::<Vec<_>>().join("; ");
    assert_eq!(err["message"], joined.as_str(), "{}", r.body);
    assert_eq!(inner["message"], joined.as_str(), "{}", r.body);
    let inner_keys: Vec<&String> = inner.as_object().unwrap().keys().collect();
    assert_eq!(inner_keys.len(), 6, "innerError keys {inner_keys:?}");
    details
}

#[tokio::test]
async fn invalid_manifests_answer_the_documented_error_envelope_and_write_nothing() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let before = catalog_snapshot(&s, &admin).await;

    // The documented example: no name, developer.websiteUrl "hs://www.yo.com".
    let mut m = manifest(&new_manifest_id(), "1.0.0");
    m.as_object_mut().unwrap().remove("name");
    m["developer"]["websiteUrl"] = json!("hs://www.yo.com");
    let r = publish_with(&s, &admin, "", &m).await;
    assert_graph_headers(&r, None);
    let details = manifest_error(&r);
    // The documented text lists "[]"; naming the missing property is accepted too.
    let required = details[0].1.clone();
    assert!(
        [
            "Required properties are missing from object: [].",
            "Required properties are missing from object: [name]."
        ]
        .contains(&required.as_str()),
        "{required}"
    );
    let pattern =
        "String \"hs://www.yo.com\" does not match regex pattern \"^[Hh][Tt][Tt][Pp][Ss]?://\".";
    let message = format!("name | {required}; developer.websiteUrl | {pattern}");
    assert_eq!(
        norm(&r.body),
        json!({"error": {
            "code": "BadRequest",
            "message": message,
            "innerError": {
                "code": "UnableToParseTeamsAppManifest",
                "message": message,
                "details": [
                    {"code": "SchemaError_Required", "message": required, "target": "name"},
                    {"code": "SchemaError_Pattern", "message": pattern, "target": "developer.websiteUrl"}
                ],
                "date": "<date>", "request-id": "<request-id>", "client-request-id": "<client-request-id>"
            }
        }})
    );

    // More detail codes of section 11, each as (package, code, target).
    let base = || manifest(&new_manifest_id(), "1.0.0");
    let mut cases: Vec<(Vec<u8>, &str, &str)> = Vec::new();
    cases.push((
        zip_of(&[
            ("manifest.json", b"{\"id\": ".to_vec()),
            ("color.png", png(192)),
            ("outline.png", png(32)),
        ]),
        "Serialization_FileNotValidJson",
        "manifest.json",
    ));
    let mut m = base();
    m["id"] = json!("not-a-guid");
    cases.push((package(&m), "CommonAppIdIsNotGuid", "id"));
    let mut m = base();
    m["version"] = json!("1.0.0-beta");
    cases.push((package(&m), "VersionContainsOnlyNumbersDotSeparated", "version"));
    let mut m = base();
    m["version"] = json!("0.9.0");
    cases.push((package(&m), "VersionHasMajorLessThan1", "version"));
    cases.push((package(&named(base(), &"x".repeat(31))), "ShortNameLengthCheck", "name.short"));
    let mut m = base();
    m.as_object_mut().unwrap().remove("manifestVersion");
    cases.push((package(&m), "Serialization_ManifestVersionPropertyMissing", "manifestVersion"));
    let mut m = base();
    m["bots"][0]["botId"] = json!("bot");
    cases.push((package(&m), "BotIdIsNotGuid", "bots[0].botId"));
    cases.push((
        zip_of(&[("manifest.json", base().to_string().into_bytes()), ("outline.png", png(32))]),
        "Serialization_FileMissing",
        "icons.color",
    ));
    cases.push((
        zip_of(&[
            ("manifest.json", base().to_string().into_bytes()),
            ("color.png", png(100)),
            ("outline.png", png(32)),
        ]),
        "InvalidColorIconHeightAndWidth",
        "icons.color",
    ));
    let rsc: Vec<(String, &str)> =
        (0..17).map(|i| (format!("Perm{i}.Read.Group"), "Application")).collect();
    let rsc: Vec<(&str, &str)> = rsc.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    cases.push((
        package(&with_rsc(base(), &rsc)),
        "SchemaError_MaximumItems",
        "authorization.permissions.resourceSpecific",
    ));
    for (zip, code, target) in cases {
        let r = s.post_zip(&admin, APPS, zip).await;
        let details = manifest_error(&r);
        assert!(
            details.iter().any(|(c, _, t)| c == code && t == target),
            "expected {code} at {target}: {details:?}"
        );
    }
    assert_eq!(catalog_snapshot(&s, &admin).await, before, "an invalid package wrote something");
}

#[tokio::test]
async fn bad_uploads_are_refused_and_write_nothing() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let before = catalog_snapshot(&s, &admin).await;
    let good = package(&manifest(&new_manifest_id(), "1.0.0"));

    // Content type (spec E22).
    for ct in ["application/json", "text/plain", "application/octet-stream", ""] {
        let r = s.send(Method::POST, Some(&admin), APPS, Some((ct, good.clone())), &[]).await;
        r.assert_error(415, "UnsupportedMediaType");
        assert_graph_headers(&r, None);
    }
    // Empty body.
    let r = s.post_zip(&admin, APPS, Vec::new()).await;
    r.assert_error(400, "BadRequest");
    // Not a zip, and a truncated zip.
    let r = s.post_zip(&admin, APPS, b"PK\x03\x04 this is not a zip archive at all".to_vec()).await;
    r.assert_error(400, "BadRequest");
    let r = s.post_zip(&admin, APPS, good[..good.len() / 2].to_vec()).await;
    r.assert_error(400, "BadRequest");

    // No manifest.json at the root.
    let r = s
        .post_zip(
            &admin,
            APPS,
            zip_of(&[
                (
                    "app/manifest.json",
                    manifest(&new_manifest_id(), "1.0.0").to_string().into_bytes(),
                ),
                ("color.png", png(192)),
                ("outline.png", png(32)),
            ]),
        )
        .await;
    let details = manifest_error(&r);
    assert_eq!(details.len(), 1, "{details:?}");
    assert_eq!(details[0].0, "Serialization_FileMissing");
    assert_eq!(details[0].2, "manifest.json");

    // Entry names that would escape a directory.
    for name in
        ["../evil.png", "icons/../../evil.png", "/etc/evil.png", "icons\\evil.png", "C:/evil.png"]
    {
        let zip = zip_of(&[
            ("manifest.json", manifest(&new_manifest_id(), "1.0.0").to_string().into_bytes()),
            ("color.png", png(192)),
            ("outline.png", png(32)),
            (name, b"x".to_vec()),
        ]);
        let r = s.post_zip(&admin, APPS, zip).await;
        assert_eq!(r.status, 400, "{name}: {}", r.body);
        r.assert_error(400, "BadRequest");
    }

    // More than 16 MiB.
    let mut big = good.clone();
    big.resize(16 * 1024 * 1024 + 1, 0);
    let r = s.post_zip(&admin, APPS, big).await;
    r.assert_error(413, "RequestEntityTooLarge");
    assert_graph_headers(&r, None);

    assert_eq!(catalog_snapshot(&s, &admin).await, before, "a bad upload wrote something");
    // The good package itself is fine.
    assert_eq!(s.post_zip(&admin, APPS, good).await.status, 201);
}

#[tokio::test]
async fn a_zip_bomb_is_refused_and_the_server_keeps_serving() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let before = catalog_snapshot(&s, &admin).await;

    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1));
    let mid = new_manifest_id();
    for (name, bytes) in [
        ("manifest.json", manifest(&mid, "1.0.0").to_string().into_bytes()),
        ("color.png", png(192)),
        ("outline.png", png(32)),
    ] {
        zip.start_file(name, opts).unwrap();
        zip.write_all(&bytes).unwrap();
    }
    zip.start_file("bomb.bin", opts).unwrap();
    let chunk = vec![0u8; 1024 * 1024];
    for _ in 0..110 {
        zip.write_all(&chunk).unwrap();
    }
    let bomb = zip.finish().unwrap().into_inner();
    assert!(bomb.len() < 16 * 1024 * 1024, "the bomb is {} bytes", bomb.len());

    let r = s.post_zip(&admin, APPS, bomb).await;
    r.assert_error(400, "BadRequest");
    assert_graph_headers(&r, None);
    assert_eq!(catalog_snapshot(&s, &admin).await, before);
    // Still serving, and the same manifest publishes without the bomb.
    let r = publish_with(&s, &admin, "", &manifest(&mid, "1.0.0")).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

// ---- update -----------------------------------------------------------------------------------

#[tokio::test]
async fn admin_update_publishes_a_new_version_alongside_the_old_one() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let mid = new_manifest_id();
    let id = publish_id(&s, &admin, "", &manifest(&mid, "1.0.0")).await;
    let r = s
        .graph(&admin)
        .update_teams_app(&id, &named(manifest(&mid, "1.1.0"), "Hello 2"), false)
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(r.body.is_null());
    assert_graph_headers(&r, None);

    let defs = s.graph(&admin).list_app_definitions(&id, "").await;
    assert_eq!(defs.status, 200, "{}", defs.body);
    let mut second = v1_definition(&id, "1.1.0", "published", MEGAN);
    second["displayName"] = json!("Hello 2");
    assert_eq!(
        sorted(norm(&defs.body)["value"].as_array().unwrap().clone()),
        sorted(vec![v1_definition(&id, "1.0.0", "published", MEGAN), second])
    );
    // The app's name follows the current (highest published) definition (spec 6.1).
    let app = s.graph(&admin).get_teams_app(&id, "").await;
    assert_eq!(
        app.body,
        with_context(
            format!("{V1}appCatalogs/teamsApps/$entity"),
            teams_app_json(&id, &mid, "Hello 2")
        )
    );
    // The beta surface takes the same update.
    let r = s.beta(&admin).update_teams_app(&id, &manifest(&mid, "1.2.0"), false).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let defs = s.graph(&admin).list_app_definitions(&id, "").await;
    assert_eq!(defs.body["value"].as_array().unwrap().len(), 3, "{}", defs.body);
    // Versions compare numerically per segment (spec 11): 1.10.0 > 1.9.0 > 1.2.0.
    s.update(&admin, &id, &manifest(&mid, "1.9.0")).await;
    s.update(&admin, &id, &named(manifest(&mid, "1.10.0"), "Hello 10")).await;
    let r = s.graph(&admin).update_teams_app(&id, &manifest(&mid, "1.9.5"), false).await;
    assert_eq!(manifest_error(&r)[0].0, "VersionNotGreaterThanCurrent");
    let app = s.graph(&admin).get_teams_app(&id, "").await;
    assert_eq!(app.body["displayName"], "Hello 10", "{}", app.body);
}

#[tokio::test]
async fn update_refusals() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let mid = new_manifest_id();
    let id = publish_id(&s, &admin, "", &manifest(&mid, "1.0.0")).await;
    s.update(&admin, &id, &manifest(&mid, "1.1.0")).await;
    let before = catalog_snapshot(&s, &admin).await;
    let path = format!("{APPS}/{id}/appDefinitions");

    // Not greater than the current version: same, and lower.
    for (version, current) in [("1.1.0", "1.1.0"), ("1.0.5", "1.1.0"), ("1.0.0", "1.1.0")] {
        let r = s.post_zip(&admin, &path, package(&manifest(&mid, version))).await;
        let details = manifest_error(&r);
        assert_eq!(details.len(), 1, "{details:?}");
        assert_eq!(details[0].0, "VersionNotGreaterThanCurrent", "{details:?}");
        assert_eq!(details[0].2, "version");
        assert!(details[0].1.contains(version) && details[0].1.contains(current), "{details:?}");
    }
    // A different manifest id.
    let r = s.post_zip(&admin, &path, package(&manifest(&new_manifest_id(), "2.0.0"))).await;
    r.assert_error(400, "BadRequest");
    // The catalog id is the key, not the manifest id (spec 3.4).
    let r = s.graph(&admin).update_teams_app(&mid, &manifest(&mid, "2.0.0"), false).await;
    r.assert_error(404, "NotFound");
    assert_eq!(catalog_snapshot(&s, &admin).await, before, "a refused update wrote something");
    // Taking another app's Entra app id (spec 5.2).
    let other = with_entra_app(manifest(&new_manifest_id(), "1.0.0"), ENTRA_APP);
    let other_id = publish_id(&s, &admin, "", &other).await;
    let before = catalog_snapshot(&s, &admin).await;
    let r = s
        .post_zip(&admin, &path, package(&with_entra_app(manifest(&mid, "2.0.0"), ENTRA_APP)))
        .await;
    r.assert_error(409, "Conflict");
    assert!(ids_of(&before).contains(&other_id));
    // Unknown app.
    let r =
        s.graph(&admin).update_teams_app(&new_manifest_id(), &manifest(&mid, "2.0.0"), false).await;
    r.assert_error(404, "NotFound");
    assert_graph_headers(&r, None);
    // Non-admin without review; app-only; no catalog permission.
    let adele = adele(&s).await;
    let r = s.post_zip(&adele, &path, package(&manifest(&mid, "2.0.0"))).await;
    r.assert_error(403, "Forbidden");
    let app_only = s.app_token(ROLLOUT).await;
    let r = s.post_zip(&app_only, &path, package(&manifest(&mid, "2.0.0"))).await;
    assert_exact_error(&r, 403, "AccessDenied", "User not authorized");
    // Wrong content type, invalid manifest.
    let r = s
        .send(
            Method::POST,
            Some(&admin),
            &path,
            Some(("application/json", package(&manifest(&mid, "2.0.0")))),
            &[],
        )
        .await;
    r.assert_error(415, "UnsupportedMediaType");
    let mut bad = manifest(&mid, "2.0.0");
    bad["developer"]["websiteUrl"] = json!("ftp://contoso.example");
    let details = manifest_error(&s.post_zip(&admin, &path, package(&bad)).await);
    assert_eq!(details[0].0, "SchemaError_Pattern");
    // The v1.0 doc's PUT on the app is not the update (spec 3.4): 405.
    let r = s
        .send(
            Method::PUT,
            Some(&admin),
            &format!("{APPS}/{id}"),
            Some(("application/zip", package(&manifest(&mid, "2.0.0")))),
            &[],
        )
        .await;
    r.assert_error(405, "MethodNotAllowed");

    assert_eq!(catalog_snapshot(&s, &admin).await, before, "a refused update wrote something");
}

#[tokio::test]
async fn store_apps_are_listed_but_cannot_be_updated_or_deleted() {
    let (s, _dir) = start_with_seeded_catalog().await;
    let admin = s.admin_token().await;
    let store = s.graph(&admin).get_teams_app(STORE_APP, "").await;
    assert_eq!(store.status, 200, "{}", store.body);
    // Store apps: id = manifest id, no externalId (spec 2.1).
    assert_eq!(
        store.body,
        json!({"@odata.context": format!("{V1}appCatalogs/teamsApps/$entity"), "id": STORE_APP,
               "externalId": null, "displayName": "OneNote", "distributionMethod": "store"})
    );
    // Store definitions use the 2-part id (spec 10); unset values are null (spec 1.4).
    let defs = s.graph(&admin).list_app_definitions(STORE_APP, "").await;
    assert_eq!(defs.status, 200, "{}", defs.body);
    assert_eq!(unb64(str_of(&defs.body["value"][0], "id")), format!("{STORE_APP}##1.0.0"));
    assert_eq!(
        norm(&defs.body["value"]),
        json!([{
            "@odata.etag": "<etag>",
            "id": b64(&format!("{STORE_APP}##1.0.0")),
            "teamsAppId": STORE_APP,
            "displayName": "OneNote",
            "version": "1.0.0",
            "publishingState": "published",
            "shortDescription": "Notes",
            "description": "Capture notes and share them.",
            "lastModifiedDateTime": null,
            "createdBy": null,
            "authorization": {"clientAppId": null, "requiredPermissionSet": {"resourceSpecificPermissions": []}}
        }])
    );

    let before = catalog_snapshot(&s, &admin).await;
    let r =
        s.graph(&admin).update_teams_app(STORE_APP, &manifest(STORE_APP, "99.0.0"), false).await;
    r.assert_error(400, "BadRequest");
    let r = s.graph(&admin).delete_teams_app(STORE_APP).await;
    r.assert_error(400, "BadRequest");
    // Neither can a sideloaded app (only organization apps, spec 3.4 and 3.6).
    let r = s
        .graph(&admin)
        .update_teams_app(
            SIDELOADED_APP,
            &manifest("5e1f0a3d-0000-4000-8000-00000000051d", "2.0.0"),
            false,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = s.graph(&admin).delete_teams_app(SIDELOADED_APP).await;
    assert!(r.status == 400 || r.status == 404, "{}: {}", r.status, r.body);
    assert_eq!(catalog_snapshot(&s, &admin).await, before);
}

#[tokio::test]
async fn update_with_review_returns_the_submitted_definition() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let adele = adele(&s).await;
    let mid = new_manifest_id();
    let id = publish_id(&s, &admin, "", &manifest(&mid, "1.0.0")).await;
    for (token, version, creator) in [(&admin, "1.1.0", MEGAN), (&adele, "1.2.0", ADELE)] {
        let r = s.graph(token).update_teams_app(&id, &manifest(&mid, version), true).await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_graph_headers(&r, None);
        let def = def_id(&id, version, "Submitted");
        let location = r.headers.get("location").expect("Location").to_str().unwrap();
        assert!(
            location.ends_with(&format!("/v1.0/appCatalogs/teamsApps/{id}/appDefinitions/{def}")),
            "{location}"
        );
        assert_eq!(
            norm(&r.body),
            with_context(
                format!("{V1}appCatalogs/teamsApps('{id}')/appDefinitions/$entity"),
                v1_definition(&id, version, "submitted", creator)
            )
        );
        // It is what a GET of the Location returns.
        let got = s.graph(&admin).get_app_definition(&id, &def, "").await;
        assert_eq!(got.status, 200, "{}", got.body);
        assert_eq!(got.body, r.body);
    }
    // The app's published version is unchanged.
    let defs =
        s.graph(&admin).list_app_definitions(&id, "$filter=publishingState eq 'published'").await;
    assert_eq!(norm(&defs.body["value"]), json!([v1_definition(&id, "1.0.0", "published", MEGAN)]));
}

// ---- review -----------------------------------------------------------------------------------

#[tokio::test]
async fn approving_a_submission_publishes_it_under_a_new_id() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let adele = adele(&s).await;
    let mid = new_manifest_id();
    let id = publish_id(&s, &adele, "?requiresReview=true", &manifest(&mid, "1.0.0")).await;
    let submitted = def_id(&id, "1.0.0", "Submitted");
    let path = format!("{APPS}/{id}/appDefinitions/{submitted}");
    let got = s.get(&admin, &path).await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert!(unb64(&submitted).ends_with("##Submitted"));
    let etag = str_of(&got.body, "@odata.etag").to_string();
    let approve = json!({"publishingState": "published"});

    // Refusals first; none changes anything.
    let r = patch_json(&s, &admin, &path, &approve, Some("\"stale-etag\"")).await;
    r.assert_error(412, "PreconditionFailed");
    assert_graph_headers(&r, None);
    let r = patch_json(&s, &adele, &path, &approve, Some(&etag)).await;
    assert_exact_error(
        &r,
        403,
        "Forbidden",
        "Missing scope permissions on the request. API requires one of 'AppCatalog.ReadWrite.All'. Scopes on the request 'AppCatalog.Submit, TeamsAppInstallation.ReadWriteForUser'",
    );
    let adele_rw = s.user_token(ROLLOUT, "adele@contoso.example", "adele-pw").await;
    let r = patch_json(&s, &adele_rw, &path, &approve, Some(&etag)).await;
    r.assert_error(403, "Forbidden");
    let r = patch_json(&s, &s.app_token(ROLLOUT).await, &path, &approve, Some(&etag)).await;
    assert_eq!(r.status, 403, "{}", r.body);
    for body in [
        json!({"displayName": "Renamed"}),
        json!({"publishingState": "published", "version": "9.9.9"}),
        json!({"publishingState": "submitted"}),
        json!({"publishingState": "approved"}),
        json!({}),
    ] {
        let r = patch_json(&s, &admin, &path, &body, Some(&etag)).await;
        r.assert_error(400, "BadRequest");
    }
    let unchanged = s.get(&admin, &path).await;
    assert_eq!(unchanged.body, got.body, "a refused PATCH changed the definition");
    // An app whose only definition is submitted cannot be installed (spec 6.1).
    let rollout = s.app_token(ROLLOUT).await;
    let installs = format!("/v1.0/users/{ADELE}/teamwork/installedApps");
    let r = s.post_json(&rollout, &installs, &bind(&id)).await;
    assert!(r.status == 400 || r.status == 404, "{}: {}", r.status, r.body);

    // Approve.
    let r = patch_json(&s, &admin, &path, &approve, Some(&etag)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_graph_headers(&r, None);
    let published = def_id(&id, "1.0.0", "Published");
    assert_eq!(unb64(str_of(&r.body, "id")), format!("{id}##1.0.0##Published"));
    assert_eq!(
        norm(&r.body),
        with_context(
            format!("{V1}appCatalogs/teamsApps('{id}')/appDefinitions/$entity"),
            v1_definition(&id, "1.0.0", "published", ADELE)
        )
    );
    assert_ne!(str_of(&r.body, "@odata.etag"), etag, "the etag changes on write");

    // The old id is gone, the new one answers; the old etag is stale now.
    s.get(&admin, &path).await.assert_error(404, "NotFound");
    let new_path = format!("{APPS}/{id}/appDefinitions/{published}");
    let now = s.get(&admin, &new_path).await;
    assert_eq!(now.status, 200, "{}", now.body);
    assert_eq!(now.body, r.body);
    // A published definition cannot be reviewed again.
    let r = patch_json(&s, &admin, &new_path, &json!({"publishingState": "rejected"}), None).await;
    r.assert_error(400, "BadRequest");
    let r =
        patch_json(&s, &admin, &new_path, &approve, Some(str_of(&now.body, "@odata.etag"))).await;
    r.assert_error(400, "BadRequest");
    // Everyone sees it now, and the app can be installed.
    let lee = lee(&s).await;
    let seen = s.graph(&lee).list_app_definitions(&id, "").await;
    assert_eq!(ids_of(&seen.body), vec![published]);
    let r = s.post_json(&rollout, &installs, &bind(&id)).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

#[tokio::test]
async fn rejecting_a_submission() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let mid = new_manifest_id();
    let id = publish_id(&s, &admin, "", &manifest(&mid, "1.0.0")).await;
    let r = s.graph(&admin).update_teams_app(&id, &manifest(&mid, "1.1.0"), true).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let path = format!("{APPS}/{id}/appDefinitions/{}", def_id(&id, "1.1.0", "Submitted"));
    // A missing If-Match is accepted (spec 3.5).
    let r = patch_json(&s, &admin, &path, &json!({"publishingState": "Rejected"}), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(unb64(str_of(&r.body, "id")), format!("{id}##1.1.0##Rejected"));
    assert_eq!(
        norm(&r.body),
        with_context(
            format!("{V1}appCatalogs/teamsApps('{id}')/appDefinitions/$entity"),
            v1_definition(&id, "1.1.0", "rejected", MEGAN)
        )
    );
    s.get(&admin, &path).await.assert_error(404, "NotFound");
    let rejected = format!("{APPS}/{id}/appDefinitions/{}", def_id(&id, "1.1.0", "Rejected"));
    let r = patch_json(&s, &admin, &rejected, &json!({"publishingState": "published"}), None).await;
    r.assert_error(400, "BadRequest");
    // The current version is still 1.0.0.
    let app = s
        .graph(&admin)
        .get_teams_app(&id, "$expand=appDefinitions($filter=publishingState eq 'published')")
        .await;
    assert_eq!(app.status, 200, "{}", app.body);
    assert_eq!(
        norm(&app.body["appDefinitions"]),
        json!([v1_definition(&id, "1.0.0", "published", MEGAN)])
    );
}

// ---- list and get -----------------------------------------------------------------------------

#[tokio::test]
async fn list_filters_and_expansions() {
    let (s, _dir) = start_with_seeded_catalog().await;
    let admin = s.admin_token().await;
    let reader = s.app_token(READER).await;
    let with_bot_mid = new_manifest_id();
    let no_bot_mid = new_manifest_id();
    let rsc_mid = new_manifest_id();
    let with_bot = publish_id(&s, &admin, "", &manifest(&with_bot_mid, "1.0.0")).await;
    let no_bot =
        publish_id(&s, &admin, "", &named(without_bot(manifest(&no_bot_mid, "1.0.0")), "Quiet"))
            .await;
    let rsc_manifest = with_rsc(
        named(without_bot(manifest(&rsc_mid, "1.0.0")), "Rsc"),
        &[
            ("ChannelMeeting.ReadBasic.Group", "Delegated"),
            ("ChannelMessage.Read.Group", "Application"),
        ],
    );
    let rsc = publish_id(&s, &admin, "", &rsc_manifest).await;
    let org = sorted(vec![
        teams_app_json(&with_bot, &with_bot_mid, "Hello"),
        teams_app_json(&no_bot, &no_bot_mid, "Quiet"),
        teams_app_json(&rsc, &rsc_mid, "Rsc"),
    ]);

    // Unfiltered: store and organization apps.
    let all = s.graph(&reader).list_teams_apps("").await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_graph_headers(&all, None);
    assert_eq!(all.body["@odata.context"], format!("{V1}appCatalogs/teamsApps"));
    let keys: Vec<&String> = all.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["@odata.context", "value"]);
    let ids = ids_of(&all.body);
    assert!(ids.contains(&STORE_APP.to_string()), "{ids:?}");
    for id in [&with_bot, &no_bot, &rsc] {
        assert!(ids.contains(id), "{ids:?}");
    }

    // distributionMethod eq 'organization'
    let r = s.graph(&reader).list_teams_apps("$filter=distributionMethod eq 'organization'").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["@odata.context"], format!("{V1}appCatalogs/teamsApps"));
    assert_eq!(values_by_id(&r.body), org);
    let r = s.graph(&reader).list_teams_apps("$filter=distributionMethod eq 'store'").await;
    assert_eq!(ids_of(&r.body), vec![STORE_APP.to_string()]);

    // id eq, externalId eq (the documented forms, also with + for spaces).
    let r = s.graph(&reader).list_teams_apps(&format!("$filter=id eq '{no_bot}'")).await;
    assert_eq!(
        r.body,
        json!({"@odata.context": format!("{V1}appCatalogs/teamsApps"), "value": [teams_app_json(&no_bot, &no_bot_mid, "Quiet")]})
    );
    let r = s.graph(&reader).list_teams_apps(&format!("$filter=id+eq+'{no_bot}'")).await;
    assert_eq!(ids_of(&r.body), vec![no_bot.clone()]);
    let r =
        s.graph(&reader).list_teams_apps(&format!("$filter=externalId eq '{with_bot_mid}'")).await;
    assert_eq!(
        r.body,
        json!({"@odata.context": format!("{V1}appCatalogs/teamsApps"), "value": [teams_app_json(&with_bot, &with_bot_mid, "Hello")]})
    );
    let r = s.get(&reader, &format!("{APPS}?$filter=externalId eq '{}'", new_manifest_id())).await;
    assert_eq!(r.body["value"], json!([]));

    // appDefinitions/any(a:a/bot ne null) with $expand=appDefinitions($expand=bot).
    let r = s.graph(&reader).list_teams_apps("$expand=appDefinitions($expand=bot)&$filter=appDefinitions/any(a:a/bot ne null) and distributionMethod eq 'organization'")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut def = v1_definition(&with_bot, "1.0.0", "published", MEGAN);
    def["bot"] = json!({"id": BOT});
    let mut app = teams_app_json(&with_bot, &with_bot_mid, "Hello");
    app["appDefinitions"] = json!([def]);
    assert_eq!(
        norm(&r.body),
        json!({"@odata.context": format!("{V1}appCatalogs/teamsApps(appDefinitions(bot()))"), "value": [app]})
    );
    // Without the bot filter, definitions without a bot have no bot key (spec 1.4).
    let r = s
        .graph(&reader)
        .list_teams_apps(&format!("$expand=appDefinitions($expand=bot)&$filter=id eq '{no_bot}'"))
        .await;
    let mut quiet = v1_definition(&no_bot, "1.0.0", "published", MEGAN);
    quiet["displayName"] = json!("Quiet");
    assert_eq!(norm(&r.body["value"][0]["appDefinitions"]), json!([quiet.clone()]));

    // id eq with $expand=appDefinitions.
    let r = s
        .graph(&reader)
        .list_teams_apps(&format!("$filter=id eq '{no_bot}'&$expand=appDefinitions"))
        .await;
    let mut app = teams_app_json(&no_bot, &no_bot_mid, "Quiet");
    app["appDefinitions"] = json!([quiet]);
    assert_eq!(
        norm(&r.body),
        json!({"@odata.context": format!("{V1}appCatalogs/teamsApps(appDefinitions())"), "value": [app]})
    );

    // $expand=appDefinitions($select=id,authorization): how a client learns the RSC set.
    let r = s
        .graph(&reader)
        .list_teams_apps(&format!(
            "$filter=id+eq+'{rsc}'&$expand=appDefinitions($select=id,authorization)"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut app = teams_app_json(&rsc, &rsc_mid, "Rsc");
    app["appDefinitions@odata.context"] =
        json!(format!("{V1}appCatalogs/teamsApps('{rsc}')/appDefinitions(id,authorization)"));
    app["appDefinitions"] = json!([{
        "@odata.etag": "<etag>",
        "id": def_id(&rsc, "1.0.0", "Published"),
        "authorization": {"clientAppId": null, "requiredPermissionSet": {"resourceSpecificPermissions": [
            {"permissionValue": "ChannelMeeting.ReadBasic.Group", "permissionType": "delegated"},
            {"permissionValue": "ChannelMessage.Read.Group", "permissionType": "application"}
        ]}}
    }]);
    let body = norm(&r.body);
    // @odata.etag on a $select-ed definition is tolerated either way.
    let got = body["value"][0].clone();
    if got["appDefinitions"][0].get("@odata.etag").is_none() {
        app["appDefinitions"][0].as_object_mut().unwrap().remove("@odata.etag");
    }
    assert_eq!(
        body["@odata.context"],
        format!("{V1}appCatalogs/teamsApps(appDefinitions(id,authorization))")
    );
    assert_eq!(body["value"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(got, app);

    // $select on the apps.
    let r = s
        .graph(&reader)
        .list_teams_apps(&format!("$select=id,externalId&$filter=id eq '{rsc}'"))
        .await;
    assert_eq!(
        r.body,
        json!({"@odata.context": format!("{V1}appCatalogs/teamsApps(id,externalId)"), "value": [{"id": rsc, "externalId": rsc_mid}]})
    );

    // Sideloaded apps are not part of the catalog list (spec 3.1 default).
    assert!(!ids.contains(&SIDELOADED_APP.to_string()), "sideloaded app listed: {ids:?}");
    let r = s.graph(&reader).list_teams_apps("$filter=distributionMethod eq 'sideloaded'").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["value"], json!([]), "{}", r.body);
}

#[tokio::test]
async fn list_filter_operators_paging_count_and_case_insensitive_paths() {
    let (s, _dir) = start_with_seeded_catalog().await;
    let admin = s.admin_token().await;
    let a_mid = new_manifest_id();
    let b_mid = new_manifest_id();
    let a = publish_id(&s, &admin, "", &manifest(&a_mid, "1.0.0")).await;
    let b = publish_id(&s, &admin, "", &named(manifest(&b_mid, "1.0.0"), "Quiet")).await;
    let both = sorted_strings(vec![a.clone(), b.clone()]);

    // eq, ne, and, or, not on teamsApp fields (spec 3.1).
    for (filter, expected) in [
        (
            "distributionMethod ne 'store' and distributionMethod ne 'sideloaded'".to_string(),
            both.clone(),
        ),
        (format!("id eq '{a}' or id eq '{b}'"), both.clone()),
        (format!("not (id eq '{a}') and distributionMethod eq 'organization'"), vec![b.clone()]),
        ("displayName eq 'Quiet'".to_string(), vec![b.clone()]),
        (format!("externalId eq '{a_mid}' and displayName eq 'Quiet'"), vec![]),
        (
            "appDefinitions/any(a:a/version eq '1.0.0') and distributionMethod eq 'organization'"
                .to_string(),
            both.clone(),
        ),
    ] {
        let r = s.graph(&admin).list_teams_apps(&format!("$filter={filter}")).await;
        assert_eq!(r.status, 200, "{filter}: {}", r.body);
        assert_eq!(ids_of(&r.body), expected, "{filter}");
    }

    // Segment names are case-insensitive (spec 1.2).
    let r = s.get(&admin, &format!("/v1.0/APPCATALOGS/teamsapps/{a}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["id"], a.as_str());

    // $count and $top with a nextLink (spec 9).
    let org = "$filter=distributionMethod eq 'organization'";
    let r = s.graph(&admin).list_teams_apps(&format!("{org}&$count=true")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["@odata.count"], 2, "{}", r.body);
    let first = s.graph(&admin).list_teams_apps(&format!("{org}&$top=1")).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["value"].as_array().unwrap().len(), 1, "{}", first.body);
    let next = str_of(&first.body, "@odata.nextLink").to_string();
    assert!(next.contains("$skiptoken="), "{next}");
    let url = next.replacen("https://graph.microsoft.com", &s.base, 1);
    let second: Value =
        s.client.get(&url).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
    assert_eq!(second["value"].as_array().unwrap().len(), 1, "{second}");
    assert!(second.get("@odata.nextLink").is_none(), "{second}");
    let mut paged = vec![
        str_of(&first.body["value"][0], "id").to_string(),
        str_of(&second["value"][0], "id").to_string(),
    ];
    paged.sort();
    assert_eq!(paged, both);
}

#[tokio::test]
async fn unsupported_query_options_are_bad_requests() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let id = publish_id(&s, &admin, "", &manifest(&new_manifest_id(), "1.0.0")).await;
    let def = def_id(&id, "1.0.0", "Published");
    for base in [
        APPS.to_string(),
        format!("{APPS}/{id}"),
        format!("{APPS}/{id}/appDefinitions"),
        format!("{APPS}/{id}/appDefinitions/{def}"),
    ] {
        for query in [
            "$select=nonexistent",
            "$expand=nonexistent",
            "$filter=nonexistent eq 'x'",
            "$search=hello",
            "$expand=appDefinitions($select=nonexistent)",
            "$filter=displayName eq",
        ] {
            let r = s.get(&admin, &format!("{base}?{query}")).await;
            assert_eq!(r.status, 400, "{base}?{query}: {}", r.body);
            r.assert_error(400, "BadRequest");
            assert_graph_headers(&r, None);
        }
    }
}

#[tokio::test]
async fn get_app_and_definitions_by_id() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let reader = s.app_token(READER).await;
    let mid = new_manifest_id();
    let id = publish_id(&s, &admin, "", &manifest(&mid, "1.0.0")).await;
    let other = publish_id(&s, &admin, "", &manifest(&new_manifest_id(), "1.0.0")).await;
    s.update(&admin, &id, &manifest(&mid, "1.1.0")).await;

    let r = s.graph(&reader).get_teams_app(&id, "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_graph_headers(&r, None);
    assert_eq!(
        r.body,
        with_context(
            format!("{V1}appCatalogs/teamsApps/$entity"),
            teams_app_json(&id, &mid, "Hello")
        )
    );
    let r = s.graph(&reader).get_teams_app(&new_manifest_id(), "").await;
    r.assert_error(404, "NotFound");
    assert_graph_headers(&r, None);
    // The manifest id is not the catalog id.
    s.graph(&reader).get_teams_app(&mid, "").await.assert_error(404, "NotFound");

    let r = s.graph(&reader).list_app_definitions(&id, "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["@odata.context"],
        format!("{V1}appCatalogs/teamsApps('{id}')/appDefinitions")
    );
    for d in r.body["value"].as_array().unwrap() {
        assert!(d["@odata.etag"].as_str().is_some_and(|e| !e.is_empty()), "{d}");
    }
    assert_eq!(
        sorted(norm(&r.body)["value"].as_array().unwrap().clone()),
        sorted(vec![
            v1_definition(&id, "1.0.0", "published", MEGAN),
            v1_definition(&id, "1.1.0", "published", MEGAN)
        ])
    );
    s.graph(&reader)
        .list_app_definitions(&new_manifest_id(), "")
        .await
        .assert_error(404, "NotFound");

    let one = def_id(&id, "1.1.0", "Published");
    let r = s.graph(&reader).get_app_definition(&id, &one, "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        norm(&r.body),
        with_context(
            format!("{V1}appCatalogs/teamsApps('{id}')/appDefinitions/$entity"),
            v1_definition(&id, "1.1.0", "published", MEGAN)
        )
    );
    // Unpadded base64 names the same definition (spec 10).
    let r2 = s.graph(&reader).get_app_definition(&id, one.trim_end_matches('='), "").await;
    assert_eq!(r2.status, 200, "{}", r2.body);
    // $select on a definition.
    let r = s.graph(&reader).get_app_definition(&id, &one, "$select=id,version").await;
    assert_eq!(
        norm(&r.body),
        json!({
            "@odata.context": format!("{V1}appCatalogs/teamsApps('{id}')/appDefinitions(id,version)/$entity"),
            "@odata.etag": "<etag>", "id": one, "version": "1.1.0"
        })
    );
    // Unknown definitions: garbage, unknown version, wrong state, another app's definition.
    for bad in [
        "garbage".to_string(),
        def_id(&id, "9.9.9", "Published"),
        def_id(&id, "1.1.0", "Submitted"),
        def_id(&other, "1.0.0", "Published"),
        b64(&format!("{id}##1.1.0##Nonsense")),
    ] {
        let r = s.graph(&reader).get_app_definition(&id, &bad, "").await;
        r.assert_error(404, "NotFound");
    }
}

#[tokio::test]
async fn v1_and_beta_definitions_carry_their_own_property_sets() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let mid = new_manifest_id();
    let m = with_rsc(
        with_entra_app(manifest(&mid, "1.0.0"), ENTRA_APP),
        &[
            ("ChannelMeeting.ReadBasic.Group", "Delegated"),
            ("ChannelMessage.Read.Group", "Application"),
        ],
    );
    let id = publish_id(&s, &admin, "", &m).await;
    let def = def_id(&id, "1.0.0", "Published");
    let authorization = json!({"clientAppId": ENTRA_APP, "requiredPermissionSet": {"resourceSpecificPermissions": [
        {"permissionValue": "ChannelMeeting.ReadBasic.Group", "permissionType": "delegated"},
        {"permissionValue": "ChannelMessage.Read.Group", "permissionType": "application"}
    ]}});

    let v1 = s.graph(&admin).get_app_definition(&id, &def, "").await;
    assert_eq!(v1.status, 200, "{}", v1.body);
    let mut keys: Vec<&str> = v1.body.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "@odata.context",
            "@odata.etag",
            "authorization",
            "createdBy",
            "description",
            "displayName",
            "id",
            "lastModifiedDateTime",
            "publishingState",
            "shortDescription",
            "teamsAppId",
            "version"
        ]
    );
    let mut expected = v1_definition(&id, "1.0.0", "published", MEGAN);
    expected["authorization"] = authorization.clone();
    assert_eq!(
        norm(&v1.body),
        with_context(format!("{V1}appCatalogs/teamsApps('{id}')/appDefinitions/$entity"), expected)
    );

    let beta = s.beta(&admin).get_app_definition(&id, &def, "").await;
    assert_eq!(beta.status, 200, "{}", beta.body);
    assert_graph_headers(&beta, None);
    assert!(beta.body.get("shortDescription").is_none(), "{}", beta.body);
    assert_eq!(
        norm(&beta.body),
        json!({
            "@odata.context": format!("{BETA}appCatalogs/teamsApps('{id}')/appDefinitions/$entity"),
            "@odata.etag": "<etag>",
            "id": def,
            "teamsAppId": id,
            "azureADAppId": ENTRA_APP,
            "displayName": "Hello",
            "version": "1.0.0",
            "requiredResourceSpecificApplicationPermissions": ["ChannelMessage.Read.Group"],
            "publishingState": "published",
            "shortdescription": "Says hello",
            "description": "Says hello everywhere.",
            "lastModifiedDateTime": "<timestamp>",
            "createdBy": created_by(MEGAN),
            "authorization": authorization,
            "allowedInstallationScopes": "team,groupChat,personal"
        })
    );
    // The v1.0 list with the documented RSC query shows the same set.
    let r = s
        .graph(&admin)
        .list_teams_apps(&format!(
            "$filter=id eq '{id}'&$expand=appDefinitions($select=id,authorization)"
        ))
        .await;
    assert_eq!(r.body["value"][0]["appDefinitions"][0]["authorization"], authorization);
    // A personal-only app (no capabilities) says so in beta.
    let quiet =
        publish_id(&s, &admin, "", &without_bot(manifest(&new_manifest_id(), "1.0.0"))).await;
    let r =
        s.beta(&admin).get_app_definition(&quiet, &def_id(&quiet, "1.0.0", "Published"), "").await;
    assert_eq!(r.body["allowedInstallationScopes"], "personal", "{}", r.body);
    assert_eq!(r.body["azureADAppId"], Value::Null);
    assert_eq!(r.body["requiredResourceSpecificApplicationPermissions"], json!([]));
}

// ---- visibility -------------------------------------------------------------------------------

#[tokio::test]
async fn non_admins_see_published_definitions_and_their_own_submissions_only() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let adele = adele(&s).await;
    let lee = lee(&s).await;
    let pub_mid = new_manifest_id();
    let published = publish_id(&s, &admin, "", &manifest(&pub_mid, "1.0.0")).await;
    // Adele submits an update to the published app and a new app.
    let r = s.graph(&adele).update_teams_app(&published, &manifest(&pub_mid, "1.1.0"), true).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let sub_mid = new_manifest_id();
    let submitted =
        publish_id(&s, &adele, "?requiresReview=true", &manifest(&sub_mid, "1.0.0")).await;
    let v1_0 = def_id(&published, "1.0.0", "Published");
    let v1_1 = def_id(&published, "1.1.0", "Submitted");
    let sub_def = def_id(&submitted, "1.0.0", "Submitted");

    let defs_of = |body: &Value, app: &str| -> Vec<String> {
        let item = body["value"].as_array().unwrap().iter().find(|a| a["id"] == app);
        let mut ids: Vec<String> = item
            .map(|a| {
                a["appDefinitions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| str_of(d, "id").to_string())
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    };
    let both = {
        let mut v = vec![v1_0.clone(), v1_1.clone()];
        v.sort();
        v
    };
    let list =
        format!("{APPS}?$expand=appDefinitions&$filter=distributionMethod eq 'organization'");

    // Lee: published only.
    let r = s.get(&lee, &list).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids_of(&r.body), vec![published.clone()]);
    assert_eq!(defs_of(&r.body, &published), vec![v1_0.clone()]);
    s.graph(&lee).get_teams_app(&submitted, "").await.assert_error(404, "NotFound");
    s.graph(&lee).list_app_definitions(&submitted, "").await.assert_error(404, "NotFound");
    s.graph(&lee).get_app_definition(&published, &v1_1, "").await.assert_error(404, "NotFound");
    let r = s.graph(&lee).list_app_definitions(&published, "").await;
    assert_eq!(ids_of(&r.body), vec![v1_0.clone()]);
    // Filters do not reveal what Lee cannot see.
    for filter in [
        "appDefinitions/any(a:a/publishingState eq 'submitted')".to_string(),
        "appDefinitions/any(a:a/version eq '1.1.0')".to_string(),
        format!("id eq '{submitted}'"),
        format!("externalId eq '{sub_mid}'"),
    ] {
        let r = s.graph(&lee).list_teams_apps(&format!("$filter={filter}")).await;
        assert_eq!(r.status, 200, "{filter}: {}", r.body);
        assert_eq!(r.body["value"], json!([]), "{filter}");
    }
    let r = s.graph(&lee).get_teams_app(&published, "$expand=appDefinitions").await;
    assert_eq!(r.body["appDefinitions"].as_array().unwrap().len(), 1, "{}", r.body);

    // Adele: published plus her own submissions.
    let r = s.get(&adele, &list).await;
    let mut expected_apps = vec![published.clone(), submitted.clone()];
    expected_apps.sort();
    assert_eq!(ids_of(&r.body), expected_apps);
    assert_eq!(defs_of(&r.body, &published), both);
    assert_eq!(defs_of(&r.body, &submitted), vec![sub_def.clone()]);
    assert_eq!(s.graph(&adele).get_app_definition(&published, &v1_1, "").await.status, 200);

    // Megan (admin): everything.
    let r = s.get(&admin, &list).await;
    assert_eq!(ids_of(&r.body), expected_apps);
    assert_eq!(defs_of(&r.body, &published), both);
    assert_eq!(defs_of(&r.body, &submitted), vec![sub_def]);
    // The filter on state works for admins (spec 9).
    let r = s
        .graph(&admin)
        .list_teams_apps("$filter=appDefinitions/any(a:a/publishingState eq 'submitted')")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids_of(&r.body), expected_apps);
}

// ---- delete -----------------------------------------------------------------------------------

#[tokio::test]
async fn admin_deletes_an_app_and_its_installations() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let rollout = s.app_token(ROLLOUT).await;
    let mid = new_manifest_id();
    let id = publish_id(&s, &admin, "", &manifest(&mid, "1.0.0")).await;
    let keep = publish_id(&s, &admin, "", &manifest(&new_manifest_id(), "1.0.0")).await;
    let installs = format!("/v1.0/users/{ADELE}/teamwork/installedApps");
    let mut installed = Vec::new();
    for app in [&id, &keep] {
        let r = s.post_json(&rollout, &installs, &bind(app)).await;
        assert_eq!(r.status, 201, "{}", r.body);
        installed.push(b64(&format!("{ADELE}##{app}")));
    }
    let r = s.get(&rollout, &installs).await;
    assert_eq!(ids_of(&r.body), sorted_strings(installed.clone()));

    let r = s
        .send(
            Method::DELETE,
            Some(&admin),
            &format!("{APPS}/{id}"),
            None,
            &[("client-request-id", "del-1")],
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(r.body.is_null());
    assert_graph_headers(&r, Some("del-1"));

    s.graph(&admin).get_teams_app(&id, "").await.assert_error(404, "NotFound");
    s.graph(&admin).list_app_definitions(&id, "").await.assert_error(404, "NotFound");
    let r = s.graph(&admin).list_teams_apps(&format!("$filter=externalId eq '{mid}'")).await;
    assert_eq!(r.body["value"], json!([]));
    // Its installation went with it; the other app's stayed.
    let r = s.get(&rollout, &installs).await;
    assert_eq!(ids_of(&r.body), vec![installed[1].clone()]);
    s.get(&rollout, &format!("{installs}/{}", installed[0])).await.assert_error(404, "NotFound");
    // Deleting again: 404. The manifest id can be published again.
    s.graph(&admin).delete_teams_app(&id).await.assert_error(404, "NotFound");
    let again = publish_with(&s, &admin, "", &manifest(&mid, "1.0.0")).await;
    assert_eq!(again.status, 201, "{}", again.body);
}

fn sorted_strings(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn deleting_an_app_needs_readwrite_and_an_admin() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let id = publish_id(&s, &admin, "", &manifest(&new_manifest_id(), "1.0.0")).await;
    let path = format!("{APPS}/{id}");

    // AppCatalog.Submit only: the observed 403 (spec 3.6).
    let adele = adele(&s).await;
    let r = s.delete(&adele, &path).await;
    assert_exact_error(
        &r,
        403,
        "Forbidden",
        "Missing scope permissions on the request. API requires one of 'AppCatalog.ReadWrite.All, Directory.ReadWrite.All'. Scopes on the request 'AppCatalog.Submit, TeamsAppInstallation.ReadWriteForUser'",
    );
    assert_graph_headers(&r, None);
    // Even the submitter of the only (submitted) definition cannot delete the app itself.
    let own =
        publish_id(&s, &adele, "?requiresReview=true", &manifest(&new_manifest_id(), "1.0.0"))
            .await;
    s.graph(&adele).delete_teams_app(&own).await.assert_error(403, "Forbidden");
    // AppCatalog.ReadWrite.All without an admin role.
    let adele_rw = s.user_token(ROLLOUT, "adele@contoso.example", "adele-pw").await;
    s.delete(&adele_rw, &path).await.assert_error(403, "Forbidden");
    // Application tokens are not supported.
    let r = s.delete(&s.app_token(ROLLOUT).await, &path).await;
    assert_exact_error(&r, 403, "AccessDenied", "User not authorized");
    // Nothing was deleted.
    assert_eq!(s.get(&admin, &path).await.status, 200);
    assert_eq!(s.graph(&admin).get_teams_app(&own, "").await.status, 200);
    // Unknown app.
    s.graph(&admin).delete_teams_app(&new_manifest_id()).await.assert_error(404, "NotFound");
}

#[tokio::test]
async fn cancelling_a_submission() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let adele = adele(&s).await;
    let lee = lee(&s).await;
    let mid = new_manifest_id();
    let id = publish_id(&s, &admin, "", &manifest(&mid, "1.0.0")).await;
    let submit = |version: &'static str| {
        let (s, adele, id, mid) = (&s, &adele, &id, &mid);
        async move {
            let r = s.graph(adele).update_teams_app(id, &manifest(mid, version), true).await;
            assert_eq!(r.status, 201, "{}", r.body);
            format!("{APPS}/{id}/appDefinitions/{}", def_id(id, version, "Submitted"))
        }
    };
    let first = submit("1.1.0").await;

    // Another non-admin cannot cancel it.
    s.delete(&lee, &first).await.assert_error(403, "Forbidden");
    assert_eq!(s.get(&admin, &first).await.status, 200);
    // App-only tokens cannot either.
    s.delete(&s.app_token(ROLLOUT).await, &first).await.assert_error(403, "AccessDenied");
    // The submitter can.
    let r = s.delete(&adele, &first).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_graph_headers(&r, None);
    s.get(&admin, &first).await.assert_error(404, "NotFound");
    s.delete(&adele, &first).await.assert_error(404, "NotFound");
    let defs = s.graph(&admin).list_app_definitions(&id, "").await;
    assert_eq!(ids_of(&defs.body), vec![def_id(&id, "1.0.0", "Published")]);

    // An admin can cancel anyone's submission; the version may then be submitted again.
    let second = submit("1.1.0").await;
    let r = s.delete(&admin, &second).await;
    assert_eq!(r.status, 204, "{}", r.body);

    // A published definition cannot be "cancelled", not even by an admin.
    let published = format!("{APPS}/{id}/appDefinitions/{}", def_id(&id, "1.0.0", "Published"));
    s.delete(&admin, &published).await.assert_error(400, "BadRequest");
    s.delete(&adele, &published).await.assert_error(400, "BadRequest");
    assert_eq!(s.get(&admin, &published).await.status, 200);
    // No catalog scope at all.
    let noperm = s.user_token(NOPERM, "adele@contoso.example", "adele-pw").await;
    let third = submit("1.2.0").await;
    assert_exact_error(
        &s.delete(&noperm, &third).await,
        403,
        "Forbidden",
        "Missing scope permissions on the request. API requires one of 'AppCatalog.Submit, AppCatalog.ReadWrite.All, Directory.ReadWrite.All'. Scopes on the request 'User.Read'",
    );
    // Unknown definition.
    s.graph(&admin)
        .delete_app_definition(&id, &def_id(&id, "7.0.0", "Submitted"))
        .await
        .assert_error(404, "NotFound");
}

// ---- bot --------------------------------------------------------------------------------------

#[tokio::test]
async fn get_the_bot_of_a_definition() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let id = publish_id(&s, &admin, "", &manifest(&new_manifest_id(), "1.0.0")).await;
    let def = def_id(&id, "1.0.0", "Published");
    let readers = [
        s.app_token(READER).await,
        s.user_token(READER, "lee@contoso.example", "lee-pw").await,
        adele(&s).await,
        admin.clone(),
    ];
    for token in &readers {
        let r = s.graph(token).get_teamwork_bot(&id, &def).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_graph_headers(&r, None);
        assert_eq!(
            r.body,
            json!({
                "@odata.context": format!("{V1}appCatalogs/teamsApps('{id}')/appDefinitions('{def}')/bot/$entity"),
                "@odata.type": "#microsoft.graph.teamworkBot",
                "id": BOT
            })
        );
    }
    let r = s.get(&admin, &format!("{APPS}/{id}/appDefinitions/{def}/bot?$select=id")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["id"], BOT);
    let r = s.beta(&admin).get_teamwork_bot(&id, &def).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["@odata.type"], "#microsoft.graph.teamworkBot");
    assert_eq!(r.body["id"], BOT);

    // No bot, unknown definition, unknown app: 404.
    let quiet =
        publish_id(&s, &admin, "", &without_bot(manifest(&new_manifest_id(), "1.0.0"))).await;
    let r = s.graph(&admin).get_teamwork_bot(&quiet, &def_id(&quiet, "1.0.0", "Published")).await;
    r.assert_error(404, "NotFound");
    assert_graph_headers(&r, None);
    s.graph(&admin)
        .get_teamwork_bot(&id, &def_id(&id, "2.0.0", "Published"))
        .await
        .assert_error(404, "NotFound");
    s.graph(&admin).get_teamwork_bot(&new_manifest_id(), &def).await.assert_error(404, "NotFound");
    // Without a catalog permission.
    let noperm = s.user_token(NOPERM, "adele@contoso.example", "adele-pw").await;
    s.graph(&noperm).get_teamwork_bot(&id, &def).await.assert_error(403, "Forbidden");
}

// ---- headers ----------------------------------------------------------------------------------

/// Method, path, optional (content type, body), expected status.
type SampleRequest = (Method, String, Option<(&'static str, Vec<u8>)>, u16);

#[tokio::test]
async fn every_catalog_response_carries_the_graph_headers() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let mid = new_manifest_id();
    let id = publish_id(&s, &admin, "", &manifest(&mid, "1.0.0")).await;
    let def = def_id(&id, "1.0.0", "Published");
    let crid = "8a1ed7a3-5c78-46b2-8504-f9da00a1d1a6";
    let requests: Vec<SampleRequest> = vec![
        (Method::GET, APPS.to_string(), None, 200),
        (Method::GET, format!("{APPS}/{id}"), None, 200),
        (Method::GET, format!("{APPS}/{id}/appDefinitions"), None, 200),
        (Method::GET, format!("{APPS}/{id}/appDefinitions/{def}"), None, 200),
        (Method::GET, format!("{APPS}/{id}/appDefinitions/{def}/bot"), None, 200),
        (Method::GET, format!("/beta/appCatalogs/teamsApps/{id}"), None, 200),
        (
            Method::POST,
            APPS.to_string(),
            Some(("application/zip", package(&manifest(&new_manifest_id(), "1.0.0")))),
            201,
        ),
        (
            Method::POST,
            format!("{APPS}/{id}/appDefinitions"),
            Some(("application/zip", package(&manifest(&mid, "1.1.0")))),
            204,
        ),
        (Method::GET, format!("{APPS}/{}", new_manifest_id()), None, 404),
        (Method::POST, APPS.to_string(), Some(("text/plain", b"hello".to_vec())), 415),
        (Method::GET, format!("{APPS}?$search=x"), None, 400),
        (Method::DELETE, format!("{APPS}/{id}"), None, 204),
    ];
    for (method, path, body, status) in requests {
        for sent in [None, Some(crid)] {
            let headers: Vec<(&str, &str)> =
                sent.map(|c| vec![("client-request-id", c)]).unwrap_or_default();
            // Replays of state-changing requests are not the point: send them once, with the id.
            if sent.is_none() && method != Method::GET {
                continue;
            }
            let r = s.send(method.clone(), Some(&admin), &path, body.clone(), &headers).await;
            assert_eq!(r.status.as_u16(), status, "{method} {path}: {}", r.body);
            assert_graph_headers(&r, sent);
        }
    }
    // 401 too.
    let r = s.send(Method::GET, None, APPS, None, &[("client-request-id", crid)]).await;
    r.assert_error(401, "InvalidAuthenticationToken");
    assert_graph_headers(&r, Some(crid));
}

// ---- more state and check-order rules -----------------------------------------------------------

/// Spec 3.6 / 5.6: AppCatalog.Submit cancels only the caller's own submissions; anything else
/// needs AppCatalog.ReadWrite.All *and* an admin. An admin signed in to an app that holds only
/// AppCatalog.Submit is still limited to their own submissions.
#[tokio::test]
async fn submit_scope_cancels_only_own_submissions_even_for_an_admin() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let adele = adele(&s).await;
    let megan_submit = s.user_token(PLAIN, "megan@contoso.example", "megan-pw").await;
    let mid = new_manifest_id();
    let id = publish_id(&s, &admin, "", &manifest(&mid, "1.0.0")).await;
    let r = s.graph(&adele).update_teams_app(&id, &manifest(&mid, "1.1.0"), true).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let path = format!("{APPS}/{id}/appDefinitions/{}", def_id(&id, "1.1.0", "Submitted"));
    let r = s.delete(&megan_submit, &path).await;
    r.assert_error(403, "Forbidden");
    assert_eq!(s.get(&admin, &path).await.status, 200, "the submission was cancelled");
    // Her own submission she may cancel with Submit.
    let r = s.graph(&megan_submit).update_teams_app(&id, &manifest(&mid, "1.2.0"), true).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let own = format!("{APPS}/{id}/appDefinitions/{}", def_id(&id, "1.2.0", "Submitted"));
    assert_eq!(s.delete(&megan_submit, &own).await.status, 204);
}

/// Spec 3.6 / 6.1: cancelling the only (submitted) definition of a new app removes the
/// submission; nothing invisible is left behind holding the manifest id.
#[tokio::test]
async fn cancelling_the_only_submission_of_a_new_app_frees_its_manifest_id() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let adele = adele(&s).await;
    let mid = new_manifest_id();
    let before = catalog_snapshot(&s, &admin).await;
    let id = publish_id(&s, &adele, "?requiresReview=true", &manifest(&mid, "1.0.0")).await;
    let r = s.graph(&adele).delete_app_definition(&id, &def_id(&id, "1.0.0", "Submitted")).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(catalog_snapshot(&s, &admin).await, before);
    // The same package can be submitted again.
    let again = publish_with(&s, &adele, "?requiresReview=true", &manifest(&mid, "1.0.0")).await;
    assert_eq!(again.status, 201, "resubmitting after a cancel: {}", again.body);
    let r = s.graph(&admin).list_teams_apps(&format!("$filter=externalId eq '{mid}'")).await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 1, "{}", r.body);
}

/// Spec 3.3: each app has a unique manifest id; the manifest id is a GUID, and GUIDs that
/// differ only in letter case are the same id (the server compares Entra app ids that way too).
#[tokio::test]
async fn manifest_ids_differing_only_in_case_are_the_same_app() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let mid = new_manifest_id().to_uppercase();
    publish_id(&s, &admin, "", &manifest(&mid, "1.0.0")).await;
    let r = publish_with(&s, &admin, "", &manifest(&mid.to_lowercase(), "1.0.0")).await;
    r.assert_error(409, "Conflict");
}

/// Spec 3.6 default: deleting an app removes its installations in every scope.
#[tokio::test]
async fn deleting_an_app_removes_its_chat_and_team_installations() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let rollout = s.app_token(ROLLOUT).await;
    let id = publish_id(&s, &admin, "", &manifest(&new_manifest_id(), "1.0.0")).await;
    let scopes = [
        (format!("/v1.0/chats/{}/installedApps", enc(CHAT)), b64(&format!("{CHAT}##{id}"))),
        (format!("/v1.0/teams/{TEAM}/installedApps"), b64(&format!("{TEAM}##{id}"))),
        (format!("/v1.0/users/{ADELE}/teamwork/installedApps"), b64(&format!("{ADELE}##{id}"))),
    ];
    for (base, inst) in &scopes {
        let r = s.post_json(&rollout, base, &bind(&id)).await;
        assert!(r.status == 200 || r.status == 201, "{base}: {}", r.body);
        assert_eq!(s.get(&rollout, &format!("{base}/{inst}")).await.status, 200, "{base}");
    }
    assert_eq!(s.graph(&admin).delete_teams_app(&id).await.status, 204);
    for (base, inst) in &scopes {
        s.get(&rollout, &format!("{base}/{inst}")).await.assert_error(404, "NotFound");
        let list = s.get(&rollout, base).await;
        assert_eq!(list.status, 200, "{}", list.body);
        assert!(!ids_of(&list.body).contains(inst), "{base}: {}", list.body);
    }
}

/// Spec 5.7: the permission check comes before resolving resources and before the body.
#[tokio::test]
async fn permission_checks_come_before_lookups_and_bodies() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let noperm = s.user_token(NOPERM, "adele@contoso.example", "adele-pw").await;
    let adele = adele(&s).await;
    let app_only = s.app_token(ROLLOUT).await;
    let unknown = new_manifest_id();
    let unknown_def = def_id(&unknown, "1.0.0", "Submitted");
    s.graph(&noperm).get_teams_app(&unknown, "").await.assert_error(403, "Forbidden");
    s.graph(&noperm).list_app_definitions(&unknown, "").await.assert_error(403, "Forbidden");
    s.graph(&noperm).get_teamwork_bot(&unknown, &unknown_def).await.assert_error(403, "Forbidden");
    s.graph(&adele).delete_teams_app(&unknown).await.assert_error(403, "Forbidden");
    let r = patch_json(
        &s,
        &adele,
        &format!("{APPS}/{unknown}/appDefinitions/{unknown_def}"),
        &json!({"publishingState": "published"}),
        None,
    )
    .await;
    r.assert_error(403, "Forbidden");
    // Application tokens on writes: refused whatever the body or target.
    let r = s
        .send(Method::POST, Some(&app_only), APPS, Some(("text/plain", b"junk".to_vec())), &[])
        .await;
    assert_exact_error(&r, 403, "AccessDenied", "User not authorized");
    let r = s.post_zip(&app_only, &format!("{APPS}/{unknown}/appDefinitions"), Vec::new()).await;
    assert_exact_error(&r, 403, "AccessDenied", "User not authorized");
    // The admin gets the 404s.
    s.graph(&admin).get_teams_app(&unknown, "").await.assert_error(404, "NotFound");
    s.graph(&admin).delete_teams_app(&unknown).await.assert_error(404, "NotFound");
    let r = patch_json(
        &s,
        &admin,
        &format!("{APPS}/{unknown}/appDefinitions/{unknown_def}"),
        &json!({"publishingState": "published"}),
        None,
    )
    .await;
    r.assert_error(404, "NotFound");
}
