//! A Microsoft Graph client that speaks only documented Graph and identity-platform HTTP:
//! client-credentials sign-in through the authority's OpenID configuration (tokens renewed
//! before they expire), and calls that ride through throttling and transient failures
//! (`Retry-After`, capped jittered backoff) while the concurrency adapts to the 429s it gets
//! (additive increase, multiplicative decrease).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use rand::Rng;
use serde_json::Value;
use tokio::sync::{Mutex, Semaphore};

/// How the engine signs in.
#[derive(Debug, Clone)]
pub struct SignIn {
    /// `https://graph.microsoft.com` or a teamsapps server.
    pub graph: String,
    /// `https://login.microsoftonline.com` or a teamsapps server.
    pub authority: String,
    pub tenant: String,
    pub client_id: String,
    pub client_secret: String,
}

/// Why a call did not get an answer worth recording.
#[derive(Debug)]
pub enum Failure {
    /// The credential was refused (at sign-in, or a token refused twice): stop, resumable.
    SignIn(String),
    /// Still transient after every retry (status or connection error, and the last message).
    Exhausted(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::SignIn(m) => write!(f, "sign-in failed: {m}"),
            Failure::Exhausted(m) => write!(f, "gave up after retries: {m}"),
        }
    }
}

/// A final answer: success, or a failure that retrying would not change.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    /// How many attempts it took.
    pub attempts: u32,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Graph's error code and message, when the body is an error envelope.
    pub fn error(&self) -> (String, String) {
        let e = &self.body["error"];
        let code = e["code"].as_str().unwrap_or("").to_string();
        let message = e["message"].as_str().map(str::to_string).unwrap_or_else(|| {
            if self.body.is_null() {
                String::new()
            } else {
                self.body.to_string()
            }
        });
        (code, message)
    }
}

struct Token {
    value: String,
    renew_at: Instant,
    roles: Vec<String>,
}

/// The adaptive limit on requests in flight, between `min` (where it starts) and `max`.
///
/// Graph's limits are token buckets: a 429 says the bucket is empty, not that the service is
/// overloaded, and a call waiting out its `Retry-After` still holds its slot while sending
/// nothing. So one 429 takes a quarter off, and only once per round trip: a 429 answering a
/// request sent before the last cut says nothing new (a burst of them would otherwise halve
/// the limit to 1 in a moment, leaving the bucket idle while the few slots sleep). It never
/// goes below where it started, and grows back by one after every `current` successes.
pub struct Concurrency {
    permits: Arc<Semaphore>,
    current: AtomicUsize,
    min: usize,
    max: usize,
    successes: AtomicU64,
    /// Bumped at every cut; a request carries the value it was sent under.
    epoch: AtomicU64,
}

impl Concurrency {
    pub fn new(start: usize, max: usize) -> Arc<Concurrency> {
        let max = max.max(1);
        let start = start.clamp(1, max);
        Arc::new(Concurrency {
            permits: Arc::new(Semaphore::new(start)),
            current: AtomicUsize::new(start),
            min: start,
            max,
            successes: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
        })
    }

    pub fn current(&self) -> usize {
        self.current.load(Ordering::Relaxed)
    }

    /// The cut count a request is sent under (see [`Concurrency::on_throttled`]).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    pub async fn acquire(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.permits.clone().acquire_owned().await.expect("the semaphore is never closed")
    }

    /// One more request in flight after every `current` successes, up to the maximum.
    fn on_success(&self) {
        let n = self.successes.fetch_add(1, Ordering::Relaxed) + 1;
        let current = self.current();
        if current < self.max && n.is_multiple_of(current as u64) {
            self.current.fetch_add(1, Ordering::Relaxed);
            self.permits.add_permits(1);
        }
    }

    /// A quarter fewer in flight after a 429 to a request sent under `epoch`, not below the
    /// minimum; nothing when a cut came after that request was sent. The permits are taken
    /// back as they return.
    fn on_throttled(&self, epoch: u64) {
        let cut_of = |c: usize| (c / 4).max(1).min(c.saturating_sub(self.min));
        if cut_of(self.current()) == 0
            || self
                .epoch
                .compare_exchange(epoch, epoch + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let Ok(before) = self.current.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
            let cut = cut_of(c);
            (cut > 0).then_some(c - cut)
        }) else {
            return;
        };
        let cut = cut_of(before);
        let permits = self.permits.clone();
        tokio::spawn(async move {
            if let Ok(p) = permits.acquire_many_owned(cut as u32).await {
                p.forget();
            }
        });
    }
}

