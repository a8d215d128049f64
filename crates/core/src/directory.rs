//! Directory reads (lifecycle spec section 1): the users, teams, chats and groups a rollout tool
//! enumerates before it installs or upgrades, from the same directory the installations use, so
//! ids line up. Paging, `$filter` and `$select` are the API's; what each caller may see is here.

use crate::error::{CoreError, CoreResult};
use crate::installations::require_rsc_consented_here;
use crate::model::{Chat, ScopeKind, ScopeRef, Team, User};
use crate::permissions::{Authorized, Operation, Reach};
use crate::principal::Principal;
use crate::store::Store;
use teamsapps_wire::error::ErrorCode;

fn forbidden(message: impl Into<String>, rule: &'static str, principal: &Principal) -> CoreError {
    crate::error::denied(message, rule, Vec::new(), &principal.permissions)
}

/// `/me…` is only for a signed-in user (lifecycle spec 1.2).
pub(crate) fn signed_in(principal: &Principal) -> CoreResult<&str> {
    principal.user_id().ok_or_else(|| {
        CoreError::BadRequest(
            "/me request is only valid with delegated authentication flow.".into(),
        )
    })
}

fn user_not_found(id: &str) -> CoreError {
    CoreError::Graph(
        ErrorCode::RequestResourceNotFound,
        format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

/// The user a `/users/{id}/…` path names (the main spec's 404 text, as the installation routes).
async fn scope_user(store: &dyn Store, principal: &Principal, id_or_upn: &str) -> CoreResult<User> {
    store
        .user(&principal.tenant_id, id_or_upn)
        .await?
        .ok_or_else(|| CoreError::NotFound(format!("User Id '{id_or_upn}' not found.")))
}

/// A delegated caller reads only their own teams and chats (lifecycle spec 1.5, 1.6).
fn own_only(principal: &Principal, user: &User, what: &str) -> CoreResult<()> {
    match principal.user_id() {
        Some(me) if !me.eq_ignore_ascii_case(&user.id) => Err(forbidden(
            format!("A delegated token can only list the signed-in user's own {what}."),
            "membership (delegated calls act only for the signed-in user)",
            principal,
        )),
        _ => Ok(()),
    }
}

fn is_member(user_id: &str, members: &[String]) -> bool {
    members.iter().any(|m| m.eq_ignore_ascii_case(user_id))
}

/// `GET /users`.
pub async fn list_users(store: &dyn Store, auth: &Authorized) -> CoreResult<Vec<User>> {
    let principal = auth.principal_for(&[Operation::ListUsers, Operation::CountUsers])?;
    Ok(store.list_users(&principal.tenant_id).await?)
}

/// One page of `GET /users` straight from the store: at most `limit` users after `after` (a
/// user principal name, ASCII case-folded), in that order.
pub async fn list_users_after(
    store: &dyn Store,
    auth: &Authorized,
    after: Option<&str>,
    limit: usize,
) -> CoreResult<Vec<User>> {
    let principal = auth.principal_for(&[Operation::ListUsers])?;
    Ok(store.list_users_after(&principal.tenant_id, after, limit).await?)
}

/// `GET /users/{id | upn}` and `GET /me`. `User.Read` reaches only the signed-in user.
pub async fn get_user(
    store: &dyn Store,
    auth: &Authorized,
    id_or_upn: Option<&str>,
) -> CoreResult<User> {
    let principal = auth.principal_for(&[Operation::GetUser, Operation::GetMe])?;
    let key = match id_or_upn {
        Some(key) => key,
        None => signed_in(principal)?,
    };
    let user = store.user(&principal.tenant_id, key).await?.ok_or_else(|| user_not_found(key))?;
    let only_self = auth.access().held().iter().all(|g| g.reach == Reach::SignedInUser);
    let is_self = principal.user_id().is_some_and(|me| me.eq_ignore_ascii_case(&user.id));
    if only_self && !is_self {
        return Err(CoreError::Graph(
            ErrorCode::AuthorizationRequestDenied,
            "Insufficient privileges to complete the operation.".into(),
        ));
    }
    Ok(user)
}

/// `GET /teams`.
pub async fn list_teams(store: &dyn Store, auth: &Authorized) -> CoreResult<Vec<Team>> {
    let principal = auth.principal_for(&[Operation::ListTeams])?;
    Ok(store.list_teams(&principal.tenant_id).await?)
}

/// `GET /groups`: every team is a Unified group with the team's id (lifecycle spec 1.4).
pub async fn list_groups(store: &dyn Store, auth: &Authorized) -> CoreResult<Vec<Team>> {
    let principal = auth.principal_for(&[Operation::ListGroups])?;
    Ok(store.list_teams(&principal.tenant_id).await?)
}

/// `GET /teams/{id}`: delegated callers see teams they belong to (admins every team); a caller
/// holding only RSC permissions sees the team where it is installed with them consented.
pub async fn get_team(store: &dyn Store, auth: &Authorized, team_id: &str) -> CoreResult<Team> {
    let principal = auth.principal_for(&[Operation::GetTeam])?;
    let team = store
        .team(&principal.tenant_id, team_id)
        .await?
        .ok_or_else(|| CoreError::NotFound(format!("No team found with Group Id {team_id}")))?;
    if let Some(me) = principal.user_id() {
        let belongs = is_member(me, &team.members) || is_member(me, &team.owners);
        if !belongs && !principal.is_admin {
            return Err(forbidden(
                "A delegated token can only read teams the signed-in user belongs to.",
                "membership (delegated calls act only where the signed-in user belongs)",
                principal,
            ));
        }
    }
    let scope = ScopeRef { kind: ScopeKind::Team, id: team.id.clone() };
    require_rsc_consented_here(store, auth, &scope).await?;
    Ok(team)
}

/// `GET /users/{id}/joinedTeams` and `GET /me/joinedTeams` (`user` `None`): teams where the
/// user is an owner or a member.
pub async fn list_joined_teams(
    store: &dyn Store,
    auth: &Authorized,
    user: Option<&str>,
) -> CoreResult<Vec<Team>> {
    let principal =
        auth.principal_for(&[Operation::ListUserJoinedTeams, Operation::ListMyJoinedTeams])?;
    let key = match user {
        Some(key) => key,
        None => signed_in(principal)?,
    };
    let user = scope_user(store, principal, key).await?;
    own_only(principal, &user, "joined teams")?;
    let teams = store.list_teams(&principal.tenant_id).await?;
    Ok(teams
        .into_iter()
        .filter(|t| is_member(&user.id, &t.members) || is_member(&user.id, &t.owners))
        .collect())
}

/// `GET /users/{id}/chats`, `GET /me/chats` and `GET /chats` (`user` `None`): the chats the
/// user is a member of. Application tokens may list only `/users/{id}/chats`.
pub async fn list_chats(
    store: &dyn Store,
    auth: &Authorized,
    user: Option<&str>,
) -> CoreResult<Vec<Chat>> {
    use Operation::*;
    let principal = auth.principal_for(&[ListUserChats, ListMyChats, ListChats])?;
    let key = match (auth.operation(), user) {
        (ListUserChats, Some(key)) => key,
        (ListChats, _) if !principal.is_delegated() => {
            return Err(forbidden(
                "Listing /chats is not supported with application permissions; list a user's chats with /users/{id}/chats.",
                "application context (GET /chats needs a signed-in user)",
                principal,
            ))
        }
        _ => signed_in(principal)?,
    };
    let user = scope_user(store, principal, key).await?;
    own_only(principal, &user, "chats")?;
    let chats = store.list_chats(&principal.tenant_id).await?;
    Ok(chats.into_iter().filter(|c| is_member(&user.id, &c.members)).collect())
}

/// `GET /chats/{id}`: delegated callers see chats they are members of; RSC-only callers the
/// chat where their app is installed with the permission consented.
pub async fn get_chat(store: &dyn Store, auth: &Authorized, chat_id: &str) -> CoreResult<Chat> {
    let principal = auth.principal_for(&[Operation::GetChat])?;
    let chat = store
        .chat(&principal.tenant_id, chat_id)
        .await?
        .ok_or_else(|| CoreError::NotFound(format!("Chat '{chat_id}' not found.")))?;
    if let Some(me) = principal.user_id() {
        if !is_member(me, &chat.members) {
            return Err(forbidden(
                "A delegated token can only read chats the signed-in user is a member of.",
                "membership (delegated calls act only where the signed-in user belongs)",
                principal,
            ));
        }
    }
    let scope = ScopeRef { kind: ScopeKind::Chat, id: chat.id.clone() };
    require_rsc_consented_here(store, auth, &scope).await?;
    Ok(chat)
}
