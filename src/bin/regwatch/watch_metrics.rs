//! The Prometheus text `regwatch watch --metrics` serves: per trunk
//! (up, state, last code, keep-alive failures and RTT, granted expiry, the
//! credential query's verdicts) and about regwatch itself.
use super::metrics_http::Stats;
use super::watch::{AlertCounts, ALERT_QUEUE};
use regwatch::driver::Runner;
use regwatch::RegState;
use std::sync::atomic::Ordering;

/// Prometheus text for the trunks the runner knows.
pub(super) fn metrics(runner: &Runner, names: &[String]) -> String {
    let mut out = String::new();
    let esc = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    out.push_str("# HELP regwatch_trunk_up 1 when the trunk is registered (or not registering), its registrar answers and no alert is raised (a refused credential query raises one).\n# TYPE regwatch_trunk_up gauge\n");
    let mut rows = Vec::new();
    for n in names {
        if let Ok(Some((s, d))) = runner.snapshot(n) {
            rows.push((s, d));
        }
    }
    for (s, d) in &rows {
        let up = !s.alerting
            && !matches!(
                s.state,
                RegState::Rejected | RegState::Unreachable | RegState::Expired | RegState::Stopped
            );
        out.push_str(&format!(
            "regwatch_trunk_up{{trunk=\"{}\",cause=\"{}\"}} {}\n",
            esc(&s.name),
            d.cause.as_str(),
            u8::from(up)
        ));
    }
    out.push_str("# HELP regwatch_trunk_state The trunk's registration state (1 for the current one).\n# TYPE regwatch_trunk_state gauge\n");
    for (s, d) in &rows {
        out.push_str(&format!(
            "regwatch_trunk_state{{trunk=\"{}\",state=\"{}\",cause=\"{}\"}} 1\n",
            esc(&s.name),
            s.state.as_str(),
            d.cause.as_str()
        ));
    }
    out.push_str("# HELP regwatch_last_status_code The last SIP status code answered to a keep-alive or REGISTER (0: none).\n# TYPE regwatch_last_status_code gauge\n");
    for (s, _) in &rows {
        let code = s.keepalive.last_code.or(s.last_code).unwrap_or(0);
        out.push_str(&format!(
            "regwatch_last_status_code{{trunk=\"{}\"}} {code}\n",
            esc(&s.name)
        ));
    }
    out.push_str("# HELP regwatch_keepalive_failures_in_row OPTIONS keep-alives failed in a row.\n# TYPE regwatch_keepalive_failures_in_row gauge\n");
    for (s, _) in &rows {
        out.push_str(&format!(
            "regwatch_keepalive_failures_in_row{{trunk=\"{}\"}} {}\n",
            esc(&s.name),
            s.keepalive.failures_in_row
        ));
    }
    out.push_str("# HELP regwatch_keepalive_rtt_seconds Keep-alive round trip (EWMA).\n# TYPE regwatch_keepalive_rtt_seconds gauge\n");
    for (s, _) in &rows {
        if s.keepalive.rtt.count > 0 {
            out.push_str(&format!(
                "regwatch_keepalive_rtt_seconds{{trunk=\"{}\"}} {:.6}\n",
                esc(&s.name),
                s.keepalive.rtt.ewma_us as f64 / 1e6
            ));
        }
    }
    out.push_str("# HELP regwatch_trunk_credentials_ok 1 when the last credential query (a REGISTER without Contact, answered with the trunk's credentials) was accepted, 0 when refused; absent while it is off or unanswered.\n# TYPE regwatch_trunk_credentials_ok gauge\n");
    for (s, _) in &rows {
        if let Some(ok) = s.credentials_ok {
            out.push_str(&format!(
                "regwatch_trunk_credentials_ok{{trunk=\"{}\"}} {}\n",
                esc(&s.name),
                u8::from(ok)
            ));
        }
    }
    out.push_str("# HELP regwatch_trunk_binding_present 1 when the registrar listed the trunk's contact among the AOR's bindings in the last credential query, 0 when not; absent without a contact or a 200.\n# TYPE regwatch_trunk_binding_present gauge\n");
    for (s, _) in &rows {
        if let Some(held) = s.binding_present {
            out.push_str(&format!(
                "regwatch_trunk_binding_present{{trunk=\"{}\"}} {}\n",
                esc(&s.name),
                u8::from(held)
            ));
        }
    }
    out.push_str("# HELP regwatch_granted_expires_seconds The expiry the registrar granted last.\n# TYPE regwatch_granted_expires_seconds gauge\n");
    for (s, _) in &rows {
        if let Some(g) = s.granted_expires {
            out.push_str(&format!(
                "regwatch_granted_expires_seconds{{trunk=\"{}\"}} {g}\n",
                esc(&s.name)
            ));
        }
    }
    out
}

/// Prometheus text about regwatch itself: connections the endpoint
/// dropped, alert commands dropped.
pub(super) fn self_metrics(http: &Stats, alerts: &AlertCounts, peers_dropped: u64) -> String {
    let mut out = String::from("# HELP regwatch_metrics_connections_dropped_total Connections to this endpoint closed by regwatch: over the connection cap (503), request head too large (431), deadline passed (408).\n# TYPE regwatch_metrics_connections_dropped_total counter\n");
    for (reason, n) in [
        ("over_capacity", &http.over_capacity),
        ("header_too_large", &http.header_too_large),
        ("deadline", &http.deadline),
    ] {
        out.push_str(&format!(
            "regwatch_metrics_connections_dropped_total{{reason=\"{reason}\"}} {}\n",
            n.load(Ordering::Relaxed)
        ));
    }
    let dropped = alerts.dropped.load(Ordering::Relaxed);
    let timed_out = alerts.timed_out.load(Ordering::Relaxed);
    out.push_str(&format!("# HELP regwatch_alert_commands_dropped_total Alerts not given to the --on-alert command because {ALERT_QUEUE} were already waiting for it.\n# TYPE regwatch_alert_commands_dropped_total counter\nregwatch_alert_commands_dropped_total {dropped}\n"));
    out.push_str(&format!("# HELP regwatch_alert_commands_timed_out_total --on-alert commands killed for running past --on-alert-timeout.\n# TYPE regwatch_alert_commands_timed_out_total counter\nregwatch_alert_commands_timed_out_total {timed_out}\n"));
    out.push_str(&format!("# HELP regwatch_peer_connections_dropped_total TCP/TLS connections to registrars that regwatch dropped: 64 KiB without a complete SIP message, bytes that are not SIP, or 64 KiB of requests left unread.\n# TYPE regwatch_peer_connections_dropped_total counter\nregwatch_peer_connections_dropped_total {peers_dropped}\n"));
    out
}
