//! The wire contract of every response (spec 1.3, 7.1, 8.1): headers on success and on errors,
//! the exact error envelope, and what bad input gets: never a 5xx, never a write.

use crate::common::*;

use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A request body: content type and bytes.
type Body<'a> = Option<(&'a str, Vec<u8>)>;
/// (what, method, token, path, body, status, error code)
type ErrCase<'a> = (&'a str, Method, Option<&'a str>, String, Body<'a>, u16, &'a str);
/// (what, content type, body, accepted statuses, error code)
type BodyCase<'a> = (&'a str, &'a str, Vec<u8>, &'a [u16], &'a str);
type MethodCase<'a> = (Method, String, Body<'a>);

const JSON_CT: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

fn header<'a>(r: &'a Resp, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

fn is_guid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok() && s.len() == 36
}

/// `yyyy-MM-ddTHH:mm:ss` (spec 7.1).
fn is_error_date(s: &str) -> bool {
    s.len() == 19
        && s.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            _ => b.is_ascii_digit(),
        })
}

/// An RFC 7231 IMF-fixdate (`Tue, 15 Nov 1994 08:12:31 GMT`) as `yyyy-MM-ddTHH:mm:ss`.
fn http_date_as_error_date(d: &str) -> Option<String> {
    let parts: Vec<&str> = d.split(' ').collect();
    if parts.len() != 6 || parts[5] != "GMT" || !parts[0].ends_with(',') {
        return None;
    }
    let days = ["Mon,", "Tue,", "Wed,", "Thu,", "Fri,", "Sat,", "Sun,"];
    if !days.contains(&parts[0]) || parts[1].len() != 2 || parts[3].len() != 4 {
        return None;
    }
    let months =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let m = months.iter().position(|m| *m == parts[2])? + 1;
    let out = format!("{}-{m:02}-{}T{}", parts[3], parts[1], parts[4]);
    is_error_date(&out).then_some(out)
}

/// The headers every Graph response carries (spec 8.1); `json` adds the JSON ones (1.3).
fn check_headers(r: &Resp, sent_crid: Option<&str>, json: bool) {
    let rid = header(r, "request-id").unwrap_or_else(|| panic!("no request-id: {:?}", r.headers));
    assert!(is_guid(rid), "request-id {rid:?} is not a GUID");
    let crid = header(r, "client-request-id").expect("client-request-id");
    match sent_crid {
        Some(sent) => assert_eq!(crid, sent, "client-request-id is echoed"),
        None => assert_eq!(crid, rid, "client-request-id equals request-id when none was sent"),
    }
    let date = header(r, "date").expect("Date header");
    assert!(http_date_as_error_date(date).is_some(), "Date {date:?} is not an IMF-fixdate");
    if json {
        assert_eq!(header(r, "content-type"), Some(JSON_CT), "{:?}", r.headers);
        assert_eq!(header(r, "odata-version"), Some("4.0"), "{:?}", r.headers);
    }
}

/// A Graph error: the headers, and exactly `{"error":{"code","message","innerError":{"date",
/// "request-id","client-request-id"}}}` with the ids of the headers (spec 7.1).
fn check_envelope(r: &Resp, sent_crid: Option<&str>) {
    check_headers(r, sent_crid, true);
    let top =
        r.body.as_object().unwrap_or_else(|| panic!("error body is not an object: {}", r.body));
    assert_eq!(top.keys().collect::<Vec<_>>(), ["error"], "{}", r.body);
    let err = r.body["error"].as_object().expect("error object");
    let mut keys: Vec<&str> = err.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["code", "innerError", "message"], "{}", r.body);
    assert!(err["code"].as_str().is_some_and(|c| !c.is_empty()), "{}", r.body);
    assert!(err["message"].is_string(), "{}", r.body);
    let inner = err["innerError"].as_object().expect("innerError object");
    let mut keys: Vec<&str> = inner.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["client-request-id", "date", "request-id"], "{}", r.body);
    let date = inner["date"].as_str().expect("innerError.date");
    assert!(is_error_date(date), "innerError.date {date:?}");
    assert_eq!(
        Some(date.to_string()),
        http_date_as_error_date(header(r, "date").unwrap()),
        "innerError.date and the Date header name the same second"
    );
    assert_eq!(inner["request-id"].as_str(), header(r, "request-id"), "{}", r.body);
    assert_eq!(inner["client-request-id"].as_str(), header(r, "client-request-id"), "{}", r.body);
}

