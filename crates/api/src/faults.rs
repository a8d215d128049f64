//! Fault injection: latency and transient failures (429, 500, 502, 503, 504) on a share of Graph
//! requests, decided by seeded dice, globally or by rules matching paths or operations.

use std::sync::{Mutex, MutexGuard, PoisonError};

use rand::{Rng, SeedableRng};

use crate::settings::{FaultRule, FaultSettings};

/// What the dice decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Verdict {
    /// Latency to add first, in milliseconds.
    pub latency_ms: u64,
    /// The status to fail with, if it fails.
    pub status: Option<u16>,
}

/// The node's fault dice.
pub struct Faults {
    rng: Mutex<rand::rngs::StdRng>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn rng(seed: Option<u64>) -> rand::rngs::StdRng {
    match seed {
        Some(s) => rand::rngs::StdRng::seed_from_u64(s),
        None => rand::rngs::StdRng::from_entropy(),
    }
}

impl Faults {
    /// The same seed and the same request sequence fail the same way.
    pub fn new(seed: Option<u64>) -> Faults {
        Faults { rng: Mutex::new(rng(seed)) }
    }

    /// Starts the dice again from `seed`.
    pub fn reseed(&self, seed: Option<u64>) {
        *lock(&self.rng) = rng(seed);
    }

    /// The first matching rule decides, else the global rate.
    pub fn decide(&self, f: &FaultSettings, path: &str, operation: Option<&str>) -> Verdict {
        let rule = f.rules.iter().find(|r| rule_matches(r, path, operation));
        let (rate, statuses, latency_ms) = match rule {
            Some(r) => (r.rate, r.statuses.as_deref().unwrap_or(&f.statuses), r.latency_ms),
            None => (f.rate, &f.statuses[..], f.latency_ms),
        };
        let status = (rate > 0.0)
            .then(|| {
                let mut d = lock(&self.rng);
                let roll: f64 = d.gen();
                (roll < rate).then(|| statuses[d.gen_range(0..statuses.len())])
            })
            .flatten();
        Verdict { latency_ms, status }
    }
}

fn rule_matches(rule: &FaultRule, path: &str, op: Option<&str>) -> bool {
    if rule.paths.is_empty() && rule.operations.is_empty() {
        return true;
    }
    let unversioned =
        path.strip_prefix("/v1.0").or_else(|| path.strip_prefix("/beta")).unwrap_or(path);
    rule.paths.iter().any(|p| glob(p, path) || glob(p, unversioned))
        || op.is_some_and(|op| rule.operations.iter().any(|o| o.eq_ignore_ascii_case(op)))
}

/// `*` matches any run of characters (slashes included); everything else matches itself,
/// ASCII case-insensitively.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] != b'*' && p[pi].eq_ignore_ascii_case(&t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("/teams/*/installedApps", "/teams/abc/installedApps"));
        assert!(glob("*installedapps*", "/v1.0/chats/x/installedApps/y"));
        assert!(!glob("/teams/*/installedApps", "/teams/abc/installedApps/x"));
        assert!(glob("*", ""));
    }

    #[test]
    fn a_seed_repeats_its_verdicts() {
        let settings = FaultSettings { rate: 0.5, seed: Some(7), ..FaultSettings::default() };
        let roll =
            |f: &Faults| (0..50).map(|_| f.decide(&settings, "/v1.0/x", None)).collect::<Vec<_>>();
        let (a, b) = (Faults::new(Some(7)), Faults::new(Some(7)));
        let first = roll(&a);
        assert_eq!(first, roll(&b));
        assert!(
            first.iter().any(|v| v.status.is_some()) && first.iter().any(|v| v.status.is_none())
        );
    }
}
