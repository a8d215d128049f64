//! The operation table: one row per Graph operation served, with everything the server needs to
//! know about it: its name, method and routes (below `/v1.0` and `/beta`, aliases included), a
//! summary, the permissions it accepts and how far each reaches (spec
//! sections 3, 4, 5.6), which API versions serve it, and the shape of its answer. The router,
//! the permission check, `/openapi.json` and `docs/permissions.md` all read this table; adding an
//! operation is one variant, one row and one handler.
//!
//! Permission lists keep the documented order (least privileged first), because the 403 message
//! names them in that order.

/// Which apps a grant reaches (spec 5.6 cell codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// `A`: any app.
    Any,
    /// `S`: only the Teams app tied to the calling Entra app (5.2).
    OwnApp,
    /// `Sel`: only apps selected for the calling Entra app (5.3).
    Selected,
    /// RSC application permission: only in the chat/team/user where the calling app is
    /// installed with this permission consented (5.5).
    Resource,
    /// Delegated permission that reaches only the signed-in user's own object (`User.Read`).
    SignedInUser,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub permission: &'static str,
    pub reach: Reach,
    /// `+C`: may consent to the app's RSC application permissions (5.4).
    pub consent: bool,
}

const fn g(permission: &'static str, reach: Reach, consent: bool) -> Grant {
    Grant { permission, reach, consent }
}
const fn any(p: &'static str) -> Grant {
    g(p, Reach::Any, false)
}
const fn own(p: &'static str) -> Grant {
    g(p, Reach::OwnApp, false)
}
const fn sel(p: &'static str) -> Grant {
    g(p, Reach::Selected, false)
}
const fn rsc(p: &'static str) -> Grant {
    g(p, Reach::Resource, false)
}
const fn me(p: &'static str) -> Grant {
    g(p, Reach::SignedInUser, false)
}
const fn any_c(p: &'static str) -> Grant {
    g(p, Reach::Any, true)
}
const fn own_c(p: &'static str) -> Grant {
    g(p, Reach::OwnApp, true)
}
const fn sel_c(p: &'static str) -> Grant {
    g(p, Reach::Selected, true)
}

const CATALOG_READ_D: &[Grant] = &[
    any("AppCatalog.Submit"),
    any("AppCatalog.Read.All"),
    any("AppCatalog.ReadWrite.All"),
    any("Directory.Read.All"),
    any("Directory.ReadWrite.All"),
];
const CATALOG_READ_A: &[Grant] = &[any("AppCatalog.Read.All"), any("AppCatalog.ReadWrite.All")];
const BOT_D: &[Grant] =
    &[any("AppCatalog.Read.All"), any("AppCatalog.ReadWrite.All"), any("AppCatalog.Submit")];
// Icons (beta, lifecycle spec 5.2): delegated only.
const ICON_D: &[Grant] =
    &[any("AppCatalog.Read.All"), any("AppCatalog.ReadWrite.All"), any("AppCatalog.Submit")];
const CATALOG_WRITE_D: &[Grant] =
    &[any("AppCatalog.Submit"), any("AppCatalog.ReadWrite.All"), any("Directory.ReadWrite.All")];
const REVIEW_D: &[Grant] = &[any("AppCatalog.ReadWrite.All")];
// Observed: "API requires one of 'AppCatalog.ReadWrite.All, Directory.ReadWrite.All'".
const DELETE_APP_D: &[Grant] = &[any("AppCatalog.ReadWrite.All"), any("Directory.ReadWrite.All")];
const NONE: &[Grant] = &[];

const USER_READ_D: &[Grant] = &[
    any("TeamsAppInstallation.ReadForUser"),
    own("TeamsAppInstallation.ReadWriteSelfForUser"),
    sel("TeamsAppInstallation.ManageSelectedForUser"),
    any("TeamsAppInstallation.ReadWriteAndConsentForUser"),
    own("TeamsAppInstallation.ReadWriteAndConsentSelfForUser"),
    any("TeamsAppInstallation.ReadWriteForUser"),
    sel("TeamsAppInstallation.ReadWriteSelectedForUser"),
];
const USER_READ_A: &[Grant] = &[
    any("TeamsAppInstallation.ReadForUser.All"),
    own("TeamsAppInstallation.ReadWriteSelfForUser.All"),
    sel("TeamsAppInstallation.ManageSelectedForUser.All"),
    any("TeamsAppInstallation.Read.All"),
    rsc("TeamsAppInstallation.Read.User"),
    any("TeamsAppInstallation.ReadWriteAndConsentForUser.All"),
    own("TeamsAppInstallation.ReadWriteAndConsentSelfForUser.All"),
    any("TeamsAppInstallation.ReadWriteForUser.All"),
    sel("TeamsAppInstallation.ReadWriteSelectedForUser.All"),
];
// The documented List table; Read.All and Read.User are inferred from Get, so they come last.
const USER_LIST_A: &[Grant] = &[
    any("TeamsAppInstallation.ReadForUser.All"),
    own("TeamsAppInstallation.ReadWriteSelfForUser.All"),
    sel("TeamsAppInstallation.ManageSelectedForUser.All"),
    any("TeamsAppInstallation.ReadWriteAndConsentForUser.All"),
    own("TeamsAppInstallation.ReadWriteAndConsentSelfForUser.All"),
    any("TeamsAppInstallation.ReadWriteForUser.All"),
    sel("TeamsAppInstallation.ReadWriteSelectedForUser.All"),
    any("TeamsAppInstallation.Read.All"),
    rsc("TeamsAppInstallation.Read.User"),
];
// Get chat: the documented three first, the other List permissions (inferred) after.
const USER_CHAT_D: &[Grant] = &[
    any("TeamsAppInstallation.ReadForUser"),
    own("TeamsAppInstallation.ReadWriteSelfForUser"),
    any("TeamsAppInstallation.ReadWriteForUser"),
    sel("TeamsAppInstallation.ManageSelectedForUser"),
    any("TeamsAppInstallation.ReadWriteAndConsentForUser"),
    own("TeamsAppInstallation.ReadWriteAndConsentSelfForUser"),
    sel("TeamsAppInstallation.ReadWriteSelectedForUser"),
];
const USER_CHAT_A: &[Grant] = &[
    any("TeamsAppInstallation.ReadForUser.All"),
    own("TeamsAppInstallation.ReadWriteSelfForUser.All"),
    any("TeamsAppInstallation.ReadWriteForUser.All"),
    sel("TeamsAppInstallation.ManageSelectedForUser.All"),
    any("TeamsAppInstallation.ReadWriteAndConsentForUser.All"),
    own("TeamsAppInstallation.ReadWriteAndConsentSelfForUser.All"),
    sel("TeamsAppInstallation.ReadWriteSelectedForUser.All"),
    any("TeamsAppInstallation.Read.All"),
    rsc("TeamsAppInstallation.Read.User"),
];
const USER_WRITE_D: &[Grant] = &[
    own("TeamsAppInstallation.ReadWriteSelfForUser"),
    sel_c("TeamsAppInstallation.ManageSelectedForUser"),
    any_c("TeamsAppInstallation.ReadWriteAndConsentForUser"),
    own_c("TeamsAppInstallation.ReadWriteAndConsentSelfForUser"),
    any("TeamsAppInstallation.ReadWriteForUser"),
    sel("TeamsAppInstallation.ReadWriteSelectedForUser"),
];
const USER_WRITE_A: &[Grant] = &[
    own("TeamsAppInstallation.ReadWriteSelfForUser.All"),
    sel_c("TeamsAppInstallation.ManageSelectedForUser.All"),
    any_c("TeamsAppInstallation.ReadWriteAndConsentForUser.All"),
    own_c("TeamsAppInstallation.ReadWriteAndConsentSelfForUser.All"),
    any("TeamsAppInstallation.ReadWriteForUser.All"),
    sel("TeamsAppInstallation.ReadWriteSelectedForUser.All"),
];
const USER_DELETE_D: &[Grant] = &[
    own("TeamsAppInstallation.ReadWriteSelfForUser"),
    any("TeamsAppInstallation.ReadWriteAndConsentForUser"),
    own("TeamsAppInstallation.ReadWriteAndConsentSelfForUser"),
    any("TeamsAppInstallation.ReadWriteForUser"),
    sel("TeamsAppInstallation.ManageSelectedForUser"),
    sel("TeamsAppInstallation.ReadWriteSelectedForUser"),
];
const USER_DELETE_A: &[Grant] = &[
    own("TeamsAppInstallation.ReadWriteSelfForUser.All"),
    any("TeamsAppInstallation.ReadWriteAndConsentForUser.All"),
    own("TeamsAppInstallation.ReadWriteAndConsentSelfForUser.All"),
    any("TeamsAppInstallation.ReadWriteForUser.All"),
    sel("TeamsAppInstallation.ManageSelectedForUser.All"),
    sel("TeamsAppInstallation.ReadWriteSelectedForUser.All"),
];

