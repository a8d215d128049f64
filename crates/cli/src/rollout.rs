//! `teamsapps rollout plan|run|resume|status|report`: the rollout engine (crates/rollout) on
//! the command line. Exit codes: 0 all done, 1 some targets failed for good, 2 usage or sign-in
//! error, 3 stopped by the failure-rate gate, 130 stopped by Ctrl-C (resumable).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};
use teamsapps_rollout::graph::{Concurrency, Graph, SignIn};
use teamsapps_rollout::journal::{Journal, State};
use teamsapps_rollout::plan::{self, AppFacts, PlanOptions, Scope};
use teamsapps_rollout::run::{self, Outcome, Progress, RunOptions};

#[derive(Args, Debug)]
pub struct RolloutArgs {
    #[command(subcommand)]
    command: RolloutCommand,
}

#[derive(Subcommand, Debug)]
enum RolloutCommand {
    /// Find every installation of the app and write the plan into the journal.
    Plan(PlanArgs),
    /// Upgrade what the plan says, wave by wave (plans first when the journal has no plan).
    Run(RunArgs),
    /// Finish an interrupted run with the options recorded in the journal.
    Resume(ResumeArgs),
    /// Where the rollout stands, per scope and state.
    Status(StatusArgs),
    /// One row per target, as CSV, JSON or a self-contained HTML page.
    Report(ReportArgs),
}

#[derive(Args, Debug, Clone)]
struct SignInArgs {
    /// Microsoft Graph's base URL, or a teamsapps server's (http://127.0.0.1:PORT).
    #[arg(long, default_value = "https://graph.microsoft.com")]
    graph: String,
    /// The identity platform's base URL, or a teamsapps server's.
    #[arg(long, default_value = "https://login.microsoftonline.com")]
    authority: String,
    /// The tenant (directory) id.
    #[arg(long)]
    tenant: Option<String>,
    /// The app registration's application (client) id.
    #[arg(long)]
    client_id: Option<String>,
    /// The app registration's client secret (never written to the journal).
    #[arg(long, env = "TEAMSAPPS_ROLLOUT_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
}

#[derive(Args, Debug, Clone)]
struct PlanOpts {
    /// The catalog app id, or its manifest id (externalId).
    #[arg(long)]
    app: Option<String>,
    /// The version to move to (default: the newest published definition).
    #[arg(long)]
    to_version: Option<String>,
    /// Scopes to include, comma-separated.
    #[arg(long, default_value = "user,chat,team")]
    scope: String,
    /// A CSV of `scope,id` lines restricting the targets (users, chats, teams).
    #[arg(long)]
    targets: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct PlanArgs {
    /// The journal file (SQLite); created when missing.
    #[arg(long)]
    journal: PathBuf,
    #[command(flatten)]
    sign_in: SignInArgs,
    #[command(flatten)]
    plan: PlanOpts,
    /// Print the plan as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct RunArgs {
    #[arg(long)]
    journal: PathBuf,
    #[command(flatten)]
    sign_in: SignInArgs,
    #[command(flatten)]
    plan: PlanOpts,
    /// Cumulative shares of the targets per wave, e.g. `1%,10%,100%`.
    #[arg(long, default_value = "100%")]
    waves: String,
    /// Stop after a wave whose permanent failures exceed this share (0 to 1).
    #[arg(long, default_value_t = 0.05)]
    max_failure_rate: f64,
    /// Requests in flight: `auto` (adapts to throttling, 4 to 32) or a fixed number.
    #[arg(long, default_value = "auto")]
    concurrency: String,
    /// Send up to 20 upgrades per JSON batch.
    #[arg(long)]
    batch: bool,
}

#[derive(Args, Debug)]
struct ResumeArgs {
    #[arg(long)]
    journal: PathBuf,
    /// The client secret (the journal keeps every other option).
    #[arg(long, env = "TEAMSAPPS_ROLLOUT_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
}

#[derive(Args, Debug)]
struct StatusArgs {
    #[arg(long)]
    journal: PathBuf,
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Csv,
    Json,
    Html,
}

#[derive(Args, Debug)]
struct ReportArgs {
    #[arg(long)]
    journal: PathBuf,
    #[arg(long, value_enum)]
    format: Format,
    /// Write here instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Every option but the secret, as the journal keeps them.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Recorded {
    graph: String,
    authority: String,
    tenant: String,
    client_id: String,
    plan: PlanOptions,
    waves: Vec<f64>,
    max_failure_rate: f64,
    concurrency: Option<usize>,
    batch: bool,
}

/// A usage or sign-in problem: exit code 2, with the message saying what to do.
struct Usage(anyhow::Error);

type Code = Result<u8, Usage>;

fn usage<T>(e: anyhow::Error) -> Result<T, Usage> {
    Err(Usage(e))
}

pub async fn run(args: RolloutArgs) -> u8 {
    let result = match args.command {
        RolloutCommand::Plan(a) => plan_cmd(a).await,
        RolloutCommand::Run(a) => run_cmd(a).await,
        RolloutCommand::Resume(a) => resume_cmd(a).await,
        RolloutCommand::Status(a) => status_cmd(a),
        RolloutCommand::Report(a) => report_cmd(a),
    };
    match result {
        Ok(code) => code,
        Err(Usage(e)) => {
            eprintln!("error: {e:#}");
            2
        }
    }
}

fn scopes(s: &str) -> anyhow::Result<Vec<Scope>> {
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.trim().is_empty()) {
        let scope = Scope::parse(part)
            .with_context(|| format!("--scope: unknown scope '{part}' (user, chat, team)"))?;
        if !out.contains(&scope) {
            out.push(scope);
        }
    }
    if out.is_empty() {
        bail!("--scope names no scope: use user, chat and/or team");
    }
    Ok(out)
}

