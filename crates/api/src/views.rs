//! Full JSON views of entities, per API version (spec 2, 2.8). Every property and navigation is
//! materialised here; the OData query engine then keeps what `$select`/`$expand` ask for.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use teamsapps_core::catalog::definition_id;
use teamsapps_core::ids::installation_id;
use teamsapps_core::installations::{AppChat, InstalledApp};
use teamsapps_core::model::{
    AppDefinition, CatalogApp, Chat, DistributionMethod, IconKind, PermissionType,
    ResourceSpecificPermission, ScopeKind, Team, User,
};
use teamsapps_wire::odata::ApiVersion;
use teamsapps_wire::query::ODataQuery;

/// Graph's timestamp form: seven fractional digits and `Z`.
pub fn timestamp(t: DateTime<Utc>) -> String {
    use chrono::Timelike;
    // chrono has no 7-digit fraction specifier: 100 ns ticks, as .NET writes them.
    format!("{}.{:07}Z", t.format("%Y-%m-%dT%H:%M:%S"), t.nanosecond() % 1_000_000_000 / 100)
}

pub fn permission_set(perms: &[ResourceSpecificPermission]) -> Value {
    let list: Vec<Value> = perms
        .iter()
        .map(|p| {
            json!({"permissionValue": p.permission_value, "permissionType": p.permission_type.as_str()})
        })
        .collect();
    json!({ "resourceSpecificPermissions": list })
}

fn created_by(user: Option<&str>) -> Value {
    match user {
        None => Value::Null,
        Some(id) => json!({
            "application": null, "device": null, "conversation": null,
            "user": {"id": id, "displayName": null, "userIdentityType": "aadUser"}
        }),
    }
}

pub fn definition(app: &CatalogApp, def: &AppDefinition, v: ApiVersion) -> Value {
    let mut m = Map::new();
    m.insert("@odata.etag".into(), json!(def.etag));
    m.insert("id".into(), json!(definition_id(&app.app, def)));
    m.insert("teamsAppId".into(), json!(app.app.id));
    m.insert("displayName".into(), json!(def.display_name));
    m.insert("version".into(), json!(def.version));
    m.insert("publishingState".into(), json!(def.publishing_state.as_str()));
    m.insert("description".into(), json!(def.description));
    m.insert("lastModifiedDateTime".into(), json!(def.last_modified.map(timestamp)));
    m.insert("createdBy".into(), created_by(def.created_by.as_deref()));
    m.insert(
        "authorization".into(),
        json!({
            "clientAppId": def.client_app_id,
            "requiredPermissionSet": permission_set(&def.required_permissions),
        }),
    );
    m.insert("bot".into(), def.bot_id.as_ref().map_or(Value::Null, |id| json!({ "id": id })));
    match v {
        ApiVersion::V1 => {
            m.insert("shortDescription".into(), json!(def.short_description));
        }
        ApiVersion::Beta => {
            m.insert("shortdescription".into(), json!(def.short_description));
            m.insert("azureADAppId".into(), json!(def.client_app_id));
            let app_perms: Vec<&str> = def
                .required_permissions
                .iter()
                .filter(|p| p.permission_type == PermissionType::Application)
                .map(|p| p.permission_value.as_str())
                .collect();
            m.insert("requiredResourceSpecificApplicationPermissions".into(), json!(app_perms));
            m.insert("allowedInstallationScopes".into(), json!(def.allowed_scopes.to_flags()));
        }
    }
    Value::Object(m)
}

pub fn teams_app(app: &CatalogApp, v: ApiVersion) -> Value {
    let defs: Vec<Value> = app.definitions.iter().map(|d| definition(app, d, v)).collect();
    let mut out = teams_app_without_definitions(app);
    if let Some(obj) = out.as_object_mut() {
        obj.insert("appDefinitions".into(), Value::Array(defs));
    }
    out
}

/// The app as an installation's `teamsApp` shows it: without its definitions.
fn teams_app_without_definitions(app: &CatalogApp) -> Value {
    json!({
        "id": app.app.id,
        "externalId": app.app.external_id,
        "displayName": app.display_name(),
        "distributionMethod": app.app.distribution_method.as_str(),
    })
}

/// The navigation properties of an installation a request needs materialised. Rendering an
/// app and a definition is most of the work of a small request, and the query engine drops
/// every navigation that is not expanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Navigations {
    pub teams_app: bool,
    pub teams_app_definition: bool,
    pub chat: bool,
}

