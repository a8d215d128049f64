//! Request extraction: the authorized caller (`Auth`), the API version, and request bodies, each failing
//! with a Graph error that says what is wrong.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use serde_json::Value;
use teamsapps_core::model::{PermissionType, ResourceSpecificPermission};
use teamsapps_core::permissions::{authorize, Authorized, Operation};
use teamsapps_wire::error::ErrorCode;

use crate::error::{ApiError, ApiResult};
use crate::request_log::CallerSlot;
use crate::state::AppState;

/// The caller of a Graph operation, authenticated and authorized for it. In this order (spec
/// 5.7, 8.2): the token (401), the configured national cloud (400), throttling and injected
/// faults (429/5xx), then the operation's permissions (403). Extractors run before the body is
/// read, so a refused request is never parsed, and nothing is written.
pub struct Auth(pub Authorized);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // The router marks every operation's route with its operation.
        let Some(&op) = parts.extensions.get::<Operation>() else {
            return Err(teamsapps_core::CoreError::Internal(format!(
                "no operation is bound to {}",
                parts.uri.path()
            ))
            .into());
        };
        let span = tracing::Span::current();
        span.record("operation", tracing::field::display(op.name()));
        let principal = state.identity.authenticate(state.store.as_ref(), &parts.headers).await?;
        span.record("tenant", tracing::field::display(&principal.tenant_id));
        span.record("app", tracing::field::display(&principal.app_id));
        state.config.cloud.check(op, principal.is_delegated())?;
        let slot = parts.extensions.get::<CallerSlot>();
        if let Some(slot) = slot {
            slot.update(|c| {
                c.principal = Some(principal.clone());
                c.operation = Some(op);
            });
        }
        let admitted =
            state.admission.admit(&parts.method, parts.uri.path(), Some(op), &principal).await;
        if let Err((error, refusal)) = admitted {
            if let Some(slot) = slot {
                slot.update(|c| c.injected = Some(refusal.as_str()));
            }
            return Err(error);
        }
        Ok(Auth(authorize(op, principal)?))
    }
}

/// The raw query string (still percent-encoded), for the OData parser.
pub struct RawQuery(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RawQuery {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(RawQuery(parts.uri.query().unwrap_or_default().to_string()))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for RawQuery {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.uri.query().map(|q| RawQuery(q.to_string())))
    }
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
}

/// The raw body, or the Graph error for a body that could not be read (413 when it is larger
/// than the server's body limit).
pub fn body_bytes(
    body: Result<bytes::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<bytes::Bytes> {
    body.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ErrorCode::RequestEntityTooLarge,
                "The request body is larger than the server accepts.",
            )
        } else {
            ApiError::bad_request(format!("The request body could not be read: {e}."))
        }
    })
}

/// A JSON body, or `None` when there is none. A non-empty body must be declared JSON and fit
/// `max` bytes.
pub fn json_body(headers: &HeaderMap, body: &[u8], max: usize) -> ApiResult<Option<Value>> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(None);
    }
    if body.len() > max {
        return Err(ApiError::new(
            ErrorCode::RequestEntityTooLarge,
            format!(
                "The request body is {} bytes; JSON bodies may be at most {max} bytes.",
                body.len()
            ),
        ));
    }
    match content_type(headers).as_deref() {
        Some("application/json") => {}
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                format!("Content-Type '{other}' is not supported here; send application/json."),
            ))
        }
        None => {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "A request body needs Content-Type: application/json.",
            ))
        }
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| ApiError::bad_request(format!("The request body is not valid JSON: {e}.")))
}

/// The bytes of an app package: `Content-Type: application/zip`, non-empty, within `max`.
pub fn zip_body<'a>(headers: &HeaderMap, body: &'a [u8], max: usize) -> ApiResult<&'a [u8]> {
    match content_type(headers).as_deref() {
        Some("application/zip") | Some("application/x-zip-compressed") => {}
        other => {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                format!(
                "Content-Type '{}' is not supported; upload the app package as application/zip.",
                other.unwrap_or("none")
            ),
            ))
        }
    }
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "The request body is empty; send the app package (a zip file).",
        ));
    }
    if body.len() > max {
        return Err(ApiError::new(
            ErrorCode::RequestEntityTooLarge,
            format!(
                "The app package is {} bytes; packages may be at most {max} bytes.",
                body.len()
            ),
        ));
    }
    Ok(body)
}

