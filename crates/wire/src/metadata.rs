//! Static entity-type metadata for the Teams app surface, per API version (spec section 2).
//!
//! Everything here is `'static`: the query engine (`crate::query`) validates names and shapes
//! responses against these tables without allocating per request. Property names are matched
//! case-insensitively on input (Graph does) and emitted with the canonical casing stored here.
//! Note the beta spelling `shortdescription` (lower-case d) versus v1.0 `shortDescription`.

use crate::odata::ApiVersion;

/// What a structural property holds. Properties not listed in a type's `kinds` are plain
/// primitives (strings, numbers, booleans, dates).
#[derive(Debug, Clone, Copy)]
pub enum PropKind {
    /// String, number, boolean, date; compared exactly.
    Primitive,
    /// Enum member serialised as a string; compared case-insensitively.
    Enum,
    /// A single complex value.
    Complex(&'static ComplexType),
    /// A collection of complex values (filterable with `any`/`all`).
    ComplexCollection(&'static ComplexType),
    /// A collection of primitives (filterable with `any`/`all`).
    PrimitiveCollection,
}

/// The kind of one non-primitive property.
#[derive(Debug)]
pub struct TypedProperty {
    pub name: &'static str,
    pub kind: PropKind,
}

/// A complex (structured, key-less) type such as `teamsAppAuthorization`.
#[derive(Debug)]
pub struct ComplexType {
    pub name: &'static str,
    pub properties: &'static [&'static str],
    /// Kinds of the properties that are not plain primitives.
    pub kinds: &'static [TypedProperty],
}

/// An entity type.
#[derive(Debug)]
pub struct EntityType {
    /// Unqualified name, e.g. `teamsApp` (qualified: `microsoft.graph.teamsApp`).
    pub name: &'static str,
    /// Default properties, in output order.
    pub properties: &'static [&'static str],
    /// Returned only when named in `$select` (e.g. installation `consentedPermissionSet`).
    pub select_only: &'static [&'static str],
    pub navigations: &'static [Navigation],
    /// Kinds of the properties (default or select-only) that are not plain primitives.
    pub kinds: &'static [TypedProperty],
}

/// A navigation property.
#[derive(Debug)]
pub struct Navigation {
    pub name: &'static str,
    /// The target type in the given API version.
    pub target: fn(ApiVersion) -> &'static EntityType,
    /// Collection-valued (`appDefinitions`) or single-valued (`bot`, `teamsApp`).
    pub collection: bool,
}

fn find_ci(list: &'static [&'static str], name: &str) -> Option<&'static str> {
    list.iter().copied().find(|p| p.eq_ignore_ascii_case(name))
}

fn kind_of(kinds: &'static [TypedProperty], canonical: &str) -> PropKind {
    kinds.iter().find(|k| k.name == canonical).map_or(PropKind::Primitive, |k| k.kind)
}

impl EntityType {
    /// `microsoft.graph.<name>`.
    pub fn qualified_name(&self) -> String {
        format!("microsoft.graph.{}", self.name)
    }

    /// `#microsoft.graph.<name>`, the `@odata.type` annotation value.
    pub fn odata_type(&self) -> String {
        format!("#microsoft.graph.{}", self.name)
    }

    /// The canonical name of a structural property (default or select-only), matched
    /// case-insensitively.
    pub fn property(&self, name: &str) -> Option<&'static str> {
        find_ci(self.properties, name).or_else(|| find_ci(self.select_only, name))
    }

    /// The navigation property `name`, matched case-insensitively.
    pub fn navigation(&self, name: &str) -> Option<&'static Navigation> {
        let navigations: &'static [Navigation] = self.navigations;
        navigations.iter().find(|n| n.name.eq_ignore_ascii_case(name))
    }

    /// Whether `name` (canonical) is returned only when selected.
    pub fn is_select_only(&self, name: &str) -> bool {
        self.select_only.iter().any(|p| p.eq_ignore_ascii_case(name))
    }

    /// The kind of the structural property `canonical`.
    pub fn kind(&self, canonical: &str) -> PropKind {
        kind_of(self.kinds, canonical)
    }
}

