//! `teamsapps admin …`: the test controls of a running server (`/_teamsapps/`) from the shell.

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
}

pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let key =
        args.key.context("the admin key is missing: pass --key or set TEAMSAPPS_ADMIN_KEY")?;
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
    };
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
