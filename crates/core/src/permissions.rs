//! The operation -> accepted-permissions table (spec sections 3, 4, 5.6) and the checks built
//! on it. This is the only place that knows which permission allows what.
//!
//! Each accepted permission is a [`Grant`]: its name, how far it reaches (any app, the caller's
//! own app, admin-selected apps, or only the resource where an RSC grant was consented), and
//! whether it may consent to RSC permissions. Lists keep the documented order (least privileged
//! first), because the 403 message names them in that order.

use crate::error::{CoreError, CoreResult};
use crate::principal::Principal;

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
const fn any_c(p: &'static str) -> Grant {
    g(p, Reach::Any, true)
}
const fn own_c(p: &'static str) -> Grant {
    g(p, Reach::OwnApp, true)
}
const fn sel_c(p: &'static str) -> Grant {
    g(p, Reach::Selected, true)
}

/// Every Graph operation served, named as Graph's documentation names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
}

use Operation::*;

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

impl Operation {
    pub const ALL: &'static [Operation] = &[
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
    ];

    /// The HTTP method and route (below `/v1.0` or `/beta`) that invoke this operation.
    pub fn route(self) -> (&'static str, &'static str) {
        const APP: &str = "/appCatalogs/teamsApps/{app_id}";
        const DEF: &str = "/appCatalogs/teamsApps/{app_id}/appDefinitions/{definition_id}";
        const USER: &str = "/users/{user}/teamwork/installedApps";
        const USER_ONE: &str = "/users/{user}/teamwork/installedApps/{installation}";
        const CHAT: &str = "/chats/{chat}/installedApps";
        const CHAT_ONE: &str = "/chats/{chat}/installedApps/{installation}";
        const TEAM: &str = "/teams/{team}/installedApps";
        const TEAM_ONE: &str = "/teams/{team}/installedApps/{installation}";
        match self {
            ListTeamsApps => ("GET", "/appCatalogs/teamsApps"),
            PublishTeamsApp => ("POST", "/appCatalogs/teamsApps"),
            GetTeamsApp => ("GET", APP),
            DeleteTeamsApp => ("DELETE", APP),
            ListAppDefinitions => ("GET", "/appCatalogs/teamsApps/{app_id}/appDefinitions"),
            UpdateTeamsApp => ("POST", "/appCatalogs/teamsApps/{app_id}/appDefinitions"),
            GetAppDefinition => ("GET", DEF),
            ReviewAppDefinition => ("PATCH", DEF),
            DeleteAppDefinition => ("DELETE", DEF),
            GetTeamworkBot => {
                ("GET", "/appCatalogs/teamsApps/{app_id}/appDefinitions/{definition_id}/bot")
            }
            ListUserInstalledApps => ("GET", USER),
            InstallAppForUser => ("POST", USER),
            GetUserInstalledApp => ("GET", USER_ONE),
            UninstallAppForUser => ("DELETE", USER_ONE),
            UpgradeAppForUser => {
                ("POST", "/users/{user}/teamwork/installedApps/{installation}/upgrade")
            }
            GetUserInstalledAppChat => {
                ("GET", "/users/{user}/teamwork/installedApps/{installation}/chat")
            }
            ListChatInstalledApps => ("GET", CHAT),
            InstallAppInChat => ("POST", CHAT),
            GetChatInstalledApp => ("GET", CHAT_ONE),
            UninstallAppInChat => ("DELETE", CHAT_ONE),
            UpgradeAppInChat => ("POST", "/chats/{chat}/installedApps/{installation}/upgrade"),
            ListTeamInstalledApps => ("GET", TEAM),
            InstallAppInTeam => ("POST", TEAM),
            GetTeamInstalledApp => ("GET", TEAM_ONE),
            UninstallAppInTeam => ("DELETE", TEAM_ONE),
            UpgradeAppInTeam => ("POST", "/teams/{team}/installedApps/{installation}/upgrade"),
        }
    }

    /// The operation a method and route invoke (the route with or without the version prefix).
    pub fn from_route(method: &str, route: &str) -> Option<Operation> {
        let route =
            route.strip_prefix("/v1.0").or_else(|| route.strip_prefix("/beta")).unwrap_or(route);
        Operation::ALL.iter().copied().find(|op| {
            let (m, r) = op.route();
            m.eq_ignore_ascii_case(method) && r == route
        })
    }

    /// Accepted delegated permissions (`scp`), in documented order.
    pub fn delegated(self) -> &'static [Grant] {
        match self {
            ListTeamsApps | GetTeamsApp | ListAppDefinitions | GetAppDefinition => CATALOG_READ_D,
            GetTeamworkBot => BOT_D,
            PublishTeamsApp | UpdateTeamsApp | DeleteAppDefinition => CATALOG_WRITE_D,
            ReviewAppDefinition => REVIEW_D,
            DeleteTeamsApp => DELETE_APP_D,
            ListUserInstalledApps | GetUserInstalledApp => USER_READ_D,
            GetUserInstalledAppChat => USER_CHAT_D,
            InstallAppForUser | UpgradeAppForUser => USER_WRITE_D,
            UninstallAppForUser => USER_DELETE_D,
            ListChatInstalledApps | GetChatInstalledApp => CHAT_READ_D,
            InstallAppInChat | UpgradeAppInChat => CHAT_WRITE_D,
            UninstallAppInChat => CHAT_DELETE_D,
            ListTeamInstalledApps => TEAM_LIST_D,
            GetTeamInstalledApp => TEAM_GET_D,
            InstallAppInTeam => TEAM_INSTALL_D,
            UpgradeAppInTeam => TEAM_WRITE_D,
            UninstallAppInTeam => TEAM_DELETE_D,
        }
    }

    /// Accepted application permissions (`roles`), in documented order. Empty: application
    /// context is not supported (publish, update, review, delete).
    pub fn application(self) -> &'static [Grant] {
        match self {
            ListTeamsApps | GetTeamsApp | ListAppDefinitions | GetAppDefinition
            | GetTeamworkBot => CATALOG_READ_A,
            PublishTeamsApp | UpdateTeamsApp | DeleteAppDefinition | ReviewAppDefinition
            | DeleteTeamsApp => NONE,
            ListUserInstalledApps => USER_LIST_A,
            GetUserInstalledApp => USER_READ_A,
            GetUserInstalledAppChat => USER_CHAT_A,
            InstallAppForUser | UpgradeAppForUser => USER_WRITE_A,
            UninstallAppForUser => USER_DELETE_A,
            ListChatInstalledApps | GetChatInstalledApp => CHAT_READ_A,
            InstallAppInChat | UpgradeAppInChat => CHAT_WRITE_A,
            UninstallAppInChat => CHAT_DELETE_A,
            ListTeamInstalledApps | GetTeamInstalledApp => TEAM_READ_A,
            InstallAppInTeam | UpgradeAppInTeam => TEAM_WRITE_A,
            UninstallAppInTeam => TEAM_DELETE_A,
        }
    }

    pub fn grants_for(self, principal: &Principal) -> &'static [Grant] {
        if principal.is_delegated() {
            self.delegated()
        } else {
            self.application()
        }
    }
}