impl ComplexType {
    pub fn qualified_name(&self) -> String {
        format!("microsoft.graph.{}", self.name)
    }

    /// The canonical name of a property, matched case-insensitively.
    pub fn property(&self, name: &str) -> Option<&'static str> {
        find_ci(self.properties, name)
    }

    pub fn kind(&self, canonical: &str) -> PropKind {
        kind_of(self.kinds, canonical)
    }
}

// ---- complex types (spec 2.2-2.4, 2.7) ----

static IDENTITY: ComplexType = ComplexType {
    name: "identity",
    properties: &["id", "displayName", "tenantId", "userIdentityType"],
    kinds: &[TypedProperty { name: "userIdentityType", kind: PropKind::Enum }],
};

static IDENTITY_SET: ComplexType = ComplexType {
    name: "identitySet",
    properties: &["application", "device", "user", "conversation"],
    kinds: &[
        TypedProperty { name: "application", kind: PropKind::Complex(&IDENTITY) },
        TypedProperty { name: "device", kind: PropKind::Complex(&IDENTITY) },
        TypedProperty { name: "user", kind: PropKind::Complex(&IDENTITY) },
        TypedProperty { name: "conversation", kind: PropKind::Complex(&IDENTITY) },
    ],
};

static RSC_PERMISSION: ComplexType = ComplexType {
    name: "teamsAppResourceSpecificPermission",
    properties: &["permissionValue", "permissionType"],
    kinds: &[TypedProperty { name: "permissionType", kind: PropKind::Enum }],
};

static PERMISSION_SET: ComplexType = ComplexType {
    name: "teamsAppPermissionSet",
    properties: &["resourceSpecificPermissions"],
    kinds: &[TypedProperty {
        name: "resourceSpecificPermissions",
        kind: PropKind::ComplexCollection(&RSC_PERMISSION),
    }],
};

static AUTHORIZATION: ComplexType = ComplexType {
    name: "teamsAppAuthorization",
    properties: &["clientAppId", "requiredPermissionSet"],
    kinds: &[TypedProperty {
        name: "requiredPermissionSet",
        kind: PropKind::Complex(&PERMISSION_SET),
    }],
};

static ONLINE_MEETING_INFO: ComplexType = ComplexType {
    name: "teamworkOnlineMeetingInfo",
    properties: &["calendarEventId", "joinWebUrl", "organizer"],
    kinds: &[TypedProperty { name: "organizer", kind: PropKind::Complex(&IDENTITY) }],
};

// ---- entity types (spec 2.1, 2.2, 2.5-2.8) ----

static TEAMS_APP: EntityType = EntityType {
    name: "teamsApp",
    properties: &["id", "externalId", "displayName", "distributionMethod"],
    select_only: &[],
    navigations: &[Navigation {
        name: "appDefinitions",
        target: teams_app_definition,
        collection: true,
    }],
    kinds: &[TypedProperty { name: "distributionMethod", kind: PropKind::Enum }],
};

static DEFINITION_V1: EntityType = EntityType {
    name: "teamsAppDefinition",
    properties: &[
        "id",
        "teamsAppId",
        "displayName",
        "version",
        "publishingState",
        "shortDescription",
        "description",
        "lastModifiedDateTime",
        "createdBy",
        "authorization",
    ],
    select_only: &[],
    navigations: &[Navigation { name: "bot", target: teamwork_bot, collection: false }],
    kinds: &[
        TypedProperty { name: "publishingState", kind: PropKind::Enum },
        TypedProperty { name: "createdBy", kind: PropKind::Complex(&IDENTITY_SET) },
        TypedProperty { name: "authorization", kind: PropKind::Complex(&AUTHORIZATION) },
    ],
};

