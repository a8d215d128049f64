//! Planning: which app and version, and every installation of it in the tenant, found through
//! Graph (`GET /users`, `GET /teams`, the users' chats, and each one's `installedApps` filtered to
//! the app), each classified as already current, to upgrade, or predicted blocked from the
//! token's own roles.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::graph::{CollectError, Graph};
use crate::journal::{State, Target};

/// What a path segment may keep unescaped (chat ids hold `:` and `@`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_');

pub fn segment(id: &str) -> String {
    utf8_percent_encode(id, SEGMENT).to_string()
}

fn query(value: &str) -> String {
    utf8_percent_encode(value, NON_ALPHANUMERIC).to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    User,
    Chat,
    Team,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        match s.trim().to_ascii_lowercase().as_str() {
            "user" | "users" | "personal" => Some(Scope::User),
            "chat" | "chats" => Some(Scope::Chat),
            "team" | "teams" => Some(Scope::Team),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::Chat => "chat",
            Scope::Team => "team",
        }
    }

    /// The installations collection of a resource in this scope.
    pub fn installed_apps(self, resource: &str) -> String {
        match self {
            Scope::User => format!("/v1.0/users/{}/teamwork/installedApps", segment(resource)),
            Scope::Chat => format!("/v1.0/chats/{}/installedApps", segment(resource)),
            Scope::Team => format!("/v1.0/teams/{}/installedApps", segment(resource)),
        }
    }

    /// The word Graph's permission names use for the scope.
    fn permission_word(self) -> &'static str {
        match self {
            Scope::User => "User",
            Scope::Chat => "Chat",
            Scope::Team => "Team",
        }
    }
}

/// What to plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanOptions {
    /// The catalog app id or its manifest `externalId`.
    pub app: String,
    pub to_version: Option<String>,
    pub scopes: Vec<Scope>,
    /// `scope,id` lines restricting the targets.
    pub targets: Option<Vec<(Scope, String)>>,
}

/// The plan's facts about the app.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppFacts {
    pub app_id: String,
    pub display_name: String,
    pub to_version: String,
    /// The target definition's RSC permissions (value, type): the exact consent set.
    pub consent_set: Vec<(String, String)>,
    pub needs_app_consent: bool,
}

impl AppFacts {
    /// The upgrade body: the consent set when the target needs consent, else none.
    pub fn upgrade_body(&self, needs_consent: bool) -> Value {
        if !needs_consent {
            return json!({});
        }
        let perms: Vec<Value> = self
            .consent_set
            .iter()
            .map(|(v, t)| json!({"permissionValue": v, "permissionType": t}))
            .collect();
        json!({"consentedPermissionSet": {"resourceSpecificPermissions": perms}})
    }
}

/// Reads a `--targets` CSV: `scope,id` per line, `#` comments and a `scope,id` header allowed.
pub fn read_targets(path: &Path) -> anyhow::Result<Vec<(Scope, String)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the targets file {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.eq_ignore_ascii_case("scope,id") {
            continue;
        }
        let (scope, id) = line.split_once(',').with_context(|| {
            format!("{}:{}: expected `scope,id` (e.g. `user,<user id>`)", path.display(), i + 1)
        })?;
        let scope = Scope::parse(scope).with_context(|| {
            format!("{}:{}: unknown scope '{scope}' (user, chat or team)", path.display(), i + 1)
        })?;
        let id = id.trim();
        if id.is_empty() {
            bail!("{}:{}: the id is empty", path.display(), i + 1);
        }
        out.push((scope, id.to_string()));
    }
    Ok(out)
}

