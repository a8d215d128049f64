//! `GET /openapi.json`: served without authentication, and every operation it lists is routed
//! by the running server under both versions, with no other method on those paths. (That the
//! document lists every route is checked against the router's table in the api crate; that
//! real answers match it is scripts/schemathesis.sh's job.)

use crate::common::*;
use serde_json::Value;

async fn document(s: &Server) -> Value {
    let res = s.client.get(s.url("/openapi.json")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let ct = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("application/json"), "{ct}");
    res.json().await.unwrap()
}

/// A concrete URL path for a templated one: placeholders become plausible ids.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| match seg {
            "{user}" => ADELE.to_string(),
            "{chat}" => enc(CHAT),
            "{team}" => TEAM.to_string(),
            s if s.starts_with('{') => "aWQ".to_string(),
            s => s.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn the_document_is_served_without_authentication() {
    let s = Server::start().await;
    let doc = document(&s).await;
    assert_eq!(doc["openapi"], "3.0.3");
    let servers: Vec<&str> =
        doc["servers"].as_array().unwrap().iter().map(|v| v["url"].as_str().unwrap()).collect();
    assert_eq!(servers, ["/v1.0", "/beta"]);
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    // The Graph error envelope is what every error response carries.
    let err = &doc["components"]["responses"]["error404"]["content"]["application/json"];
    assert_eq!(err["schema"]["$ref"], "#/components/schemas/ODataError");
    assert_eq!(doc["components"]["schemas"]["ODataError"]["required"][0], "error");
    // A bad token does not matter either.
    let res = s.client.get(s.url("/openapi.json")).bearer_auth("nonsense").send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_nothing_else_on_its_path() {
    let s = Server::start().await;
    let doc = document(&s).await;
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(
        paths
            .values()
            .map(|item| item.as_object().unwrap().keys().filter(|k| *k != "servers").count())
            .sum::<usize>(),
        83,
        "the operations we implement (spec 3 and 4 with their aliases, the directory reads, teamsAppSettings, permissionGrants, the beta icons, and $batch)"
    );
    for (path, item) in paths {
        let documented: Vec<String> = item
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k != "servers")
            .map(|m| m.to_ascii_uppercase())
            .collect();
        // A path served only under beta says so; v1.0 does not have it (400, as Graph).
        let beta_only = item.get("servers").is_some();
        if beta_only {
            assert_eq!(item["servers"][0]["url"], "/beta", "{path}");
            let url = s.url(&format!("/v1.0{}", concrete(path)));
            let res = s.client.get(&url).send().await.unwrap();
            assert_eq!(res.status(), 400, "GET {url}");
        }
        for version in ["/v1.0", "/beta"].into_iter().filter(|v| !beta_only || *v == "/beta") {
            let url = s.url(&format!("{version}{}", concrete(path)));
            for method in ["GET", "POST", "PATCH", "DELETE", "PUT"] {
                let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
                let res = s.client.request(m, &url).send().await.unwrap();
                let status = res.status().as_u16();
                let body: Value = res.json().await.unwrap_or(Value::Null);
                if documented.iter().any(|d| d == method) {
                    // Routed to its handler, which wants a token first.
                    assert_eq!(status, 401, "{method} {url}: {body}");
                    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken", "{body}");
                } else {
                    assert_eq!(status, 405, "{method} {url} is not documented: {body}");
                }
            }
        }
    }
}
