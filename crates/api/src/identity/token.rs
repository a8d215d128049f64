//! `POST /{tenant}/oauth2/v2.0/token`: the client credentials and password grants, with the
//! identity platform's success and error shapes (AADSTS codes). The logic is the plain async
//! function [`token_response`]; the axum handler only adds HTTP framing.

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use teamsapps_core::model::{Application, Tenant};
use teamsapps_core::{Store, StoreError};

use super::authority::{
    pairwise_subject, random_uti, unix_now, AccessClaims, Identity, GRAPH_APP_ID, GRAPH_AUDIENCE,
    TOKEN_LIFETIME_SECS,
};
use super::discovery::{base_url, find_tenant};

/// Scopes of OpenID Connect itself: accepted in delegated flows, never put in `scp`.
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// A successful token response (field order as the identity platform writes it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenSuccess {
    pub token_type: &'static str,
    pub expires_in: i64,
    pub ext_expires_in: i64,
    pub access_token: String,
    /// Delegated flows that asked for `openid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// Delegated flows that sent `client_info=1` (MSAL does; it builds its account from this).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_info: Option<String>,
}

/// A refusal of the identity platform: HTTP status, OAuth `error`, AADSTS number and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AadError {
    pub status: StatusCode,
    pub error: &'static str,
    pub code: u32,
    /// The text after `AADSTSnnnn: `, without trace and correlation ids.
    pub message: String,
}

#[derive(Serialize)]
struct AadErrorBody<'a> {
    error: &'a str,
    error_description: String,
    error_codes: [u32; 1],
    timestamp: &'a str,
    trace_id: &'a str,
    correlation_id: &'a str,
    error_uri: String,
}

impl AadError {
    fn new(status: StatusCode, error: &'static str, code: u32, message: impl Into<String>) -> Self {
        AadError { status, error, code, message: message.into() }
    }

    /// AADSTS90002. `error` is `invalid_request` on the token endpoint, `invalid_tenant` on
    /// discovery documents.
    pub fn tenant_not_found(tenant: &str, error: &'static str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            error,
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID \
                 and are signing into the correct cloud."
            ),
        )
    }

    /// The store failed: not the client's fault.
    pub fn server_error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            90033,
            "A transient error has occurred. Please try again.",
        )
    }

    fn missing(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    }

    fn duplicated(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            9000411,
            format!("The request is not properly formatted. The parameter '{name}' is duplicated."),
        )
    }

    fn unsupported_grant(grant_type: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant_type}'."),
        )
    }

    fn unknown_client(client_id: &str, tenant: &Tenant) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'. \
                 This can happen if the application has not been installed by the administrator \
                 of the tenant or consented to by any user in the tenant. You may have sent your \
                 authentication request to the wrong tenant.",
                directory_name(tenant)
            ),
        )
    }

    fn no_client_secret() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or \
             'client_secret'.",
        )
    }

    fn bad_client_secret(app_id: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is \
                 the client secret value, not the client secret ID, for a secret added to app \
                 '{app_id}'."
            ),
        )
    }

    fn bad_user_credentials() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50126,
            "Error validating credentials due to invalid username or password.",
        )
    }

    fn unknown_user(tenant_id: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50034,
            format!(
                "The user account {{EUII Hidden}} does not exist in the {tenant_id} directory. \
                 To sign into this application, the account must be added to the directory."
            ),
        )
    }

    fn client_credentials_scope(scope: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must \
                 have a scope value with /.default suffixed to the resource identifier \
                 (application ID URI)."
            ),
        )
    }

    fn invalid_scope(scope: &str, why: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            format!(
                "The provided request must include a 'scope' input parameter. The provided value \
                 for the input parameter 'scope' is not valid. The scope {scope} is not valid.{why}"
            ),
        )
    }

    fn unknown_resource(resource: &str, tenant: &Tenant) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            500011,
            format!(
                "The resource principal named {resource} was not found in the tenant named {}. \
                 This can happen if the application has not been installed by the administrator \
                 of the tenant or consented to by any user in the tenant. You might have sent \
                 your authentication request to the wrong tenant.",
                directory_name(tenant)
            ),
        )
    }

    fn not_consented(app: &Application) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            65001,
            format!(
                "The user or administrator has not consented to use the application with ID \
                 '{}' named '{}'. Send an interactive authorization request for this user and \
                 resource.",
                app.app_id, app.display_name
            ),
        )
    }

    /// `error_description` as the identity platform writes it.
    pub fn description(&self, trace_id: &str, correlation_id: &str, timestamp: &str) -> String {
        format!(
            "AADSTS{}: {} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: \
             {timestamp}",
            self.code, self.message
        )
    }

    /// The JSON error body; `base` is this server's `{scheme}://{host}` (for `error_uri`).
    pub fn body(
        &self,
        base: &str,
        trace_id: &str,
        correlation_id: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Value {
        let timestamp = now.format("%Y-%m-%d %H:%M:%SZ").to_string();
        let body = AadErrorBody {
            error: self.error,
            error_description: self.description(trace_id, correlation_id, &timestamp),
            error_codes: [self.code],
            timestamp: &timestamp,
            trace_id,
            correlation_id,
            error_uri: format!("{base}/error?code={}", self.code),
        };
        serde_json::to_value(body).unwrap_or(Value::Null)
    }
}

