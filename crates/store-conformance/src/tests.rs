//! The tests. Each takes a fresh, empty database and panics when the store breaks the contract.
//! Every `pub async fn` here must be listed in `__with_test_names!` (a unit test checks).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use teamsapps_core::model::{
    AllowedScopes, AppDefinition, CatalogApp, DistributionMethod, Installation, PermissionType,
    PublishingState, ScopeKind, SigningKey, TeamsApp, TenantSettings, User,
};
use teamsapps_core::store::{
    ScopeEntity, ScopeKey, ScopedInstallation, Seed, Transition, UpgradeOutcome,
};
use teamsapps_core::version;
use teamsapps_core::{Store, StoreError};

use crate::fixtures::*;
use crate::TestDb;

// --- signing keys ---------------------------------------------------------------------------

pub async fn signing_keys_newest_first(db: Arc<dyn TestDb>) {
    let s = db.store();
    assert!(s.signing_keys().await.unwrap().is_empty());
    let old = SigningKey { kid: "k-old".into(), private_pem: "PEM1".into(), created_at: at(0, 5) };
    let new = SigningKey { kid: "k-new".into(), private_pem: "PEM2".into(), created_at: at(10, 0) };
    s.add_signing_key(&old).await.unwrap();
    s.add_signing_key(&new).await.unwrap();
    assert_eq!(s.signing_keys().await.unwrap(), vec![new, old.clone()]);
    assert_eq!(conflict(s.add_signing_key(&old).await), "signing_key");
}

// --- directory ------------------------------------------------------------------------------

pub async fn seed_is_idempotent(db: Arc<dyn TestDb>) {
    let st = db.store();
    let s = seed();
    st.apply_seed(&s).await.unwrap();
    let apps = st.list_apps(T).await.unwrap();
    let installs = st.list_installations(T, &team_scope()).await.unwrap();
    assert_eq!(apps.len(), 2);
    assert_eq!(apps[0].definitions.len(), 2);
    assert_eq!(installs.len(), 1);

    st.apply_seed(&s).await.unwrap();
    assert_eq!(st.list_apps(T).await.unwrap(), apps);
    assert_eq!(st.list_installations(T, &team_scope()).await.unwrap(), installs);
    assert_eq!(st.tenant(T).await.unwrap(), Some(s.tenants[0].clone()));
    assert_eq!(st.user(T, "u1").await.unwrap(), Some(s.users[0].clone()));
    assert_eq!(st.user(T, "u2").await.unwrap(), Some(s.users[1].clone()));
    assert_eq!(st.chat(T, "19:chat@thread.v2").await.unwrap(), Some(s.chats[0].clone()));
    assert_eq!(st.team(T, "team-1").await.unwrap(), Some(s.teams[0].clone()));
    assert_eq!(st.application(T, "client-1").await.unwrap(), Some(s.applications[0].clone()));
    assert_eq!(st.tenant(T2).await.unwrap(), None);
    assert_eq!(st.chat(T, "nope").await.unwrap(), None);
    assert_eq!(st.team(T2, "team-1").await.unwrap(), None);
    assert_eq!(st.application(T, "nope").await.unwrap(), None);
}

pub async fn seed_upserts_directory_but_leaves_catalog_alone(db: Arc<dyn TestDb>) {
    let st = db.store();
    st.apply_seed(&seed()).await.unwrap();
    // The app changes in the meantime (an installation upgraded, a definition published).
    st.upgrade_installation(T, &team_scope(), "a1", "1.1", None).await.unwrap();

    let mut s = seed();
    s.tenants[0].display_name = "Contoso Ltd".into();
    s.users[1].roles = vec!["GlobalAdministrator".into()];
    s.teams[0].members.push("u3".into());
    s.apps[0].definitions[0].display_name = "changed".into();
    s.apps[0].app.distribution_method = DistributionMethod::Sideloaded;
    st.apply_seed(&s).await.unwrap();

    assert_eq!(st.tenant(T).await.unwrap().unwrap().display_name, "Contoso Ltd");
    assert!(st.user(T, "u2").await.unwrap().unwrap().is_admin());
    assert_eq!(st.team(T, "team-1").await.unwrap().unwrap().members.len(), 3);
    let a1 = st.get_app(T, "a1").await.unwrap().unwrap();
    assert_eq!(a1.app.distribution_method, DistributionMethod::Organization);
    assert_eq!(a1.definitions[0].display_name, "App a1 1.0");
    assert_eq!(installed_version(st.as_ref()).await, "1.1");
}

pub async fn seed_is_one_transaction(db: Arc<dyn TestDb>) {
    let st = db.store();
    let mut s = seed();
    // The installation names a definition that does not exist: nothing at all is applied.
    s.installations.push(inst(&scope(ScopeKind::User, "u1"), "a1", "9.9"));
    assert_eq!(conflict(st.apply_seed(&s).await), "definition");
    assert_eq!(st.tenant(T).await.unwrap(), None);
    assert!(st.list_apps(T).await.unwrap().is_empty());

    // Another app holding the manifest id is a conflict too, not silently skipped.
    let mut s = seed();
    s.apps.push(CatalogApp {
        app: app(T, "a2", Some("m1")),
        definitions: vec![published("a2", "1.0")],
    });
    assert_eq!(conflict(st.apply_seed(&s).await), "external_id");

    // Two users with one UPN (differing in case only).
    let mut s = seed();
    s.users[1].user_principal_name = "ALICE@contoso.onmicrosoft.com".into();
    assert_eq!(conflict(st.apply_seed(&s).await), "user_principal_name");
    assert_eq!(st.user(T, "u1").await.unwrap(), None);
}

pub async fn user_by_id_or_upn_case_insensitively(db: Arc<dyn TestDb>) {
    let st = db.store();
    let s = seed();
    st.apply_seed(&s).await.unwrap();
    let alice = Some(s.users[0].clone());
    assert_eq!(st.user(T, "u1").await.unwrap(), alice);
    assert_eq!(st.user(T, "alice@contoso.onmicrosoft.com").await.unwrap(), alice);
    assert_eq!(st.user(T, "ALICE@CONTOSO.ONMICROSOFT.COM").await.unwrap(), alice);
    assert_eq!(st.user(T, "Alice@Contoso.onmicrosoft.com").await.unwrap(), alice);
    assert_eq!(st.user(T2, "u1").await.unwrap(), None);
    assert_eq!(st.user(T, "carol@contoso.onmicrosoft.com").await.unwrap(), None);
    assert_eq!(st.user(T, "U1").await.unwrap(), None, "ids are exact");
}

/// The directory lists: a tenant's users, chats and teams, ordered by id, nothing of another
/// tenant.
pub async fn directory_lists_are_per_tenant_and_ordered_by_id(db: Arc<dyn TestDb>) {
    let st = db.store();
    let mut s = seed();
    let mut other = s.users[1].clone();
    other.tenant_id = T2.into();
    s.tenants.push(teamsapps_core::model::Tenant { id: T2.into(), display_name: "Other".into() });
    s.users.insert(0, other);
    st.apply_seed(&s).await.unwrap();
    let users: Vec<String> = st.list_users(T).await.unwrap().into_iter().map(|u| u.id).collect();
    assert_eq!(users, ["u1", "u2"]);
    assert_eq!(st.list_users(T2).await.unwrap().len(), 1);
    assert_eq!(st.list_chats(T).await.unwrap(), s.chats);
    assert_eq!(st.list_teams(T).await.unwrap(), s.teams);
    assert!(st.list_chats(T2).await.unwrap().is_empty());
    assert!(st.list_teams("nobody").await.unwrap().is_empty());
}

