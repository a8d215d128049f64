//! The run: upgrades what the plan says, wave by wave, each target recorded in the journal
//! before it is sent and when it is answered; after each wave the permanent-failure rate is
//! checked against the gate. A stop request (Ctrl-C) lets the requests in flight finish.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{json, Value};

use crate::graph::{Failure, Graph};
use crate::journal::{Journal, State, Target};
use crate::plan::{AppFacts, Scope};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Cumulative shares of the targets to upgrade (e.g. 0.01, 0.1, 1.0).
    pub waves: Vec<f64>,
    /// A wave whose permanent failures exceed this share stops the run.
    pub max_failure_rate: f64,
    /// Up to 20 upgrades per `$batch`.
    pub batch: bool,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every target answered; `failed` refused for good.
    Done { failed: usize },
    /// The gate stopped it after wave `wave` (1-based) at `rate`.
    Gated { wave: usize, rate: f64 },
    /// Stopped on request; resumable.
    Stopped,
    /// The credential was refused mid-run; resumable with a working one.
    SignIn(String),
}

/// Live counters for progress lines.
#[derive(Default)]
pub struct Progress {
    pub total: AtomicUsize,
    pub done: AtomicUsize,
    pub failed: AtomicUsize,
    /// Of `done`, those answered before this run (a resume): not part of its rate.
    pub earlier: AtomicUsize,
}

fn upgrade_path(t: &Target) -> String {
    let scope = Scope::parse(&t.scope).unwrap_or(Scope::User);
    format!(
        "{}/{}/upgrade",
        scope.installed_apps(&t.resource_id),
        crate::plan::segment(&t.installation_id)
    )
}

/// What an answer means for a target: upgraded, or failed for good with (class, code, message).
fn classify(status: u16, body: &Value) -> Result<(), (String, String)> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let code = body["error"]["code"].as_str().unwrap_or("").to_string();
    let message = body["error"]["message"].as_str().unwrap_or("").to_string();
    Err((if code.is_empty() { status.to_string() } else { code }, message))
}

/// Sends one upgrade and records its answer; `Err` only for a sign-in failure.
async fn upgrade_one(
    graph: &Graph,
    journal: &Journal,
    app: &AppFacts,
    t: &Target,
    progress: &Progress,
    verifier: &Verifier,
) -> Result<bool, String> {
    let record = |r: anyhow::Result<()>| {
        if let Err(e) = r {
            tracing::error!(error = %e, "cannot write the journal");
        }
    };
    record(journal.start(t.id));
    let body = app.upgrade_body(t.needs_consent);
    match graph.call(reqwest::Method::POST, &upgrade_path(t), Some(&body)).await {
        Ok(answer) => {
            let failed = match classify(answer.status, &answer.body) {
                Ok(()) => {
                    record(journal.finish(t.id, State::Upgraded, answer.attempts, None));
                    verifier.send(t);
                    false
                }
                Err((code, message)) => {
                    record(journal.finish(
                        t.id,
                        State::Failed,
                        answer.attempts,
                        Some(("permanent", &code, &message)),
                    ));
                    true
                }
            };
            progress.done.fetch_add(1, Ordering::Relaxed);
            if failed {
                progress.failed.fetch_add(1, Ordering::Relaxed);
            }
            Ok(failed)
        }
        Err(Failure::Exhausted(m)) => {
            // Not a permanent failure: the gate does not count it, and a resume sends it again.
            record(journal.finish(t.id, State::Failed, 10, Some(("transient", "", &m))));
            progress.done.fetch_add(1, Ordering::Relaxed);
            progress.failed.fetch_add(1, Ordering::Relaxed);
            Ok(false)
        }
        Err(Failure::SignIn(m)) => Err(m),
    }
}

