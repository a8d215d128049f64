//! The node's request log (`GET /_teamsapps/requests`): who called which Graph operation with which
//! token, and what was answered. The newest [`REQUEST_LOG_SIZE`] requests are kept.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{json, Value};
use teamsapps_core::permissions::Operation;
use teamsapps_core::principal::Principal;

/// Entries the request log keeps (the oldest go first).
pub const REQUEST_LOG_SIZE: usize = 1000;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What was done to a request before its handler ran.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub principal: Option<Principal>,
    pub operation: Option<Operation>,
    /// `throttled` or `fault` when admission refused it.
    pub injected: Option<&'static str>,
}

/// Filled by the authorization extractor, read by [`observe`] once the request is answered.
#[derive(Clone, Default)]
pub struct CallerSlot(Arc<Mutex<Caller>>);

impl CallerSlot {
    pub fn update(&self, f: impl FnOnce(&mut Caller)) {
        f(&mut lock(&self.0));
    }

    fn take(&self) -> Caller {
        std::mem::take(&mut *lock(&self.0))
    }
}

#[derive(Default)]
pub struct RequestLog {
    entries: Mutex<VecDeque<LogEntry>>,
}

impl RequestLog {
    fn record(&self, entry: LogEntry) {
        let mut log = lock(&self.entries);
        if log.len() >= REQUEST_LOG_SIZE {
            log.pop_front();
        }
        log.push_back(entry);
    }

    /// The entries, oldest first, as `GET /_teamsapps/requests` shows them.
    pub fn to_json(&self) -> Vec<Value> {
        lock(&self.entries).iter().map(LogEntry::to_json).collect()
    }

    pub fn clear(&self) {
        lock(&self.entries).clear();
    }
}

/// Records every Graph request (`/v1.0`, `/beta`).
pub async fn observe(State(log): State<Arc<RequestLog>>, mut req: Request, next: Next) -> Response {
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
    let caller = slot.take();
    log.record(LogEntry {
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
            "operation": self.caller.operation.map(Operation::name),
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