/// Case folding of UPNs and manifest ids is ASCII-only (SQLite's `lower()`), whatever the
/// database's locale: `Ä` and `ä` are different letters to both backends.
pub async fn case_folding_is_ascii_only(db: Arc<dyn TestDb>) {
    let st = db.store();
    let user = |id: &str, upn: &str| User {
        tenant_id: T.into(),
        id: id.into(),
        user_principal_name: upn.into(),
        display_name: id.into(),
        password: None,
        roles: vec![],
        mail: None,
        account_enabled: None,
        user_type: None,
    };
    let seed = Seed {
        users: vec![user("u1", "Ärger@Contoso.example"), user("u2", "ärger@contoso.example")],
        ..Seed::default()
    };
    st.apply_seed(&seed).await.unwrap();
    assert_eq!(st.user(T, "ÄRGER@CONTOSO.EXAMPLE").await.unwrap().unwrap().id, "u1");
    assert_eq!(st.user(T, "äRGER@contoso.EXAMPLE").await.unwrap().unwrap().id, "u2");
    assert_eq!(st.user(T, "Ärger@contoso.example").await.unwrap().unwrap().id, "u1");

    st.create_app(&app(T, "x1", Some("Ä-m")), &published("x1", "1.0")).await.unwrap();
    st.create_app(&app(T, "x2", Some("ä-m")), &published("x2", "1.0")).await.unwrap();
    assert_eq!(
        conflict(st.create_app(&app(T, "x3", Some("Ä-M")), &published("x3", "1.0")).await),
        "external_id"
    );
    assert_eq!(st.get_app_by_external_id(T, "ä-M").await.unwrap().unwrap().app.id, "x2");
    assert_eq!(st.get_app_by_external_id(T, "Ä-M").await.unwrap().unwrap().app.id, "x1");
}

/// A tenant's `teamsAppSettings`: the defaults until set, then what was set last; per tenant.
pub async fn tenant_settings_default_until_set(db: Arc<dyn TestDb>) {
    let st = db.store();
    assert_eq!(st.tenant_settings(T).await.unwrap(), TenantSettings::default());
    let set = TenantSettings {
        allow_user_requests_for_app_access: true,
        is_user_personal_scope_resource_specific_consent_enabled: false,
        is_chat_resource_specific_consent_enabled: true,
    };
    st.set_tenant_settings(T, &set).await.unwrap();
    assert_eq!(st.tenant_settings(T).await.unwrap(), set);
    assert_eq!(st.tenant_settings(T2).await.unwrap(), TenantSettings::default());
    let again = TenantSettings { is_chat_resource_specific_consent_enabled: false, ..set };
    st.set_tenant_settings(T, &again).await.unwrap();
    assert_eq!(st.tenant_settings(T).await.unwrap(), again);
    assert_eq!(db.another().await.tenant_settings(T).await.unwrap(), again);
    // Seeding the directory again leaves the settings alone.
    st.apply_seed(&seed()).await.unwrap();
    st.apply_seed(&seed()).await.unwrap();
    assert_eq!(st.tenant_settings(T).await.unwrap(), again);
}

// --- catalog --------------------------------------------------------------------------------

pub async fn create_and_read_apps(db: Arc<dyn TestDb>) {
    let st = db.store();
    let a = app(T, "a1", Some("m1"));
    let d = published("a1", "1.0");
    st.create_app(&a, &d).await.unwrap();
    let expected = CatalogApp { app: a.clone(), definitions: vec![d.clone()] };
    assert_eq!(st.get_app(T, "a1").await.unwrap(), Some(expected.clone()));
    assert_eq!(st.get_app_by_external_id(T, "m1").await.unwrap(), Some(expected.clone()));
    assert_eq!(st.get_app_by_external_id(T, "M1").await.unwrap(), Some(expected.clone()));
    assert_eq!(st.get_app_by_external_id(T, "m2").await.unwrap(), None);
    assert_eq!(st.get_app_by_external_id(T2, "m1").await.unwrap(), None);
    assert_eq!(st.get_app(T, "zz").await.unwrap(), None);
    assert_eq!(st.get_app(T2, "a1").await.unwrap(), None);
    assert_eq!(st.list_apps(T).await.unwrap(), vec![expected]);
    assert!(st.list_apps(T2).await.unwrap().is_empty());

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
    st.create_app(&app(T, "b1", Some("mb")), &bare).await.unwrap();
    assert_eq!(st.get_app(T, "b1").await.unwrap().unwrap().definitions, vec![bare]);
}

pub async fn create_app_conflicts(db: Arc<dyn TestDb>) {
    let st = db.store();
    st.create_app(&app(T, "a1", Some("m1")), &published("a1", "1.0")).await.unwrap();
    // Same manifest id under another app id (in another letter case, too).
    assert_eq!(
        conflict(st.create_app(&app(T, "a2", Some("m1")), &published("a2", "1.0")).await),
        "external_id"
    );
    assert_eq!(
        conflict(st.create_app(&app(T, "a2", Some("M1")), &published("a2", "1.0")).await),
        "external_id"
    );
    // Same app id, another manifest id.
    assert_eq!(
        conflict(st.create_app(&app(T, "a1", Some("m2")), &published("a1", "1.0")).await),
        "app_id"
    );
    // Both taken: the manifest id is reported.
    assert_eq!(
        conflict(st.create_app(&app(T, "a1", Some("m1")), &published("a1", "1.0")).await),
        "external_id"
    );
    // Store apps have no external id: any number of them.
    st.create_app(&app(T, "s1", None), &published("s1", "1.0")).await.unwrap();
    st.create_app(&app(T, "s2", None), &published("s2", "1.0")).await.unwrap();
    assert_eq!(
        conflict(st.create_app(&app(T, "s1", None), &published("s1", "1.0")).await),
        "app_id"
    );
    // Other tenants are separate.
    st.create_app(&app(T2, "a1", Some("m1")), &published("a1", "1.0")).await.unwrap();
    // A failed create left nothing behind.
    assert_eq!(st.get_app(T, "a2").await.unwrap(), None);
    assert_eq!(st.list_apps(T).await.unwrap().len(), 3);
}

pub async fn add_definition_rules(db: Arc<dyn TestDb>) {
    let st = db.store();
    assert_eq!(conflict(st.add_definition(T, &published("a1", "1.0")).await), "app");
    st.create_app(&app(T, "a1", Some("m1")), &published("a1", "1.0")).await.unwrap();
    assert_eq!(conflict(st.add_definition(T2, &published("a1", "1.1")).await), "app");
    assert_eq!(conflict(st.add_definition(T, &published("a1", "1.0")).await), "version");

    let submitted = def("a1", "1.1", PublishingState::Submitted);
    st.add_definition(T, &submitted).await.unwrap();
    assert_eq!(conflict(st.add_definition(T, &submitted).await), "version");

    // Reject it; a new submission of the same version replaces the rejected one.
    let rejected = st
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
    st.add_definition(T, &resubmitted).await.unwrap();
    let a1 = st.get_app(T, "a1").await.unwrap().unwrap();
    assert_eq!(a1.definitions, vec![published("a1", "1.0"), resubmitted]);
}