/// The directory name in AADSTS texts: the tenant's display name, else its id.
fn directory_name(tenant: &Tenant) -> &str {
    if tenant.display_name.is_empty() {
        &tenant.id
    } else {
        &tenant.display_name
    }
}

fn store_failure(e: StoreError) -> AadError {
    tracing::error!(error = ?e, "storage failure on the token endpoint");
    AadError::server_error()
}

// --- request parsing ----------------------------------------------------------------------

/// `application/x-www-form-urlencoded` pairs, decoded.
struct Form {
    pairs: Vec<(String, String)>,
}

fn form_decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

impl Form {
    fn parse(body: &[u8]) -> Form {
        let text = String::from_utf8_lossy(body);
        let pairs = text
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (form_decode(k), form_decode(v)),
                None => (form_decode(p), String::new()),
            })
            .collect();
        Form { pairs }
    }

    /// The parameter's value (not trimmed: secrets are compared as sent); empty counts as
    /// absent; a repeated parameter is refused.
    fn get(&self, name: &str) -> Result<Option<&str>, AadError> {
        let mut found = None;
        for (k, v) in &self.pairs {
            if k == name {
                if found.is_some() {
                    return Err(AadError::duplicated(name));
                }
                found = Some(v.as_str());
            }
        }
        Ok(found.filter(|v| !v.is_empty()))
    }

    fn required(&self, name: &str) -> Result<&str, AadError> {
        self.get(name)?.ok_or_else(|| AadError::missing(name))
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(rest.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id), form_decode(secret)))
}

/// Equality that takes the same time wherever the texts differ.
fn secrets_match(presented: &str, expected: &str) -> bool {
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0 && !expected.is_empty()
}

/// What one requested scope names.
enum ScopeItem {
    /// `openid`, `profile`, `email`, `offline_access`.
    Oidc,
    GraphDefault,
    /// A Graph delegated permission (`X` or `https://graph.microsoft.com/X`).
    Graph(String),
    /// A scope of another resource.
    Other {
        resource: String,
        default: bool,
    },
    Malformed,
}

fn is_graph_resource(resource: &str) -> bool {
    let r = resource.trim_end_matches('/');
    r.eq_ignore_ascii_case(GRAPH_AUDIENCE) || r.eq_ignore_ascii_case(GRAPH_APP_ID)
}

fn classify_scope(scope: &str) -> ScopeItem {
    if OIDC_SCOPES.iter().any(|o| o.eq_ignore_ascii_case(scope)) {
        return ScopeItem::Oidc;
    }
    let split = match scope.find("://") {
        // URI form: the permission is the last path segment; the resource is what precedes it.
        Some(i) => {
            let host_end = i + 3;
            match scope[host_end..].find('/') {
                None => return ScopeItem::Malformed,
                Some(_) => scope.rfind('/').map(|j| (&scope[..j], &scope[j + 1..])),
            }
        }
        None => scope.rfind('/').map(|j| (&scope[..j], &scope[j + 1..])),
    };
    let (resource, permission) = match split {
        Some((r, p)) => (Some(r), p),
        None => (None, scope),
    };
    if permission.is_empty() || resource.is_some_and(|r| r.trim_end_matches('/').is_empty()) {
        return ScopeItem::Malformed;
    }
    let default = permission.eq_ignore_ascii_case(".default");
    match resource {
        Some(r) if !is_graph_resource(r) => {
            ScopeItem::Other { resource: r.trim_end_matches('/').to_string(), default }
        }
        _ if default => ScopeItem::GraphDefault,
        _ => ScopeItem::Graph(permission.to_string()),
    }
}

/// The app's delegated permissions, sorted case-insensitively, without duplicates.
fn all_delegated(app: &Application) -> Vec<String> {
    let mut perms: Vec<String> = Vec::new();
    for p in &app.delegated_permissions {
        if !perms.iter().any(|q| q.eq_ignore_ascii_case(p)) {
            perms.push(p.clone());
        }
    }
    perms.sort_by(|a, b| a.to_ascii_lowercase().cmp(&b.to_ascii_lowercase()).then(a.cmp(b)));
    perms
}

// --- grants -------------------------------------------------------------------------------

