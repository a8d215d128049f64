//! Planning: which app and version, and every installation of it in the tenant, found through
//! Graph (`GET /users`, `GET /teams`, the users' chats, and each one's `installedApps` filtered to
//! the app), each classified as already current, to upgrade, or predicted blocked from the
//! token's own roles.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
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

/// An installation found: scope, resource id, installation id, installed version.
type Installation = (Scope, String, String, String);
type Task = tokio::task::JoinHandle<anyhow::Result<()>>;

/// The discovery's tasks: each read takes a slot of the engine's concurrency; the first
/// refused read fails the plan and stops the rest.
#[derive(Clone)]
struct Work {
    graph: Arc<Graph>,
    app_id: String,
    tx: tokio::sync::mpsc::UnboundedSender<Task>,
    rx: Arc<Mutex<tokio::sync::mpsc::UnboundedReceiver<Task>>>,
    seen_chats: Arc<std::sync::Mutex<BTreeSet<String>>>,
    counts: Arc<Discovery>,
    found: Arc<Mutex<Vec<Installation>>>,
    failed: Arc<std::sync::atomic::AtomicBool>,
}

/// Discovery's live counters, for progress lines: listed users, teams and chats, reads
/// answered, installations of the app found.
#[derive(Debug, Default)]
pub struct Discovery {
    pub users: AtomicUsize,
    pub teams: AtomicUsize,
    pub chats: AtomicUsize,
    pub reads: AtomicUsize,
    pub found: AtomicUsize,
}

impl Discovery {
    pub fn line(&self) -> String {
        let n = |a: &AtomicUsize| a.load(Relaxed);
        format!(
            "discovering: {} user(s), {} team(s), {} chat(s) listed; {} installation read(s) answered, {} installation(s) of the app found",
            n(&self.users),
            n(&self.teams),
            n(&self.chats),
            n(&self.reads),
            n(&self.found)
        )
    }
}

/// What discovery found.
struct Found {
    users: usize,
    teams: usize,
    chats: usize,
    installations: Vec<Installation>,
}

impl Work {
    fn new(graph: Arc<Graph>, app_id: String, counts: Arc<Discovery>) -> Work {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        Work {
            graph,
            app_id,
            tx,
            rx: Arc::new(Mutex::new(rx)),
            seen_chats: Arc::default(),
            counts,
            found: Arc::default(),
            failed: Arc::default(),
        }
    }

    fn spawn<F>(&self, task: F)
    where
        F: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let failed = self.failed.clone();
        let handle = tokio::spawn(async move {
            if failed.load(std::sync::atomic::Ordering::Relaxed) {
                return Ok(());
            }
            let r = task.await;
            if r.is_err() {
                failed.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            r
        });
        let _ = self.tx.send(handle);
    }

    /// Each user's installation and/or chats, a slot each, waiting for slots as it goes (the
    /// listing then fetches its next page no faster than the reads keep up).
    async fn users(&self, users: Vec<String>, (installations, chats): (bool, bool)) {
        self.counts.users.fetch_add(users.len(), Relaxed);
        for user in users {
            let permit = self.graph.concurrency.acquire().await;
            let w = self.clone();
            self.spawn(async move {
                if installations {
                    w.check(Scope::User, &user).await?;
                }
                if chats {
                    let path = format!("/v1.0/users/{}/chats?$top=50", segment(&user));
                    let found = ids(&w.graph.all(&path).await.map_err(collect_error)?);
                    drop(permit);
                    let new: Vec<String> = {
                        let mut seen =
                            w.seen_chats.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        found.into_iter().filter(|c| seen.insert(c.clone())).collect()
                    };
                    w.counts.chats.fetch_add(new.len(), Relaxed);
                    for chat in new {
                        // A nested read takes its slot inside its task: a task holding a slot
                        // never waits for another.
                        let w2 = w.clone();
                        w.spawn(async move {
                            let _slot = w2.graph.concurrency.acquire().await;
                            w2.check(Scope::Chat, &chat).await
                        });
                    }
                }
                Ok(())
            });
        }
    }