/// A rejected definition replaced by a new submission keeps what references it: an
/// installation of it survives the replacement.
pub async fn replacing_a_rejected_definition_keeps_its_installations(db: Arc<dyn TestDb>) {
    let st = db.store();
    st.create_app(&app(T, "a1", Some("m1")), &def("a1", "1.0", PublishingState::Submitted))
        .await
        .unwrap();
    st.create_installation(&inst(&team_scope(), "a1", "1.0")).await.unwrap();
    let (sub, rej) = (PublishingState::Submitted, PublishingState::Rejected);
    let r = st.transition_definition(T, "a1", "1.0", sub, rej, None, "e-r", at(3, 0)).await;
    assert!(matches!(r, Ok(Transition::Done(_))), "{r:?}");
    st.add_definition(T, &def("a1", "1.0", sub)).await.unwrap();
    assert_eq!(installed_version(st.as_ref()).await, "1.0");
}

pub async fn list_apps_orders_apps_by_id_and_definitions_by_version(db: Arc<dyn TestDb>) {
    let st = db.store();
    st.create_app(&app(T, "b", Some("mb")), &published("b", "1.10.0")).await.unwrap();
    st.create_app(&app(T, "a", Some("ma")), &published("a", "2")).await.unwrap();
    st.create_app(&app(T, "c", None), &published("c", "1.0")).await.unwrap();
    for v in ["1.9.9", "1.2", "10.0.0", "1.10.1"] {
        st.add_definition(T, &published("b", v)).await.unwrap();
    }
    st.add_definition(T, &published("a", "1.99.99")).await.unwrap();
    st.create_app(&app(T2, "other", None), &published("other", "1.0")).await.unwrap();

    let apps = st.list_apps(T).await.unwrap();
    let ids: Vec<&str> = apps.iter().map(|a| a.app.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    let versions =
        |i: usize| apps[i].definitions.iter().map(|d| d.version.clone()).collect::<Vec<_>>();
    assert_eq!(versions(0), ["1.99.99", "2"]);
    assert_eq!(versions(1), ["1.2", "1.9.9", "1.10.0", "1.10.1", "10.0.0"]);
    assert_eq!(versions(2), ["1.0"]);
    assert_eq!(st.get_app(T, "b").await.unwrap().unwrap(), apps[1]);
}

/// Keys are ordered by their bytes (upper case before lower case, punctuation where its code
/// is), as SQLite orders text, whatever the database's collation.
pub async fn ordering_is_by_bytes(db: Arc<dyn TestDb>) {
    let st = db.store();
    let ids = ["ab", "B", "a-c", "_z", "a", "Z9", "a_b"];
    for (i, id) in ids.iter().enumerate() {
        st.create_app(&app(T, id, Some(&format!("m{i}"))), &published(id, "1.0")).await.unwrap();
        st.create_installation(&inst(&team_scope(), id, "1.0")).await.unwrap();
    }
    let mut by_bytes: Vec<&str> = ids.to_vec();
    by_bytes.sort_unstable();
    let listed: Vec<String> =
        st.list_apps(T).await.unwrap().into_iter().map(|a| a.app.id).collect();
    assert_eq!(listed, by_bytes);
    let installed: Vec<String> = st
        .list_installations(T, &team_scope())
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.app_id)
        .collect();
    assert_eq!(installed, by_bytes);

    // Same creation time: by kid, descending bytes.
    for kid in ["k-a", "k-B", "k-_"] {
        let key = SigningKey { kid: kid.into(), private_pem: "P".into(), created_at: at(1, 0) };
        st.add_signing_key(&key).await.unwrap();
    }
    let kids: Vec<String> = st.signing_keys().await.unwrap().into_iter().map(|k| k.kid).collect();
    assert_eq!(kids, ["k-a", "k-_", "k-B"]);
}

