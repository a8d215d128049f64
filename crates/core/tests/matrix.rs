//! The permission matrix, cell by cell (spec sections 3, 4.1–4.3, 5, 6, 7.3).
//!
//! Every operation of `Operation::ALL` is called through its core use case, with a principal
//! built by hand, against a real in-memory SQLite store seeded afresh for every cell. The
//! expected outcome of each cell comes from an encoding of the spec written here, independently
//! of `permissions.rs`: the per-operation accepted-permission lists in documented order (the
//! 403 message names them in that order) and the cell codes of 5.6 (`A`, `S`, `Sel`, `-`, `+C`,
//! RSC "that resource only"), plus the catalog matrix of 5.6.
//!
//! Dimensions walked, for every operation:
//! - every permission named in any table, plus names that must grant nothing (`User.Read.All`,
//!   `ReadSelectedFor{S}.All`, `ReadWriteSelectedFor{Chat,Team}`);
//! - the token kind the permission exists in: delegated names on delegated principals, `.All`,
//!   RSC and `TeamsAppInstallation.Read.All` on application principals, legacy Group/Directory
//!   and AppCatalog `.All` names on both;
//! - delegated context (5.5): the signed-in user belongs to the resource, or does not;
//! - the target Teams app: the caller's own (5.2), an admin-selected one (5.3), a foreign one;
//! - install/upgrade: a target whose newest definition requires application RSC permissions
//!   (consent needed, 5.4) or not;
//! - RSC permissions: the calling app installed in that resource with the permission consented,
//!   installed there without it, or installed (consented) only elsewhere;
//! - catalog: admin or not, requiresReview true/false, own or someone else's submission.
//!
//! A cell passes when the outcome is the spec's: success with its visible effect, or the exact
//! refusal. Refused writes must leave the state unchanged. All disagreements are collected and
//! reported together, grouped, at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use serde_json::{json, Value};
use teamsapps_core::catalog::{self, PublishOptions};
use teamsapps_core::ids;
use teamsapps_core::installations::{self, ScopePath, Upgraded};
use teamsapps_core::manifest::parse_manifest_value;
use teamsapps_core::model::{
    AppDefinition, Application, CatalogApp, Chat, DistributionMethod, Installation, PermissionType,
    PublishingState, ResourceSpecificPermission, ScopeKind, ScopeRef, Team, TeamsApp, Tenant, User,
};
use teamsapps_core::permissions::{authorize, Operation};
use teamsapps_core::principal::{Principal, PrincipalKind};
use teamsapps_core::store::Seed;
use teamsapps_core::{CoreError, Store};
use teamsapps_store_sqlite::SqliteStore;

// ---------------------------------------------------------------------------------------------
// The directory
// ---------------------------------------------------------------------------------------------

const TENANT: &str = "2f1a6c2e-0000-4000-8000-0000000000aa";
/// Teams Service Administrator; member of the chat, owner of the team.
const ADMIN: &str = "a0000000-0000-4000-8000-000000000001";
/// Member of the chat and of the team; not an admin. The delegated caller.
const MEMBER: &str = "a0000000-0000-4000-8000-000000000002";
/// In no chat and no team.
const OUTSIDER: &str = "a0000000-0000-4000-8000-000000000003";
const CHAT: &str = "19:0123456789abcdef0123456789abcdef@thread.v2";
const TEAM: &str = "7e000000-0000-4000-8000-000000000001";

/// The calling Entra app of every principal.
const CALLER: &str = "c0000000-0000-4000-8000-000000000001";
/// The Entra app behind the selected Teams apps (not the caller).
const SELECTED_ENTRA: &str = "c0000000-0000-4000-8000-000000000002";
/// The Entra app behind the foreign Teams apps.
const FOREIGN_ENTRA: &str = "c0000000-0000-4000-8000-000000000003";

// ---------------------------------------------------------------------------------------------
// The catalog
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct AppSpec {
    /// Catalog id (`teamsApp.id`).
    id: &'static str,
    /// Manifest id (`externalId`).
    manifest: &'static str,
    bot: &'static str,
    client: Option<&'static str>,
}

/// An app numbered `$n` (two digits): catalog id `b…`, manifest id `d…`, bot id `e…`.
macro_rules! app {
    ($n:literal, $client:expr) => {
        AppSpec {
            id: concat!("b0000000-0000-4000-8000-0000000000", $n),
            manifest: concat!("d0000000-0000-4000-8000-0000000000", $n),
            bot: concat!("e0000000-0000-4000-8000-0000000000", $n),
            client: $client,
        }
    };
}

// Installation targets. `_P`: no definition requires RSC. `_R`: version 2.0.0 (the newest)
// requires application RSC permissions, so installing or upgrading to it needs consent.
const OWN_P: AppSpec = app!("01", Some(CALLER));
const OWN_R: AppSpec = app!("02", Some(CALLER));
const SEL_P: AppSpec = app!("03", Some(SELECTED_ENTRA));
const SEL_R: AppSpec = app!("04", Some(SELECTED_ENTRA));
const FOR_P: AppSpec = app!("05", Some(FOREIGN_ENTRA));
const FOR_R: AppSpec = app!("06", Some(FOREIGN_ENTRA));
/// The caller's Teams app that carries its RSC grants: 1.0.0 requires RSC permissions none of
/// which is an installation permission, 2.0.0 requires the four RSC installation permissions.
const HOST: AppSpec = app!("07", Some(CALLER));
// Catalog targets: a published app, and apps whose only definition is a pending submission.
const PUB: AppSpec = app!("10", None);
const SUB_BY_ADMIN: AppSpec = app!("11", None);
const SUB_BY_MEMBER: AppSpec = app!("12", None);
/// The manifest id publish cells upload.
const NEW_MANIFEST: &str = "d0000000-0000-4000-8000-0000000000f0";

const APP: &str = "Application";
/// What the `_R` apps' 2.0.0 requires (one permission per scope suffix).
const R_SET: &[(&str, &str)] = &[
    ("TeamsActivity.Send.User", APP),
    ("ChatMessage.Read.Chat", APP),
    ("ChannelMessage.Read.Group", APP),
];
const HOST_V1_SET: &[(&str, &str)] = &[
    ("ChannelMeeting.ReadBasic.Group", APP),
    ("OnlineMeeting.ReadBasic.Chat", APP),
    ("TeamsActivity.Send.User", APP),
];
const HOST_V2_SET: &[(&str, &str)] = &[
    ("Chat.Manage.Chat", APP),
    ("TeamsAppInstallation.Read.Chat", APP),
    ("TeamsAppInstallation.Read.Group", APP),
    ("TeamsAppInstallation.Read.User", APP),
];

// ---------------------------------------------------------------------------------------------
// The spec, encoded independently (sections 3, 4.1–4.3, 5.6)
// ---------------------------------------------------------------------------------------------

/// Cell codes of spec 5.6, plus the catalog families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell {
    /// Any app.
    A,
    /// The caller's own app only.
    S,
    /// Admin-selected apps only.
    Sel,
    /// `A+C`
    AC,
    /// `S+C`
    SC,
    /// `Sel+C`
    SelC,
    /// RSC application permission: that resource only, no consent.
    Rsc,
    /// AppCatalog.Read.All, Directory.Read.All.
    CatRead,
    /// AppCatalog.Submit.
    CatSubmit,
    /// AppCatalog.ReadWrite.All, Directory.ReadWrite.All (legacy).
    CatWrite,
}
use Cell::*;

