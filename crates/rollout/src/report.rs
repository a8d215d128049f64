//! Reports of a journal: one row per target as CSV or JSON, and a single self-contained HTML
//! page with the summary, the versions before and after per scope, and the failures.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::journal::{State, Target};

fn result(t: &Target) -> &'static str {
    match t.state {
        State::Pending | State::InFlight => "not done",
        State::Upgraded => "upgraded",
        State::Current => "already current",
        State::Blocked => "blocked",
        State::Failed => "failed",
    }
}

fn last_error(t: &Target) -> String {
    match (&t.error_code, &t.error_message, &t.reason) {
        (Some(c), Some(m), _) if !c.is_empty() => format!("{c}: {m}"),
        (_, Some(m), _) => m.clone(),
        (_, _, Some(r)) => r.clone(),
        _ => String::new(),
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn csv(targets: &[Target]) -> String {
    let mut out = String::from(
        "scope,target_id,installation_id,from_version,to_version,result,attempts,last_error\n",
    );
    for t in targets {
        let fields = [
            t.scope.clone(),
            t.resource_id.clone(),
            t.installation_id.clone(),
            t.from_version.clone(),
            t.to_version.clone(),
            result(t).to_string(),
            t.attempts.to_string(),
            last_error(t),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

/// Counts per scope and result.
pub fn summary(targets: &[Target]) -> BTreeMap<String, BTreeMap<&'static str, usize>> {
    let mut out: BTreeMap<String, BTreeMap<&'static str, usize>> = BTreeMap::new();
    for t in targets {
        *out.entry(t.scope.clone()).or_default().entry(result(t)).or_insert(0) += 1;
    }
    out
}

pub fn json(targets: &[Target]) -> Value {
    let rows: Vec<Value> = targets
        .iter()
        .map(|t| {
            json!({
                "scope": t.scope, "targetId": t.resource_id, "installationId": t.installation_id,
                "fromVersion": t.from_version, "toVersion": t.to_version, "result": result(t),
                "attempts": t.attempts, "repeats": t.repeats, "lastError": last_error(t),
                "verifiedVersion": t.verified_version,
            })
        })
        .collect();
    json!({ "summary": summary(targets), "targets": rows })
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Horizontal bars of versions per scope, before (the plan's versions) and after.
fn chart(targets: &[Target]) -> String {
    let mut rows: Vec<(String, String, usize)> = Vec::new();
    // Per scope, its "before" bars first, then its "after" bars.
    let mut per: BTreeMap<(String, u8, String), usize> = BTreeMap::new();
    for t in targets {
        let after = match t.state {
            State::Upgraded => t.to_version.clone(),
            _ => t.from_version.clone(),
        };
        *per.entry((t.scope.clone(), 0, t.from_version.clone())).or_default() += 1;
        *per.entry((t.scope.clone(), 1, after)).or_default() += 1;
    }
    for ((scope, when, version), n) in per {
        let label = format!("{scope} {}", if when == 0 { "before" } else { "after" });
        rows.push((label, version, n));
    }
    let max = rows.iter().map(|r| r.2).max().unwrap_or(1).max(1);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"{}\" role=\"img\" aria-label=\"versions before and after\">",
        rows.len() * 26 + 10
    );
    for (i, (label, version, n)) in rows.iter().enumerate() {
        let y = i * 26 + 5;
        let w = (*n as f64 / max as f64 * 360.0).max(1.0);
        let colour = if label.ends_with("after") { "#2b7a3d" } else { "#8a8a8a" };
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{}\" font-size=\"13\">{} {}</text><rect x=\"200\" y=\"{}\" width=\"{w:.0}\" height=\"18\" fill=\"{colour}\"/><text x=\"{:.0}\" y=\"{}\" font-size=\"13\">{n}</text>",
            y + 14, esc(label), esc(version), y, 205.0 + w, y + 14
        ));
    }
    svg.push_str("</svg>");
    svg
}

pub fn html(targets: &[Target], title: &str) -> String {
    let mut summary_rows = String::new();
    for (scope, counts) in summary(targets) {
        let cells: Vec<String> = counts.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        summary_rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td></tr>",
            esc(&scope),
            esc(&cells.join(", "))
        ));
    }
    let mut failures = String::new();
    for t in targets.iter().filter(|t| matches!(t.state, State::Failed | State::Blocked)) {
        failures.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&t.scope),
            esc(&t.resource_id),
            esc(result(t)),
            t.attempts,
            esc(&last_error(t))
        ));
    }
    if failures.is_empty() {
        failures = "<tr><td colspan=\"5\">none</td></tr>".into();
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}</style></head>\
<body><h1>{t}</h1><h2>Summary</h2><table><tr><th>scope</th><th>results</th></tr>{summary_rows}</table>\
<h2>Versions before and after</h2>{chart}<h2>Failures and blocked targets</h2>\
<table><tr><th>scope</th><th>target</th><th>result</th><th>attempts</th><th>last error</th></tr>{failures}</table></body></html>\n",
        t = esc(title),
        chart = chart(targets)
    )
}
