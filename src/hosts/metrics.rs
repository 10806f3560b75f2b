//! The Prometheus text exposition (format 0.0.4) of an engine's trunks,
//! rendered once for every place regwatch exposes metrics: `regwatch watch
//! --metrics`, and a module through `regwatch_engine_metrics_text`.
//!
//! Names carry their unit (`_seconds`) and counters end in `_total`.
//! Labels come only from the trunk's name, the `host` the caller names
//! (the PBX or machine regwatch runs on; left out when empty), the trunk's
//! domain and transport, and a cause id (a closed set); the state gauge
//! also has the state (one series at 1 per trunk). So the series count is
//! bounded by the trunk count: failures by cause only for the causes a
//! trunk has seen. Passwords are not in a snapshot, so never here.
use crate::core::{Diagnosis, Engine, RegState, TrunkSnapshot, DELAY_BUCKETS_MS};
use std::fmt::Write;

/// The text for every trunk of `engine` (by name), `host` as the `host`
/// label (none when empty).
pub fn render_engine(engine: &Engine, host: &str) -> String {
    let mut rows: Vec<(TrunkSnapshot, Diagnosis)> = engine
        .trunk_ids()
        .filter_map(|id| Some((engine.snapshot(id).ok()?, engine.diagnose(id).ok()?)))
        .collect();
    rows.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    render(&rows, host)
}

/// The text for these trunks (snapshots with their diagnoses), in order.
pub fn render(rows: &[(TrunkSnapshot, Diagnosis)], host: &str) -> String {
    let mut out = String::with_capacity(256 + rows.len() * 2048);
    let mut m = Metrics {
        out: &mut out,
        host,
    };
    m.family(
        "regwatch_trunk_up",
        "gauge",
        "1 when the trunk is registered (or not registering), its registrar answers and no alert is raised; cause: the diagnosis.",
    );
    for (s, d) in rows {
        let up = !s.alerting
            && !matches!(
                s.state,
                RegState::Rejected | RegState::Unreachable | RegState::Expired | RegState::Stopped
            );
        m.sample(
            "regwatch_trunk_up",
            s,
            &[("cause", d.cause.as_str())],
            u8::from(up),
        );
    }
    m.family(
        "regwatch_trunk_state",
        "gauge",
        "The trunk's registration state (1 for the current one) and its diagnosis' cause.",
    );
    for (s, d) in rows {
        let extra = [("state", s.state.as_str()), ("cause", d.cause.as_str())];
        m.sample("regwatch_trunk_state", s, &extra, 1);
    }
    m.family(
        "regwatch_last_status_code",
        "gauge",
        "The last SIP status code answered to a keep-alive or REGISTER (0: none).",
    );
    for (s, _) in rows {
        let code = s.keepalive.last_code.or(s.last_code).unwrap_or(0);
        m.sample("regwatch_last_status_code", s, &[], code);
    }
    m.family(
        "regwatch_granted_expires_seconds",
        "gauge",
        "The expiry the registrar granted last.",
    );
    for (s, _) in rows {
        if let Some(g) = s.granted_expires {
            m.sample("regwatch_granted_expires_seconds", s, &[], g);
        }
    }
    m.family(
        "regwatch_binding_remaining_seconds",
        "gauge",
        "Seconds until the binding lapses unless refreshed (0: lapsed); absent while unbound or the expiry is unknown.",
    );
    for (s, _) in rows {
        if let Some(ms) = s.expires_in_ms {
            m.sample("regwatch_binding_remaining_seconds", s, &[], Secs(ms));
        }
    }
    m.family(
        "regwatch_last_registration_age_seconds",
        "gauge",
        "Seconds since a binding was last made (a 2xx to REGISTER, or the PBX said registered); absent before the first.",
    );
    for (s, _) in rows {
        if let Some(ms) = s.registered_ago_ms {
            m.sample("regwatch_last_registration_age_seconds", s, &[], Secs(ms));
        }
    }
    m.family(
        "regwatch_register_attempts_total",
        "counter",
        "Registration attempts seen: REGISTERs, a challenge's answer counted with the REGISTER it answers.",
    );
    for (s, _) in rows {
        let n = s.counters.attempts;
        m.sample("regwatch_register_attempts_total", s, &[], n);
    }
    m.family(
        "regwatch_register_failures_total",
        "counter",
        "Registration attempts that failed, by the cause they were classified as (only causes seen).",
    );
    for (s, _) in rows {
        for (cause, n) in s.counters.failures() {
            let extra = [("cause", cause.as_str())];
            m.sample("regwatch_register_failures_total", s, &extra, n);
        }
    }
    m.family(
        "regwatch_registration_request_delay_seconds",
        "histogram",
        "RFC 6076 registration request delay: from an attempt's first REGISTER to its 2xx, the challenge round included.",
    );
    for (s, _) in rows {
        let c = &s.counters;
        let cum = c.delay_cumulative();
        for (le, n) in DELAY_BUCKETS_MS.iter().zip(cum) {
            let le = format!("{}", Secs(*le));
            let extra = [("le", le.as_str())];
            m.sample(
                "regwatch_registration_request_delay_seconds_bucket",
                s,
                &extra,
                n,
            );
        }
        let all = cum.last().copied().unwrap_or(0);
        let inf = [("le", "+Inf")];
        m.sample(
            "regwatch_registration_request_delay_seconds_bucket",
            s,
            &inf,
            all,
        );
        let sum = Secs(c.delay_sum_ms);
        m.sample(
            "regwatch_registration_request_delay_seconds_sum",
            s,
            &[],
            sum,
        );
        m.sample(
            "regwatch_registration_request_delay_seconds_count",
            s,
            &[],
            all,
        );
    }
    m.family(
        "regwatch_keepalive_rtt_seconds",
        "gauge",
        "Keep-alive round trip (EWMA); absent before the first answer.",
    );
    for (s, _) in rows {
        if s.keepalive.rtt.count > 0 {
            let rtt = Micros(s.keepalive.rtt.ewma_us);
            m.sample("regwatch_keepalive_rtt_seconds", s, &[], rtt);
        }
    }
    m.family(
        "regwatch_keepalive_probes_total",
        "counter",
        "OPTIONS keep-alives sent.",
    );
    for (s, _) in rows {
        m.sample("regwatch_keepalive_probes_total", s, &[], s.keepalive.sent);
    }
    m.family(
        "regwatch_keepalive_failures_total",
        "counter",
        "OPTIONS keep-alives that failed (no answer, or an answer that says the registrar is unusable).",
    );
    for (s, _) in rows {
        let n = s.keepalive.failed;
        m.sample("regwatch_keepalive_failures_total", s, &[], n);
    }
    m.family(
        "regwatch_keepalive_failures_in_row",
        "gauge",
        "OPTIONS keep-alives failed in a row.",
    );
    for (s, _) in rows {
        let n = s.keepalive.failures_in_row;
        m.sample("regwatch_keepalive_failures_in_row", s, &[], n);
    }
    m.family(
        "regwatch_trunk_credentials_ok",
        "gauge",
        "1 when the last credential query (a REGISTER without Contact, answered with the trunk's credentials) was accepted, 0 when refused; absent while it is off or unanswered.",
    );
    for (s, _) in rows {
        if let Some(ok) = s.credentials_ok {
            m.sample("regwatch_trunk_credentials_ok", s, &[], u8::from(ok));
        }
    }
    m.family(
        "regwatch_trunk_binding_present",
        "gauge",
        "1 when the registrar listed the trunk's contact among the AOR's bindings in the last credential query, 0 when not; absent without a contact or a 200.",
    );
    for (s, _) in rows {
        if let Some(held) = s.binding_present {
            m.sample("regwatch_trunk_binding_present", s, &[], u8::from(held));
        }
    }
    m.family(
        "regwatch_alerts_active",
        "gauge",
        "Trunks with an alert raised.",
    );
    let active = rows.iter().filter(|(s, _)| s.alerting).count();
    m.out.push_str("regwatch_alerts_active");
    if !host.is_empty() {
        m.out.push_str("{host=\"");
        escape(m.out, host);
        m.out.push_str("\"}");
    }
    let _ = writeln!(m.out, " {active}");
    out
}

