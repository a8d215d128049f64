//! Seeding with progress: a large fixture is written in one transaction, so what can be shown
//! is what is being written and for how long. On a terminal a spinner line redraws in place;
//! elsewhere (files, pipes, JSON logs) an `info` line every few seconds.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use teamsapps_core::fixture::Fixture;
use teamsapps_core::store::Seed;
use teamsapps_core::Store;

use crate::logging::LogFormat;

/// How the fixture reads in one line: "1 tenant, 10000 users, …".
pub fn describe(fixture: &Fixture) -> String {
    let mut n = [0usize; 6];
    for t in &fixture.tenants {
        n[0] += 1;
        n[1] += t.users.len();
        n[2] += t.teams.len();
        n[3] += t.chats.len();
        n[4] += t.catalog.len();
        n[5] += t.installations.len();
    }
    let words = ["tenant", "user", "team", "chat", "catalog entry", "installation"];
    let plural = |count: usize, word: &str| match (count, word) {
        (1, w) => format!("1 {w}"),
        (c, "catalog entry") => format!("{c} catalog entries"),
        (c, w) => format!("{c} {w}s"),
    };
    n.iter().zip(words).map(|(&c, w)| plural(c, w)).collect::<Vec<_>>().join(", ")
}

/// Applies `fixture` to `store`, showing progress while it takes, and logs how long it took.
pub async fn apply_seed(
    store: &dyn Store,
    fixture: &Fixture,
    file: &Path,
    format: LogFormat,
) -> anyhow::Result<Seed> {
    let what = describe(fixture);
    let spinner = format == LogFormat::Text && std::io::stderr().is_terminal();
    // Small fixtures take milliseconds: nothing is shown for them but the final line.
    let (delay, every) = if spinner {
        (Duration::from_millis(500), Duration::from_millis(120))
    } else {
        (Duration::from_secs(5), Duration::from_secs(5))
    };
    let started = Instant::now();
    let work = teamsapps_core::fixture::apply(store, fixture);
    tokio::pin!(work);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + delay, every);
    let mut drawn = 0usize;
    let result = loop {
        tokio::select! {
            r = &mut work => break r,
            _ = ticks.tick() => {
                let secs = started.elapsed().as_secs_f64();
                if spinner {
                    const FRAMES: [char; 4] = ['|', '/', '-', '\\'];
                    let frame = FRAMES[drawn % FRAMES.len()];
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "\r\x1b[2K{frame} seeding {}: {what} ({secs:.1} s)", file.display());
                    let _ = err.flush();
                    drawn += 1;
                } else {
                    tracing::info!(file = %file.display(), elapsed_s = secs.round(), "seeding: writing {what}");
                }
            }
        }
    };
    if drawn > 0 {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K");
        let _ = err.flush();
    }
    let seed = result?;
    tracing::info!(
        file = %file.display(), tenants = seed.tenants.len(), users = seed.users.len(),
        teams = seed.teams.len(), chats = seed.chats.len(), apps = seed.apps.len(),
        installations = seed.installations.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "seed applied in {:.2} s", started.elapsed().as_secs_f64()
    );
    Ok(seed)
}
