//! Domain entities (spec section 6). Wire views are built from these in the api crate.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DistributionMethod {
    Store,
    Organization,
    Sideloaded,
}

impl DistributionMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            DistributionMethod::Store => "store",
            DistributionMethod::Organization => "organization",
            DistributionMethod::Sideloaded => "sideloaded",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "store" => Some(Self::Store),
            "organization" => Some(Self::Organization),
            "sideloaded" => Some(Self::Sideloaded),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PublishingState {
    Submitted,
    Published,
    Rejected,
}

impl PublishingState {
    pub fn as_str(self) -> &'static str {
        match self {
            PublishingState::Submitted => "submitted",
            PublishingState::Published => "published",
            PublishingState::Rejected => "rejected",
        }
    }
    /// The casing used inside definition ids (`##Published`).
    pub fn pascal(self) -> &'static str {
        match self {
            PublishingState::Submitted => "Submitted",
            PublishingState::Published => "Published",
            PublishingState::Rejected => "Rejected",
        }
    }
    pub fn from_pascal(s: &str) -> Option<Self> {
        Self::parse(s)
    }
    /// Enum input is case-insensitive; output is always lower camel (spec 1.4).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "submitted" => Some(Self::Submitted),
            "published" => Some(Self::Published),
            "rejected" => Some(Self::Rejected),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PermissionType {
    Delegated,
    Application,
}

impl PermissionType {
    pub fn as_str(self) -> &'static str {
        match self {
            PermissionType::Delegated => "delegated",
            PermissionType::Application => "application",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "delegated" => Some(Self::Delegated),
            "application" => Some(Self::Application),
            _ => None,
        }
    }
}

/// One RSC permission (`teamsAppResourceSpecificPermission`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSpecificPermission {
    pub permission_value: String,
    pub permission_type: PermissionType,
}

/// Installation scopes an app allows (beta `allowedInstallationScopes`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AllowedScopes {
    pub team: bool,
    pub group_chat: bool,
    pub personal: bool,
}

impl AllowedScopes {
    pub const ALL: AllowedScopes = AllowedScopes { team: true, group_chat: true, personal: true };

    pub fn allows(&self, kind: ScopeKind) -> bool {
        match kind {
            ScopeKind::User => self.personal,
            ScopeKind::Chat => self.group_chat,
            ScopeKind::Team => self.team,
        }
    }

    /// OData flags serialisation: comma-joined member names in declaration order.
    pub fn to_flags(&self) -> String {
        let mut out = Vec::new();
        if self.team {
            out.push("team");
        }
        if self.group_chat {
            out.push("groupChat");
        }
        if self.personal {
            out.push("personal");
        }
        out.join(",")
    }
}

/// A catalog app (`teamsApp`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamsApp {
    pub tenant_id: String,
    pub id: String,
    /// The manifest id; `None` for store apps.
    pub external_id: Option<String>,
    pub distribution_method: DistributionMethod,
}

/// Which icon of a definition (`colorIcon`, `outlineIcon`; beta).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IconKind {
    Color,
    Outline,
}

impl IconKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IconKind::Color => "color",
            IconKind::Outline => "outline",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "color" => Some(Self::Color),
            "outline" => Some(Self::Outline),
            _ => None,
        }
    }
}

/// An icon file of a published package, as uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionIcon {
    pub kind: IconKind,
    /// Sniffed: `image/png` for a PNG, else `application/octet-stream`.
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// One version of an app in one publishing state (`teamsAppDefinition`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppDefinition {
    pub app_id: String,
    pub version: String,
    pub publishing_state: PublishingState,
    pub display_name: String,
    pub short_description: String,
    pub description: String,
    pub last_modified: Option<DateTime<Utc>>,
    /// The user who published or submitted it.
    pub created_by: Option<String>,
    /// Manifest `webApplicationInfo.id` (v1.0 `authorization.clientAppId`, beta `azureADAppId`).
    pub client_app_id: Option<String>,
    pub required_permissions: Vec<ResourceSpecificPermission>,
    pub bot_id: Option<String>,
    pub allowed_scopes: AllowedScopes,
    /// Changes on every write of the definition; `@odata.etag` and `If-Match` carry it.
    pub etag: String,
}