static DEFINITION_BETA: EntityType = EntityType {
    name: "teamsAppDefinition",
    properties: &[
        "id",
        "teamsAppId",
        "azureADAppId",
        "displayName",
        "version",
        "requiredResourceSpecificApplicationPermissions",
        "publishingState",
        "shortdescription",
        "description",
        "lastModifiedDateTime",
        "createdBy",
        "authorization",
        "allowedInstallationScopes",
    ],
    select_only: &[],
    navigations: &[
        Navigation { name: "bot", target: teamwork_bot, collection: false },
        Navigation { name: "colorIcon", target: teams_app_icon, collection: false },
        Navigation { name: "outlineIcon", target: teams_app_icon, collection: false },
    ],
    kinds: &[
        TypedProperty {
            name: "requiredResourceSpecificApplicationPermissions",
            kind: PropKind::PrimitiveCollection,
        },
        TypedProperty { name: "publishingState", kind: PropKind::Enum },
        TypedProperty { name: "createdBy", kind: PropKind::Complex(&IDENTITY_SET) },
        TypedProperty { name: "authorization", kind: PropKind::Complex(&AUTHORIZATION) },
        // Flags enum serialised as a comma-joined string; compared as an enum string.
        TypedProperty { name: "allowedInstallationScopes", kind: PropKind::Enum },
    ],
};

static TEAMWORK_BOT: EntityType = EntityType {
    name: "teamworkBot",
    properties: &["id"],
    select_only: &[],
    navigations: &[],
    kinds: &[],
};

static TEAMS_APP_ICON: EntityType = EntityType {
    name: "teamsAppIcon",
    properties: &["id", "webUrl"],
    select_only: &[],
    navigations: &[Navigation {
        name: "hostedContent",
        target: teamwork_hosted_content,
        collection: false,
    }],
    kinds: &[],
};

static TEAMWORK_HOSTED_CONTENT: EntityType = EntityType {
    name: "teamworkHostedContent",
    properties: &["id", "contentBytes", "contentType"],
    select_only: &[],
    navigations: &[],
    kinds: &[],
};

static INSTALLATION: EntityType = EntityType {
    name: "teamsAppInstallation",
    properties: &["id"],
    select_only: &["consentedPermissionSet"],
    navigations: &[
        Navigation { name: "teamsApp", target: teams_app, collection: false },
        Navigation { name: "teamsAppDefinition", target: teams_app_definition, collection: false },
    ],
    kinds: &[TypedProperty {
        name: "consentedPermissionSet",
        kind: PropKind::Complex(&PERMISSION_SET),
    }],
};

static USER_INSTALLATION: EntityType = EntityType {
    name: "userScopeTeamsAppInstallation",
    properties: &["id"],
    select_only: &["consentedPermissionSet"],
    navigations: &[
        Navigation { name: "teamsApp", target: teams_app, collection: false },
        Navigation { name: "teamsAppDefinition", target: teams_app_definition, collection: false },
        Navigation { name: "chat", target: chat, collection: false },
    ],
    kinds: &[TypedProperty {
        name: "consentedPermissionSet",
        kind: PropKind::Complex(&PERMISSION_SET),
    }],
};

static CHAT: EntityType = EntityType {
    name: "chat",
    properties: &[
        "id",
        "topic",
        "createdDateTime",
        "lastUpdatedDateTime",
        "chatType",
        "webUrl",
        "tenantId",
        "onlineMeetingInfo",
    ],
    select_only: &[],
    navigations: &[],
    kinds: &[
        TypedProperty { name: "chatType", kind: PropKind::Enum },
        TypedProperty { name: "onlineMeetingInfo", kind: PropKind::Complex(&ONLINE_MEETING_INFO) },
    ],
};

/// `user`: the default property set of `GET /users` first; the rest only with `$select`
/// (lifecycle spec 1.1).
static USER: EntityType = EntityType {
    name: "user",
    properties: &[
        "businessPhones",
        "displayName",
        "givenName",
        "jobTitle",
        "mail",
        "mobilePhone",
        "officeLocation",
        "preferredLanguage",
        "surname",
        "userPrincipalName",
        "id",
    ],
    select_only: &["accountEnabled", "userType"],
    navigations: &[],
    kinds: &[TypedProperty { name: "businessPhones", kind: PropKind::PrimitiveCollection }],
};

/// `team`: what `GET /teams` and `joinedTeams` return (`id`, `displayName`, `description`);
/// `GET /teams/{id}` adds the rest.
static TEAM: EntityType = EntityType {
    name: "team",
    properties: &["id", "displayName", "description"],
    select_only: &[
        "createdDateTime",
        "internalId",
        "classification",
        "specialization",
        "visibility",
        "webUrl",
        "isArchived",
        "tenantId",
        "isMembershipLimitedToOwners",
    ],
    navigations: &[],
    kinds: &[
        TypedProperty { name: "specialization", kind: PropKind::Enum },
        TypedProperty { name: "visibility", kind: PropKind::Enum },
    ],
};

