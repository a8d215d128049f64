//! The log subscriber: the filter (`TEAMSAPPS_LOG`, the request log switch), text or JSON
//! lines, on stderr so that stdout carries only the `listening on` line scripts wait for.

use std::io::IsTerminal;

use anyhow::Context;
use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// The target of the per-request `info` line (method, path, operation, status, latency,
/// request id); `--request-log off` silences exactly this target.
pub const REQUEST_TARGET: &str = "teamsapps::request";

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines, coloured only when stderr is a terminal.
    #[default]
    Text,
    /// One JSON object per line (timestamp, level, target, fields).
    Json,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnOff {
    On,
    Off,
}

/// The filter: `spec` (the value of `TEAMSAPPS_LOG`, `info` when unset), with the request
/// log's target turned off when `request_log` is false.
pub fn filter(spec: Option<&str>, request_log: bool) -> anyhow::Result<EnvFilter> {
    let spec = spec.map(str::trim).filter(|s| !s.is_empty()).unwrap_or("info");
    let mut filter = EnvFilter::builder().parse(spec).with_context(|| {
        format!("TEAMSAPPS_LOG={spec:?} is not a log filter (e.g. `info`, `debug`, `teamsapps=debug,warn`)")
    })?;
    if !request_log {
        filter = filter.add_directive(
            format!("{REQUEST_TARGET}=off").parse().context("the request log directive")?,
        );
    }
    Ok(filter)
}

/// Installs the process's subscriber.
pub fn init(format: LogFormat, request_log: bool) -> anyhow::Result<()> {
    let spec = std::env::var("TEAMSAPPS_LOG").ok();
    let filter = filter(spec.as_deref(), request_log)?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        // Escape codes only for a person at a terminal: files and pipes get plain text.
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().with_current_span(false).with_span_list(false).init(),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// What a subscriber with `filter` writes for one request line and one other info line.
    fn written(filter: EnvFilter) -> String {
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(move || out.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "teamsapps::request", method = "GET", "request");
            tracing::info!(target: "teamsapps::serve", "other");
        });
        let bytes = buf.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn request_log_off_silences_only_the_request_target() {
        let on = written(filter(None, true).unwrap());
        assert!(on.contains("request") && on.contains("other"), "{on}");
        let off = written(filter(None, false).unwrap());
        assert!(!off.contains("method=\"GET\""), "{off}");
        assert!(off.contains("other"), "{off}");
        // Even when TEAMSAPPS_LOG asks for the target, the switch wins.
        let off = written(filter(Some("teamsapps::request=debug,info"), false).unwrap());
        assert!(!off.contains("method=\"GET\""), "{off}");
    }

    #[test]
    fn a_bad_filter_is_refused_by_name() {
        let err = format!("{:#}", filter(Some("info,=="), true).unwrap_err());
        assert!(err.contains("TEAMSAPPS_LOG"), "{err}");
    }
}