/// The token endpoint's logic. `base` is this server's `{scheme}://{host}` (issuer of id tokens),
/// `tenant` the path segment, `body` the raw request body.
pub async fn token_response(
    identity: &Identity,
    store: &dyn Store,
    base: &str,
    tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<TokenSuccess, AadError> {
    let tenant = find_tenant(store, tenant)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| AadError::tenant_not_found(tenant, "invalid_request"))?;
    // Anything but a form is a body without parameters, as the identity platform reads it.
    let form = if is_form(headers) { Form::parse(body) } else { Form { pairs: Vec::new() } };
    let grant_type = form.required("grant_type")?;
    let basic = basic_credentials(headers);
    match grant_type {
        "client_credentials" => client_credentials(identity, store, &tenant, &form, basic).await,
        "password" => password(identity, store, base, &tenant, &form, basic).await,
        other => Err(AadError::unsupported_grant(other)),
    }
}

/// The client's id (body or Basic header) and every secret it presented.
fn client_id_and_secrets(
    form: &Form,
    basic: Option<(String, String)>,
) -> Result<(String, Vec<String>), AadError> {
    let body_id = form.get("client_id")?.map(str::to_string);
    let body_secret = form.get("client_secret")?.map(str::to_string);
    let (basic_id, basic_secret) = match basic {
        Some((id, secret)) => (Some(id).filter(|s| !s.is_empty()), Some(secret)),
        None => (None, None),
    };
    let client_id =
        body_id.clone().or(basic_id.clone()).ok_or_else(|| AadError::missing("client_id"))?;
    let mut secrets: Vec<String> = body_secret.into_iter().collect();
    if let Some(secret) = basic_secret.filter(|s| !s.is_empty()) {
        // A Basic header for another client than the body names cannot authenticate this one.
        if basic_id.as_deref().is_some_and(|id| id != client_id) {
            secrets.push(String::new());
        } else {
            secrets.push(secret);
        }
    }
    Ok((client_id, secrets))
}

/// The scope parameter; v1-style `resource` stands for `{resource}/.default`.
fn scope_parameter(form: &Form) -> Result<String, AadError> {
    if let Some(scope) = form.get("scope")? {
        return Ok(scope.to_string());
    }
    match form.get("resource")? {
        Some(resource) => Ok(format!("{}/.default", resource.trim_end_matches('/'))),
        None => Err(AadError::missing("scope")),
    }
}

async fn find_application(
    store: &dyn Store,
    tenant: &Tenant,
    client_id: &str,
) -> Result<Application, AadError> {
    let app = match store.application(&tenant.id, client_id).await.map_err(store_failure)? {
        Some(app) => Some(app),
        None if client_id.to_ascii_lowercase() != client_id => store
            .application(&tenant.id, &client_id.to_ascii_lowercase())
            .await
            .map_err(store_failure)?,
        None => None,
    };
    app.ok_or_else(|| AadError::unknown_client(client_id, tenant))
}

fn issue(identity: &Identity, claims: &AccessClaims) -> Result<String, AadError> {
    identity.issue(claims).map_err(|e| {
        tracing::error!(error = ?e, "signing an access token failed");
        AadError::server_error()
    })
}

fn success(access_token: String) -> TokenSuccess {
    TokenSuccess {
        token_type: "Bearer",
        expires_in: TOKEN_LIFETIME_SECS,
        ext_expires_in: TOKEN_LIFETIME_SECS,
        access_token,
        id_token: None,
        client_info: None,
    }
}

async fn client_credentials(
    identity: &Identity,
    store: &dyn Store,
    tenant: &Tenant,
    form: &Form,
    basic: Option<(String, String)>,
) -> Result<TokenSuccess, AadError> {
    let (client_id, secrets) = client_id_and_secrets(form, basic)?;
    let scope = scope_parameter(form)?;
    let app = find_application(store, tenant, &client_id).await?;
    if secrets.is_empty() {
        return Err(AadError::no_client_secret());
    }
    if !secrets.iter().all(|s| secrets_match(s, &app.client_secret)) {
        return Err(AadError::bad_client_secret(&app.app_id));
    }
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    if scopes.is_empty() {
        return Err(AadError::missing("scope"));
    }
    for s in &scopes {
        match classify_scope(s) {
            ScopeItem::GraphDefault => {}
            ScopeItem::Oidc | ScopeItem::Graph(_) | ScopeItem::Other { default: false, .. } => {
                return Err(AadError::client_credentials_scope(s))
            }
            ScopeItem::Other { resource, default: true } => {
                return Err(AadError::unknown_resource(&resource, tenant))
            }
            ScopeItem::Malformed => {
                return Err(AadError::invalid_scope(
                    s,
                    " The scope format is invalid. Scope must be in a valid URI form \
                     <https://example/scope> or a valid Guid <guid/scope>.",
                ))
            }
        }
    }
    let claims = AccessClaims::application(&tenant.id, &app, unix_now());
    Ok(success(issue(identity, &claims)?))
}

