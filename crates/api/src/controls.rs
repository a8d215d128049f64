//! Throttling (spec 8.2), fault injection and the test controls under `/_teamsapps/`.
//!
//! Everything here lives in [`Controls`], which the node's [`crate::Config`] carries: token
//! buckets, the fault dice, the runtime settings and the request log belong to one node (the
//! data itself, snapshots included, lives in the store). The throttle and fault checks run in
//! the [`crate::extract::Auth`] extractor, once the token says which app calls and before the
//! handler runs, so a refused request writes nothing.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use teamsapps_core::permissions::Operation;
use teamsapps_core::principal::Principal;
use teamsapps_wire::error::ErrorCode;

use crate::error::ApiError;
use crate::state::AppState;

// --- settings -------------------------------------------------------------------------------

/// Throttling and fault settings: the `--config` file, and the body of
/// `GET`/`PUT /_teamsapps/settings`. Unknown keys are refused.
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
                if !Operation::ALL.iter().any(|o| operation_name(*o).eq_ignore_ascii_case(op)) {
                    anyhow::bail!("faults.rules[{i}].operations: unknown operation '{op}'");
                }
            }
        }
        Ok(())
    }
}

/// An operation's name in fault rules and the request log (e.g. `InstallAppInTeam`).
pub fn operation_name(op: Operation) -> String {
    format!("{op:?}")
}

// --- the node's controls ----------------------------------------------------------------------

/// Entries the request log keeps (the oldest go first).
pub const REQUEST_LOG_SIZE: usize = 1000;
/// Bucket count above which full (idle) buckets are dropped.
const MAX_BUCKETS: usize = 50_000;

struct Bucket {
    tokens: f64,
    at: Instant,
}

struct Dice {
    rng: rand::rngs::StdRng,
}

/// The node's throttling, fault and test-control state.
pub struct Controls {
    settings: RwLock<Settings>,
    buckets: Mutex<HashMap<String, Bucket>>,
    dice: Mutex<Dice>,
    log: Mutex<VecDeque<LogEntry>>,
    /// `Authorization: Bearer <key>` for `/_teamsapps/`; none refuses every control request.
    admin_key: Option<String>,
    /// The fixture the node started with (`reset` re-applies it) and a digest naming it.
    seed: Option<(String, Arc<teamsapps_core::fixture::Fixture>)>,
}

impl std::fmt::Debug for Controls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controls").field("settings", &*read(&self.settings)).finish_non_exhaustive()
    }
}

impl Default for Controls {
    fn default() -> Self {
        Controls::new(Settings::default(), None, None)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(PoisonError::into_inner)
}

fn dice(seed: Option<u64>) -> Dice {
    Dice {
        rng: match seed {
            Some(s) => rand::rngs::StdRng::seed_from_u64(s),
            None => rand::rngs::StdRng::from_entropy(),
        },
    }
}

/// What was done to a request before its handler ran, for the request log.
#[derive(Debug, Clone, Default)]
struct Caller {
    principal: Option<Principal>,
    operation: Option<Operation>,
    injected: Option<&'static str>,
}

/// Filled by the [`crate::extract::Auth`] extractor, read by [`observe`].
#[derive(Clone, Default)]
pub struct CallerSlot(Arc<Mutex<Caller>>);

impl Controls {
    /// `seed_text` is the text of the `--seed` fixture and the fixture parsed from it.
    pub fn new(
        settings: Settings,
        admin_key: Option<String>,
        seed: Option<(&str, teamsapps_core::fixture::Fixture)>,
    ) -> Controls {
        let digest = |text: &str| {
            use sha2::Digest;
            let d = sha2::Sha256::digest(text.as_bytes());
            d.iter().take(8).map(|b| format!("{b:02x}")).collect::<String>()
        };
        Controls {
            dice: Mutex::new(dice(settings.faults.seed)),
            settings: RwLock::new(settings),
            buckets: Mutex::new(HashMap::new()),
            log: Mutex::new(VecDeque::new()),
            admin_key,
            seed: seed.map(|(text, f)| (digest(text), Arc::new(f))),
        }
    }

    pub fn settings(&self) -> Settings {
        read(&self.settings).clone()
    }

    /// Replaces the settings; the buckets start full and the dice start again from the seed.
    pub fn set_settings(&self, settings: Settings) {
        let seed = settings.faults.seed;
        *self.settings.write().unwrap_or_else(PoisonError::into_inner) = settings;
        lock(&self.buckets).clear();
        *lock(&self.dice) = dice(seed);
    }

