//! The SQLite store against the `Store` contract, each test on a fresh database file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use teamsapps_core::model::{
    AllowedScopes, AppDefinition, Application, CatalogApp, Chat, DistributionMethod, Installation,
    PermissionType, PublishingState, ResourceSpecificPermission, ScopeKind, ScopeRef, SigningKey,
    Team, TeamsApp, Tenant, User,
};
use teamsapps_core::store::{Seed, Transition, UpgradeOutcome};
use teamsapps_core::{Store, StoreError};
use teamsapps_store_sqlite::{migrations, SqliteStore, SCHEMA_VERSION};

const T: &str = "11111111-1111-1111-1111-111111111111";
const T2: &str = "22222222-2222-2222-2222-222222222222";

struct Db {
    _dir: tempfile::TempDir,
    path: PathBuf,
    store: SqliteStore,
}

fn fresh() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("teamsapps.db");
    let store = SqliteStore::open(&path).unwrap();
    Db { _dir: dir, path, store }
}

fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

fn at(secs: i64, nanos: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + secs, nanos).unwrap()
}

fn perm(value: &str, kind: PermissionType) -> ResourceSpecificPermission {
    ResourceSpecificPermission { permission_value: value.into(), permission_type: kind }
}

fn app(tenant: &str, id: &str, external_id: Option<&str>) -> TeamsApp {
    TeamsApp {
        tenant_id: tenant.into(),
        id: id.into(),
        external_id: external_id.map(Into::into),
        distribution_method: if external_id.is_some() {
            DistributionMethod::Organization
        } else {
            DistributionMethod::Store
        },
    }
}

fn def(app_id: &str, version: &str, state: PublishingState) -> AppDefinition {
    AppDefinition {
        app_id: app_id.into(),
        version: version.into(),
        publishing_state: state,
        display_name: format!("App {app_id} {version}"),
        short_description: "short".into(),
        description: "long description".into(),
        last_modified: Some(at(1, 123_456_789)),
        created_by: Some("user-1".into()),
        client_app_id: Some("client-app".into()),
        required_permissions: vec![
            perm("TeamSettings.Read.Group", PermissionType::Application),
            perm("ChatMessage.Read.Chat", PermissionType::Delegated),
        ],
        bot_id: None,
        allowed_scopes: AllowedScopes { team: true, group_chat: false, personal: true },
        etag: format!("etag-{version}-{}", state.as_str()),
    }
}

fn published(app_id: &str, version: &str) -> AppDefinition {
    def(app_id, version, PublishingState::Published)
}

fn scope(kind: ScopeKind, id: &str) -> ScopeRef {
    ScopeRef { kind, id: id.into() }
}

fn team_scope() -> ScopeRef {
    scope(ScopeKind::Team, "team-1")
}

fn inst(scope: &ScopeRef, app_id: &str, version: &str) -> Installation {
    Installation {
        tenant_id: T.into(),
        scope: scope.clone(),
        app_id: app_id.into(),
        version: version.into(),
        consented: None,
    }
}