async fn password(
    identity: &Identity,
    store: &dyn Store,
    base: &str,
    tenant: &Tenant,
    form: &Form,
    basic: Option<(String, String)>,
) -> Result<TokenSuccess, AadError> {
    let (client_id, secrets) = client_id_and_secrets(form, basic)?;
    let username = form.required("username")?;
    let password = form.required("password")?;
    let scope = scope_parameter(form)?;
    let app = find_application(store, tenant, &client_id).await?;
    // A public client sends no secret; a secret that is sent must be right.
    if !secrets.iter().all(|s| secrets_match(s, &app.client_secret)) {
        return Err(AadError::bad_client_secret(&app.app_id));
    }

    let mut wants_default = false;
    let mut wants_openid = false;
    let mut specific: Vec<String> = Vec::new();
    for s in scope.split_whitespace() {
        match classify_scope(s) {
            ScopeItem::Oidc => wants_openid |= s.eq_ignore_ascii_case("openid"),
            ScopeItem::GraphDefault => wants_default = true,
            ScopeItem::Graph(p) => specific.push(p),
            ScopeItem::Other { resource, .. } => {
                return Err(AadError::unknown_resource(&resource, tenant))
            }
            ScopeItem::Malformed => {
                return Err(AadError::invalid_scope(
                    s,
                    " The scope format is invalid. Scope must be in a valid URI form \
                     <https://example/scope> or a valid Guid <guid/scope>.",
                ))
            }
        }
    }
    if wants_default && !specific.is_empty() {
        return Err(AadError::invalid_scope(
            &scope,
            " The .default scope can't be combined with resource-specific scopes.",
        ));
    }

    let user = store.user(&tenant.id, username).await.map_err(store_failure)?;
    // As Entra: an unknown account is AADSTS50034, a known one with a wrong password 50126.
    let user = match user {
        Some(u) if u.user_principal_name.eq_ignore_ascii_case(username) => u,
        _ => return Err(AadError::unknown_user(&tenant.id)),
    };
    if !user.password.as_deref().is_some_and(|p| secrets_match(password, p)) {
        return Err(AadError::bad_user_credentials());
    }

    let granted = all_delegated(&app);
    if specific.iter().any(|p| !granted.iter().any(|g| g.eq_ignore_ascii_case(p))) {
        return Err(AadError::not_consented(&app));
    }

    let now = unix_now();
    let claims = AccessClaims::delegated(&tenant.id, &app, &user, granted.join(" "), now);
    let mut result = success(issue(identity, &claims)?);
    if wants_openid {
        let id_claims = json!({
            "aud": app.app_id,
            "iss": format!("{base}/{}/v2.0", tenant.id),
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME_SECS,
            "name": user.display_name,
            "oid": user.id,
            "preferred_username": user.user_principal_name,
            "sub": pairwise_subject(&tenant.id, &app.app_id, &user.id),
            "tid": tenant.id,
            "uti": random_uti(),
            "ver": "2.0",
        });
        result.id_token = Some(identity.sign(&id_claims).map_err(|e| {
            tracing::error!(error = ?e, "signing an id token failed");
            AadError::server_error()
        })?);
    }
    if form.get("client_info")? == Some("1") {
        let info = json!({ "uid": user.id, "utid": tenant.id }).to_string();
        result.client_info = Some(URL_SAFE_NO_PAD.encode(info));
    }
    Ok(result)
}

// --- HTTP ---------------------------------------------------------------------------------

/// The client's `client-request-id` when it is a GUID (the identity platform echoes it as the
/// correlation id).
pub(super) fn client_request_id(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("client-request-id")?.to_str().ok()?.trim();
    uuid::Uuid::parse_str(v).ok().map(|u| u.to_string())
}

pub(super) fn json_response(
    status: StatusCode,
    body: String,
    trace_id: &str,
    correlation_id: &str,
) -> Response {
    let mut res = (status, body).into_response();
    let h = res.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json; charset=utf-8"));
    h.insert("cache-control", HeaderValue::from_static("no-store"));
    h.insert("pragma", HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(trace_id) {
        h.insert("x-ms-request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(correlation_id) {
        h.insert("client-request-id", v);
    }
    res
}

/// Renders an identity-platform error (also used by the discovery endpoints).
pub fn error_response(err: &AadError, headers: &HeaderMap, uri: &Uri) -> Response {
    let trace_id = uuid::Uuid::new_v4().to_string();
    let correlation_id =
        client_request_id(headers).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    tracing::info!(path = %uri.path(), status = err.status.as_u16(), error = err.error,
        code = err.code, %trace_id, "identity request refused");
    let body = err.body(&base_url(headers, uri), &trace_id, &correlation_id, chrono::Utc::now());
    json_response(err.status, body.to_string(), &trace_id, &correlation_id)
}