    /// Throttling, added latency and faults for an authenticated Graph request, in that order.
    pub async fn admit(
        &self,
        method: &Method,
        path: &str,
        operation: Option<Operation>,
        principal: &Principal,
        slot: Option<&CallerSlot>,
    ) -> Result<(), ApiError> {
        let settings = self.settings();
        if settings.throttle.mode == ThrottleMode::Graph {
            if let Err(e) = self.throttle(&settings.throttle.limits, method, path, principal) {
                if let Some(s) = slot {
                    lock(&s.0).injected = Some("throttled");
                }
                return Err(e);
            }
        }
        let f = &settings.faults;
        let op_name = operation.map(operation_name);
        let rule = f.rules.iter().find(|r| rule_matches(r, path, op_name.as_deref()));
        let (rate, statuses, latency) = match rule {
            Some(r) => (r.rate, r.statuses.as_deref().unwrap_or(&f.statuses), r.latency_ms),
            None => (f.rate, &f.statuses[..], f.latency_ms),
        };
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        if rate > 0.0 {
            let status = {
                let mut d = lock(&self.dice);
                let roll: f64 = d.rng.gen();
                (roll < rate).then(|| statuses[d.rng.gen_range(0..statuses.len())])
            };
            if let Some(status) = status {
                if let Some(s) = slot {
                    lock(&s.0).injected = Some("fault");
                }
                return Err(ApiError::transient(status, f.retry_after_seconds));
            }
        }
        Ok(())
    }

    /// Takes one token from every bucket the request draws on, or none when one is empty.
    fn throttle(
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

    fn record(&self, entry: LogEntry) {
        let mut log = lock(&self.log);
        if log.len() >= REQUEST_LOG_SIZE {
            log.pop_front();
        }
        log.push_back(entry);
    }
}

/// The team of a `/teams/{team}/…` path.
fn team_of(path: &str) -> Option<&str> {
    let mut segs = path.split('/').skip_while(|s| *s != "teams");
    segs.next()?;
    segs.next().filter(|s| !s.is_empty())
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

// --- the request log ------------------------------------------------------------------------

/// Records every Graph request (`/v1.0`, `/beta`) in the node's request log: who called what,
/// with which token, and what was answered.
pub async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if !(path.starts_with("/v1.0/") || path.starts_with("/beta/")) {
        return next.run(req).await;
    }
    let slot = CallerSlot::default();
    req.extensions_mut().insert(slot.clone());
    let method = req.method().clone();
    let query = req.uri().query().map(str::to_string);
    let request_id =
        req.extensions().get::<crate::headers::RequestIds>().map(|r| r.request_id.clone());
    let started = Instant::now();
    let res = next.run(req).await;
    // The request is done with the slot: take what it holds rather than copy it.
    let caller = std::mem::take(&mut *lock(&slot.0));
    state.controls.record(LogEntry {
        time: chrono::Utc::now(),
        request_id,
        method,
        path,
        query,
        caller,
        status: res.status().as_u16(),
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
    });
    res
}

/// One entry of the request log, kept as data: most are never read, so the JSON is built
/// when the log is.
struct LogEntry {
    time: chrono::DateTime<chrono::Utc>,
    request_id: Option<String>,
    method: Method,
    path: String,
    query: Option<String>,
    caller: Caller,
    status: u16,
    duration_ms: f64,
}

impl LogEntry {
    fn to_json(&self) -> Value {
        let p = self.caller.principal.as_ref();
        json!({
            "time": self.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "requestId": self.request_id,
            "method": self.method.as_str(),
            "path": self.path,
            "query": self.query,
            "operation": self.caller.operation.map(operation_name),
            "tenantId": p.map(|p| p.tenant_id.clone()),
            "appId": p.map(|p| p.app_id.clone()),
            "userId": p.and_then(|p| p.user_id().map(str::to_string)),
            "tokenType": p.map(|p| if p.is_delegated() { "delegated" } else { "application" }),
            "permissions": p.map(|p| p.permissions.clone()),
            "status": self.status,
            "injected": self.caller.injected,
            "durationMs": self.duration_ms,
        })
    }
}

/// Called by the `Auth` extractor once the caller is known: notes the caller for the request
/// log, then throttles and injects faults.
pub async fn admit(
    state: &AppState,
    parts: &axum::http::request::Parts,
    principal: &Principal,
    operation: Option<Operation>,
) -> Result<(), ApiError> {
    let slot = parts.extensions.get::<CallerSlot>();
    if let Some(s) = slot {
        let mut c = lock(&s.0);
        c.principal = Some(principal.clone());
        c.operation = operation;
    }
    state.controls.admit(&parts.method, parts.uri.path(), operation, principal, slot).await
}

// --- /_teamsapps/ -----------------------------------------------------------------------------

fn check_key(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    let ok = match (&state.controls.admin_key, given) {
        (Some(key), Some(given)) => {
            key.len() == given.len()
                && key.bytes().zip(given.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidAuthenticationToken,
            "The admin key is missing or wrong: send 'Authorization: Bearer <admin key>' (the key \
             teamsapps printed at start, or set with --admin-key / TEAMSAPPS_ADMIN_KEY).",
        ))
    }
}

fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && !name.starts_with("__");
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "'{name}' is not a valid snapshot name: use 1 to 100 letters, digits, '.', '_' or '-', \
             not starting with '__'."
        )))
    }
}