type Row = (&'static str, Cell);

macro_rules! t {
    ($s:literal) => {
        concat!("TeamsAppInstallation.", $s)
    };
}

// --- 3.1 / 3.2 / 3.7 / 3.3–3.6 ---------------------------------------------------------------
const CAT_READ_D: &[Row] = &[
    ("AppCatalog.Submit", CatSubmit),
    ("AppCatalog.Read.All", CatRead),
    ("AppCatalog.ReadWrite.All", CatWrite),
    ("Directory.Read.All", CatRead),
    ("Directory.ReadWrite.All", CatWrite),
];
const CAT_READ_A: &[Row] =
    &[("AppCatalog.Read.All", CatRead), ("AppCatalog.ReadWrite.All", CatWrite)];
const BOT_D: &[Row] = &[
    ("AppCatalog.Read.All", CatRead),
    ("AppCatalog.ReadWrite.All", CatWrite),
    ("AppCatalog.Submit", CatSubmit),
];
/// Publish, update (3.3, 3.4) and delete definition (3.6 table).
const CAT_WRITE_D: &[Row] = &[
    ("AppCatalog.Submit", CatSubmit),
    ("AppCatalog.ReadWrite.All", CatWrite),
    ("Directory.ReadWrite.All", CatWrite),
];
/// Approve/reject (3.5): "requires an admin caller with AppCatalog.ReadWrite.All".
const REVIEW_D: &[Row] = &[("AppCatalog.ReadWrite.All", CatWrite)];
/// Delete app (3.6): the observed refusal of AppCatalog.Submit names exactly these.
const DELETE_APP_D: &[Row] =
    &[("AppCatalog.ReadWrite.All", CatWrite), ("Directory.ReadWrite.All", CatWrite)];

// --- 4.1 user scope --------------------------------------------------------------------------
const USER_LIST_D: &[Row] = &[
    (t!("ReadForUser"), A),
    (t!("ReadWriteSelfForUser"), S),
    (t!("ManageSelectedForUser"), Sel),
    (t!("ReadWriteAndConsentForUser"), A),
    (t!("ReadWriteAndConsentSelfForUser"), S),
    (t!("ReadWriteForUser"), A),
    (t!("ReadWriteSelectedForUser"), Sel),
];
/// The documented list, then "(+ Read.All, Read.User [I, as for Get])".
const USER_LIST_A: &[Row] = &[
    (t!("ReadForUser.All"), A),
    (t!("ReadWriteSelfForUser.All"), S),
    (t!("ManageSelectedForUser.All"), Sel),
    (t!("ReadWriteAndConsentForUser.All"), A),
    (t!("ReadWriteAndConsentSelfForUser.All"), S),
    (t!("ReadWriteForUser.All"), A),
    (t!("ReadWriteSelectedForUser.All"), Sel),
    (t!("Read.All"), A),
    (t!("Read.User"), Rsc),
];
const USER_GET_A: &[Row] = &[
    (t!("ReadForUser.All"), A),
    (t!("ReadWriteSelfForUser.All"), S),
    (t!("ManageSelectedForUser.All"), Sel),
    (t!("Read.All"), A),
    (t!("Read.User"), Rsc),
    (t!("ReadWriteAndConsentForUser.All"), A),
    (t!("ReadWriteAndConsentSelfForUser.All"), S),
    (t!("ReadWriteForUser.All"), A),
    (t!("ReadWriteSelectedForUser.All"), Sel),
];
const USER_WRITE_D: &[Row] = &[
    (t!("ReadWriteSelfForUser"), S),
    (t!("ManageSelectedForUser"), SelC),
    (t!("ReadWriteAndConsentForUser"), AC),
    (t!("ReadWriteAndConsentSelfForUser"), SC),
    (t!("ReadWriteForUser"), A),
    (t!("ReadWriteSelectedForUser"), Sel),
];
const USER_WRITE_A: &[Row] = &[
    (t!("ReadWriteSelfForUser.All"), S),
    (t!("ManageSelectedForUser.All"), SelC),
    (t!("ReadWriteAndConsentForUser.All"), AC),
    (t!("ReadWriteAndConsentSelfForUser.All"), SC),
    (t!("ReadWriteForUser.All"), A),
    (t!("ReadWriteSelectedForUser.All"), Sel),
];
/// The documented list, then "(+ ManageSelectedForUser, ReadWriteSelectedForUser [I])".
const USER_DELETE_D: &[Row] = &[
    (t!("ReadWriteSelfForUser"), S),
    (t!("ReadWriteAndConsentForUser"), A),
    (t!("ReadWriteAndConsentSelfForUser"), S),
    (t!("ReadWriteForUser"), A),
    (t!("ManageSelectedForUser"), Sel),
    (t!("ReadWriteSelectedForUser"), Sel),
];
const USER_DELETE_A: &[Row] = &[
    (t!("ReadWriteSelfForUser.All"), S),
    (t!("ReadWriteAndConsentForUser.All"), A),
    (t!("ReadWriteAndConsentSelfForUser.All"), S),
    (t!("ReadWriteForUser.All"), A),
    (t!("ManageSelectedForUser.All"), Sel),
    (t!("ReadWriteSelectedForUser.All"), Sel),
];
/// Get chat: the documented three, then "(+ the other List permissions [I])" in List order.
const USER_CHAT_D: &[Row] = &[
    (t!("ReadForUser"), A),
    (t!("ReadWriteSelfForUser"), S),
    (t!("ReadWriteForUser"), A),
    (t!("ManageSelectedForUser"), Sel),
    (t!("ReadWriteAndConsentForUser"), A),
    (t!("ReadWriteAndConsentSelfForUser"), S),
    (t!("ReadWriteSelectedForUser"), Sel),
];
const USER_CHAT_A: &[Row] = &[
    (t!("ReadForUser.All"), A),
    (t!("ReadWriteSelfForUser.All"), S),
    (t!("ReadWriteForUser.All"), A),
    (t!("ManageSelectedForUser.All"), Sel),
    (t!("ReadWriteAndConsentForUser.All"), A),
    (t!("ReadWriteAndConsentSelfForUser.All"), S),
    (t!("ReadWriteSelectedForUser.All"), Sel),
    (t!("Read.All"), A),
    (t!("Read.User"), Rsc),
];

// --- 4.2 chat scope --------------------------------------------------------------------------
const CHAT_READ_D: &[Row] = &[
    (t!("ReadForChat"), A),
    (t!("ReadWriteSelfForChat"), S),
    (t!("ManageSelectedForChat"), Sel),
    (t!("ReadWriteAndConsentForChat"), A),
    (t!("ReadWriteAndConsentSelfForChat"), S),
    (t!("ReadWriteForChat"), A),
];
/// The documented list, then Read.All ("A (all scopes)", 5.1 and 5.6).
const CHAT_READ_A: &[Row] = &[
    (t!("ReadForChat.All"), A),
    (t!("ReadWriteSelfForChat.All"), S),
    ("Chat.Manage.Chat", Rsc),
    (t!("ManageSelectedForChat.All"), Sel),
    (t!("Read.Chat"), Rsc),
    (t!("ReadWriteAndConsentForChat.All"), A),
    (t!("ReadWriteAndConsentSelfForChat.All"), S),
    (t!("ReadWriteForChat.All"), A),
    (t!("Read.All"), A),
];
const CHAT_WRITE_D: &[Row] = &[
    (t!("ReadWriteSelfForChat"), S),
    (t!("ManageSelectedForChat"), SelC),
    (t!("ReadWriteAndConsentForChat"), AC),
    (t!("ReadWriteAndConsentSelfForChat"), SC),
    (t!("ReadWriteForChat"), A),
];
const CHAT_WRITE_A: &[Row] = &[
    (t!("ReadWriteSelfForChat.All"), S),
    ("Chat.Manage.Chat", Rsc),
    (t!("ManageSelectedForChat.All"), SelC),
    (t!("ReadWriteAndConsentForChat.All"), AC),
    (t!("ReadWriteAndConsentSelfForChat.All"), SC),
    (t!("ReadWriteForChat.All"), A),
];
const CHAT_DELETE_D: &[Row] = &[
    (t!("ReadWriteSelfForChat"), S),
    (t!("ManageSelectedForChat"), Sel),
    (t!("ReadWriteForChat"), A),
];
const CHAT_DELETE_A: &[Row] = &[
    (t!("ReadWriteSelfForChat.All"), S),
    ("Chat.Manage.Chat", Rsc),
    (t!("ManageSelectedForChat.All"), Sel),
    (t!("ReadWriteForChat.All"), A),
];

// --- 4.3 team scope --------------------------------------------------------------------------
const TEAM_LIST_D: &[Row] = &[
    (t!("ReadForTeam"), A),
    (t!("ReadWriteSelfForTeam"), S),
    (t!("ManageSelectedForTeam"), Sel),
    (t!("ReadWriteAndConsentForTeam"), A),
    (t!("ReadWriteAndConsentSelfForTeam"), S),
    (t!("ReadWriteForTeam"), A),
    ("Group.Read.All", A),
    ("Group.ReadWrite.All", A),
    ("Directory.Read.All", A),
    ("Directory.ReadWrite.All", A),
];
const TEAM_GET_D: &[Row] = &[
    (t!("ReadWriteSelfForTeam"), S),
    (t!("ManageSelectedForTeam"), Sel),
    (t!("ReadForTeam"), A),
    (t!("ReadForUser"), A),
    (t!("ReadWriteAndConsentForTeam"), A),
    (t!("ReadWriteAndConsentSelfForTeam"), S),
    (t!("ReadWriteForTeam"), A),
    ("Group.Read.All", A),
    ("Group.ReadWrite.All", A),
    ("Directory.Read.All", A),
    ("Directory.ReadWrite.All", A),
];
const TEAM_READ_A: &[Row] = &[
    (t!("Read.Group"), Rsc),
    (t!("ReadWriteSelfForTeam.All"), S),
    (t!("ManageSelectedForTeam.All"), Sel),
    (t!("Read.All"), A),
    (t!("ReadForTeam.All"), A),
    (t!("ReadWriteAndConsentForTeam.All"), A),
    (t!("ReadWriteAndConsentSelfForTeam.All"), S),
    (t!("ReadWriteForTeam.All"), A),
    ("Group.Read.All", A),
    ("Group.ReadWrite.All", A),
    ("Directory.Read.All", A),
    ("Directory.ReadWrite.All", A),
];
/// The documented install list, then ReadWriteAndConsentForTeam ("Emulator: allow it for both").
const TEAM_INSTALL_D: &[Row] = &[
    (t!("ReadWriteSelfForTeam"), S),
    (t!("ManageSelectedForTeam"), SelC),
    (t!("ReadWriteAndConsentSelfForTeam"), SC),
    (t!("ReadWriteForTeam"), A),
    ("Group.ReadWrite.All", A),
    ("Directory.ReadWrite.All", A),
    (t!("ReadWriteAndConsentForTeam"), AC),
];
const TEAM_UPGRADE_D: &[Row] = &[
    (t!("ReadWriteSelfForTeam"), S),
    (t!("ManageSelectedForTeam"), SelC),
    (t!("ReadWriteAndConsentForTeam"), AC),
    (t!("ReadWriteAndConsentSelfForTeam"), SC),
    (t!("ReadWriteForTeam"), A),
    ("Group.ReadWrite.All", A),
    ("Directory.ReadWrite.All", A),
];
const TEAM_WRITE_A: &[Row] = &[
    (t!("ReadWriteSelfForTeam.All"), S),
    (t!("ManageSelectedForTeam.All"), SelC),
    (t!("ReadWriteAndConsentForTeam.All"), AC),
    (t!("ReadWriteAndConsentSelfForTeam.All"), SC),
    (t!("ReadWriteForTeam.All"), A),
    ("Group.ReadWrite.All", A),
    ("Directory.ReadWrite.All", A),
];
const TEAM_DELETE_D: &[Row] = &[
    (t!("ReadWriteSelfForTeam"), S),
    (t!("ManageSelectedForTeam"), Sel),
    (t!("ReadWriteForTeam"), A),
    ("Group.ReadWrite.All", A),
    ("Directory.ReadWrite.All", A),
];
const TEAM_DELETE_A: &[Row] = &[
    (t!("ReadWriteSelfForTeam.All"), S),
    (t!("ManageSelectedForTeam.All"), Sel),
    (t!("ReadWriteForTeam.All"), A),
    ("Group.ReadWrite.All", A),
    ("Directory.ReadWrite.All", A),
];

/// Permission names that appear in no table: they must grant nothing anywhere.
const UNRELATED: &[&str] = &[
    "User.Read.All",
    t!("ReadSelectedForUser.All"),
    t!("ReadSelectedForChat.All"),
    t!("ReadSelectedForTeam.All"),
    t!("ReadWriteSelectedForChat"),
    t!("ReadWriteSelectedForChat.All"),
    t!("ReadWriteSelectedForTeam"),
    t!("ReadWriteSelectedForTeam.All"),
];
/// `.All` names that exist as delegated permissions too.
const BOTH_KINDS: &[&str] = &[
    "Group.Read.All",
    "Group.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    "AppCatalog.Read.All",
    "AppCatalog.ReadWrite.All",
    "User.Read.All",
];
const RSC_PERMISSIONS: &[&str] =
    &["Chat.Manage.Chat", t!("Read.Chat"), t!("Read.Group"), t!("Read.User")];

fn is_rsc(perm: &str) -> bool {
    RSC_PERMISSIONS.contains(&perm)
}
fn exists_delegated(perm: &str) -> bool {
    BOTH_KINDS.contains(&perm) || (!perm.ends_with(".All") && !is_rsc(perm))
}
fn exists_application(perm: &str) -> bool {
    perm.ends_with(".All") || is_rsc(perm)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    User,
    Chat,
    Team,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    List,
    Get,
    Install,
    Upgrade,
    Uninstall,
    GetChat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CatOp {
    List,
    GetApp,
    ListDefinitions,
    GetDefinition,
    Bot,
    Publish,
    Update,
    Review,
    DeleteApp,
    DeleteDefinition,
}

#[derive(Debug, Clone, Copy)]
enum Shape {
    Catalog(CatOp),
    Installation(Scope, Action),
}

/// Every operation this file knows, written out (compared with `Operation::ALL`).
const OPS: &[Operation] = &[
    Operation::ListTeamsApps,
    Operation::GetTeamsApp,
    Operation::ListAppDefinitions,
    Operation::GetAppDefinition,
    Operation::PublishTeamsApp,
    Operation::UpdateTeamsApp,
    Operation::ReviewAppDefinition,
    Operation::DeleteTeamsApp,
    Operation::DeleteAppDefinition,
    Operation::GetTeamworkBot,
    Operation::ListUserInstalledApps,
    Operation::GetUserInstalledApp,
    Operation::InstallAppForUser,
    Operation::UpgradeAppForUser,
    Operation::UninstallAppForUser,
    Operation::GetUserInstalledAppChat,
    Operation::ListChatInstalledApps,
    Operation::GetChatInstalledApp,
    Operation::InstallAppInChat,
    Operation::UpgradeAppInChat,
    Operation::UninstallAppInChat,
    Operation::ListTeamInstalledApps,
    Operation::GetTeamInstalledApp,
    Operation::InstallAppInTeam,
    Operation::UpgradeAppInTeam,
    Operation::UninstallAppInTeam,
];

/// The directory reads, tenant settings and icon reads (lifecycle spec 1, 4, 5): not app
/// operations of this matrix; their permissions are tested over HTTP (crates/cli/tests/integration/directory.rs,
/// teamwork.rs).
const DIRECTORY_READS: &[Operation] = &[
    Operation::ListChatPermissionGrants,
    Operation::ListTeamPermissionGrants,
    Operation::ListGroupPermissionGrants,
    Operation::ListUserPermissionGrants,
    Operation::GetTeamsAppSettings,
    Operation::UpdateTeamsAppSettings,
    Operation::ListUsers,
    Operation::CountUsers,
    Operation::GetUser,
    Operation::GetMe,
    Operation::ListTeams,
    Operation::GetTeam,
    Operation::ListUserJoinedTeams,
    Operation::ListMyJoinedTeams,
    Operation::ListUserChats,
    Operation::ListMyChats,
    Operation::ListChats,
    Operation::GetChat,
    Operation::ListGroups,
    // The beta icon reads (lifecycle spec 5), whose answers are package bytes the store keeps:
    // their permissions are tested over HTTP too (icons.rs, and auth.rs's table of 403s).
    Operation::GetTeamsAppIcon,
    Operation::GetTeamworkHostedContent,
    Operation::GetTeamworkHostedContentBytes,
];

/// What an operation is, and its (delegated, application) tables; `None`: that token kind is not
/// supported at all (application tokens on catalog writes, spec E16).
fn spec_of(op: Operation) -> (Shape, Option<&'static [Row]>, Option<&'static [Row]>) {
    use Action as Ac;
    use Operation as O;
    use Scope as Sc;
    let inst = |s, a| Shape::Installation(s, a);
    match op {
        O::ListTeamsApps => (Shape::Catalog(CatOp::List), Some(CAT_READ_D), Some(CAT_READ_A)),
        O::GetTeamsApp => (Shape::Catalog(CatOp::GetApp), Some(CAT_READ_D), Some(CAT_READ_A)),
        O::ListAppDefinitions => {
            (Shape::Catalog(CatOp::ListDefinitions), Some(CAT_READ_D), Some(CAT_READ_A))
        }
        O::GetAppDefinition => {
            (Shape::Catalog(CatOp::GetDefinition), Some(CAT_READ_D), Some(CAT_READ_A))
        }
        O::GetTeamworkBot => (Shape::Catalog(CatOp::Bot), Some(BOT_D), Some(CAT_READ_A)),
        O::PublishTeamsApp => (Shape::Catalog(CatOp::Publish), Some(CAT_WRITE_D), None),
        O::UpdateTeamsApp => (Shape::Catalog(CatOp::Update), Some(CAT_WRITE_D), None),
        O::ReviewAppDefinition => (Shape::Catalog(CatOp::Review), Some(REVIEW_D), None),
        O::DeleteTeamsApp => (Shape::Catalog(CatOp::DeleteApp), Some(DELETE_APP_D), None),
        O::DeleteAppDefinition => {
            (Shape::Catalog(CatOp::DeleteDefinition), Some(CAT_WRITE_D), None)
        }
        O::ListUserInstalledApps => {
            (inst(Sc::User, Ac::List), Some(USER_LIST_D), Some(USER_LIST_A))
        }
        O::GetUserInstalledApp => (inst(Sc::User, Ac::Get), Some(USER_LIST_D), Some(USER_GET_A)),
        O::InstallAppForUser => {
            (inst(Sc::User, Ac::Install), Some(USER_WRITE_D), Some(USER_WRITE_A))
        }
        O::UpgradeAppForUser => {
            (inst(Sc::User, Ac::Upgrade), Some(USER_WRITE_D), Some(USER_WRITE_A))
        }
        O::UninstallAppForUser => {
            (inst(Sc::User, Ac::Uninstall), Some(USER_DELETE_D), Some(USER_DELETE_A))
        }
        O::GetUserInstalledAppChat => {
            (inst(Sc::User, Ac::GetChat), Some(USER_CHAT_D), Some(USER_CHAT_A))
        }
        O::ListChatInstalledApps => {
            (inst(Sc::Chat, Ac::List), Some(CHAT_READ_D), Some(CHAT_READ_A))
        }
        O::GetChatInstalledApp => (inst(Sc::Chat, Ac::Get), Some(CHAT_READ_D), Some(CHAT_READ_A)),
        O::InstallAppInChat => {
            (inst(Sc::Chat, Ac::Install), Some(CHAT_WRITE_D), Some(CHAT_WRITE_A))
        }
        O::UpgradeAppInChat => {
            (inst(Sc::Chat, Ac::Upgrade), Some(CHAT_WRITE_D), Some(CHAT_WRITE_A))
        }
        O::UninstallAppInChat => {
            (inst(Sc::Chat, Ac::Uninstall), Some(CHAT_DELETE_D), Some(CHAT_DELETE_A))
        }
        O::ListTeamInstalledApps => {
            (inst(Sc::Team, Ac::List), Some(TEAM_LIST_D), Some(TEAM_READ_A))
        }
        O::GetTeamInstalledApp => (inst(Sc::Team, Ac::Get), Some(TEAM_GET_D), Some(TEAM_READ_A)),
        O::InstallAppInTeam => {
            (inst(Sc::Team, Ac::Install), Some(TEAM_INSTALL_D), Some(TEAM_WRITE_A))
        }
        O::UpgradeAppInTeam => {
            (inst(Sc::Team, Ac::Upgrade), Some(TEAM_UPGRADE_D), Some(TEAM_WRITE_A))
        }
        O::UninstallAppInTeam => {
            (inst(Sc::Team, Ac::Uninstall), Some(TEAM_DELETE_D), Some(TEAM_DELETE_A))
        }
        other => panic!("{other:?} is not an app operation of this matrix (DIRECTORY_READS)"),
    }
}

fn table(op: Operation, delegated: bool) -> Option<&'static [Row]> {
    let (_, d, a) = spec_of(op);
    if delegated {
        d
    } else {
        a
    }
}

/// Every permission name in any table, then the unrelated ones; first-seen order.
fn universe() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for &op in OPS {
        for delegated in [true, false] {
            for (perm, _) in table(op, delegated).unwrap_or_default() {
                if !out.contains(perm) {
                    out.push(perm);
                }
            }
        }
    }
    out.extend(UNRELATED.iter().copied().filter(|p| !out.contains(p)).collect::<Vec<_>>());
    out
}

