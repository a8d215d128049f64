//! Health and readiness for load balancers and container health checks, outside the Graph
//! paths and without a token: `/_teamsapps/health` says the process answers HTTP,
//! `/_teamsapps/ready` that it can serve Graph requests (the store answers a read).

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::state::AppState;

/// How long the store may take to answer the readiness read before the node counts as not
/// ready; well under the probe intervals load balancers use.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// A tenant id no fixture uses: the read is an indexed miss, the cheapest the store can do.
const PROBE_TENANT: &str = "00000000-0000-0000-0000-000000000000";

pub fn router() -> Router<AppState> {
    Router::new().route("/_teamsapps/health", get(health)).route("/_teamsapps/ready", get(ready))
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    // Probes must see the state of now, never a cached answer.
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// 200 whenever the process answers HTTP: it checks nothing else on purpose, so that a
/// restart is triggered by a hung process, not by a database outage.
async fn health() -> Response {
    answer(StatusCode::OK, json!({"status": "ok"}))
}

/// 200 when the store answers a read within [`READY_TIMEOUT`] (the router exists only after
/// migrations and the seed are applied), 503 with the reason otherwise.
async fn ready(State(state): State<AppState>) -> Response {
    let not_ready = |reason: String| {
        tracing::warn!(%reason, "not ready");
        answer(StatusCode::SERVICE_UNAVAILABLE, json!({"status": "unavailable", "reason": reason}))
    };
    match tokio::time::timeout(READY_TIMEOUT, state.store.tenant(PROBE_TENANT)).await {
        Ok(Ok(_)) => answer(StatusCode::OK, json!({"status": "ready"})),
        Ok(Err(e)) => not_ready(format!("the store did not answer a read: {}", chain(&e))),
        Err(_) => not_ready(format!(
            "the store did not answer a read within {} s",
            READY_TIMEOUT.as_secs()
        )),
    }
}

/// An error with its causes, each once: the database's own words are often only in the last.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}
