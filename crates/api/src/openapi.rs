//! `GET /openapi.json`: an OpenAPI 3 document of exactly the Graph operations this server
//! implements. Paths and methods come from the router's own table ([`routes::served`]); this
//! module only describes each handler (parameters, bodies, responses), and a test fails when a
//! served handler has no description or a description has no handler.
//!
//! Schemas are trimmed from the Graph fragment in the spec (openapi-teams-apps-v1.0.yaml) to
//! the properties we return; beta's extra properties are allowed (no `additionalProperties`).

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};

use crate::routes::{json_response, served, Served};

/// What one handler takes and answers; the HTTP shape follows from the kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A collection of `schema` with the paging and counting options.
    List { item: &'static str },
    /// One entity of `schema` with `$select` and `$expand`.
    Get { schema: &'static str },
    /// An app package upload (`?requiresReview=`) answering `status` with a teamsApp or
    /// teamsAppDefinition (`schema`), or 204 when `no_content_too`.
    Upload { status: u16, schema: &'static str, no_content_too: bool },
    /// PATCH of a definition's `publishingState`, with `If-Match`.
    Review,
    /// An install: JSON `teamsApp@odata.bind` body, empty answer with `status`.
    Install { status: u16 },
    /// An upgrade: optional JSON body, 204.
    Upgrade,
    /// DELETE: 204.
    Delete,
    /// JSON batching.
    Batch,
}

/// Every documented handler: its name (as in the route table), summary and kind.
const OPERATIONS: &[(&str, &str, Kind)] = &[
    ("list_teams_apps", "List apps in the catalog", Kind::List { item: "teamsApp" }),
    (
        "publish_teams_app",
        "Publish an app to the tenant catalog",
        Kind::Upload { status: 201, schema: "teamsApp", no_content_too: false },
    ),
    ("get_teams_app", "Get an app", Kind::Get { schema: "teamsApp" }),
    ("delete_teams_app", "Delete an app from the tenant catalog", Kind::Delete),
    (
        "list_app_definitions",
        "List an app's definitions",
        Kind::List { item: "teamsAppDefinition" },
    ),
    (
        "update_teams_app",
        "Update an app (upload a new version)",
        Kind::Upload { status: 201, schema: "teamsAppDefinition", no_content_too: true },
    ),
    ("get_app_definition", "Get an app definition", Kind::Get { schema: "teamsAppDefinition" }),
    ("review_app_definition", "Approve or reject a submitted definition", Kind::Review),
    ("delete_app_definition", "Cancel a submitted definition", Kind::Delete),
    ("get_teamwork_bot", "Get a definition's bot", Kind::Get { schema: "teamworkBot" }),
    (
        "list_user_installed_apps",
        "List apps installed for a user",
        Kind::List { item: "userScopeTeamsAppInstallation" },
    ),
    ("install_app_for_user", "Install an app for a user", Kind::Install { status: 201 }),
    (
        "get_user_installed_app",
        "Get an app installed for a user",
        Kind::Get { schema: "userScopeTeamsAppInstallation" },
    ),
    ("uninstall_app_for_user", "Uninstall an app for a user", Kind::Delete),
    ("upgrade_app_for_user", "Upgrade an app installed for a user", Kind::Upgrade),
    (
        "get_user_installed_app_chat",
        "Get the chat between a user and an installed app",
        Kind::Get { schema: "chat" },
    ),
    (
        "list_chat_installed_apps",
        "List apps installed in a chat",
        Kind::List { item: "teamsAppInstallation" },
    ),
    ("install_app_in_chat", "Install an app in a chat", Kind::Install { status: 201 }),
    (
        "get_chat_installed_app",
        "Get an app installed in a chat",
        Kind::Get { schema: "teamsAppInstallation" },
    ),
    ("uninstall_app_in_chat", "Uninstall an app from a chat", Kind::Delete),
    ("upgrade_app_in_chat", "Upgrade an app installed in a chat", Kind::Upgrade),
    (
        "list_team_installed_apps",
        "List apps installed in a team",
        Kind::List { item: "teamsAppInstallation" },
    ),
    ("install_app_in_team", "Install an app in a team", Kind::Install { status: 200 }),
    (
        "get_team_installed_app",
        "Get an app installed in a team",
        Kind::Get { schema: "teamsAppInstallation" },
    ),
    ("uninstall_app_in_team", "Uninstall an app from a team", Kind::Delete),
    ("upgrade_app_in_team", "Upgrade an app installed in a team", Kind::Upgrade),
    ("batch", "Combine several requests in one (JSON batching)", Kind::Batch),
];

/// Statuses any Graph operation can answer: a malformed request or query, authentication and
/// authorization, throttling, and the transient failures fault injection can produce.
const COMMON_ERRORS: &[u16] = &[400, 401, 403, 429, 500, 502, 503, 504];
/// Statuses only some operations answer (unknown ids, conflicts, ETags, bodies).
const EXTRA_ERRORS: &[u16] = &[404, 409, 412, 413, 415];

fn describe(handler: &str) -> Option<(&'static str, Kind)> {
    OPERATIONS
        .iter()
        .find(|(name, _, _)| *name == handler)
        .map(|&(_, summary, kind)| (summary, kind))
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

fn query_param(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema })
}

fn odata_params(list: bool) -> Vec<Value> {
    let text = || json!({ "type": "string" });
    let mut params = vec![
        query_param("$select", "Properties to return, comma-separated.", text()),
        query_param("$expand", "Navigation properties to expand.", text()),
    ];
    if list {
        params.push(query_param("$filter", "Filter items by property values.", text()));
        params.push(query_param(
            "$top",
            "Page size; the rest is behind @odata.nextLink.",
            json!({ "type": "integer", "minimum": 0, "maximum": 999 }),
        ));
        params.push(query_param(
            "$skiptoken",
            "Opaque paging token; only as found in @odata.nextLink.",
            text(),
        ));
        params.push(query_param("$count", "Include @odata.count.", json!({ "type": "boolean" })));
    }
    params
}

fn path_params(path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for segment in path.split('/') {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            out.push(json!({
                "name": name, "in": "path", "required": true,
                "schema": { "type": "string", "minLength": 1 },
            }));
        }
    }
    out
}