fn waves(s: &str) -> anyhow::Result<Vec<f64>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let p = part.trim();
        let value = match p.strip_suffix('%') {
            Some(n) => n.trim().parse::<f64>().map(|v| v / 100.0),
            None => p.parse::<f64>(),
        }
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0 && *v <= 1.0)
        .with_context(|| format!("--waves: '{p}' is not a share between 0% and 100%"))?;
        if out.last().is_some_and(|last| value <= *last) {
            bail!("--waves must grow: {s}");
        }
        out.push(value);
    }
    if out.last() != Some(&1.0) {
        out.push(1.0);
    }
    Ok(out)
}

fn plan_options(p: &PlanOpts) -> anyhow::Result<PlanOptions> {
    let app = p.app.clone().context("--app is needed: the catalog app id or its manifest id")?;
    let targets = p.targets.as_deref().map(plan::read_targets).transpose()?;
    Ok(PlanOptions { app, to_version: p.to_version.clone(), scopes: scopes(&p.scope)?, targets })
}

fn sign_in(s: &SignInArgs) -> anyhow::Result<(String, String, String)> {
    let tenant = s.tenant.clone().context("--tenant is needed: the directory (tenant) id")?;
    let client = s.client_id.clone().context("--client-id is needed: the app registration's id")?;
    let secret = s.client_secret.clone().filter(|x| !x.is_empty()).context(
        "the client secret is needed: pass --client-secret or set TEAMSAPPS_ROLLOUT_CLIENT_SECRET",
    )?;
    Ok((tenant, client, secret))
}

fn graph_for(r: &Recorded, secret: String) -> anyhow::Result<Arc<Graph>> {
    let concurrency = match r.concurrency {
        Some(n) => Concurrency::new(n, n),
        None => Concurrency::new(4, 32),
    };
    let sign_in = SignIn {
        graph: r.graph.clone(),
        authority: r.authority.clone(),
        tenant: r.tenant.clone(),
        client_id: r.client_id.clone(),
        client_secret: secret,
    };
    Ok(Arc::new(Graph::new(sign_in, concurrency)?))
}