fn conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) -> &'static str {
    match r {
        Err(StoreError::Conflict(name)) => name,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// An app "a1" with published 1.0, 1.1, 1.2 and a submitted 1.3, installed at 1.0 in team-1.
async fn catalog_with_installation(store: &SqliteStore) {
    store.create_app(&app(T, "a1", Some("m1")), &published("a1", "1.0")).await.unwrap();
    for v in ["1.1", "1.2"] {
        store.add_definition(T, &published("a1", v)).await.unwrap();
    }
    store.add_definition(T, &def("a1", "1.3", PublishingState::Submitted)).await.unwrap();
    store.create_installation(&inst(&team_scope(), "a1", "1.0")).await.unwrap();
}

async fn installed_version(store: &SqliteStore) -> String {
    store.get_installation(T, &team_scope(), "a1").await.unwrap().unwrap().version
}

fn seed() -> Seed {
    Seed {
        tenants: vec![Tenant { id: T.into(), display_name: "Contoso".into() }],
        users: vec![
            User {
                tenant_id: T.into(),
                id: "u1".into(),
                user_principal_name: "Alice@Contoso.onmicrosoft.com".into(),
                display_name: "Alice".into(),
                password: Some("pw".into()),
                roles: vec!["TeamsServiceAdministrator".into()],
            },
            User {
                tenant_id: T.into(),
                id: "u2".into(),
                user_principal_name: "bob@contoso.onmicrosoft.com".into(),
                display_name: "Bob".into(),
                password: None,
                roles: vec![],
            },
        ],
        chats: vec![Chat {
            tenant_id: T.into(),
            id: "19:chat@thread.v2".into(),
            chat_type: "group".into(),
            topic: Some("Topic".into()),
            members: vec!["u1".into(), "u2".into()],
            join_web_url: None,
        }],
        teams: vec![Team {
            tenant_id: T.into(),
            id: "team-1".into(),
            display_name: "Team One".into(),
            owners: vec!["u1".into()],
            members: vec!["u1".into(), "u2".into()],
        }],
        applications: vec![Application {
            tenant_id: T.into(),
            app_id: "client-1".into(),
            display_name: "Client".into(),
            client_secret: "secret".into(),
            application_permissions: vec!["AppCatalog.ReadWrite.All".into()],
            delegated_permissions: vec![],
            selected_teams_apps: vec!["m1".into()],
        }],
        apps: vec![
            CatalogApp {
                app: app(T, "a1", Some("m1")),
                definitions: vec![published("a1", "1.0"), published("a1", "1.1")],
            },
            CatalogApp {
                app: app(T, "store-1", None),
                definitions: vec![published("store-1", "2.0")],
            },
        ],
        installations: vec![inst(&team_scope(), "a1", "1.0")],
    }
}

// --- signing keys ---------------------------------------------------------------------------

#[tokio::test]
async fn signing_keys_newest_first() {
    let db = fresh();
    assert!(db.store.signing_keys().await.unwrap().is_empty());
    let old = SigningKey { kid: "k-old".into(), private_pem: "PEM1".into(), created_at: at(0, 5) };
    let new = SigningKey { kid: "k-new".into(), private_pem: "PEM2".into(), created_at: at(10, 0) };
    db.store.add_signing_key(&old).await.unwrap();
    db.store.add_signing_key(&new).await.unwrap();
    assert_eq!(db.store.signing_keys().await.unwrap(), vec![new, old.clone()]);
    assert_eq!(conflict(db.store.add_signing_key(&old).await), "signing_key");
}

// --- directory ------------------------------------------------------------------------------

#[tokio::test]
async fn seed_is_idempotent() {
    let db = fresh();
    let s = seed();
    db.store.apply_seed(&s).await.unwrap();
    let apps = db.store.list_apps(T).await.unwrap();
    let installs = db.store.list_installations(T, &team_scope()).await.unwrap();
    assert_eq!(apps.len(), 2);
    assert_eq!(apps[0].definitions.len(), 2);
    assert_eq!(installs.len(), 1);

    db.store.apply_seed(&s).await.unwrap();
    assert_eq!(db.store.list_apps(T).await.unwrap(), apps);
    assert_eq!(db.store.list_installations(T, &team_scope()).await.unwrap(), installs);
    assert_eq!(db.store.tenant(T).await.unwrap(), Some(s.tenants[0].clone()));
    assert_eq!(db.store.user(T, "u1").await.unwrap(), Some(s.users[0].clone()));
    assert_eq!(db.store.user(T, "u2").await.unwrap(), Some(s.users[1].clone()));
    assert_eq!(db.store.chat(T, "19:chat@thread.v2").await.unwrap(), Some(s.chats[0].clone()));
    assert_eq!(db.store.team(T, "team-1").await.unwrap(), Some(s.teams[0].clone()));
    assert_eq!(db.store.application(T, "client-1").await.unwrap(), Some(s.applications[0].clone()));
    assert_eq!(db.store.tenant(T2).await.unwrap(), None);
    assert_eq!(db.store.chat(T, "nope").await.unwrap(), None);
    assert_eq!(db.store.team(T2, "team-1").await.unwrap(), None);
    assert_eq!(db.store.application(T, "nope").await.unwrap(), None);
}

#[tokio::test]
async fn seed_upserts_directory_but_leaves_catalog_alone() {
    let db = fresh();
    db.store.apply_seed(&seed()).await.unwrap();
    // The app changes in the meantime (an installation upgraded, a definition published).
    db.store.upgrade_installation(T, &team_scope(), "a1", "1.1", None).await.unwrap();

    let mut s = seed();
    s.tenants[0].display_name = "Contoso Ltd".into();
    s.users[1].roles = vec!["GlobalAdministrator".into()];
    s.teams[0].members.push("u3".into());
    s.apps[0].definitions[0].display_name = "changed".into();
    s.apps[0].app.distribution_method = DistributionMethod::Sideloaded;
    db.store.apply_seed(&s).await.unwrap();

    assert_eq!(db.store.tenant(T).await.unwrap().unwrap().display_name, "Contoso Ltd");
    assert!(db.store.user(T, "u2").await.unwrap().unwrap().is_admin());
    assert_eq!(db.store.team(T, "team-1").await.unwrap().unwrap().members.len(), 3);
    let a1 = db.store.get_app(T, "a1").await.unwrap().unwrap();
    assert_eq!(a1.app.distribution_method, DistributionMethod::Organization);
    assert_eq!(a1.definitions[0].display_name, "App a1 1.0");
    assert_eq!(installed_version(&db.store).await, "1.1");
}

#[tokio::test]
async fn seed_is_one_transaction() {
    let db = fresh();
    let mut s = seed();
    // The installation names a definition that does not exist: nothing at all is applied.
    s.installations.push(inst(&scope(ScopeKind::User, "u1"), "a1", "9.9"));
    assert_eq!(conflict(db.store.apply_seed(&s).await), "definition");
    assert_eq!(db.store.tenant(T).await.unwrap(), None);
    assert!(db.store.list_apps(T).await.unwrap().is_empty());

    // Another app holding the manifest id is a conflict too, not silently skipped.
    let mut s = seed();
    s.apps.push(CatalogApp {
        app: app(T, "a2", Some("m1")),
        definitions: vec![published("a2", "1.0")],
    });
    assert_eq!(conflict(db.store.apply_seed(&s).await), "external_id");

    // Two users with one UPN (differing in case only).
    let mut s = seed();
    s.users[1].user_principal_name = "ALICE@contoso.onmicrosoft.com".into();
    assert_eq!(conflict(db.store.apply_seed(&s).await), "user_principal_name");
    assert_eq!(db.store.user(T, "u1").await.unwrap(), None);
}

#[tokio::test]
async fn user_by_id_or_upn_case_insensitively() {
    let db = fresh();
    let s = seed();
    db.store.apply_seed(&s).await.unwrap();
    let alice = Some(s.users[0].clone());
    assert_eq!(db.store.user(T, "u1").await.unwrap(), alice);
    assert_eq!(db.store.user(T, "alice@contoso.onmicrosoft.com").await.unwrap(), alice);
    assert_eq!(db.store.user(T, "ALICE@CONTOSO.ONMICROSOFT.COM").await.unwrap(), alice);
    assert_eq!(db.store.user(T, "Alice@Contoso.onmicrosoft.com").await.unwrap(), alice);
    assert_eq!(db.store.user(T2, "u1").await.unwrap(), None);
    assert_eq!(db.store.user(T, "carol@contoso.onmicrosoft.com").await.unwrap(), None);
    assert_eq!(db.store.user(T, "U1").await.unwrap(), None, "ids are exact");
}

// --- catalog --------------------------------------------------------------------------------

#[tokio::test]
async fn create_and_read_apps() {
    let db = fresh();
    let a = app(T, "a1", Some("m1"));
    let d = published("a1", "1.0");
    db.store.create_app(&a, &d).await.unwrap();
    let expected = CatalogApp { app: a.clone(), definitions: vec![d.clone()] };
    assert_eq!(db.store.get_app(T, "a1").await.unwrap(), Some(expected.clone()));
    assert_eq!(db.store.get_app_by_external_id(T, "m1").await.unwrap(), Some(expected.clone()));
    assert_eq!(db.store.get_app_by_external_id(T, "m2").await.unwrap(), None);
    assert_eq!(db.store.get_app_by_external_id(T2, "m1").await.unwrap(), None);
    assert_eq!(db.store.get_app(T, "zz").await.unwrap(), None);
    assert_eq!(db.store.get_app(T2, "a1").await.unwrap(), None);
    assert_eq!(db.store.list_apps(T).await.unwrap(), vec![expected]);
    assert!(db.store.list_apps(T2).await.unwrap().is_empty());

    // A definition with every optional field empty reads back the same.
    let bare = AppDefinition {
        last_modified: None,
        created_by: None,
        client_app_id: None,
        required_permissions: vec![],
        bot_id: Some("bot".into()),
        allowed_scopes: AllowedScopes::default(),
        ..def("b1", "0.1", PublishingState::Submitted)
    };
    db.store.create_app(&app(T, "b1", Some("mb")), &bare).await.unwrap();
    assert_eq!(db.store.get_app(T, "b1").await.unwrap().unwrap().definitions, vec![bare]);
}

#[tokio::test]
async fn create_app_conflicts() {
    let db = fresh();
    db.store.create_app(&app(T, "a1", Some("m1")), &published("a1", "1.0")).await.unwrap();
    // Same manifest id under another app id.
    assert_eq!(
        conflict(db.store.create_app(&app(T, "a2", Some("m1")), &published("a2", "1.0")).await),
        "external_id"
    );
    // Same app id, another manifest id.
    assert_eq!(
        conflict(db.store.create_app(&app(T, "a1", Some("m2")), &published("a1", "1.0")).await),
        "app_id"
    );
    // Both taken: the manifest id is reported.
    assert_eq!(
        conflict(db.store.create_app(&app(T, "a1", Some("m1")), &published("a1", "1.0")).await),
        "external_id"
    );
    // Store apps have no external id: any number of them.
    db.store.create_app(&app(T, "s1", None), &published("s1", "1.0")).await.unwrap();
    db.store.create_app(&app(T, "s2", None), &published("s2", "1.0")).await.unwrap();
    assert_eq!(
        conflict(db.store.create_app(&app(T, "s1", None), &published("s1", "1.0")).await),
        "app_id"
    );
    // Other tenants are separate.
    db.store.create_app(&app(T2, "a1", Some("m1")), &published("a1", "1.0")).await.unwrap();
    // A failed create left nothing behind.
    assert_eq!(db.store.get_app(T, "a2").await.unwrap(), None);
    assert_eq!(db.store.list_apps(T).await.unwrap().len(), 3);
}

#[tokio::test]
async fn add_definition_rules() {
    let db = fresh();
    assert_eq!(conflict(db.store.add_definition(T, &published("a1", "1.0")).await), "app");
    db.store.create_app(&app(T, "a1", Some("m1")), &published("a1", "1.0")).await.unwrap();
    assert_eq!(conflict(db.store.add_definition(T2, &published("a1", "1.1")).await), "app");
    assert_eq!(conflict(db.store.add_definition(T, &published("a1", "1.0")).await), "version");

    let submitted = def("a1", "1.1", PublishingState::Submitted);
    db.store.add_definition(T, &submitted).await.unwrap();
    assert_eq!(conflict(db.store.add_definition(T, &submitted).await), "version");

    // Reject it; a new submission of the same version replaces the rejected one.
    let rejected = db
        .store
        .transition_definition(
            T,
            "a1",
            "1.1",
            PublishingState::Submitted,
            PublishingState::Rejected,
            None,
            "etag-r",
            at(5, 0),
        )
        .await
        .unwrap();
    assert!(matches!(rejected, Transition::Done(_)));
    let resubmitted = AppDefinition {
        display_name: "Resubmitted".into(),
        etag: "etag-new".into(),
        ..def("a1", "1.1", PublishingState::Submitted)
    };
    db.store.add_definition(T, &resubmitted).await.unwrap();
    let a1 = db.store.get_app(T, "a1").await.unwrap().unwrap();
    assert_eq!(a1.definitions, vec![published("a1", "1.0"), resubmitted]);
}

#[tokio::test]
async fn list_apps_orders_apps_by_id_and_definitions_by_version() {
    let db = fresh();
    db.store.create_app(&app(T, "b", Some("mb")), &published("b", "1.10.0")).await.unwrap();
    db.store.create_app(&app(T, "a", Some("ma")), &published("a", "2")).await.unwrap();
    db.store.create_app(&app(T, "c", None), &published("c", "1.0")).await.unwrap();
    for v in ["1.9.9", "1.2", "10.0.0", "1.10.1"] {
        db.store.add_definition(T, &published("b", v)).await.unwrap();
    }
    db.store.add_definition(T, &published("a", "1.99.99")).await.unwrap();
    db.store.create_app(&app(T2, "other", None), &published("other", "1.0")).await.unwrap();

    let apps = db.store.list_apps(T).await.unwrap();
    let ids: Vec<&str> = apps.iter().map(|a| a.app.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    let versions =
        |i: usize| apps[i].definitions.iter().map(|d| d.version.clone()).collect::<Vec<_>>();
    assert_eq!(versions(0), ["1.99.99", "2"]);
    assert_eq!(versions(1), ["1.2", "1.9.9", "1.10.0", "1.10.1", "10.0.0"]);
    assert_eq!(versions(2), ["1.0"]);
    assert_eq!(db.store.get_app(T, "b").await.unwrap().unwrap(), apps[1]);
}

#[tokio::test]
async fn transition_definition_outcomes() {
    let db = fresh();
    let submitted = def("a1", "1.0", PublishingState::Submitted);
    db.store.create_app(&app(T, "a1", Some("m1")), &submitted).await.unwrap();
    let s = &db.store;
    let (sub, publ) = (PublishingState::Submitted, PublishingState::Published);

    let r = s.transition_definition(T, "a1", "9.9", sub, publ, None, "x", at(2, 0)).await.unwrap();
    assert_eq!(r, Transition::NotFound);
    let r = s.transition_definition(T2, "a1", "1.0", sub, publ, None, "x", at(2, 0)).await.unwrap();
    assert_eq!(r, Transition::NotFound);
    let r = s
        .transition_definition(T, "a1", "1.0", sub, publ, Some("stale"), "x", at(2, 0))
        .await
        .unwrap();
    assert_eq!(r, Transition::EtagMismatch);
    let r = s.transition_definition(T, "a1", "1.0", publ, sub, None, "x", at(2, 0)).await.unwrap();
    assert_eq!(r, Transition::WrongState(sub));
    // Nothing changed so far.
    assert_eq!(s.get_app(T, "a1").await.unwrap().unwrap().definitions, vec![submitted.clone()]);

    let when = at(3, 987_654_321);
    let r = s
        .transition_definition(T, "a1", "1.0", sub, publ, Some(&submitted.etag), "etag-2", when)
        .await
        .unwrap();
    let expected = AppDefinition {
        publishing_state: publ,
        etag: "etag-2".into(),
        last_modified: Some(when),
        ..submitted.clone()
    };
    assert_eq!(r, Transition::Done(expected.clone()));
    assert_eq!(s.get_app(T, "a1").await.unwrap().unwrap().definitions, vec![expected]);

    // Repeating it: the state is wrong now; with the old etag it is a precondition failure.
    let r =
        s.transition_definition(T, "a1", "1.0", sub, publ, None, "etag-3", at(4, 0)).await.unwrap();
    assert_eq!(r, Transition::WrongState(publ));
    let r = s
        .transition_definition(T, "a1", "1.0", sub, publ, Some(&submitted.etag), "etag-3", at(4, 0))
        .await
        .unwrap();
    assert_eq!(r, Transition::EtagMismatch);
}

#[tokio::test]
async fn delete_app_cascades() {
    let db = fresh();
    catalog_with_installation(&db.store).await;
    db.store.create_installation(&inst(&scope(ScopeKind::User, "u1"), "a1", "1.2")).await.unwrap();
    db.store.create_app(&app(T, "b1", Some("mb")), &published("b1", "1.0")).await.unwrap();
    db.store.create_installation(&inst(&team_scope(), "b1", "1.0")).await.unwrap();

    assert!(db.store.delete_app(T, "a1").await.unwrap());
    assert_eq!(db.store.get_app(T, "a1").await.unwrap(), None);
    assert_eq!(db.store.get_installation(T, &team_scope(), "a1").await.unwrap(), None);
    assert!(db
        .store
        .list_installations(T, &scope(ScopeKind::User, "u1"))
        .await
        .unwrap()
        .is_empty());
    let left = db.store.list_installations(T, &team_scope()).await.unwrap();
    assert_eq!(left, vec![inst(&team_scope(), "b1", "1.0")]);
    assert!(!db.store.delete_app(T, "a1").await.unwrap());
    assert!(!db.store.delete_app(T2, "b1").await.unwrap());

    // Nothing of a1 is left in any table.
    let conn = raw(&db.path);
    let n: i64 = conn
        .query_row("SELECT count(*) FROM definitions WHERE app_id = 'a1'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
    // The manifest id is free again.
    db.store.create_app(&app(T, "a9", Some("m1")), &published("a9", "1.0")).await.unwrap();
}

#[tokio::test]
async fn delete_definition_only_in_state_and_cascades() {
    let db = fresh();
    catalog_with_installation(&db.store).await;
    let (sub, publ) = (PublishingState::Submitted, PublishingState::Published);
    assert!(!db.store.delete_definition(T, "a1", "1.3", publ).await.unwrap());
    assert!(!db.store.delete_definition(T, "a1", "7.0", sub).await.unwrap());
    assert!(db.store.delete_definition(T, "a1", "1.3", sub).await.unwrap());
    assert!(!db.store.delete_definition(T, "a1", "1.3", sub).await.unwrap());
    let versions: Vec<String> = db
        .store
        .get_app(T, "a1")
        .await
        .unwrap()
        .unwrap()
        .definitions
        .into_iter()
        .map(|d| d.version)
        .collect();
    assert_eq!(versions, ["1.0", "1.1", "1.2"]);

    // Deleting the installed definition removes the installation with it.
    assert!(db.store.delete_definition(T, "a1", "1.0", publ).await.unwrap());
    assert_eq!(db.store.get_installation(T, &team_scope(), "a1").await.unwrap(), None);
}

// --- installations --------------------------------------------------------------------------

#[tokio::test]
async fn installation_lifecycle_and_conflicts() {
    let db = fresh();
    let s = &db.store;
    s.create_app(&app(T, "b1", Some("mb")), &published("b1", "1.0")).await.unwrap();
    s.create_app(&app(T, "a1", Some("ma")), &published("a1", "1.0")).await.unwrap();
    let team = team_scope();
    let chat = scope(ScopeKind::Chat, "19:chat@thread.v2");

    let with_consent = Installation {
        consented: Some(vec![perm("TeamSettings.Read.Group", PermissionType::Application)]),
        ..inst(&team, "b1", "1.0")
    };
    s.create_installation(&with_consent).await.unwrap();
    s.create_installation(&inst(&team, "a1", "1.0")).await.unwrap();
    let empty_consent = Installation { consented: Some(vec![]), ..inst(&chat, "a1", "1.0") };
    s.create_installation(&empty_consent).await.unwrap();

    assert_eq!(
        s.list_installations(T, &team).await.unwrap(),
        vec![inst(&team, "a1", "1.0"), with_consent.clone()]
    );
    assert_eq!(s.list_installations(T, &chat).await.unwrap(), vec![empty_consent.clone()]);
    assert!(s.list_installations(T, &scope(ScopeKind::User, "team-1")).await.unwrap().is_empty());
    assert!(s.list_installations(T2, &team).await.unwrap().is_empty());
    assert_eq!(s.get_installation(T, &team, "b1").await.unwrap(), Some(with_consent));
    assert_eq!(s.get_installation(T, &chat, "a1").await.unwrap(), Some(empty_consent));
    assert_eq!(s.get_installation(T, &team, "zz").await.unwrap(), None);

    assert_eq!(conflict(s.create_installation(&inst(&team, "a1", "1.0")).await), "installation");
    assert_eq!(conflict(s.create_installation(&inst(&chat, "a1", "2.0")).await), "installation");
    let user = scope(ScopeKind::User, "u1");
    assert_eq!(conflict(s.create_installation(&inst(&user, "a1", "2.0")).await), "definition");
    assert_eq!(conflict(s.create_installation(&inst(&user, "nope", "1.0")).await), "definition");
    let other_tenant = Installation { tenant_id: T2.into(), ..inst(&user, "a1", "1.0") };
    assert_eq!(conflict(s.create_installation(&other_tenant).await), "definition");

    assert!(s.delete_installation(T, &team, "a1").await.unwrap());
    assert!(!s.delete_installation(T, &team, "a1").await.unwrap());
    assert!(!s.delete_installation(T2, &chat, "a1").await.unwrap());
    assert_eq!(s.list_installations(T, &team).await.unwrap().len(), 1);
    s.create_installation(&inst(&team, "a1", "1.0")).await.unwrap();
}

#[tokio::test]
async fn upgrade_never_moves_backwards() {
    let db = fresh();
    catalog_with_installation(&db.store).await;
    let s = &db.store;
    let team = team_scope();
    let consent = vec![perm("ChannelMessage.Read.Group", PermissionType::Application)];

    assert_eq!(
        s.upgrade_installation(T, &team, "a1", "1.2", Some(&consent)).await.unwrap(),
        UpgradeOutcome::Upgraded
    );
    let now = s.get_installation(T, &team, "a1").await.unwrap().unwrap();
    assert_eq!(now, Installation { consented: Some(consent.clone()), ..inst(&team, "a1", "1.2") });

    assert_eq!(
        s.upgrade_installation(T, &team, "a1", "1.1", None).await.unwrap(),
        UpgradeOutcome::NotNewer
    );
    assert_eq!(
        s.upgrade_installation(T, &team, "a1", "1.2", None).await.unwrap(),
        UpgradeOutcome::NotNewer
    );
    assert_eq!(
        s.upgrade_installation(T, &team, "a1", "1.0", None).await.unwrap(),
        UpgradeOutcome::NotNewer
    );
    // Not published (submitted), or not there at all.
    assert_eq!(
        s.upgrade_installation(T, &team, "a1", "1.3", None).await.unwrap(),
        UpgradeOutcome::TargetMissing
    );
    assert_eq!(
        s.upgrade_installation(T, &team, "a1", "9.0", None).await.unwrap(),
        UpgradeOutcome::TargetMissing
    );
    // Still 1.2 with its consent.
    assert_eq!(s.get_installation(T, &team, "a1").await.unwrap(), Some(now));

    let chat = scope(ScopeKind::Chat, "c1");
    assert_eq!(
        s.upgrade_installation(T, &chat, "a1", "1.2", None).await.unwrap(),
        UpgradeOutcome::NotFound
    );
    assert_eq!(
        s.upgrade_installation(T2, &team, "a1", "1.2", None).await.unwrap(),
        UpgradeOutcome::NotFound
    );

    // Once published, 1.3 is a valid target; the consent set is replaced (here: cleared).
    let r = s
        .transition_definition(
            T,
            "a1",
            "1.3",
            PublishingState::Submitted,
            PublishingState::Published,
            None,
            "e",
            at(9, 0),
        )
        .await
        .unwrap();
    assert!(matches!(r, Transition::Done(_)));
    assert_eq!(
        s.upgrade_installation(T, &team, "a1", "1.3", None).await.unwrap(),
        UpgradeOutcome::Upgraded
    );
    assert_eq!(s.get_installation(T, &team, "a1").await.unwrap(), Some(inst(&team, "a1", "1.3")));
}

#[tokio::test]
async fn upgrade_compares_versions_numerically() {
    let db = fresh();
    let s = &db.store;
    s.create_app(&app(T, "a1", Some("m1")), &published("a1", "1.9")).await.unwrap();
    s.add_definition(T, &published("a1", "1.10")).await.unwrap();
    s.create_installation(&inst(&team_scope(), "a1", "1.9")).await.unwrap();
    assert_eq!(
        s.upgrade_installation(T, &team_scope(), "a1", "1.10", None).await.unwrap(),
        UpgradeOutcome::Upgraded
    );
    assert_eq!(
        s.upgrade_installation(T, &team_scope(), "a1", "1.9", None).await.unwrap(),
        UpgradeOutcome::NotNewer
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_upgrades_end_at_the_newest() {
    let db = fresh();
    catalog_with_installation(&db.store).await;
    let store = Arc::new(db.store);
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let store = Arc::clone(&store);
            let to = ["1.1", "1.2"][i % 2];
            tokio::spawn(async move {
                store.upgrade_installation(T, &team_scope(), "a1", to, None).await.unwrap()
            })
        })
        .collect();
    let mut upgraded = 0;
    for t in tasks {
        if t.await.unwrap() == UpgradeOutcome::Upgraded {
            upgraded += 1;
        }
    }
    assert!((1..=2).contains(&upgraded), "upgraded {upgraded} times");
    assert_eq!(installed_version(&store).await, "1.2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_installation_one_wins() {
    let db = fresh();
    db.store.create_app(&app(T, "a1", Some("m1")), &published("a1", "1.0")).await.unwrap();
    let store = Arc::new(db.store);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store.create_installation(&inst(&team_scope(), "a1", "1.0")).await
            })
        })
        .collect();
    let (mut ok, mut conflicts) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::Conflict("installation")) => conflicts += 1,
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    assert_eq!((ok, conflicts), (1, 49));
    assert_eq!(store.list_installations(T, &team_scope()).await.unwrap().len(), 1);
}

