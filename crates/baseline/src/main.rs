//! `teamsapps-baseline [ADDR]`: the bare baseline of `bench/perf.sh`.
//!
//! An axum server on the same tokio runtime settings as `teamsapps serve` (the default
//! multi-thread runtime: one worker per core the process may run on), answering the paths
//! the benchmark measures with the status codes teamsapps gives and a small fixed body, doing
//! no work: no store, no token check, no JSON building. Whatever teamsapps costs beyond
//! this is its own. Prints `listening on http://HOST:PORT` like teamsapps.

use std::io::Write;

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;

const JSON: (header::HeaderName, &str) = (header::CONTENT_TYPE, "application/json");

const INSTALLATION: &str = r#"{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users('u')/teamwork/installedApps/$entity","id":"dXNlcg==","consentedPermissionSet":null}"#;

const TOKEN: &str = r#"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl"}"#;

// The body of a list: 20 small entries, so the baseline writes a comparable number of bytes.
fn list_body() -> Bytes {
    let entry = r#"{"id":"dXNlcg==","consentedPermissionSet":null,"teamsAppDefinition":{"id":"ZGVm","teamsAppId":"a","displayName":"Bench","version":"1.0.0"}}"#;
    let entries = vec![entry; 20].join(",");
    Bytes::from(format!(
        r#"{{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users('u')/teamwork/installedApps(teamsAppDefinition())","value":[{entries}]}}"#
    ))
}

fn router() -> Router {
    let list = list_body();
    Router::new()
        .route(
            "/{tenant}/oauth2/v2.0/token",
            post(|_body: Bytes| async { (StatusCode::OK, [JSON], TOKEN) }),
        )
        .route(
            "/{version}/users/{user}/teamwork/installedApps",
            get(move || async move { (StatusCode::OK, [JSON], list.clone()) })
                .post(|_body: Bytes| async { (StatusCode::CREATED, [JSON], INSTALLATION) }),
        )
        .route(
            "/{version}/users/{user}/teamwork/installedApps/{installation}",
            get(|| async { (StatusCode::OK, [JSON], INSTALLATION) }),
        )
        .route(
            "/{version}/users/{user}/teamwork/installedApps/{installation}/upgrade",
            post(|_body: Bytes| async { StatusCode::NO_CONTENT.into_response() }),
        )
}

fn main() -> anyhow::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".to_string());
    // The same builder call as teamsapps' main.rs: the runtime settings are part of what is
    // compared.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        let local = listener.local_addr()?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "listening on http://{local}")?;
            out.flush()?;
        }
        axum::serve(listener, router()).await?;
        Ok(())
    })
}