/// Plans into the journal; prints the plan.
async fn make_plan(journal: &Journal, graph: &Arc<Graph>, r: &Recorded, json: bool) -> Code {
    let app = plan::app_facts(graph, &r.plan).await.map_err(Usage)?;
    eprintln!("planning {} ({}) to version {}", app.display_name, app.app_id, app.to_version);
    // A line every 5 s while discovery goes on (a tenant of 80,000 users takes many minutes).
    let discovery = Arc::new(plan::Discovery::default());
    let ticker = {
        let d = discovery.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                tracing::info!("{}", d.line());
            }
        })
    };
    let found = plan::discover(graph, &r.plan, &app, &discovery).await;
    ticker.abort();
    let targets = found.map_err(Usage)?;
    let meta = [
        ("options", serde_json::to_string(r).unwrap_or_default()),
        ("app", serde_json::to_string(&app).unwrap_or_default()),
    ];
    journal.write_plan(&meta, &targets).map_err(Usage)?;
    print_plan(journal, json).map_err(Usage)?;
    Ok(0)
}

fn print_plan(journal: &Journal, json: bool) -> anyhow::Result<()> {
    let targets = journal.targets()?;
    // Per scope and installed version: current, to upgrade, needing consent, blocked (why).
    let mut rows: std::collections::BTreeMap<(String, String), [usize; 4]> = Default::default();
    let mut reasons: std::collections::BTreeMap<String, usize> = Default::default();
    for t in &targets {
        let row = rows.entry((t.scope.clone(), t.from_version.clone())).or_default();
        match t.state {
            State::Current => row[0] += 1,
            State::Blocked => {
                row[3] += 1;
                *reasons.entry(t.reason.clone().unwrap_or_default()).or_default() += 1;
            }
            _ => {
                row[1] += 1;
                if t.needs_consent {
                    row[2] += 1;
                }
            }
        }
    }
    if json {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|((scope, from), [c, u, n, b])| {
                serde_json::json!({"scope": scope, "fromVersion": from, "current": c,
                    "toUpgrade": u, "needsConsent": n, "blocked": b})
            })
            .collect();
        let out =
            serde_json::json!({"rows": list, "blockedReasons": reasons, "targets": targets.len()});
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "{:<6} {:<14} {:>8} {:>11} {:>14} {:>8}",
        "scope", "from version", "current", "to upgrade", "needs consent", "blocked"
    );
    for ((scope, from), [c, u, n, b]) in &rows {
        println!("{scope:<6} {from:<14} {c:>8} {u:>11} {n:>14} {b:>8}");
    }
    for (reason, n) in &reasons {
        println!("blocked: {n} target(s) {reason}");
    }
    println!("{} installation(s) found", targets.len());
    Ok(())
}

async fn plan_cmd(a: PlanArgs) -> Code {
    let (tenant, client_id, secret) = sign_in(&a.sign_in).map_err(Usage)?;
    let recorded = Recorded {
        graph: a.sign_in.graph.clone(),
        authority: a.sign_in.authority.clone(),
        tenant,
        client_id,
        plan: plan_options(&a.plan).map_err(Usage)?,
        waves: vec![1.0],
        max_failure_rate: 0.05,
        concurrency: None,
        batch: false,
    };
    let created = !a.journal.exists();
    let journal = Journal::open(&a.journal).map_err(Usage)?;
    refuse_replanning(&journal, &a.journal).map_err(Usage)?;
    let graph = graph_for(&recorded, secret).map_err(Usage)?;
    let planned = make_plan(&journal, &graph, &recorded, a.json).await;
    if planned.is_err() && created {
        remove_journal(journal, &a.journal);
    }
    planned
}