/// `team` as `GET /teams/{id}` shows it: every property by default.
static TEAM_FULL: EntityType = EntityType {
    name: "team",
    properties: &[
        "id",
        "createdDateTime",
        "displayName",
        "description",
        "internalId",
        "classification",
        "specialization",
        "visibility",
        "webUrl",
        "isArchived",
        "tenantId",
        "isMembershipLimitedToOwners",
    ],
    select_only: &[],
    navigations: &[],
    kinds: &[
        TypedProperty { name: "specialization", kind: PropKind::Enum },
        TypedProperty { name: "visibility", kind: PropKind::Enum },
    ],
};

/// `group` (the properties the teams-as-groups listing shows).
static GROUP: EntityType = EntityType {
    name: "group",
    properties: &[
        "id",
        "description",
        "displayName",
        "groupTypes",
        "mailEnabled",
        "mailNickname",
        "resourceBehaviorOptions",
        "resourceProvisioningOptions",
        "securityEnabled",
        "visibility",
    ],
    select_only: &[],
    navigations: &[],
    kinds: &[
        TypedProperty { name: "groupTypes", kind: PropKind::PrimitiveCollection },
        TypedProperty { name: "resourceBehaviorOptions", kind: PropKind::PrimitiveCollection },
        TypedProperty { name: "resourceProvisioningOptions", kind: PropKind::PrimitiveCollection },
    ],
};

/// `teamsAppSettings`, v1.0: the tenant's switches without the chat one (lifecycle spec 4.1).
static TEAMS_APP_SETTINGS_V1: EntityType = EntityType {
    name: "teamsAppSettings",
    properties: &[
        "id",
        "allowUserRequestsForAppAccess",
        "isUserPersonalScopeResourceSpecificConsentEnabled",
    ],
    select_only: &[],
    navigations: &[],
    kinds: &[],
};

/// `teamsAppSettings`, beta: adds `isChatResourceSpecificConsentEnabled` and `customAppSettings`.
static TEAMS_APP_SETTINGS_BETA: EntityType = EntityType {
    name: "teamsAppSettings",
    properties: &[
        "id",
        "allowUserRequestsForAppAccess",
        "isUserPersonalScopeResourceSpecificConsentEnabled",
        "isChatResourceSpecificConsentEnabled",
        "customAppSettings",
    ],
    select_only: &[],
    navigations: &[],
    kinds: &[],
};

/// `teamsAppSettings` (`/teamwork/teamsAppSettings`).
pub fn teams_app_settings(version: ApiVersion) -> &'static EntityType {
    match version {
        ApiVersion::V1 => &TEAMS_APP_SETTINGS_V1,
        ApiVersion::Beta => &TEAMS_APP_SETTINGS_BETA,
    }
}

/// `user` (directory reads; same in both versions).
pub fn user(_version: ApiVersion) -> &'static EntityType {
    &USER
}

/// `team` (directory reads).
pub fn team(_version: ApiVersion) -> &'static EntityType {
    &TEAM
}

/// `team` of `GET /teams/{id}` (every property by default).
pub fn team_full(_version: ApiVersion) -> &'static EntityType {
    &TEAM_FULL
}

/// `group` (directory reads).
pub fn group(_version: ApiVersion) -> &'static EntityType {
    &GROUP
}

/// `teamsApp` (same in both versions).
pub fn teams_app(_version: ApiVersion) -> &'static EntityType {
    &TEAMS_APP
}

/// `teamsAppDefinition`: v1.0 emits the CSDL set; beta adds `azureADAppId`,
/// `requiredResourceSpecificApplicationPermissions`, `allowedInstallationScopes`, spells
/// `shortdescription` in lower case and has the `colorIcon`/`outlineIcon` navigations.
pub fn teams_app_definition(version: ApiVersion) -> &'static EntityType {
    match version {
        ApiVersion::V1 => &DEFINITION_V1,
        ApiVersion::Beta => &DEFINITION_BETA,
    }
}

