//! JSON batching (spec 8.3): items run through the real router (authenticated, authorized and
//! throttled on their own), `dependsOn` orders them and a failed dependency gives 424; a
//! malformed batch is a 400 Graph error.

use crate::common::*;

use reqwest::Method;
use serde_json::{json, Value};

async fn setup_app(s: &Server, admin: &str) -> (String, String) {
    let mid = new_manifest_id();
    let app = s.publish(admin, &manifest(&mid, "1.0.0")).await;
    (app["id"].as_str().unwrap().to_string(), mid)
}

/// The answer for `id`, checking that every answer has an id, a status and headers.
fn item<'a>(r: &'a Resp, id: &str) -> &'a Value {
    assert_eq!(r.status, 200, "{}", r.body);
    let responses = r.body["responses"].as_array().unwrap_or_else(|| panic!("{}", r.body));
    for a in responses {
        assert!(a["id"].is_string(), "{a}");
        assert!(a["status"].is_u64(), "{a}");
        let h = a["headers"].as_object().unwrap_or_else(|| panic!("no headers: {a}"));
        assert!(h.contains_key("request-id"), "{a}");
    }
    responses.iter().find(|a| a["id"] == id).unwrap_or_else(|| panic!("no answer {id}: {}", r.body))
}

fn assert_bad_batch(r: &Resp) {
    r.assert_error(400, "BadRequest");
}

#[tokio::test]
async fn install_then_list_with_depends_on() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let app = s.app_token(ROLLOUT).await;
    let (app_id, mid) = setup_app(&s, &admin).await;
    let batch = json!({"requests": [
        {"id": "1", "method": "POST", "url": format!("/users/{ADELE}/teamwork/installedApps"),
         "headers": {"Content-Type": "application/json"}, "body": bind(&app_id)},
        {"id": "2", "dependsOn": ["1"], "method": "GET",
         "url": format!("users/{ADELE}/teamwork/installedApps?$expand=teamsAppDefinition,teamsApp")},
        {"id": "3", "method": "POST", "url": format!("/teams/{TEAM}/installedApps"),
         "headers": {"content-type": "application/json"}, "body": bind(&app_id)},
        {"id": "4", "dependsOn": ["3"], "method": "GET",
         "url": format!("/teams/{TEAM}/installedApps?$expand=teamsAppDefinition")},
    ]});
    for version in ["v1.0", "beta"] {
        let r = s.post_json(&app, &format!("/{version}/$batch"), &batch).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.headers.get("request-id").is_some());
        assert!(r.headers.get("client-request-id").is_some());
        assert_eq!(r.body["responses"].as_array().unwrap().len(), 4, "{}", r.body);
        let first = item(&r, "1");
        if version == "v1.0" {
            assert_eq!(first["status"], 201, "{first}");
        } else {
            // Already installed by the v1.0 batch.
            assert_eq!(first["status"], 409, "{first}");
            assert_eq!(item(&r, "2")["status"], 424, "{}", r.body);
            continue;
        }
        let list = item(&r, "2");
        assert_eq!(list["status"], 200, "{list}");
        assert!(list["headers"]["Content-Type"]
            .as_str()
            .is_some_and(|c| c.starts_with("application/json")));
        assert_eq!(list["headers"]["OData-Version"], "4.0", "{list}");
        let listed = list["body"]["value"].as_array().unwrap();
        assert!(listed.iter().any(|i| i["teamsApp"]["externalId"] == mid), "{list}");
        assert!(list["body"]["@odata.context"].as_str().unwrap().contains("/v1.0/$metadata#"));
        let team = item(&r, "3");
        assert!(team["status"] == 200 || team["status"] == 201, "{team}");
        let team_list = item(&r, "4");
        assert_eq!(team_list["status"], 200, "{team_list}");
        let team_apps = team_list["body"]["value"].as_array().unwrap();
        assert!(
            team_apps.iter().any(|i| i["teamsAppDefinition"]["teamsAppId"] == app_id.as_str()),
            "{team_list}"
        );
    }
    // The installation is real: visible outside the batch.
    let r = s
        .graph(&app)
        .list_user_installed_apps(ADELE, &format!("$filter=teamsApp/externalId eq '{mid}'"))
        .await;
    assert_eq!(r.body["value"].as_array().map(Vec::len), Some(1), "{}", r.body);
}

