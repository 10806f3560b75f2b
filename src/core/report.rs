//! Rendering a trunk for people (console text) and machines (JSON).
//!
//! The text goes to a PBX console or a terminal: every field a registrar
//! or a configuration file supplied (names, domains, reason phrases, the
//! diagnosis lines that quote `Server` or `X-Twilio-Error`, findings)
//! passes through [`terminal_safe`] first. The JSON keeps the text as it
//! was; serde escapes control characters there.
use super::engine::{Engine, Error, TrunkId};
use super::text::terminal_safe as safe;

/// The trunk as JSON: name, state, cause, summary, evidence, remediation,
/// references, confidence, findings, history and timings.
pub fn render_trunk_json(engine: &Engine, id: TrunkId) -> Result<String, Error> {
    let snap = engine.snapshot(id)?;
    let diag = engine.diagnose(id)?;
    let v = serde_json::json!({
        "name": snap.name,
        "profile": snap.profile,
        "domain": snap.domain,
        "username": snap.username,
        "state": snap.state,
        "cause": diag.cause,
        "severity": diag.severity,
        "alerting": snap.alerting,
        "summary": diag.summary,
        "evidence": diag.evidence,
        "remediation": diag.remediation,
        "references": diag.references,
        "confidence": diag.confidence,
        "last_code": snap.last_code,
        "last_reason": snap.last_reason,
        "granted_expires": snap.granted_expires,
        "expires_in_ms": snap.expires_in_ms,
        "refresh_in_ms": snap.refresh_in_ms,
        "registers_sent": snap.registers_sent,
        "failures_in_row": snap.failures_in_row,
        "findings": snap.findings,
        "history": snap.history,
    });
    Ok(v.to_string())
}

/// The trunk as plain text for a PBX console.
pub fn render_trunk_text(engine: &Engine, id: TrunkId) -> Result<String, Error> {
    use std::fmt::Write;
    let snap = engine.snapshot(id)?;
    let diag = engine.diagnose(id)?;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Trunk {} ({} profile, {})",
        safe(&snap.name),
        snap.profile.as_str(),
        safe(&snap.domain)
    );
    let _ = write!(s, "  State: {}   Cause: {}", snap.state, diag.cause);
    if let Some(c) = snap.last_code {
        let _ = write!(
            s,
            "   Last response: {} {}",
            c,
            safe(snap.last_reason.as_deref().unwrap_or(""))
        );
    }
    s.push('\n');
    if let Some(e) = snap.expires_in_ms {
        let _ = writeln!(
            s,
            "  Binding lapses in {} s (refresh due in {} s)",
            e.div_ceil(1000),
            snap.refresh_in_ms.unwrap_or(0).div_ceil(1000)
        );
    }
    let _ = writeln!(s, "  {}", safe(&diag.summary));
    if !diag.evidence.is_empty() {
        s.push_str("  Evidence:\n");
        for e in &diag.evidence {
            let _ = writeln!(s, "    - {}", safe(e));
        }
    }
    if !diag.remediation.is_empty() {
        s.push_str("  What to do:\n");
        for (i, r) in diag.remediation.iter().enumerate() {
            let _ = writeln!(s, "    {}. {}", i + 1, safe(r));
        }
    }
    if !diag.references.is_empty() {
        s.push_str("  References:\n");
        for r in &diag.references {
            let _ = write!(s, "    - {} {}: {}", r.source, safe(&r.id), safe(&r.title));
            if let Some(n) = &r.note {
                let _ = write!(s, " ({})", safe(n));
            }
            s.push('\n');
        }
    }
    let _ = writeln!(s, "  Confidence: {:?}", diag.confidence);
    if !snap.findings.is_empty() {
        s.push_str("  Configuration findings:\n");
        for f in &snap.findings {
            let _ = writeln!(
                s,
                "    [{}] {} ({}): {} Fix: {}",
                f.severity,
                f.code,
                f.field,
                safe(&f.message),
                safe(&f.fix)
            );
        }
    }
    if !snap.history.is_empty() {
        s.push_str("  History (oldest first):\n");
        for h in &snap.history {
            let _ = write!(
                s,
                "    t={}.{:03}s {}",
                h.at_ms / 1000,
                h.at_ms % 1000,
                h.kind
            );
            if h.code != 0 {
                let _ = write!(s, " {}", h.code);
            }
            if let Some(e) = h.expires {
                let _ = write!(s, " expires={e}");
            }
            if let Some(t) = h.transport {
                let _ = write!(s, " via {t}");
            }
            if h.credentials {
                s.push_str(" +credentials");
            }
            let _ = write!(s, " -> {} ({})", h.state, h.cause);
            if h.repeats > 0 {
                let _ = write!(s, " (cycle repeated {}x, last at this time)", h.repeats);
            }
            s.push('\n');
        }
    }
    Ok(s)
}

/// Every trunk, one line each, for a `show trunks` console listing: name,
/// state, cause, last code, seconds until the binding lapses, keep-alive
/// round trip (the last one, with the average).
pub fn render_trunks_text(engine: &Engine) -> String {
    use std::fmt::Write;
    let snaps: Vec<_> = engine
        .trunk_ids()
        .filter_map(|id| engine.snapshot(id).ok())
        .collect();
    let names: Vec<_> = snaps.iter().map(|t| safe(&t.name)).collect();
    let width = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<width$}  {:<13} {:<24} {:>4} {:>10}  {:<18} Alert",
        "Trunk", "State", "Cause", "Code", "Expires in", "Keep-alive RTT"
    );
    for (t, name) in snaps.iter().zip(&names) {
        let code = t
            .last_code
            .map_or_else(|| "-".to_owned(), |c| c.to_string());
        let expires = t
            .expires_in_ms
            .map_or_else(|| "-".to_owned(), |e| format!("{} s", e.div_ceil(1000)));
        let k = &t.keepalive;
        let rtt = if !k.enabled {
            "off".to_owned()
        } else if k.down.is_some() {
            format!("down ({} failed)", k.failures_in_row)
        } else if k.rtt.count == 0 {
            "pending".to_owned()
        } else {
            format!(
                "{:.1} ms (avg {:.1})",
                k.rtt.last_us as f64 / 1000.0,
                k.rtt.avg_us as f64 / 1000.0
            )
        };
        let _ = writeln!(
            s,
            "{:<width$}  {:<13} {:<24} {:>4} {:>10}  {:<18} {}",
            name,
            t.state.to_string(),
            t.cause.to_string(),
            code,
            expires,
            rtt,
            if t.alerting { "ALERT" } else { "-" }
        );
    }
    let alerting = snaps.iter().filter(|t| t.alerting).count();
    let _ = writeln!(
        s,
        "{} trunk{}, {} alerting",
        snaps.len(),
        if snaps.len() == 1 { "" } else { "s" },
        alerting
    );
    s
}

/// Every trunk's configuration findings, grouped by trunk, with the fix.
pub fn render_findings_text(engine: &Engine) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let mut n = 0;
    for id in engine.trunk_ids() {
        let Ok(t) = engine.snapshot(id) else { continue };
        if t.findings.is_empty() {
            continue;
        }
        let _ = writeln!(s, "{} ({}):", safe(&t.name), safe(&t.domain));
        for f in &t.findings {
            n += 1;
            let _ = writeln!(
                s,
                "  [{}] {} ({}): {}",
                f.severity,
                f.code,
                f.field,
                safe(&f.message)
            );
            let _ = writeln!(s, "      Fix: {}", safe(&f.fix));
        }
    }
    let _ = writeln!(s, "{n} finding{}", if n == 1 { "" } else { "s" });
    s
}