const CHAT_READ_D: &[Grant] = &[
    any("TeamsAppInstallation.ReadForChat"),
    own("TeamsAppInstallation.ReadWriteSelfForChat"),
    sel("TeamsAppInstallation.ManageSelectedForChat"),
    any("TeamsAppInstallation.ReadWriteAndConsentForChat"),
    own("TeamsAppInstallation.ReadWriteAndConsentSelfForChat"),
    any("TeamsAppInstallation.ReadWriteForChat"),
];
const CHAT_READ_A: &[Grant] = &[
    any("TeamsAppInstallation.ReadForChat.All"),
    own("TeamsAppInstallation.ReadWriteSelfForChat.All"),
    rsc("Chat.Manage.Chat"),
    sel("TeamsAppInstallation.ManageSelectedForChat.All"),
    rsc("TeamsAppInstallation.Read.Chat"),
    any("TeamsAppInstallation.ReadWriteAndConsentForChat.All"),
    own("TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All"),
    any("TeamsAppInstallation.ReadWriteForChat.All"),
    any("TeamsAppInstallation.Read.All"),
];
const CHAT_WRITE_D: &[Grant] = &[
    own("TeamsAppInstallation.ReadWriteSelfForChat"),
    sel_c("TeamsAppInstallation.ManageSelectedForChat"),
    any_c("TeamsAppInstallation.ReadWriteAndConsentForChat"),
    own_c("TeamsAppInstallation.ReadWriteAndConsentSelfForChat"),
    any("TeamsAppInstallation.ReadWriteForChat"),
];
const CHAT_WRITE_A: &[Grant] = &[
    own("TeamsAppInstallation.ReadWriteSelfForChat.All"),
    rsc("Chat.Manage.Chat"),
    sel_c("TeamsAppInstallation.ManageSelectedForChat.All"),
    any_c("TeamsAppInstallation.ReadWriteAndConsentForChat.All"),
    own_c("TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All"),
    any("TeamsAppInstallation.ReadWriteForChat.All"),
];
const CHAT_DELETE_D: &[Grant] = &[
    own("TeamsAppInstallation.ReadWriteSelfForChat"),
    sel("TeamsAppInstallation.ManageSelectedForChat"),
    any("TeamsAppInstallation.ReadWriteForChat"),
];
const CHAT_DELETE_A: &[Grant] = &[
    own("TeamsAppInstallation.ReadWriteSelfForChat.All"),
    rsc("Chat.Manage.Chat"),
    sel("TeamsAppInstallation.ManageSelectedForChat.All"),
    any("TeamsAppInstallation.ReadWriteForChat.All"),
];

