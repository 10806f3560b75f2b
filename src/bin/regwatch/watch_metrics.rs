//! The Prometheus text `regwatch watch --metrics` serves: the trunks'
//! metrics as the library renders them for every host
//! (`regwatch::hosts::metrics`), then those about regwatch itself.
use super::metrics_http::Stats;
use super::watch::{AlertCounts, ALERT_QUEUE};
use regwatch::driver::Runner;
use std::sync::atomic::Ordering;

/// Prometheus text for the trunks the runner knows, `host` as their
/// `host` label (none when empty).
pub(super) fn metrics(runner: &Runner, names: &[String], host: &str) -> String {
    let rows: Vec<_> = names
        .iter()
        .filter_map(|n| runner.snapshot(n).ok().flatten())
        .collect();
    regwatch::hosts::metrics::render(&rows, host)
}

/// The `host` label when `--metrics-host` is not given: the machine's
/// host name (empty when it cannot be read: no label then).
pub(super) fn default_host() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| {
            let s = std::fs::read_to_string(p).ok()?;
            let s = s.trim();
            (!s.is_empty() && s.len() <= 253).then(|| s.to_owned())
        })
        .unwrap_or_default()
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