/// Two stores on one file behave like two processes: SQLite's lock, not the store's mutex,
/// decides.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_race_safely() {
    let db = fresh();
    db.store.create_app(&app(T, "a1", Some("m1")), &published("a1", "1.0")).await.unwrap();
    let stores = [Arc::new(db.store), Arc::new(SqliteStore::open(&db.path).unwrap())];
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = Arc::clone(&stores[i % 2]);
            tokio::spawn(async move {
                store.create_installation(&inst(&team_scope(), "a1", "1.0")).await
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::Conflict("installation")) => {}
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    assert_eq!(ok, 1);
    // Each sees the other's commit.
    for s in &stores {
        assert!(s.get_installation(T, &team_scope(), "a1").await.unwrap().is_some());
    }
}

// --- persistence, migrations, modes ---------------------------------------------------------

#[tokio::test]
async fn data_survives_reopen() {
    let db = fresh();
    db.store.apply_seed(&seed()).await.unwrap();
    let key = SigningKey { kid: "k1".into(), private_pem: "PEM".into(), created_at: at(0, 1) };
    db.store.add_signing_key(&key).await.unwrap();
    db.store.upgrade_installation(T, &team_scope(), "a1", "1.1", None).await.unwrap();
    let apps = db.store.list_apps(T).await.unwrap();
    let Db { _dir, path, store } = db;
    drop(store);

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.list_apps(T).await.unwrap(), apps);
    assert_eq!(store.signing_keys().await.unwrap(), vec![key]);
    assert_eq!(installed_version(&store).await, "1.1");
    assert!(store.user(T, "bob@contoso.onmicrosoft.com").await.unwrap().is_some());
}