#[tokio::test]
async fn a_dependent_of_a_failing_item_gets_424_and_is_not_executed() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let app = s.app_token(ROLLOUT).await;
    let (app_id, mid) = setup_app(&s, &admin).await;
    let users = format!("/users/{ADELE}/teamwork/installedApps");
    let batch = json!({"requests": [
        {"id": "a", "method": "GET", "url": "/appCatalogs/teamsApps/does-not-exist"},
        {"id": "b", "dependsOn": ["A"], "method": "POST", "url": users,
         "headers": {"Content-Type": "application/json"}, "body": bind(&app_id)},
        {"id": "c", "dependsOn": ["b"], "method": "GET", "url": users},
    ]});
    let r = s.post_json(&app, "/v1.0/$batch", &batch).await;
    assert_eq!(item(&r, "a")["status"], 404, "{}", r.body);
    for (id, dep) in [("b", "a"), ("c", "b")] {
        let a = item(&r, id);
        assert_eq!(a["status"], 424, "{a}");
        assert_eq!(a["body"]["error"]["code"], "FailedDependency", "{a}");
        let msg = a["body"]["error"]["message"].as_str().unwrap();
        assert!(msg.contains(&format!("'{dep}'")), "{msg}");
        assert!(a["body"]["error"]["innerError"]["request-id"].is_string(), "{a}");
    }
    // b was not executed.
    let r = s.get(&app, &format!("/v1.0{users}?$filter=teamsApp/externalId eq '{mid}'")).await;
    assert_eq!(r.body["value"], json!([]), "{}", r.body);
}

#[tokio::test]
async fn each_item_is_authorized_on_its_own() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let (app_id, _) = setup_app(&s, &admin).await;
    let reader = s.app_token(READER).await;
    let users = format!("/users/{ADELE}/teamwork/installedApps");
    let batch = json!({"requests": [
        {"id": "list", "method": "GET", "url": users},
        {"id": "install", "method": "POST", "url": users,
         "headers": {"Content-Type": "application/json"}, "body": bind(&app_id)},
        {"id": "catalog", "method": "GET", "url": "/appCatalogs/teamsApps"},
    ]});
    let r = s.post_json(&reader, "/v1.0/$batch", &batch).await;
    assert_eq!(item(&r, "list")["status"], 200, "{}", r.body);
    assert_eq!(item(&r, "catalog")["status"], 200, "{}", r.body);
    let denied = item(&r, "install");
    assert_eq!(denied["status"], 403, "{denied}");
    assert_eq!(denied["body"]["error"]["code"], "Forbidden", "{denied}");

    // Items carry the batch's token: without one, the batch itself is refused.
    let r = s
        .send(
            Method::POST,
            None,
            "/v1.0/$batch",
            Some(("application/json", batch.to_string().into_bytes())),
            &[],
        )
        .await;
    r.assert_error(401, "InvalidAuthenticationToken");
}

#[tokio::test]
async fn malformed_batches_are_400() {
    let s = Server::start().await;
    let app = s.app_token(ROLLOUT).await;
    let get = |id: &str| json!({"id": id, "method": "GET", "url": "/appCatalogs/teamsApps"});

    // 20 is fine, 21 is not.
    let twenty: Vec<Value> = (1..=20).map(|i| get(&i.to_string())).collect();
    let r = s.post_json(&app, "/v1.0/$batch", &json!({ "requests": twenty })).await;
    assert_eq!(r.body["responses"].as_array().map(Vec::len), Some(20), "{}", r.body);
    for i in 1..=20 {
        assert_eq!(item(&r, &i.to_string())["status"], 200);
    }
    let bodies = [
        json!({"requests": (1..=21).map(|i| get(&i.to_string())).collect::<Vec<_>>()}),
        // Duplicate ids, case-insensitively.
        json!({"requests": [get("x"), get("X")]}),
        // A body without Content-Type.
        json!({"requests": [{"id": "1", "method": "POST",
            "url": format!("/users/{ADELE}/teamwork/installedApps"), "body": {"a": 1}}]}),
        // Unknown dependency.
        json!({"requests": [{"id": "1", "method": "GET", "url": "/appCatalogs/teamsApps",
            "dependsOn": ["2"]}]}),
        // Cycle.
        json!({"requests": [
            {"id": "1", "method": "GET", "url": "/appCatalogs/teamsApps", "dependsOn": ["2"]},
            {"id": "2", "method": "GET", "url": "/appCatalogs/teamsApps", "dependsOn": ["1"]}]}),
        json!({}),
        json!({"requests": {}}),
        json!({"requests": []}),
        json!([]),
        json!({"requests": [{"method": "GET", "url": "/appCatalogs/teamsApps"}]}),
        json!({"requests": [{"id": "1", "url": "/appCatalogs/teamsApps"}]}),
        json!({"requests": [{"id": "1", "method": "GET"}]}),
        json!({"requests": [{"id": 1, "method": "GET", "url": "/appCatalogs/teamsApps"}]}),
        json!({"requests": [{"id": "1", "method": "HEAD", "url": "/appCatalogs/teamsApps"}]}),
        json!({"requests": [{"id": "1", "method": "GET", "url": "/x", "headers": []}]}),
        json!({"requests": [{"id": "1", "method": "GET", "url": "/x", "dependsOn": "2"}]}),
    ];
    for body in &bodies {
        let r = s.post_json(&app, "/v1.0/$batch", body).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_bad_batch(&r);
    }
    // Not JSON at all.
    let r = s
        .send(
            Method::POST,
            Some(&app),
            "/beta/$batch",
            Some(("application/json", b"{".to_vec())),
            &[],
        )
        .await;
    assert_bad_batch(&r);
}

