//! The node's throttling and fault settings: the `--config` file, and the body of
//! `GET`/`PUT /_teamsapps/settings`. Unknown keys are refused.

use serde::{Deserialize, Serialize};
use teamsapps_core::permissions::Operation;

/// Throttling and fault settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Settings {
    pub throttle: ThrottleSettings,
    pub faults: FaultSettings,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThrottleMode {
    #[default]
    Off,
    Graph,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ThrottleSettings {
    pub mode: ThrottleMode,
    pub limits: Limits,
}

/// Requests per second per app per tenant and request class (spec 8.2), the cap per 10 s per
/// app per tenant, and the requests per second per app on one team.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Limits {
    pub get: f64,
    pub post_put: f64,
    pub patch: f64,
    pub delete: f64,
    pub per_ten_seconds: f64,
    pub per_team_per_second: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            get: 60.0,
            post_put: 30.0,
            patch: 30.0,
            delete: 15.0,
            per_ten_seconds: 15_000.0,
            per_team_per_second: 4.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct FaultSettings {
    /// Share (0..1) of Graph requests that fail when no rule matches.
    pub rate: f64,
    /// Seed of the fault dice; the same seed and the same request sequence fail the same way.
    pub seed: Option<u64>,
    /// Statuses a fault answers, chosen uniformly.
    pub statuses: Vec<u16>,
    /// `Retry-After` of injected 429 and 503 answers, in seconds.
    pub retry_after_seconds: f64,
    /// Latency added to every Graph request no rule matches, in milliseconds.
    pub latency_ms: u64,
    /// The first rule that matches a request decides for it instead of the above.
    pub rules: Vec<FaultRule>,
}

impl Default for FaultSettings {
    fn default() -> Self {
        FaultSettings {
            rate: 0.0,
            seed: None,
            statuses: TRANSIENT.to_vec(),
            retry_after_seconds: 1.0,
            latency_ms: 0,
            rules: Vec::new(),
        }
    }
}

/// One fault rule: matches when a path pattern (`*` matches anything, with or without the
/// `/v1.0` or `/beta` prefix) or an operation name matches; both empty match every request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct FaultRule {
    pub paths: Vec<String>,
    pub operations: Vec<String>,
    pub rate: f64,
    /// Defaults to the global `statuses`.
    pub statuses: Option<Vec<u16>>,
    pub latency_ms: u64,
}

/// The statuses a fault may answer.
pub const TRANSIENT: &[u16] = &[429, 500, 502, 503, 504];

impl Settings {
    /// Parses a settings document, JSON or YAML.
    pub fn parse(text: &str) -> anyhow::Result<Settings> {
        let settings: Settings = if text.trim_start().starts_with('{') {
            serde_json::from_str(text)?
        } else {
            serde_yaml::from_str(text)?
        };
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let l = &self.throttle.limits;
        for (name, v) in [
            ("get", l.get),
            ("postPut", l.post_put),
            ("patch", l.patch),
            ("delete", l.delete),
            ("perTenSeconds", l.per_ten_seconds),
            ("perTeamPerSecond", l.per_team_per_second),
        ] {
            if !(v.is_finite() && v > 0.0) {
                anyhow::bail!("throttle.limits.{name} must be a positive number, got {v}");
            }
        }
        let f = &self.faults;
        let rate_ok = |r: f64| (0.0..=1.0).contains(&r);
        let statuses_ok = |s: &[u16]| !s.is_empty() && s.iter().all(|s| TRANSIENT.contains(s));
        if !rate_ok(f.rate) {
            anyhow::bail!("faults.rate must be between 0 and 1, got {}", f.rate);
        }
        if !statuses_ok(&f.statuses) {
            anyhow::bail!("faults.statuses must be a non-empty list of 429, 500, 502, 503, 504");
        }
        if !(f.retry_after_seconds.is_finite() && f.retry_after_seconds > 0.0) {
            anyhow::bail!("faults.retryAfterSeconds must be a positive number");
        }
        for (i, r) in f.rules.iter().enumerate() {
            if !rate_ok(r.rate) {
                anyhow::bail!("faults.rules[{i}].rate must be between 0 and 1, got {}", r.rate);
            }
            if r.statuses.as_deref().is_some_and(|s| !statuses_ok(s)) {
                anyhow::bail!(
                    "faults.rules[{i}].statuses must be a non-empty list of 429, 500, 502, 503, 504"
                );
            }
            for op in &r.operations {
                if Operation::by_name(op).is_none() {
                    anyhow::bail!("faults.rules[{i}].operations: unknown operation '{op}'");
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_refuse_unknown_keys_and_bad_values() {
        assert!(Settings::parse("throttle: {mode: graph, limits: {get: 5}}").is_ok());
        assert!(Settings::parse("{\"throttle\": {\"mode\": \"graph\"}}").is_ok());
        assert!(Settings::parse("throttle: {mode: graph, limit: {get: 5}}").is_err());
        assert!(Settings::parse("faults: {rate: 1.5}").is_err());
        assert!(Settings::parse("faults: {rate: 0.5, statuses: [404]}").is_err());
        assert!(Settings::parse("faults: {rules: [{operations: [Nope]}]}").is_err());
        assert!(Settings::parse("faults: {rules: [{operations: [upgradeAppInTeam]}]}").is_ok());
        assert!(Settings::parse("bogus: 1").is_err());
    }
}