/// Removes a journal this command created and could not plan into: a failed plan leaves no
/// file behind.
fn remove_journal(journal: Journal, path: &Path) {
    drop(journal);
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

/// A new plan replaces the targets: refused once a run has recorded answers, which it would
/// lose.
fn refuse_replanning(journal: &Journal, path: &Path) -> anyhow::Result<()> {
    let started = journal
        .targets()?
        .iter()
        .filter(|t| matches!(t.state, State::InFlight | State::Upgraded | State::Failed))
        .count();
    if started > 0 {
        bail!(
            "the journal {} already records a run ({started} target(s) answered or in flight); a new plan would replace them. Continue it with `teamsapps rollout resume --journal {}`, or plan into a new journal file",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

async fn run_cmd(a: RunArgs) -> Code {
    let (tenant, client_id, secret) = sign_in(&a.sign_in).map_err(Usage)?;
    let concurrency = match a.concurrency.as_str() {
        "auto" => None,
        n => Some(n.parse::<usize>().ok().filter(|n| (1..=256).contains(n)).ok_or_else(|| {
            Usage(anyhow::anyhow!("--concurrency: 'auto' or 1 to 256, not '{n}'"))
        })?),
    };
    if !(0.0..=1.0).contains(&a.max_failure_rate) {
        return usage(anyhow::anyhow!("--max-failure-rate must be between 0 and 1"));
    }
    let waves = waves(&a.waves).map_err(Usage)?;
    // Bad plan options are refused before the journal file is created.
    let fresh = if a.journal.exists() { None } else { Some(plan_options(&a.plan).map_err(Usage)?) };
    let journal = Journal::open(&a.journal).map_err(Usage)?;
    let has_plan = journal.has_plan().map_err(Usage)?;
    let plan = match fresh.clone() {
        Some(plan) => plan,
        None if has_plan => {
            let plan = recorded(&journal).map_err(Usage)?.plan;
            if let Some(app) = a.plan.app.as_deref().filter(|app| *app != plan.app) {
                return usage(anyhow::anyhow!(
                    "the journal {} holds a plan for the app '{}', not '{app}': name a new journal file for another app",
                    a.journal.display(),
                    plan.app
                ));
            }
            plan
        }
        None => plan_options(&a.plan).map_err(Usage)?,
    };
    let r = Recorded {
        graph: a.sign_in.graph.clone(),
        authority: a.sign_in.authority.clone(),
        tenant,
        client_id,
        plan,
        waves,
        max_failure_rate: a.max_failure_rate,
        concurrency,
        batch: a.batch,
    };
    let graph = graph_for(&r, secret).map_err(Usage)?;
    if !has_plan {
        if let Err(e) = make_plan(&journal, &graph, &r, false).await {
            if fresh.is_some() {
                remove_journal(journal, &a.journal);
            }
            return Err(e);
        }
    }
    journal.set_meta("options", &serde_json::to_string(&r).unwrap_or_default()).map_err(Usage)?;
    execute(journal, graph, &r, &a.journal).await
}

fn recorded(journal: &Journal) -> anyhow::Result<Recorded> {
    let text = journal.meta("options")?.context("the journal has no recorded options")?;
    Ok(serde_json::from_str(&text)?)
}

async fn resume_cmd(a: ResumeArgs) -> Code {
    let journal = Journal::open_existing(&a.journal).map_err(Usage)?;
    let r = recorded(&journal).map_err(Usage)?;
    let secret = a.client_secret.filter(|s| !s.is_empty()).ok_or_else(|| {
        Usage(anyhow::anyhow!(
            "the client secret is needed: pass --client-secret or set TEAMSAPPS_ROLLOUT_CLIENT_SECRET (the journal never keeps it)"
        ))
    })?;
    let graph = graph_for(&r, secret).map_err(Usage)?;
    execute(journal, graph, &r, &a.journal).await
}

async fn execute(journal: Journal, graph: Arc<Graph>, r: &Recorded, path: &Path) -> Code {
    // Sign in before anything else, so a wrong secret says so even when nothing is left to do.
    graph.roles().await.map_err(|e| Usage(anyhow::anyhow!("{e}")))?;
    let app: AppFacts = journal
        .meta("app")
        .map_err(Usage)?
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| Usage(anyhow::anyhow!("the journal's plan has no app facts: plan again")))?;
    let journal = Arc::new(journal);
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\nstopping: letting the requests in flight finish (Ctrl-C again to quit at once)");
                stop.store(true, Ordering::Relaxed);
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        });
    }
    let progress = Arc::new(Progress::default());
    let started = Instant::now();
    let display =
        crate::rollout_progress::start(progress.clone(), graph.concurrency.clone(), started);
    let opts =
        RunOptions { waves: r.waves.clone(), max_failure_rate: r.max_failure_rate, batch: r.batch };
    let outcome =
        run::run(graph.clone(), journal.clone(), Arc::new(app), &opts, stop, progress.clone())
            .await
            .map_err(Usage)?;
    display.finish();
    let resume = format!("teamsapps rollout resume --journal {}", path.display());
    match outcome {
        Outcome::Done { failed } => {
            let mismatches = run::verify(&graph, &journal).await.map_err(Usage)?;
            let counts = journal.counts().map_err(Usage)?;
            for ((scope, state), n) in &counts {
                eprintln!("{scope}: {n} {}", state.as_str());
            }
            eprintln!(
                "throttled {} time(s), {} retries; {mismatches} upgraded installation(s) read back at another version",
                graph.throttled.load(Ordering::Relaxed),
                graph.retries.load(Ordering::Relaxed)
            );
            if failed > 0 {
                eprintln!(
                    "{failed} target(s) failed for good: see `teamsapps rollout report --journal {} --format csv`",
                    path.display()
                );
                return Ok(1);
            }
            Ok(0)
        }
        Outcome::Gated { wave, rate } => {
            eprintln!(
                "stopped after wave {wave}: {:.1}% of its targets failed for good (over --max-failure-rate {:.1}%). Look at the failures (`teamsapps rollout report --journal {} --format csv`), fix their cause, then `{resume}`",
                rate * 100.0,
                r.max_failure_rate * 100.0,
                path.display()
            );
            Ok(3)
        }
        Outcome::Stopped => {
            eprintln!("stopped; nothing is lost: continue with `{resume}`");
            Ok(130)
        }
        Outcome::SignIn(m) => usage(anyhow::anyhow!(
            "{m}. Fix the credential (a new client secret, admin consent), then `{resume}`"
        )),
    }
}

