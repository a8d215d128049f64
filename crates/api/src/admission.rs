//! Admission of an authenticated Graph request before its handler runs: throttling, then added
//! latency and injected faults, under the node's current [`Settings`]. Refused requests write
//! nothing.

use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use axum::http::Method;
use teamsapps_core::permissions::Operation;
use teamsapps_core::principal::Principal;

use crate::error::ApiError;
use crate::faults::Faults;
use crate::settings::{Settings, ThrottleMode};
use crate::throttling::Throttle;

/// Why a request was not admitted, for the request log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Throttled,
    Fault,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Throttled => "throttled",
            Refusal::Fault => "fault",
        }
    }
}

/// The node's admission state: settings (changeable at run time), buckets and dice.
pub struct Admission {
    settings: RwLock<Settings>,
    throttle: Throttle,
    faults: Faults,
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission").field("settings", &self.settings()).finish_non_exhaustive()
    }
}

impl Default for Admission {
    fn default() -> Self {
        Admission::new(Settings::default())
    }
}

impl Admission {
    pub fn new(settings: Settings) -> Admission {
        Admission {
            faults: Faults::new(settings.faults.seed),
            settings: RwLock::new(settings),
            throttle: Throttle::default(),
        }
    }

    pub fn settings(&self) -> Settings {
        self.settings.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Replaces the settings; the buckets start full and the dice start again from the seed.
    pub fn set_settings(&self, settings: Settings) {
        let seed = settings.faults.seed;
        *self.settings.write().unwrap_or_else(PoisonError::into_inner) = settings;
        self.throttle.clear();
        self.faults.reseed(seed);
    }

    /// Every bucket starts full again (a reset of the store).
    pub fn refill(&self) {
        self.throttle.clear();
    }

    /// Throttling, added latency and faults for an authenticated Graph request, in that order.
    pub async fn admit(
        &self,
        method: &Method,
        path: &str,
        operation: Option<Operation>,
        principal: &Principal,
    ) -> Result<(), (ApiError, Refusal)> {
        let settings = self.settings();
        if settings.throttle.mode == ThrottleMode::Graph {
            self.throttle
                .take(&settings.throttle.limits, method, path, principal)
                .map_err(|e| (e, Refusal::Throttled))?;
        }
        let f = &settings.faults;
        let verdict = self.faults.decide(f, path, operation.map(Operation::name));
        if verdict.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(verdict.latency_ms)).await;
        }
        match verdict.status {
            Some(status) => {
                Err((ApiError::transient(status, f.retry_after_seconds), Refusal::Fault))
            }
            None => Ok(()),
        }
    }
}