/// An app with every definition it has, ordered by version ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogApp {
    pub app: TeamsApp,
    pub definitions: Vec<AppDefinition>,
}

impl CatalogApp {
    /// The published definition with the highest version (spec 6.1 "current").
    pub fn current(&self) -> Option<&AppDefinition> {
        self.definitions
            .iter()
            .filter(|d| d.publishing_state == PublishingState::Published)
            .max_by(|a, b| crate::version::compare(&a.version, &b.version))
    }

    /// The newest definition in any state; its name is the app's when nothing is published.
    pub fn newest(&self) -> Option<&AppDefinition> {
        self.definitions.iter().max_by(|a, b| crate::version::compare(&a.version, &b.version))
    }

    pub fn display_name(&self) -> Option<&str> {
        self.current().or_else(|| self.newest()).map(|d| d.display_name.as_str())
    }

    pub fn definition(&self, version: &str) -> Option<&AppDefinition> {
        self.definitions.iter().find(|d| d.version == version)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ScopeKind {
    User,
    Chat,
    Team,
}

impl ScopeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeKind::User => "user",
            ScopeKind::Chat => "chat",
            ScopeKind::Team => "team",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Self::User),
            "chat" => Some(Self::Chat),
            "team" => Some(Self::Team),
            _ => None,
        }
    }
}

/// Where an installation lives: a user's personal scope, a chat or a team.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScopeRef {
    pub kind: ScopeKind,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installation {
    pub tenant_id: String,
    pub scope: ScopeRef,
    pub app_id: String,
    /// The installed definition's version (with `app_id` it names the definition).
    pub version: String,
    /// `None` when nothing was consented (spec 5.4 rule 1).
    pub consented: Option<Vec<ResourceSpecificPermission>>,
}

// --- Directory objects, from the tenant fixture -------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: String,
    pub display_name: String,
}

/// `teamsAppSettings` of a tenant (spec 2.8): whether users may consent to RSC permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TenantSettings {
    pub allow_user_requests_for_app_access: bool,
    pub is_user_personal_scope_resource_specific_consent_enabled: bool,
    /// Beta only in Graph.
    pub is_chat_resource_specific_consent_enabled: bool,
}

impl Default for TenantSettings {
    fn default() -> Self {
        TenantSettings {
            allow_user_requests_for_app_access: false,
            is_user_personal_scope_resource_specific_consent_enabled: true,
            is_chat_resource_specific_consent_enabled: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub tenant_id: String,
    pub id: String,
    pub user_principal_name: String,
    pub display_name: String,
    pub password: Option<String>,
    pub roles: Vec<String>,
    /// Fixture profile fields; `None` when the fixture does not give them.
    pub mail: Option<String>,
    pub account_enabled: Option<bool>,
    /// `Member` or `Guest`.
    pub user_type: Option<String>,
}

impl User {
    /// Teams Service Administrator or Global Administrator (spec 3.3 "Admin").
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| {
            r.eq_ignore_ascii_case("TeamsServiceAdministrator")
                || r.eq_ignore_ascii_case("GlobalAdministrator")
                || r.eq_ignore_ascii_case("Teams Service Administrator")
                || r.eq_ignore_ascii_case("Global Administrator")
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chat {
    pub tenant_id: String,
    pub id: String,
    /// `oneOnOne`, `group` or `meeting`.
    pub chat_type: String,
    pub topic: Option<String>,
    pub members: Vec<String>,
    pub join_web_url: Option<String>,
    pub created_date_time: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    pub tenant_id: String,
    pub id: String,
    pub display_name: String,
    pub owners: Vec<String>,
    pub members: Vec<String>,
    pub description: Option<String>,
    /// `private`, `public` or `hiddenMembership` (`teamVisibilityType`).
    pub visibility: Option<String>,
}

/// An Entra app registration that calls the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    pub tenant_id: String,
    pub app_id: String,
    pub display_name: String,
    pub client_secret: String,
    pub application_permissions: Vec<String>,
    pub delegated_permissions: Vec<String>,
    /// Manifest ids the `*Selected*` permissions may touch.
    pub selected_teams_apps: Vec<String>,
}

/// A token signing key: PKCS#8 PEM private key and its `kid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub kid: String,
    pub private_pem: String,
    pub created_at: DateTime<Utc>,
}
