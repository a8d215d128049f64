//! `GET /openapi.json`: an OpenAPI 3 document of exactly the Graph operations this server
//! implements. Paths and methods come from the router's own table ([`routes::served`]); this
//! module only describes each handler (parameters, bodies, responses), and a test fails when a
//! served handler has no description or a description has no handler.
//!
//! Schemas are trimmed from the Graph fragment in the spec (openapi-teams-apps-v1.0.yaml) to
//! the properties we return; beta's extra properties are allowed (no `additionalProperties`).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};
use teamsapps_core::operations::{Answer, OPERATIONS};

use crate::response::json_response;

/// JSON batching's route below `/v1.0` and `/beta`.
pub const BATCH_ROUTE: &str = "/$batch";

/// What one route takes and answers: a Graph operation's, or JSON batching's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Operation(Answer),
    /// JSON batching.
    Batch,
}

/// One documented route.
struct Described {
    method: &'static str,
    path: &'static str,
    operation_id: String,
    summary: &'static str,
    kind: Kind,
    /// Served only under `/beta`.
    beta_only: bool,
}

/// Every route the document describes: each route of each row of the operation table, and
/// `$batch`.
fn described() -> Vec<Described> {
    let mut out: Vec<Described> = OPERATIONS
        .iter()
        .flat_map(|row| {
            row.routes.iter().map(move |path| Described {
                method: row.method,
                path,
                operation_id: operation_id(row.handler, row.routes[0], path),
                summary: row.summary,
                kind: Kind::Operation(row.answer),
                beta_only: !row.versions.v1(),
            })
        })
        .collect();
    out.push(Described {
        method: "POST",
        path: BATCH_ROUTE,
        operation_id: "batch".into(),
        summary: "Combine several requests in one (JSON batching)",
        kind: Kind::Batch,
        beta_only: false,
    });
    out
}

/// The `operationId` of one route of an operation: the handler's name for the canonical route,
/// and for an alias (operation ids are unique in a document) the handler's name with the
/// navigation the alias adds, e.g. `list_chat_installed_apps_via_users` for
/// `/users/{user}/chats/{chat}/installedApps`.
fn operation_id(handler: &str, canonical: &str, path: &str) -> String {
    if path == canonical {
        return handler.to_string();
    }
    let (a, c): (Vec<&str>, Vec<&str>) =
        (path.split('/').collect(), canonical.split('/').collect());
    let same = |x: &str, y: &str| x == y || (x.starts_with('{') && y.starts_with('{'));
    // What the alias has apart from the segments it shares with the canonical route at both
    // ends (`outlineIcon` for `…/outlineIcon/hostedContent` beside `…/colorIcon/hostedContent`).
    let prefix = a.iter().zip(&c).take_while(|(x, y)| same(x, y)).count();
    let room = a.len().min(c.len()) - prefix;
    let suffix =
        a.iter().rev().zip(c.iter().rev()).take(room).take_while(|(x, y)| same(x, y)).count();
    let via: Vec<String> = a[prefix..a.len() - suffix]
        .iter()
        .filter(|s| !s.is_empty() && !s.starts_with('{'))
        .map(|s| {
            s.chars()
                .flat_map(|ch| {
                    let sep = ch.is_ascii_uppercase().then_some('_');
                    sep.into_iter().chain(std::iter::once(ch.to_ascii_lowercase()))
                })
                .collect()
        })
        .collect();
    format!("{handler}_via_{}", via.join("_"))
}

/// Statuses any Graph operation can answer: a malformed request or query, authentication and
/// authorization, throttling, and the transient failures fault injection can produce.
const COMMON_ERRORS: &[u16] = &[400, 401, 403, 429, 500, 502, 503, 504];
/// Statuses only some operations answer (unknown ids, conflicts, ETags, bodies).
const EXTRA_ERRORS: &[u16] = &[404, 409, 412, 413, 415];

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

