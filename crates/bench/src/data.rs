//! The data of `bench/perf.sh`: one tenant, its app registration, a catalog of
//! [`INSTALLED_APPS`] apps at 1.0.0 and 1.0.1 plus one app nobody has installed yet, and
//! users with every one of the installed apps at 1.0.0 (so every upgrade moves an installation
//! to 1.0.1 and every list answers [`INSTALLED_APPS`] entries), followed by users with nothing
//! installed (the install pool). Ids are computed, so the load generator can name any user,
//! app or installation without asking the server.
//!
//! `populate` writes it through the real store crate (`Store::apply_seed`, in chunks), so the
//! rows are exactly those the server writes, at bulk speed.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use teamsapps_core::model::{Installation, ScopeKind, ScopeRef, User};
use teamsapps_core::store::Seed;
use teamsapps_core::Store;
use teamsapps_store_sqlite::SqliteStore;

pub const TENANT: &str = "2f1a6c2e-0000-4000-8000-00000000be01";
pub const CLIENT_ID: &str = "11111111-1111-4111-8111-00000000be01";
pub const CLIENT_SECRET: &str = "bench-secret";
/// Apps every populated user has installed: the length of a list.
pub const INSTALLED_APPS: usize = 20;
/// Users (and installations) per `apply_seed` transaction.
const CHUNK_USERS: usize = 20_000;

pub fn user_id(i: usize) -> String {
    format!("0000be01-{:04x}-4000-8000-{:012x}", (i >> 48) & 0xffff, i & 0xffff_ffff_ffff)
}

/// Manifest id of app `a`; app [`INSTALLED_APPS`] is the install target.
fn manifest_id(a: usize) -> String {
    format!("00000000-be01-4000-8000-{a:012x}")
}

/// Catalog id of app `a` (the fixture derives it from the tenant and the manifest id).
pub fn app_id(a: usize) -> String {
    teamsapps_core::fixture::stable_guid(&[TENANT, &manifest_id(a)])
}

/// The installation id of the app with catalog id `app` for user `u`, percent-encoded for a
/// path.
pub fn installation_path_id(u: usize, app: &str) -> String {
    teamsapps_core::ids::installation_id(&user_id(u), app)
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

/// The tenant, its admin, the app registration and the catalog, as a fixture.
pub fn fixture_yaml() -> String {
    let mut out = format!(
        "tenants:\n  - id: {TENANT}\n    displayName: Bench\n    users:\n      \
         - {{ id: 5b649834-7412-4cce-9e69-00000000be01, userPrincipalName: admin@bench.example, \
         displayName: Admin, password: admin-pw, roles: [TeamsServiceAdministrator] }}\n    \
         applications:\n      - appId: {CLIENT_ID}\n        displayName: Bench\n        \
         clientSecret: {CLIENT_SECRET}\n        applicationPermissions: [AppCatalog.Read.All, \
         TeamsAppInstallation.ReadWriteAndConsentForUser.All]\n    catalog:\n"
    );
    for a in 0..=INSTALLED_APPS {
        let versions: &[&str] = if a < INSTALLED_APPS { &["1.0.0", "1.0.1"] } else { &["1.0.0"] };
        for v in versions {
            out.push_str(&format!(
                "      - manifest: {{ manifestVersion: \"1.17\", id: {}, version: \"{v}\", \
                 name: {{ short: Bench {a}, full: Bench app {a} }}, description: {{ short: \
                 Benchmark, full: Benchmark app. }}, developer: {{ name: Contoso, websiteUrl: \
                 \"https://contoso.example\", privacyUrl: \"https://contoso.example/p\", \
                 termsOfUseUrl: \"https://contoso.example/t\" }}, staticTabs: [{{ entityId: \
                 home, scopes: [personal] }}] }}\n",
                manifest_id(a)
            ));
        }
    }
    out
}

fn user(i: usize) -> User {
    User {
        tenant_id: TENANT.to_string(),
        id: user_id(i),
        user_principal_name: format!("u{i}@bench.example"),
        display_name: format!("U{i}"),
        password: None,
        roles: Vec::new(),
        mail: None,
        account_enabled: None,
        user_type: None,
    }
}

/// Creates the store at `dir/teamsapps.db` with `users` users holding every installed app and
/// `install_users` more holding nothing. Prints what it wrote as one JSON line.
pub async fn populate(dir: &Path, users: usize, install_users: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    std::fs::create_dir_all(dir)?;
    let path = dir.join("teamsapps.db");
    let store = SqliteStore::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let fixture = teamsapps_core::fixture::parse(&fixture_yaml())?;
    teamsapps_core::fixture::apply(&store, &fixture).await?;
    let apps: Vec<String> = (0..INSTALLED_APPS).map(app_id).collect();
    let total = users + install_users;
    let mut first = 0;
    while first < total {
        let last = (first + CHUNK_USERS).min(total);
        let mut seed = Seed { users: (first..last).map(user).collect(), ..Seed::default() };
        for u in first..last.min(users) {
            let scope = ScopeRef { kind: ScopeKind::User, id: user_id(u) };
            for app in &apps {
                seed.installations.push(Installation {
                    tenant_id: TENANT.to_string(),
                    scope: scope.clone(),
                    app_id: app.clone(),
                    version: "1.0.0".to_string(),
                    consented: None,
                });
            }
        }
        store.apply_seed(&seed).await?;
        first = last;
    }
    drop(store);
    let bytes: u64 = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("teamsapps.db"))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "{}",
        serde_json::json!({
            "users": total,
            "installations": users * INSTALLED_APPS,
            "bytes": bytes,
            "seconds": started.elapsed().as_secs_f64(),
        })
    );
    Ok(())
}