pub async fn transition_definition_outcomes(db: Arc<dyn TestDb>) {
    let st = db.store();
    let submitted = def("a1", "1.0", PublishingState::Submitted);
    st.create_app(&app(T, "a1", Some("m1")), &submitted).await.unwrap();
    let s = st.as_ref();
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

pub async fn delete_app_cascades(db: Arc<dyn TestDb>) {
    let st = db.store();
    catalog_with_installation(st.as_ref()).await;
    st.create_installation(&inst(&scope(ScopeKind::User, "u1"), "a1", "1.2")).await.unwrap();
    st.create_app(&app(T, "b1", Some("mb")), &published("b1", "1.0")).await.unwrap();
    st.create_installation(&inst(&team_scope(), "b1", "1.0")).await.unwrap();

    assert!(st.delete_app(T, "a1").await.unwrap());
    assert_eq!(st.get_app(T, "a1").await.unwrap(), None);
    assert_eq!(st.get_installation(T, &team_scope(), "a1").await.unwrap(), None);
    assert!(st.list_installations(T, &scope(ScopeKind::User, "u1")).await.unwrap().is_empty());
    let left = st.list_installations(T, &team_scope()).await.unwrap();
    assert_eq!(left, vec![inst(&team_scope(), "b1", "1.0")]);
    assert!(!st.delete_app(T, "a1").await.unwrap());
    assert!(!st.delete_app(T2, "b1").await.unwrap());

    // The manifest id is free again, and nothing of the old a1 comes back with a new a1: its
    // definitions went with it.
    st.create_app(&app(T, "a9", Some("m1")), &published("a9", "1.0")).await.unwrap();
    st.create_app(&app(T, "a1", Some("m-new")), &published("a1", "5.0")).await.unwrap();
    let versions: Vec<String> = st
        .get_app(T, "a1")
        .await
        .unwrap()
        .unwrap()
        .definitions
        .into_iter()
        .map(|d| d.version)
        .collect();
    assert_eq!(versions, ["5.0"]);
    assert_eq!(
        conflict(st.create_installation(&inst(&team_scope(), "a1", "1.0")).await),
        "definition"
    );
}

pub async fn delete_definition_only_in_state_and_cascades(db: Arc<dyn TestDb>) {
    let st = db.store();
    catalog_with_installation(st.as_ref()).await;
    let (sub, publ) = (PublishingState::Submitted, PublishingState::Published);
    assert!(!st.delete_definition(T, "a1", "1.3", publ).await.unwrap());
    assert!(!st.delete_definition(T, "a1", "7.0", sub).await.unwrap());
    assert!(!st.delete_definition(T2, "a1", "1.3", sub).await.unwrap());
    assert!(st.delete_definition(T, "a1", "1.3", sub).await.unwrap());
    assert!(!st.delete_definition(T, "a1", "1.3", sub).await.unwrap());
    let versions: Vec<String> = st
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
    assert!(st.delete_definition(T, "a1", "1.0", publ).await.unwrap());
    assert_eq!(st.get_installation(T, &team_scope(), "a1").await.unwrap(), None);
}

// --- installations --------------------------------------------------------------------------

pub async fn installation_lifecycle_and_conflicts(db: Arc<dyn TestDb>) {
    let st = db.store();
    let s = st.as_ref();
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

pub async fn scope_installation_reads_scope_installation_and_app_together(db: Arc<dyn TestDb>) {
    let st = db.store();
    let s = st.as_ref();
    s.apply_seed(&seed()).await.unwrap();
    let a1 = s.get_app(T, "a1").await.unwrap().expect("a1");
    let installed = s.get_installation(T, &team_scope(), "a1").await.unwrap().expect("installed");

    let found = s.scope_installation(T, ScopeKey::Team("team-1"), Some("a1")).await.unwrap();
    assert!(matches!(&found.scope, Some(ScopeEntity::Team(t)) if t.id == "team-1"));
    assert_eq!(found.installed, Some((installed, a1)));
    // No app asked: the scope alone.
    let found = s.scope_installation(T, ScopeKey::Team("team-1"), None).await.unwrap();
    assert!(found.scope.is_some() && found.installed.is_none());
    // Not installed there, or no such app: the scope without an installation.
    for app_id in ["store-1", "nope"] {
        let found = s.scope_installation(T, ScopeKey::Team("team-1"), Some(app_id)).await.unwrap();
        assert!(found.scope.is_some() && found.installed.is_none(), "{app_id}");
    }
    // Users resolve by id or UPN (case-insensitively); the installation is looked up in the
    // resolved (canonical) scope.
    let user = scope(ScopeKind::User, "u1");
    s.create_installation(&inst(&user, "a1", "1.1")).await.unwrap();
    let found = s
        .scope_installation(T, ScopeKey::User("ALICE@contoso.onmicrosoft.com"), Some("a1"))
        .await
        .unwrap();
    assert!(matches!(&found.scope, Some(ScopeEntity::User(u)) if u.id == "u1"));
    assert_eq!(found.installed.map(|(i, _)| i), Some(inst(&user, "a1", "1.1")));
    let found = s.scope_installation(T, ScopeKey::Chat("19:chat@thread.v2"), None).await.unwrap();
    assert!(matches!(found.scope, Some(ScopeEntity::Chat(_))));
    // Unknown scopes and other tenants: nothing, also no installation.
    for (tenant, key) in [
        (T, ScopeKey::Team("team-2")),
        (T, ScopeKey::User("nobody")),
        (T, ScopeKey::Chat("19:none")),
        (T2, ScopeKey::Team("team-1")),
    ] {
        let found = s.scope_installation(tenant, key, Some("a1")).await.unwrap();
        assert_eq!(found, ScopedInstallation::default(), "{tenant} {key:?}");
    }
}

pub async fn get_apps_answers_the_existing_apps_once_each(db: Arc<dyn TestDb>) {
    let st = db.store();
    let s = st.as_ref();
    s.apply_seed(&seed()).await.unwrap();
    let a1 = s.get_app(T, "a1").await.unwrap().expect("a1");
    let store_1 = s.get_app(T, "store-1").await.unwrap().expect("store-1");
    assert_eq!(
        s.get_apps(T, &["store-1", "nope", "a1", "store-1", "a\0"]).await.unwrap(),
        vec![a1.clone(), store_1]
    );
    assert_eq!(s.get_apps(T, &["a1"]).await.unwrap(), vec![a1]);
    assert!(s.get_apps(T, &[]).await.unwrap().is_empty());
    assert!(s.get_apps(T2, &["a1"]).await.unwrap().is_empty());
}

/// Many writes at once (a store may commit them together): each is answered with its own
/// outcome, a failing one changes nothing, and every acknowledged one is there.
pub async fn concurrent_writes_all_commit_and_failures_stay_alone(db: Arc<dyn TestDb>) {
    let st = db.store();
    st.create_app(&app(T, "a1", Some("m1")), &published("a1", "1.0")).await.unwrap();
    st.add_definition(T, &published("a1", "1.1")).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let st = st.clone();
        tasks.push(tokio::spawn(async move {
            let user = scope(ScopeKind::User, &format!("user-{i}"));
            // Every tenth one names a definition that does not exist: refused alone.
            let version = if i % 10 == 0 { "9.9" } else { "1.0" };
            let created = st.create_installation(&inst(&user, "a1", version)).await;
            let upgraded = match created {
                Ok(()) => Some(st.upgrade_installation(T, &user, "a1", "1.1", None).await),
                Err(_) => None,
            };
            (i, created, upgraded)
        }));
    }
    for t in tasks {
        let (i, created, upgraded) = t.await.unwrap();
        let user = scope(ScopeKind::User, &format!("user-{i}"));
        let now = st.get_installation(T, &user, "a1").await.unwrap();
        if i % 10 == 0 {
            assert_eq!(conflict(created), "definition", "{i}");
            assert_eq!(now, None, "{i}");
        } else {
            created.unwrap();
            assert_eq!(upgraded.map(Result::unwrap), Some(UpgradeOutcome::Upgraded), "{i}");
            assert_eq!(now, Some(inst(&user, "a1", "1.1")), "{i}");
        }
    }
}

pub async fn upgrade_never_moves_backwards(db: Arc<dyn TestDb>) {
    let st = db.store();
    catalog_with_installation(st.as_ref()).await;
    let s = st.as_ref();
    let team = team_scope();
    let consent = vec![perm("ChannelMessage.Read.Group", PermissionType::Application)];

    assert_eq!(
        s.upgrade_installation(T, &team, "a1", "1.2", Some(&consent)).await.unwrap(),
        UpgradeOutcome::Upgraded
    );
    let now = s.get_installation(T, &team, "a1").await.unwrap().unwrap();
    assert_eq!(now, Installation { consented: Some(consent.clone()), ..inst(&team, "a1", "1.2") });

    for older_or_same in ["1.1", "1.2", "1.0"] {
        assert_eq!(
            s.upgrade_installation(T, &team, "a1", older_or_same, None).await.unwrap(),
            UpgradeOutcome::NotNewer,
            "{older_or_same}"
        );
    }
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
    // Not installed is reported before a missing target.
    assert_eq!(
        s.upgrade_installation(T, &chat, "a1", "9.0", None).await.unwrap(),
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

pub async fn upgrade_compares_versions_numerically(db: Arc<dyn TestDb>) {
    let st = db.store();
    let s = st.as_ref();
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
    // "1.10" and "1.10.0" are one version: not newer.
    s.add_definition(T, &published("a1", "1.10.0")).await.unwrap();
    assert_eq!(
        s.upgrade_installation(T, &team_scope(), "a1", "1.10.0", None).await.unwrap(),
        UpgradeOutcome::NotNewer
    );
}

/// A second store on the same database (another node or process) sees every committed write
/// of the first at once, and the first sees its writes.
pub async fn a_second_store_sees_every_write(db: Arc<dyn TestDb>) {
    let a = db.store();
    let b = db.another().await;
    a.apply_seed(&seed()).await.unwrap();
    let key = SigningKey { kid: "k1".into(), private_pem: "PEM".into(), created_at: at(0, 1) };
    a.add_signing_key(&key).await.unwrap();
    a.upgrade_installation(T, &team_scope(), "a1", "1.1", None).await.unwrap();
    assert_eq!(b.list_apps(T).await.unwrap(), a.list_apps(T).await.unwrap());
    assert_eq!(b.signing_keys().await.unwrap(), vec![key]);
    assert_eq!(installed_version(b.as_ref()).await, "1.1");
    assert!(b.user(T, "bob@contoso.onmicrosoft.com").await.unwrap().is_some());

    b.add_definition(T, &published("a1", "1.2")).await.unwrap();
    b.upgrade_installation(T, &team_scope(), "a1", "1.2", None).await.unwrap();
    assert_eq!(installed_version(a.as_ref()).await, "1.2");
    assert!(b.delete_app(T, "store-1").await.unwrap());
    assert!(a.get_app(T, "store-1").await.unwrap().is_none());
}

/// App a1 of tenant T as each catalog read answers it (they must agree): `get_app`,
/// `get_apps` and the app of a1's installation in team-1 by `scope_installation`.
async fn a1_as_read(st: &dyn Store) -> Option<CatalogApp> {
    let one = st.get_app(T, "a1").await.unwrap();
    let many = st.get_apps(T, &["a1"]).await.unwrap();
    assert_eq!(many, one.clone().into_iter().collect::<Vec<_>>(), "get_apps vs get_app");
    let found = st.scope_installation(T, ScopeKey::Team("team-1"), Some("a1")).await.unwrap();
    if let Some((_, app)) = found.installed {
        assert_eq!(Some(app), one, "scope_installation vs get_app");
    }
    one
}

/// The versions and states of a1's definitions as both stores read them (they must agree).
async fn a1_versions(a: &dyn Store, b: &dyn Store) -> Vec<(String, PublishingState)> {
    let (on_a, on_b) = (a1_as_read(a).await, a1_as_read(b).await);
    assert_eq!(on_a, on_b, "the two stores disagree");
    on_a.map(|app| app.definitions.into_iter().map(|d| (d.version, d.publishing_state)).collect())
        .unwrap_or_default()
}

/// Catalog reads (which a store may answer from memory) show every catalog write at once,
/// whichever store or kind of write made it: definitions added, moved and deleted, apps
/// deleted, seeded, restored from a snapshot and wiped. Every step reads first, so a cache
/// holds the old catalog when the write comes.
pub async fn catalog_writes_are_visible_to_the_next_read(db: Arc<dyn TestDb>) {
    use PublishingState::{Published, Submitted};
    let (a, b) = (db.store(), db.another().await);
    let (a, b) = (a.as_ref(), b.as_ref());
    let v = |list: &[(&str, PublishingState)]| -> Vec<(String, PublishingState)> {
        list.iter().map(|(v, s)| ((*v).to_owned(), *s)).collect()
    };
    assert!(a1_versions(a, b).await.is_empty());
    a.apply_seed(&seed()).await.unwrap();
    assert_eq!(a1_versions(a, b).await, v(&[("1.0", Published), ("1.1", Published)]));

    a.add_definition(T, &def("a1", "2.0", Submitted)).await.unwrap();
    assert_eq!(
        a1_versions(b, a).await,
        v(&[("1.0", Published), ("1.1", Published), ("2.0", Submitted)])
    );
    let moved = b
        .transition_definition(T, "a1", "2.0", Submitted, Published, None, "etag-moved", at(9, 0))
        .await
        .unwrap();
    assert!(matches!(moved, Transition::Done(_)), "{moved:?}");
    assert_eq!(
        a1_versions(a, b).await,
        v(&[("1.0", Published), ("1.1", Published), ("2.0", Published)])
    );
    let etag =
        |app: Option<CatalogApp>| app.and_then(|a| a.definitions.last().map(|d| d.etag.clone()));
    assert_eq!(etag(a.get_app(T, "a1").await.unwrap()).as_deref(), Some("etag-moved"));
    assert!(b.delete_definition(T, "a1", "2.0", Published).await.unwrap());
    assert_eq!(a1_versions(a, b).await, v(&[("1.0", Published), ("1.1", Published)]));

    a.save_snapshot("catalog").await.unwrap();
    assert!(b.delete_app(T, "a1").await.unwrap());
    assert!(a1_versions(a, b).await.is_empty());
    assert!(a.restore_snapshot("catalog").await.unwrap());
    assert_eq!(a1_versions(b, a).await, v(&[("1.0", Published), ("1.1", Published)]));

    // A seed adds an app that was read as missing before.
    assert!(a.get_apps(T, &["a1", "seeded"]).await.unwrap().len() == 1);
    let extra = Seed {
        apps: vec![CatalogApp {
            app: app(T, "seeded", Some("m-seeded")),
            definitions: vec![published("seeded", "1.0")],
        }],
        ..Seed::default()
    };
    b.apply_seed(&extra).await.unwrap();
    for st in [a, b] {
        let ids: Vec<String> = st
            .get_apps(T, &["a1", "seeded"])
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.app.id)
            .collect();
        assert_eq!(ids, ["a1", "seeded"]);
    }

    b.wipe().await.unwrap();
    assert!(a1_versions(a, b).await.is_empty());
    assert!(a.get_app(T, "seeded").await.unwrap().is_none());
}

/// Ids with a NUL character (a `%00` in a URL) name nothing: every lookup, change and delete
/// by such an id answers as for an id that does not exist (PostgreSQL cannot even store one).
pub async fn ids_with_nul_name_nothing(db: Arc<dyn TestDb>) {
    let st = db.store();
    st.apply_seed(&seed()).await.unwrap();
    let s = st.as_ref();
    let (nul, team) = ("a1\0", team_scope());
    let nul_scope = scope(ScopeKind::User, "u1\0");
    assert_eq!(s.tenant("\0").await.unwrap(), None);
    assert_eq!(s.tenant_settings("\0").await.unwrap(), TenantSettings::default());
    assert_eq!(s.user(T, "u1\0").await.unwrap(), None);
    assert_eq!(s.user(T, "alice@contoso.onmicrosoft.com\0").await.unwrap(), None);
    assert_eq!(s.user("\0", "u1").await.unwrap(), None);
    assert_eq!(s.chat(T, "19:\0@thread.v2").await.unwrap(), None);
    assert_eq!(s.team(T, "\0").await.unwrap(), None);
    assert_eq!(s.application(T, "client-1\0").await.unwrap(), None);
    assert!(s.list_apps("\0").await.unwrap().is_empty());
    assert_eq!(s.get_app(T, nul).await.unwrap(), None);
    assert_eq!(s.get_app_by_external_id(T, "m1\0").await.unwrap(), None);
    assert!(s.list_installations(T, &nul_scope).await.unwrap().is_empty());
    assert_eq!(s.get_installation(T, &team, nul).await.unwrap(), None);
    assert_eq!(s.get_installation(T, &nul_scope, "a1").await.unwrap(), None);
    let (sub, publ) = (PublishingState::Submitted, PublishingState::Published);
    let r = s.transition_definition(T, nul, "1.0", sub, publ, None, "e", at(0, 0)).await.unwrap();
    assert_eq!(r, Transition::NotFound);
    let r = s.transition_definition(T, "a1", "1.0\0", sub, publ, None, "e", at(0, 0)).await;
    assert_eq!(r.unwrap(), Transition::NotFound);
    assert_eq!(
        s.upgrade_installation(T, &team, nul, "1.1", None).await.unwrap(),
        UpgradeOutcome::NotFound
    );
    assert_eq!(
        s.upgrade_installation(T, &nul_scope, "a1", "1.1", None).await.unwrap(),
        UpgradeOutcome::NotFound
    );
    assert_eq!(
        s.upgrade_installation(T, &team, "a1", "1.1\0", None).await.unwrap(),
        UpgradeOutcome::TargetMissing
    );
    assert_eq!(conflict(s.create_installation(&inst(&team, nul, "1.0")).await), "definition");
    let bad_version = inst(&scope(ScopeKind::User, "u2"), "a1", "1.0\0");
    assert_eq!(conflict(s.create_installation(&bad_version).await), "definition");
    assert!(!s.delete_installation(T, &team, nul).await.unwrap());
    assert!(!s.delete_installation(T, &nul_scope, "a1").await.unwrap());
    assert!(!s.delete_definition(T, "a1", "1.0\0", publ).await.unwrap());
    assert!(!s.delete_app(T, nul).await.unwrap());
    // Nothing changed.
    assert_eq!(s.list_apps(T).await.unwrap(), seed().apps);
    assert_eq!(s.list_installations(T, &team).await.unwrap(), seed().installations);
}

// --- concurrency ----------------------------------------------------------------------------

/// Waits for every task; panics with the first panic's message.
async fn join_all<T: Send + 'static>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.expect("a racing task panicked"));
    }
    out
}