#[tokio::test]
async fn migrations_recorded_once() {
    let db = fresh();
    assert_eq!(db.store.schema_version().await.unwrap(), SCHEMA_VERSION);
    for _ in 0..3 {
        let again = SqliteStore::open(&db.path).unwrap();
        assert_eq!(again.schema_version().await.unwrap(), SCHEMA_VERSION);
    }
    let conn = raw(&db.path);
    let mut stmt = conn
        .prepare("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
        .unwrap();
    let recorded: Vec<(i64, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let expected: Vec<(i64, String)> =
        migrations().iter().map(|(v, n, _)| (*v, n.to_string())).collect();
    assert_eq!(recorded.iter().map(|(v, n, _)| (*v, n.clone())).collect::<Vec<_>>(), expected);
    assert_eq!(recorded.last().map(|r| r.0), Some(SCHEMA_VERSION));
    assert!(recorded.iter().all(|(_, _, at)| DateTime::parse_from_rfc3339(at).is_ok()));
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn simultaneous_opens_migrate_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.db");
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || SqliteStore::open(&path).map(drop))
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    let n: i64 =
        raw(&path).query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0)).unwrap();
    assert_eq!(n, migrations().len() as i64);
}

#[test]
fn newer_schema_is_refused() {
    let db = fresh();
    raw(&db.path)
        .execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, 'future', 'now')",
            [SCHEMA_VERSION + 1],
        )
        .unwrap();
    let err = SqliteStore::open(&db.path).unwrap_err();
    assert!(format!("{err:#}").contains("newer"), "{err:#}");
}