/// The headers every Graph response carries (spec 1.3).
fn common_headers() -> Value {
    let h = |description: &str| json!({ "description": description, "required": true, "schema": { "type": "string" } });
    json!({
        "request-id": h("The id of this request."),
        "client-request-id": h("The caller's client-request-id, or the request-id."),
    })
}

fn error_response(status: u16) -> Value {
    let mut headers = common_headers();
    if status == 429 || status == 503 {
        headers["Retry-After"] = json!({
            "description": "Seconds to wait before retrying.",
            "required": false,
            "schema": { "type": "string" },
        });
    }
    json!({
        "description": StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error"),
        "headers": headers,
        "content": json_content(schema_ref("ODataError")),
    })
}

/// One shared response per error status, referenced by the operations.
fn error_responses() -> Value {
    let mut all: Vec<u16> = COMMON_ERRORS.to_vec();
    all.extend(EXTRA_ERRORS);
    Value::Object(all.into_iter().map(|s| (format!("error{s}"), error_response(s))).collect())
}

fn ok_response(description: &str, body: Option<Value>, location: bool) -> Value {
    let mut headers = common_headers();
    if location {
        headers["Location"] = json!({
            "description": "The URL of the created entity.",
            "required": true,
            "schema": { "type": "string" },
        });
    }
    let mut out = json!({ "description": description, "headers": headers });
    if let Some(schema) = body {
        out["content"] = json_content(schema);
    }
    out
}

fn zip_body() -> Value {
    json!({
        "required": true,
        "description": "The Teams app package (a zip with manifest.json and the icons).",
        "content": { "application/zip": { "schema": { "type": "string", "format": "binary" } } },
    })
}