pub struct Graph {
    http: reqwest::Client,
    sign_in: SignIn,
    token: Mutex<Option<Token>>,
    token_endpoint: Mutex<Option<String>>,
    pub concurrency: Arc<Concurrency>,
    /// Reads and writes paced apart: Graph limits them apart (GET 60/s, POST 30/s).
    reads: Pacer,
    writes: Pacer,
    /// Requests answered 429 (for the report and the logs).
    pub throttled: AtomicU64,
    /// Retries of any transient failure.
    pub retries: AtomicU64,
    max_attempts: u32,
}

/// Spaces the requests of one class so they reach Graph no faster than it accepts them. A 429
/// that shows the class is over its limit holds the whole class back until its `Retry-After`
/// has passed (every sender, not only the refused one: Graph asks clients to wait), and, when it
/// says its limit with `RateLimit-Limit` per `RateLimit-Reset` seconds, spaces the requests at
/// that pace. A 429 shows the limit when it carries `RateLimit-*`, or when 429s have become a
/// large share of the class's recent answers; a stray one (a fault, another client's burst)
/// pauses only the refused call, so one per second does not stall the whole class for a second
/// each time. Each success shortens the spacing a little, so the pace creeps back up to what the
/// limit allows.
#[derive(Debug)]
struct Pacer {
    state: std::sync::Mutex<Pace>,
}

#[derive(Debug)]
struct Pace {
    /// No request of the class is sent before this.
    next: Instant,
    spacing: Duration,
    /// The share of recent answers that were 429 (a moving average over about ten answers).
    throttled_share: f64,
}

/// From this share of 429s on, a 429 without `RateLimit-*` is taken as the class's limit.
const LIMIT_SHARE: f64 = 0.25;