fn cell(g: &Grant) -> String {
    let reach = match g.reach {
        Reach::Any => "",
        Reach::OwnApp => " (S)",
        Reach::Selected => " (Sel)",
        Reach::Resource => " (RSC: that resource only)",
    };
    let consent = if g.consent { " +C" } else { "" };
    format!("`{}`{reach}{consent}", g.permission)
}

/// `docs/permissions.md`: the matrix as users read it, generated from the table above
/// (`teamsapps permissions > docs/permissions.md`); a test fails when the file drifts.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Permissions: what each operation accepts\n\n\
         Generated from `crates/core/src/permissions.rs` by `teamsapps permissions`; a test fails \
         when this file and the code disagree. Spec: sections 3, 4 and 5 of \
         `shared/spec/graph-teams-apps.md`.\n\n\
         Each operation accepts any one of the permissions listed, in the order Graph's documentation \
         lists them (least privileged first; a 403 names them in this order). Marks:\n\n\
         - no mark: reaches any app.\n\
         - **(S)** Self: only the Teams app whose `webApplicationInfo.id` is the calling app's id; \
         lists are filtered to it, a foreign installation is 404, installing or changing one is 403.\n\
         - **(Sel)** Selected: only the Teams apps in the app registration's `selectedTeamsApps` \
         (manifest or catalog ids); lists are filtered.\n\
         - **(RSC: that resource only)**: a resource-specific permission, valid only in the chat, team \
         or user where the calling app is installed with that permission consented.\n\
         - **+C**: may consent to the app's resource-specific *application* permissions, which installing \
         or upgrading to such a definition requires (with `consentedPermissionSet` equal to the \
         definition's set). Without a +C permission that reaches the app, such calls are 403.\n\n\
         Rules beyond the lists: delegated tokens act only in the signed-in user's own personal scope, \
         in chats the user is a member of and in teams the user belongs to; catalog publishing without \
         review, updates without review, reviews and app deletion need a Teams Service or Global \
         Administrator; `AppCatalog.Submit` cancels only the caller's own submissions; a tenant's \
         `teamsAppSettings` can turn off user consent to RSC in personal scope and chats; personal \
         Microsoft accounts are refused; `--cloud usgov|dod` refuses user-scope operations in \
         application context and `--cloud china` serves only chat installations. With \
         `--explain-denials` (or the request header `x-teamsapps-explain-denials: true`) every 403 \
         also names the rule that refused it, the permissions that would have allowed the call and the \
         ones the token holds.\n\n\
         | Operation | Method and path | Delegated (`scp`) | Application (`roles`) |\n\
         |---|---|---|---|\n",
    );
    for &op in Operation::ALL {
        let (method, path) = op.route();
        let list = |grants: &[Grant]| {
            if grants.is_empty() {
                "not supported (403 `AccessDenied`)".to_string()
            } else {
                grants.iter().map(cell).collect::<Vec<_>>().join("<br>")
            }
        };
        out.push_str(&format!(
            "| {op:?} | `{method} {path}` | {} | {} |\n",
            list(op.delegated()),
            list(op.application())
        ));
    }
    out
}