/// One request straight over TCP, for paths an HTTP client would normalise (`..`) or refuse
/// (raw non-ASCII bytes). Returns the status (0 when the server closed without answering) and
/// the body parsed as JSON when it is JSON.
async fn raw_get(base: &str, path: &[u8], token: &str) -> (u16, Value) {
    let addr = base.strip_prefix("http://").expect("plain http base");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = b"GET ".to_vec();
    req.extend_from_slice(path);
    req.extend_from_slice(
        format!(" HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    stream.write_all(&req).await.expect("write");
    let mut buf = Vec::new();
    let _ = stream.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || after.len() < n {
                break;
            }
            out.push_str(&after[..n]);
            rest = after[n..].trim_start_matches("\r\n");
        }
        out
    } else {
        body.to_string()
    };
    (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
}

async fn setup_app(s: &Server, admin: &str) -> (String, String) {
    let mid = new_manifest_id();
    let app = s.publish(admin, &manifest(&mid, "1.0.0")).await;
    (app["id"].as_str().unwrap().to_string(), mid)
}

async fn installation_id(s: &Server, token: &str, base: &str, mid: &str) -> String {
    let r = s.get(token, &format!("{base}?$filter=teamsApp/externalId eq '{mid}'")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["value"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no installation: {}", r.body))
        .to_string()
}

// --- headers and envelope ---------------------------------------------------------------------

#[tokio::test]
async fn success_and_error_responses_carry_graph_headers_and_the_exact_error_envelope() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let app = s.app_token(ROLLOUT).await;
    let (app_id, mid) = setup_app(&s, &admin).await;
    let crid = "6f1d2c3b-4a59-4e8d-9c7b-0a1b2c3d4e5f";
    let user = format!("/v1.0/users/{ADELE}/teamwork/installedApps");

    // 200 with a body, with and without client-request-id.
    let r = s.graph(&app).list_teams_apps("").await;
    assert_eq!(r.status, 200);
    check_headers(&r, None, true);
    let first_rid = header(&r, "request-id").unwrap().to_string();
    let r = s
        .send(
            Method::GET,
            Some(&app),
            "/beta/appCatalogs/teamsApps",
            None,
            &[("client-request-id", crid)],
        )
        .await;
    assert_eq!(r.status, 200);
    check_headers(&r, Some(crid), true);
    assert_ne!(header(&r, "request-id").unwrap(), first_rid, "every request gets its own id");
    assert_ne!(header(&r, "request-id").unwrap(), crid);

    // 201 and 204 without a body still carry the ids and Date.
    let r = s
        .send(
            Method::POST,
            Some(&app),
            &user,
            Some(("application/json", bind(&app_id).to_string().into_bytes())),
            &[("client-request-id", crid)],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    check_headers(&r, Some(crid), false);
    assert_eq!(r.body, Value::Null, "install answers without a body");
    let inst = installation_id(&s, &app, &user, &mid).await;
    let r = s.post_empty(&app, &format!("{user}/{inst}/upgrade")).await;
    assert_eq!(r.status, 204, "{}", r.body);
    check_headers(&r, None, false);
    assert_eq!(r.body, Value::Null);

    // Errors of every kind, with and without client-request-id.
    let noperm = s.app_token(NOPERM).await;
    let cases: Vec<ErrCase> = vec![
        ("401", Method::GET, None, user.clone(), None, 401, "InvalidAuthenticationToken"),
        ("403", Method::GET, Some(&noperm), user.clone(), None, 403, "Forbidden"),
        (
            "404",
            Method::GET,
            Some(&app),
            format!("/v1.0/users/{}/teamwork/installedApps", new_manifest_id()),
            None,
            404,
            "NotFound",
        ),
        ("405", Method::PUT, Some(&app), format!("{user}/{inst}"), None, 405, "MethodNotAllowed"),
        (
            "409",
            Method::POST,
            Some(&app),
            user.clone(),
            Some(("application/json", bind(&app_id).to_string().into_bytes())),
            409,
            "Conflict",
        ),
        (
            "415",
            Method::POST,
            Some(&app),
            user.clone(),
            Some(("text/plain", bind(&app_id).to_string().into_bytes())),
            415,
            "UnsupportedMediaType",
        ),
        (
            "400",
            Method::POST,
            Some(&app),
            user.clone(),
            Some(("application/json", b"{".to_vec())),
            400,
            "BadRequest",
        ),
        (
            "400 batch",
            Method::POST,
            Some(&app),
            "/v1.0/$batch".into(),
            Some(("application/json", b"{\"requests\":[]}".to_vec())),
            400,
            "BadRequest",
        ),
    ];
    for (what, method, token, path, body, status, code) in cases {
        for sent in [None, Some(crid)] {
            let headers: Vec<(&str, &str)> =
                sent.map(|c| vec![("client-request-id", c)]).unwrap_or_default();
            let r = s.send(method.clone(), token, &path, body.clone(), &headers).await;
            assert_eq!(r.status.as_u16(), status, "{what}: {}", r.body);
            assert_eq!(r.body["error"]["code"], code, "{what}: {}", r.body);
            check_envelope(&r, sent);
        }
    }

    // Manifest errors nest code, message and details in innerError next to the ids (7.1).
    let mut bad = manifest(&new_manifest_id(), "1.0.0");
    bad["developer"]["websiteUrl"] = json!("hs://www.yo.com");
    let r = s.graph(&admin).publish_teams_app(&bad, false).await;
    r.assert_error(400, "BadRequest");
    check_headers(&r, None, true);
    let inner = &r.body["error"]["innerError"];
    assert_eq!(inner["code"], "UnableToParseTeamsAppManifest", "{}", r.body);
    assert!(inner["details"].as_array().is_some_and(|d| !d.is_empty()), "{}", r.body);
    assert!(is_error_date(inner["date"].as_str().unwrap()));
}

// --- bad input --------------------------------------------------------------------------------

#[tokio::test]
async fn bad_install_and_upgrade_bodies_get_4xx_and_write_nothing() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let app = s.app_token(ROLLOUT).await;
    let (app_id, mid) = setup_app(&s, &admin).await;
    let user = format!("/v1.0/users/{ADELE}/teamwork/installedApps");
    let good_bind = format!("https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{app_id}");
    let huge =
        json!({"teamsApp@odata.bind": good_bind, "x": "a".repeat(2 * 1024 * 1024)}).to_string();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let j = |v: Value| v.to_string().into_bytes();
    let cases: Vec<BodyCase> = vec![
        (
            "malformed JSON",
            "application/json",
            b"{\"teamsApp@odata.bind\": ".to_vec(),
            &[400],
            "BadRequest",
        ),
        (
            "trailing garbage",
            "application/json",
            [j(bind(&app_id)), b" x".to_vec()].concat(),
            &[400],
            "BadRequest",
        ),
        ("JSON array", "application/json", j(json!([bind(&app_id)])), &[400], "BadRequest"),
        ("empty JSON array", "application/json", b"[]".to_vec(), &[400], "BadRequest"),
        ("JSON number", "application/json", b"42".to_vec(), &[400], "BadRequest"),
        ("JSON string", "application/json", j(json!(good_bind)), &[400], "BadRequest"),
        ("JSON null", "application/json", b"null".to_vec(), &[400], "BadRequest"),
        ("JSON true", "application/json", b"true".to_vec(), &[400], "BadRequest"),
        ("empty object", "application/json", b"{}".to_vec(), &[400], "BadRequest"),
        (
            "bind is a number",
            "application/json",
            j(json!({"teamsApp@odata.bind": 5})),
            &[400],
            "BadRequest",
        ),
        (
            "bind is null",
            "application/json",
            j(json!({"teamsApp@odata.bind": null})),
            &[400],
            "BadRequest",
        ),
        (
            "bind is an array",
            "application/json",
            j(json!({"teamsApp@odata.bind": [good_bind]})),
            &[400],
            "BadRequest",
        ),
        (
            "bind names no app",
            "application/json",
            j(json!({"teamsApp@odata.bind": "users/abc"})),
            &[400],
            "BadRequest",
        ),
        (
            "bind is empty",
            "application/json",
            j(json!({"teamsApp@odata.bind": ""})),
            &[400],
            "BadRequest",
        ),
        (
            "consentedPermissionSet is a string",
            "application/json",
            j(json!({"teamsApp@odata.bind": good_bind, "consentedPermissionSet": "all"})),
            &[400],
            "BadRequest",
        ),
        (
            "consentedPermissionSet is an array",
            "application/json",
            j(json!({"teamsApp@odata.bind": good_bind, "consentedPermissionSet": []})),
            &[400],
            "BadRequest",
        ),
        (
            "resourceSpecificPermissions is an object",
            "application/json",
            j(
                json!({"teamsApp@odata.bind": good_bind, "consentedPermissionSet": {"resourceSpecificPermissions": {}}}),
            ),
            &[400],
            "BadRequest",
        ),
        (
            "permissionType root",
            "application/json",
            j(
                json!({"teamsApp@odata.bind": good_bind, "consentedPermissionSet": {"resourceSpecificPermissions": [{"permissionValue": "TeamsActivity.Send.User", "permissionType": "root"}]}}),
            ),
            &[400],
            "BadRequest",
        ),
        (
            "permissionValue is a number",
            "application/json",
            j(
                json!({"teamsApp@odata.bind": good_bind, "consentedPermissionSet": {"resourceSpecificPermissions": [{"permissionValue": 7, "permissionType": "application"}]}}),
            ),
            &[400],
            "BadRequest",
        ),
        (
            "permission without type",
            "application/json",
            j(
                json!({"teamsApp@odata.bind": good_bind, "consentedPermissionSet": {"resourceSpecificPermissions": [{"permissionValue": "X.Read.User"}]}}),
            ),
            &[400],
            "BadRequest",
        ),
        (
            "unknown property",
            "application/json",
            j(json!({"teamsApp@odata.bind": good_bind, "displayName": "sneaky"})),
            &[400],
            "BadRequest",
        ),
        (
            "unknown property in a permission",
            "application/json",
            j(
                json!({"teamsApp@odata.bind": good_bind, "consentedPermissionSet": {"resourceSpecificPermissions": [{"permissionValue": "X.Read.User", "permissionType": "delegated", "extra": 1}]}}),
            ),
            &[400],
            "BadRequest",
        ),
        (
            "invalid UTF-8",
            "application/json",
            b"{\"teamsApp@odata.bind\": \"\xff\xfe\"}".to_vec(),
            &[400],
            "BadRequest",
        ),
        ("deeply nested JSON", "application/json", deep.into_bytes(), &[400], "BadRequest"),
        ("text/plain", "text/plain", j(bind(&app_id)), &[415], "UnsupportedMediaType"),
        (
            "application/xml",
            "application/xml",
            b"<teamsApp/>".to_vec(),
            &[415],
            "UnsupportedMediaType",
        ),
        (
            "zip instead of JSON",
            "application/zip",
            package(&manifest(&mid, "1.0.0")),
            &[415],
            "UnsupportedMediaType",
        ),
        ("2 MiB JSON body", "application/json", huge.into_bytes(), &[413], "RequestEntityTooLarge"),
        ("empty body, no content type", "", Vec::new(), &[400], "BadRequest"),
        ("empty body, JSON content type", "application/json", Vec::new(), &[400], "BadRequest"),
        ("whitespace body", "application/json", b"  \r\n ".to_vec(), &[400], "BadRequest"),
    ];
    let mut failures = Vec::new();
    for (what, ct, body, statuses, code) in &cases {
        let r = s.send(Method::POST, Some(&app), &user, Some((ct, body.clone())), &[]).await;
        if !statuses.contains(&r.status.as_u16()) || r.body["error"]["code"] != *code {
            failures.push(format!("{what}: want {statuses:?} {code}, got {} {}", r.status, r.body));
            continue;
        }
        check_envelope(&r, None);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Nothing was installed, so the valid request is the first install (201, not 409).
    let r = s.get(&app, &user).await;
    assert_eq!(r.body["value"], json!([]), "a refused install wrote something: {}", r.body);
    let r = s.post_json(&app, &user, &bind(&app_id)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = s.get(&app, &user).await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 1, "{}", r.body);
    let inst = installation_id(&s, &app, &user, &mid).await;

    // Upgrade bodies: a newer version exists, so a wrongly accepted upgrade would show.
    s.update(&admin, &app_id, &manifest(&mid, "1.1.0")).await;
    let upgrade = format!("{user}/{inst}/upgrade");
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        ("array", "application/json", b"[]".to_vec(), 400, "BadRequest"),
        ("number", "application/json", b"1".to_vec(), 400, "BadRequest"),
        (
            "malformed",
            "application/json",
            b"{\"consentedPermissionSet\":".to_vec(),
            400,
            "BadRequest",
        ),
        ("unknown property", "application/json", j(json!({"version": "9.9.9"})), 400, "BadRequest"),
        (
            "consent set is a string",
            "application/json",
            j(json!({"consentedPermissionSet": "x"})),
            400,
            "BadRequest",
        ),
        (
            "permissionType root",
            "application/json",
            j(
                json!({"consentedPermissionSet": {"resourceSpecificPermissions": [{"permissionValue": "A.B.User", "permissionType": "root"}]}}),
            ),
            400,
            "BadRequest",
        ),
        ("text/plain", "text/plain", b"{}".to_vec(), 415, "UnsupportedMediaType"),
    ];
    for (what, ct, body, status, code) in cases {
        let r = s.send(Method::POST, Some(&app), &upgrade, Some((ct, body)), &[]).await;
        assert_eq!(r.status.as_u16(), status, "upgrade {what}: {}", r.body);
        assert_eq!(r.body["error"]["code"], code, "upgrade {what}: {}", r.body);
        check_envelope(&r, None);
    }
    let r = s.get(&app, &format!("{user}/{inst}?$expand=teamsAppDefinition")).await;
    assert_eq!(
        r.body["teamsAppDefinition"]["version"], "1.0.0",
        "a refused upgrade moved the version"
    );
    let r = s.post_empty(&app, &upgrade).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = s.get(&app, &format!("{user}/{inst}?$expand=teamsAppDefinition")).await;
    assert_eq!(r.body["teamsAppDefinition"]["version"], "1.1.0");
}

// --- methods, paths, not implemented ----------------------------------------------------------

#[tokio::test]
async fn unsupported_methods_answer_405_in_the_graph_envelope_and_change_nothing() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let app = s.app_token(ROLLOUT).await;
    let (app_id, mid) = setup_app(&s, &admin).await;
    let r = s.graph(&admin).get_teams_app(&app_id, "$expand=appDefinitions").await;
    let def = r.body["appDefinitions"][0]["id"].as_str().unwrap().to_string();
    let user = format!("/v1.0/users/{ADELE}/teamwork/installedApps");
    let chat = format!("/v1.0/chats/{}/installedApps", enc(CHAT));
    let team = format!("/v1.0/teams/{TEAM}/installedApps");
    let mut insts = Vec::new();
    for base in [&user, &chat, &team] {
        let r = s.post_json(&app, base, &bind(&app_id)).await;
        assert!(r.status.is_success(), "{}", r.body);
        insts.push(installation_id(&s, &app, base, &mid).await);
    }
    s.update(&admin, &app_id, &manifest(&mid, "2.0.0")).await;
    let zip = || Some(("application/zip", package(&manifest(&mid, "3.0.0"))));
    let js = |v: Value| Some(("application/json", v.to_string().into_bytes()));
    let cat = format!("/v1.0/appCatalogs/teamsApps/{app_id}");
    let mut cases: Vec<MethodCase> = vec![
        // The v1.0 update page's PUT is a doc bug (spec 3.4).
        (Method::PUT, cat.clone(), zip()),
        (Method::PATCH, cat.clone(), js(json!({"displayName": "x"}))),
        (Method::DELETE, "/v1.0/appCatalogs/teamsApps".into(), None),
        (Method::PUT, "/beta/appCatalogs/teamsApps".into(), zip()),
        (
            Method::PUT,
            format!("{cat}/appDefinitions/{def}"),
            js(json!({"publishingState": "published"})),
        ),
        // OAS has PATCH on bot; not described by the docs (spec 12).
        (Method::PATCH, format!("{cat}/appDefinitions/{def}/bot"), js(json!({"id": "x"}))),
    ];
    for (base, inst) in [&user, &chat, &team].iter().zip(&insts) {
        // OAS exposes PATCH/DELETE on installations the docs don't describe (spec 12).
        cases.push((
            Method::PATCH,
            format!("{base}/{inst}"),
            js(json!({"teamsAppDefinition": null})),
        ));
        cases.push((Method::PUT, format!("{base}/{inst}"), js(bind(&app_id))));
        cases.push((Method::GET, format!("{base}/{inst}/upgrade"), None));
        cases.push((Method::DELETE, format!("{base}/{inst}/upgrade"), None));
        cases.push((Method::PUT, base.to_string(), js(bind(&app_id))));
    }
    for (method, path, body) in cases {
        let r = s.send(method.clone(), Some(&admin), &path, body, &[]).await;
        assert_eq!(r.status, 405, "{method} {path}: {}", r.body);
        assert_eq!(r.body["error"]["code"], "MethodNotAllowed", "{method} {path}: {}", r.body);
        check_envelope(&r, None);
        let allow = header(&r, "allow").unwrap_or_default();
        assert!(!allow.is_empty(), "405 names the allowed methods: {method} {path}");
        assert!(!allow.contains(method.as_str()), "{method} {path}: Allow {allow}");
    }
    // Nothing changed: the app has its two definitions, installations stay at 1.0.0.
    let r = s.get(&admin, &format!("{cat}/appDefinitions")).await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 2, "{}", r.body);
    for (base, inst) in [&user, &chat, &team].iter().zip(&insts) {
        let r = s.get(&app, &format!("{base}/{inst}?$expand=teamsAppDefinition")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["teamsAppDefinition"]["version"], "1.0.0", "{base}");
    }
}