/// Up to 20 upgrades in one `$batch`, each item's answer handled on its own; transient items go
/// again (after the longest `Retry-After` they carry) up to ten rounds.
async fn upgrade_batch(
    graph: &Graph,
    journal: &Journal,
    app: &AppFacts,
    targets: &[Target],
    progress: &Progress,
    verifier: &Verifier,
) -> Result<usize, String> {
    let mut left: Vec<&Target> = targets.iter().collect();
    for t in &left {
        let _ = journal.start(t.id);
    }
    let mut failed = 0;
    // As for single calls: rounds with a 5xx item count against ten, 429s only against the
    // bound; what is still transient at the end is recorded as such (a resume tries again).
    let mut hard_rounds = 0u32;
    for round in 1..=MAX_BATCH_ROUNDS {
        let requests: Vec<Value> = left
            .iter()
            .map(|t| {
                json!({
                    "id": t.id.to_string(),
                    "method": "POST",
                    "url": upgrade_path(t).trim_start_matches("/v1.0").to_string(),
                    "headers": {"Content-Type": "application/json"},
                    "body": app.upgrade_body(t.needs_consent),
                })
            })
            .collect();
        let answer = match graph
            .call(reqwest::Method::POST, "/v1.0/$batch", Some(&json!({ "requests": requests })))
            .await
        {
            Ok(a) => a,
            Err(Failure::SignIn(m)) => return Err(m),
            Err(Failure::Exhausted(m)) => {
                for t in &left {
                    let _ = journal.finish(t.id, State::Failed, round, Some(("transient", "", &m)));
                }
                progress.done.fetch_add(left.len(), Ordering::Relaxed);
                progress.failed.fetch_add(left.len(), Ordering::Relaxed);
                return Ok(failed);
            }
        };
        let last_round = hard_rounds + 1 >= 10 || round == MAX_BATCH_ROUNDS;
        let responses = answer.body["responses"].as_array().cloned().unwrap_or_default();
        let mut again = Vec::new();
        let mut wait = Duration::ZERO;
        let mut hard = false;
        for t in left {
            let key = t.id.to_string();
            let item = responses.iter().find(|r| r["id"].as_str() == Some(key.as_str()));
            let status = item.and_then(|r| r["status"].as_u64()).unwrap_or(500) as u16;
            let body = item.map(|r| r["body"].clone()).unwrap_or(Value::Null);
            if matches!(status, 429 | 500 | 502 | 503 | 504) {
                hard |= status != 429;
                if !last_round {
                    let after = item
                        .and_then(|r| {
                            r["headers"]["Retry-After"]
                                .as_str()
                                .or(r["headers"]["retry-after"].as_str())
                        })
                        .and_then(|s| s.parse::<f64>().ok())
                        .unwrap_or(0.5);
                    wait = wait.max(Duration::from_secs_f64(after.clamp(0.0, 60.0)));
                    again.push(t);
                    continue;
                }
                let (code, message) = classify(status, &body).err().unwrap_or_default();
                let _ = journal.finish(
                    t.id,
                    State::Failed,
                    round,
                    Some((
                        "transient",
                        &code,
                        &format!("still {status} after {round} rounds: {message}"),
                    )),
                );
                progress.failed.fetch_add(1, Ordering::Relaxed);
                progress.done.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            match classify(status, &body) {
                Ok(()) => {
                    let _ = journal.finish(t.id, State::Upgraded, round, None);
                    verifier.send(t);
                }
                Err((code, message)) => {
                    failed += 1;
                    progress.failed.fetch_add(1, Ordering::Relaxed);
                    let _ = journal.finish(
                        t.id,
                        State::Failed,
                        round,
                        Some(("permanent", &code, &message)),
                    );
                }
            }
            progress.done.fetch_add(1, Ordering::Relaxed);
        }
        if again.is_empty() {
            return Ok(failed);
        }
        if hard {
            hard_rounds += 1;
        }
        // Spread the batches that one Retry-After would send back together.
        let spread = rand::thread_rng().gen_range(1.0..1.5);
        tokio::time::sleep(wait.mul_f64(spread)).await;
        left = again;
    }
    Ok(failed)
}

/// Rounds one batch rides out while items are throttled (as `MAX_THROTTLED` for one call).
const MAX_BATCH_ROUNDS: u32 = 200;

/// Whether a target is left to send: never sent, sent without a recorded answer (a crash),
/// or given up on after transient failures only (worth another try on resume).
fn left_to_send(t: &Target) -> bool {
    match t.state {
        State::Pending | State::InFlight => true,
        State::Failed => t.error_class.as_deref() == Some("transient"),
        _ => false,
    }
}

/// Reads upgraded installations back while the run goes on: the reads spend Graph's GET
/// budget, which upgrades (POSTs) leave idle, so verifying adds next to no wall time.
pub struct Verifier {
    tx: Option<tokio::sync::mpsc::UnboundedSender<Target>>,
}

impl Verifier {
    fn send(&self, t: &Target) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(t.clone());
        }
    }
}

