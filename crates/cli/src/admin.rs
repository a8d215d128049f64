//! `teamsapps admin …`: the test controls of a running server (`/_teamsapps/`) from the shell.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use teamsapps_api::settings::Settings;

#[derive(Args, Debug)]
pub struct AdminArgs {
    /// The server's base URL.
    #[arg(long, env = "TEAMSAPPS_URL", default_value = "http://127.0.0.1:8080", global = true)]
    pub url: String,
    /// The admin key the server printed at start (or was given with --admin-key).
    #[arg(long, env = "TEAMSAPPS_ADMIN_KEY", hide_env_values = true, global = true)]
    pub key: Option<String>,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Put the server back to its seed state (the fixture it started with).
    Reset,
    /// Take a named snapshot of the whole state.
    Snapshot {
        /// Letters, digits, '.', '_' or '-'.
        name: String,
    },
    /// Restore a named snapshot exactly.
    Restore { name: String },
    /// Print the throttling and fault settings, or replace them with --set.
    Settings {
        /// A settings file (YAML or JSON, the shape of `serve --config`) to apply now.
        #[arg(long)]
        set: Option<std::path::PathBuf>,
    },
    /// Print the request log (who called what, with which token, and what was answered).
    Requests {
        /// Empty the log instead.
        #[arg(long)]
        clear: bool,
    },
    /// Wait until the server is ready (GET /_teamsapps/ready answers 200; no key needed):
    /// exits 0 then, or non-zero with the last reason when --timeout passes first.
    WaitReady {
        /// How long to wait in all: e.g. 30s, 500ms, 2m (a bare number is seconds).
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        timeout: Duration,
        /// Time between attempts.
        #[arg(long, default_value = "200ms", value_parser = parse_duration)]
        interval: Duration,
        /// A PEM certificate to trust for an https --url (e.g. the cert.pem of `teamsapps cert`).
        #[arg(long, value_name = "FILE")]
        ca_cert: Option<PathBuf>,
    },
}

/// `30s`, `500ms`, `2m`, `1h` or a bare number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (number, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a duration: use e.g. 30s, 500ms or 2m"))?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("'{s}': unknown unit '{unit}' (use ms, s, m or h)")),
    };
    if !secs.is_finite() || secs <= 0.0 || secs > 86_400.0 {
        return Err(format!("'{s}' must be more than 0 and at most 24h"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Polls `/_teamsapps/ready` until it answers 200 or `timeout` passes.
async fn wait_ready(
    base: &str,
    timeout: Duration,
    interval: Duration,
    ca_cert: Option<&Path>,
) -> anyhow::Result<()> {
    let mut client = reqwest::Client::builder();
    if let Some(file) = ca_cert {
        let pem = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .with_context(|| format!("{} is not a PEM certificate", file.display()))?;
        client = client.add_root_certificate(cert);
    }
    let client = client.build().context("cannot build the HTTP client")?;
    let url = format!("{base}/_teamsapps/ready");
    let started = Instant::now();
    let deadline = started + timeout;
    let mut last;
    loop {
        // One attempt may not outlast the deadline; a server still starting may hold the
        // connection until it serves.
        let left = deadline.saturating_duration_since(Instant::now());
        let attempt = client.get(&url).timeout(left.min(Duration::from_secs(5))).send().await;
        last = match attempt {
            Ok(res) if res.status().is_success() => {
                println!("ready after {:.1} s", started.elapsed().as_secs_f64());
                return Ok(());
            }
            Ok(res) => {
                let status = res.status();
                let text = res.text().await.unwrap_or_default();
                let reason = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v["reason"].as_str().map(str::to_string))
                    .unwrap_or(text);
                format!("{url} answered {status}: {reason}")
            }
            Err(e) => format!("cannot reach {url}: {}", error_chain(&e)),
        };
        if Instant::now() + interval >= deadline {
            bail!("not ready after {:.1} s; last: {last}", started.elapsed().as_secs_f64());
        }
        tokio::time::sleep(interval).await;
    }
}

/// reqwest's message with its causes ("error sending request: … Connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let base = args.url.trim_end_matches('/');
    let client = reqwest::Client::new();
    let (method, path, body) = match &args.command {
        AdminCommand::Reset => (reqwest::Method::POST, "/_teamsapps/reset".to_string(), None),
        AdminCommand::Snapshot { name } => {
            (reqwest::Method::POST, format!("/_teamsapps/snapshots/{name}"), None)
        }
        AdminCommand::Restore { name } => {
            (reqwest::Method::POST, format!("/_teamsapps/snapshots/{name}/restore"), None)
        }
        AdminCommand::Settings { set: None } => {
            (reqwest::Method::GET, "/_teamsapps/settings".to_string(), None)
        }
        AdminCommand::Settings { set: Some(file) } => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let settings =
                Settings::parse(&text).with_context(|| format!("in {}", file.display()))?;
            (reqwest::Method::PUT, "/_teamsapps/settings".to_string(), Some(settings))
        }
        AdminCommand::Requests { clear } => {
            let method = if *clear { reqwest::Method::DELETE } else { reqwest::Method::GET };
            (method, "/_teamsapps/requests".to_string(), None)
        }
        // Readiness is public (load balancers have no key).
        AdminCommand::WaitReady { timeout, interval, ca_cert } => {
            return wait_ready(base, *timeout, *interval, ca_cert.as_deref()).await;
        }
    };
    let key =
        args.key.context("the admin key is missing: pass --key or set TEAMSAPPS_ADMIN_KEY")?;
    let mut req = client.request(method, format!("{base}{path}")).bearer_auth(key);
    if let Some(settings) = &body {
        req = req.json(settings);
    }
    let res = req.send().await.with_context(|| format!("cannot reach {base}"))?;
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    let pretty = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or(text);
    if !status.is_success() {
        bail!("the server answered {status}: {pretty}");
    }
    if !pretty.is_empty() {
        println!("{pretty}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("ten").unwrap_err().contains("not a duration"));
        assert!(parse_duration("3d").unwrap_err().contains("unknown unit"));
    }
}