fn object<'a>(value: &'a Value, what: &str) -> ApiResult<&'a serde_json::Map<String, Value>> {
    value.as_object().ok_or_else(|| ApiError::bad_request(format!("{what} must be a JSON object.")))
}

fn refuse_unknown(
    obj: &serde_json::Map<String, Value>,
    allowed: &[&str],
    type_name: &str,
) -> ApiResult<()> {
    for key in obj.keys() {
        if !allowed.iter().any(|a| a.eq_ignore_ascii_case(key)) {
            return Err(ApiError::bad_request(format!(
                "The property '{key}' does not exist on type '{type_name}'. Make sure to only use property names that are defined by the type."
            )));
        }
    }
    Ok(())
}

fn get<'a>(obj: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

/// `consentedPermissionSet` (`teamsAppPermissionSet`); `null` means none given.
pub fn permission_set(value: &Value) -> ApiResult<Option<Vec<ResourceSpecificPermission>>> {
    if value.is_null() {
        return Ok(None);
    }
    let obj = object(value, "consentedPermissionSet")?;
    refuse_unknown(
        obj,
        &["resourceSpecificPermissions", "@odata.type"],
        "microsoft.graph.teamsAppPermissionSet",
    )?;
    let Some(list) = get(obj, "resourceSpecificPermissions") else {
        return Ok(Some(Vec::new()));
    };
    if list.is_null() {
        return Ok(Some(Vec::new()));
    }
    let items = list.as_array().ok_or_else(|| {
        ApiError::bad_request(
            "consentedPermissionSet.resourceSpecificPermissions must be an array.",
        )
    })?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("consentedPermissionSet.resourceSpecificPermissions[{i}]");
        let obj = object(item, &at)?;
        refuse_unknown(
            obj,
            &["permissionValue", "permissionType", "@odata.type"],
            "microsoft.graph.teamsAppResourceSpecificPermission",
        )?;
        let value = get(obj, "permissionValue")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
            ApiError::bad_request(format!("{at}.permissionValue must be a non-empty string."))
        })?;
        let kind = get(obj, "permissionType")
            .and_then(Value::as_str)
            .and_then(PermissionType::parse)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{at}.permissionType must be 'application' or 'delegated'."
                ))
            })?;
        out.push(ResourceSpecificPermission {
            permission_value: value.to_string(),
            permission_type: kind,
        });
    }
    Ok(Some(out))
}

/// The install body: `teamsApp@odata.bind` and an optional `consentedPermissionSet`.
pub struct InstallBody {
    pub app_id: String,
    pub consented: Option<Vec<ResourceSpecificPermission>>,
}

pub fn install_body(value: Option<Value>) -> ApiResult<InstallBody> {
    let value = value.ok_or_else(|| {
        ApiError::bad_request("The request body is missing; send {\"teamsApp@odata.bind\": \"https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{id}\"}.")
    })?;
    let obj = object(&value, "The request body")?;
    refuse_unknown(
        obj,
        &["teamsApp@odata.bind", "consentedPermissionSet", "@odata.type"],
        "microsoft.graph.teamsAppInstallation",
    )?;
    let bind = get(obj, "teamsApp@odata.bind").ok_or_else(|| {
        ApiError::bad_request(
            "The request body must contain 'teamsApp@odata.bind' naming the app to install.",
        )
    })?;
    let bind = bind
        .as_str()
        .ok_or_else(|| ApiError::bad_request("'teamsApp@odata.bind' must be a string URL."))?;
    let app_id = bound_app_id(bind)?;
    let consented = match get(obj, "consentedPermissionSet") {
        None => None,
        Some(v) => permission_set(v)?,
    };
    Ok(InstallBody { app_id, consented })
}