fn ms(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

/// Puts the store back to the seed state: the snapshot taken of it the first time, or (the
/// first time) an empty store with the start fixture applied.
pub async fn reset_store(state: &AppState) -> anyhow::Result<()> {
    let store = state.store.as_ref();
    let controls = &state.controls;
    let name = format!(
        "__teamsapps_seed_{}",
        controls.seed.as_ref().map(|(d, _)| d.as_str()).unwrap_or("empty")
    );
    if store.restore_snapshot(&name).await? {
        return Ok(());
    }
    store.wipe().await?;
    if let Some((_, fixture)) = &controls.seed {
        teamsapps_core::fixture::apply(store, fixture).await?;
    }
    store.save_snapshot(&name).await?;
    Ok(())
}

async fn reset(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = check_key(&state, &headers) {
        return e.into_response();
    }
    let started = Instant::now();
    match reset_store(&state).await {
        Ok(()) => {
            lock(&state.controls.buckets).clear();
            state.identity.forget_verified_tokens();
            Json(json!({"reset": true, "elapsedMs": ms(started)})).into_response()
        }
        Err(e) => internal(e),
    }
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "test control failed");
    ApiError::new(ErrorCode::InternalServerError, format!("The test control failed: {e}"))
        .into_response()
}

async fn take_snapshot(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = check_key(&state, &headers).and_then(|()| check_name(&name)) {
        return e.into_response();
    }
    let started = Instant::now();
    match state.store.save_snapshot(&name).await {
        Ok(()) => (
            axum::http::StatusCode::CREATED,
            Json(json!({"snapshot": name, "elapsedMs": ms(started)})),
        )
            .into_response(),
        Err(e) => internal(e),
    }
}

async fn restore_snapshot(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = check_key(&state, &headers).and_then(|()| check_name(&name)) {
        return e.into_response();
    }
    let started = Instant::now();
    match state.store.restore_snapshot(&name).await {
        Ok(true) => {
            state.identity.forget_verified_tokens();
            Json(json!({"restored": name, "elapsedMs": ms(started)})).into_response()
        }
        Ok(false) => {
            ApiError::not_found(format!("There is no snapshot named '{name}'.")).into_response()
        }
        Err(e) => internal(e),
    }
}

async fn get_settings(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = check_key(&state, &headers) {
        return e.into_response();
    }
    Json(state.controls.settings()).into_response()
}

async fn put_settings(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(e) = check_key(&state, &headers) {
        return e.into_response();
    }
    let parsed = serde_json::from_slice::<Settings>(&body)
        .map_err(anyhow::Error::from)
        .and_then(|s| s.validate().map(|()| s));
    match parsed {
        Ok(settings) => {
            state.controls.set_settings(settings);
            Json(state.controls.settings()).into_response()
        }
        Err(e) => {
            ApiError::bad_request(format!("The settings are not valid: {e}.")).into_response()
        }
    }
}

async fn get_requests(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = check_key(&state, &headers) {
        return e.into_response();
    }
    let log: Vec<Value> = lock(&state.controls.log).iter().map(LogEntry::to_json).collect();
    Json(json!({"value": log})).into_response()
}

async fn clear_requests(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = check_key(&state, &headers) {
        return e.into_response();
    }
    lock(&state.controls.log).clear();
    axum::http::StatusCode::NO_CONTENT.into_response()
}

/// The test controls: `/_teamsapps/…`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/_teamsapps/reset", post(reset))
        .route("/_teamsapps/snapshots/{name}", post(take_snapshot))
        .route("/_teamsapps/snapshots/{name}/restore", post(restore_snapshot))
        .route("/_teamsapps/settings", get(get_settings).put(put_settings))
        .route("/_teamsapps/requests", get(get_requests).delete(clear_requests))
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
    fn settings_refuse_unknown_keys_and_bad_values() {
        assert!(Settings::parse("throttle: {mode: graph, limits: {get: 5}}").is_ok());
        assert!(Settings::parse("{\"throttle\": {\"mode\": \"graph\"}}").is_ok());
        assert!(Settings::parse("throttle: {mode: graph, limit: {get: 5}}").is_err());
        assert!(Settings::parse("faults: {rate: 1.5}").is_err());
        assert!(Settings::parse("faults: {rate: 0.5, statuses: [404]}").is_err());
        assert!(Settings::parse("faults: {rules: [{operations: [Nope]}]}").is_err());
        assert!(Settings::parse("bogus: 1").is_err());
    }

    #[test]
    fn retry_after_is_seconds_with_a_fraction() {
        assert_eq!(crate::error::retry_after_text(2.128), "2.128");
        assert_eq!(crate::error::retry_after_text(1.0), "1");
        assert_eq!(crate::error::retry_after_text(0.0), "0.001");
    }

    #[test]
    fn team_of_a_path() {
        assert_eq!(team_of("/v1.0/teams/t1/installedApps"), Some("t1"));
        assert_eq!(team_of("/v1.0/chats/c/installedApps"), None);
    }
}
