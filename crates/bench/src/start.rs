//! `teamsapps-bench start LOG PATTERN -- COMMAND...`: starts a server in the background and
//! times its start-up: from spawning COMMAND to the first line of its standard output
//! (written to LOG) that contains PATTERN, or with PATTERN `tcp:HOST:PORT` (a server that
//! says nothing when quiet) to the first accepted connection. Prints `{"pid", "url", "ms"}`;
//! the server keeps running after this process exits (the caller stops it by its pid).

use std::fs::File;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::json;

pub fn start(log: &str, pattern: &str, command: &[String]) -> anyhow::Result<()> {
    let (program, args) = command.split_first().context("no command to start")?;
    let out = File::create(log).with_context(|| format!("creating {log}"))?;
    let err = File::create(format!("{log}.err"))?;
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let tcp = pattern.strip_prefix("tcp:");
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(addr) = tcp {
            if std::net::TcpStream::connect(addr).is_ok() {
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                println!(
                    "{}",
                    json!({"pid": child.id(), "url": format!("http://{addr}"), "ms": ms})
                );
                return Ok(());
            }
        } else if let Some(line) = text.lines().find(|l| l.contains(pattern)) {
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            let url = line
                .split_whitespace()
                .find(|w| w.starts_with("http://"))
                .map(|w| w.trim_end_matches('/').to_string());
            println!("{}", json!({"pid": child.id(), "url": url, "ms": ms}));
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            let err = std::fs::read_to_string(format!("{log}.err")).unwrap_or_default();
            bail!("{program} exited ({status}) before printing '{pattern}': {text}{err}");
        }
        if started.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            bail!("{program} did not print '{pattern}' within 300 s");
        }
        std::thread::sleep(Duration::from_micros(if tcp.is_some() { 5000 } else { 500 }));
    }
}
