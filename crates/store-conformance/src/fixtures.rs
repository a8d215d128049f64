//! Values the suite writes: two tenants, apps with definitions, a seed.

use chrono::{DateTime, Utc};
use teamsapps_core::model::{
    AllowedScopes, AppDefinition, Application, CatalogApp, Chat, DistributionMethod, Installation,
    PermissionType, PublishingState, ResourceSpecificPermission, ScopeKind, ScopeRef, Team,
    TeamsApp, Tenant, User,
};
use teamsapps_core::store::Seed;
use teamsapps_core::{Store, StoreError};

pub const T: &str = "11111111-1111-1111-1111-111111111111";
pub const T2: &str = "22222222-2222-2222-2222-222222222222";

/// A fixed instant plus `secs` and `nanos` (nanoseconds must survive a round trip).
pub fn at(secs: i64, nanos: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + secs, nanos).expect("a valid instant")
}

pub fn perm(value: &str, kind: PermissionType) -> ResourceSpecificPermission {
    ResourceSpecificPermission { permission_value: value.into(), permission_type: kind }
}

/// An organization app (a store app when `external_id` is `None`).
pub fn app(tenant: &str, id: &str, external_id: Option<&str>) -> TeamsApp {
    TeamsApp {
        tenant_id: tenant.into(),
        id: id.into(),
        external_id: external_id.map(Into::into),
        distribution_method: if external_id.is_some() {
            DistributionMethod::Organization
        } else {
            DistributionMethod::Store
        },
    }
}

/// A definition with every field set.
pub fn def(app_id: &str, version: &str, state: PublishingState) -> AppDefinition {
    AppDefinition {
        app_id: app_id.into(),
        version: version.into(),
        publishing_state: state,
        display_name: format!("App {app_id} {version}"),
        short_description: "short".into(),
        description: "long description".into(),
        last_modified: Some(at(1, 123_456_789)),
        created_by: Some("user-1".into()),
        client_app_id: Some("client-app".into()),
        required_permissions: vec![
            perm("TeamSettings.Read.Group", PermissionType::Application),
            perm("ChatMessage.Read.Chat", PermissionType::Delegated),
        ],
        bot_id: None,
        allowed_scopes: AllowedScopes { team: true, group_chat: false, personal: true },
        etag: format!("etag-{version}-{}", state.as_str()),
    }
}

pub fn published(app_id: &str, version: &str) -> AppDefinition {
    def(app_id, version, PublishingState::Published)
}

pub fn scope(kind: ScopeKind, id: &str) -> ScopeRef {
    ScopeRef { kind, id: id.into() }
}

pub fn team_scope() -> ScopeRef {
    scope(ScopeKind::Team, "team-1")
}

/// An installation in tenant `T` without consent.
pub fn inst(scope: &ScopeRef, app_id: &str, version: &str) -> Installation {
    Installation {
        tenant_id: T.into(),
        scope: scope.clone(),
        app_id: app_id.into(),
        version: version.into(),
        consented: None,
    }
}

/// The conflict name of a result that must be a conflict.
pub fn conflict<V: std::fmt::Debug>(r: Result<V, StoreError>) -> &'static str {
    match r {
        Err(StoreError::Conflict(name)) => name,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// An app "a1" with published 1.0, 1.1, 1.2 and a submitted 1.3, installed at 1.0 in team-1.
pub async fn catalog_with_installation(store: &dyn Store) {
    store.create_app(&app(T, "a1", Some("m1")), &published("a1", "1.0")).await.unwrap();
    for v in ["1.1", "1.2"] {
        store.add_definition(T, &published("a1", v)).await.unwrap();
    }
    store.add_definition(T, &def("a1", "1.3", PublishingState::Submitted)).await.unwrap();
    store.create_installation(&inst(&team_scope(), "a1", "1.0")).await.unwrap();
}

/// The version of a1's installation in team-1.
pub async fn installed_version(store: &dyn Store) -> String {
    store.get_installation(T, &team_scope(), "a1").await.unwrap().expect("installed").version
}

/// A tenant with two users, a chat, a team, an app registration, an organization app with two
/// definitions, a store app, and one installation.
pub fn seed() -> Seed {
    Seed {
        tenants: vec![Tenant { id: T.into(), display_name: "Contoso".into() }],
        users: vec![
            User {
                tenant_id: T.into(),
                id: "u1".into(),
                user_principal_name: "Alice@Contoso.onmicrosoft.com".into(),
                display_name: "Alice".into(),
                password: Some("pw".into()),
                roles: vec!["TeamsServiceAdministrator".into()],
                mail: Some("alice@contoso.example".into()),
                account_enabled: Some(false),
                user_type: Some("Guest".into()),
            },
            User {
                tenant_id: T.into(),
                id: "u2".into(),
                user_principal_name: "bob@contoso.onmicrosoft.com".into(),
                display_name: "Bob".into(),
                password: None,
                roles: vec![],
                mail: None,
                account_enabled: None,
                user_type: None,
            },
        ],
        chats: vec![Chat {
            tenant_id: T.into(),
            id: "19:chat@thread.v2".into(),
            chat_type: "group".into(),
            topic: Some("Topic".into()),
            members: vec!["u1".into(), "u2".into()],
            join_web_url: None,
            created_date_time: Some(
                chrono::DateTime::parse_from_rfc3339("2025-11-03T16:20:11.402Z").unwrap().into(),
            ),
        }],
        teams: vec![Team {
            tenant_id: T.into(),
            id: "team-1".into(),
            display_name: "Team One".into(),
            owners: vec!["u1".into()],
            members: vec!["u1".into(), "u2".into()],
            description: Some("The first team".into()),
            visibility: Some("public".into()),
        }],
        applications: vec![Application {
            tenant_id: T.into(),
            app_id: "client-1".into(),
            display_name: "Client".into(),
            client_secret: "secret".into(),
            application_permissions: vec!["AppCatalog.ReadWrite.All".into()],
            delegated_permissions: vec![],
            selected_teams_apps: vec!["m1".into()],
        }],
        apps: vec![
            CatalogApp {
                app: app(T, "a1", Some("m1")),
                definitions: vec![published("a1", "1.0"), published("a1", "1.1")],
            },
            CatalogApp {
                app: app(T, "store-1", None),
                definitions: vec![published("store-1", "2.0")],
            },
        ],
        installations: vec![inst(&team_scope(), "a1", "1.0")],
    }
}