/// `teamworkBot` (only `id`).
pub fn teamwork_bot(_version: ApiVersion) -> &'static EntityType {
    &TEAMWORK_BOT
}

/// `teamsAppIcon` (beta; reachable only through beta definitions).
pub fn teams_app_icon(_version: ApiVersion) -> &'static EntityType {
    &TEAMS_APP_ICON
}

/// `teamworkHostedContent` (beta; an app icon's image).
pub fn teamwork_hosted_content(_version: ApiVersion) -> &'static EntityType {
    &TEAMWORK_HOSTED_CONTENT
}

/// `teamsAppInstallation` (chat and team installedApps).
pub fn installation(_version: ApiVersion) -> &'static EntityType {
    &INSTALLATION
}

/// `userScopeTeamsAppInstallation` (user teamwork installedApps): adds the `chat` navigation.
pub fn user_installation(_version: ApiVersion) -> &'static EntityType {
    &USER_INSTALLATION
}

/// `chat` (only what this surface needs).
pub fn chat(_version: ApiVersion) -> &'static EntityType {
    &CHAT
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [fn(ApiVersion) -> &'static EntityType; 12] = [
        teams_app_settings,
        user,
        team,
        team_full,
        group,
        teams_app,
        teams_app_definition,
        teamwork_bot,
        teams_app_icon,
        installation,
        user_installation,
        chat,
    ];

    #[test]
    fn properties_are_matched_case_insensitively_and_canonicalised() {
        let def = teams_app_definition(ApiVersion::V1);
        assert_eq!(def.property("SHORTDESCRIPTION"), Some("shortDescription"));
        assert_eq!(def.property("azureADAppId"), None);
        let beta = teams_app_definition(ApiVersion::Beta);
        assert_eq!(beta.property("shortDescription"), Some("shortdescription"));
        assert_eq!(beta.property("azureadappid"), Some("azureADAppId"));
        assert_eq!(
            teams_app(ApiVersion::V1).navigation("APPDEFINITIONS").unwrap().name,
            "appDefinitions"
        );
        assert!(installation(ApiVersion::V1).is_select_only("consentedpermissionset"));
        assert_eq!(
            installation(ApiVersion::V1).property("ConsentedPermissionSet"),
            Some("consentedPermissionSet")
        );
        assert!(installation(ApiVersion::V1).navigation("chat").is_none());
        assert!(user_installation(ApiVersion::V1).navigation("chat").is_some());
    }

    #[test]
    fn navigation_targets_follow_the_version() {
        let nav = installation(ApiVersion::Beta).navigation("teamsAppDefinition").unwrap();
        assert!(std::ptr::eq(
            (nav.target)(ApiVersion::Beta),
            teams_app_definition(ApiVersion::Beta)
        ));
        assert!(std::ptr::eq((nav.target)(ApiVersion::V1), teams_app_definition(ApiVersion::V1)));
        assert!(teams_app_definition(ApiVersion::V1).navigation("colorIcon").is_none());
        assert!(teams_app_definition(ApiVersion::Beta).navigation("colorIcon").is_some());
    }

    #[test]
    fn metadata_is_consistent() {
        for version in [ApiVersion::V1, ApiVersion::Beta] {
            for f in ALL {
                let ty = f(version);
                let mut names: Vec<String> = ty
                    .properties
                    .iter()
                    .chain(ty.select_only)
                    .chain(ty.navigations.iter().map(|n| &n.name))
                    .map(|n| n.to_ascii_lowercase())
                    .collect();
                let total = names.len();
                names.sort();
                names.dedup();
                assert_eq!(names.len(), total, "duplicate member on {}", ty.name);
                for k in ty.kinds {
                    assert!(ty.property(k.name) == Some(k.name), "{}.{} kind", ty.name, k.name);
                }
                assert_eq!(ty.qualified_name(), format!("microsoft.graph.{}", ty.name));
            }
        }
        assert_eq!(teamwork_bot(ApiVersion::V1).odata_type(), "#microsoft.graph.teamworkBot");
    }
}
