//! `serve --throttle graph` (spec 8.2): token buckets per app, tenant and request class, the
//! per-10-seconds cap and the per-team cap; Graph's 429 envelope with `Retry-After` and the
//! `RateLimit-*` headers; a throttled write writes nothing. Limits are made small with
//! `--config` so that the tests are fast.

use crate::common::*;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

const KEY: &str = "throttle-test-admin-key";

/// A server with `--throttle graph` and the given limits (the rest as Graph's).
async fn throttled(limits: Value) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("limits.json");
    std::fs::write(&config, json!({"throttle": {"limits": limits}}).to_string()).unwrap();
    let s = Server::start_args(&[
        "--throttle",
        "graph",
        "--admin-key",
        KEY,
        "--config",
        config.to_str().unwrap(),
    ])
    .await;
    drop(dir); // the config was read at start
    s
}

fn header<'a>(r: &'a Resp, name: &str) -> &'a str {
    r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("no {name}"))
}

/// Asserts the exact 429 of spec 8.2 and returns `Retry-After` in seconds.
fn assert_throttled(r: &Resp, limit: &str) -> f64 {
    r.assert_error(429, "TooManyRequests");
    let rid = header(r, "request-id");
    let inner = &r.body["error"]["innerError"];
    assert_eq!(
        r.body,
        json!({"error": {"code": "TooManyRequests", "message": "Please retry again later.",
            "innerError": {"code": "429", "message": "Please retry after", "status": "429",
                "date": inner["date"], "request-id": rid, "client-request-id": rid}}})
    );
    let retry: f64 = header(r, "retry-after").parse().expect("Retry-After is seconds");
    assert!(retry > 0.0 && retry <= 10.0, "{retry}");
    assert_eq!(header(r, "ratelimit-limit"), limit);
    assert_eq!(header(r, "ratelimit-remaining"), "0");
    let reset: u64 = header(r, "ratelimit-reset").parse().unwrap();
    assert!(reset >= 1 && (reset as f64) >= retry.floor(), "{reset} {retry}");
    retry
}

#[tokio::test]
async fn over_the_limit_graph_answers_429_with_retry_after_and_ratelimit_headers() {
    let s = throttled(json!({"get": 3, "delete": 2})).await;
    let reader = s.app_token(READER).await;
    let path = "/v1.0/appCatalogs/teamsApps";
    for i in 0..3 {
        assert_eq!(s.get(&reader, path).await.status, 200, "request {i}");
    }
    let r = s.get(&reader, path).await;
    let retry = assert_throttled(&r, "3");
    // Retry-After is what the bucket needs: after it, the next request passes.
    tokio::time::sleep(Duration::from_secs_f64(retry + 0.05)).await;
    assert_eq!(s.get(&reader, path).await.status, 200);
    // Other classes and other apps have buckets of their own.
    let del = format!("/v1.0/users/{ADELE}/teamwork/installedApps/bm90aGVyZQ==");
    let rollout = s.app_token(ROLLOUT).await;
    assert_eq!(s.get(&rollout, path).await.status, 200, "another app");
    assert_eq!(s.delete(&rollout, &del).await.status, 404, "another class");
    assert_eq!(s.delete(&rollout, &del).await.status, 404);
    assert_throttled(&s.delete(&rollout, &del).await, "2");
    // Identity requests are never throttled.
    for _ in 0..5 {
        s.app_token(READER).await;
    }
}

