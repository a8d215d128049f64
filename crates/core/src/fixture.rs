//! The tenant fixture (architecture.md section 1): directory objects, app registrations, a
//! pre-published catalog and existing installations, in JSON or YAML, turned into a [`Seed`].
//! Unknown fields are refused so a typo does not silently seed nothing.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Context};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::manifest;
use crate::model::TenantSettings;
use crate::model::{
    AppDefinition, Application, CatalogApp, Chat, DistributionMethod, Installation,
    PublishingState, ResourceSpecificPermission, ScopeKind, ScopeRef, Team, TeamsApp, Tenant, User,
};
use crate::store::{Seed, Store};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    pub tenants: Vec<TenantFixture>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TenantFixture {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub users: Vec<UserFixture>,
    #[serde(default)]
    pub chats: Vec<ChatFixture>,
    #[serde(default)]
    pub teams: Vec<TeamFixture>,
    #[serde(default)]
    pub applications: Vec<ApplicationFixture>,
    #[serde(default)]
    pub catalog: Vec<CatalogFixture>,
    #[serde(default)]
    pub installations: Vec<InstallationFixture>,
    /// `teamsAppSettings`; every switch on when absent.
    #[serde(default)]
    pub teams_app_settings: Option<TenantSettings>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UserFixture {
    pub id: String,
    pub user_principal_name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub mail: Option<String>,
    #[serde(default)]
    pub account_enabled: Option<bool>,
    /// `Member` or `Guest`.
    #[serde(default)]
    pub user_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OnlineMeetingFixture {
    pub join_web_url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChatFixture {
    pub id: String,
    #[serde(default)]
    pub chat_type: Option<String>,
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default)]
    pub online_meeting: Option<OnlineMeetingFixture>,
    /// RFC 3339.
    #[serde(default)]
    pub created_date_time: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TeamFixture {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub owners: Vec<String>,
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// `private`, `public` or `hiddenMembership`.
    #[serde(default)]
    pub visibility: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApplicationFixture {
    pub app_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    pub client_secret: String,
    #[serde(default)]
    pub application_permissions: Vec<String>,
    #[serde(default)]
    pub delegated_permissions: Vec<String>,
    #[serde(default)]
    pub selected_teams_apps: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CatalogFixture {
    #[serde(default = "default_distribution")]
    pub distribution_method: String,
    /// Catalog id; defaults to the manifest id for store apps and a stable id derived from the
    /// tenant and manifest id otherwise (so re-seeding is idempotent).
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub publishing_state: Option<String>,
    pub manifest: serde_json::Value,
}

fn default_distribution() -> String {
    "organization".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InstallationFixture {
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub chat: Option<String>,
    #[serde(default)]
    pub team: Option<String>,
    /// Manifest id or catalog id.
    pub app: String,
    /// Defaults to the newest published version.
    #[serde(default)]
    pub version: Option<String>,
}

/// Parses JSON or YAML (JSON is YAML, but JSON errors read better from the JSON parser).
pub fn parse(text: &str) -> anyhow::Result<Fixture> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        serde_json::from_str(text).context("the fixture is not valid JSON of the fixture shape")
    } else {
        serde_yaml::from_str(text).context("the fixture is not valid YAML of the fixture shape")
    }
}

/// A GUID-shaped id derived from stable inputs.
pub fn stable_guid(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let d = h.finalize();
    let hex: String = d.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-4{}-8{}-{}", &hex[0..8], &hex[8..12], &hex[13..16], &hex[17..20], &hex[20..32])
}

/// Applies a fixture: its seed in one transaction, then each tenant's settings.
pub async fn apply(store: &dyn Store, fixture: &Fixture) -> anyhow::Result<Seed> {
    let seed = to_seed(fixture)?;
    store.apply_seed(&seed).await?;
    for t in &fixture.tenants {
        if let Some(settings) = &t.teams_app_settings {
            store.set_tenant_settings(&t.id.trim().to_ascii_lowercase(), settings).await?;
        }
    }
    Ok(seed)
}

pub fn to_seed(fixture: &Fixture) -> anyhow::Result<Seed> {
    let mut seed = Seed::default();
    for t in &fixture.tenants {
        let tid = t.id.trim().to_ascii_lowercase();
        if uuid::Uuid::parse_str(&tid).is_err() {
            bail!("tenant id '{}' is not a GUID", t.id);
        }
        seed.tenants.push(Tenant {
            id: tid.clone(),
            display_name: t.display_name.clone().unwrap_or_else(|| "Tenant".into()),
        });
        for u in &t.users {
            seed.users.push(User {
                tenant_id: tid.clone(),
                id: u.id.to_ascii_lowercase(),
                user_principal_name: u.user_principal_name.clone(),
                display_name: u
                    .display_name
                    .clone()
                    .unwrap_or_else(|| u.user_principal_name.clone()),
                password: u.password.clone(),
                roles: u.roles.clone(),
                mail: u.mail.clone(),
                account_enabled: u.account_enabled,
                user_type: match u.user_type.as_deref() {
                    None => None,
                    Some(t) if t.eq_ignore_ascii_case("member") => Some("Member".into()),
                    Some(t) if t.eq_ignore_ascii_case("guest") => Some("Guest".into()),
                    Some(_) => bail!("user '{}': userType must be Member or Guest", u.id),
                },
            });
        }
        for c in &t.chats {
            let chat_type = match (&c.chat_type, &c.online_meeting) {
                (Some(ct), _) => ct.clone(),
                (None, Some(_)) => "meeting".into(),
                (None, None) => "group".into(),
            };
            if !["oneOnOne", "group", "meeting"].contains(&chat_type.as_str()) {
                bail!("chat '{}': chatType must be oneOnOne, group or meeting", c.id);
            }
            seed.chats.push(Chat {
                tenant_id: tid.clone(),
                id: c.id.clone(),
                chat_type,
                topic: c.topic.clone(),
                members: c.members.iter().map(|m| m.to_ascii_lowercase()).collect(),
                join_web_url: c.online_meeting.as_ref().map(|m| m.join_web_url.clone()),
                created_date_time: c.created_date_time,
            });
        }
        for team in &t.teams {
            seed.teams.push(Team {
                tenant_id: tid.clone(),
                id: team.id.to_ascii_lowercase(),
                display_name: team.display_name.clone().unwrap_or_else(|| "Team".into()),
                owners: team.owners.iter().map(|m| m.to_ascii_lowercase()).collect(),
                members: team.members.iter().map(|m| m.to_ascii_lowercase()).collect(),
                description: team.description.clone(),
                visibility: match team.visibility.as_deref() {
                    None => None,
                    Some(v) => Some(
                        ["private", "public", "hiddenMembership"]
                            .into_iter()
                            .find(|k| k.eq_ignore_ascii_case(v))
                            .ok_or_else(|| {
                                anyhow!(
                                    "team '{}': visibility must be private, public or hiddenMembership",
                                    team.id
                                )
                            })?
                            .to_string(),
                    ),
                },
            });
        }
        for a in &t.applications {
            seed.applications.push(Application {
                tenant_id: tid.clone(),
                app_id: a.app_id.to_ascii_lowercase(),
                display_name: a.display_name.clone().unwrap_or_else(|| a.app_id.clone()),
                client_secret: a.client_secret.clone(),
                application_permissions: a.application_permissions.clone(),
                delegated_permissions: a.delegated_permissions.clone(),
                selected_teams_apps: a.selected_teams_apps.clone(),
            });
        }
        let apps = catalog_apps(&tid, &t.catalog)?;
        seed.installations.extend(installations(&tid, t, &apps)?);
        seed.apps.extend(apps);
    }
    Ok(seed)
}

fn catalog_apps(tid: &str, entries: &[CatalogFixture]) -> anyhow::Result<Vec<CatalogApp>> {
    let mut apps: Vec<CatalogApp> = Vec::new();
    let mut by_manifest: HashMap<String, usize> = HashMap::new();
    for (i, entry) in entries.iter().enumerate() {
        let where_ = format!("catalog entry {} of tenant {tid}", i + 1);
        let dm = DistributionMethod::parse(&entry.distribution_method).ok_or_else(|| {
            anyhow!("{where_}: distributionMethod must be store, organization or sideloaded")
        })?;
        let package = manifest::parse_manifest_value(&entry.manifest)
            .map_err(|e| anyhow!("{where_}: invalid manifest: {}", describe(&e)))?;
        let state = match &entry.publishing_state {
            None => PublishingState::Published,
            Some(s) => PublishingState::parse(s).ok_or_else(|| {
                anyhow!("{where_}: publishingState must be published, submitted or rejected")
            })?,
        };
        let key = package.manifest_id.to_ascii_lowercase();
        let idx = match by_manifest.get(&key) {
            Some(&idx) => idx,
            None => {
                let id = match (&entry.id, dm) {
                    (Some(id), _) => id.clone(),
                    (None, DistributionMethod::Store) => package.manifest_id.clone(),
                    (None, _) => stable_guid(&[tid, &key]),
                };
                let external_id =
                    (dm != DistributionMethod::Store).then(|| package.manifest_id.clone());
                apps.push(CatalogApp {
                    app: TeamsApp {
                        tenant_id: tid.to_string(),
                        id,
                        external_id,
                        distribution_method: dm,
                    },
                    definitions: Vec::new(),
                });
                by_manifest.insert(key, apps.len() - 1);
                apps.len() - 1
            }
        };
        let app = &mut apps[idx];
        if app.definition(&package.version).is_some() {
            bail!(
                "{where_}: version {} of app {} appears twice",
                package.version,
                package.manifest_id
            );
        }
        let c = package.content;
        app.definitions.push(AppDefinition {
            app_id: app.app.id.clone(),
            version: package.version,
            publishing_state: state,
            display_name: c.display_name,
            short_description: c.short_description,
            description: c.description,
            last_modified: None,
            created_by: None,
            client_app_id: c.client_app_id,
            required_permissions: c.required_permissions,
            bot_id: c.bot_id,
            allowed_scopes: c.allowed_scopes,
            etag: crate::catalog::etag_of(stable_guid(&[tid, &app.app.id, "etag"]).as_bytes()),
        });
        app.definitions.sort_by(|a, b| crate::version::compare(&a.version, &b.version));
    }
    Ok(apps)
}

fn describe(e: &crate::CoreError) -> String {
    match e {
        crate::CoreError::InvalidManifest(details) => details
            .iter()
            .map(|d| format!("{} | {} ({})", d.target, d.message, d.code))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

fn installations(
    tid: &str,
    t: &TenantFixture,
    apps: &[CatalogApp],
) -> anyhow::Result<Vec<Installation>> {
    let mut out = Vec::new();
    // Users by lowercase id and UPN (a fixture may hold many thousands of them).
    let mut users: HashMap<String, &UserFixture> = HashMap::new();
    for u in t.users.iter().rev() {
        users.insert(u.user_principal_name.to_ascii_lowercase(), u);
    }
    for u in t.users.iter().rev() {
        users.insert(u.id.to_ascii_lowercase(), u);
    }
    for (i, inst) in t.installations.iter().enumerate() {
        let where_ = format!("installation {} of tenant {tid}", i + 1);
        let scope = match (&inst.user, &inst.chat, &inst.team) {
            (Some(u), None, None) => {
                let user = users
                    .get(&u.to_ascii_lowercase())
                    .ok_or_else(|| anyhow!("{where_}: user '{u}' is not in the fixture"))?;
                ScopeRef { kind: ScopeKind::User, id: user.id.to_ascii_lowercase() }
            }
            (None, Some(c), None) => {
                if !t.chats.iter().any(|x| &x.id == c) {
                    bail!("{where_}: chat '{c}' is not in the fixture");
                }
                ScopeRef { kind: ScopeKind::Chat, id: c.clone() }
            }
            (None, None, Some(team)) => {
                if !t.teams.iter().any(|x| x.id.eq_ignore_ascii_case(team)) {
                    bail!("{where_}: team '{team}' is not in the fixture");
                }
                ScopeRef { kind: ScopeKind::Team, id: team.to_ascii_lowercase() }
            }
            _ => bail!("{where_}: give exactly one of user, chat or team"),
        };
        let app = apps
            .iter()
            .find(|a| {
                a.app.id.eq_ignore_ascii_case(&inst.app)
                    || a.app
                        .external_id
                        .as_deref()
                        .is_some_and(|e| e.eq_ignore_ascii_case(&inst.app))
            })
            .ok_or_else(|| {
                anyhow!("{where_}: app '{}' is not in the fixture's catalog", inst.app)
            })?;
        let def = match &inst.version {
            Some(v) => app
                .definition(v)
                .ok_or_else(|| anyhow!("{where_}: app '{}' has no version {v}", inst.app))?,
            None => app
                .current()
                .ok_or_else(|| anyhow!("{where_}: app '{}' has no published version", inst.app))?,
        };
        if def.publishing_state != PublishingState::Published {
            bail!("{where_}: version {} of app '{}' is not published", def.version, inst.app);
        }
        // Fixtures are trusted: whatever the definition requires counts as consented.
        let consented: Option<Vec<ResourceSpecificPermission>> =
            (!def.required_permissions.is_empty()).then(|| def.required_permissions.clone());
        out.push(Installation {
            tenant_id: tid.to_string(),
            scope,
            app_id: app.app.id.clone(),
            version: def.version.clone(),
            consented,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_guids_are_guid_shaped_and_stable() {
        let a = stable_guid(&["t", "m"]);
        assert_eq!(a, stable_guid(&["t", "m"]));
        assert_ne!(a, stable_guid(&["t", "n"]));
        assert!(uuid::Uuid::parse_str(&a).is_ok(), "{a}");
    }

    #[test]
    fn seeded_definitions_carry_graphs_etag_shape_and_keep_it_across_seeds() {
        use base64::Engine;
        let fixture = parse(include_str!("../../../fixtures/demo.yaml")).unwrap();
        let seed = to_seed(&fixture).unwrap();
        let again = to_seed(&fixture).unwrap();
        let defs: Vec<_> = seed.apps.iter().flat_map(|a| &a.definitions).collect();
        assert!(!defs.is_empty());
        for (d, same) in defs.iter().zip(again.apps.iter().flat_map(|a| &a.definitions)) {
            let raw = base64::engine::general_purpose::STANDARD.decode(&d.etag).unwrap();
            let raw = String::from_utf8(raw).unwrap();
            assert!(raw.starts_with('"') && raw.ends_with('"') && raw.len() > 2, "{raw}");
            assert_eq!(d.etag, same.etag);
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = parse("tenants:\n  - id: 2f1a6c2e-0000-4000-8000-000000000001\n    userz: []\n")
            .unwrap_err();
        assert!(format!("{err:#}").contains("userz"), "{err:#}");
    }
}