/// The two stores a race runs on: the store under test and a second one on its database.
async fn two_nodes(db: &Arc<dyn TestDb>) -> [Arc<dyn Store>; 2] {
    [db.store(), db.another().await]
}

pub async fn racing_upgrades_end_at_the_newest(db: Arc<dyn TestDb>) {
    let st = db.store();
    catalog_with_installation(st.as_ref()).await;
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let store = Arc::clone(&st);
            let to = ["1.1", "1.2"][i % 2];
            tokio::spawn(async move {
                store.upgrade_installation(T, &team_scope(), "a1", to, None).await.unwrap()
            })
        })
        .collect();
    let upgraded =
        join_all(tasks).await.into_iter().filter(|o| *o == UpgradeOutcome::Upgraded).count();
    assert!((1..=2).contains(&upgraded), "upgraded {upgraded} times");
    assert_eq!(installed_version(st.as_ref()).await, "1.2");
}

/// Two nodes race upgrades of one installation, round after round: in each round 16 calls
/// released at once ask for the next version or the one after it, while a reader watches.
/// The version the reader sees never goes down, every call answers Upgraded or NotNewer, and
/// each round ends at the newer of its two versions, on both nodes.
pub async fn racing_upgrades_on_two_nodes_never_move_backwards(db: Arc<dyn TestDb>) {
    let nodes = two_nodes(&db).await;
    let versions: Vec<String> = (0..=30).map(|m| format!("1.{m}")).collect();
    nodes[0].create_app(&app(T, "a1", Some("m1")), &published("a1", "1.0")).await.unwrap();
    for v in &versions[1..] {
        nodes[0].add_definition(T, &published("a1", v)).await.unwrap();
    }
    nodes[0].create_installation(&inst(&team_scope(), "a1", "1.0")).await.unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (store, done) = (Arc::clone(&nodes[1]), Arc::clone(&done));
        tokio::spawn(async move {
            let mut seen = vec!["1.0".to_owned()];
            while !done.load(Ordering::Acquire) {
                let now = installed_version(store.as_ref()).await;
                if now != *seen.last().unwrap() {
                    seen.push(now);
                }
                tokio::task::yield_now().await;
            }
            seen
        })
    };
    for round in versions[1..].windows(2) {
        let (older, newer) = (&round[0], &round[1]);
        let start = Arc::new(tokio::sync::Barrier::new(16));
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let store = Arc::clone(&nodes[i % 2]);
                let to = if i % 3 == 0 { newer.clone() } else { older.clone() };
                let start = Arc::clone(&start);
                tokio::spawn(async move {
                    start.wait().await;
                    let out = store.upgrade_installation(T, &team_scope(), "a1", &to, None).await;
                    (to, out)
                })
            })
            .collect();
        for (to, out) in join_all(tasks).await {
            match out {
                Ok(UpgradeOutcome::Upgraded | UpgradeOutcome::NotNewer) => {}
                other => panic!("upgrade to {to}: {other:?}"),
            }
        }
        for node in &nodes {
            assert_eq!(&installed_version(node.as_ref()).await, newer, "round {older}/{newer}");
        }
    }
    done.store(true, Ordering::Release);
    let seen = watcher.await.expect("watcher");
    for w in seen.windows(2) {
        assert!(
            version::compare(&w[0], &w[1]).is_lt(),
            "the installation moved from {} to {}: {seen:?}",
            w[0],
            w[1]
        );
    }
}

