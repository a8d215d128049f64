//! The test controls under `/_teamsapps/`: reset to the seed, snapshots, runtime settings and the
//! request log, all behind the node's admin key.

use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use teamsapps_wire::error::ErrorCode;

use crate::error::ApiError;
use crate::settings::Settings;
use crate::state::AppState;

fn check_key(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    let ok = match (&state.config.admin_key, given) {
        (Some(key), Some(given)) => {
            key.len() == given.len()
                && key.bytes().zip(given.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidAuthenticationToken,
            "The admin key is missing or wrong: send 'Authorization: Bearer <admin key>' (the key \
             teamsapps printed at start, or set with --admin-key / TEAMSAPPS_ADMIN_KEY).",
        ))
    }
}

fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && !name.starts_with("__");
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "'{name}' is not a valid snapshot name: use 1 to 100 letters, digits, '.', '_' or '-', \
             not starting with '__'."
        )))
    }
}

fn ms(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

/// Puts the store back to the seed state: the snapshot taken of it the first time, or (the
/// first time) an empty store with the start fixture applied.
pub async fn reset_store(state: &AppState) -> anyhow::Result<()> {
    let store = state.store.as_ref();
    let seed = state.config.seed.as_deref();
    let name = format!("__teamsapps_seed_{}", seed.map(|s| s.digest.as_str()).unwrap_or("empty"));
    if store.restore_snapshot(&name).await? {
        return Ok(());
    }
    store.wipe().await?;
    if let Some(seed) = seed {
        teamsapps_core::fixture::apply(store, &seed.fixture).await?;
    }
    store.save_snapshot(&name).await?;
    Ok(())
}

async fn reset(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = check_key(&state, &headers) {
        return e.into_response();
    }
    let started = Instant::now();
    match reset_store(&state).await {
        Ok(()) => {
            state.admission.refill();
            state.identity.forget_verified_tokens();
            Json(json!({"reset": true, "elapsedMs": ms(started)})).into_response()
        }
        Err(e) => internal(e),
    }
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "test control failed");
    ApiError::new(ErrorCode::InternalServerError, format!("The test control failed: {e}"))
        .into_response()
}

async fn take_snapshot(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = check_key(&state, &headers).and_then(|()| check_name(&name)) {
        return e.into_response();
    }
    let started = Instant::now();
    match state.store.save_snapshot(&name).await {
        Ok(()) => (
            axum::http::StatusCode::CREATED,
            Json(json!({"snapshot": name, "elapsedMs": ms(started)})),
        )
            .into_response(),
        Err(e) => internal(e),
    }
}

async fn restore_snapshot(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = check_key(&state, &headers).and_then(|()| check_name(&name)) {
        return e.into_response();
    }
    let started = Instant::now();
    match state.store.restore_snapshot(&name).await {
        Ok(true) => {
            state.identity.forget_verified_tokens();
            Json(json!({"restored": name, "elapsedMs": ms(started)})).into_response()
        }
        Ok(false) => {
            ApiError::not_found(format!("There is no snapshot named '{name}'.")).into_response()
        }
        Err(e) => internal(e),
    }
}

async fn get_settings(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = check_key(&state, &headers) {
        return e.into_response();
    }
    Json(state.admission.settings()).into_response()
}

async fn put_settings(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(e) = check_key(&state, &headers) {
        return e.into_response();
    }
    let parsed = serde_json::from_slice::<Settings>(&body)
        .map_err(anyhow::Error::from)
        .and_then(|s| s.validate().map(|()| s));
    match parsed {
        Ok(settings) => {
            state.admission.set_settings(settings);
            Json(state.admission.settings()).into_response()
        }
        Err(e) => {
            ApiError::bad_request(format!("The settings are not valid: {e}.")).into_response()
        }
    }
}

async fn get_requests(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = check_key(&state, &headers) {
        return e.into_response();
    }
    Json(json!({"value": state.request_log.to_json()})).into_response()
}

async fn clear_requests(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = check_key(&state, &headers) {
        return e.into_response();
    }
    state.request_log.clear();
    axum::http::StatusCode::NO_CONTENT.into_response()
}

/// The test controls: `/_teamsapps/…`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/_teamsapps/reset", post(reset))
        .route("/_teamsapps/snapshots/{name}", post(take_snapshot))
        .route("/_teamsapps/snapshots/{name}/restore", post(restore_snapshot))
        .route("/_teamsapps/settings", get(get_settings).put(put_settings))
        .route("/_teamsapps/requests", get(get_requests).delete(clear_requests))
}