/// Readers that verify what the run upgrades, until every sender is dropped.
fn start_verifier(
    graph: Arc<Graph>,
    journal: Arc<Journal>,
    readers: usize,
) -> (Arc<Verifier>, tokio::task::JoinSet<()>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Target>();
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..readers {
        let (g, j, rx) = (graph.clone(), journal.clone(), rx.clone());
        set.spawn(async move {
            loop {
                let next = rx.lock().await.recv().await;
                let Some(t) = next else { break };
                if let Err(e) = verify_one(&g, &j, &t).await {
                    tracing::error!(error = %e, "cannot write the journal");
                }
            }
        });
    }
    (Arc::new(Verifier { tx: Some(tx) }), set)
}

/// Runs the journal's remaining targets.
pub async fn run(
    graph: Arc<Graph>,
    journal: Arc<Journal>,
    app: Arc<AppFacts>,
    opts: &RunOptions,
    stop: Arc<AtomicBool>,
    progress: Arc<Progress>,
) -> anyhow::Result<Outcome> {
    // The waves cut the plan's upgradable targets in plan order, so a resumed run keeps them.
    let all = journal.targets()?;
    let upgradable: Vec<&Target> =
        all.iter().filter(|t| !matches!(t.state, State::Current | State::Blocked)).collect();
    let total = upgradable.len();
    progress.total.store(total, Ordering::Relaxed);
    let earlier = upgradable.iter().filter(|t| !left_to_send(t)).count();
    progress.done.store(earlier, Ordering::Relaxed);
    progress.earlier.store(earlier, Ordering::Relaxed);
    let (verifier, mut readers) = start_verifier(graph.clone(), journal.clone(), VERIFY_READERS);
    let outcome =
        waves(&graph, &journal, &app, opts, &stop, &progress, &upgradable, &verifier).await;
    // Let the readers finish what was upgraded, whatever ended the run.
    drop(verifier);
    while readers.join_next().await.is_some() {}
    if let Some(outcome) = outcome? {
        return Ok(outcome);
    }
    let failed = journal.targets()?.iter().filter(|t| t.state == State::Failed).count();
    Ok(Outcome::Done { failed })
}

/// Reads in flight at once for verification (Graph allows twice as many GETs as POSTs).
const VERIFY_READERS: usize = 8;

/// The waves; `Some` when one ended the run early.
#[allow(clippy::too_many_arguments)]
async fn waves(
    graph: &Arc<Graph>,
    journal: &Arc<Journal>,
    app: &Arc<AppFacts>,
    opts: &RunOptions,
    stop: &Arc<AtomicBool>,
    progress: &Arc<Progress>,
    upgradable: &[&Target],
    verifier: &Arc<Verifier>,
) -> anyhow::Result<Option<Outcome>> {
    let total = upgradable.len();
    let mut start = 0;
    for (w, share) in opts.waves.iter().enumerate() {
        let end = ((share * total as f64).ceil() as usize).clamp(start, total);
        let wave: Vec<Target> = upgradable[start..end]
            .iter()
            .filter(|t| left_to_send(t))
            .map(|t| (*t).clone())
            .collect();
        let in_wave = end - start;
        start = end;
        if wave.is_empty() {
            continue;
        }
        tracing::info!(wave = w + 1, targets = wave.len(), "wave starts");
        let failed = Arc::new(AtomicUsize::new(0));
        let sign_in: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
        let mut set = tokio::task::JoinSet::new();
        let chunks: Vec<Vec<Target>> = if opts.batch {
            wave.chunks(20).map(|c| c.to_vec()).collect()
        } else {
            wave.into_iter().map(|t| vec![t]).collect()
        };
        for chunk in chunks {
            if stop.load(Ordering::Relaxed) || sign_in.lock().map(|s| s.is_some()).unwrap_or(true) {
                break;
            }
            let permit = graph.concurrency.acquire().await;
            let (g, j, a, p, f, s, v) = (
                graph.clone(),
                journal.clone(),
                app.clone(),
                progress.clone(),
                failed.clone(),
                sign_in.clone(),
                verifier.clone(),
            );
            let batch = opts.batch;
            set.spawn(async move {
                let r = if batch {
                    upgrade_batch(&g, &j, &a, &chunk, &p, &v).await
                } else {
                    upgrade_one(&g, &j, &a, &chunk[0], &p, &v).await.map(usize::from)
                };
                match r {
                    Ok(n) => {
                        f.fetch_add(n, Ordering::Relaxed);
                    }
                    Err(m) => {
                        if let Ok(mut s) = s.lock() {
                            s.get_or_insert(m);
                        }
                    }
                }
                drop(permit);
            });
        }
        while set.join_next().await.is_some() {}
        if let Some(m) = sign_in.lock().ok().and_then(|s| s.clone()) {
            return Ok(Some(Outcome::SignIn(m)));
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(Some(Outcome::Stopped));
        }
        let rate = failed.load(Ordering::Relaxed) as f64 / in_wave.max(1) as f64;
        if rate > opts.max_failure_rate && w + 1 < opts.waves.len() {
            return Ok(Some(Outcome::Gated { wave: w + 1, rate }));
        }
    }
    Ok(None)
}