pub async fn concurrent_creates_of_one_installation_one_wins(db: Arc<dyn TestDb>) {
    let st = db.store();
    st.create_app(&app(T, "a1", Some("m1")), &published("a1", "1.0")).await.unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = Arc::clone(&st);
            tokio::spawn(async move {
                store.create_installation(&inst(&team_scope(), "a1", "1.0")).await
            })
        })
        .collect();
    let (mut ok, mut conflicts) = (0, 0);
    for r in join_all(tasks).await {
        match r {
            Ok(()) => ok += 1,
            Err(StoreError::Conflict("installation")) => conflicts += 1,
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    assert_eq!((ok, conflicts), (1, 49));
    assert_eq!(st.list_installations(T, &team_scope()).await.unwrap().len(), 1);
}

/// Two nodes race installs of one app in each of several scopes: exactly one install per scope
/// wins, every other one is `Conflict("installation")`, and both nodes see the winners.
pub async fn racing_installs_on_two_nodes_one_wins_per_scope(db: Arc<dyn TestDb>) {
    let nodes = two_nodes(&db).await;
    nodes[0].create_app(&app(T, "a1", Some("m1")), &published("a1", "1.0")).await.unwrap();
    nodes[0].add_definition(T, &published("a1", "1.1")).await.unwrap();
    let scopes: Vec<_> = (0..8)
        .map(|i| match i % 3 {
            0 => scope(ScopeKind::User, &format!("u{i}")),
            1 => scope(ScopeKind::Chat, &format!("19:c{i}@thread.v2")),
            _ => scope(ScopeKind::Team, &format!("t{i}")),
        })
        .collect();
    let tasks: Vec<_> = (0..80)
        .map(|i| {
            let store = Arc::clone(&nodes[i % 2]);
            let target = scopes[i % scopes.len()].clone();
            let version = ["1.0", "1.1"][(i / 8) % 2];
            tokio::spawn(async move {
                let r = store.create_installation(&inst(&target, "a1", version)).await;
                (target, r)
            })
        })
        .collect();
    let mut winners = BTreeSet::new();
    for (target, r) in join_all(tasks).await {
        match r {
            Ok(()) => assert!(winners.insert(target.id.clone()), "two installs won in {target:?}"),
            Err(StoreError::Conflict("installation")) => {}
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    assert_eq!(winners.len(), scopes.len());
    for node in &nodes {
        for target in &scopes {
            assert_eq!(node.list_installations(T, target).await.unwrap().len(), 1, "{target:?}");
        }
    }
}

/// Racing creates of one app: exactly one wins, and every loser is told what it collided on,
/// with the manifest id reported before the app id as when nothing races.
pub async fn racing_app_creates_one_wins_and_name_the_conflict(db: Arc<dyn TestDb>) {
    let nodes = two_nodes(&db).await;
    /// The i-th racer's app id and manifest id, and what every loser must be told.
    struct Race {
        id: fn(usize) -> String,
        external_id: fn(usize) -> Option<String>,
        losers_hear: &'static str,
    }
    let cases = [
        // One manifest id (in two letter cases) under different app ids.
        Race {
            id: |i| format!("ext-{i}"),
            external_id: |i| Some(if i % 2 == 0 { "m-x".into() } else { "M-X".into() }),
            losers_hear: "external_id",
        },
        // One app id with different manifest ids.
        Race {
            id: |_| "same-id".into(),
            external_id: |i| Some(format!("m-id-{i}")),
            losers_hear: "app_id",
        },
        // Both the same: the manifest id is reported.
        Race {
            id: |_| "both".into(),
            external_id: |_| Some("m-both".into()),
            losers_hear: "external_id",
        },
    ];
    for Race { id: ids, external_id: externals, losers_hear: expected } in cases {
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let store = Arc::clone(&nodes[i % 2]);
                let a = TeamsApp { external_id: externals(i), ..app(T, &ids(i), Some("x")) };
                let d = published(&a.id, "1.0");
                tokio::spawn(async move { store.create_app(&a, &d).await })
            })
            .collect();
        let (mut ok, mut lost) = (0, 0);
        for r in join_all(tasks).await {
            match r {
                Ok(()) => ok += 1,
                Err(StoreError::Conflict(name)) if name == expected => lost += 1,
                Err(e) => panic!("racing creates ({expected}): {e:?}"),
            }
        }
        assert_eq!((ok, lost), (1, 15), "racing creates ({expected})");
    }
    assert_eq!(nodes[1].list_apps(T).await.unwrap().len(), 3);
}

/// Racing submissions of one version: one wins, the others are `Conflict("version")`.
pub async fn racing_definitions_of_one_version_one_wins(db: Arc<dyn TestDb>) {
    let nodes = two_nodes(&db).await;
    nodes[0].create_app(&app(T, "a1", Some("m1")), &published("a1", "1.0")).await.unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = Arc::clone(&nodes[i % 2]);
            let d = AppDefinition {
                etag: format!("e{i}"),
                ..def("a1", "2.0", PublishingState::Submitted)
            };
            tokio::spawn(async move { store.add_definition(T, &d).await })
        })
        .collect();
    let results = join_all(tasks).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "{results:?}");
    assert!(results.iter().all(|r| matches!(r, Ok(()) | Err(StoreError::Conflict("version")))));
    assert_eq!(nodes[1].get_app(T, "a1").await.unwrap().unwrap().definitions.len(), 2);
}