#[tokio::test]
async fn a_batch_never_runs_inside_a_batch_whatever_its_url_says() {
    let s = Server::start().await;
    let app = s.app_token(ROLLOUT).await;
    let inner =
        json!({"requests": [{"id": "in", "method": "GET", "url": "/appCatalogs/teamsApps"}]});
    // Spellings a URL check alone could miss: a fragment, a double slash, an escaped dollar.
    for url in ["/$batch#x", "/$batch?#", "//$batch", "/%24batch", "/$BATCH"] {
        let batch = json!({"requests": [{"id": "nested", "method": "POST", "url": url,
            "headers": {"Content-Type": "application/json"}, "body": inner}]});
        let r = s.post_json(&app, "/v1.0/$batch", &batch).await;
        assert_eq!(r.status, 200, "{url}: {}", r.body);
        let a = item(&r, "nested");
        assert_eq!(a["status"], 400, "{url}: {a}");
        assert_eq!(a["body"]["error"]["code"], "BadRequest", "{url}: {a}");
        assert!(a["body"].get("responses").is_none(), "{url}: the inner batch ran: {a}");
    }
    // A fragment in any item URL is refused, and an id is at most 256 characters.
    let batch =
        json!({"requests": [{"id": "f", "method": "GET", "url": "/appCatalogs/teamsApps#top"}]});
    let a = item(&s.post_json(&app, "/v1.0/$batch", &batch).await, "f").clone();
    assert_eq!(a["status"], 400, "{a}");
    assert!(a["body"]["error"]["message"].as_str().unwrap().contains("fragment"), "{a}");
    let long = "i".repeat(257);
    let batch =
        json!({"requests": [{"id": long, "method": "GET", "url": "/appCatalogs/teamsApps"}]});
    let r = s.post_json(&app, "/v1.0/$batch", &batch).await;
    r.assert_error(400, "BadRequest");
    assert!(r.body.to_string().len() < 1000, "the long id is not echoed back: {}", r.body);
    let ok = json!({"requests": [{"id": "i".repeat(256), "method": "GET", "url": "/appCatalogs/teamsApps?$top=1"}]});
    assert_eq!(s.post_json(&app, "/v1.0/$batch", &ok).await.status, 200);
}

