//! Durability (architecture section 1: the database and the token signing key live in `--data`
//! and survive restarts; the seed is applied idempotently): a clean SIGTERM restart keeps every
//! write and every token valid, and kill -9 in the middle of a write load loses no write that
//! was acknowledged.

use crate::common::*;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

/// Everything a client can observe about the tenant: catalog apps with their definitions and
/// the installations of every scope with their installed version and consent.
async fn snapshot(s: &Server, admin: &str, app: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let r = s.graph(admin).list_teams_apps("$expand=appDefinitions").await;
    assert_eq!(r.status, 200, "{}", r.body);
    for a in r.body["value"].as_array().unwrap() {
        let mut defs: Vec<Value> = a["appDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| json!([d["id"], d["version"], d["publishingState"], d["@odata.etag"]]))
            .collect();
        defs.sort_by_key(|d| d.to_string());
        out.insert(
            format!("app {}", a["id"].as_str().unwrap()),
            json!({"externalId": a["externalId"], "displayName": a["displayName"], "defs": defs}),
        );
    }
    for user in [MEGAN, ADELE, LEE] {
        scope_snapshot(s, app, &format!("/v1.0/users/{user}/teamwork/installedApps"), &mut out)
            .await;
    }
    for chat in [CHAT, MEETING_CHAT] {
        scope_snapshot(s, app, &format!("/v1.0/chats/{}/installedApps", enc(chat)), &mut out).await;
    }
    scope_snapshot(s, app, &format!("/v1.0/teams/{TEAM}/installedApps"), &mut out).await;
    out
}

async fn scope_snapshot(s: &Server, token: &str, base: &str, out: &mut BTreeMap<String, Value>) {
    let r = s
        .get(
            token,
            &format!(
                "{base}?$expand=teamsApp,teamsAppDefinition&$select=id,consentedPermissionSet"
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{base}: {}", r.body);
    let items = r.body["value"].as_array().unwrap();
    let mut seen = BTreeSet::new();
    for i in items {
        let id = i["id"].as_str().unwrap().to_string();
        assert!(seen.insert(id.clone()), "{base}: installation {id} listed twice: {}", r.body);
        out.insert(
            format!("{base} {id}"),
            json!({
                "app": i["teamsApp"]["id"],
                "version": i["teamsAppDefinition"]["version"],
                "consent": i["consentedPermissionSet"],
            }),
        );
    }
}

async fn installation_id(s: &Server, token: &str, base: &str, mid: &str) -> String {
    let r = s.get(token, &format!("{base}?$filter=teamsApp/externalId eq '{mid}'")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let list = r.body["value"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{base}: exactly one installation of {mid}: {}", r.body);
    list[0]["id"].as_str().unwrap().to_string()
}

async fn jwks_kids(s: &Server) -> Vec<String> {
    let res = s.client.get(s.url(&format!("/{TENANT}/discovery/v2.0/keys"))).send().await.unwrap();
    let keys: Value = res.json().await.unwrap();
    keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

fn kid_of(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    v["kid"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_sigterm_restart_keeps_every_write_every_token_and_applies_the_seed_idempotently() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = Server::spawn(dir.path(), &[]);
    let admin = s.admin_token().await;
    let app = s.app_token(ROLLOUT).await;
    let reader = s.app_token(READER).await;

    // Publish, install in every scope, update, upgrade; plus a submission and an RSC consent.
    let mid = new_manifest_id();
    let created = s.publish(&admin, &manifest(&mid, "1.0.0")).await;
    let app_id = created["id"].as_str().unwrap().to_string();
    let user = format!("/v1.0/users/{ADELE}/teamwork/installedApps");
    let chat = format!("/v1.0/chats/{}/installedApps", enc(CHAT));
    let team = format!("/v1.0/teams/{TEAM}/installedApps");
    for base in [&user, &chat, &team] {
        let r = s.post_json(&app, base, &bind(&app_id)).await;
        assert!(r.status == 201 || r.status == 200, "{base}: {}", r.body);
    }
    let rsc = [("ChatMessage.Read.Chat", "Application")];
    let m2 = with_rsc(manifest(&mid, "1.1.0"), &rsc);
    s.update(&admin, &app_id, &m2).await;
    let consent = json!({"consentedPermissionSet": {"resourceSpecificPermissions": [
        {"permissionValue": "ChatMessage.Read.Chat", "permissionType": "application"}]}});
    for base in [&user, &chat, &team] {
        let inst = installation_id(&s, &app, base, &mid).await;
        let r = s.post_json(&app, &format!("{base}/{inst}/upgrade"), &consent).await;
        assert_eq!(r.status, 204, "{base}: {}", r.body);
    }
    let sub_mid = new_manifest_id();
    let r = s.graph(&admin).publish_teams_app(&manifest(&sub_mid, "1.0.0"), true).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let before = snapshot(&s, &admin, &app).await;
    let kids_before = jwks_kids(&s).await;
    assert!(kids_before.contains(&kid_of(&app)));

    assert!(s.terminate(), "SIGTERM must end the server cleanly (exit status 0)\n{}", s.log());

    let s = Server::spawn(dir.path(), &[]);
    // Tokens issued before the restart still verify: the signing key persisted.
    for (what, token) in [("admin", &admin), ("rollout", &app), ("reader", &reader)] {
        let r = s.graph(token).list_teams_apps("").await;
        assert_eq!(r.status, 200, "{what} token after restart: {}", r.body);
    }
    assert_eq!(jwks_kids(&s).await, kids_before, "the key set is unchanged");
    let fresh = s.app_token(ROLLOUT).await;
    assert_eq!(kid_of(&fresh), kid_of(&app), "new tokens are signed with the persisted key");

    // Exactly the same state: nothing duplicated by the re-applied seed, nothing lost.
    let after = snapshot(&s, &admin, &app).await;
    assert_eq!(after, before, "state after restart differs");
    let r = s.graph(&app).list_teams_apps(&format!("$filter=externalId eq '{mid}'")).await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 1, "{}", r.body);
    for base in [&user, &chat, &team] {
        let inst = installation_id(&s, &app, base, &mid).await;
        let r = s
            .get(
                &app,
                &format!(
                    "{base}/{inst}?$expand=teamsAppDefinition&$select=id,consentedPermissionSet"
                ),
            )
            .await;
        assert_eq!(r.body["teamsAppDefinition"]["version"], "1.1.0", "{base}: {}", r.body);
        assert_eq!(
            r.body["consentedPermissionSet"]["resourceSpecificPermissions"][0]["permissionValue"],
            "ChatMessage.Read.Chat",
            "{base}: {}",
            r.body
        );
    }
    // The seed's principals still sign in, once each.
    let _ = s.user_token(NOPERM, "lee@contoso.example", "lee-pw").await;
    let _ = s.app_token_in(TENANT_B, FAB).await;

    // The restarted server keeps writing, and a second restart (kill -9 this time, after the
    // writes were acknowledged) keeps those too.
    let mid3 = new_manifest_id();
    let third = s.publish(&admin, &manifest(&mid3, "1.0.0")).await;
    let r = s.graph(&app).install_app_for_user(LEE, third["id"].as_str().unwrap()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let before2 = snapshot(&s, &admin, &app).await;
    let mut s = s;
    s.kill9();
    let s = Server::spawn(dir.path(), &[]);
    let after2 = snapshot(&s, &admin, &app).await;
    assert_eq!(after2, before2, "state after the second restart differs");
    assert_eq!(after2.len(), before.len() + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_in_the_middle_of_concurrent_installs_loses_no_acknowledged_install() {
    kill_9_during_installs(&[]).await;
}

/// The same with `--durability full` (an fsync per commit group): concurrent writes share
/// commits, and still no acknowledged one is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_with_full_durability_loses_no_acknowledged_install() {
    kill_9_during_installs(&["--durability", "full"]).await;
}

async fn kill_9_during_installs(extra: &[&str]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = Server::spawn(dir.path(), extra);
    let admin = s.admin_token().await;
    let token = s.app_token(ROLLOUT).await;

    const APPS: usize = 60;
    let mut apps = Vec::with_capacity(APPS);
    for _ in 0..APPS {
        let created = s.publish(&admin, &manifest(&new_manifest_id(), "1.0.0")).await;
        apps.push(created["id"].as_str().unwrap().to_string());
    }
    // Jobs interleave users so every moment has writes for several scopes in flight.
    let users = [ADELE, MEGAN, LEE];
    let mut jobs: Vec<(String, String)> = Vec::new();
    for a in &apps {
        for u in users {
            jobs.push((u.to_string(), a.clone()));
        }
    }
    let total = jobs.len();
    jobs.reverse();
    let queue = Arc::new(Mutex::new(jobs));
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let refused: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    // Requests that got no answer: in flight at the kill, or sent after it.
    let cut = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (queue, acked, refused, client) =
            (queue.clone(), acked.clone(), refused.clone(), client.clone());
        let cut = cut.clone();
        let (base, token) = (s.base.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let Some((user, app)) = queue.lock().unwrap().pop() else { break };
                let res = client
                    .post(format!("{base}/v1.0/users/{user}/teamwork/installedApps"))
                    .bearer_auth(&token)
                    .json(&bind(&app))
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status() == 201 => acked.lock().unwrap().push((user, app)),
                    Ok(r) => {
                        let status = r.status();
                        let body = r.text().await.unwrap_or_default();
                        refused.lock().unwrap().push(format!("{user} {app}: {status} {body}"));
                    }
                    // The server is gone (killed): stop.
                    Err(_) => {
                        cut.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        break;
                    }
                }
            }
        }));
    }
    // Kill once a third of the writes were acknowledged, with the rest in flight or queued.
    let threshold = total / 3;
    let started = std::time::Instant::now();
    while acked.lock().unwrap().len() < threshold && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    s.kill9();
    let acked_at_kill = acked.lock().unwrap().len();
    for t in tasks {
        t.await.expect("worker");
    }
    let acked = acked.lock().unwrap().clone();
    let refused = refused.lock().unwrap().clone();
    assert!(
        refused.is_empty(),
        "installs refused while the server was up:\n{}",
        refused.join("\n")
    );
    assert!(acked_at_kill >= threshold, "only {acked_at_kill} installs acknowledged within 60 s");
    assert!(
        acked.len() < total,
        "all {total} installs finished before the kill: the kill did not hit a write in flight"
    );

    let s = Server::spawn(dir.path(), extra);
    let mut present: BTreeSet<(String, String)> = BTreeSet::new();
    for u in users {
        let r = s.graph(&token).list_user_installed_apps(u, "$expand=teamsApp").await;
        assert_eq!(r.status, 200, "{}", r.body);
        for i in r.body["value"].as_array().unwrap() {
            let pair = (u.to_string(), i["teamsApp"]["id"].as_str().unwrap().to_string());
            assert!(
                present.insert(pair.clone()),
                "installation listed twice after restart: {pair:?}"
            );
        }
    }
    let missing: Vec<&(String, String)> = acked.iter().filter(|p| !present.contains(*p)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged installs are missing after kill -9 and restart ({} present, {} attempted): {missing:?}",
        missing.len(),
        acked.len(),
        present.len(),
        total
    );
    let unknown: Vec<&(String, String)> = present
        .iter()
        .filter(|(u, a)| !(users.contains(&u.as_str()) && apps.contains(a)))
        .collect();
    assert!(unknown.is_empty(), "installations nobody asked for: {unknown:?}");
    eprintln!(
        "kill -9 after {acked_at_kill} acknowledged installs; {} acknowledged in total, {} cut off, {} present after restart, {total} attempted",
        acked.len(),
        cut.load(std::sync::atomic::Ordering::SeqCst),
        present.len()
    );
    // The catalog written before the load is intact.
    let r = s.graph(&admin).list_teams_apps("").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let listed = r.body["value"].as_array().unwrap();
    assert_eq!(listed.len(), APPS, "catalog after restart: {}", r.body);
    assert!(listed.iter().all(|a| apps.iter().any(|id| a["id"] == id.as_str())));

    // The database is healthy: the remaining installs go through after the restart.
    let mut done = 0;
    for u in users {
        for a in &apps {
            if !present.contains(&(u.to_string(), a.clone())) {
                let r = s.graph(&token).install_app_for_user(u, a).await;
                assert_eq!(r.status, 201, "{u} {a}: {}", r.body);
                done += 1;
            }
        }
    }
    for u in users {
        let r = s.graph(&token).list_user_installed_apps(u, "$count=true").await;
        assert_eq!(r.body["value"].as_array().unwrap().len(), APPS, "{u}: {}", r.body);
    }
    assert_eq!(present.len() + done, total);
}