/// Racing approvals of one submission: exactly one is done; with the submission's etag as
/// If-Match the others fail the precondition, without it they find the state changed.
pub async fn racing_transitions_one_wins(db: Arc<dyn TestDb>) {
    let nodes = two_nodes(&db).await;
    let (sub, publ) = (PublishingState::Submitted, PublishingState::Published);
    for (app_id, if_match) in [("a1", true), ("a2", false)] {
        let submitted = def(app_id, "1.0", sub);
        nodes[0]
            .create_app(&app(T, app_id, Some(&format!("m-{app_id}"))), &submitted)
            .await
            .unwrap();
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let store = Arc::clone(&nodes[i % 2]);
                let m = if_match.then(|| submitted.etag.clone());
                tokio::spawn(async move {
                    let etag = format!("etag-{i}");
                    store
                        .transition_definition(
                            T,
                            app_id,
                            "1.0",
                            sub,
                            publ,
                            m.as_deref(),
                            &etag,
                            at(i as i64, 0),
                        )
                        .await
                        .unwrap()
                })
            })
            .collect();
        let results = join_all(tasks).await;
        let done: Vec<_> = results.iter().filter(|r| matches!(r, Transition::Done(_))).collect();
        assert_eq!(done.len(), 1, "{app_id}: {results:?}");
        let loser = if if_match { Transition::EtagMismatch } else { Transition::WrongState(publ) };
        assert!(
            results.iter().all(|r| matches!(r, Transition::Done(_)) || *r == loser),
            "{app_id}: {results:?}"
        );
        let Transition::Done(winner) = done[0] else { unreachable!() };
        let stored = nodes[1].get_app(T, app_id).await.unwrap().unwrap().definitions;
        assert_eq!(stored, vec![winner.clone()]);
    }
}

/// Two nodes applying one seed at once (two servers starting with `--seed`): both succeed and
/// the result is the seed applied once.
pub async fn concurrent_seeds_apply_once(db: Arc<dyn TestDb>) {
    let nodes = two_nodes(&db).await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&nodes[i % 2]);
            tokio::spawn(async move { store.apply_seed(&seed()).await })
        })
        .collect();
    for r in join_all(tasks).await {
        r.expect("a concurrent seed failed");
    }
    let once = db.another().await;
    let s = seed();
    assert_eq!(once.list_apps(T).await.unwrap(), s.apps);
    assert_eq!(once.list_installations(T, &team_scope()).await.unwrap(), s.installations);
    assert_eq!(once.user(T, "u1").await.unwrap(), Some(s.users[0].clone()));
}

/// Installs and upgrades race the deletion of their app's definitions and of the app: when the
/// dust settles no installation points at a definition that is gone, and every call answered
/// with a result of the contract (no backend error).
pub async fn racing_writes_and_deletes_leave_no_dangling_installation(db: Arc<dyn TestDb>) {
    let nodes = two_nodes(&db).await;
    for round in 0..3 {
        let app_id = format!("a{round}");
        nodes[0]
            .create_app(&app(T, &app_id, Some(&format!("m{round}"))), &published(&app_id, "1.0"))
            .await
            .unwrap();
        for v in ["1.1", "1.2", "1.3"] {
            nodes[0].add_definition(T, &published(&app_id, v)).await.unwrap();
        }
        let scopes: Vec<_> = (0..6).map(|i| scope(ScopeKind::User, &format!("u{i}"))).collect();
        let mut tasks = Vec::new();
        for (i, target) in scopes.iter().enumerate() {
            let (store, target, app_id) =
                (Arc::clone(&nodes[i % 2]), target.clone(), app_id.clone());
            tasks.push(tokio::spawn(async move {
                let v = ["1.0", "1.1"][i % 2];
                match store.create_installation(&inst(&target, &app_id, v)).await {
                    Ok(()) | Err(StoreError::Conflict("definition")) => {}
                    Err(e) => panic!("install: {e:?}"),
                }
                for to in ["1.2", "1.3"] {
                    match store.upgrade_installation(T, &target, &app_id, to, None).await {
                        Ok(_) => {}
                        Err(e) => panic!("upgrade: {e:?}"),
                    }
                }
            }));
        }
        {
            let (store, app_id) = (Arc::clone(&nodes[1]), app_id.clone());
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(2)).await;
                let publ = PublishingState::Published;
                store.delete_definition(T, &app_id, "1.3", publ).await.unwrap();
                store.delete_definition(T, &app_id, "1.0", publ).await.unwrap();
                if round == 2 {
                    store.delete_app(T, &app_id).await.unwrap();
                }
            }));
        }
        join_all(tasks).await;
        let versions: BTreeSet<String> = match nodes[0].get_app(T, &app_id).await.unwrap() {
            Some(a) => a.definitions.into_iter().map(|d| d.version).collect(),
            None => BTreeSet::new(),
        };
        for target in &scopes {
            for node in &nodes {
                for i in node.list_installations(T, target).await.unwrap() {
                    if i.app_id == app_id {
                        assert!(
                            versions.contains(&i.version),
                            "{target:?} has {app_id} {} but only {versions:?} exist",
                            i.version
                        );
                    }
                }
            }
        }
    }
}

