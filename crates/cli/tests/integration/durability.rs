//! `serve --durability normal|full`: parsing, help, and that the chosen setting is the one in
//! effect. `synchronous` is a per-connection setting (another process opening the file would
//! not see it), so the server reads it back from its writer connection and logs it.
//! That acknowledged writes survive kill -9 under either setting is in persistence.rs.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_teamsapps"))
}

#[test]
fn help_documents_both_durabilities() {
    let out = bin().args(["serve", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for want in ["--durability", "normal", "full", "fsync", "TEAMSAPPS_DURABILITY"] {
        assert!(text.contains(want), "serve --help lacks {want}: {text}");
    }
}

#[test]
fn an_unknown_durability_is_refused_with_the_choices() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["serve", "--listen", "127.0.0.1:0", "--durability", "fsync-sometimes", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("fsync-sometimes") && err.contains("normal") && err.contains("full"),
        "{err}"
    );
}

/// Starts `serve` with `args` and the environment `env`; returns the log once it listens.
fn start_and_log(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let log_path = dir.join(format!("log-{}", uuid::Uuid::new_v4()));
    let mut child = bin()
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir)
        .args(args)
        .envs(env.iter().copied())
        .env("TEAMSAPPS_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.starts_with("listening on "), "{line}");
    without_colours(&std::fs::read_to_string(&log_path).unwrap())
}

/// The log without ANSI escape sequences (`ESC [ … letter`).
fn without_colours(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn the_chosen_durability_is_the_one_in_effect() {
    let dir = tempfile::tempdir().unwrap();
    let log = start_and_log(dir.path(), &[], &[]);
    assert!(log.contains("durability=normal"), "default: {log}");
    let log = start_and_log(dir.path(), &["--durability", "full"], &[]);
    assert!(log.contains("durability=full"), "{log}");
    let log = start_and_log(dir.path(), &[], &[("TEAMSAPPS_DURABILITY", "full")]);
    assert!(log.contains("durability=full"), "from the environment: {log}");
}