fn status_cmd(a: StatusArgs) -> Code {
    let journal = Journal::open_existing(&a.journal).map_err(Usage)?;
    let counts = journal.counts().map_err(Usage)?;
    if a.json {
        let mut out = serde_json::Map::new();
        for ((scope, state), n) in &counts {
            let e = out.entry(scope.clone()).or_insert_with(|| serde_json::json!({}));
            e[state.as_str()] = serde_json::json!(n);
        }
        println!("{}", serde_json::Value::Object(out));
    } else {
        for ((scope, state), n) in &counts {
            println!("{scope:<6} {:<10} {n}", state.as_str());
        }
    }
    Ok(0)
}

fn report_cmd(a: ReportArgs) -> Code {
    let journal = Journal::open_existing(&a.journal).map_err(Usage)?;
    let targets = journal.targets().map_err(Usage)?;
    let text = match a.format {
        Format::Csv => teamsapps_rollout::report::csv(&targets),
        Format::Json => serde_json::to_string_pretty(&teamsapps_rollout::report::json(&targets))
            .unwrap_or_default(),
        Format::Html => teamsapps_rollout::report::html(&targets, "teamsapps rollout report"),
    };
    match a.out {
        Some(path) => std::fs::write(&path, text)
            .with_context(|| format!("cannot write {}", path.display()))
            .map_err(Usage)?,
        // A reader that stops early (`| head`) is not an error.
        None => match std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                return usage(anyhow::anyhow!("cannot write the report to standard output: {e}"))
            }
            _ => {}
        },
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waves_are_cumulative_shares_ending_at_everything() {
        assert_eq!(waves("1%,10%,100%").unwrap(), vec![0.01, 0.1, 1.0]);
        assert_eq!(waves("0.5").unwrap(), vec![0.5, 1.0]);
        assert!(waves("10%,5%").is_err());
        assert!(waves("0%").is_err());
        assert!(waves("abc").is_err());
    }

    #[test]
    fn scopes_parse_and_refuse_unknown_names() {
        assert_eq!(scopes("user, team").unwrap(), vec![Scope::User, Scope::Team]);
        assert!(scopes("group").is_err());
    }
}
