//! One helper per Graph operation: every suite builds a well-formed request the same way, named
//! after the operation it sends (the handler's name in `crates/core/src/operations.rs`).
//!
//! A helper returns the whole [`Resp`] and asserts nothing, so a suite states what it proves.
//! Requests that are malformed on purpose (unencoded chat ids, UPN paths, wrong casing, bad
//! bodies) are still written out with [`Server::send`] where the test is about exactly that.
//!
//! `query` arguments are an OData query string without the `?` (`""` for none).

use reqwest::Method;
use serde_json::Value;

use super::{bind, enc, package, Resp, Server};

/// The API version a [`Graph`] sends to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    Beta,
}

impl Version {
    pub fn segment(self) -> &'static str {
        match self {
            Version::V1 => "/v1.0",
            Version::Beta => "/beta",
        }
    }
}

/// An installation scope and its id (user id or UPN, chat id, team id), through its canonical
/// path or one of Graph's navigation aliases (lifecycle spec 2), which the same handlers serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    User(&'a str),
    Chat(&'a str),
    Team(&'a str),
    /// `/me/teamwork/installedApps`
    Me,
    /// `/me/chats/{chat}/installedApps`
    MyChat(&'a str),
    /// `/users/{user}/chats/{chat}/installedApps`
    UserChat(&'a str, &'a str),
    /// `/groups/{group}/team/installedApps`
    GroupTeam(&'a str),
    /// `/me/joinedTeams/{team}/installedApps`
    MyJoinedTeam(&'a str),
    /// `/users/{user}/joinedTeams/{team}/installedApps`
    UserJoinedTeam(&'a str, &'a str),
}

impl Scope<'_> {
    /// The installedApps collection below the version segment (chat ids percent-encoded).
    pub fn installed_apps(self) -> String {
        match self {
            Scope::User(u) => format!("/users/{u}/teamwork/installedApps"),
            Scope::Chat(c) => format!("/chats/{}/installedApps", enc(c)),
            Scope::Team(t) => format!("/teams/{t}/installedApps"),
            Scope::Me => "/me/teamwork/installedApps".into(),
            Scope::MyChat(c) => format!("/me/chats/{}/installedApps", enc(c)),
            Scope::UserChat(u, c) => format!("/users/{u}/chats/{}/installedApps", enc(c)),
            Scope::GroupTeam(g) => format!("/groups/{g}/team/installedApps"),
            Scope::MyJoinedTeam(t) => format!("/me/joinedTeams/{t}/installedApps"),
            Scope::UserJoinedTeam(u, t) => format!("/users/{u}/joinedTeams/{t}/installedApps"),
        }
    }
}

/// A caller: a server, a bearer token and an API version.
pub struct Graph<'a> {
    server: &'a Server,
    token: String,
    version: Version,
}

fn with_query(path: String, query: &str) -> String {
    if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    }
}

impl Server {
    /// Calls on `/v1.0` with `token`.
    pub fn graph(&self, token: &str) -> Graph<'_> {
        Graph { server: self, token: token.to_owned(), version: Version::V1 }
    }

    /// Calls on `/beta` with `token`.
    pub fn beta(&self, token: &str) -> Graph<'_> {
        Graph { server: self, token: token.to_owned(), version: Version::Beta }
    }
}