/// The Microsoft cloud the server plays (spec 13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cloud {
    #[default]
    Global,
    /// US Government L4 (GCC High).
    UsGov,
    /// US Government L5 (DoD).
    Dod,
    /// Operated by 21Vianet in China.
    China,
}

impl Cloud {
    pub fn parse(s: &str) -> Option<Cloud> {
        match s.to_ascii_lowercase().as_str() {
            "global" => Some(Cloud::Global),
            "usgov" => Some(Cloud::UsGov),
            "dod" => Some(Cloud::Dod),
            "china" => Some(Cloud::China),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Cloud::Global => "global",
            Cloud::UsGov => "US Government L4 (GCC High)",
            Cloud::Dod => "US Government L5 (DoD)",
            Cloud::China => "China (operated by 21Vianet)",
        }
    }

    /// Refuses what the cloud does not offer: in the US Government clouds the user-scope
    /// operations in application context; in China everything but chat installations.
    pub fn check(self, operation: Operation, delegated: bool) -> CoreResult<()> {
        let user_scope = matches!(
            operation,
            ListUserInstalledApps
                | GetUserInstalledApp
                | InstallAppForUser
                | UpgradeAppForUser
                | UninstallAppForUser
                | GetUserInstalledAppChat
        );
        let chat_scope = matches!(
            operation,
            ListChatInstalledApps
                | GetChatInstalledApp
                | InstallAppInChat
                | UpgradeAppInChat
                | UninstallAppInChat
        );
        let refused = match self {
            Cloud::Global => false,
            Cloud::UsGov | Cloud::Dod => user_scope && !delegated,
            Cloud::China => !chat_scope,
        };
        if !refused {
            return Ok(());
        }
        let context =
            if matches!(self, Cloud::UsGov | Cloud::Dod) { " in application context" } else { "" };
        Err(CoreError::BadRequest(format!(
            "This operation is not supported{context} in the {} cloud.",
            self.name()
        )))
    }
}

/// What the caller may do in one operation: the accepted grants its token holds.
#[derive(Debug, Clone)]
pub struct Access {
    pub operation: Operation,
    pub held: Vec<Grant>,
}

/// The facts about a target app that decide whether a grant reaches it.
#[derive(Debug, Clone, Copy, Default)]
pub struct TargetFacts {
    /// The app's Entra app id equals the caller's app id (5.2).
    pub is_own_app: bool,
    /// The app is in the caller's selected set (5.3).
    pub is_selected: bool,
}

impl Access {
    /// The caller holds a grant for this operation that reaches `target` (the `resource_rsc`
    /// closure says whether an RSC grant was consented to the caller in this resource; it is
    /// called only when such a grant is held).
    pub fn reaches(&self, target: TargetFacts, resource_rsc: &dyn Fn(&str) -> bool) -> bool {
        self.held.iter().any(|g| grant_reaches(g, target, resource_rsc))
    }