impl Navigations {
    pub const ALL: Navigations =
        Navigations { teams_app: true, teams_app_definition: true, chat: true };

    /// What `query` can see: every navigation when it filters (a filter may look into one),
    /// else the ones it expands or selects.
    pub fn of(query: &ODataQuery) -> Navigations {
        if query.filter.is_some() {
            return Navigations::ALL;
        }
        let named = |nav: &str| {
            query.expand.iter().any(|e| e.navigation.eq_ignore_ascii_case(nav))
                || query.select.iter().flatten().any(|s| s.eq_ignore_ascii_case(nav) || s == "*")
        };
        Navigations {
            teams_app: named("teamsApp"),
            teams_app_definition: named("teamsAppDefinition"),
            chat: named("chat"),
        }
    }
}

pub fn app_chat(chat: &AppChat) -> Value {
    json!({
        "id": chat.id,
        "topic": null,
        "createdDateTime": null,
        "lastUpdatedDateTime": null,
        "chatType": "oneOnOne",
        "webUrl": null,
        "tenantId": chat.tenant_id,
        "onlineMeetingInfo": null,
    })
}

/// A user as `GET /users` shows it; the fixture holds only ids, names and roles, so the profile
/// fields Graph would fill are `null` (differences.md). With only `User.ReadBasic.All`,
/// `accountEnabled` and `userType` are `null` too (lifecycle spec 1.1).
pub fn user(u: &User, basic_only: bool) -> Value {
    let guest = u.user_principal_name.to_ascii_uppercase().contains("#EXT#");
    // The fixture's values; without them an enabled account, a guest by its `#EXT#` UPN.
    let (enabled, kind) = if basic_only {
        (Value::Null, Value::Null)
    } else {
        let derived = if guest { "Guest" } else { "Member" };
        (
            Value::Bool(u.account_enabled.unwrap_or(true)),
            Value::from(u.user_type.as_deref().unwrap_or(derived)),
        )
    };
    json!({
        "businessPhones": [],
        "displayName": u.display_name,
        "givenName": null,
        "jobTitle": null,
        "mail": u.mail,
        "mobilePhone": null,
        "officeLocation": null,
        "preferredLanguage": null,
        "surname": null,
        "userPrincipalName": u.user_principal_name,
        "id": u.id,
        "accountEnabled": enabled,
        "userType": kind,
    })
}

/// `19:{32 hex}@thread.tacv2`, derived from the team id so it is stable.
fn team_internal_id(team: &Team) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(team.id.to_ascii_lowercase().as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("19:{hex}@thread.tacv2")
}

/// A team as `GET /teams/{id}` shows it (`GET /teams` keeps id, displayName and description).
pub fn team(t: &Team) -> Value {
    let internal = team_internal_id(t);
    let web_url = format!(
        "https://teams.microsoft.com/l/team/{}/conversations?groupId={}&tenantId={}",
        percent_encoding::utf8_percent_encode(&internal, percent_encoding::NON_ALPHANUMERIC),
        t.id,
        t.tenant_id
    );
    json!({
        "id": t.id,
        "createdDateTime": null,
        "displayName": t.display_name,
        "description": t.description,
        "internalId": internal,
        "classification": null,
        "specialization": "none",
        "visibility": t.visibility.as_deref().unwrap_or("private"),
        "webUrl": web_url,
        "isArchived": false,
        "tenantId": t.tenant_id,
        "isMembershipLimitedToOwners": false,
    })
}

/// A team as the Unified group it is (lifecycle spec 1.4).
pub fn group(t: &Team) -> Value {
    let nickname: String = t.display_name.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    // Groups spell the team's visibility capitalised (`Private`, `Public`, `HiddenMembership`).
    let visibility = match t.visibility.as_deref() {
        Some("public") => "Public",
        Some("hiddenMembership") => "HiddenMembership",
        _ => "Private",
    };
    json!({
        "id": t.id,
        "description": t.description,
        "displayName": t.display_name,
        "groupTypes": ["Unified"],
        "mailEnabled": true,
        "mailNickname": nickname,
        "resourceBehaviorOptions": [],
        "resourceProvisioningOptions": ["Team"],
        "securityEnabled": false,
        "visibility": visibility,
    })
}