fn operation(route: &Served, summary: &str, kind: Kind) -> Value {
    let has_ids = route.path.contains('{');
    let mut params = path_params(route.path);
    let mut responses = Map::new();
    let mut errors: Vec<u16> = COMMON_ERRORS.to_vec();
    if has_ids {
        errors.push(404);
    }
    let mut body = None;
    match kind {
        Kind::List { item } => {
            params.extend(odata_params(true));
            responses.insert(
                "200".into(),
                ok_response("A page of the collection.", Some(collection(item)), false),
            );
        }
        Kind::Get { schema } => {
            params.extend(odata_params(false));
            responses.insert("200".into(), ok_response("The entity.", Some(entity(schema)), false));
        }
        Kind::Upload { status, schema, no_content_too } => {
            params.push(query_param(
                "requiresReview",
                "Submit for admin review instead of publishing.",
                json!({ "type": "boolean" }),
            ));
            body = Some(zip_body());
            responses
                .insert(status.to_string(), ok_response("Created.", Some(entity(schema)), true));
            if no_content_too {
                responses.insert("204".into(), ok_response("Published in place.", None, false));
            }
            errors.extend([409, 413, 415]);
        }
        Kind::Review => {
            params.push(json!({
                "name": "If-Match", "in": "header", "required": false,
                "description": "The definition's @odata.etag.",
                "schema": { "type": "string" },
            }));
            body = Some(json!({
                "required": true,
                "content": json_content(json!({
                    "type": "object",
                    "required": ["publishingState"],
                    "properties": {
                        "publishingState": { "type": "string", "enum": ["published", "rejected"] },
                    },
                })),
            }));
            responses.insert(
                "200".into(),
                ok_response("The reviewed definition.", Some(entity("teamsAppDefinition")), false),
            );
            errors.extend([409, 412, 413, 415]);
        }
        Kind::Install { status } => {
            body = Some(json!({
                "required": true,
                "content": json_content(json!({
                    "type": "object",
                    "required": ["teamsApp@odata.bind"],
                    "properties": {
                        "teamsApp@odata.bind": {
                            "type": "string",
                            "description": "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{id}",
                        },
                        "consentedPermissionSet": schema_ref("teamsAppPermissionSet"),
                    },
                })),
            }));
            responses.insert(status.to_string(), ok_response("Installed.", None, false));
            errors.extend([409, 413, 415]);
        }
        Kind::Upgrade => {
            body = Some(json!({
                "required": false,
                "content": json_content(json!({
                    "type": "object",
                    "properties": { "consentedPermissionSet": schema_ref("teamsAppPermissionSet") },
                })),
            }));
            responses.insert("204".into(), ok_response("Upgraded.", None, false));
            errors.extend([409, 413, 415]);
        }
        Kind::Delete => {
            responses.insert("204".into(), ok_response("Deleted.", None, false));
            errors.push(409);
        }
        Kind::Batch => {
            body = Some(json!({
                "required": true,
                "content": json_content(schema_ref("batchRequest")),
            }));
            responses.insert(
                "200".into(),
                ok_response("The answers, in any order.", Some(schema_ref("batchResponse")), false),
            );
            errors.extend([413, 415]);
        }
    }
    for status in errors {
        responses
            .entry(status.to_string())
            .or_insert_with(|| json!({ "$ref": format!("#/components/responses/error{status}") }));
    }
    let mut op = json!({
        "operationId": route.handler,
        "summary": summary,
        "parameters": params,
        "responses": responses,
    });
    if let Some(body) = body {
        op["requestBody"] = body;
    }
    op
}

fn entity(name: &str) -> Value {
    json!({
        "allOf": [
            { "type": "object", "properties": { "@odata.context": { "type": "string" } } },
            schema_ref(name),
        ],
    })
}

fn collection(item: &str) -> Value {
    json!({
        "type": "object",
        "required": ["value"],
        "properties": {
            "@odata.context": { "type": "string" },
            "@odata.count": { "type": "integer", "minimum": 0 },
            "@odata.nextLink": { "type": "string" },
            "value": { "type": "array", "items": schema_ref(item) },
        },
    })
}

