//! Graph's navigation aliases of the installation operations (lifecycle spec 2):
//! `/me/teamwork/installedApps…`, `/me/chats/{id}/installedApps…`,
//! `/users/{id}/chats/{id}/installedApps…`, `/groups/{id}/team/installedApps…`,
//! `/me/joinedTeams/{id}/installedApps…` and `/users/{id}/joinedTeams/{id}/installedApps…`.
//! They are served by the canonical handlers with the canonical permissions; what differs is
//! `@odata.context`, `/me` (a signed-in user only) and the path user (a member of the chat or
//! team, and for delegated tokens the signed-in user).

use crate::common::graph::{Graph, Scope, Version};
use crate::common::*;

use serde_json::Value;

const GRAPH_META: &str = "https://graph.microsoft.com/v1.0/$metadata#";
const BETA_META: &str = "https://graph.microsoft.com/beta/$metadata#";
/// `CHAT` percent-encoded as Graph writes it in `@odata.context`.
const CHAT_IN_CONTEXT: &str = "19%3Aea28e88c00e94c7786b065394a61f296%40thread.v2";
const UNKNOWN_USER: &str = "00000000-0000-4000-8000-0000000000ee";
const UNKNOWN_TEAM: &str = "00000000-0000-4000-8000-0000000000ef";

/// A published app without RSC permissions (any write permission installs it), at 1.0.0 and
/// then 1.1.0, so an upgrade has somewhere to go.
async fn two_versions(s: &Server) -> String {
    let admin = s.admin_token().await;
    let mid = new_manifest_id();
    let app = s.publish(&admin, &manifest(&mid, "1.0.0")).await["id"].as_str().unwrap().to_owned();
    s.update(&admin, &app, &manifest(&mid, "1.1.0")).await;
    app
}

