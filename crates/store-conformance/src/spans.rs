//! A subscriber that records the spans a future opens, for the test that every store call
//! runs in a span naming the call, the tenant and the app.
//!
//! It is attached to one future (`WithSubscriber`), so it sees that test's spans on whichever
//! thread the runtime polls it, and nothing of the tests running beside it.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// One span as opened: its name and its fields, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub name: &'static str,
    pub fields: Vec<(&'static str, String)>,
}

impl Recorded {
    /// The value of field `name`, if the span has it.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}

/// Records every span opened while it is the default subscriber.
#[derive(Clone, Default)]
pub struct SpanRecorder {
    spans: Arc<Mutex<Vec<Recorded>>>,
    next_id: Arc<AtomicU64>,
}

impl SpanRecorder {
    /// The spans opened so far, in order.
    pub fn spans(&self) -> Vec<Recorded> {
        self.spans.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

struct Fields<'a>(&'a mut Vec<(&'static str, String)>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name(), value.to_owned()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.push((field.name(), format!("{value:?}")));
    }
}

impl Subscriber for SpanRecorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Vec::new();
        span.record(&mut Fields(&mut fields));
        let recorded = Recorded { name: span.metadata().name(), fields };
        self.spans.lock().unwrap_or_else(PoisonError::into_inner).push(recorded);
        Id::from_u64(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}