    /// Each resource's installation, a slot each.
    async fn resources(&self, scope: Scope, ids: Vec<String>) {
        let counter = match scope {
            Scope::Team => &self.counts.teams,
            Scope::Chat => &self.counts.chats,
            Scope::User => &self.counts.users,
        };
        counter.fetch_add(ids.len(), Relaxed);
        for id in ids {
            let permit = self.graph.concurrency.acquire().await;
            let w = self.clone();
            self.spawn(async move {
                let r = w.check(scope, &id).await;
                drop(permit);
                r
            });
        }
    }

    async fn check(&self, scope: Scope, resource: &str) -> anyhow::Result<()> {
        let found = installation(&self.graph, scope, resource, &self.app_id).await?;
        self.counts.reads.fetch_add(1, Relaxed);
        if let Some((inst, version)) = found {
            self.counts.found.fetch_add(1, Relaxed);
            self.found.lock().await.push((scope, resource.to_string(), inst, version));
        }
        Ok(())
    }

    /// Waits for every task, the ones spawned meanwhile included; the first error wins.
    async fn finish(self) -> anyhow::Result<Found> {
        let Work { tx, rx, counts, found, .. } = self;
        drop(tx);
        let mut rx = rx.lock().await;
        let mut first_error = None;
        while let Some(handle) = rx.recv().await {
            match handle.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(e) => {
                    first_error.get_or_insert(anyhow::anyhow!("a discovery task failed: {e}"));
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        let (users, teams, chats) =
            (counts.users.load(Relaxed), counts.teams.load(Relaxed), counts.chats.load(Relaxed));
        let installations = std::mem::take(&mut *found.lock().await);
        Ok(Found { users, teams, chats, installations })
    }
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
    progress: &Arc<Discovery>,
) -> anyhow::Result<Vec<Target>> {
    let roles = graph.roles().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let wants = |s: Scope| opts.scopes.contains(&s);
    let listed = |s: Scope| -> Option<Vec<String>> {
        opts.targets
            .as_ref()
            .map(|t| t.iter().filter(|(k, _)| *k == s).map(|(_, id)| id.clone()).collect())
    };
    // One pipeline: each page of users or teams starts its reads while the next page is
    // fetched, and each user's chats start their reads as they are found, so discovery runs
    // at the GET limit instead of waiting for whole listings first.
    let work = Work::new(graph.clone(), app.app_id.clone(), progress.clone());
    let users_needed = wants(Scope::User) || (wants(Scope::Chat) && listed(Scope::Chat).is_none());
    let chats_from_users = wants(Scope::Chat) && listed(Scope::Chat).is_none();
    let per_user = (wants(Scope::User), chats_from_users);
    if users_needed {
        match listed(Scope::User) {
            Some(users) if opts.targets.is_some() => {
                work.users(users, per_user).await;
            }
            _ => {
                let w = work.clone();
                work.spawn(async move {
                    let mut next =
                        Some("/v1.0/users?$select=id,userPrincipalName&$top=999".to_string());
                    while let Some(path) = next {
                        let (page, link) = w.graph.page(&path).await.map_err(collect_error)?;
                        w.users(ids(&page), per_user).await;
                        next = link;
                    }
                    Ok(())
                });
            }
        }
    }
    if wants(Scope::Team) {
        match listed(Scope::Team) {
            Some(teams) => work.resources(Scope::Team, teams).await,
            None => {
                let w = work.clone();
                work.spawn(async move {
                    let mut next = Some("/v1.0/teams?$top=999".to_string());
                    while let Some(path) = next {
                        let (page, link) = w.graph.page(&path).await.map_err(collect_error)?;
                        w.resources(Scope::Team, ids(&page)).await;
                        next = link;
                    }
                    Ok(())
                });
            }
        }
    }
    if let Some(chats) = listed(Scope::Chat).filter(|_| wants(Scope::Chat)) {
        work.resources(Scope::Chat, chats).await;
    }
    let found = work.finish().await?;
    tracing::info!(
        users = found.users,
        teams = found.teams,
        chats = found.chats,
        installations = found.installations.len(),
        "discovery done"
    );
    let found = Arc::new(Mutex::new(found.installations));
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