    /// The caller holds a consent-capable grant that reaches `target` (5.4).
    pub fn may_consent(&self, target: TargetFacts) -> bool {
        self.held.iter().any(|g| g.consent && grant_reaches(g, target, &|_| false))
    }

    /// Some held grant reaches every app, so nothing needs filtering.
    pub fn reaches_everything(&self) -> bool {
        self.held.iter().any(|g| g.reach == Reach::Any)
    }

    pub fn holds_reach(&self, reach: Reach) -> bool {
        self.held.iter().any(|g| g.reach == reach)
    }
}

fn grant_reaches(g: &Grant, target: TargetFacts, resource_rsc: &dyn Fn(&str) -> bool) -> bool {
    match g.reach {
        Reach::Any => true,
        Reach::OwnApp => target.is_own_app,
        Reach::Selected => target.is_selected,
        Reach::Resource => resource_rsc(g.permission),
    }
}

impl Access {
    /// Accepted permissions of this operation for this kind of token that reach every app.
    pub fn reaching_any(&self, principal: &Principal) -> Vec<&'static str> {
        self.operation
            .grants_for(principal)
            .iter()
            .filter(|g| g.reach == Reach::Any)
            .map(|g| g.permission)
            .collect()
    }

    /// Accepted permissions that may consent to RSC for an app with these facts.
    pub fn consenting(&self, principal: &Principal, target: TargetFacts) -> Vec<&'static str> {
        self.operation
            .grants_for(principal)
            .iter()
            .filter(|g| g.consent && grant_reaches(g, target, &|_| false))
            .map(|g| g.permission)
            .collect()
    }
}