// ---------------------------------------------------------------------------------------------
// Cells and outcomes
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// Application token of CALLER.
    App,
    /// MEMBER signed in to CALLER (not an admin).
    Member,
    /// OUTSIDER signed in to CALLER.
    Outsider,
    /// ADMIN signed in to CALLER.
    Admin,
}

impl Who {
    fn delegated(self) -> bool {
        self != Who::App
    }
    fn user(self) -> Option<&'static str> {
        match self {
            Who::App => None,
            Who::Member => Some(MEMBER),
            Who::Outsider => Some(OUTSIDER),
            Who::Admin => Some(ADMIN),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Own,
    Selected,
    Foreign,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// The newest definition requires no RSC permission.
    Plain,
    /// The newest definition requires application RSC permissions (consent needed).
    NeedsConsent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RscState {
    /// Not an RSC permission.
    NotRsc,
    /// The caller's app is installed in this resource with the RSC permission consented.
    ConsentedHere,
    /// The caller's app is installed here, but without this permission consented.
    InstalledHereWithout,
    /// The caller's app is installed, with the permission consented, only in other resources.
    ConsentedElsewhere,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CatTarget {
    Published,
    OwnSubmission,
    OthersSubmission,
}

/// What the spec says a cell does.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    Allowed(Payload),
    /// 403, step 2 of 5.7: `accepted` in documented order.
    Missing(Vec<&'static str>),
    /// 403 `AccessDenied` (E16).
    AccessDenied,
    /// 403 E4 for this catalog app id.
    SelfMiss(&'static str),
    /// 403 E5 for this catalog app id.
    SelectedMiss(&'static str),
    /// 403 E6 for this catalog app id.
    ConsentRefused(&'static str),
    /// 404 (a Self/Selected caller getting an installation it does not reach, 5.2; an invisible
    /// catalog submission).
    NotFound,
    /// 403 of step 4 (5.5): delegated caller outside the resource, or an RSC permission not
    /// consented in this resource. Message unspecified; must not be the E4/E5/E6 text.
    Context,
    /// 403 `Forbidden` of the catalog rules (non-admin, not own submission). Message unspecified.
    CatalogForbidden,
}

/// What a successful call returned, reduced to what the spec pins.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Payload {
    /// Catalog ids of the listed installations.
    Listed(BTreeSet<String>),
    /// The installation's app and version.
    Installation(String, String),
    /// The user-scope chat id.
    ChatId(String),
    /// Install / uninstall / publish / update / review / delete.
    Done,
    /// Upgrade moved the installation.
    Moved,
    /// Upgrade succeeded without moving (`Upgraded::AlreadyCurrent`).
    NotMoved(String),
    /// Catalog list: whether the target app is in it.
    CatalogListed(bool),
    /// Get app / list definitions: the app and the versions shown.
    CatalogApp(String, Vec<String>),
    /// Get definition: version and state.
    Definition(String, &'static str),
    Bot(String),
}

/// What a call actually did.
#[derive(Debug, Clone)]
enum Got {
    Ok(Payload),
    Missing { delegated: bool, accepted: Vec<String>, held: Vec<String> },
    Forbidden(String),
    AccessDenied(String),
    NotFound(String),
    Other(String),
}

fn classify(e: CoreError) -> Got {
    match e {
        CoreError::MissingPermission { delegated, accepted, held } => Got::Missing {
            delegated,
            accepted: accepted.iter().map(|s| s.to_string()).collect(),
            held,
        },
        CoreError::Denied { message, access_denied: true, .. } => Got::AccessDenied(message),
        CoreError::Denied { message, .. } => Got::Forbidden(message),
        CoreError::Forbidden(message) => Got::Forbidden(message),
        CoreError::NotFound(message) => Got::NotFound(message),
        other => Got::Other(format!("{other:?}")),
    }
}

fn self_miss(app: &str) -> String {
    format!("AAD App Id '{CALLER}' is not allowed to manage the Teams App '{app}'")
}
/// E5: the spec leaves the text open [U]; this pins the emulator's.
fn selected_miss(app: &str) -> String {
    format!(
        "The Teams app '{app}' is not among the apps selected for the calling application '{CALLER}'."
    )
}
/// E6: the spec leaves the text open [U]; the emulator's names the app first.
fn consent_prefix(app: &str) -> String {
    format!("The app '{app}' requires consent to resource-specific application permissions")
}

/// Compares; `Err` carries (a group key without cell details, a detail line).
fn compare(
    expect: &Expect,
    got: &Got,
    perm: &str,
    delegated: bool,
) -> Result<(), (String, String)> {
    let bad = |what: String| Err((normalize(&what), what));
    match (expect, got) {
        (Expect::Allowed(want), Got::Ok(have)) => {
            if want == have {
                Ok(())
            } else {
                bad(format!("allowed, but result {have:?} instead of {want:?}"))
            }
        }
        (Expect::Missing(want), Got::Missing { delegated: d, accepted, held }) => {
            let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
            if &want != accepted {
                let key = format!(
                    "MissingPermission.accepted differs from the spec's documented order\n      spec: {}\n      impl: {}",
                    want.join(", "),
                    accepted.join(", ")
                );
                return Err((key, format!("accepted {accepted:?}")));
            }
            if held != &vec![perm.to_string()] || *d != delegated {
                return bad(format!("MissingPermission held={held:?} delegated={d}"));
            }
            Ok(())
        }
        (Expect::AccessDenied, Got::AccessDenied(_)) => Ok(()),
        (Expect::SelfMiss(app), Got::Forbidden(m)) if *m == self_miss(app) => Ok(()),
        (Expect::SelectedMiss(app), Got::Forbidden(m)) if *m == selected_miss(app) => Ok(()),
        (Expect::ConsentRefused(app), Got::Forbidden(m)) if m.starts_with(&consent_prefix(app)) => {
            Ok(())
        }
        (Expect::NotFound, Got::NotFound(_)) => Ok(()),
        (Expect::Context, Got::Forbidden(m))
            if !m.starts_with("AAD App Id")
                && !m.contains("is not among the apps selected")
                && !m.contains("requires consent to resource-specific") =>
        {
            Ok(())
        }
        (Expect::CatalogForbidden, Got::Forbidden(_)) => Ok(()),
        (e, g) => Err((
            normalize(&format!("expected {}, got {}", describe_expect(e), class_of(g))),
            describe_got(g),
        )),
    }
}

fn describe_expect(e: &Expect) -> String {
    match e {
        Expect::Allowed(p) => format!("allowed ({p:?})"),
        Expect::Missing(_) => "403 MissingPermission".into(),
        Expect::AccessDenied => "403 AccessDenied".into(),
        Expect::SelfMiss(a) => format!("403 {:?}", self_miss(a)),
        Expect::SelectedMiss(a) => format!("403 {:?}", selected_miss(a)),
        Expect::ConsentRefused(_) => "403 consent refusal (E6)".into(),
        Expect::NotFound => "404 NotFound".into(),
        Expect::Context => "403 Forbidden (5.5 resource constraint, step 4)".into(),
        Expect::CatalogForbidden => "403 Forbidden (catalog rule)".into(),
    }
}

/// `describe_got` without what varies from cell to cell (404 texts carry installation ids).
fn class_of(g: &Got) -> String {
    match g {
        Got::NotFound(_) => "404 NotFound".into(),
        other => describe_got(other),
    }
}

/// Names instead of catalog ids, so that cells differing only in the target group together.
fn normalize(text: &str) -> String {
    let mut out = text.to_string();
    for (app, name) in [
        (&OWN_P, "{OWN_P}"),
        (&OWN_R, "{OWN_R}"),
        (&SEL_P, "{SEL_P}"),
        (&SEL_R, "{SEL_R}"),
        (&FOR_P, "{FOREIGN_P}"),
        (&FOR_R, "{FOREIGN_R}"),
        (&HOST, "{HOST}"),
        (&PUB, "{PUB}"),
        (&SUB_BY_ADMIN, "{SUB_BY_ADMIN}"),
        (&SUB_BY_MEMBER, "{SUB_BY_MEMBER}"),
    ] {
        out = out.replace(app.id, name).replace(app.bot, "{bot}");
    }
    out
}

fn describe_got(g: &Got) -> String {
    match g {
        Got::Ok(p) => format!("allowed ({p:?})"),
        Got::Missing { accepted, .. } => format!("403 MissingPermission [{}]", accepted.join(", ")),
        Got::Forbidden(m) => format!("403 Forbidden {m:?}"),
        Got::AccessDenied(m) => format!("403 AccessDenied {m:?}"),
        Got::NotFound(m) => format!("404 {m:?}"),
        Got::Other(m) => m.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// The world: seed, principals
// ---------------------------------------------------------------------------------------------

fn rsps(set: &[(&str, &str)]) -> Vec<ResourceSpecificPermission> {
    set.iter()
        .map(|(v, t)| ResourceSpecificPermission {
            permission_value: v.to_string(),
            permission_type: PermissionType::parse(t).expect("permission type"),
        })
        .collect()
}

fn manifest(app: &AppSpec, version: &str, rsc: &[(&str, &str)]) -> Value {
    let mut m = json!({
        "manifestVersion": "1.17",
        "id": app.manifest,
        "version": version,
        "name": {"short": format!("App {}", &app.id[34..]), "full": "Matrix test app"},
        "description": {"short": "Matrix app", "full": "An app of the permission matrix test."},
        "developer": {"name": "Contoso", "websiteUrl": "https://contoso.example",
                      "privacyUrl": "https://contoso.example/p", "termsOfUseUrl": "https://contoso.example/t"},
        "icons": {"color": "color.png", "outline": "outline.png"},
        "bots": [{"botId": app.bot, "scopes": ["personal", "team", "groupChat"]}]
    });
    if let Some(client) = app.client {
        m["webApplicationInfo"] = json!({"id": client, "resource": "api://contoso.example/matrix"});
    }
    if !rsc.is_empty() {
        let list: Vec<Value> = rsc.iter().map(|(n, t)| json!({"name": n, "type": t})).collect();
        m["authorization"] = json!({"permissions": {"resourceSpecific": list}});
    }
    m
}

fn definition(
    app: &AppSpec,
    version: &str,
    rsc: &[(&str, &str)],
    state: PublishingState,
    created_by: Option<&str>,
) -> AppDefinition {
    let package = parse_manifest_value(&manifest(app, version, rsc))
        .unwrap_or_else(|e| panic!("manifest of {} {version}: {e:?}", app.id));
    let c = package.content;
    assert_eq!(c.client_app_id.as_deref(), app.client);
    assert_eq!(c.bot_id.as_deref(), Some(app.bot));
    AppDefinition {
        app_id: app.id.to_string(),
        version: package.version,
        publishing_state: state,
        display_name: c.display_name,
        short_description: c.short_description,
        description: c.description,
        last_modified: None,
        created_by: created_by.map(str::to_string),
        client_app_id: c.client_app_id,
        required_permissions: c.required_permissions,
        bot_id: c.bot_id,
        allowed_scopes: c.allowed_scopes,
        etag: format!("etag-{}-{version}", app.id),
    }
}

fn catalog_app(app: &AppSpec, definitions: Vec<AppDefinition>) -> CatalogApp {
    CatalogApp {
        app: TeamsApp {
            tenant_id: TENANT.into(),
            id: app.id.into(),
            external_id: Some(app.manifest.into()),
            distribution_method: DistributionMethod::Organization,
        },
        definitions,
    }
}

fn user(id: &str, name: &str, roles: &[&str]) -> User {
    User {
        tenant_id: TENANT.into(),
        id: id.into(),
        user_principal_name: format!("{name}@contoso.example"),
        display_name: name.into(),
        password: None,
        roles: roles.iter().map(|r| r.to_string()).collect(),
        mail: None,
        account_enabled: None,
        user_type: None,
    }
}

fn base_seed() -> Seed {
    use PublishingState::{Published, Submitted};
    let mut apps = Vec::new();
    for (app, needs_consent) in [
        (&OWN_P, false),
        (&OWN_R, true),
        (&SEL_P, false),
        (&SEL_R, true),
        (&FOR_P, false),
        (&FOR_R, true),
    ] {
        let v2: &[(&str, &str)] = if needs_consent { R_SET } else { &[] };
        apps.push(catalog_app(
            app,
            vec![
                definition(app, "1.0.0", &[], Published, None),
                definition(app, "2.0.0", v2, Published, None),
            ],
        ));
    }
    apps.push(catalog_app(
        &HOST,
        vec![
            definition(&HOST, "1.0.0", HOST_V1_SET, Published, None),
            definition(&HOST, "2.0.0", HOST_V2_SET, Published, None),
        ],
    ));
    apps.push(catalog_app(&PUB, vec![definition(&PUB, "1.0.0", &[], Published, None)]));
    apps.push(catalog_app(
        &SUB_BY_ADMIN,
        vec![definition(&SUB_BY_ADMIN, "1.0.0", &[], Submitted, Some(ADMIN))],
    ));
    apps.push(catalog_app(
        &SUB_BY_MEMBER,
        vec![definition(&SUB_BY_MEMBER, "1.0.0", &[], Submitted, Some(MEMBER))],
    ));
    Seed {
        tenants: vec![Tenant { id: TENANT.into(), display_name: "Matrix".into() }],
        users: vec![
            user(ADMIN, "admin", &["TeamsServiceAdministrator"]),
            user(MEMBER, "member", &[]),
            user(OUTSIDER, "outsider", &[]),
        ],
        chats: vec![Chat {
            tenant_id: TENANT.into(),
            id: CHAT.into(),
            chat_type: "group".into(),
            topic: Some("Matrix".into()),
            members: vec![ADMIN.into(), MEMBER.into()],
            join_web_url: None,
            created_date_time: None,
        }],
        teams: vec![Team {
            tenant_id: TENANT.into(),
            id: TEAM.into(),
            display_name: "Matrix".into(),
            owners: vec![ADMIN.into()],
            members: vec![MEMBER.into()],
            description: None,
            visibility: None,
        }],
        applications: vec![
            Application {
                tenant_id: TENANT.into(),
                app_id: CALLER.into(),
                display_name: "Matrix caller".into(),
                client_secret: "caller-secret".into(),
                application_permissions: Vec::new(),
                delegated_permissions: Vec::new(),
                selected_teams_apps: vec![SEL_P.manifest.into(), SEL_R.manifest.into()],
            },
            Application {
                tenant_id: TENANT.into(),
                app_id: SELECTED_ENTRA.into(),
                display_name: "Selected app's registration".into(),
                client_secret: "selected-secret".into(),
                application_permissions: Vec::new(),
                delegated_permissions: Vec::new(),
                selected_teams_apps: Vec::new(),
            },
            Application {
                tenant_id: TENANT.into(),
                app_id: FOREIGN_ENTRA.into(),
                display_name: "Foreign app's registration".into(),
                client_secret: "foreign-secret".into(),
                application_permissions: Vec::new(),
                delegated_permissions: Vec::new(),
                selected_teams_apps: Vec::new(),
            },
        ],
        apps,
        installations: Vec::new(),
    }
}

fn principal(who: Who, perm: &str) -> Principal {
    Principal {
        tenant_id: TENANT.into(),
        app_id: CALLER.into(),
        kind: match who.user() {
            None => PrincipalKind::Application,
            Some(u) => PrincipalKind::Delegated { user_id: u.into() },
        },
        permissions: vec![perm.to_string()],
        is_admin: who == Who::Admin,
        personal_account: false,
    }
}

fn scope_ref(scope: Scope) -> ScopeRef {
    match scope {
        Scope::User => ScopeRef { kind: ScopeKind::User, id: MEMBER.into() },
        Scope::Chat => ScopeRef { kind: ScopeKind::Chat, id: CHAT.into() },
        Scope::Team => ScopeRef { kind: ScopeKind::Team, id: TEAM.into() },
    }
}

fn scope_path(scope: Scope) -> ScopePath {
    match scope {
        Scope::User => ScopePath::User(MEMBER.into()),
        Scope::Chat => ScopePath::Chat(CHAT.into()),
        Scope::Team => ScopePath::Team(TEAM.into()),
    }
}

/// Every resource an app can be installed in, but `scope`'s.
fn other_resources(scope: Scope) -> Vec<ScopeRef> {
    let mut all = vec![
        ScopeRef { kind: ScopeKind::User, id: ADMIN.into() },
        scope_ref(Scope::User),
        scope_ref(Scope::Chat),
        scope_ref(Scope::Team),
    ];
    all.retain(|s| *s != scope_ref(scope));
    all
}

fn installation(
    scope: ScopeRef,
    app: &AppSpec,
    version: &str,
    consented: &[(&str, &str)],
) -> Installation {
    Installation {
        tenant_id: TENANT.into(),
        scope,
        app_id: app.id.into(),
        version: version.into(),
        consented: (!consented.is_empty()).then(|| rsps(consented)),
    }
}

async fn fresh_store(base: &Seed, installs: Vec<Installation>) -> SqliteStore {
    let store = SqliteStore::open_in_memory().expect("in-memory store");
    let mut seed = base.clone();
    seed.installations = installs;
    store.apply_seed(&seed).await.expect("seed");
    store
}

fn consent_text(set: Option<&[ResourceSpecificPermission]>) -> String {
    match set {
        None => "null".into(),
        Some(set) => {
            let mut v: Vec<String> = set
                .iter()
                .map(|p| format!("{}({})", p.permission_value, p.permission_type.as_str()))
                .collect();
            v.sort();
            format!("[{}]", v.join(","))
        }
    }
}

/// The target's installation in the scope, as text: "absent" or "{version} consented={set}".
async fn installation_state(store: &SqliteStore, scope: Scope, app: &AppSpec) -> String {
    match store.get_installation(TENANT, &scope_ref(scope), app.id).await.expect("read") {
        None => "absent".into(),
        Some(i) => format!("{} consented={}", i.version, consent_text(i.consented.as_deref())),
    }
}

fn state_text(version: &str, consented: &[(&str, &str)]) -> String {
    let set = (!consented.is_empty()).then(|| rsps(consented));
    format!("{version} consented={}", consent_text(set.as_deref()))
}

/// The app's definitions as "version:state,…"; empty when the app is gone.
async fn definitions_state(store: &SqliteStore, app_id: &str) -> String {
    match store.get_app(TENANT, app_id).await.expect("read") {
        None => String::new(),
        Some(app) => app
            .definitions
            .iter()
            .map(|d| format!("{}:{}", d.version, d.publishing_state.as_str()))
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// `now` for catalog writes, without naming chrono (not a dependency of this crate).
macro_rules! now {
    () => {
        serde_json::from_str("\"2024-05-01T12:00:00Z\"").expect("timestamp")
    };
}

fn package(manifest: &Value) -> Vec<u8> {
    fn png(size: u32) -> Vec<u8> {
        let mut out = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
        out.extend_from_slice(&13u32.to_be_bytes());
        out.extend_from_slice(b"IHDR");
        out.extend_from_slice(&size.to_be_bytes());
        out.extend_from_slice(&size.to_be_bytes());
        out.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(b"IEND");
        out.extend_from_slice(&[0xAE, 0x42, 0x60, 0x82]);
        out
    }
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for (name, bytes) in [
        ("manifest.json", manifest.to_string().into_bytes()),
        ("color.png", png(192)),
        ("outline.png", png(32)),
    ] {
        zip.start_file(name, opts).expect("zip entry");
        zip.write_all(&bytes).expect("zip write");
    }
    zip.finish().expect("zip").into_inner()
}

// ---------------------------------------------------------------------------------------------
// The tally
// ---------------------------------------------------------------------------------------------

type RowKey = (String, bool, &'static str);

#[derive(Default)]
struct Tally {
    cells: usize,
    allowed: usize,
    denied: usize,
    /// Per table row: (cells, cells the spec allows).
    rows: BTreeMap<RowKey, (usize, usize)>,
    per_op: BTreeMap<String, usize>,
    /// Disagreement group -> the cells showing it.
    mismatches: BTreeMap<String, Vec<String>>,
}

impl Tally {
    fn new() -> Tally {
        let mut t = Tally::default();
        for &op in OPS {
            t.per_op.insert(format!("{op:?}"), 0);
            for delegated in [true, false] {
                for (perm, _) in table(op, delegated).unwrap_or_default() {
                    t.rows.insert((format!("{op:?}"), delegated, perm), (0, 0));
                }
            }
        }
        t
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        op: Operation,
        who: Who,
        perm: &'static str,
        cell: String,
        expect: &Expect,
        got: &Got,
        state: (String, String),
    ) {
        self.cells += 1;
        let allowed = matches!(expect, Expect::Allowed(_));
        if allowed {
            self.allowed += 1;
        } else {
            self.denied += 1;
        }
        *self.per_op.get_mut(&format!("{op:?}")).expect("known op") += 1;
        if let Some(row) = self.rows.get_mut(&(format!("{op:?}"), who.delegated(), perm)) {
            row.0 += 1;
            if allowed {
                row.1 += 1;
            }
        }
        let kind = if who.delegated() { "delegated" } else { "application" };
        if let Err((key, detail)) = compare(expect, got, perm, who.delegated()) {
            let key = if key.starts_with("MissingPermission.accepted") {
                format!("{op:?} [{kind}]: {key}")
            } else {
                format!("{op:?} [{kind}] {perm}: {key}")
            };
            self.mismatches.entry(key).or_default().push(format!("{cell} ({detail})"));
        }
        let (want, have) = state;
        if want != have {
            let key = format!(
                "{op:?} [{kind}] {perm}: state after the call is {have:?}, spec: {want:?} (expected {})",
                describe_expect(expect)
            );
            self.mismatches.entry(key).or_default().push(cell);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Installation cells
// ---------------------------------------------------------------------------------------------

fn target_app(target: Target, variant: Variant) -> &'static AppSpec {
    match (target, variant) {
        (Target::Own, Variant::Plain) => &OWN_P,
        (Target::Own, Variant::NeedsConsent) => &OWN_R,
        (Target::Selected, Variant::Plain) => &SEL_P,
        (Target::Selected, Variant::NeedsConsent) => &SEL_R,
        (Target::Foreign, Variant::Plain) => &FOR_P,
        (Target::Foreign, Variant::NeedsConsent) => &FOR_R,
    }
}

struct InstCell {
    op: Operation,
    scope: Scope,
    action: Action,
    perm: &'static str,
    who: Who,
    target: Target,
    variant: Variant,
    rsc: RscState,
}

impl InstCell {
    fn app(&self) -> &'static AppSpec {
        target_app(self.target, self.variant)
    }

    fn v2_set(&self) -> &'static [(&'static str, &'static str)] {
        match self.variant {
            Variant::Plain => &[],
            Variant::NeedsConsent => R_SET,
        }
    }

    /// The spec's outcome (5.6 cells, 5.7 check order).
    fn expect(&self) -> Expect {
        let rows = table(self.op, self.who.delegated()).expect("installation ops support both");
        let Some(&(_, cell)) = rows.iter().find(|(p, _)| *p == self.perm) else {
            return Expect::Missing(rows.iter().map(|(p, _)| *p).collect());
        };
        // Step 4: delegated-context and RSC-resource constraints, before anything is resolved.
        if self.who == Who::Outsider {
            return Expect::Context;
        }
        if cell == Rsc && self.rsc != RscState::ConsentedHere {
            return Expect::Context;
        }
        let reaches = |t: Target| match cell {
            A | AC | Rsc => true,
            S | SC => t == Target::Own,
            Sel | SelC => t == Target::Selected,
            CatRead | CatSubmit | CatWrite => unreachable!("catalog cell in an installation table"),
        };
        let miss = || match cell {
            S | SC => Expect::SelfMiss(self.app().id),
            Sel | SelC => Expect::SelectedMiss(self.app().id),
            _ => unreachable!("A and RSC cells reach every app"),
        };
        let app = self.app();
        match self.action {
            Action::List => {
                let mut ids = BTreeSet::new();
                if reaches(self.target) {
                    ids.insert(app.id.to_string());
                }
                // HOST is the caller's own app, installed here for RSC cells.
                let host_here =
                    matches!(self.rsc, RscState::ConsentedHere | RscState::InstalledHereWithout);
                if host_here && reaches(Target::Own) {
                    ids.insert(HOST.id.to_string());
                }
                Expect::Allowed(Payload::Listed(ids))
            }
            Action::Get if !reaches(self.target) => Expect::NotFound,
            Action::Get => Expect::Allowed(Payload::Installation(app.id.into(), "2.0.0".into())),
            Action::GetChat if !reaches(self.target) => Expect::NotFound,
            Action::GetChat => {
                Expect::Allowed(Payload::ChatId(format!("19:{}_{MEMBER}@unq.gbl.spaces", app.bot)))
            }
            Action::Install | Action::Upgrade | Action::Uninstall if !reaches(self.target) => {
                miss()
            }
            Action::Install | Action::Upgrade
                if self.variant == Variant::NeedsConsent && !matches!(cell, AC | SC | SelC) =>
            {
                Expect::ConsentRefused(app.id)
            }
            Action::Install | Action::Uninstall => Expect::Allowed(Payload::Done),
            Action::Upgrade => Expect::Allowed(Payload::Moved),
        }
    }

    /// The seeded installations: the target (except for install) and the caller's RSC host.
    fn installs(&self) -> Vec<Installation> {
        let here = scope_ref(self.scope);
        let mut out = Vec::new();
        let app = self.app();
        match self.action {
            Action::Install => {}
            Action::Upgrade => out.push(installation(here.clone(), app, "1.0.0", &[])),
            _ => out.push(installation(here.clone(), app, "2.0.0", self.v2_set())),
        }
        match self.rsc {
            RscState::NotRsc => {}
            RscState::ConsentedHere => out.push(installation(here, &HOST, "2.0.0", HOST_V2_SET)),
            RscState::InstalledHereWithout => {
                out.push(installation(here, &HOST, "1.0.0", HOST_V1_SET))
            }
            RscState::ConsentedElsewhere => {
                for other in other_resources(self.scope) {
                    out.push(installation(other, &HOST, "2.0.0", HOST_V2_SET));
                }
            }
        }
        out
    }

    /// The target's installation after the call, per the spec.
    fn state_after(&self, expect: &Expect) -> String {
        let allowed = matches!(expect, Expect::Allowed(_));
        match self.action {
            Action::Install if allowed => state_text("2.0.0", self.v2_set()),
            Action::Install => "absent".into(),
            Action::Upgrade if allowed => state_text("2.0.0", self.v2_set()),
            Action::Upgrade => state_text("1.0.0", &[]),
            Action::Uninstall if allowed => "absent".into(),
            _ => state_text("2.0.0", self.v2_set()),
        }
    }

    fn describe(&self) -> String {
        format!(
            "who={:?} target={:?} variant={:?} rsc={:?}",
            self.who, self.target, self.variant, self.rsc
        )
    }

    async fn run(&self, store: &SqliteStore) -> Got {
        let auth = match authorize(self.op, principal(self.who, self.perm)) {
            Ok(auth) => auth,
            Err(e) => return classify(e),
        };
        let p = &auth;
        let path = scope_path(self.scope);
        let app = self.app();
        let inst_id = ids::installation_id(&scope_ref(self.scope).id, app.id);
        let consent = (self.variant == Variant::NeedsConsent).then(|| rsps(R_SET));
        let res = match self.action {
            Action::List => installations::list_installed_apps(store, p, &path)
                .await
                .map(|v| Payload::Listed(v.into_iter().map(|i| i.installation.app_id).collect())),
            Action::Get => installations::get_installed_app(store, p, &path, &inst_id)
                .await
                .map(|i| Payload::Installation(i.installation.app_id, i.installation.version)),
            Action::GetChat => installations::get_installed_app_chat(store, p, &path, &inst_id)
                .await
                .map(|c| Payload::ChatId(c.id)),
            Action::Install => {
                installations::install_app(store, p, &path, app.id, consent.as_deref())
                    .await
                    .map(|_| Payload::Done)
            }
            Action::Upgrade => {
                installations::upgrade_app(store, p, &path, &inst_id, consent.as_deref()).await.map(
                    |u| match u {
                        Upgraded::Moved => Payload::Moved,
                        other => Payload::NotMoved(format!("{other:?}")),
                    },
                )
            }
            Action::Uninstall => installations::uninstall_app(store, p, &path, &inst_id)
                .await
                .map(|()| Payload::Done),
        };
        match res {
            Ok(p) => Got::Ok(p),
            Err(e) => classify(e),
        }
    }
}

async fn walk_installation_op(
    base: &Seed,
    tally: &mut Tally,
    op: Operation,
    scope: Scope,
    action: Action,
    perms: &[&'static str],
) {
    for &perm in perms {
        let mut whos = Vec::new();
        if exists_delegated(perm) {
            whos.extend([Who::Member, Who::Outsider]);
        }
        if exists_application(perm) {
            whos.push(Who::App);
        }
        let variants: &[Variant] = match action {
            Action::Install | Action::Upgrade => &[Variant::Plain, Variant::NeedsConsent],
            _ => &[Variant::Plain],
        };
        let rsc_states: &[RscState] = if is_rsc(perm) {
            &[RscState::ConsentedHere, RscState::InstalledHereWithout, RscState::ConsentedElsewhere]
        } else {
            &[RscState::NotRsc]
        };
        for &who in &whos {
            for target in [Target::Own, Target::Selected, Target::Foreign] {
                for &variant in variants {
                    for &rsc in rsc_states {
                        let cell = InstCell { op, scope, action, perm, who, target, variant, rsc };
                        let store = fresh_store(base, cell.installs()).await;
                        let expect = cell.expect();
                        let got = cell.run(&store).await;
                        let want_state = cell.state_after(&expect);
                        let have_state = installation_state(&store, scope, cell.app()).await;
                        tally.record(
                            op,
                            who,
                            perm,
                            cell.describe(),
                            &expect,
                            &got,
                            (want_state, have_state),
                        );
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Catalog cells
// ---------------------------------------------------------------------------------------------

struct CatCell {
    op: Operation,
    cat: CatOp,
    perm: &'static str,
    who: Who,
    target: CatTarget,
    requires_review: bool,
    new_state: PublishingState,
}

impl CatCell {
    /// The app a target names for this caller ("own" = submitted by the signed-in user).
    fn app(&self) -> &'static AppSpec {
        match (self.target, self.who) {
            (CatTarget::Published, _) => &PUB,
            (CatTarget::OwnSubmission, Who::Admin) | (CatTarget::OthersSubmission, Who::Member) => {
                &SUB_BY_ADMIN
            }
            (CatTarget::OwnSubmission, _) | (CatTarget::OthersSubmission, _) => &SUB_BY_MEMBER,
        }
    }

    fn target_state(&self) -> &'static str {
        match self.target {
            CatTarget::Published => "published",
            _ => "submitted",
        }
    }

    /// The spec's outcome (3.x, catalog matrix of 5.6).
    fn expect(&self) -> Expect {
        let Some(rows) = table(self.op, self.who.delegated()) else {
            return Expect::AccessDenied;
        };
        let Some(&(_, cell)) = rows.iter().find(|(p, _)| *p == self.perm) else {
            return Expect::Missing(rows.iter().map(|(p, _)| *p).collect());
        };
        let admin = self.who == Who::Admin;
        let own = self.target == CatTarget::OwnSubmission;
        let app = self.app();
        match self.cat {
            CatOp::List
            | CatOp::GetApp
            | CatOp::ListDefinitions
            | CatOp::GetDefinition
            | CatOp::Bot => {
                // 3.1 visibility: published for all; submissions for their submitter and admins.
                let visible = self.target == CatTarget::Published || own || admin;
                match self.cat {
                    CatOp::List => Expect::Allowed(Payload::CatalogListed(visible)),
                    _ if !visible => Expect::NotFound,
                    CatOp::GetApp | CatOp::ListDefinitions => {
                        Expect::Allowed(Payload::CatalogApp(app.id.into(), vec!["1.0.0".into()]))
                    }
                    CatOp::GetDefinition => {
                        Expect::Allowed(Payload::Definition("1.0.0".into(), self.target_state()))
                    }
                    _ => Expect::Allowed(Payload::Bot(app.bot.into())),
                }
            }
            CatOp::Publish | CatOp::Update => {
                if self.requires_review || admin {
                    Expect::Allowed(Payload::Done)
                } else {
                    Expect::CatalogForbidden
                }
            }
            CatOp::Review | CatOp::DeleteApp => {
                if cell == CatWrite && admin {
                    Expect::Allowed(Payload::Done)
                } else {
                    Expect::CatalogForbidden
                }
            }
            CatOp::DeleteDefinition => {
                let may = match cell {
                    CatSubmit => own,
                    _ => own || admin,
                };
                if may {
                    Expect::Allowed(Payload::Done)
                } else {
                    Expect::CatalogForbidden
                }
            }
        }
    }

    /// What the call's effect must look like afterwards (the app's definitions).
    fn state_after(&self, expect: &Expect) -> String {
        let allowed = matches!(expect, Expect::Allowed(_));
        let review_state = if self.requires_review { "submitted" } else { "published" };
        match self.cat {
            CatOp::Publish if allowed => {
                format!("1.0.0:{review_state} by {}", self.who.user().unwrap_or("nobody"))
            }
            CatOp::Publish => String::new(),
            CatOp::Update if allowed => format!("1.0.0:published,2.0.0:{review_state}"),
            CatOp::Update => "1.0.0:published".into(),
            CatOp::Review if allowed => format!("1.0.0:{}", self.new_state.as_str()),
            CatOp::DeleteApp | CatOp::DeleteDefinition if allowed => String::new(),
            _ => format!("1.0.0:{}", self.target_state()),
        }
    }

    async fn state(&self, store: &SqliteStore) -> String {
        if self.cat == CatOp::Publish {
            return match store.get_app_by_external_id(TENANT, NEW_MANIFEST).await.expect("read") {
                None => String::new(),
                Some(app) => app
                    .definitions
                    .iter()
                    .map(|d| {
                        format!(
                            "{}:{} by {}",
                            d.version,
                            d.publishing_state.as_str(),
                            d.created_by.as_deref().unwrap_or("nobody")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(","),
            };
        }
        definitions_state(store, self.app().id).await
    }

    fn describe(&self) -> String {
        format!(
            "who={:?} target={:?} requiresReview={} newState={}",
            self.who,
            self.target,
            self.requires_review,
            self.new_state.as_str()
        )
    }

    async fn run(&self, store: &SqliteStore) -> Got {
        let auth = match authorize(self.op, principal(self.who, self.perm)) {
            Ok(auth) => auth,
            Err(e) => return classify(e),
        };
        let p = &auth;
        let app = self.app();
        let state = match self.target {
            CatTarget::Published => PublishingState::Published,
            _ => PublishingState::Submitted,
        };
        let def_id = ids::definition_id(app.id, "1.0.0", state, DistributionMethod::Organization);
        let options =
            PublishOptions { requires_review: self.requires_review, unique_client_app_id: true };
        let res = match self.cat {
            CatOp::List => catalog::list_apps(store, p)
                .await
                .map(|apps| Payload::CatalogListed(apps.iter().any(|a| a.app.id == app.id))),
            CatOp::GetApp | CatOp::ListDefinitions => {
                catalog::get_app(store, p, app.id).await.map(|a| {
                    Payload::CatalogApp(
                        a.app.id,
                        a.definitions.into_iter().map(|d| d.version).collect(),
                    )
                })
            }
            CatOp::GetDefinition => catalog::get_definition(store, p, app.id, &def_id)
                .await
                .map(|(_, d)| Payload::Definition(d.version, d.publishing_state.as_str())),
            CatOp::Bot => catalog::get_bot(store, p, app.id, &def_id).await.map(Payload::Bot),
            CatOp::Publish => {
                let new = AppSpec { manifest: NEW_MANIFEST, ..PUB };
                let zip = package(&manifest(&new, "1.0.0", &[]));
                catalog::publish_app(store, p, &zip, options, now!()).await.map(|_| Payload::Done)
            }
            CatOp::Update => {
                let zip = package(&manifest(&PUB, "2.0.0", &[]));
                catalog::update_app(store, p, PUB.id, &zip, options, now!())
                    .await
                    .map(|_| Payload::Done)
            }
            CatOp::Review => {
                catalog::review_definition(store, p, app.id, &def_id, None, self.new_state, now!())
                    .await
                    .map(|_| Payload::Done)
            }
            CatOp::DeleteApp => catalog::delete_app(store, p, app.id).await.map(|()| Payload::Done),
            CatOp::DeleteDefinition => {
                catalog::delete_definition(store, p, app.id, &def_id).await.map(|()| Payload::Done)
            }
        };
        match res {
            Ok(p) => Got::Ok(p),
            Err(e) => classify(e),
        }
    }
}

async fn walk_catalog_op(
    base: &Seed,
    tally: &mut Tally,
    op: Operation,
    cat: CatOp,
    perms: &[&'static str],
) {
    for &perm in perms {
        let mut whos = Vec::new();
        if exists_delegated(perm) {
            whos.extend([Who::Admin, Who::Member]);
        }
        if exists_application(perm) {
            whos.push(Who::App);
        }
        for &who in &whos {
            let targets: &[CatTarget] = match (cat, who) {
                (CatOp::Publish | CatOp::Update | CatOp::DeleteApp, _) => &[CatTarget::Published],
                // Application tokens: which submissions they see is not specified.
                (CatOp::Review | CatOp::DeleteDefinition, Who::App) => {
                    &[CatTarget::OthersSubmission]
                }
                (CatOp::Review | CatOp::DeleteDefinition, _) => {
                    &[CatTarget::OwnSubmission, CatTarget::OthersSubmission]
                }
                (_, Who::App) => &[CatTarget::Published],
                _ => &[CatTarget::Published, CatTarget::OwnSubmission, CatTarget::OthersSubmission],
            };
            let reviews: &[bool] = match cat {
                CatOp::Publish | CatOp::Update => &[false, true],
                _ => &[false],
            };
            let new_states: &[PublishingState] = match cat {
                CatOp::Review => &[PublishingState::Published, PublishingState::Rejected],
                _ => &[PublishingState::Published],
            };
            for &target in targets {
                for &requires_review in reviews {
                    for &new_state in new_states {
                        let cell =
                            CatCell { op, cat, perm, who, target, requires_review, new_state };
                        let store = fresh_store(base, Vec::new()).await;
                        let expect = cell.expect();
                        let got = cell.run(&store).await;
                        let want_state = cell.state_after(&expect);
                        let have_state = cell.state(&store).await;
                        tally.record(
                            op,
                            who,
                            perm,
                            cell.describe(),
                            &expect,
                            &got,
                            (want_state, have_state),
                        );
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn permission_matrix_every_cell() {
    // The table covers exactly the operations the server serves.
    assert_eq!(OPS.len() + DIRECTORY_READS.len(), Operation::ALL.len(), "operation count");
    for op in Operation::ALL {
        assert!(
            OPS.contains(op) || DIRECTORY_READS.contains(op),
            "{op:?} is not in this file's table"
        );
    }
    assert_eq!(OPS.len(), 26);

    // Sanity of the encoding: each table names each permission once, in the token kind it exists in.
    for &op in OPS {
        for delegated in [true, false] {
            let rows = table(op, delegated).unwrap_or_default();
            let names: BTreeSet<&str> = rows.iter().map(|(p, _)| *p).collect();
            assert_eq!(names.len(), rows.len(), "{op:?} delegated={delegated}: duplicate row");
            for (perm, _) in rows {
                let ok = if delegated { exists_delegated(perm) } else { exists_application(perm) };
                assert!(ok, "{op:?} delegated={delegated}: {perm} is not that kind of permission");
            }
        }
    }

    let base = base_seed();
    let perms = universe();
    let mut tally = Tally::new();
    for &op in OPS {
        match spec_of(op).0 {
            Shape::Installation(scope, action) => {
                walk_installation_op(&base, &mut tally, op, scope, action, &perms).await
            }
            Shape::Catalog(cat) => walk_catalog_op(&base, &mut tally, op, cat, &perms).await,
        }
    }

    println!(
        "matrix: {} cells checked ({} allowed, {} denied)",
        tally.cells, tally.allowed, tally.denied
    );

    let mut problems = Vec::new();
    for (op, n) in &tally.per_op {
        if *n == 0 {
            problems.push(format!("operation {op} was never exercised"));
        }
    }
    for ((op, delegated, perm), (cells, allowed)) in &tally.rows {
        if *cells == 0 || *allowed == 0 {
            problems.push(format!(
                "row {op} delegated={delegated} {perm}: {cells} cells, {allowed} allowed by the spec (never exercised to success)"
            ));
        }
    }
    let cells_in_disagreement: usize = tally.mismatches.values().map(Vec::len).sum();
    for (group, cells) in &tally.mismatches {
        let shown: Vec<&String> = cells.iter().take(3).collect();
        problems.push(format!(
            "{group}\n    {} cell(s), e.g. {}",
            cells.len(),
            shown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("; ")
        ));
    }
    assert!(
        problems.is_empty(),
        "{} disagreement group(s) over {cells_in_disagreement} cell(s):\n\n{}",
        tally.mismatches.len(),
        problems.join("\n\n")
    );
}