fn collect_error(e: CollectError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Finds the app and its target definition.
pub async fn app_facts(graph: &Graph, opts: &PlanOptions) -> anyhow::Result<AppFacts> {
    let app = opts.app.replace('\'', "''");
    let filter = query(&format!("id eq '{app}' or externalId eq '{app}'"));
    let path = format!("/v1.0/appCatalogs/teamsApps?$filter={filter}&$expand=appDefinitions");
    let apps = graph.all(&path).await.map_err(collect_error)?;
    let Some(found) = apps.first() else {
        bail!(
            "no app with id or externalId '{}' in the tenant catalog: check --app (GET /appCatalogs/teamsApps lists them)",
            opts.app
        );
    };
    let app_id = found["id"].as_str().unwrap_or_default().to_string();
    let published: Vec<&Value> = found["appDefinitions"]
        .as_array()
        .map(|d| d.iter().filter(|d| d["publishingState"] == "published").collect())
        .unwrap_or_default();
    let def = match &opts.to_version {
        Some(v) => {
            published.iter().find(|d| d["version"] == v.as_str()).copied().with_context(|| {
                format!("the app '{app_id}' has no published definition of version {v}")
            })?
        }
        None => published
            .iter()
            .copied()
            .max_by(|a, b| {
                teamsapps_core::version::compare(
                    a["version"].as_str().unwrap_or(""),
                    b["version"].as_str().unwrap_or(""),
                )
            })
            .with_context(|| format!("the app '{app_id}' has no published definition"))?,
    };
    let perms = def["authorization"]["requiredPermissionSet"]["resourceSpecificPermissions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let consent_set: Vec<(String, String)> = perms
        .iter()
        .map(|p| {
            (
                p["permissionValue"].as_str().unwrap_or("").to_string(),
                p["permissionType"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let needs_app_consent = consent_set.iter().any(|(_, t)| t.eq_ignore_ascii_case("application"));
    Ok(AppFacts {
        app_id,
        display_name: def["displayName"].as_str().unwrap_or("").to_string(),
        to_version: def["version"].as_str().unwrap_or("").to_string(),
        consent_set,
        needs_app_consent,
    })
}

/// Why the token's roles will not do, if they will not (application permissions, spec 5.6).
fn blocked_reason(roles: &[String], scope: Scope, needs_consent: bool) -> Option<String> {
    let w = scope.permission_word();
    let holds =
        |names: &[String]| names.iter().any(|n| roles.iter().any(|r| r.eq_ignore_ascii_case(n)));
    let consent: Vec<String> = [
        format!("TeamsAppInstallation.ReadWriteAndConsentFor{w}.All"),
        format!("TeamsAppInstallation.ReadWriteAndConsentSelfFor{w}.All"),
        format!("TeamsAppInstallation.ManageSelectedFor{w}.All"),
    ]
    .into();
    let mut write = consent.clone();
    write.extend([
        format!("TeamsAppInstallation.ReadWriteFor{w}.All"),
        format!("TeamsAppInstallation.ReadWriteSelfFor{w}.All"),
        format!("TeamsAppInstallation.ReadWriteSelectedFor{w}.All"),
    ]);
    if scope == Scope::Team {
        write.push("Group.ReadWrite.All".into());
        write.push("Directory.ReadWrite.All".into());
    }
    if needs_consent && !holds(&consent) {
        return Some(format!("needs {} (the target version requires RSC consent)", consent[0]));
    }
    if !holds(&write) {
        return Some(format!("needs TeamsAppInstallation.ReadWriteFor{w}.All"));
    }
    None
}

/// Runs `f` over `items`, as many at once as the engine's concurrency allows.
async fn each<T, F, Fut>(graph: &Arc<Graph>, items: Vec<T>, f: F) -> anyhow::Result<()>
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let f = Arc::new(f);
    let mut set = tokio::task::JoinSet::new();
    for item in items {
        let permit = graph.concurrency.acquire().await;
        let f = f.clone();
        set.spawn(async move {
            let r = f(item).await;
            drop(permit);
            r
        });
        // Stop early on the first failure rather than after every spawn.
        while let Some(done) = set.try_join_next() {
            done??;
        }
    }
    while let Some(done) = set.join_next().await {
        done??;
    }
    Ok(())
}

/// The app's installation in one resource, if any: (installation id, installed version).
async fn installation(
    graph: &Graph,
    scope: Scope,
    resource: &str,
    app_id: &str,
) -> anyhow::Result<Option<(String, String)>> {
    let filter = query(&format!("teamsApp/id eq '{app_id}'"));
    let path =
        format!("{}?$expand=teamsAppDefinition&$filter={filter}", scope.installed_apps(resource));
    let items = graph.all(&path).await.map_err(collect_error)?;
    Ok(items.first().map(|i| {
        (
            i["id"].as_str().unwrap_or_default().to_string(),
            i["teamsAppDefinition"]["version"].as_str().unwrap_or_default().to_string(),
        )
    }))
}

fn ids(items: &[Value]) -> Vec<String> {
    items.iter().filter_map(|v| v["id"].as_str().map(str::to_string)).collect()
}

/// Discovers every installation of the app in the chosen scopes and classifies it.
pub async fn discover(
    graph: &Arc<Graph>,
    opts: &PlanOptions,
    app: &AppFacts,
) -> anyhow::Result<Vec<Target>> {
    let roles = graph.roles().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let wants = |s: Scope| opts.scopes.contains(&s);
    let listed = |s: Scope| -> Option<Vec<String>> {
        opts.targets
            .as_ref()
            .map(|t| t.iter().filter(|(k, _)| *k == s).map(|(_, id)| id.clone()).collect())
    };
    let mut resources: Vec<(Scope, String)> = Vec::new();
    // Users: the directory, unless the targets file names them.
    let users = if wants(Scope::User) || (wants(Scope::Chat) && listed(Scope::Chat).is_none()) {
        match listed(Scope::User) {
            Some(u) if opts.targets.is_some() => u,
            _ => ids(&graph
                .all("/v1.0/users?$select=id,userPrincipalName&$top=999")
                .await
                .map_err(collect_error)?),
        }
    } else {
        Vec::new()
    };
    tracing::info!(users = users.len(), "found users");
    if wants(Scope::User) {
        resources.extend(users.iter().map(|u| (Scope::User, u.clone())));
    }
    if wants(Scope::Team) {
        let teams = match listed(Scope::Team) {
            Some(t) => t,
            None => ids(&graph.all("/v1.0/teams?$top=999").await.map_err(collect_error)?),
        };
        tracing::info!(teams = teams.len(), "found teams");
        resources.extend(teams.into_iter().map(|t| (Scope::Team, t)));
    }
    if wants(Scope::Chat) {
        let chats = match listed(Scope::Chat) {
            Some(c) => c,
            None => {
                // The users' chats, each chat once.
                let found = Arc::new(Mutex::new(BTreeSet::new()));
                let (g, sink) = (graph.clone(), found.clone());
                each(graph, users.clone(), move |user| {
                    let (g, sink) = (g.clone(), sink.clone());
                    async move {
                        let path = format!("/v1.0/users/{}/chats?$top=50", segment(&user));
                        let chats = g.all(&path).await.map_err(collect_error)?;
                        sink.lock().await.extend(ids(&chats));
                        Ok(())
                    }
                })
                .await?;
                let set = found.lock().await.clone();
                set.into_iter().collect()
            }
        };
        tracing::info!(chats = chats.len(), "found chats");
        resources.extend(chats.into_iter().map(|c| (Scope::Chat, c)));
    }
    let found = Arc::new(Mutex::new(Vec::new()));
    let (g, sink, app_id) = (graph.clone(), found.clone(), app.app_id.clone());
    each(graph, resources, move |(scope, resource)| {
        let (g, sink, app_id) = (g.clone(), sink.clone(), app_id.clone());
        async move {
            if let Some((inst, version)) = installation(&g, scope, &resource, &app_id).await? {
                sink.lock().await.push((scope, resource, inst, version));
            }
            Ok(())
        }
    })
    .await?;
    let mut found = found.lock().await.clone();
    found.sort();
    let targets = found
        .into_iter()
        .map(|(scope, resource, inst, version)| {
            let current = teamsapps_core::version::compare(&version, &app.to_version)
                != std::cmp::Ordering::Less;
            let needs_consent = app.needs_app_consent;
            let reason = if current { None } else { blocked_reason(&roles, scope, needs_consent) };
            let state = match (current, &reason) {
                (true, _) => State::Current,
                (false, Some(_)) => State::Blocked,
                (false, None) => State::Pending,
            };
            Target {
                id: 0,
                scope: scope.as_str().to_string(),
                resource_id: resource,
                installation_id: inst,
                from_version: version,
                to_version: app.to_version.clone(),
                needs_consent: needs_consent && !current,
                state,
                reason,
                attempts: 0,
                repeats: 0,
                error_class: None,
                error_code: None,
                error_message: None,
                verified_version: None,
            }
        })
        .collect();
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_reasons_follow_the_roles() {
        let roles = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let plain = roles(&["TeamsAppInstallation.ReadWriteForUser.All"]);
        assert_eq!(blocked_reason(&plain, Scope::User, false), None);
        assert!(blocked_reason(&plain, Scope::User, true)
            .unwrap()
            .contains("TeamsAppInstallation.ReadWriteAndConsentForUser.All"));
        assert!(blocked_reason(&plain, Scope::Chat, false)
            .unwrap()
            .contains("TeamsAppInstallation.ReadWriteForChat.All"));
        let consent = roles(&["teamsappinstallation.readwriteandconsentforteam.all"]);
        assert_eq!(blocked_reason(&consent, Scope::Team, true), None);
    }

    #[test]
    fn chat_ids_are_escaped_in_paths() {
        assert_eq!(
            Scope::Chat.installed_apps("19:ab@thread.v2"),
            "/v1.0/chats/19%3Aab%40thread.v2/installedApps"
        );
    }
}