impl Pacer {
    fn new() -> Pacer {
        Pacer {
            state: std::sync::Mutex::new(Pace {
                next: Instant::now(),
                spacing: Duration::ZERO,
                throttled_share: 0.0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pace> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// When a request carrying `cost` requests (a batch's items) may go; books its turn.
    fn turn(&self, cost: u32) -> Option<Instant> {
        let mut p = self.lock();
        let now = Instant::now();
        if p.spacing.is_zero() && p.next <= now {
            return None;
        }
        let at = p.next.max(now);
        p.next = at + p.spacing * cost.max(1);
        Some(at)
    }

    async fn wait(&self, cost: u32) {
        if let Some(at) = self.turn(cost) {
            tokio::time::sleep_until(at.into()).await;
        }
    }

    fn on_throttled(&self, retry_after: Option<Duration>, pace: Option<Duration>) {
        let mut p = self.lock();
        p.throttled_share = p.throttled_share * 0.9 + 0.1;
        let at_limit = pace.is_some() || p.throttled_share >= LIMIT_SHARE;
        if let Some(w) = retry_after.filter(|_| at_limit) {
            p.next = p.next.max(Instant::now() + w);
        }
        if let Some(pace) = pace {
            p.spacing = p.spacing.max(pace);
        }
    }

    fn on_success(&self) {
        let mut p = self.lock();
        p.throttled_share *= 0.9;
        p.spacing = p.spacing.mul_f64(0.998);
        if p.spacing < Duration::from_micros(20) {
            p.spacing = Duration::ZERO;
        }
    }
}

/// The pace a 429's `RateLimit-Limit` requests per `RateLimit-Reset` seconds (at least one)
/// allows: the time one request takes of it.
fn pace(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let number = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
    let limit = number("ratelimit-limit").filter(|l| l.is_finite() && *l >= 1.0)?;
    let window =
        number("ratelimit-reset").filter(|r| r.is_finite()).unwrap_or(1.0).clamp(1.0, 60.0);
    Some(Duration::from_secs_f64((window / limit).min(1.0)))
}

/// Seconds of a `Retry-After` (fractional allowed, as teamsapps and Graph send it).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get("retry-after")?.to_str().ok()?.trim().parse::<f64>().ok()?;
    (v.is_finite() && v >= 0.0).then(|| Duration::from_secs_f64(v.min(300.0)))
}

/// The pause before retry `attempt` (1-based) of a failure without `Retry-After`: 50 ms at
/// first (most transient errors are gone at once), four times longer each time, capped at
/// 30 s, jittered by half either way; ten attempts wait about two minutes in all.
fn backoff(attempt: u32) -> Duration {
    let base = 0.05 * 4f64.powi(attempt.saturating_sub(1).min(6) as i32);
    let jitter = rand::thread_rng().gen_range(0.5..1.5);
    Duration::from_secs_f64((base * jitter).min(30.0))
}

/// A `Retry-After` wait, spread a little so that the callers one answer paused do not all come
/// back together: up to half as long again, at most 100 ms more (a 1 s wait is not 1.5 s).
fn spread(wait: Duration) -> Duration {
    let extra = wait.mul_f64(rand::thread_rng().gen_range(0.0..0.5));
    wait + extra.min(Duration::from_millis(100))
}

/// The items of a `$batch` answer that were throttled.
fn throttled_items(body: &Value) -> u64 {
    body["responses"]
        .as_array()
        .map(|r| r.iter().filter(|i| i["status"].as_u64() == Some(429)).count() as u64)
        .unwrap_or(0)
}

/// The longest `Retry-After` and the slowest `RateLimit-*` pace of a batch's throttled items.
fn item_limits(body: &Value) -> (Option<Duration>, Option<Duration>) {
    let (mut wait, mut slowest) = (None::<Duration>, None::<Duration>);
    for item in body["responses"].as_array().into_iter().flatten() {
        if item["status"].as_u64() != Some(429) {
            continue;
        }
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in item["headers"].as_object().into_iter().flatten() {
            let (Ok(name), Some(Ok(value))) = (
                reqwest::header::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()),
                v.as_str().map(reqwest::header::HeaderValue::from_str),
            ) else {
                continue;
            };
            headers.insert(name, value);
        }
        if let Some(w) = retry_after(&headers) {
            wait = Some(wait.map_or(w, |x| x.max(w)));
        }
        if let Some(p) = pace(&headers) {
            slowest = Some(slowest.map_or(p, |x| x.max(p)));
        }
    }
    (wait, slowest)
}

/// 429s one call rides out before it gives up (Graph's 10-second window, many times over).
const MAX_THROTTLED: u32 = 200;

fn transient(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

impl Graph {
    pub fn new(sign_in: SignIn, concurrency: Arc<Concurrency>) -> anyhow::Result<Graph> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        Ok(Graph {
            http,
            sign_in,
            token: Mutex::new(None),
            token_endpoint: Mutex::new(None),
            concurrency,
            reads: Pacer::new(),
            writes: Pacer::new(),
            throttled: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            max_attempts: 10,
        })
    }

    pub fn graph_base(&self) -> &str {
        self.sign_in.graph.trim_end_matches('/')
    }

    /// The token endpoint the authority's OpenID configuration names.
    async fn token_endpoint(&self) -> Result<String, Failure> {
        let mut cached = self.token_endpoint.lock().await;
        if let Some(e) = cached.as_ref() {
            return Ok(e.clone());
        }
        let url = format!(
            "{}/{}/v2.0/.well-known/openid-configuration",
            self.sign_in.authority.trim_end_matches('/'),
            self.sign_in.tenant
        );
        let res = self.http.get(&url).send().await.map_err(|e| {
            Failure::SignIn(format!("cannot read the authority's OpenID configuration {url}: {e}"))
        })?;
        let status = res.status();
        let doc: Value = res.json().await.unwrap_or(Value::Null);
        let endpoint = doc["token_endpoint"].as_str().ok_or_else(|| {
            Failure::SignIn(format!(
                "the authority answered {status} for {url}, without a token_endpoint: check --authority and --tenant"
            ))
        })?;
        *cached = Some(endpoint.to_string());
        Ok(endpoint.to_string())
    }

    async fn fetch_token(&self) -> Result<Token, Failure> {
        let endpoint = self.token_endpoint().await?;
        let scope = format!("{}/.default", self.graph_scope());
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.sign_in.client_id.as_str()),
            ("client_secret", self.sign_in.client_secret.as_str()),
            ("scope", scope.as_str()),
        ];
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = self.http.post(&endpoint).form(&form).send().await;
            let res = match sent {
                Ok(r) => r,
                Err(e) if attempt < 5 => {
                    tracing::warn!(error = %e, "token request failed, retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                Err(e) => return Err(Failure::SignIn(format!("cannot reach {endpoint}: {e}"))),
            };
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            if transient(status) && attempt < 5 {
                tokio::time::sleep(backoff(attempt)).await;
                continue;
            }
            let Some(token) = body["access_token"].as_str() else {
                let why = body["error_description"].as_str().unwrap_or("no access_token");
                return Err(Failure::SignIn(format!(
                    "the token endpoint refused the client credentials ({status}): {why}"
                )));
            };
            let expires_in = body["expires_in"].as_u64().unwrap_or(3599);
            // Renewed five minutes (or a quarter of its life) before it expires.
            let margin = (expires_in / 4).min(300);
            return Ok(Token {
                value: token.to_string(),
                renew_at: Instant::now() + Duration::from_secs(expires_in.saturating_sub(margin)),
                roles: roles_of(token),
            });
        }
    }

    /// `https://graph.microsoft.com` is the resource whatever host serves it.
    fn graph_scope(&self) -> &'static str {
        "https://graph.microsoft.com"
    }