struct Metrics<'a> {
    out: &'a mut String,
    host: &'a str,
}

impl Metrics<'_> {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample: the trunk's labels (trunk, host, domain, transport),
    /// then `extra`.
    fn sample(
        &mut self,
        name: &str,
        s: &TrunkSnapshot,
        extra: &[(&str, &str)],
        v: impl std::fmt::Display,
    ) {
        let out = &mut *self.out;
        out.push_str(name);
        out.push_str("{trunk=\"");
        escape(out, &s.name);
        if !self.host.is_empty() {
            out.push_str("\",host=\"");
            escape(out, self.host);
        }
        out.push_str("\",domain=\"");
        escape(out, &s.domain);
        out.push_str("\",transport=\"");
        out.push_str(s.transport.map_or("", |t| t.as_str()));
        out.push('"');
        for (k, v) in extra {
            let _ = write!(out, ",{k}=\"");
            escape(out, v);
            out.push('"');
        }
        let _ = writeln!(out, "}} {v}");
    }
}

/// Milliseconds shown as seconds (`1.5`, `60`, `0.001`).
struct Secs(u64);

impl std::fmt::Display for Secs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (s, ms) = (self.0 / 1000, self.0 % 1000);
        if ms == 0 {
            write!(f, "{s}")
        } else {
            let frac = format!("{ms:03}");
            write!(f, "{s}.{}", frac.trim_end_matches('0'))
        }
    }
}

/// Microseconds shown as seconds.
struct Micros(u64);

impl std::fmt::Display for Micros {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (s, us) = (self.0 / 1_000_000, self.0 % 1_000_000);
        if us == 0 {
            write!(f, "{s}")
        } else {
            let frac = format!("{us:06}");
            write!(f, "{s}.{}", frac.trim_end_matches('0'))
        }
    }
}

/// A label value as the text format wants it (`\\`, `\"`, `\n`).
fn escape(out: &mut String, v: &str) {
    for ch in v.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests;