const TEAM_LIST_D: &[Grant] = &[
    any("TeamsAppInstallation.ReadForTeam"),
    own("TeamsAppInstallation.ReadWriteSelfForTeam"),
    sel("TeamsAppInstallation.ManageSelectedForTeam"),
    any("TeamsAppInstallation.ReadWriteAndConsentForTeam"),
    own("TeamsAppInstallation.ReadWriteAndConsentSelfForTeam"),
    any("TeamsAppInstallation.ReadWriteForTeam"),
    any("Group.Read.All"),
    any("Group.ReadWrite.All"),
    any("Directory.Read.All"),
    any("Directory.ReadWrite.All"),
];
const TEAM_GET_D: &[Grant] = &[
    own("TeamsAppInstallation.ReadWriteSelfForTeam"),
    sel("TeamsAppInstallation.ManageSelectedForTeam"),
    any("TeamsAppInstallation.ReadForTeam"),
    // Documented (odd): the user-scope read permission also reads team installations.
    any("TeamsAppInstallation.ReadForUser"),
    any("TeamsAppInstallation.ReadWriteAndConsentForTeam"),
    own("TeamsAppInstallation.ReadWriteAndConsentSelfForTeam"),
    any("TeamsAppInstallation.ReadWriteForTeam"),
    any("Group.Read.All"),
    any("Group.ReadWrite.All"),
    any("Directory.Read.All"),
    any("Directory.ReadWrite.All"),
];
const TEAM_READ_A: &[Grant] = &[
    rsc("TeamsAppInstallation.Read.Group"),
    own("TeamsAppInstallation.ReadWriteSelfForTeam.All"),
    sel("TeamsAppInstallation.ManageSelectedForTeam.All"),
    any("TeamsAppInstallation.Read.All"),
    any("TeamsAppInstallation.ReadForTeam.All"),
    any("TeamsAppInstallation.ReadWriteAndConsentForTeam.All"),
    own("TeamsAppInstallation.ReadWriteAndConsentSelfForTeam.All"),
    any("TeamsAppInstallation.ReadWriteForTeam.All"),
    any("Group.Read.All"),
    any("Group.ReadWrite.All"),
    any("Directory.Read.All"),
    any("Directory.ReadWrite.All"),
];
// The documented install table lacks ReadWriteAndConsentForTeam; allowed by inference, last.
const TEAM_INSTALL_D: &[Grant] = &[
    own("TeamsAppInstallation.ReadWriteSelfForTeam"),
    sel_c("TeamsAppInstallation.ManageSelectedForTeam"),
    own_c("TeamsAppInstallation.ReadWriteAndConsentSelfForTeam"),
    any("TeamsAppInstallation.ReadWriteForTeam"),
    any("Group.ReadWrite.All"),
    any("Directory.ReadWrite.All"),
    any_c("TeamsAppInstallation.ReadWriteAndConsentForTeam"),
];
const TEAM_WRITE_D: &[Grant] = &[
    own("TeamsAppInstallation.ReadWriteSelfForTeam"),
    sel_c("TeamsAppInstallation.ManageSelectedForTeam"),
    any_c("TeamsAppInstallation.ReadWriteAndConsentForTeam"),
    own_c("TeamsAppInstallation.ReadWriteAndConsentSelfForTeam"),
    any("TeamsAppInstallation.ReadWriteForTeam"),
    any("Group.ReadWrite.All"),
    any("Directory.ReadWrite.All"),
];
const TEAM_WRITE_A: &[Grant] = &[
    own("TeamsAppInstallation.ReadWriteSelfForTeam.All"),
    sel_c("TeamsAppInstallation.ManageSelectedForTeam.All"),
    any_c("TeamsAppInstallation.ReadWriteAndConsentForTeam.All"),
    own_c("TeamsAppInstallation.ReadWriteAndConsentSelfForTeam.All"),
    any("TeamsAppInstallation.ReadWriteForTeam.All"),
    any("Group.ReadWrite.All"),
    any("Directory.ReadWrite.All"),
];
const TEAM_DELETE_D: &[Grant] = &[
    own("TeamsAppInstallation.ReadWriteSelfForTeam"),
    sel("TeamsAppInstallation.ManageSelectedForTeam"),
    any("TeamsAppInstallation.ReadWriteForTeam"),
    any("Group.ReadWrite.All"),
    any("Directory.ReadWrite.All"),
];
const TEAM_DELETE_A: &[Grant] = &[
    own("TeamsAppInstallation.ReadWriteSelfForTeam.All"),
    sel("TeamsAppInstallation.ManageSelectedForTeam.All"),
    any("TeamsAppInstallation.ReadWriteForTeam.All"),
    any("Group.ReadWrite.All"),
    any("Directory.ReadWrite.All"),
];

// Directory reads (lifecycle spec section 1).
const USERS_D: &[Grant] = &[
    any("User.ReadBasic.All"),
    any("User.Read.All"),
    any("User.ReadWrite.All"),
    any("Directory.Read.All"),
    any("Directory.ReadWrite.All"),
];
const USERS_A: &[Grant] = &[
    any("User.Read.All"),
    any("User.ReadWrite.All"),
    any("Directory.Read.All"),
    any("Directory.ReadWrite.All"),
];
const USER_D: &[Grant] = &[
    me("User.Read"),
    me("User.ReadWrite"),
    any("User.ReadBasic.All"),
    any("User.Read.All"),
    any("User.ReadWrite.All"),
    any("Directory.Read.All"),
    any("Directory.ReadWrite.All"),
];
const TEAMS_LIST: &[Grant] =
    &[any("Team.ReadBasic.All"), any("TeamSettings.Read.All"), any("TeamSettings.ReadWrite.All")];
const TEAM_D: &[Grant] = &[
    any("Team.ReadBasic.All"),
    any("TeamSettings.ReadWrite.All"),
    any("Directory.Read.All"),
    any("Directory.ReadWrite.All"),
    any("Group.Read.All"),
    any("Group.ReadWrite.All"),
    any("TeamSettings.Read.All"),
];
const TEAM_A: &[Grant] = &[
    rsc("TeamSettings.Read.Group"),
    rsc("TeamSettings.ReadWrite.Group"),
    any("Directory.Read.All"),
    any("Directory.ReadWrite.All"),
    any("Group.Read.All"),
    any("Group.ReadWrite.All"),
    any("Team.ReadBasic.All"),
    any("TeamSettings.Read.All"),
    any("TeamSettings.ReadWrite.All"),
];
const JOINED_TEAMS: &[Grant] = &[
    any("Team.ReadBasic.All"),
    any("TeamSettings.Read.All"),
    any("TeamSettings.ReadWrite.All"),
    any("User.Read.All"),
    any("User.ReadWrite.All"),
    any("Directory.Read.All"),
    any("Directory.ReadWrite.All"),
];
const CHATS_D: &[Grant] = &[any("Chat.ReadBasic"), any("Chat.Read"), any("Chat.ReadWrite")];
const CHATS_A: &[Grant] =
    &[any("Chat.ReadBasic.All"), any("Chat.Read.All"), any("Chat.ReadWrite.All")];