#[tokio::test]
async fn nested_batches_and_absolute_urls_fail_alone() {
    let s = Server::start().await;
    let app = s.app_token(ROLLOUT).await;
    let batch = json!({"requests": [
        {"id": "nested", "method": "POST", "url": "/$batch",
         "headers": {"Content-Type": "application/json"}, "body": {"requests": []}},
        {"id": "absolute", "method": "GET",
         "url": "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps"},
        {"id": "ok", "method": "GET", "url": "/appCatalogs/teamsApps?$top=1",
         "headers": {"client-request-id": "batch-item-crid"}},
        {"id": "unknown", "method": "GET", "url": "/nothing/here"},
    ]});
    let r = s.post_json(&app, "/v1.0/$batch", &batch).await;
    for id in ["nested", "absolute"] {
        let a = item(&r, id);
        assert_eq!(a["status"], 400, "{a}");
        assert_eq!(a["body"]["error"]["code"], "BadRequest", "{a}");
    }
    let ok = item(&r, "ok");
    assert_eq!(ok["status"], 200, "{ok}");
    assert_eq!(ok["headers"]["client-request-id"], "batch-item-crid", "{ok}");
    assert!(ok["body"]["value"].is_array(), "{ok}");
    assert!(item(&r, "unknown")["status"].as_u64().is_some_and(|s| (400..500).contains(&s)));
    // A DELETE that answers 204 has no body.
    let r = s
        .post_json(
            &app,
            "/v1.0/$batch",
            &json!({"requests": [{"id": "1", "method": "DELETE",
                "url": format!("/users/{ADELE}/teamwork/installedApps/bm9uZQ")}]}),
        )
        .await;
    let a = item(&r, "1");
    assert!(a["status"].as_u64().is_some_and(|s| s >= 400), "{a}");
}

/// Writes `config` to a file and starts a server reading it.
async fn with_config(config: Value, extra: &[&str]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.json");
    std::fs::write(&file, config.to_string()).unwrap();
    let mut args = vec!["--config", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    let s = Server::start_args(&args).await;
    drop(dir); // the config was read at start
    s
}

#[tokio::test]
async fn items_are_throttled_one_by_one_with_their_own_retry_after() {
    // Three GETs per window: a batch of eight reads gets exactly three through, the rest 429.
    let s =
        with_config(json!({"throttle": {"limits": {"get": 3}}}), &["--throttle", "graph"]).await;
    let reader = s.app_token(READER).await;
    let users = format!("/users/{ADELE}/teamwork/installedApps");
    let requests: Vec<Value> =
        (0..8).map(|i| json!({"id": i.to_string(), "method": "GET", "url": users})).collect();
    let r = s.post_json(&reader, "/v1.0/$batch", &json!({"requests": requests})).await;
    assert_eq!(r.status, 200, "the batch itself is not a GET: {}", r.body);
    let mut passed = 0;
    for i in 0..8 {
        let a = item(&r, &i.to_string());
        match a["status"].as_u64() {
            Some(200) => passed += 1,
            Some(429) => {
                assert_eq!(a["body"]["error"]["code"], "TooManyRequests", "{a}");
                let retry = a["headers"]["Retry-After"]
                    .as_str()
                    .or_else(|| a["headers"]["retry-after"].as_str())
                    .unwrap_or_else(|| panic!("a throttled item carries Retry-After: {a}"));
                assert!(retry.parse::<f64>().unwrap() > 0.0, "{a}");
            }
            _ => panic!("unexpected item answer {a}"),
        }
    }
    assert_eq!(passed, 3, "{}", r.body);
}

#[tokio::test]
async fn a_faulted_item_fails_alone_and_writes_nothing() {
    let s = with_config(
        json!({"faults": {"rules": [
            {"operations": ["InstallAppForUser"], "rate": 1.0, "statuses": [503]},
        ]}}),
        &[],
    )
    .await;
    let admin = s.admin_token().await;
    let (app_id, _) = setup_app(&s, &admin).await;
    let app = s.app_token(ROLLOUT).await;
    let users = format!("/users/{ADELE}/teamwork/installedApps");
    let batch = json!({"requests": [
        {"id": "install", "method": "POST", "url": users,
         "headers": {"Content-Type": "application/json"}, "body": bind(&app_id)},
        {"id": "team", "method": "POST", "url": format!("/teams/{TEAM}/installedApps"),
         "headers": {"Content-Type": "application/json"}, "body": bind(&app_id)},
        {"id": "after", "dependsOn": ["install"], "method": "GET", "url": users},
    ]});
    let r = s.post_json(&app, "/v1.0/$batch", &batch).await;
    let faulted = item(&r, "install");
    assert_eq!(faulted["status"], 503, "{faulted}");
    assert_eq!(item(&r, "team")["status"], 200, "{}", r.body);
    assert_eq!(item(&r, "after")["status"], 424, "{}", r.body);
    let list = s.get(&app, &format!("/v1.0{users}")).await;
    assert_eq!(list.body["value"], json!([]), "the faulted install wrote nothing: {}", list.body);
}