/// Step 2 of the check order (spec 5.7): the token must hold one of the accepted permissions.
pub fn authorize(operation: Operation, principal: &Principal) -> CoreResult<Access> {
    if principal.personal_account {
        // "Personal Microsoft account: Not supported" in every table (spec 4.1, E26).
        return Err(crate::error::denied(
            "This API is not supported for personal Microsoft accounts.",
            "personal account",
            Vec::new(),
            &principal.permissions,
        ));
    }
    let accepted = operation.grants_for(principal);
    if accepted.is_empty() {
        // Application context is not supported here: observed answer (spec E16).
        return Err(CoreError::Denied {
            message: "User not authorized".into(),
            access_denied: true,
            rule: "application context (delegated permissions only)",
            would_allow: operation.delegated().iter().map(|g| g.permission).collect(),
            held: principal.permissions.clone(),
        });
    }
    let held: Vec<Grant> =
        accepted.iter().copied().filter(|g| principal.holds(g.permission)).collect();
    if held.is_empty() {
        return Err(CoreError::MissingPermission {
            delegated: principal.is_delegated(),
            accepted: accepted.iter().map(|g| g.permission).collect(),
            held: principal.permissions.clone(),
        });
    }
    Ok(Access { operation, held })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::PrincipalKind;

    fn principal(delegated: bool, perms: &[&str]) -> Principal {
        Principal {
            tenant_id: "t".into(),
            app_id: "a".into(),
            kind: if delegated {
                PrincipalKind::Delegated { user_id: "u".into() }
            } else {
                PrincipalKind::Application
            },
            permissions: perms.iter().map(|s| s.to_string()).collect(),
            is_admin: false,
            personal_account: false,
        }
    }

    /// Every operation has a delegated rule; each accepted permission is allowed alone and
    /// an unrelated one is refused with the documented message shape.
    #[test]
    fn every_operation_accepts_each_listed_permission_and_nothing_else() {
        for &op in Operation::ALL {
            assert!(!op.delegated().is_empty(), "{op:?} has no delegated rule");
            for delegated in [true, false] {
                let list = if delegated { op.delegated() } else { op.application() };
                for grant in list {
                    let access = authorize(op, &principal(delegated, &[grant.permission]))
                        .unwrap_or_else(|e| panic!("{op:?} refused {}: {e:?}", grant.permission));
                    assert_eq!(access.held, vec![*grant]);
                }
                let err = authorize(op, &principal(delegated, &["User.Read"])).unwrap_err();
                match (list.is_empty(), err) {
                    (true, CoreError::Denied { access_denied: true, .. }) => {}
                    (false, CoreError::MissingPermission { delegated: d, accepted, held }) => {
                        assert_eq!(d, delegated);
                        assert_eq!(accepted.len(), list.len());
                        assert_eq!(held, vec!["User.Read".to_string()]);
                    }
                    (_, other) => panic!("{op:?} delegated={delegated}: unexpected {other:?}"),
                }
            }
        }
    }

    #[test]
    fn app_permissions_do_not_work_in_delegated_tokens_and_vice_versa() {
        let err = authorize(
            ListUserInstalledApps,
            &principal(true, &["TeamsAppInstallation.ReadForUser.All"]),
        );
        assert!(err.is_err());
        let err = authorize(
            ListUserInstalledApps,
            &principal(false, &["TeamsAppInstallation.ReadForUser"]),
        );
        assert!(err.is_err());
    }

    #[test]
    fn reach_and_consent_follow_the_matrix() {
        let p = principal(false, &["TeamsAppInstallation.ReadWriteSelfForChat.All"]);
        let access = authorize(UpgradeAppInChat, &p).unwrap();
        let own = TargetFacts { is_own_app: true, is_selected: false };
        let foreign = TargetFacts::default();
        assert!(access.reaches(own, &|_| false));
        assert!(!access.reaches(foreign, &|_| false));
        assert!(!access.may_consent(own), "ReadWriteSelf cannot consent");

        let p = principal(false, &["TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All"]);
        let access = authorize(UpgradeAppInChat, &p).unwrap();
        assert!(access.may_consent(own));
        assert!(!access.may_consent(foreign));

        let p = principal(false, &["TeamsAppInstallation.ManageSelectedForTeam.All"]);
        let access = authorize(UpgradeAppInTeam, &p).unwrap();
        let selected = TargetFacts { is_own_app: false, is_selected: true };
        assert!(access.may_consent(selected));
        assert!(!access.reaches(foreign, &|_| false));

        let p = principal(false, &["Chat.Manage.Chat"]);
        let access = authorize(InstallAppInChat, &p).unwrap();
        assert!(access.reaches(foreign, &|perm| perm == "Chat.Manage.Chat"));
        assert!(!access.reaches(foreign, &|_| false));
        assert!(!access.may_consent(foreign));

        let p = principal(false, &["TeamsAppInstallation.ReadWriteForTeam.All"]);
        let access = authorize(UpgradeAppInTeam, &p).unwrap();
        assert!(access.reaches(foreign, &|_| false));
        assert!(!access.may_consent(foreign), "ReadWrite cannot consent");
    }

    #[test]
    fn national_clouds_refuse_what_the_spec_lists() {
        for &op in Operation::ALL {
            assert!(Cloud::Global.check(op, false).is_ok());
            let user_scope = format!("{op:?}").contains("User");
            let chat = format!("{op:?}").contains("Chat") && !user_scope;
            for cloud in [Cloud::UsGov, Cloud::Dod] {
                assert_eq!(cloud.check(op, false).is_err(), user_scope, "{cloud:?} {op:?}");
                assert!(cloud.check(op, true).is_ok(), "{cloud:?} {op:?} delegated");
            }
            assert_eq!(Cloud::China.check(op, true).is_err(), !chat, "china {op:?}");
        }
    }

    #[test]
    fn docs_permissions_md_is_generated_from_this_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/permissions.md");
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == markdown(),
            "docs/permissions.md is out of date: run `cargo run -q -- permissions > docs/permissions.md`"
        );
    }

    #[test]
    fn routes_map_back_to_their_operations() {
        for &op in Operation::ALL {
            let (m, r) = op.route();
            assert_eq!(Operation::from_route(m, &format!("/v1.0{r}")), Some(op));
            assert_eq!(Operation::from_route(m, &format!("/beta{r}")), Some(op));
        }
        assert_eq!(Operation::from_route("PUT", "/v1.0/appCatalogs/teamsApps"), None);
    }

    #[test]
    fn observed_delete_message_lists_exactly_the_observed_permissions() {
        let err = authorize(DeleteTeamsApp, &principal(true, &["AppCatalog.Submit"])).unwrap_err();
        match err {
            CoreError::MissingPermission { accepted, .. } => {
                assert_eq!(accepted.join(", "), "AppCatalog.ReadWrite.All, Directory.ReadWrite.All")
            }
            other => panic!("{other:?}"),
        }
    }
}