fn operation(route: &Described) -> Value {
    let has_ids = route.path.contains('{');
    let mut params = path_params(route.path);
    let mut responses = Map::new();
    let mut errors: Vec<u16> = COMMON_ERRORS.to_vec();
    if has_ids {
        errors.push(404);
    }
    let mut body = None;
    match route.kind {
        Kind::Operation(Answer::List { item }) => {
            params.extend(odata_params(true));
            responses.insert(
                "200".into(),
                ok_response("A page of the collection.", Some(collection(item)), false),
            );
        }
        Kind::Operation(Answer::Get { schema }) => {
            params.extend(odata_params(false));
            responses.insert("200".into(), ok_response("The entity.", Some(entity(schema)), false));
        }
        Kind::Operation(Answer::Upload { status, schema, no_content_too }) => {
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
        Kind::Operation(Answer::Review) => {
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
        Kind::Operation(Answer::Install { status }) => {
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
        Kind::Operation(Answer::Upgrade) => {
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
        Kind::Operation(Answer::Delete) => {
            responses.insert("204".into(), ok_response("Deleted.", None, false));
            errors.push(409);
        }
        Kind::Operation(Answer::Patch { schema }) => {
            body = Some(json!({ "required": true, "content": json_content(schema_ref(schema)) }));
            responses.insert("204".into(), ok_response("Changed.", None, false));
            errors.extend([413, 415]);
        }
        Kind::Operation(Answer::Bytes { content_type }) => {
            responses.insert(
                "200".into(),
                json!({
                    "description": "The bytes.",
                    "headers": common_headers(),
                    "content": { content_type: { "schema": { "type": "string", "format": "binary" } } },
                }),
            );
        }
        Kind::Operation(Answer::Count) => {
            responses.insert(
                "200".into(),
                json!({
                    "description": "The count.",
                    "headers": common_headers(),
                    "content": { "text/plain": { "schema": { "type": "integer" } } },
                }),
            );
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
        "operationId": route.operation_id,
        "summary": route.summary,
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
        "teamsAppIcon": {
            "type": "object",
            "properties": {
                "id": string(),
                "webUrl": nullable_string(),
                "hostedContent": nullable_ref("teamworkHostedContent"),
            },
        },
        "teamworkHostedContent": {
            "type": "object",
            "properties": {
                "id": string(),
                "contentBytes": nullable_string(),
                "contentType": nullable_string(),
            },
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
        "user": {
            "type": "object",
            "properties": {
                "id": string(),
                "businessPhones": { "type": "array", "items": string() },
                "displayName": nullable_string(),
                "givenName": nullable_string(),
                "jobTitle": nullable_string(),
                "mail": nullable_string(),
                "mobilePhone": nullable_string(),
                "officeLocation": nullable_string(),
                "preferredLanguage": nullable_string(),
                "surname": nullable_string(),
                "userPrincipalName": nullable_string(),
                "accountEnabled": { "type": "boolean", "nullable": true },
                "userType": nullable_string(),
            },
        },
        "team": {
            "type": "object",
            "properties": {
                "id": string(),
                "displayName": nullable_string(),
                "description": nullable_string(),
                "createdDateTime": { "type": "string", "format": "date-time", "nullable": true },
                "internalId": nullable_string(),
                "classification": nullable_string(),
                "specialization": nullable_string(),
                "visibility": nullable_string(),
                "webUrl": nullable_string(),
                "isArchived": { "type": "boolean", "nullable": true },
                "tenantId": nullable_string(),
                "isMembershipLimitedToOwners": { "type": "boolean", "nullable": true },
            },
        },
        "group": {
            "type": "object",
            "properties": {
                "id": string(),
                "description": nullable_string(),
                "displayName": nullable_string(),
                "groupTypes": { "type": "array", "items": string() },
                "mailEnabled": { "type": "boolean", "nullable": true },
                "mailNickname": nullable_string(),
                "resourceBehaviorOptions": { "type": "array", "items": string() },
                "resourceProvisioningOptions": { "type": "array", "items": string() },
                "securityEnabled": { "type": "boolean", "nullable": true },
                "visibility": nullable_string(),
            },
        },
        "resourceSpecificPermissionGrant": {
            "type": "object",
            "properties": {
                "id": string(),
                "deletedDateTime": { "type": "string", "format": "date-time", "nullable": true },
                "clientId": nullable_string(),
                "clientAppId": nullable_string(),
                "resourceAppId": nullable_string(),
                "permissionType": nullable_string(),
                "permission": nullable_string(),
            },
        },
        "teamsAppSettings": {
            "type": "object",
            "properties": {
                "id": string(),
                "allowUserRequestsForAppAccess": { "type": "boolean", "nullable": true },
                "isUserPersonalScopeResourceSpecificConsentEnabled": { "type": "boolean", "nullable": true },
                "isChatResourceSpecificConsentEnabled": { "type": "boolean", "nullable": true },
                "customAppSettings": { "type": "object", "nullable": true },
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

fn method_key(method: &str) -> String {
    method.to_ascii_lowercase()
}

/// The document, built from the operation table (the router's source too).
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in described() {
        let item = paths.entry(route.path.to_string()).or_insert_with(|| Value::Object(Map::new()));
        if route.beta_only {
            item["servers"] = json!([{ "url": "/beta", "description": "Graph beta" }]);
        }
        item[method_key(route.method)] = operation(&route);
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
        // Relative to this document; a path served only under beta says so itself.
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
    fn document_paths_and_methods_are_the_operation_table_and_batch() {
        let doc = document();
        let mut in_doc: Vec<(String, String)> = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys().filter(|k| *k != "servers") {
                in_doc.push((method.clone(), path.clone()));
            }
        }
        let mut in_table: Vec<(String, String)> = OPERATIONS
            .iter()
            .flat_map(|r| r.routes.iter().map(|p| (method_key(r.method), p.to_string())))
            .chain([("post".to_string(), BATCH_ROUTE.to_string())])
            .collect();
        in_doc.sort();
        in_table.sort();
        assert_eq!(in_doc, in_table);
    }

    #[test]
    fn operation_ids_are_unique_and_aliases_name_their_navigation() {
        let doc = document();
        let mut ids = std::collections::BTreeSet::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values().filter(|v| v.get("operationId").is_some())
            {
                let id = op["operationId"].as_str().unwrap().to_string();
                assert!(ids.insert(id.clone()), "{id} twice");
            }
        }
        let item = &doc["paths"]["/users/{user}/chats/{chat}/installedApps/{installation}/upgrade"];
        assert_eq!(item["post"]["operationId"], "upgrade_app_in_chat_via_users");
        let item = &doc["paths"]["/users/{user}/joinedTeams/{team}/installedApps"];
        assert_eq!(item["get"]["operationId"], "list_team_installed_apps_via_users_joined_teams");
        let item = &doc["paths"]["/groups/{group}/team/installedApps/{installation}"];
        assert_eq!(item["delete"]["operationId"], "uninstall_app_in_team_via_groups_team");
        let item = &doc["paths"]["/me/teamwork/installedApps"];
        assert_eq!(item["post"]["operationId"], "install_app_for_user_via_me");
        let icons = "/appCatalogs/teamsApps/{app_id}/appDefinitions/{definition_id}";
        let item = &doc["paths"][format!("{icons}/outlineIcon/hostedContent")];
        assert_eq!(item["get"]["operationId"], "get_teamwork_hosted_content_via_outline_icon");
        assert_eq!(item["servers"][0]["url"], "/beta");
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
