//! `serve --fault-rate R` and fault rules from `--config`: the share of failed Graph requests
//! stays within binomial bounds of the rate, faults are Graph-shaped transient errors, a seed
//! repeats a run, identity requests are never faulted, and a faulted write writes nothing.

use crate::common::*;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

const KEY: &str = "faults-test-admin-key";

async fn with_config(config: Value, extra: &[&str]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("faults.json");
    std::fs::write(&file, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    let mut args = vec!["--admin-key", KEY, "--config", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    Server::start_args(&args).await
}

fn assert_transient(r: &Resp) {
    let code = match r.status.as_u16() {
        429 => "TooManyRequests",
        500 => "InternalServerError",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        other => panic!("not a transient status: {other} {}", r.body),
    };
    r.assert_error(r.status.as_u16(), code);
    if matches!(r.status.as_u16(), 429 | 503) {
        let retry = r.headers.get("retry-after").expect("Retry-After").to_str().unwrap();
        assert!(retry.parse::<f64>().unwrap() > 0.0);
    }
    if r.status == 429 {
        assert_eq!(r.body["error"]["message"], "Please retry again later.");
        assert_eq!(r.body["error"]["innerError"]["status"], "429");
    }
}

#[tokio::test]
async fn the_fault_share_stays_within_binomial_bounds_of_the_rate() {
    let s = with_config(json!({"faults": {"seed": 7}}), &["--fault-rate", "0.3"]).await;
    let reader = s.app_token(READER).await;
    let n = 400;
    let mut failed = 0;
    let mut statuses = std::collections::BTreeSet::new();
    for _ in 0..n {
        let r = s.graph(&reader).list_teams_apps("").await;
        if r.status != 200 {
            assert_transient(&r);
            statuses.insert(r.status.as_u16());
            failed += 1;
        }
    }
    // Binomial(400, 0.3): mean 120, sd 9.2; 5 sd either side.
    let (mean, sd) = (n as f64 * 0.3, (n as f64 * 0.3 * 0.7).sqrt());
    assert!((failed as f64 - mean).abs() <= 5.0 * sd, "{failed} of {n} failed");
    assert_eq!(statuses.len(), 5, "every transient status shows up: {statuses:?}");
    // Identity requests are never faulted.
    for _ in 0..30 {
        s.app_token(READER).await;
    }
}

async fn statuses_of_a_run(s: &Server) -> Vec<u16> {
    let reader = s.app_token(READER).await;
    let mut out = Vec::new();
    for _ in 0..60 {
        out.push(s.graph(&reader).list_teams_apps("").await.status.as_u16());
    }
    out
}

#[tokio::test]
async fn a_seed_repeats_a_run() {
    let config = json!({"faults": {"rate": 0.5, "seed": 42}});
    let a = statuses_of_a_run(&with_config(config.clone(), &[]).await).await;
    let b = statuses_of_a_run(&with_config(config, &[]).await).await;
    assert_eq!(a, b);
    assert!(a.contains(&200) && a.iter().any(|s| *s != 200), "{a:?}");
    let c =
        statuses_of_a_run(&with_config(json!({"faults": {"rate": 0.5, "seed": 43}}), &[]).await)
            .await;
    assert_ne!(a, c, "another seed, another run");
}

#[tokio::test]
async fn a_faulted_write_writes_nothing_and_rules_pick_operations_paths_and_latency() {
    let s = with_config(
        json!({"faults": {"rules": [
            {"operations": ["InstallAppForUser"], "rate": 1.0, "statuses": [503]},
            {"paths": ["/chats/*/installedApps"], "rate": 0.0, "latencyMs": 300},
        ]}}),
        &[],
    )
    .await;
    let admin = s.admin_token().await;
    let app = s.publish(&admin, &manifest(&new_manifest_id(), "1.0.0")).await;
    let app_id = app["id"].as_str().unwrap();
    let plain = s.app_token(PLAIN).await;
    let adele = format!("/v1.0/users/{ADELE}/teamwork/installedApps");
    for _ in 0..5 {
        let r = s.post_json(&plain, &adele, &bind(app_id)).await;
        assert_eq!(r.status, 503, "{}", r.body);
        assert_transient(&r);
    }
    let list = s.get(&plain, &adele).await;
    assert_eq!(list.status, 200, "reads are not faulted by that rule");
    assert_eq!(list.body["value"], json!([]), "the faulted installs wrote nothing");
    // Latency on the chat route only.
    let reader = s.app_token(READER).await;
    let started = Instant::now();
    let r = s.graph(&reader).list_chat_installed_apps(CHAT, "").await;
    assert_eq!(r.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(s.get(&reader, &adele).await.status, 200);
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn faults_change_at_runtime_through_the_settings_control() {
    let s = Server::start_args(&["--admin-key", KEY]).await;
    let reader = s.app_token(READER).await;
    let put = |body: Value| {
        s.client.put(s.url("/_teamsapps/settings")).bearer_auth(KEY).json(&body).send()
    };
    let r = put(json!({"faults": {"rate": 1.0, "statuses": [502]}})).await.unwrap();
    assert_eq!(r.status(), 200);
    for _ in 0..5 {
        let r = s.graph(&reader).list_teams_apps("").await;
        assert_eq!(r.status, 502);
        assert_transient(&r);
    }
    // Bad settings are refused and change nothing.
    let r = put(json!({"faults": {"rate": 2}})).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = put(json!({"fault": {}})).await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(s.graph(&reader).list_teams_apps("").await.status, 502);
    let r = put(json!({})).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(s.graph(&reader).list_teams_apps("").await.status, 200);
}

#[tokio::test]
async fn a_bad_config_file_or_rate_stops_the_server_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, "throttle:\n  mode: graph\n  limitz: {}\n").unwrap();
    for args in [
        vec!["--config".to_string(), file.to_str().unwrap().to_string()],
        vec!["--fault-rate".to_string(), "1.5".to_string()],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_teamsapps"))
            .args(["serve", "--in-memory", "--listen", "127.0.0.1:0"])
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("limitz") || err.contains("1.5"), "{err}");
    }
}
