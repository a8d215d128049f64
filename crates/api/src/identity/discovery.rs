//! OpenID Connect discovery, the JWKS and home realm discovery, in the identity platform's shapes.
//! URLs in these documents point back at this server: scheme and host come from the request.

use axum::http::{HeaderMap, Uri};
use serde_json::{json, Value};
use teamsapps_core::model::Tenant;
use teamsapps_core::{Store, StoreError};

use super::authority::token_issuer;

/// The scheme clients reach this server with: `X-Forwarded-Proto` when a proxy (or the TLS
/// listener, which may simply set that header) says `https`/`http`, else the request URI's own
/// scheme (HTTP/2), else `http`. Change here when the server learns its scheme another way.
pub fn request_scheme(headers: &HeaderMap, uri: &Uri) -> &'static str {
    let forwarded = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_ascii_lowercase());
    match forwarded.as_deref() {
        Some("https") => return "https",
        Some("http") => return "http",
        _ => {}
    }
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    }
}

/// `{scheme}://{host}` of the request (`Host` header, else the URI's authority, else `localhost`).
pub fn base_url(headers: &HeaderMap, uri: &Uri) -> String {
    let sane = |h: &str| {
        !h.is_empty()
            && h.len() <= 255
            && h.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._:[]".contains(&b))
    };
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|h| sane(h))
        .map(str::to_string)
        .or_else(|| uri.authority().map(|a| a.as_str().to_string()).filter(|h| sane(h)))
        .unwrap_or_else(|| "localhost".to_string());
    format!("{}://{}", request_scheme(headers, uri), host)
}

/// The tenant named by a path segment: its id as stored, or lowercased.
pub async fn find_tenant(store: &dyn Store, segment: &str) -> Result<Option<Tenant>, StoreError> {
    if segment.is_empty() {
        return Ok(None);
    }
    if let Some(t) = store.tenant(segment).await? {
        return Ok(Some(t));
    }
    let lower = segment.to_ascii_lowercase();
    if lower != segment {
        return store.tenant(&lower).await;
    }
    Ok(None)
}

/// The v2.0 OpenID Provider metadata of a tenant.
pub fn openid_configuration_v2_document(base: &str, tenant_id: &str) -> Value {
    let root = format!("{base}/{tenant_id}");
    json!({
        "token_endpoint": format!("{root}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "jwks_uri": format!("{root}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{root}/v2.0"),
        "request_uri_parameter_supported": false,
        "authorization_endpoint": format!("{root}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{root}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{root}/oauth2/v2.0/logout"),
        "claims_supported": [
            "sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
            "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr",
            "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"
        ],
        "kerberos_endpoint": format!("{root}/kerberos"),
        "tenant_region_scope": null,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
    })
}

/// The v1 metadata: its issuer is the `iss` of the access tokens Graph receives, so resource
/// servers validating our tokens by discovery find the right issuer and keys here.
pub fn openid_configuration_v1_document(base: &str, tenant_id: &str) -> Value {
    let root = format!("{base}/{tenant_id}");
    json!({
        "token_endpoint": format!("{root}/oauth2/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "jwks_uri": format!("{root}/discovery/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
        "scopes_supported": ["openid"],
        "issuer": token_issuer(tenant_id),
        "microsoft_multi_refresh_token": true,
        "authorization_endpoint": format!("{root}/oauth2/authorize"),
        "device_authorization_endpoint": format!("{root}/oauth2/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{root}/oauth2/logout"),
        "claims_supported": [
            "sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
            "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr",
            "amr", "nonce", "email", "given_name", "family_name", "nickname"
        ],
        "check_session_iframe": format!("{root}/oauth2/checksession"),
        "userinfo_endpoint": format!("{root}/openid/userinfo"),
        "kerberos_endpoint": format!("{root}/kerberos"),
        "tenant_region_scope": null,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
    })
}