#[tokio::test]
async fn unknown_paths_get_4xx_graph_errors_and_icons_answer_in_every_documented_form() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let app = s.app_token(ROLLOUT).await;
    let (app_id, mid) = setup_app(&s, &admin).await;
    let r = s.graph(&app).get_teams_app(&app_id, "$expand=appDefinitions").await;
    let def = r.body["appDefinitions"][0]["id"].as_str().unwrap().to_string();
    let user = format!("/v1.0/users/{ADELE}/teamwork/installedApps");
    assert_eq!(s.post_json(&app, &user, &bind(&app_id)).await.status, 201);
    let inst = installation_id(&s, &app, &user, &mid).await;

    let unknown = [
        "/v1.0/foo".to_string(),
        "/v1.0/foo/bar/baz".to_string(),
        "/beta/nothing".to_string(),
        "/v1.0/appCatalogs".to_string(),
        "/v1.0/appCatalogs/unknown".to_string(),
        format!("/v1.0/users/{ADELE}"),
        format!("/v1.0/users/{ADELE}/teamwork/nope"),
        format!("{user}/{inst}/nope"),
        format!("{user}/{inst}/upgrade/extra"),
        format!("/v1.0/teams/{TEAM}/installedApps/x/chat"),
        format!("/v1.0/appCatalogs/teamsApps/{app_id}/nope"),
        "/v2.0/appCatalogs/teamsApps".to_string(),
        "/".to_string(),
    ];
    for path in &unknown {
        for method in [Method::GET, Method::POST] {
            let r = s.send(method.clone(), Some(&app), path, None, &[]).await;
            assert!(r.status.is_client_error(), "{method} {path}: {} {}", r.status, r.body);
            check_envelope(&r, None);
        }
    }

    // Real Graph paths the emulator does not serve (aliases, spec 4.2: optional) answer a 4xx
    // or 501 NotImplemented, always in the envelope.
    for path in ["/v1.0/me/teamwork/installedApps", "/v1.0/me/chats/x/installedApps"] {
        let r = s.get(&app, path).await;
        let ok = r.status.is_client_error()
            || (r.status == 501 && r.body["error"]["code"] == "NotImplemented");
        assert!(ok, "{path}: {} {}", r.status, r.body);
        check_envelope(&r, None);
    }

    // JSON batching is served (spec 8.3; crates/cli/tests/integration/batch.rs): 200 with one answer per
    // request, and a malformed batch is a 400 in the envelope.
    let batch =
        json!({"requests": [{"id": "1", "method": "GET", "url": "/appCatalogs/teamsApps"}]});
    for path in ["/v1.0/$batch", "/beta/$batch"] {
        let r = s.post_json(&app, path, &batch).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        check_headers(&r, None, true);
        assert_eq!(r.body["responses"][0]["status"], 200, "{}", r.body);
        let r = s.post_json(&app, path, &json!({"requests": "no"})).await;
        r.assert_error(400, "BadRequest");
        check_envelope(&r, None);
    }

    // Beta icons (crates/cli/tests/integration/icons.rs) in every documented form, trailing
    // slashes included: served to a signed-in user, refused in the envelope to an app token.
    let defs = format!("/beta/appCatalogs/teamsApps/{app_id}/appDefinitions/{def}");
    for path in [
        format!("{defs}/colorIcon"),
        format!("{defs}/outlineIcon"),
        format!("{defs}/colorIcon/"),
        format!("{defs}/colorIcon/hostedContent"),
        format!("{defs}/colorIcon/hostedContent/"),
        format!("{defs}/colorIcon/hostedContent/$value"),
        format!("{defs}/outlineIcon?$select=id,webUrl"),
    ] {
        let r = s.get(&app, &path).await;
        r.assert_error(403, "AccessDenied");
        check_envelope(&r, None);
        let r = s.get(&admin, &path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
}

// --- strange ids ------------------------------------------------------------------------------

#[tokio::test]
async fn long_nul_dot_and_unicode_ids_give_400_or_404_never_5xx() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let app = s.app_token(ROLLOUT).await;
    let (app_id, mid) = setup_app(&s, &admin).await;
    let r = s.graph(&app).get_teams_app(&app_id, "$expand=appDefinitions").await;
    let def = r.body["appDefinitions"][0]["id"].as_str().unwrap().to_string();
    let user = format!("/v1.0/users/{ADELE}/teamwork/installedApps");
    let chat = format!("/v1.0/chats/{}/installedApps", enc(CHAT));
    assert_eq!(s.post_json(&app, &user, &bind(&app_id)).await.status, 201);
    assert_eq!(s.post_json(&app, &chat, &bind(&app_id)).await.status, 201);
    let user_inst = installation_id(&s, &app, &user, &mid).await;
    let chat_inst = installation_id(&s, &app, &chat, &mid).await;

    let long = "A".repeat(10 * 1024);
    let long_b64 = "QUFB".repeat(2560);
    let cat = "/v1.0/appCatalogs/teamsApps";
    let paths = vec![
        format!("{cat}/{long}"),
        format!("{cat}/{app_id}/appDefinitions/{long_b64}"),
        format!("{cat}/{app_id}/appDefinitions/{long}/bot"),
        format!("/v1.0/users/{long}/teamwork/installedApps"),
        format!("{user}/{long}"),
        format!("{user}/{long_b64}"),
        format!("{user}/{long_b64}/chat"),
        format!("/v1.0/chats/{long}/installedApps"),
        format!("/v1.0/teams/{long}/installedApps/{long}"),
        format!("{cat}/%00"),
        format!("{cat}/{app_id}/appDefinitions/%00"),
        format!("{cat}/{app_id}/appDefinitions/{def}%00/bot"),
        format!("{cat}/{app_id}/appDefinitions/{def}{long}"),
        "/v1.0/users/%00/teamwork/installedApps".to_string(),
        format!("{user}/%00"),
        "/v1.0/chats/19%3A%00%40thread.v2/installedApps".to_string(),
        "/v1.0/teams/%00/installedApps".to_string(),
        "/v1.0/users/%C3%A9l%C3%A8ve%40contoso.example/teamwork/installedApps".to_string(),
        format!("{cat}/%F0%9F%98%80"),
        format!("{user}/%E2%98%83"),
        "/v1.0/chats/19%3A%E2%98%83%40thread.v2/installedApps".to_string(),
        "/v1.0/users/%FF%FE/teamwork/installedApps".to_string(),
        format!("{cat}/%C0%AF"),
        format!("{user}/%FF"),
        format!("{user}/===="),
        format!("{user}/%2E%2E"),
        // A chat installation id under the user route decodes to another scope (spec 10).
        format!("{user}/{chat_inst}"),
        format!("{chat}/{user_inst}"),
    ];
    // Tokens that hold the permission of every operation tried, so that the answer is about the
    // id (the permission check comes first, spec 5.7): the admin for the catalog, the plain
    // writer (ReadWriteFor{User,Chat,Team}.All) for installations.
    let plain = s.app_token(PLAIN).await;
    let mut failures = Vec::new();
    for path in &paths {
        let token = if path.starts_with(cat) { &admin } else { &plain };
        let requests = [
            (Method::GET, None),
            (Method::DELETE, None),
            (Method::POST, Some(("application/json", bind(&app_id).to_string().into_bytes()))),
        ];
        for (method, body) in requests {
            let r = s.send(method.clone(), Some(token), path, body, &[]).await;
            let short: String = path.chars().take(90).collect();
            if r.status.is_server_error()
                || !(r.status == 404 || r.status == 400 || r.status == 405)
            {
                failures.push(format!("{method} {short}: {} {}", r.status, r.body));
                continue;
            }
            if r.body.get("error").is_none() {
                failures.push(format!(
                    "{method} {short}: {} without a Graph envelope: {}",
                    r.status, r.body
                ));
                continue;
            }
            check_envelope(&r, None);
        }
    }
    // Bodies naming strange apps.
    for id in [long.as_str(), "%00", "..", "\u{0}", "é☃", "' or 1 eq 1"] {
        let body = json!({"teamsApp@odata.bind": format!("https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{id}")});
        let r = s.post_json(&app, &user, &body).await;
        let short: String = id.chars().take(20).collect();
        if !(r.status == 400 || r.status == 404) || r.body.get("error").is_none() {
            failures.push(format!("install bind {short:?}: {} {}", r.status, r.body));
        }
    }
    // `..` and raw bytes, which an HTTP client would normalise or refuse.
    let raw_paths: Vec<Vec<u8>> = vec![
        b"/v1.0/users/../teamwork/installedApps".to_vec(),
        format!("{cat}/..").into_bytes(),
        format!("{cat}/{app_id}/appDefinitions/..").into_bytes(),
        format!("{user}/..").into_bytes(),
        format!("{user}/../{user_inst}").into_bytes(),
        b"/v1.0/chats/../installedApps".to_vec(),
    ];
    for path in &raw_paths {
        let (status, body) = raw_get(&s.base, path, &app).await;
        let shown = String::from_utf8_lossy(path);
        if !(400..500).contains(&status) || body.get("error").is_none() {
            failures.push(format!("raw GET {shown}: {status} {body}"));
        }
    }
    // Raw non-ASCII in the request line: refused before routing; anything but a 5xx.
    let (status, body) =
        raw_get(&s.base, "/v1.0/users/élève/teamwork/installedApps".as_bytes(), &app).await;
    if status >= 500 {
        failures.push(format!("raw non-ASCII path: {status} {body}"));
    }
    // The server is still fine and nothing was removed by the strange DELETEs.
    let r = s.get(&app, &format!("{user}/{user_inst}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.get(&app, &format!("{chat}/{chat_inst}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.get(&app, &format!("{cat}/{app_id}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        failures.is_empty(),
        "{} strange-id requests misbehaved:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn chat_ids_work_percent_encoded_raw_and_in_lowercase_escapes() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let app = s.app_token(ROLLOUT).await;
    let (app_id, mid) = setup_app(&s, &admin).await;
    let (app2, mid2) = setup_app(&s, &admin).await;
    let encoded = format!("/v1.0/chats/{}/installedApps", enc(CHAT));
    let raw = format!("/v1.0/chats/{CHAT}/installedApps");
    let lower = format!("/v1.0/chats/{}/installedApps", enc(CHAT).replace("%3A", "%3a"));
    assert!(encoded.contains("19%3Aea28e88c00e94c7786b065394a61f296%40thread.v2"), "{encoded}");

    // Install through the encoded path, another app through the raw path.
    let r = s.post_json(&app, &encoded, &bind(&app_id)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = s.post_json(&app, &raw, &bind(&app2)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    // The same install again through the other spelling is the same chat: 409.
    let r = s.post_json(&app, &raw, &bind(&app_id)).await;
    r.assert_error(409, "Conflict");

    for base in [&encoded, &raw, &lower] {
        let r = s.get(&app, base).await;
        assert_eq!(r.status, 200, "{base}: {}", r.body);
        assert_eq!(r.body["value"].as_array().unwrap().len(), 2, "{base}: {}", r.body);
        let ctx = r.body["@odata.context"].as_str().unwrap();
        assert_eq!(
            ctx,
            "https://graph.microsoft.com/v1.0/$metadata#chats('19%3Aea28e88c00e94c7786b065394a61f296%40thread.v2')/installedApps",
            "{base}"
        );
    }
    let inst = installation_id(&s, &app, &encoded, &mid).await;
    let inst2 = installation_id(&s, &app, &raw, &mid2).await;
    // Installation ids are base64("{chatId}##{teamsAppId}") (spec 10).
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD.decode(&inst).expect("standard base64");
    assert_eq!(String::from_utf8(decoded).unwrap(), format!("{CHAT}##{app_id}"));
    for base in [&encoded, &raw, &lower] {
        let r = s.get(&app, &format!("{base}/{inst}")).await;
        assert_eq!(r.status, 200, "{base}: {}", r.body);
        assert_eq!(r.body["id"], inst.as_str());
        assert!(r.body["@odata.context"].as_str().unwrap().ends_with(
            "chats('19%3Aea28e88c00e94c7786b065394a61f296%40thread.v2')/installedApps/$entity"
        ));
    }
    s.update(&admin, &app_id, &manifest(&mid, "1.1.0")).await;
    let r = s.post_empty(&app, &format!("{lower}/{inst}/upgrade")).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = s.get(&app, &format!("{raw}/{inst}?$expand=teamsAppDefinition")).await;
    assert_eq!(r.body["teamsAppDefinition"]["version"], "1.1.0");
    // ReadWriteAndConsentForChat cannot uninstall (spec 4.2 table): the plain writer does.
    let plain = s.app_token(PLAIN).await;
    let r = s.delete(&plain, &format!("{encoded}/{inst}")).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = s.delete(&plain, &format!("{raw}/{inst2}")).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = s.get(&app, &lower).await;
    assert_eq!(r.body["value"], json!([]), "{}", r.body);
}