#[tokio::test]
async fn off_by_default_and_the_defaults_are_graphs_numbers() {
    let s = Server::start_args(&["--admin-key", KEY]).await;
    let settings = s
        .client
        .get(s.url("/_teamsapps/settings"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(settings["throttle"]["mode"], "off");
    assert_eq!(
        settings["throttle"]["limits"],
        json!({"get": 60.0, "postPut": 30.0, "patch": 30.0, "delete": 15.0,
               "perTenSeconds": 15000.0, "perTeamPerSecond": 4.0})
    );
    let reader = s.app_token(READER).await;
    for _ in 0..80 {
        assert_eq!(s.graph(&reader).list_teams_apps("").await.status, 200);
    }
}

/// Sends `path` as fast as one client can for `window`; returns (passed, elapsed seconds).
async fn burst(s: &Server, token: &str, path: &str, window: Duration) -> (usize, f64) {
    let started = Instant::now();
    let mut passed = 0;
    let mut n = 0;
    while started.elapsed() < window && n < 20_000 {
        n += 1;
        let r = s.get(token, path).await;
        match r.status.as_u16() {
            200 => passed += 1,
            429 => {}
            other => panic!("{other}: {}", r.body),
        }
    }
    assert!(n > passed, "the burst never reached the limit ({n} requests)");
    (passed, started.elapsed().as_secs_f64())
}

#[tokio::test]
async fn pass_rate_under_a_burst_stays_within_ten_percent_of_the_limit() {
    let s = throttled(json!({"get": 25})).await;
    let reader = s.app_token(READER).await;
    let (passed, secs) =
        burst(&s, &reader, "/v1.0/appCatalogs/teamsApps", Duration::from_secs(3)).await;
    // A full bucket (one second's worth) plus the refill while the burst lasted.
    let expected = 25.0 + 25.0 * secs;
    let share = passed as f64 / expected;
    assert!((0.9..=1.1).contains(&share), "{passed} passed in {secs:.2}s; expected {expected:.1}");
}

/// The aliases of a team's installations (lifecycle spec 2) reach the same team: one limit.
#[tokio::test]
async fn the_team_limit_counts_the_team_aliases_too() {
    let s = throttled(json!({"get": 1000, "perTeamPerSecond": 4})).await;
    let reader = s.app_token(READER).await;
    for path in [
        format!("/v1.0/teams/{TEAM}/installedApps"),
        format!("/v1.0/groups/{TEAM}/team/installedApps"),
        format!("/beta/users/{ADELE}/joinedTeams/{TEAM}/installedApps"),
        format!("/v1.0/groups/{TEAM}/team/installedApps"),
    ] {
        assert_eq!(s.get(&reader, &path).await.status, 200, "{path}");
    }
    let r = s.get(&reader, &format!("/v1.0/users/{MEGAN}/joinedTeams/{TEAM}/installedApps")).await;
    assert_throttled(&r, "4");
}

#[tokio::test]
async fn at_most_the_team_limit_per_second_on_one_team() {
    let s = throttled(json!({"get": 1000, "perTeamPerSecond": 4})).await;
    let reader = s.app_token(READER).await;
    let team = format!("/v1.0/teams/{TEAM}/installedApps");
    for _ in 0..4 {
        assert_eq!(s.get(&reader, &team).await.status, 200);
    }
    assert_throttled(&s.get(&reader, &team).await, "4");
    // Not on chats, nor for another app on that team.
    let chat = format!("/v1.0/chats/{}/installedApps", enc(CHAT));
    for _ in 0..6 {
        assert_eq!(s.get(&reader, &chat).await.status, 200);
    }
    let rollout = s.app_token(ROLLOUT).await;
    assert_eq!(s.get(&rollout, &team).await.status, 200);
    // Over a longer burst the team passes 4 per second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (passed, secs) = burst(&s, &reader, &team, Duration::from_secs(3)).await;
    let expected = 4.0 + 4.0 * secs;
    assert!(
        (passed as f64 - expected).abs() <= (expected * 0.1).max(1.0),
        "{passed} passed in {secs:.2}s; expected {expected:.1}"
    );
}

#[tokio::test]
async fn the_ten_second_cap_counts_every_class() {
    let s = throttled(json!({"get": 1000, "delete": 1000, "perTenSeconds": 6})).await;
    let reader = s.app_token(READER).await;
    for _ in 0..4 {
        assert_eq!(s.graph(&reader).list_teams_apps("").await.status, 200);
    }
    let del = format!("/v1.0/users/{ADELE}/teamwork/installedApps/bm90aGVyZQ==");
    for _ in 0..2 {
        assert_ne!(s.delete(&reader, &del).await.status, 429);
    }
    let r = s.graph(&reader).list_teams_apps("").await;
    let retry = assert_throttled(&r, "6");
    // 6 per 10 s refills one request every 1.67 s.
    assert!(retry <= 10.0 / 6.0 + 0.001, "{retry}");
}

#[tokio::test]
async fn a_throttled_write_writes_nothing() {
    let s = throttled(json!({"postPut": 1})).await;
    let admin = s.admin_token().await;
    let app = s.publish(&admin, &manifest(&new_manifest_id(), "1.0.0")).await;
    let app_id = app["id"].as_str().unwrap();
    // Another app than the publisher's (the bucket is per app).
    let rollout = s.app_token(PLAIN).await;
    let megan = format!("/v1.0/users/{MEGAN}/teamwork/installedApps");
    let adele = format!("/v1.0/users/{ADELE}/teamwork/installedApps");
    assert_eq!(s.post_json(&rollout, &megan, &bind(app_id)).await.status, 201);
    let r = s.post_json(&rollout, &adele, &bind(app_id)).await;
    assert_throttled(&r, "1");
    let list = s.get(&rollout, &adele).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["value"], json!([]), "the throttled install wrote nothing");
}