/// The app id of a bind: an absolute URL of any host (Graph's or ours) with or without a version
/// segment, or a relative `appCatalogs/teamsApps/{id}` (spec 4).
fn bound_app_id(bind: &str) -> ApiResult<String> {
    let bad = || {
        ApiError::bad_request(format!(
            "'teamsApp@odata.bind' must reference an app in the catalog, like https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{{id}}; got '{bind}'."
        ))
    };
    let path = match bind.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map(|(_, p)| p).ok_or_else(bad)?,
        None => bind,
    };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let segments = match segments.first() {
        Some(s) if s.eq_ignore_ascii_case("v1.0") || s.eq_ignore_ascii_case("beta") => {
            &segments[1..]
        }
        _ => &segments[..],
    };
    // `appCatalogs/teamsApps/{id}` or the OData key form `appCatalogs/teamsApps('{id}')`.
    let raw_id = match segments {
        [a, b, id]
            if a.eq_ignore_ascii_case("appCatalogs") && b.eq_ignore_ascii_case("teamsApps") =>
        {
            *id
        }
        [a, b] if a.eq_ignore_ascii_case("appCatalogs") => {
            let key =
                b.get(..10).filter(|p| p.eq_ignore_ascii_case("teamsApps(")).ok_or_else(bad)?;
            b[key.len()..].strip_suffix(')').ok_or_else(bad)?
        }
        _ => return Err(bad()),
    };
    let decoded = percent_encoding::percent_decode_str(raw_id).decode_utf8().map_err(|_| bad())?;
    let id = decoded.trim_start_matches('\'').trim_end_matches('\'').to_string();
    if id.is_empty() || id.contains(['/', '(', ')']) {
        return Err(bad());
    }
    Ok(id)
}

/// The upgrade body: absent, `{}`, or `{"consentedPermissionSet": …}`.
pub fn upgrade_body(value: Option<Value>) -> ApiResult<Option<Vec<ResourceSpecificPermission>>> {
    let Some(value) = value else { return Ok(None) };
    let obj = object(&value, "The request body")?;
    refuse_unknown(obj, &["consentedPermissionSet"], "microsoft.graph.upgrade")?;
    match get(obj, "consentedPermissionSet") {
        None => Ok(None),
        Some(v) => permission_set(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_in_every_documented_form() {
        for bind in [
            "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/abc",
            "https://graph.microsoft.com/beta/appCatalogs/teamsApps/abc",
            "http://127.0.0.1:9/v1.0/appcatalogs/teamsapps/abc",
            "appCatalogs/teamsApps/abc",
            "/appCatalogs/teamsApps/abc",
            "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps('abc')",
        ] {
            assert_eq!(bound_app_id(bind).unwrap(), "abc", "{bind}");
        }
        for bind in [
            "",
            "https://graph.microsoft.com",
            "users/abc",
            "appCatalogs/teamsApps/",
            "appCatalogs/teamsApps/a/b",
        ] {
            assert!(bound_app_id(bind).is_err(), "{bind}");
        }
    }

    #[test]
    fn permission_types_parse_case_insensitively_and_junk_is_refused() {
        let v = serde_json::json!({"resourceSpecificPermissions":[{"permissionValue":"X","permissionType":"Application"}]});
        let set = permission_set(&v).unwrap().unwrap();
        assert_eq!(set[0].permission_type, PermissionType::Application);
        for bad in [
            serde_json::json!([]),
            serde_json::json!({"resourceSpecificPermissions": {}}),
            serde_json::json!({"resourceSpecificPermissions":[{"permissionValue":"X","permissionType":"root"}]}),
            serde_json::json!({"resourceSpecificPermissions":[{"permissionValue":5,"permissionType":"delegated"}]}),
            serde_json::json!({"other": 1}),
        ] {
            assert!(permission_set(&bad).is_err(), "{bad}");
        }
    }
}