    async fn token(&self, renew: bool) -> Result<String, Failure> {
        let mut cached = self.token.lock().await;
        match cached.as_ref() {
            Some(t) if !renew && Instant::now() < t.renew_at => Ok(t.value.clone()),
            _ => {
                let t = self.fetch_token().await?;
                let value = t.value.clone();
                *cached = Some(t);
                Ok(value)
            }
        }
    }

    /// The application roles of the current token (what the plan predicts refusals from).
    pub async fn roles(&self) -> Result<Vec<String>, Failure> {
        self.token(false).await?;
        Ok(self.token.lock().await.as_ref().map(|t| t.roles.clone()).unwrap_or_default())
    }

    /// One call, retried while the answer is transient. `path` is below the Graph base
    /// (`/v1.0/...`) or an absolute `@odata.nextLink`.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, Failure> {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.graph_base())
        };
        let mut renewed = false;
        let mut last = String::new();
        // A 429 is Graph pacing us, not a failure: it does not use up the attempts that 5xx
        // answers and connection errors get (a herd of waiters woken by the same Retry-After
        // would otherwise starve the unlucky ones), up to a bound that still ends a run that
        // is throttled forever.
        let mut throttled = 0u32;
        let mut attempt = 0u32;
        let pacer = if method == reqwest::Method::GET { &self.reads } else { &self.writes };
        // A batch spends one request of the limit per item.
        let cost = body.and_then(|b| b["requests"].as_array()).map_or(1, |r| r.len() as u32);
        while attempt < self.max_attempts {
            attempt += 1;
            pacer.wait(cost).await;
            let token = self.token(false).await?;
            let epoch = self.concurrency.epoch();
            let mut req = self.http.request(method.clone(), &url).bearer_auth(token);
            if let Some(b) = body {
                req = req.json(b);
            }
            match req.send().await {
                Ok(res) => {
                    let status = res.status().as_u16();
                    let wait = retry_after(res.headers());
                    let limit_pace = pace(res.headers());
                    let bytes = res.bytes().await.unwrap_or_default();
                    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    if status == 401 && !renewed {
                        // The token may have been revoked or rotated: one fresh sign-in.
                        renewed = true;
                        self.token(true).await?;
                        continue;
                    }
                    if status == 401 {
                        let msg = body["error"]["message"].as_str().unwrap_or("401").to_string();
                        return Err(Failure::SignIn(format!("Graph refused the token: {msg}")));
                    }
                    if transient(status) {
                        if status == 429 {
                            self.throttled.fetch_add(1, Ordering::Relaxed);
                            self.concurrency.on_throttled(epoch);
                            pacer.on_throttled(wait, limit_pace);
                            throttled += 1;
                            if throttled < MAX_THROTTLED {
                                attempt -= 1;
                            }
                        }
                        last = format!("{status} {}", body["error"]["code"].as_str().unwrap_or(""));
                        self.retries.fetch_add(1, Ordering::Relaxed);
                        let pause = match wait {
                            // Spread the waiters that one Retry-After would wake together.
                            Some(w) => spread(w),
                            None => backoff(attempt),
                        };
                        tokio::time::sleep(pause).await;
                        continue;
                    }
                    if (200..300).contains(&status) {
                        // A batch's items are throttled one by one: those count as 429s.
                        let items = throttled_items(&body);
                        if items > 0 {
                            self.throttled.fetch_add(items, Ordering::Relaxed);
                            self.concurrency.on_throttled(epoch);
                            let (wait, limit_pace) = item_limits(&body);
                            pacer.on_throttled(wait, limit_pace);
                        } else {
                            self.concurrency.on_success();
                            pacer.on_success();
                        }
                    }
                    return Ok(Answer { status, body, attempts: attempt + throttled });
                }
                Err(e) => {
                    last = format!("connection error: {e}");
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(backoff(attempt)).await;
                }
            }
        }
        Err(Failure::Exhausted(last))
    }

    /// Every item of a collection, following `@odata.nextLink`.
    pub async fn all(&self, path: &str) -> Result<Vec<Value>, CollectError> {
        let mut items = Vec::new();
        let mut next = Some(path.to_string());
        while let Some(path) = next {
            let (values, link) = self.page(&path).await?;
            items.extend(values);
            next = link;
        }
        Ok(items)
    }

    /// One page of a collection: its items and the `@odata.nextLink`, if any.
    pub async fn page(&self, path: &str) -> Result<(Vec<Value>, Option<String>), CollectError> {
        let answer = self.call(reqwest::Method::GET, path, None).await?;
        if !answer.ok() {
            return Err(CollectError::Refused(path.to_string(), answer));
        }
        let values = answer.body["value"].as_array().cloned().unwrap_or_default();
        let next = answer.body["@odata.nextLink"].as_str().map(str::to_string);
        Ok((values, next))
    }
}