/// Reads one upgraded installation back and records the version it reports; real Graph is
/// eventually consistent, so a lagging read is retried a few times. True when it matches.
async fn verify_one(graph: &Graph, journal: &Journal, t: &Target) -> anyhow::Result<bool> {
    let scope = Scope::parse(&t.scope).unwrap_or(Scope::User);
    let path = format!(
        "{}/{}?$expand=teamsAppDefinition",
        scope.installed_apps(&t.resource_id),
        crate::plan::segment(&t.installation_id)
    );
    let mut seen = String::new();
    for attempt in 0..4 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
        }
        match graph.call(reqwest::Method::GET, &path, None).await {
            Ok(a) if a.ok() => {
                seen = a.body["teamsAppDefinition"]["version"].as_str().unwrap_or("").to_string();
                if seen == t.to_version {
                    break;
                }
            }
            Ok(a) => seen = format!("HTTP {}", a.status),
            Err(e) => seen = e.to_string(),
        }
    }
    journal.set_verified(t.id, &seen)?;
    Ok(seen == t.to_version)
}

/// The final pass: reads back each upgraded installation not yet seen at the target version
/// (those the run's readers missed, or saw lagging); returns how many still are not.
pub async fn verify(graph: &Arc<Graph>, journal: &Arc<Journal>) -> anyhow::Result<usize> {
    let unseen: Vec<Target> = journal
        .targets()?
        .into_iter()
        .filter(|t| t.state == State::Upgraded)
        .filter(|t| t.verified_version.as_deref() != Some(t.to_version.as_str()))
        .collect();
    let mut set = tokio::task::JoinSet::new();
    let permits = Arc::new(tokio::sync::Semaphore::new(VERIFY_READERS));
    for t in unseen {
        let (g, j, permits) = (graph.clone(), journal.clone(), permits.clone());
        set.spawn(async move {
            let _permit = permits.acquire_owned().await;
            verify_one(&g, &j, &t).await
        });
    }
    let mut mismatches = 0;
    while let Some(done) = set.join_next().await {
        if !done?? {
            mismatches += 1;
        }
    }
    Ok(mismatches)
}

/// A line for logs and terminals: done of total, failures, rate and time left.
pub fn progress_line(p: &Progress, started: Instant, concurrency: usize) -> String {
    let (total, done, failed) = (
        p.total.load(Ordering::Relaxed),
        p.done.load(Ordering::Relaxed),
        p.failed.load(Ordering::Relaxed),
    );
    let secs = started.elapsed().as_secs_f64().max(0.001);
    let rate = done.saturating_sub(p.earlier.load(Ordering::Relaxed)) as f64 / secs;
    let eta = if rate > 0.0 && total > done { (total - done) as f64 / rate } else { 0.0 };
    format!(
        "{done}/{total} answered, {failed} failed, {rate:.1}/s, about {eta:.0} s left, {concurrency} in flight at most"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(state: State, class: Option<&str>) -> Target {
        Target {
            id: 1,
            scope: "user".into(),
            resource_id: "u".into(),
            installation_id: "i".into(),
            from_version: "1.0.0".into(),
            to_version: "2.0.0".into(),
            needs_consent: false,
            state,
            reason: None,
            attempts: 0,
            repeats: 0,
            error_class: class.map(str::to_string),
            error_code: None,
            error_message: None,
            verified_version: None,
        }
    }

    #[test]
    fn a_resumed_run_sends_what_has_no_answer_and_what_failed_only_transiently() {
        assert!(left_to_send(&target(State::Pending, None)));
        assert!(left_to_send(&target(State::InFlight, None)));
        assert!(left_to_send(&target(State::Failed, Some("transient"))));
        assert!(!left_to_send(&target(State::Failed, Some("permanent"))));
        for done in [State::Upgraded, State::Current, State::Blocked] {
            assert!(!left_to_send(&target(done, None)));
        }
    }
}