const CHAT_A: &[Grant] = &[
    any("Chat.ReadBasic.All"),
    any("Chat.Read.All"),
    any("Chat.ReadWrite.All"),
    rsc("ChatSettings.Read.Chat"),
    rsc("ChatSettings.ReadWrite.Chat"),
    rsc("Chat.Manage.Chat"),
    rsc("ChatMember.Read.Chat"),
];
// permissionGrants (lifecycle spec 3.3): the union of the older and newer tables.
const GRANTS_CHAT_D: &[Grant] = &[
    any("ResourceSpecificPermissionGrant.ReadForChat"),
    sel("TeamsAppInstallation.ManageSelectedForChat"),
    any("TeamsAppInstallation.ReadForChat"),
    any("TeamsAppInstallation.ReadWriteForChat"),
    own("TeamsAppInstallation.ReadWriteSelfForChat"),
];
const GRANTS_CHAT_A: &[Grant] = &[
    rsc("TeamsAppInstallation.Read.Chat"),
    rsc("Chat.Manage.Chat"),
    any("ResourceSpecificPermissionGrant.ReadForChat.All"),
    sel("TeamsAppInstallation.ManageSelectedForChat.All"),
    any("TeamsAppInstallation.ReadForChat.All"),
    own("TeamsAppInstallation.ReadWriteSelfForChat.All"),
    any("TeamsAppInstallation.ReadWriteForChat.All"),
];
const GRANTS_TEAM_D: &[Grant] = &[
    any("TeamsAppInstallation.ReadForTeam"),
    own("TeamsAppInstallation.ReadWriteSelfForTeam"),
    any("TeamsAppInstallation.ReadWriteForTeam"),
    any("ResourceSpecificPermissionGrant.ReadForTeam"),
];
const GRANTS_TEAM_A: &[Grant] = &[
    rsc("TeamsAppInstallation.Read.Group"),
    any("TeamsAppInstallation.ReadForTeam.All"),
    own("TeamsAppInstallation.ReadWriteSelfForTeam.All"),
    any("TeamsAppInstallation.ReadWriteForTeam.All"),
    rsc("TeamsApp.Read.Group"),
    any("ResourceSpecificPermissionGrant.ReadForTeam.All"),
];
const GRANTS_GROUP: &[Grant] = &[
    any("GroupMember.Read.All"),
    any("Group.Read.All"),
    any("Group.ReadWrite.All"),
    any("GroupMember.ReadWrite.All"),
];
const GRANTS_USER_D: &[Grant] = &[
    any("ResourceSpecificPermissionGrant.ReadForUser"),
    sel("TeamsAppInstallation.ManageSelectedForUser"),
    any("TeamsAppInstallation.ReadWriteAndConsentForUser"),
    own("TeamsAppInstallation.ReadWriteAndConsentSelfForUser"),
];
const GRANTS_USER_A: &[Grant] = &[
    any("ResourceSpecificPermissionGrant.ReadForUser.All"),
    sel("TeamsAppInstallation.ManageSelectedForUser.All"),
    any("TeamsAppInstallation.ReadWriteAndConsentForUser.All"),
    own("TeamsAppInstallation.ReadWriteAndConsentSelfForUser.All"),
];

// teamsAppSettings (lifecycle spec 4.2, 4.3): delegated only.
const SETTINGS_READ_D: &[Grant] =
    &[any("TeamworkAppSettings.Read.All"), any("TeamworkAppSettings.ReadWrite.All")];
const SETTINGS_WRITE_D: &[Grant] = &[any("TeamworkAppSettings.ReadWrite.All")];
const GROUPS: &[Grant] = &[
    any("GroupMember.Read.All"),
    any("Group.Read.All"),
    any("Directory.Read.All"),
    any("Group.ReadWrite.All"),
    any("Directory.ReadWrite.All"),
];

/// Every Graph operation served, named as Graph's documentation names it. The variants are in
/// the order of [`OPERATIONS`] (checked when compiling), so a row is found by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    ListTeamsApps,
    GetTeamsApp,
    ListAppDefinitions,
    GetAppDefinition,
    PublishTeamsApp,
    UpdateTeamsApp,
    ReviewAppDefinition,
    DeleteTeamsApp,
    DeleteAppDefinition,
    GetTeamworkBot,
    ListUserInstalledApps,
    GetUserInstalledApp,
    InstallAppForUser,
    UpgradeAppForUser,
    UninstallAppForUser,
    GetUserInstalledAppChat,
    ListChatInstalledApps,
    GetChatInstalledApp,
    InstallAppInChat,
    UpgradeAppInChat,
    UninstallAppInChat,
    ListTeamInstalledApps,
    GetTeamInstalledApp,
    InstallAppInTeam,
    UpgradeAppInTeam,
    UninstallAppInTeam,
    ListUsers,
    CountUsers,
    GetUser,
    GetMe,
    ListTeams,
    GetTeam,
    ListUserJoinedTeams,
    ListMyJoinedTeams,
    ListUserChats,
    ListMyChats,
    ListChats,
    GetChat,
    ListGroups,
    GetTeamsAppSettings,
    UpdateTeamsAppSettings,
    ListChatPermissionGrants,
    ListTeamPermissionGrants,
    ListGroupPermissionGrants,
    ListUserPermissionGrants,
    GetTeamsAppIcon,
    GetTeamworkHostedContent,
    GetTeamworkHostedContentBytes,
}

use Operation::*;

/// Which part of Graph's surface an operation belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `/appCatalogs/teamsApps…` (spec 3).
    Catalog,
    /// `…/installedApps…` in the three scopes (spec 4).
    Installations,
    /// Users, teams, chats and groups (lifecycle spec 1).
    Directory,
    /// The tenant's Teams settings under `/teamwork` (lifecycle spec 4).
    Teamwork,
    /// RSC permission grants of chats, teams and users (lifecycle spec 3).
    Grants,
}

/// Which Graph workload answers an operation: it decides the shape of a refusal (the directory
/// answers `Authorization_RequestDenied`, Teams names the permissions it wanted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    Teams,
    Directory,
}

/// The API versions that serve an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versions {
    Both,
    BetaOnly,
}

impl Versions {
    pub fn v1(self) -> bool {
        matches!(self, Versions::Both)
    }
}

