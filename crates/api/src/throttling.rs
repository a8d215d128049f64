//! Graph's throttling (spec 8.2): token buckets per tenant, app and request class, the cap per
//! 10 s per app, and the per-team limit, refused with 429 and `Retry-After`.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::http::Method;
use teamsapps_core::principal::Principal;

use crate::error::ApiError;
use crate::settings::Limits;

/// Bucket count above which full (idle) buckets are dropped.
const MAX_BUCKETS: usize = 50_000;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The node's buckets.
#[derive(Default)]
pub struct Throttle {
    buckets: Mutex<HashMap<String, Bucket>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Throttle {
    /// Every bucket starts full again.
    pub fn clear(&self) {
        lock(&self.buckets).clear();
    }

    /// Takes one token from every bucket the request draws on, or none when one is empty.
    pub fn take(
        &self,
        limits: &Limits,
        method: &Method,
        path: &str,
        principal: &Principal,
    ) -> Result<(), ApiError> {
        let (class, rate) = match *method {
            Method::GET | Method::HEAD => ("get", limits.get),
            Method::PATCH => ("patch", limits.patch),
            Method::DELETE => ("delete", limits.delete),
            _ => ("post", limits.post_put),
        };
        let base = format!("{}|{}", principal.tenant_id, principal.app_id);
        // (key, capacity, refill per second)
        let mut wanted = vec![
            (format!("{base}|{class}"), rate, rate),
            (format!("{base}|all"), limits.per_ten_seconds, limits.per_ten_seconds / 10.0),
        ];
        if let Some(team) = team_of(path) {
            wanted.push((
                format!("{base}|team|{}", team.to_ascii_lowercase()),
                limits.per_team_per_second,
                limits.per_team_per_second,
            ));
        }
        let now = Instant::now();
        let mut buckets = lock(&self.buckets);
        if buckets.len() > MAX_BUCKETS {
            buckets.retain(|_, b| b.at.elapsed() < Duration::from_secs(10));
        }
        let mut refused: Option<(f64, f64)> = None; // (capacity, retry after)
        for (key, capacity, refill) in &wanted {
            let b = buckets.entry(key.clone()).or_insert(Bucket { tokens: *capacity, at: now });
            let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
            b.tokens = (b.tokens + elapsed * refill).min(*capacity);
            b.at = now;
            if b.tokens < 1.0 {
                let wait = (1.0 - b.tokens) / refill;
                match refused {
                    Some((_, w)) if w >= wait => {}
                    _ => refused = Some((*capacity, wait)),
                }
            }
        }
        if let Some((capacity, wait)) = refused {
            let mut e = ApiError::too_many_requests(wait);
            e.headers.push(("ratelimit-limit", format!("{}", capacity.floor() as u64)));
            e.headers.push(("ratelimit-remaining", "0".into()));
            e.headers.push(("ratelimit-reset", format!("{}", wait.ceil().max(1.0) as u64)));
            return Err(e);
        }
        for (key, _, _) in &wanted {
            if let Some(b) = buckets.get_mut(key) {
                b.tokens -= 1.0;
            }
        }
        Ok(())
    }
}

/// The team of a `/teams/{team}/…` path, or of its aliases `/groups/{group}/team/…` and
/// `…/joinedTeams/{team}/…` (lifecycle spec 2): one team, one limit, whichever path reaches it.
fn team_of(path: &str) -> Option<&str> {
    let segs: Vec<&str> = path.split('/').collect();
    let id = |i: usize| segs.get(i).copied().filter(|s| !s.is_empty());
    segs.iter().enumerate().find_map(|(i, s)| match *s {
        "teams" | "joinedTeams" => id(i + 1),
        "groups" if segs.get(i + 2) == Some(&"team") => id(i + 1),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn team_of_a_path() {
        assert_eq!(team_of("/v1.0/teams/t1/installedApps"), Some("t1"));
        assert_eq!(team_of("/v1.0/chats/c/installedApps"), None);
        assert_eq!(team_of("/v1.0/groups/t1/team/installedApps/x/upgrade"), Some("t1"));
        assert_eq!(team_of("/beta/users/u/joinedTeams/t1/installedApps"), Some("t1"));
        assert_eq!(team_of("/v1.0/me/joinedTeams/t1/installedApps"), Some("t1"));
        assert_eq!(team_of("/v1.0/users/u/joinedTeams"), None);
        assert_eq!(team_of("/v1.0/groups/g/permissionGrants"), None);
        assert_eq!(team_of("/v1.0/teams"), None);
    }

    #[test]
    fn retry_after_is_seconds_with_a_fraction() {
        assert_eq!(crate::error::retry_after_text(2.128), "2.128");
        assert_eq!(crate::error::retry_after_text(1.0), "1");
        assert_eq!(crate::error::retry_after_text(0.0), "0.001");
    }
}