/// Installs `app` through `scope` (an alias) at 1.0.0 is not possible once 1.1.0 is out, so the
/// lifecycle is: install (the newest), read it back through the alias and the canonical path,
/// upgrade (already current: 204), uninstall, and see it gone on the canonical path.
async fn lifecycle(
    g: &Graph<'_>,
    alias: Scope<'_>,
    canonical: Scope<'_>,
    app: &str,
    context: &str,
    install_status: u16,
) {
    let r = g.install_app(alias, app).await;
    assert_eq!(r.status.as_u16(), install_status, "{alias:?}: {}", r.body);
    let filter = format!("$filter=teamsApp/id eq '{app}'&$expand=teamsAppDefinition");
    let listed = g.list_installed_apps(alias, &filter).await;
    assert_eq!(listed.status, 200, "{alias:?}: {}", listed.body);
    let expanded = format!("{context}(teamsAppDefinition())");
    assert_eq!(listed.body["@odata.context"], expanded.as_str(), "{alias:?}");
    let value = listed.body["value"].as_array().unwrap();
    assert_eq!(value.len(), 1, "{alias:?}: {}", listed.body);
    let id = value[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(value[0]["teamsAppDefinition"]["version"], "1.1.0");
    // The same installation, with the same id, on the canonical path (only the context may differ).
    let canon = g.list_installed_apps(canonical, &filter).await;
    assert_eq!(canon.status, 200, "{}", canon.body);
    assert_eq!(canon.body["value"], listed.body["value"], "{alias:?}");
    let got = g.get_installed_app(alias, &id, "").await;
    assert_eq!(got.status, 200, "{alias:?}: {}", got.body);
    assert_eq!(got.body["@odata.context"], format!("{context}/$entity"));
    assert_eq!(got.body["id"], id.as_str());
    let same = g.get_installed_app(canonical, &id, "").await;
    assert_eq!(same.body["id"], id.as_str());
    let r = g.upgrade_app(alias, &id, None).await;
    assert_eq!(r.status, 204, "{alias:?}: {}", r.body);
    let r = g.uninstall_app(alias, &id).await;
    assert_eq!(r.status, 204, "{alias:?}: {}", r.body);
    let gone = g.get_installed_app(canonical, &id, "").await;
    gone.assert_error(404, "NotFound");
    let gone = g.get_installed_app(alias, &id, "").await;
    gone.assert_error(404, "NotFound");
}

#[tokio::test]
async fn me_teamwork_aliases_are_the_signed_in_users_personal_scope() {
    let s = Server::start().await;
    let app = two_versions(&s).await;
    let adele = s.user_token(WRITER, "adele@contoso.example", "adele-pw").await;
    for version in [Version::V1, Version::Beta] {
        let meta = if version == Version::V1 { GRAPH_META } else { BETA_META };
        let g = s.graph(&adele).on(version);
        let context = format!("{meta}users('{ADELE}')/teamwork/installedApps");
        lifecycle(&g, Scope::Me, Scope::User(ADELE), &app, &context, 201).await;
    }
    // The user-scope chat through /me, for an installation made on the canonical path.
    let g = s.graph(&adele);
    assert_eq!(g.install_app(Scope::User(ADELE), &app).await.status, 201);
    let id =
        g.list_installed_apps(Scope::Me, &format!("$filter=teamsApp/id eq '{app}'")).await.body
            ["value"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let chat = s.get(&adele, &format!("/v1.0/me/teamwork/installedApps/{id}/chat")).await;
    assert_eq!(chat.status, 200, "{}", chat.body);
    let canonical =
        s.get(&adele, &format!("/v1.0/users/{ADELE}/teamwork/installedApps/{id}/chat")).await;
    assert_eq!(chat.body, canonical.body);
}

#[tokio::test]
async fn me_aliases_refuse_application_tokens_after_the_permission_check() {
    let s = Server::start().await;
    let app = two_versions(&s).await;
    let plain = s.app_token(PLAIN).await;
    let noperm = s.app_token(NOPERM).await;
    for scope in [Scope::Me, Scope::MyChat(CHAT), Scope::MyJoinedTeam(TEAM)] {
        let g = s.graph(&plain);
        let r = g.list_installed_apps(scope, "").await;
        let msg = r.assert_error(400, "BadRequest");
        assert_eq!(msg, "/me request is only valid with delegated authentication flow.");
        g.install_app(scope, &app).await.assert_error(400, "BadRequest");
        g.uninstall_app(scope, "aWQ").await.assert_error(400, "BadRequest");
        // Without any of the operation's permissions, the permission refusal comes first.
        s.graph(&noperm).list_installed_apps(scope, "").await.assert_error(403, "Forbidden");
    }
}

#[tokio::test]
async fn chat_aliases_serve_the_chat_through_a_member() {
    let s = Server::start().await;
    let app = two_versions(&s).await;
    let megan = s.user_token(WRITER, "megan@contoso.example", "megan-pw").await;
    let plain = s.app_token(PLAIN).await;
    let context = format!("{GRAPH_META}users('{MEGAN}')/chats('{CHAT_IN_CONTEXT}')/installedApps");
    // /me resolves to the signed-in user in the context, as Graph writes it.
    lifecycle(&s.graph(&megan), Scope::MyChat(CHAT), Scope::Chat(CHAT), &app, &context, 201).await;
    let alias = Scope::UserChat(MEGAN, CHAT);
    lifecycle(&s.graph(&megan), alias, Scope::Chat(CHAT), &app, &context, 201).await;
    lifecycle(&s.graph(&plain), alias, Scope::Chat(CHAT), &app, &context, 201).await;
    // A user principal name names the same user.
    let upn = Scope::UserChat("adele@contoso.example", CHAT);
    let r = s.graph(&plain).list_installed_apps(upn, "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["@odata.context"],
        format!(
            "{GRAPH_META}users('adele@contoso.example')/chats('{CHAT_IN_CONTEXT}')/installedApps"
        )
    );
}

#[tokio::test]
async fn chat_aliases_need_the_path_user_in_the_chat() {
    let s = Server::start().await;
    let app = two_versions(&s).await;
    let plain = s.app_token(PLAIN).await;
    let g = s.graph(&plain);
    // Lee is in no chat, Adele not in the meeting chat: not found there, nothing installed.
    for scope in [Scope::UserChat(LEE, CHAT), Scope::UserChat(ADELE, MEETING_CHAT)] {
        let msg = g.list_installed_apps(scope, "").await.assert_error(404, "NotFound").to_owned();
        assert!(msg.contains("is not one of the chats of user"), "{msg}");
        g.install_app(scope, &app).await.assert_error(404, "NotFound");
    }
    let r = g.list_installed_apps(Scope::Chat(MEETING_CHAT), "").await;
    assert_eq!(r.body["value"], Value::Array(vec![]), "{}", r.body);
    let msg = g
        .list_installed_apps(Scope::UserChat(UNKNOWN_USER, CHAT), "")
        .await
        .assert_error(404, "NotFound")
        .to_owned();
    assert_eq!(msg, format!("User Id '{UNKNOWN_USER}' not found."));
    let unknown = Scope::UserChat(MEGAN, "19:0000000000000000@thread.v2");
    g.list_installed_apps(unknown, "").await.assert_error(404, "NotFound");
    // Through /me: Adele is not in the meeting chat.
    let adele = s.user_token(WRITER, "adele@contoso.example", "adele-pw").await;
    let r = s.graph(&adele).list_installed_apps(Scope::MyChat(MEETING_CHAT), "").await;
    r.assert_error(404, "NotFound");
    // A delegated token goes through the signed-in user only, even into a chat it is in.
    let r = s.graph(&adele).list_installed_apps(Scope::UserChat(MEGAN, CHAT), "").await;
    r.assert_error(403, "Forbidden");
    let r = s.graph(&adele).install_app(Scope::UserChat(MEGAN, CHAT), &app).await;
    r.assert_error(403, "Forbidden");
    let r = s.graph(&adele).list_installed_apps(Scope::UserChat(ADELE, CHAT), "").await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn team_aliases_serve_the_team_through_its_group_and_its_members() {
    let s = Server::start().await;
    let app = two_versions(&s).await;
    let plain = s.app_token(PLAIN).await;
    let adele = s.user_token(WRITER, "adele@contoso.example", "adele-pw").await;
    let canonical = Scope::Team(TEAM);
    let group = format!("{GRAPH_META}groups('{TEAM}')/team/installedApps");
    lifecycle(&s.graph(&plain), Scope::GroupTeam(TEAM), canonical, &app, &group, 200).await;
    lifecycle(&s.graph(&adele), Scope::GroupTeam(TEAM), canonical, &app, &group, 200).await;
    // Adele is a member, Megan the owner: both are "joined".
    let joined = |u: &str| format!("{GRAPH_META}users('{u}')/joinedTeams('{TEAM}')/installedApps");
    lifecycle(&s.graph(&adele), Scope::MyJoinedTeam(TEAM), canonical, &app, &joined(ADELE), 200)
        .await;
    let alias = Scope::UserJoinedTeam(MEGAN, TEAM);
    lifecycle(&s.graph(&plain), alias, canonical, &app, &joined(MEGAN), 200).await;
    // Team lists always carry @odata.count, through the aliases too.
    let r = s.graph(&plain).list_installed_apps(Scope::GroupTeam(TEAM), "").await;
    assert!(r.body["@odata.count"].is_number(), "{}", r.body);
}

#[tokio::test]
async fn team_aliases_need_a_team_and_the_path_user_in_it() {
    let s = Server::start().await;
    let app = two_versions(&s).await;
    let plain = s.app_token(PLAIN).await;
    let g = s.graph(&plain);
    let msg = g
        .list_installed_apps(Scope::GroupTeam(UNKNOWN_TEAM), "")
        .await
        .assert_error(404, "NotFound")
        .to_owned();
    assert_eq!(msg, format!("Team '{UNKNOWN_TEAM}' not found."));
    let lee = Scope::UserJoinedTeam(LEE, TEAM);
    let msg = g.list_installed_apps(lee, "").await.assert_error(404, "NotFound").to_owned();
    assert_eq!(msg, format!("Team '{TEAM}' is not one of the joined teams of user '{LEE}'."));
    g.install_app(lee, &app).await.assert_error(404, "NotFound");
    let r =
        g.list_installed_apps(Scope::Team(TEAM), &format!("$filter=teamsApp/id eq '{app}'")).await;
    assert_eq!(r.body["value"], Value::Array(vec![]), "{}", r.body);
    let adele = s.user_token(WRITER, "adele@contoso.example", "adele-pw").await;
    let r = s.graph(&adele).list_installed_apps(Scope::UserJoinedTeam(MEGAN, TEAM), "").await;
    r.assert_error(403, "Forbidden");
    let lee_token = s.user_token(WRITER, "lee@contoso.example", "lee-pw").await;
    let r = s.graph(&lee_token).list_installed_apps(Scope::MyJoinedTeam(TEAM), "").await;
    r.assert_error(404, "NotFound");
}

/// Each alias with the canonical path it stands for.
fn pairs() -> Vec<(Scope<'static>, Scope<'static>)> {
    vec![
        (Scope::UserChat(MEGAN, CHAT), Scope::Chat(CHAT)),
        (Scope::GroupTeam(TEAM), Scope::Team(TEAM)),
        (Scope::UserJoinedTeam(MEGAN, TEAM), Scope::Team(TEAM)),
    ]
}

/// Same status, code and message.
fn same_answer(alias: &Resp, canonical: &Resp, what: &str) {
    assert_eq!(alias.status, canonical.status, "{what}: {} vs {}", alias.body, canonical.body);
    assert_eq!(alias.body["error"]["code"], canonical.body["error"]["code"], "{what}");
    assert_eq!(alias.body["error"]["message"], canonical.body["error"]["message"], "{what}");
}

#[tokio::test]
async fn aliases_accept_and_refuse_exactly_what_the_canonical_paths_do() {
    let s = Server::start().await;
    let app = two_versions(&s).await;
    // Read-only, no permission at all, and Self (only its own Teams app) application tokens.
    for token in [s.app_token(READER).await, s.app_token(NOPERM).await, s.app_token(SELF_APP).await]
    {
        let g = s.graph(&token);
        for (alias, canonical) in pairs() {
            let what = format!("{alias:?}");
            let (a, c) = (
                g.list_installed_apps(alias, "").await,
                g.list_installed_apps(canonical, "").await,
            );
            same_answer(&a, &c, &what);
            if a.status == 200 {
                assert_eq!(a.body["value"], c.body["value"], "{what}");
            }
            let (a, c) = (g.install_app(alias, &app).await, g.install_app(canonical, &app).await);
            assert_ne!(a.status.as_u16() / 100, 2, "{what}: {}", a.body);
            same_answer(&a, &c, &what);
        }
    }
    // Delegated: the read-only registration signed in as Megan, on /me and on the canonical path.
    let reader = s.user_token(READER, "megan@contoso.example", "megan-pw").await;
    let g = s.graph(&reader);
    for (alias, canonical) in [
        (Scope::Me, Scope::User(MEGAN)),
        (Scope::MyChat(CHAT), Scope::Chat(CHAT)),
        (Scope::MyJoinedTeam(TEAM), Scope::Team(TEAM)),
        (Scope::GroupTeam(TEAM), Scope::Team(TEAM)),
    ] {
        let what = format!("{alias:?}");
        let (a, c) =
            (g.list_installed_apps(alias, "").await, g.list_installed_apps(canonical, "").await);
        assert_eq!(a.status, 200, "{what}: {}", a.body);
        assert_eq!(a.body["value"], c.body["value"], "{what}");
        let (a, c) = (g.install_app(alias, &app).await, g.install_app(canonical, &app).await);
        a.assert_error(403, "Forbidden");
        same_answer(&a, &c, &what);
    }
    // A delegated caller outside the team is refused on the group alias as on /teams/{id}.
    let lee = s.user_token(WRITER, "lee@contoso.example", "lee-pw").await;
    let g = s.graph(&lee);
    let (a, c) = (
        g.list_installed_apps(Scope::GroupTeam(TEAM), "").await,
        g.list_installed_apps(Scope::Team(TEAM), "").await,
    );
    a.assert_error(403, "Forbidden");
    same_answer(&a, &c, "lee on the group alias");
}

#[tokio::test]
async fn the_other_navigations_below_these_paths_still_say_they_are_not_implemented() {
    let s = Server::start().await;
    let plain = s.app_token(PLAIN).await;
    for path in [
        format!("/v1.0/users/{MEGAN}/chats/{}", enc(CHAT)),
        format!("/v1.0/users/{MEGAN}/chats/{}/permissionGrants", enc(CHAT)),
        format!("/v1.0/users/{MEGAN}/joinedTeams/{TEAM}/permissionGrants"),
        format!("/v1.0/groups/{TEAM}/team/permissionGrants"),
        format!("/v1.0/me/chats/{}/permissionGrants", enc(CHAT)),
    ] {
        s.get(&plain, &path).await.assert_error(501, "NotImplemented");
    }
}