/// A collection that could not be read whole.
#[derive(Debug)]
pub enum CollectError {
    Failed(Failure),
    Refused(String, Answer),
}

impl From<Failure> for CollectError {
    fn from(f: Failure) -> Self {
        CollectError::Failed(f)
    }
}

impl std::fmt::Display for CollectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CollectError::Failed(e) => e.fmt(f),
            CollectError::Refused(path, a) => {
                let (code, message) = a.error();
                write!(f, "GET {path} answered {} {code}: {message}", a.status)
            }
        }
    }
}

/// The `roles` claim of a JWT access token (read, not verified: Graph verifies it).
fn roles_of(token: &str) -> Vec<String> {
    let Some(payload) = token.split('.').nth(1) else { return Vec::new() };
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let Ok(bytes) = engine.decode(payload.trim_end_matches('=')) else { return Vec::new() };
    let claims: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    claims["roles"]
        .as_array()
        .map(|r| r.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratelimit_headers_give_the_pace_of_the_limit() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(pace(&h), None);
        h.insert("ratelimit-limit", "300".parse().unwrap());
        h.insert("ratelimit-reset", "1".parse().unwrap());
        assert_eq!(pace(&h), Some(Duration::from_secs_f64(1.0 / 300.0)));
        h.insert("ratelimit-limit", "15000".parse().unwrap());
        h.insert("ratelimit-reset", "10".parse().unwrap());
        assert_eq!(pace(&h), Some(Duration::from_secs_f64(10.0 / 15000.0)));
        h.insert("ratelimit-limit", "none".parse().unwrap());
        assert_eq!(pace(&h), None);
    }

    #[test]
    fn a_429_holds_the_class_back_and_then_spaces_it_at_the_limits_pace() {
        let p = Pacer::new();
        assert_eq!(p.turn(1), None, "unpaced until throttled");
        let before = Instant::now();
        p.on_throttled(Some(Duration::from_millis(200)), Some(Duration::from_millis(10)));
        let first = p.turn(1).unwrap();
        assert!(first >= before + Duration::from_millis(200), "nobody goes before Retry-After");
        let second = p.turn(1).unwrap();
        assert_eq!(second - first, Duration::from_millis(10));
        let batch = p.turn(20).unwrap();
        assert_eq!(batch - second, Duration::from_millis(10));
        assert_eq!(
            p.turn(1).unwrap() - batch,
            Duration::from_millis(200),
            "20 items cost 20 turns"
        );
        for _ in 0..5000 {
            p.on_success();
        }
        assert_eq!(p.lock().spacing, Duration::ZERO, "successes bring the pace back up");
    }

    #[test]
    fn a_stray_429_pauses_only_its_call_and_a_run_of_them_the_class() {
        let p = Pacer::new();
        // One 429 in twenty answers, without RateLimit-* (an injected fault, say): no hold.
        for _ in 0..3 {
            for _ in 0..19 {
                p.on_success();
            }
            p.on_throttled(Some(Duration::from_secs(1)), None);
            assert_eq!(p.turn(1), None, "a stray 429 holds nobody else back");
        }
        // 429s come in a run: the class is at its limit, and waits out the Retry-After.
        let before = Instant::now();
        for _ in 0..3 {
            p.on_throttled(Some(Duration::from_millis(300)), None);
        }
        let at = p.turn(1).expect("held");
        assert!(at >= before + Duration::from_millis(300));
    }

    #[test]
    fn a_batchs_throttled_items_say_the_wait_and_the_pace() {
        let body = serde_json::json!({"responses": [
            {"id": "1", "status": 204},
            {"id": "2", "status": 429, "headers": {"Retry-After": "0.5", "RateLimit-Limit": "30", "RateLimit-Reset": "1"}},
            {"id": "3", "status": 429, "headers": {"Retry-After": "1.5"}},
        ]});
        let (wait, pace) = item_limits(&body);
        assert_eq!(wait, Some(Duration::from_millis(1500)));
        assert_eq!(pace, Some(Duration::from_secs_f64(1.0 / 30.0)));
    }

    #[test]
    fn retry_after_takes_fractions_and_refuses_junk() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "0.25".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        h.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn roles_come_from_the_token_payload() {
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = engine.encode(r#"{"roles":["A.Read","B.Write"]}"#);
        assert_eq!(roles_of(&format!("h.{payload}.s")), ["A.Read", "B.Write"]);
        assert!(roles_of("garbage").is_empty());
    }

    #[test]
    fn backoff_is_capped() {
        for attempt in 0..20 {
            assert!(backoff(attempt) <= Duration::from_secs(30));
        }
    }

    #[test]
    fn backoff_starts_short_and_grows() {
        for _ in 0..100 {
            assert!(backoff(1) <= Duration::from_millis(75));
            assert!(backoff(3) >= Duration::from_millis(400));
        }
    }

    #[test]
    fn retry_after_is_spread_by_at_most_half_and_100_ms() {
        for _ in 0..100 {
            let short = spread(Duration::from_millis(2));
            assert!(short >= Duration::from_millis(2) && short <= Duration::from_millis(3));
            let long = spread(Duration::from_secs(1));
            assert!(long >= Duration::from_secs(1) && long <= Duration::from_millis(1100));
        }
    }

    /// Successes until `to` are allowed in flight: about `to` of them per step.
    fn grow(c: &Concurrency, to: usize) {
        let mut n = 0;
        while c.current() < to {
            c.on_success();
            n += 1;
            assert!(n <= to * to, "{n} successes and only {} in flight", c.current());
        }
        assert_eq!(c.current(), to);
        assert_eq!(c.permits.available_permits(), to);
    }

    /// Lets the spawned permit-takers run.
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_burst_of_429s_cuts_once_and_never_below_the_start() {
        let c = Concurrency::new(4, 32);
        grow(&c, 10);
        // Twenty answers to requests sent before any cut: one cut, by a quarter.
        let sent = c.epoch();
        for _ in 0..20 {
            c.on_throttled(sent);
        }
        assert_eq!(c.current(), 8);
        settle().await;
        assert_eq!(c.permits.available_permits(), 8);
        // Requests sent after the cut may cut again, down to the start and no further.
        for _ in 0..10 {
            c.on_throttled(c.epoch());
        }
        assert_eq!(c.current(), 4);
        settle().await;
        assert_eq!(c.permits.available_permits(), 4);
    }

    #[tokio::test]
    async fn a_fixed_concurrency_stays_fixed() {
        let c = Concurrency::new(8, 8);
        c.on_throttled(c.epoch());
        for _ in 0..100 {
            c.on_success();
        }
        assert_eq!(c.current(), 8);
        settle().await;
        assert_eq!(c.permits.available_permits(), 8);
    }

    #[tokio::test]
    async fn permits_in_use_are_taken_back_as_they_return() {
        let c = Concurrency::new(4, 32);
        grow(&c, 8);
        let held: Vec<_> = acquire_n(&c, 8).await;
        c.on_throttled(c.epoch());
        assert_eq!(c.current(), 6);
        drop(held);
        settle().await;
        assert_eq!(c.permits.available_permits(), 6);
    }

    async fn acquire_n(c: &Concurrency, n: usize) -> Vec<tokio::sync::OwnedSemaphorePermit> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(c.acquire().await);
        }
        out
    }

    #[test]
    fn throttled_batch_items_are_counted() {
        let body = serde_json::json!({"responses": [
            {"id": "1", "status": 204}, {"id": "2", "status": 429}, {"id": "3", "status": 429}]});
        assert_eq!(throttled_items(&body), 2);
        assert_eq!(throttled_items(&serde_json::json!({"value": []})), 0);
    }
}