// --- snapshots (test controls) ----------------------------------------------------------------

/// Everything a client can see of the seeded tenants, through every read of the contract.
async fn full_state(st: &dyn Store) -> String {
    let s = seed();
    let mut out = Vec::new();
    for tenant in [T, T2] {
        out.push(format!("{:?}", st.tenant(tenant).await.unwrap()));
        out.push(format!("{:?}", st.tenant_settings(tenant).await.unwrap()));
        out.push(format!("{:?}", st.list_apps(tenant).await.unwrap()));
        for u in &s.users {
            out.push(format!("{:?}", st.user(tenant, &u.id).await.unwrap()));
            let scope = scope(ScopeKind::User, &u.id);
            out.push(format!("{:?}", st.list_installations(tenant, &scope).await.unwrap()));
        }
        for c in &s.chats {
            out.push(format!("{:?}", st.chat(tenant, &c.id).await.unwrap()));
            let scope = scope(ScopeKind::Chat, &c.id);
            out.push(format!("{:?}", st.list_installations(tenant, &scope).await.unwrap()));
        }
        for t in &s.teams {
            out.push(format!("{:?}", st.team(tenant, &t.id).await.unwrap()));
            let scope = scope(ScopeKind::Team, &t.id);
            out.push(format!("{:?}", st.list_installations(tenant, &scope).await.unwrap()));
        }
        for a in &s.applications {
            out.push(format!("{:?}", st.application(tenant, &a.app_id).await.unwrap()));
        }
    }
    out.join("\n")
}

/// Changes every kind of data the snapshot holds.
async fn change_everything(st: &dyn Store) {
    let mut changed = seed();
    changed.users[0].display_name = "Renamed".into();
    changed.tenants[0].display_name = "Renamed tenant".into();
    st.apply_seed(&changed).await.unwrap();
    let mut settings = st.tenant_settings(T).await.unwrap();
    settings.allow_user_requests_for_app_access = !settings.allow_user_requests_for_app_access;
    st.set_tenant_settings(T, &settings).await.unwrap();
    st.create_app(&app(T, "snap-new", Some("m-snap")), &published("snap-new", "1.0"))
        .await
        .unwrap();
    st.create_installation(&inst(&scope(ScopeKind::Team, "team-1"), "snap-new", "1.0"))
        .await
        .unwrap();
    let first = st.list_apps(T).await.unwrap()[0].app.id.clone();
    assert!(st.delete_app(T, &first).await.unwrap());
}

pub async fn snapshot_restore_is_exact(db: Arc<dyn TestDb>) {
    let st = db.store();
    st.add_signing_key(&SigningKey {
        kid: "k".into(),
        private_pem: "P".into(),
        created_at: at(0, 0),
    })
    .await
    .unwrap();
    st.apply_seed(&seed()).await.unwrap();
    let before = full_state(st.as_ref()).await;
    st.save_snapshot("before").await.unwrap();
    assert_eq!(full_state(st.as_ref()).await, before, "taking a snapshot changes nothing");

    change_everything(st.as_ref()).await;
    let changed = full_state(st.as_ref()).await;
    assert_ne!(changed, before);
    assert!(st.restore_snapshot("before").await.unwrap());
    assert_eq!(full_state(st.as_ref()).await, before);
    // Another node sees the restored state.
    assert_eq!(full_state(db.another().await.as_ref()).await, before);
    // A snapshot can be restored again; an unknown one changes nothing.
    change_everything(st.as_ref()).await;
    assert!(!st.restore_snapshot("no such snapshot").await.unwrap());
    assert_eq!(full_state(st.as_ref()).await, changed);
    // Taking a snapshot under a name replaces the one of that name.
    st.save_snapshot("before").await.unwrap();
    assert!(st.restore_snapshot("before").await.unwrap());
    assert_eq!(full_state(st.as_ref()).await, changed);
    assert_eq!(st.signing_keys().await.unwrap().len(), 1, "signing keys are not in snapshots");
}

pub async fn wipe_removes_all_data_but_keys_and_snapshots(db: Arc<dyn TestDb>) {
    let st = db.store();
    let empty = full_state(st.as_ref()).await;
    st.add_signing_key(&SigningKey {
        kid: "k".into(),
        private_pem: "P".into(),
        created_at: at(0, 0),
    })
    .await
    .unwrap();
    st.apply_seed(&seed()).await.unwrap();
    let seeded = full_state(st.as_ref()).await;
    st.save_snapshot("Seeded state / with odd name ' \"").await.unwrap();
    st.wipe().await.unwrap();
    assert_eq!(full_state(st.as_ref()).await, empty);
    assert_eq!(st.signing_keys().await.unwrap().len(), 1);
    assert!(st.restore_snapshot("Seeded state / with odd name ' \"").await.unwrap());
    assert_eq!(full_state(st.as_ref()).await, seeded);
    // Writes after a restore follow the usual rules.
    assert_eq!(
        conflict(st.create_installation(&inst(&team_scope(), "a1", "1.0")).await),
        "installation"
    );
}

// --- observability --------------------------------------------------------------------------

/// Every store call runs in a span named after it (`store.<method>`) with the tenant and, where
/// the call has one, the app: a trace of a request shows which store calls it made and for
/// whom.
pub async fn every_call_runs_in_a_span_naming_it_and_its_tenant(db: Arc<dyn TestDb>) {
    use tracing::instrument::WithSubscriber;
    let st = db.store();
    st.apply_seed(&seed()).await.unwrap();
    let recorder = crate::spans::SpanRecorder::default();
    let calls = async {
        st.get_app(T, "a1").await.unwrap();
        st.get_apps(T, &["a1", "store-1"]).await.unwrap();
        st.scope_installation(T, ScopeKey::Team("team-1"), Some("a1")).await.unwrap();
        st.list_installations(T, &team_scope()).await.unwrap();
        st.add_definition(T, &published("a1", "2.0")).await.unwrap();
        st.upgrade_installation(T, &team_scope(), "a1", "2.0", None).await.unwrap();
        st.delete_installation(T, &team_scope(), "a1").await.unwrap();
        st.tenant(T).await.unwrap();
        st.signing_keys().await.unwrap();
    };
    calls.with_subscriber(recorder.clone()).await;
    let spans = recorder.spans();
    let find = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no span {name} among {spans:?}"))
    };
    for (name, app) in [
        ("store.get_app", Some("a1")),
        ("store.get_apps", None),
        ("store.scope_installation", Some("a1")),
        ("store.list_installations", None),
        ("store.add_definition", Some("a1")),
        ("store.upgrade_installation", Some("a1")),
        ("store.delete_installation", Some("a1")),
        ("store.tenant", None),
    ] {
        let span = find(name);
        assert_eq!(span.field("tenant"), Some(T), "{span:?}");
        assert_eq!(span.field("app"), app, "{span:?}");
    }
    assert_eq!(find("store.upgrade_installation").field("version"), Some("2.0"));
    assert_eq!(find("store.signing_keys").field("tenant"), None);
}