/// A chat of the directory (lifecycle spec 1.6, 1.7).
pub fn chat(c: &Chat) -> Value {
    let web_url = format!(
        "https://teams.microsoft.com/l/chat/{}/0?tenantId={}",
        percent_encoding::utf8_percent_encode(&c.id, percent_encoding::NON_ALPHANUMERIC),
        c.tenant_id
    );
    json!({
        "id": c.id,
        "topic": c.topic,
        "createdDateTime": c.created_date_time.map(timestamp),
        "lastUpdatedDateTime": null,
        "chatType": c.chat_type,
        "webUrl": web_url,
        "tenantId": c.tenant_id,
        "onlineMeetingInfo": null,
    })
}

pub fn installation(item: &InstalledApp, v: ApiVersion) -> Value {
    installation_with(item, v, Navigations::ALL)
}

/// The installation with only the navigations `navs` materialised.
pub fn installation_with(item: &InstalledApp, v: ApiVersion, navs: Navigations) -> Value {
    let inst = &item.installation;
    let app = &item.app;
    let def = item.definition();
    let mut m = Map::new();
    m.insert("id".into(), json!(installation_id(&inst.scope.id, &inst.app_id)));
    m.insert(
        "consentedPermissionSet".into(),
        inst.consented.as_deref().map_or(Value::Null, permission_set),
    );
    if navs.teams_app {
        m.insert("teamsApp".into(), teams_app_without_definitions(app));
    }
    if navs.teams_app_definition {
        m.insert("teamsAppDefinition".into(), def.map_or(Value::Null, |d| definition(app, d, v)));
    }
    if inst.scope.kind == ScopeKind::User && navs.chat {
        let chat = def.and_then(|d| d.bot_id.as_ref()).map(|bot| AppChat {
            id: format!("19:{bot}_{}@unq.gbl.spaces", inst.scope.id),
            tenant_id: inst.tenant_id.clone(),
        });
        m.insert("chat".into(), chat.as_ref().map_or(Value::Null, app_chat));
    }
    Value::Object(m)
}

/// Our storage URL for a definition's icon, which the icon and hostedContent ids encode (as
/// Graph's encode theirs, lifecycle spec 5.2): stable per definition and kind.
fn icon_storage_url(def_id: &str, kind: IconKind) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(def_id.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("https://teamsapps.local/icons/{hex}/{}.png", kind.as_str())
}

/// The `teamworkHostedContent` of an icon: `contentBytes` and `contentType` are always `null`
/// (the bytes are at `…/$value`).
pub fn icon_hosted_content(def_id: &str, kind: IconKind) -> Value {
    let url = icon_storage_url(def_id, kind);
    json!({
        "id": STANDARD.encode(format!("id=,type=1,url={url}")),
        "contentBytes": null,
        "contentType": null,
    })
}

/// A definition's `teamsAppIcon` (beta): store apps' point at Microsoft's CDN, the others'
/// at their `hostedContent/$value` on this server (`base` is its own base URL), with the
/// hosted content when the package's icon is stored.
pub fn teams_app_icon(
    app: &CatalogApp,
    def: &AppDefinition,
    def_id: &str,
    kind: IconKind,
    stored: bool,
    base: &str,
) -> Value {
    let nav = match kind {
        IconKind::Color => "colorIcon",
        IconKind::Outline => "outlineIcon",
    };
    if app.app.distribution_method == DistributionMethod::Store {
        let image = match kind {
            IconKind::Color => "largeImage",
            IconKind::Outline => "smallImage",
        };
        let url = format!(
            "https://statics.teams.cdn.office.net/evergreen-assets/apps/{}_{image}.png?v={}",
            app.app.id, def.version
        );
        return json!({ "id": STANDARD.encode(&url), "webUrl": url, "hostedContent": null });
    }
    json!({
        "id": STANDARD.encode(icon_storage_url(def_id, kind)),
        "webUrl": format!(
            "{base}/beta/appCatalogs/teamsApps/{}/appDefinitions/{def_id}/{nav}/hostedContent/$value",
            app.app.id
        ),
        "hostedContent": if stored { icon_hosted_content(def_id, kind) } else { Value::Null },
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_have_seven_fractional_digits() {
        let t = chrono::DateTime::parse_from_rfc3339("2020-11-23T21:36:00.943744512Z").unwrap();
        assert_eq!(super::timestamp(t.into()), "2020-11-23T21:36:00.9437445Z");
    }
}
