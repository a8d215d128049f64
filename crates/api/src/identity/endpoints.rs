//! The identity endpoints' HTTP framing: the token endpoint, OpenID Connect discovery, the JWKS
//! and home realm discovery, over [`Endpoints`].

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use teamsapps_core::model::Tenant;

use super::authority::{token_issuer, Endpoints};
use super::discovery::{
    base_url, find_tenant, openid_configuration_v1_document, openid_configuration_v2_document,
};
use super::token::{client_request_id, error_response, json_response, token_response, AadError};

pub async fn token_endpoint(
    State(state): State<Endpoints>,
    Path(tenant): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let base = base_url(&headers, &uri);
    let outcome =
        token_response(&state.identity, state.store.as_ref(), &base, &tenant, &headers, &body)
            .await;
    match outcome {
        Ok(success) => {
            let trace_id = uuid::Uuid::new_v4().to_string();
            let correlation_id =
                client_request_id(&headers).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let body = serde_json::to_string(&success).unwrap_or_default();
            json_response(StatusCode::OK, body, &trace_id, &correlation_id)
        }
        Err(err) => error_response(&err, &headers, &uri),
    }
}

/// A discovery document: cacheable, readable cross-origin (browser clients fetch it).
fn document_response(body: &Value) -> Response {
    let mut res = (StatusCode::OK, body.to_string()).into_response();
    let h = res.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json; charset=utf-8"));
    h.insert("cache-control", HeaderValue::from_static("max-age=86400, private"));
    h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    res
}

/// Resolves the tenant of a discovery request, or the 400 AADSTS90002 response.
async fn tenant_or_error(
    state: &Endpoints,
    tenant: &str,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<Tenant, Response> {
    match find_tenant(state.store.as_ref(), tenant).await {
        Ok(Some(t)) => Ok(t),
        Ok(None) => {
            Err(error_response(&AadError::tenant_not_found(tenant, "invalid_tenant"), headers, uri))
        }
        Err(e) => {
            tracing::error!(error = ?e, "storage failure in discovery");
            Err(error_response(&AadError::server_error(), headers, uri))
        }
    }
}

pub async fn openid_configuration_v2(
    State(state): State<Endpoints>,
    Path(tenant): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    match tenant_or_error(&state, &tenant, &headers, &uri).await {
        Ok(t) => {
            document_response(&openid_configuration_v2_document(&base_url(&headers, &uri), &t.id))
        }
        Err(res) => res,
    }
}

pub async fn openid_configuration_v1(
    State(state): State<Endpoints>,
    Path(tenant): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    match tenant_or_error(&state, &tenant, &headers, &uri).await {
        Ok(t) => {
            document_response(&openid_configuration_v1_document(&base_url(&headers, &uri), &t.id))
        }
        Err(res) => res,
    }
}

pub async fn keys_v2(
    State(state): State<Endpoints>,
    Path(tenant): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    match tenant_or_error(&state, &tenant, &headers, &uri).await {
        Ok(t) => {
            let issuer = format!("{}/{}/v2.0", base_url(&headers, &uri), t.id);
            document_response(&state.identity.jwks_with_issuer(&issuer))
        }
        Err(res) => res,
    }
}

pub async fn keys_v1(
    State(state): State<Endpoints>,
    Path(tenant): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    match tenant_or_error(&state, &tenant, &headers, &uri).await {
        Ok(t) => document_response(&state.identity.jwks_with_issuer(&token_issuer(&t.id))),
        Err(res) => res,
    }
}

/// Home realm discovery (MSAL calls it before the password grant): every account is managed.
pub async fn user_realm(Path(username): Path<String>) -> Response {
    let domain = username.rsplit_once('@').map(|(_, d)| d).unwrap_or("").to_string();
    document_response(&json!({
        "ver": "1.0",
        "account_type": "Managed",
        "domain_name": domain,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_audience_urn": "urn:federation:MicrosoftOnline",
    }))
}