#[tokio::test]
async fn in_memory_mode_works_and_is_private() {
    let a = SqliteStore::open_in_memory().unwrap();
    let b = SqliteStore::open_url("sqlite::memory:").unwrap();
    catalog_with_installation(&a).await;
    assert_eq!(a.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(
        a.upgrade_installation(T, &team_scope(), "a1", "1.2", None).await.unwrap(),
        UpgradeOutcome::Upgraded
    );
    assert_eq!(installed_version(&a).await, "1.2");
    assert!(a.delete_app(T, "a1").await.unwrap());
    assert_eq!(
        a.get_installation(T, &team_scope(), "a1").await.unwrap(),
        None,
        "cascades in memory too"
    );
    assert!(b.list_apps(T).await.unwrap().is_empty());
    b.apply_seed(&seed()).await.unwrap();
    assert_eq!(b.list_apps(T).await.unwrap().len(), 2);
}

#[tokio::test]
async fn open_url_forms() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("url.db");
    let s = SqliteStore::open_url(&format!("sqlite://{}", path.display())).unwrap();
    s.apply_seed(&seed()).await.unwrap();
    drop(s);
    let s = SqliteStore::open_url(&format!("sqlite:{}", path.display())).unwrap();
    assert!(s.tenant(T).await.unwrap().is_some());
    assert!(SqliteStore::open_url("sqlite://:memory:").is_ok());

    let err = SqliteStore::open_url("postgres://localhost/db").unwrap_err();
    assert!(format!("{err:#}").contains("postgres://localhost/db"), "{err:#}");
    let bad = format!("sqlite://{}", dir.path().join("missing-dir").join("x.db").display());
    let err = SqliteStore::open_url(&bad).unwrap_err();
    assert!(format!("{err:#}").contains(&bad), "{err:#}");
}

#[tokio::test]
async fn corrupt_rows_are_backend_errors() {
    let db = fresh();
    db.store.apply_seed(&seed()).await.unwrap();
    let conn = raw(&db.path);
    conn.execute("UPDATE users SET roles = 'not json' WHERE id = 'u1'", []).unwrap();
    conn.execute("UPDATE definitions SET last_modified = 'yesterday' WHERE version = '1.1'", [])
        .unwrap();
    conn.execute("UPDATE installations SET consented = '[{\"bad\":1}]'", []).unwrap();
    assert!(matches!(db.store.user(T, "u1").await, Err(StoreError::Backend(_))));
    assert!(matches!(db.store.list_apps(T).await, Err(StoreError::Backend(_))));
    assert!(matches!(
        db.store.list_installations(T, &team_scope()).await,
        Err(StoreError::Backend(_))
    ));
    // Rows that are fine still read.
    assert!(db.store.user(T, "u2").await.unwrap().is_some());
    assert!(db.store.get_app(T, "store-1").await.unwrap().is_some());
}