fn schemas() -> Value {
    let string = || json!({ "type": "string" });
    let nullable_string = || json!({ "type": "string", "nullable": true });
    let nullable_ref = |name: &str| json!({ "allOf": [schema_ref(name)], "nullable": true });
    json!({
        "ODataError": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": string(),
                        "message": string(),
                        "target": nullable_string(),
                        "details": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["code", "message"],
                                "properties": {
                                    "code": string(), "message": string(), "target": nullable_string(),
                                },
                            },
                        },
                        "innerError": {
                            "type": "object",
                            "properties": {
                                "date": string(),
                                "request-id": string(),
                                "client-request-id": string(),
                            },
                        },
                    },
                },
            },
        },
        "teamsApp": {
            "type": "object",
            "properties": {
                "id": string(),
                "externalId": nullable_string(),
                "displayName": nullable_string(),
                "distributionMethod": {
                    "type": "string",
                    "enum": ["store", "organization", "sideloaded", "unknownFutureValue"],
                },
                "appDefinitions": { "type": "array", "items": schema_ref("teamsAppDefinition") },
            },
        },
        "teamsAppDefinition": {
            "type": "object",
            "properties": {
                "@odata.etag": string(),
                "id": string(),
                "teamsAppId": string(),
                "displayName": nullable_string(),
                "version": nullable_string(),
                "publishingState": {
                    "type": "string",
                    "enum": ["submitted", "rejected", "published", "unknownFutureValue"],
                },
                "description": nullable_string(),
                "shortDescription": nullable_string(),
                "lastModifiedDateTime": { "type": "string", "format": "date-time", "nullable": true },
                "createdBy": { "type": "object", "nullable": true },
                "authorization": nullable_ref("teamsAppAuthorization"),
                "bot": nullable_ref("teamworkBot"),
            },
        },
        "teamsAppAuthorization": {
            "type": "object",
            "properties": {
                "clientAppId": nullable_string(),
                "requiredPermissionSet": nullable_ref("teamsAppPermissionSet"),
            },
        },
        "teamsAppPermissionSet": {
            "type": "object",
            "properties": {
                "resourceSpecificPermissions": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "permissionValue": string(),
                            "permissionType": {
                                "type": "string",
                                "enum": ["delegated", "application", "unknownFutureValue"],
                            },
                        },
                    },
                },
            },
        },
        "teamworkBot": {
            "type": "object",
            "properties": { "@odata.type": string(), "id": string() },
        },
        "teamsAppInstallation": {
            "type": "object",
            "properties": {
                "id": string(),
                "consentedPermissionSet": nullable_ref("teamsAppPermissionSet"),
                "teamsApp": nullable_ref("teamsApp"),
                "teamsAppDefinition": nullable_ref("teamsAppDefinition"),
            },
        },
        "userScopeTeamsAppInstallation": {
            "allOf": [
                schema_ref("teamsAppInstallation"),
                { "type": "object", "properties": { "chat": nullable_ref("chat") } },
            ],
        },
        "chat": {
            "type": "object",
            "properties": {
                "id": string(),
                "topic": nullable_string(),
                "createdDateTime": { "type": "string", "format": "date-time", "nullable": true },
                "lastUpdatedDateTime": { "type": "string", "format": "date-time", "nullable": true },
                "chatType": string(),
                "webUrl": nullable_string(),
                "tenantId": nullable_string(),
                "onlineMeetingInfo": { "type": "object", "nullable": true },
            },
        },
        "batchRequest": {
            "type": "object",
            "required": ["requests"],
            "properties": {
                "requests": {
                    "type": "array",
                    "maxItems": 20,
                    "items": {
                        "type": "object",
                        "required": ["id", "method", "url"],
                        "properties": {
                            "id": string(),
                            "method": string(),
                            "url": string(),
                            "headers": { "type": "object", "additionalProperties": string() },
                            "body": {},
                            "dependsOn": { "type": "array", "items": string() },
                        },
                    },
                },
            },
        },
        "batchResponse": {
            "type": "object",
            "required": ["responses"],
            "properties": {
                "responses": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["id", "status"],
                        "properties": {
                            "id": string(),
                            "status": { "type": "integer" },
                            "headers": { "type": "object" },
                            "body": {},
                        },
                    },
                },
            },
        },
    })
}

fn method_key(method: &Method) -> String {
    method.as_str().to_ascii_lowercase()
}

/// The document, built from the router's table.
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in served() {
        let Some((summary, kind)) = describe(route.handler) else {
            // Unreachable while the unit test below passes; never serve a half document.
            panic!("the served handler {} has no OpenAPI description", route.handler);
        };
        let item = paths.entry(route.path.to_string()).or_insert_with(|| Value::Object(Map::new()));
        item[method_key(&route.method)] = operation(&route, summary, kind);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "teamsapps: Microsoft Graph Teams app catalog and app installations",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The Graph operations this emulator implements, under /v1.0 and /beta. \
                The identity endpoints (/{tenant}/oauth2/v2.0/token, discovery, keys) and the \
                /_teamsapps test controls are described in the README.",
        },
        // Relative to this document: every operation is served under both versions.
        "servers": [
            { "url": "/v1.0", "description": "Graph v1.0" },
            { "url": "/beta", "description": "Graph beta" },
        ],
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "responses": error_responses(),
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" },
            },
        },
        "security": [{ "bearer": [] }],
    })
}

/// GET /openapi.json (no authentication).
pub async fn serve() -> Response {
    json_response(StatusCode::OK, document())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_handler_is_described_and_every_description_served() {
        let served = served();
        for route in &served {
            assert!(
                describe(route.handler).is_some(),
                "{} {} undocumented",
                route.method,
                route.path
            );
        }
        for (name, _, _) in OPERATIONS {
            assert!(served.iter().any(|r| r.handler == *name), "{name} is described, not served");
        }
    }

    #[test]
    fn document_paths_and_methods_are_the_route_table() {
        let doc = document();
        let mut in_doc: Vec<(String, String)> = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                in_doc.push((method.clone(), path.clone()));
            }
        }
        let mut in_router: Vec<(String, String)> =
            served().iter().map(|r| (method_key(&r.method), r.path.to_string())).collect();
        in_doc.sort();
        in_router.sort();
        assert_eq!(in_doc, in_router);
        assert_eq!(in_router.len(), OPERATIONS.len());
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        for kind in ["schemas", "responses"] {
            for part in text.split(&format!("\"#/components/{kind}/")).skip(1) {
                let name = part.split('"').next().unwrap();
                assert!(doc["components"][kind].get(name).is_some(), "{kind}/{name} undefined");
            }
        }
    }
}