impl Graph<'_> {
    /// The same caller on another version.
    pub fn on(self, version: Version) -> Self {
        Graph { version, ..self }
    }

    fn path(&self, rest: &str) -> String {
        format!("{}{rest}", self.version.segment())
    }

    async fn call(&self, method: Method, rest: &str, body: Option<(&str, Vec<u8>)>) -> Resp {
        self.server.send(method, Some(&self.token), &self.path(rest), body, &[]).await
    }

    async fn get(&self, rest: String, query: &str) -> Resp {
        self.call(Method::GET, &with_query(rest, query), None).await
    }

    async fn json(&self, method: Method, rest: &str, body: &Value) -> Resp {
        self.call(method, rest, Some(("application/json", body.to_string().into_bytes()))).await
    }

    // --- the app catalog ---------------------------------------------------------------------

    pub async fn list_teams_apps(&self, query: &str) -> Resp {
        self.get("/appCatalogs/teamsApps".into(), query).await
    }

    pub async fn get_teams_app(&self, app: &str, query: &str) -> Resp {
        self.get(format!("/appCatalogs/teamsApps/{app}"), query).await
    }

    pub async fn list_app_definitions(&self, app: &str, query: &str) -> Resp {
        self.get(format!("/appCatalogs/teamsApps/{app}/appDefinitions"), query).await
    }

    pub async fn get_app_definition(&self, app: &str, definition: &str, query: &str) -> Resp {
        self.get(format!("/appCatalogs/teamsApps/{app}/appDefinitions/{definition}"), query).await
    }

    /// Publishes the package of `manifest`; `requires_review` submits it for review instead.
    pub async fn publish_teams_app(&self, manifest: &Value, requires_review: bool) -> Resp {
        let path = if requires_review {
            "/appCatalogs/teamsApps?requiresReview=true"
        } else {
            "/appCatalogs/teamsApps"
        };
        self.call(Method::POST, path, Some(("application/zip", package(manifest)))).await
    }

    /// Publishes a new version of `app` from the package of `manifest`.
    pub async fn update_teams_app(
        &self,
        app: &str,
        manifest: &Value,
        requires_review: bool,
    ) -> Resp {
        let query = if requires_review { "?requiresReview=true" } else { "" };
        let path = format!("/appCatalogs/teamsApps/{app}/appDefinitions{query}");
        self.call(Method::POST, &path, Some(("application/zip", package(manifest)))).await
    }

    /// Sets a submitted definition's `publishingState` (`published` or `rejected`).
    pub async fn review_app_definition(&self, app: &str, definition: &str, state: &str) -> Resp {
        let path = format!("/appCatalogs/teamsApps/{app}/appDefinitions/{definition}");
        self.json(Method::PATCH, &path, &serde_json::json!({ "publishingState": state })).await
    }

    pub async fn delete_teams_app(&self, app: &str) -> Resp {
        self.call(Method::DELETE, &format!("/appCatalogs/teamsApps/{app}"), None).await
    }

    pub async fn delete_app_definition(&self, app: &str, definition: &str) -> Resp {
        let path = format!("/appCatalogs/teamsApps/{app}/appDefinitions/{definition}");
        self.call(Method::DELETE, &path, None).await
    }

    pub async fn get_teamwork_bot(&self, app: &str, definition: &str) -> Resp {
        let path = format!("/appCatalogs/teamsApps/{app}/appDefinitions/{definition}/bot");
        self.get(path, "").await
    }

    /// `kind` is `colorIcon` or `outlineIcon` (beta).
    pub async fn get_teams_app_icon(
        &self,
        app: &str,
        definition: &str,
        kind: &str,
        query: &str,
    ) -> Resp {
        let path = format!("/appCatalogs/teamsApps/{app}/appDefinitions/{definition}/{kind}");
        self.get(path, query).await
    }

    pub async fn get_teamwork_hosted_content(
        &self,
        app: &str,
        definition: &str,
        kind: &str,
    ) -> Resp {
        let path = format!(
            "/appCatalogs/teamsApps/{app}/appDefinitions/{definition}/{kind}/hostedContent"
        );
        self.get(path, "").await
    }

    /// The icon's bytes (`…/hostedContent/$value`): status, headers and the raw body (the
    /// [`Resp`] of an error, whose body is JSON, is in `.0`).
    pub async fn get_teamwork_hosted_content_bytes(
        &self,
        app: &str,
        definition: &str,
        kind: &str,
    ) -> (Resp, Vec<u8>) {
        let path = self.path(&format!(
            "/appCatalogs/teamsApps/{app}/appDefinitions/{definition}/{kind}/hostedContent/$value"
        ));
        let res = self.server.client.get(self.server.url(&path)).bearer_auth(&self.token);
        let res = res.send().await.expect("request");
        let (status, headers) = (res.status(), res.headers().clone());
        let bytes = res.bytes().await.expect("body").to_vec();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (Resp { status, headers, body }, bytes)
    }

    // --- installations, by scope -------------------------------------------------------------

    pub async fn list_installed_apps(&self, scope: Scope<'_>, query: &str) -> Resp {
        self.get(scope.installed_apps(), query).await
    }

    pub async fn get_installed_app(
        &self,
        scope: Scope<'_>,
        installation: &str,
        query: &str,
    ) -> Resp {
        self.get(format!("{}/{installation}", scope.installed_apps()), query).await
    }

    /// Installs `app` (a catalog id) with a `teamsApp@odata.bind` body.
    pub async fn install_app(&self, scope: Scope<'_>, app: &str) -> Resp {
        self.install_app_with(scope, &bind(app)).await
    }

    /// Installs with the given body (consent included, or deliberately odd).
    pub async fn install_app_with(&self, scope: Scope<'_>, body: &Value) -> Resp {
        self.json(Method::POST, &scope.installed_apps(), body).await
    }

    /// Upgrades an installation; `body` carries `consentedPermissionSet` when given.
    pub async fn upgrade_app(
        &self,
        scope: Scope<'_>,
        installation: &str,
        body: Option<&Value>,
    ) -> Resp {
        let path = format!("{}/{installation}/upgrade", scope.installed_apps());
        match body {
            Some(b) => self.json(Method::POST, &path, b).await,
            None => self.call(Method::POST, &path, None).await,
        }
    }

    pub async fn uninstall_app(&self, scope: Scope<'_>, installation: &str) -> Resp {
        let path = format!("{}/{installation}", scope.installed_apps());
        self.call(Method::DELETE, &path, None).await
    }

    pub async fn list_user_installed_apps(&self, user: &str, query: &str) -> Resp {
        self.list_installed_apps(Scope::User(user), query).await
    }

    pub async fn get_user_installed_app(
        &self,
        user: &str,
        installation: &str,
        query: &str,
    ) -> Resp {
        self.get_installed_app(Scope::User(user), installation, query).await
    }

    pub async fn install_app_for_user(&self, user: &str, app: &str) -> Resp {
        self.install_app(Scope::User(user), app).await
    }

    pub async fn upgrade_app_for_user(
        &self,
        user: &str,
        installation: &str,
        body: Option<&Value>,
    ) -> Resp {
        self.upgrade_app(Scope::User(user), installation, body).await
    }

    pub async fn uninstall_app_for_user(&self, user: &str, installation: &str) -> Resp {
        self.uninstall_app(Scope::User(user), installation).await
    }

    pub async fn get_user_installed_app_chat(&self, user: &str, installation: &str) -> Resp {
        let path = format!("{}/{installation}/chat", Scope::User(user).installed_apps());
        self.get(path, "").await
    }

    pub async fn list_chat_installed_apps(&self, chat: &str, query: &str) -> Resp {
        self.list_installed_apps(Scope::Chat(chat), query).await
    }

    pub async fn get_chat_installed_app(
        &self,
        chat: &str,
        installation: &str,
        query: &str,
    ) -> Resp {
        self.get_installed_app(Scope::Chat(chat), installation, query).await
    }

    pub async fn install_app_in_chat(&self, chat: &str, app: &str) -> Resp {
        self.install_app(Scope::Chat(chat), app).await
    }

    pub async fn upgrade_app_in_chat(
        &self,
        chat: &str,
        installation: &str,
        body: Option<&Value>,
    ) -> Resp {
        self.upgrade_app(Scope::Chat(chat), installation, body).await
    }

    pub async fn uninstall_app_in_chat(&self, chat: &str, installation: &str) -> Resp {
        self.uninstall_app(Scope::Chat(chat), installation).await
    }

    pub async fn list_team_installed_apps(&self, team: &str, query: &str) -> Resp {
        self.list_installed_apps(Scope::Team(team), query).await
    }

    pub async fn get_team_installed_app(
        &self,
        team: &str,
        installation: &str,
        query: &str,
    ) -> Resp {
        self.get_installed_app(Scope::Team(team), installation, query).await
    }

    pub async fn install_app_in_team(&self, team: &str, app: &str) -> Resp {
        self.install_app(Scope::Team(team), app).await
    }

    pub async fn upgrade_app_in_team(
        &self,
        team: &str,
        installation: &str,
        body: Option<&Value>,
    ) -> Resp {
        self.upgrade_app(Scope::Team(team), installation, body).await
    }

    pub async fn uninstall_app_in_team(&self, team: &str, installation: &str) -> Resp {
        self.uninstall_app(Scope::Team(team), installation).await
    }

    // --- directory reads ---------------------------------------------------------------------

    pub async fn list_users(&self, query: &str) -> Resp {
        self.get("/users".into(), query).await
    }

    /// `GET /users/$count` with `ConsistencyLevel: eventual`, as Graph requires.
    pub async fn count_users(&self, query: &str) -> Resp {
        let path = self.path(&with_query("/users/$count".into(), query));
        let headers = [("ConsistencyLevel", "eventual")];
        self.server.send(Method::GET, Some(&self.token), &path, None, &headers).await
    }

    pub async fn get_user(&self, user: &str, query: &str) -> Resp {
        self.get(format!("/users/{user}"), query).await
    }

    pub async fn get_me(&self, query: &str) -> Resp {
        self.get("/me".into(), query).await
    }

    pub async fn list_teams(&self, query: &str) -> Resp {
        self.get("/teams".into(), query).await
    }

    pub async fn get_team(&self, team: &str, query: &str) -> Resp {
        self.get(format!("/teams/{team}"), query).await
    }

    pub async fn list_user_joined_teams(&self, user: &str, query: &str) -> Resp {
        self.get(format!("/users/{user}/joinedTeams"), query).await
    }

    pub async fn list_my_joined_teams(&self, query: &str) -> Resp {
        self.get("/me/joinedTeams".into(), query).await
    }

    pub async fn list_user_chats(&self, user: &str, query: &str) -> Resp {
        self.get(format!("/users/{user}/chats"), query).await
    }

    pub async fn list_my_chats(&self, query: &str) -> Resp {
        self.get("/me/chats".into(), query).await
    }

    pub async fn list_chats(&self, query: &str) -> Resp {
        self.get("/chats".into(), query).await
    }

    pub async fn get_chat(&self, chat: &str, query: &str) -> Resp {
        self.get(format!("/chats/{}", enc(chat)), query).await
    }

    pub async fn list_groups(&self, query: &str) -> Resp {
        self.get("/groups".into(), query).await
    }

    // --- tenant settings and permission grants -----------------------------------------------

    pub async fn get_teams_app_settings(&self) -> Resp {
        self.get("/teamwork/teamsAppSettings".into(), "").await
    }

    pub async fn update_teams_app_settings(&self, body: &Value) -> Resp {
        self.json(Method::PATCH, "/teamwork/teamsAppSettings", body).await
    }

    pub async fn list_chat_permission_grants(&self, chat: &str, query: &str) -> Resp {
        self.get(format!("/chats/{}/permissionGrants", enc(chat)), query).await
    }

    pub async fn list_team_permission_grants(&self, team: &str, query: &str) -> Resp {
        self.get(format!("/teams/{team}/permissionGrants"), query).await
    }

    pub async fn list_group_permission_grants(&self, group: &str, query: &str) -> Resp {
        self.get(format!("/groups/{group}/permissionGrants"), query).await
    }

    pub async fn list_user_permission_grants(&self, user: &str, query: &str) -> Resp {
        self.get(format!("/users/{user}/permissionGrants"), query).await
    }
}
