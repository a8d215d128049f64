//! The command line as users meet it: help, environment variables, migrate, package, and clear
//! failures for bad configuration.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::common::*;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_teamsapps"))
}

#[test]
fn every_command_has_help() {
    for args in
        [&["--help"][..], &["serve", "--help"], &["migrate", "--help"], &["package", "--help"]]
    {
        let out = bin().args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage:"), "{args:?}: {text}");
    }
    let serve =
        String::from_utf8(bin().args(["serve", "--help"]).output().unwrap().stdout).unwrap();
    for flag in
        ["--listen", "--data", "--database-url", "--in-memory", "--seed", "TEAMSAPPS_LISTEN"]
    {
        assert!(serve.contains(flag), "serve --help lacks {flag}");
    }
}

#[tokio::test]
async fn environment_variables_configure_serve() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = bin()
        .arg("serve")
        .env("TEAMSAPPS_LISTEN", "127.0.0.1:0")
        .env("TEAMSAPPS_DATABASE_URL", format!("sqlite://{}", dir.path().join("env.db").display()))
        .env("TEAMSAPPS_SEED", fixture_path())
        .env("TEAMSAPPS_UPGRADE_WHEN_CURRENT", "bad-request")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.trim().strip_prefix("listening on ").expect("listening line").to_string();
    let (status, body) = {
        let r = reqwest::Client::new()
            .post(format!("{base}/{TENANT}/oauth2/v2.0/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", READER.0),
                ("client_secret", READER.1),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 200, "the seed from TEAMSAPPS_SEED was applied: {body}");
    assert!(dir.path().join("env.db").exists(), "TEAMSAPPS_DATABASE_URL chose the file");
}

#[test]
fn migrate_creates_the_schema_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = bin().args(["migrate", "--data"]).arg(dir.path()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("schema is up to date"));
    }
    assert!(dir.path().join("teamsapps.db").exists());
}

#[test]
fn package_builds_a_zip_the_server_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/apps/hello/manifest.json");
    let out_zip = dir.path().join("app.zip");
    let out = bin()
        .args(["package", "--version", "2.3.4", "--manifest"])
        .arg(&manifest)
        .arg("--out")
        .arg(&out_zip)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&out_zip).unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("manifest.json").unwrap(), &mut text).unwrap();
    let m: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(m["version"], "2.3.4");
    assert!(zip.by_name("color.png").is_ok() && zip.by_name("outline.png").is_ok());
}

#[test]
fn bad_configuration_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let bad_seed = dir.path().join("seed.yaml");
    std::fs::write(&bad_seed, "tenants:\n  - id: not-a-guid\n").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "serve".into(),
                "--in-memory".into(),
                "--seed".into(),
                bad_seed.display().to_string(),
            ],
            "not a GUID",
        ),
        (
            vec!["serve".into(), "--in-memory".into(), "--seed".into(), "/nonexistent.yaml".into()],
            "cannot read",
        ),
        (
            vec!["serve".into(), "--database-url".into(), "postgres://localhost/x".into()],
            "postgres",
        ),
        (vec!["serve".into(), "--database-url".into(), "mysql://x".into()], "unsupported"),
        (vec!["serve".into(), "--listen".into(), "nonsense".into()], "invalid"),
    ];
    for (args, expect) in cases {
        let out = bin().args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "{args:?}: stderr lacks '{expect}': {err}");
        assert!(out.stdout.is_empty(), "nothing on stdout when failing: {args:?}");
    }
}