/// What an operation takes and answers, for its OpenAPI description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A collection of `item` with the paging and counting options.
    List { item: &'static str },
    /// One entity of `schema` with `$select` and `$expand`.
    Get { schema: &'static str },
    /// An app package upload (`?requiresReview=`) answering `status` with `schema`, or 204 when
    /// `no_content_too`.
    Upload { status: u16, schema: &'static str, no_content_too: bool },
    /// PATCH of a definition's `publishingState`, with `If-Match`.
    Review,
    /// An install: JSON `teamsApp@odata.bind` body, empty answer with `status`.
    Install { status: u16 },
    /// An upgrade: optional JSON body, 204.
    Upgrade,
    /// DELETE: 204.
    Delete,
    /// A bare number as `text/plain` (`$count` segments).
    Count,
    /// PATCH of `schema`'s properties (JSON), 204.
    Patch { schema: &'static str },
    /// Raw bytes (`$value`) of the given content type.
    Bytes { content_type: &'static str },
}

/// One Graph operation.
#[derive(Debug)]
pub struct OperationRow {
    pub op: Operation,
    /// The operation's name in fault rules, the request log and spans (e.g. `UpgradeAppInTeam`).
    pub name: &'static str,
    /// The name of its handler in the API crate (and its OpenAPI `operationId`).
    pub handler: &'static str,
    pub method: &'static str,
    /// Its routes below `/v1.0` and `/beta`; the first is the canonical one, the rest aliases.
    pub routes: &'static [&'static str],
    pub summary: &'static str,
    /// Accepted delegated permissions (`scp`), in documented order.
    pub delegated: &'static [Grant],
    /// Accepted application permissions (`roles`), in documented order. Empty: application
    /// context is not supported (publish, update, review, delete).
    pub application: &'static [Grant],
    pub versions: Versions,
    pub answer: Answer,
    pub workload: Workload,
    pub surface: Surface,
}

/// The table, in the order of the [`Operation`] variants.
pub const OPERATIONS: &[OperationRow] = &[
    OperationRow {
        op: ListTeamsApps,
        name: "ListTeamsApps",
        handler: "list_teams_apps",
        method: "GET",
        routes: &["/appCatalogs/teamsApps"],
        summary: "List apps in the catalog",
        delegated: CATALOG_READ_D,
        application: CATALOG_READ_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Catalog,
        answer: Answer::List { item: "teamsApp" },
    },
    OperationRow {
        op: GetTeamsApp,
        name: "GetTeamsApp",
        handler: "get_teams_app",
        method: "GET",
        routes: &["/appCatalogs/teamsApps/{app_id}"],
        summary: "Get an app",
        delegated: CATALOG_READ_D,
        application: CATALOG_READ_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Catalog,
        answer: Answer::Get { schema: "teamsApp" },
    },
    OperationRow {
        op: ListAppDefinitions,
        name: "ListAppDefinitions",
        handler: "list_app_definitions",
        method: "GET",
        routes: &["/appCatalogs/teamsApps/{app_id}/appDefinitions"],
        summary: "List an app's definitions",
        delegated: CATALOG_READ_D,
        application: CATALOG_READ_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Catalog,
        answer: Answer::List { item: "teamsAppDefinition" },
    },
    OperationRow {
        op: GetAppDefinition,
        name: "GetAppDefinition",
        handler: "get_app_definition",
        method: "GET",
        routes: &["/appCatalogs/teamsApps/{app_id}/appDefinitions/{definition_id}"],
        summary: "Get an app definition",
        delegated: CATALOG_READ_D,
        application: CATALOG_READ_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Catalog,
        answer: Answer::Get { schema: "teamsAppDefinition" },
    },
    OperationRow {
        op: PublishTeamsApp,
        name: "PublishTeamsApp",
        handler: "publish_teams_app",
        method: "POST",
        routes: &["/appCatalogs/teamsApps"],
        summary: "Publish an app to the tenant catalog",
        delegated: CATALOG_WRITE_D,
        application: NONE,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Catalog,
        answer: Answer::Upload { status: 201, schema: "teamsApp", no_content_too: false },
    },
    OperationRow {
        op: UpdateTeamsApp,
        name: "UpdateTeamsApp",
        handler: "update_teams_app",
        method: "POST",
        routes: &["/appCatalogs/teamsApps/{app_id}/appDefinitions"],
        summary: "Update an app (upload a new version)",
        delegated: CATALOG_WRITE_D,
        application: NONE,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Catalog,
        answer: Answer::Upload { status: 201, schema: "teamsAppDefinition", no_content_too: true },
    },
    OperationRow {
        op: ReviewAppDefinition,
        name: "ReviewAppDefinition",
        handler: "review_app_definition",
        method: "PATCH",
        routes: &["/appCatalogs/teamsApps/{app_id}/appDefinitions/{definition_id}"],
        summary: "Approve or reject a submitted definition",
        delegated: REVIEW_D,
        application: NONE,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Catalog,
        answer: Answer::Review,
    },
    OperationRow {
        op: DeleteTeamsApp,
        name: "DeleteTeamsApp",
        handler: "delete_teams_app",
        method: "DELETE",
        routes: &["/appCatalogs/teamsApps/{app_id}"],
        summary: "Delete an app from the tenant catalog",
        delegated: DELETE_APP_D,
        application: NONE,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Catalog,
        answer: Answer::Delete,
    },
    OperationRow {
        op: DeleteAppDefinition,
        name: "DeleteAppDefinition",
        handler: "delete_app_definition",
        method: "DELETE",
        routes: &["/appCatalogs/teamsApps/{app_id}/appDefinitions/{definition_id}"],
        summary: "Cancel a submitted definition",
        delegated: CATALOG_WRITE_D,
        application: NONE,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Catalog,
        answer: Answer::Delete,
    },
    OperationRow {
        op: GetTeamworkBot,
        name: "GetTeamworkBot",
        handler: "get_teamwork_bot",
        method: "GET",
        routes: &["/appCatalogs/teamsApps/{app_id}/appDefinitions/{definition_id}/bot"],
        summary: "Get a definition's bot",
        delegated: BOT_D,
        application: CATALOG_READ_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Catalog,
        answer: Answer::Get { schema: "teamworkBot" },
    },
    OperationRow {
        op: ListUserInstalledApps,
        name: "ListUserInstalledApps",
        handler: "list_user_installed_apps",
        method: "GET",
        routes: &["/users/{user}/teamwork/installedApps", "/me/teamwork/installedApps"],
        summary: "List apps installed for a user",
        delegated: USER_READ_D,
        application: USER_LIST_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Installations,
        answer: Answer::List { item: "userScopeTeamsAppInstallation" },
    },
    OperationRow {
        op: GetUserInstalledApp,
        name: "GetUserInstalledApp",
        handler: "get_user_installed_app",
        method: "GET",
        routes: &[
            "/users/{user}/teamwork/installedApps/{installation}",
            "/me/teamwork/installedApps/{installation}",
        ],
        summary: "Get an app installed for a user",
        delegated: USER_READ_D,
        application: USER_READ_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Installations,
        answer: Answer::Get { schema: "userScopeTeamsAppInstallation" },
    },
    OperationRow {
        op: InstallAppForUser,
        name: "InstallAppForUser",
        handler: "install_app_for_user",
        method: "POST",
        routes: &["/users/{user}/teamwork/installedApps", "/me/teamwork/installedApps"],
        summary: "Install an app for a user",
        delegated: USER_WRITE_D,
        application: USER_WRITE_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Installations,
        answer: Answer::Install { status: 201 },
    },
    OperationRow {
        op: UpgradeAppForUser,
        name: "UpgradeAppForUser",
        handler: "upgrade_app_for_user",
        method: "POST",
        routes: &[
            "/users/{user}/teamwork/installedApps/{installation}/upgrade",
            "/me/teamwork/installedApps/{installation}/upgrade",
        ],
        summary: "Upgrade an app installed for a user",
        delegated: USER_WRITE_D,
        application: USER_WRITE_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Installations,
        answer: Answer::Upgrade,
    },
    OperationRow {
        op: UninstallAppForUser,
        name: "UninstallAppForUser",
        handler: "uninstall_app_for_user",
        method: "DELETE",
        routes: &[
            "/users/{user}/teamwork/installedApps/{installation}",
            "/me/teamwork/installedApps/{installation}",
        ],
        summary: "Uninstall an app for a user",
        delegated: USER_DELETE_D,
        application: USER_DELETE_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Installations,
        answer: Answer::Delete,
    },
    OperationRow {
        op: GetUserInstalledAppChat,
        name: "GetUserInstalledAppChat",
        handler: "get_user_installed_app_chat",
        method: "GET",
        routes: &[
            "/users/{user}/teamwork/installedApps/{installation}/chat",
            "/me/teamwork/installedApps/{installation}/chat",
        ],
        summary: "Get the chat between a user and an installed app",
        delegated: USER_CHAT_D,
        application: USER_CHAT_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Installations,
        answer: Answer::Get { schema: "chat" },
    },
    OperationRow {
        op: ListChatInstalledApps,
        name: "ListChatInstalledApps",
        handler: "list_chat_installed_apps",
        method: "GET",
        routes: &[
            "/chats/{chat}/installedApps",
            "/me/chats/{chat}/installedApps",
            "/users/{user}/chats/{chat}/installedApps",
        ],
        summary: "List apps installed in a chat",
        delegated: CHAT_READ_D,
        application: CHAT_READ_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Installations,
        answer: Answer::List { item: "teamsAppInstallation" },
    },
    OperationRow {
        op: GetChatInstalledApp,
        name: "GetChatInstalledApp",
        handler: "get_chat_installed_app",
        method: "GET",
        routes: &[
            "/chats/{chat}/installedApps/{installation}",
            "/me/chats/{chat}/installedApps/{installation}",
            "/users/{user}/chats/{chat}/installedApps/{installation}",
        ],
        summary: "Get an app installed in a chat",
        delegated: CHAT_READ_D,
        application: CHAT_READ_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Installations,
        answer: Answer::Get { schema: "teamsAppInstallation" },
    },
    OperationRow {
        op: InstallAppInChat,
        name: "InstallAppInChat",
        handler: "install_app_in_chat",
        method: "POST",
        routes: &[
            "/chats/{chat}/installedApps",
            "/me/chats/{chat}/installedApps",
            "/users/{user}/chats/{chat}/installedApps",
        ],
        summary: "Install an app in a chat",
        delegated: CHAT_WRITE_D,
        application: CHAT_WRITE_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Installations,
        answer: Answer::Install { status: 201 },
    },
    OperationRow {
        op: UpgradeAppInChat,
        name: "UpgradeAppInChat",
        handler: "upgrade_app_in_chat",
        method: "POST",
        routes: &[
            "/chats/{chat}/installedApps/{installation}/upgrade",
            "/me/chats/{chat}/installedApps/{installation}/upgrade",
            "/users/{user}/chats/{chat}/installedApps/{installation}/upgrade",
        ],
        summary: "Upgrade an app installed in a chat",
        delegated: CHAT_WRITE_D,
        application: CHAT_WRITE_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Installations,
        answer: Answer::Upgrade,
    },
    OperationRow {
        op: UninstallAppInChat,
        name: "UninstallAppInChat",
        handler: "uninstall_app_in_chat",
        method: "DELETE",
        routes: &[
            "/chats/{chat}/installedApps/{installation}",
            "/me/chats/{chat}/installedApps/{installation}",
            "/users/{user}/chats/{chat}/installedApps/{installation}",
        ],
        summary: "Uninstall an app from a chat",
        delegated: CHAT_DELETE_D,
        application: CHAT_DELETE_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Installations,
        answer: Answer::Delete,
    },
    OperationRow {
        op: ListTeamInstalledApps,
        name: "ListTeamInstalledApps",
        handler: "list_team_installed_apps",
        method: "GET",
        routes: &[
            "/teams/{team}/installedApps",
            "/groups/{group}/team/installedApps",
            "/me/joinedTeams/{team}/installedApps",
            "/users/{user}/joinedTeams/{team}/installedApps",
        ],
        summary: "List apps installed in a team",
        delegated: TEAM_LIST_D,
        application: TEAM_READ_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Installations,
        answer: Answer::List { item: "teamsAppInstallation" },
    },
    OperationRow {
        op: GetTeamInstalledApp,
        name: "GetTeamInstalledApp",
        handler: "get_team_installed_app",
        method: "GET",
        routes: &[
            "/teams/{team}/installedApps/{installation}",
            "/groups/{group}/team/installedApps/{installation}",
            "/me/joinedTeams/{team}/installedApps/{installation}",
            "/users/{user}/joinedTeams/{team}/installedApps/{installation}",
        ],
        summary: "Get an app installed in a team",
        delegated: TEAM_GET_D,
        application: TEAM_READ_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Installations,
        answer: Answer::Get { schema: "teamsAppInstallation" },
    },
    OperationRow {
        op: InstallAppInTeam,
        name: "InstallAppInTeam",
        handler: "install_app_in_team",
        method: "POST",
        routes: &[
            "/teams/{team}/installedApps",
            "/groups/{group}/team/installedApps",
            "/me/joinedTeams/{team}/installedApps",
            "/users/{user}/joinedTeams/{team}/installedApps",
        ],
        summary: "Install an app in a team",
        delegated: TEAM_INSTALL_D,
        application: TEAM_WRITE_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Installations,
        answer: Answer::Install { status: 200 },
    },
    OperationRow {
        op: UpgradeAppInTeam,
        name: "UpgradeAppInTeam",
        handler: "upgrade_app_in_team",
        method: "POST",
        routes: &[
            "/teams/{team}/installedApps/{installation}/upgrade",
            "/groups/{group}/team/installedApps/{installation}/upgrade",
            "/me/joinedTeams/{team}/installedApps/{installation}/upgrade",
            "/users/{user}/joinedTeams/{team}/installedApps/{installation}/upgrade",
        ],
        summary: "Upgrade an app installed in a team",
        delegated: TEAM_WRITE_D,
        application: TEAM_WRITE_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Installations,
        answer: Answer::Upgrade,
    },
    OperationRow {
        op: UninstallAppInTeam,
        name: "UninstallAppInTeam",
        handler: "uninstall_app_in_team",
        method: "DELETE",
        routes: &[
            "/teams/{team}/installedApps/{installation}",
            "/groups/{group}/team/installedApps/{installation}",
            "/me/joinedTeams/{team}/installedApps/{installation}",
            "/users/{user}/joinedTeams/{team}/installedApps/{installation}",
        ],
        summary: "Uninstall an app from a team",
        delegated: TEAM_DELETE_D,
        application: TEAM_DELETE_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Installations,
        answer: Answer::Delete,
    },
    OperationRow {
        op: ListUsers,
        name: "ListUsers",
        handler: "list_users",
        method: "GET",
        routes: &["/users"],
        summary: "List users",
        delegated: USERS_D,
        application: USERS_A,
        versions: Versions::Both,
        workload: Workload::Directory,
        surface: Surface::Directory,
        answer: Answer::List { item: "user" },
    },
    OperationRow {
        op: CountUsers,
        name: "CountUsers",
        handler: "count_users",
        method: "GET",
        routes: &["/users/$count"],
        summary: "Count users (with ConsistencyLevel: eventual)",
        delegated: USERS_D,
        application: USERS_A,
        versions: Versions::Both,
        workload: Workload::Directory,
        surface: Surface::Directory,
        answer: Answer::Count,
    },
    OperationRow {
        op: GetUser,
        name: "GetUser",
        handler: "get_user",
        method: "GET",
        routes: &["/users/{user}"],
        summary: "Get a user",
        delegated: USER_D,
        application: USERS_A,
        versions: Versions::Both,
        workload: Workload::Directory,
        surface: Surface::Directory,
        answer: Answer::Get { schema: "user" },
    },
    OperationRow {
        op: GetMe,
        name: "GetMe",
        handler: "get_me",
        method: "GET",
        routes: &["/me"],
        summary: "Get the signed-in user",
        delegated: USER_D,
        application: USERS_A,
        versions: Versions::Both,
        workload: Workload::Directory,
        surface: Surface::Directory,
        answer: Answer::Get { schema: "user" },
    },
    OperationRow {
        op: ListTeams,
        name: "ListTeams",
        handler: "list_teams",
        method: "GET",
        routes: &["/teams"],
        summary: "List all teams",
        delegated: TEAMS_LIST,
        application: TEAMS_LIST,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Directory,
        answer: Answer::List { item: "team" },
    },
    OperationRow {
        op: GetTeam,
        name: "GetTeam",
        handler: "get_team",
        method: "GET",
        routes: &["/teams/{team}"],
        summary: "Get a team",
        delegated: TEAM_D,
        application: TEAM_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Directory,
        answer: Answer::Get { schema: "team" },
    },
    OperationRow {
        op: ListUserJoinedTeams,
        name: "ListUserJoinedTeams",
        handler: "list_user_joined_teams",
        method: "GET",
        routes: &["/users/{user}/joinedTeams"],
        summary: "List the teams a user is a direct member of",
        delegated: JOINED_TEAMS,
        application: JOINED_TEAMS,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Directory,
        answer: Answer::List { item: "team" },
    },
    OperationRow {
        op: ListMyJoinedTeams,
        name: "ListMyJoinedTeams",
        handler: "list_my_joined_teams",
        method: "GET",
        routes: &["/me/joinedTeams"],
        summary: "List the teams the signed-in user is a direct member of",
        delegated: JOINED_TEAMS,
        application: JOINED_TEAMS,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Directory,
        answer: Answer::List { item: "team" },
    },
    OperationRow {
        op: ListUserChats,
        name: "ListUserChats",
        handler: "list_user_chats",
        method: "GET",
        routes: &["/users/{user}/chats"],
        summary: "List a user's chats",
        delegated: CHATS_D,
        application: CHATS_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Directory,
        answer: Answer::List { item: "chat" },
    },
    OperationRow {
        op: ListMyChats,
        name: "ListMyChats",
        handler: "list_my_chats",
        method: "GET",
        routes: &["/me/chats"],
        summary: "List the signed-in user's chats",
        delegated: CHATS_D,
        application: CHATS_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Directory,
        answer: Answer::List { item: "chat" },
    },
    OperationRow {
        op: ListChats,
        name: "ListChats",
        handler: "list_chats",
        method: "GET",
        routes: &["/chats"],
        summary: "List the signed-in user's chats",
        delegated: CHATS_D,
        application: CHATS_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Directory,
        answer: Answer::List { item: "chat" },
    },
    OperationRow {
        op: GetChat,
        name: "GetChat",
        handler: "get_chat",
        method: "GET",
        routes: &["/chats/{chat}"],
        summary: "Get a chat",
        delegated: CHATS_D,
        application: CHAT_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Directory,
        answer: Answer::Get { schema: "chat" },
    },
    OperationRow {
        op: ListGroups,
        name: "ListGroups",
        handler: "list_groups",
        method: "GET",
        routes: &["/groups"],
        summary: "List groups (teams are groups with resourceProvisioningOptions 'Team')",
        delegated: GROUPS,
        application: GROUPS,
        versions: Versions::Both,
        workload: Workload::Directory,
        surface: Surface::Directory,
        answer: Answer::List { item: "group" },
    },
    OperationRow {
        op: GetTeamsAppSettings,
        name: "GetTeamsAppSettings",
        handler: "get_teams_app_settings",
        method: "GET",
        routes: &["/teamwork/teamsAppSettings"],
        summary: "Get the tenant's Teams app settings",
        delegated: SETTINGS_READ_D,
        application: NONE,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Teamwork,
        answer: Answer::Get { schema: "teamsAppSettings" },
    },
    OperationRow {
        op: UpdateTeamsAppSettings,
        name: "UpdateTeamsAppSettings",
        handler: "update_teams_app_settings",
        method: "PATCH",
        routes: &["/teamwork/teamsAppSettings"],
        summary: "Change the tenant's Teams app settings",
        delegated: SETTINGS_WRITE_D,
        application: NONE,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Teamwork,
        answer: Answer::Patch { schema: "teamsAppSettings" },
    },
    OperationRow {
        op: ListChatPermissionGrants,
        name: "ListChatPermissionGrants",
        handler: "list_chat_permission_grants",
        method: "GET",
        routes: &["/chats/{chat}/permissionGrants"],
        summary: "List the RSC permission grants of a chat",
        delegated: GRANTS_CHAT_D,
        application: GRANTS_CHAT_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Grants,
        answer: Answer::List { item: "resourceSpecificPermissionGrant" },
    },
    OperationRow {
        op: ListTeamPermissionGrants,
        name: "ListTeamPermissionGrants",
        handler: "list_team_permission_grants",
        method: "GET",
        routes: &["/teams/{team}/permissionGrants"],
        summary: "List the RSC permission grants of a team",
        delegated: GRANTS_TEAM_D,
        application: GRANTS_TEAM_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Grants,
        answer: Answer::List { item: "resourceSpecificPermissionGrant" },
    },
    OperationRow {
        op: ListGroupPermissionGrants,
        name: "ListGroupPermissionGrants",
        handler: "list_group_permission_grants",
        method: "GET",
        routes: &["/groups/{group}/permissionGrants"],
        summary: "List the RSC permission grants of a group (its team)",
        delegated: GRANTS_GROUP,
        application: GRANTS_GROUP,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Grants,
        answer: Answer::List { item: "resourceSpecificPermissionGrant" },
    },
    OperationRow {
        op: ListUserPermissionGrants,
        name: "ListUserPermissionGrants",
        handler: "list_user_permission_grants",
        method: "GET",
        routes: &["/users/{user}/permissionGrants"],
        summary: "List the RSC permission grants of a user",
        delegated: GRANTS_USER_D,
        application: GRANTS_USER_A,
        versions: Versions::Both,
        workload: Workload::Teams,
        surface: Surface::Grants,
        answer: Answer::List { item: "resourceSpecificPermissionGrant" },
    },
    OperationRow {
        op: GetTeamsAppIcon,
        name: "GetTeamsAppIcon",
        handler: "get_teams_app_icon",
        method: "GET",
        routes: &["/appCatalogs/teamsApps/{app_id}/appDefinitions/{definition_id}/colorIcon", "/appCatalogs/teamsApps/{app_id}/appDefinitions/{definition_id}/outlineIcon"],
        summary: "Get a definition's color or outline icon (beta)",
        delegated: ICON_D,
        application: NONE,
        versions: Versions::BetaOnly,
        workload: Workload::Teams,
        surface: Surface::Catalog,
        answer: Answer::Get { schema: "teamsAppIcon" },
    },
    OperationRow {
        op: GetTeamworkHostedContent,
        name: "GetTeamworkHostedContent",
        handler: "get_teamwork_hosted_content",
        method: "GET",
        routes: &["/appCatalogs/teamsApps/{app_id}/appDefinitions/{definition_id}/colorIcon/hostedContent", "/appCatalogs/teamsApps/{app_id}/appDefinitions/{definition_id}/outlineIcon/hostedContent"],
        summary: "Get the hosted content of a definition's icon (beta)",
        delegated: ICON_D,
        application: NONE,
        versions: Versions::BetaOnly,
        workload: Workload::Teams,
        surface: Surface::Catalog,
        answer: Answer::Get { schema: "teamworkHostedContent" },
    },
    OperationRow {
        op: GetTeamworkHostedContentBytes,
        name: "GetTeamworkHostedContentBytes",
        handler: "get_teamwork_hosted_content_bytes",
        method: "GET",
        routes: &["/appCatalogs/teamsApps/{app_id}/appDefinitions/{definition_id}/colorIcon/hostedContent/$value", "/appCatalogs/teamsApps/{app_id}/appDefinitions/{definition_id}/outlineIcon/hostedContent/$value"],
        summary: "Get the image of a definition's icon (beta)",
        delegated: ICON_D,
        application: NONE,
        versions: Versions::BetaOnly,
        workload: Workload::Teams,
        surface: Surface::Catalog,
        answer: Answer::Bytes { content_type: "image/png" },
    },
];

// Each row sits at its variant's index, so `row()` needs no search.
const _: () = {
    let mut i = 0;
    while i < OPERATIONS.len() {
        assert!(OPERATIONS[i].op as usize == i, "OPERATIONS must follow the order of Operation");
        i += 1;
    }
};

const COUNT: usize = OPERATIONS.len();
const ALL_OPERATIONS: [Operation; COUNT] = {
    let mut all = [ListTeamsApps; COUNT];
    let mut i = 0;
    while i < COUNT {
        all[i] = OPERATIONS[i].op;
        i += 1;
    }
    all
};

impl Operation {
    /// Every operation, in table order.
    pub const ALL: &'static [Operation] = &ALL_OPERATIONS;

    pub fn row(self) -> &'static OperationRow {
        &OPERATIONS[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.row().name
    }

    /// The operation named `name` (ASCII case-insensitively), as fault rules spell it.
    pub fn by_name(name: &str) -> Option<Operation> {
        OPERATIONS.iter().find(|r| r.name.eq_ignore_ascii_case(name)).map(|r| r.op)
    }

    /// The HTTP method and canonical route (below `/v1.0` or `/beta`) of this operation.
    pub fn route(self) -> (&'static str, &'static str) {
        let row = self.row();
        (row.method, row.routes[0])
    }

    pub fn delegated(self) -> &'static [Grant] {
        self.row().delegated
    }

    pub fn application(self) -> &'static [Grant] {
        self.row().application
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_handlers_follow_the_variant() {
        for row in OPERATIONS {
            assert_eq!(row.name, format!("{:?}", row.op));
            let snake: String = row
                .name
                .chars()
                .enumerate()
                .flat_map(|(i, c)| {
                    let sep = (i > 0 && c.is_ascii_uppercase()).then_some('_');
                    sep.into_iter().chain(std::iter::once(c.to_ascii_lowercase()))
                })
                .collect();
            assert_eq!(row.handler, snake);
            assert!(!row.routes.is_empty() && row.routes.iter().all(|r| r.starts_with('/')));
            assert_eq!(Operation::by_name(&row.name.to_ascii_lowercase()), Some(row.op));
        }
    }

    #[test]
    fn no_two_rows_share_a_method_and_route() {
        let mut seen = std::collections::BTreeSet::new();
        for row in OPERATIONS {
            for route in row.routes {
                assert!(seen.insert((row.method, *route)), "{} {route} twice", row.method);
            }
        }
    }
}
