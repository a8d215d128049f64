//! The permission check (spec 5.7 step 2) and what it yields: [`authorize`] is the only way to
//! obtain an [`Authorized`], which every use case takes, so a request is authorized exactly once.
//! The operations and the permissions each accepts are the rows of [`crate::operations`].

use crate::error::{CoreError, CoreResult};
use crate::principal::Principal;

use crate::operations::Workload;
pub use crate::operations::{Grant, Operation, Reach};
use teamsapps_wire::error::ErrorCode;

impl Operation {
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
        Reach::SignedInUser => " (signed-in user only)",
    };
    let consent = if g.consent { " +C" } else { "" };
    format!("`{}`{reach}{consent}", g.permission)
}

/// `docs/permissions.md`: the matrix as users read it, generated from the table above
/// (`teamsapps permissions > docs/permissions.md`); a test fails when the file drifts.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Permissions: what each operation accepts\n\n\
         Generated from the operation table (`crates/core/src/operations.rs`) by `teamsapps permissions`; a test fails \
         when this file and the code disagree. Spec: sections 3, 4 and 5 of \
         the behavioural specification of the Graph Teams apps API.\n\n\
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
    for row in crate::operations::OPERATIONS {
        let (op, method, path) = (row.op, row.method, row.routes[0]);
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
    /// installation operations in application context; in China every catalog and
    /// installation operation but chat installations. Directory reads are everywhere.
    pub fn check(self, operation: Operation, delegated: bool) -> CoreResult<()> {
        use crate::operations::Surface;
        let row = operation.row();
        let installation = row.surface == Surface::Installations;
        let user_scope = installation && row.routes[0].starts_with("/users/");
        let chat_scope = installation && row.routes[0].starts_with("/chats/");
        let lifecycle = row.surface != Surface::Directory;
        let refused = match self {
            Cloud::Global => false,
            Cloud::UsGov | Cloud::Dod => user_scope && !delegated,
            Cloud::China => lifecycle && !chat_scope,
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
    operation: Operation,
    held: Vec<Grant>,
}

/// A caller allowed to call one operation: made only by [`authorize`], taken by every use case.
#[derive(Debug, Clone)]
pub struct Authorized {
    principal: Principal,
    access: Access,
}

impl Authorized {
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    pub fn operation(&self) -> Operation {
        self.access.operation
    }

    pub fn access(&self) -> &Access {
        &self.access
    }

    /// The caller, when this authorization is for one of `ops`: a use case handed the
    /// authorization of another operation is a bug (500), never a way around a check.
    pub fn principal_for(&self, ops: &[Operation]) -> CoreResult<&Principal> {
        if ops.contains(&self.access.operation) {
            Ok(&self.principal)
        } else {
            Err(CoreError::Internal(format!(
                "{} was authorized, but {} was called",
                self.access.operation.name(),
                ops.iter().map(|o| o.name()).collect::<Vec<_>>().join(" or ")
            )))
        }
    }
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
    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// The accepted grants the token holds, in documented order.
    pub fn held(&self) -> &[Grant] {
        &self.held
    }

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
        // Reaches a user, never an app.
        Reach::SignedInUser => false,
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
pub fn authorize(operation: Operation, principal: Principal) -> CoreResult<Authorized> {
    if principal.personal_account {
        // "Personal Microsoft account: Not supported" in every table (spec 4.1, E26).
        return Err(crate::error::denied(
            "This API is not supported for personal Microsoft accounts.",
            "personal account",
            Vec::new(),
            &principal.permissions,
        ));
    }
    let accepted = operation.grants_for(&principal);
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
    if held.is_empty() && operation.row().workload == Workload::Directory {
        // The directory workload does not name what it wanted (lifecycle spec 1.1).
        return Err(CoreError::Graph(
            ErrorCode::AuthorizationRequestDenied,
            "Insufficient privileges to complete the operation.".into(),
        ));
    }
    if held.is_empty() {
        return Err(CoreError::MissingPermission {
            delegated: principal.is_delegated(),
            accepted: accepted.iter().map(|g| g.permission).collect(),
            held: principal.permissions.clone(),
        });
    }
    Ok(Authorized { principal, access: Access { operation, held } })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::PrincipalKind;
    use Operation::*;

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
                    let access = authorize(op, principal(delegated, &[grant.permission]))
                        .unwrap_or_else(|e| panic!("{op:?} refused {}: {e:?}", grant.permission));
                    assert_eq!(access.access().held(), &[*grant]);
                }
                let err = authorize(op, principal(delegated, &["Unrelated.Read"])).unwrap_err();
                let directory = op.row().workload == Workload::Directory;
                match (list.is_empty(), err) {
                    (true, CoreError::Denied { access_denied: true, .. }) => {}
                    (false, CoreError::Graph(ErrorCode::AuthorizationRequestDenied, _))
                        if directory => {}
                    (false, CoreError::MissingPermission { delegated: d, accepted, held }) => {
                        assert!(!directory, "{op:?}");
                        assert_eq!(d, delegated);
                        assert_eq!(accepted.len(), list.len());
                        assert_eq!(held, vec!["Unrelated.Read".to_string()]);
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
            principal(true, &["TeamsAppInstallation.ReadForUser.All"]),
        );
        assert!(err.is_err());
        let err = authorize(
            ListUserInstalledApps,
            principal(false, &["TeamsAppInstallation.ReadForUser"]),
        );
        assert!(err.is_err());
    }

    #[test]
    fn reach_and_consent_follow_the_matrix() {
        let p = principal(false, &["TeamsAppInstallation.ReadWriteSelfForChat.All"]);
        let access = authorize(UpgradeAppInChat, p).unwrap().access().clone();
        let own = TargetFacts { is_own_app: true, is_selected: false };
        let foreign = TargetFacts::default();
        assert!(access.reaches(own, &|_| false));
        assert!(!access.reaches(foreign, &|_| false));
        assert!(!access.may_consent(own), "ReadWriteSelf cannot consent");

        let p = principal(false, &["TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All"]);
        let access = authorize(UpgradeAppInChat, p).unwrap().access().clone();
        assert!(access.may_consent(own));
        assert!(!access.may_consent(foreign));

        let p = principal(false, &["TeamsAppInstallation.ManageSelectedForTeam.All"]);
        let access = authorize(UpgradeAppInTeam, p).unwrap().access().clone();
        let selected = TargetFacts { is_own_app: false, is_selected: true };
        assert!(access.may_consent(selected));
        assert!(!access.reaches(foreign, &|_| false));

        let p = principal(false, &["Chat.Manage.Chat"]);
        let access = authorize(InstallAppInChat, p).unwrap().access().clone();
        assert!(access.reaches(foreign, &|perm| perm == "Chat.Manage.Chat"));
        assert!(!access.reaches(foreign, &|_| false));
        assert!(!access.may_consent(foreign));

        let p = principal(false, &["TeamsAppInstallation.ReadWriteForTeam.All"]);
        let access = authorize(UpgradeAppInTeam, p).unwrap().access().clone();
        assert!(access.reaches(foreign, &|_| false));
        assert!(!access.may_consent(foreign), "ReadWrite cannot consent");
    }

    #[test]
    fn national_clouds_refuse_what_the_spec_lists() {
        use Operation::*;
        let user_scope = [
            ListUserInstalledApps,
            GetUserInstalledApp,
            InstallAppForUser,
            UpgradeAppForUser,
            UninstallAppForUser,
            GetUserInstalledAppChat,
        ];
        let chat_scope = [
            ListChatInstalledApps,
            GetChatInstalledApp,
            InstallAppInChat,
            UpgradeAppInChat,
            UninstallAppInChat,
        ];
        for &op in Operation::ALL {
            assert!(Cloud::Global.check(op, false).is_ok());
            let directory = op.row().surface == crate::operations::Surface::Directory;
            let user_scope = user_scope.contains(&op);
            let chat = chat_scope.contains(&op) || directory;
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
    fn observed_delete_message_lists_exactly_the_observed_permissions() {
        let err = authorize(DeleteTeamsApp, principal(true, &["AppCatalog.Submit"])).unwrap_err();
        match err {
            CoreError::MissingPermission { accepted, .. } => {
                assert_eq!(accepted.join(", "), "AppCatalog.ReadWrite.All, Directory.ReadWrite.All")
            }
            other => panic!("{other:?}"),
        }
    }
}
