//! The evidence lines of a diagnosis: what was seen (the last response,
//! the challenge, expiries, timeouts per transport, the keep-alive, the
//! host's report, the findings), one short line each. The same for every
//! cause.
use super::*;

/// What was seen, one short line each.
pub(super) fn evidence(f: &Facts<'_>) -> Vec<String> {
    let mut e = Vec::new();
    if let (Some(code), Some(at)) = (f.last_code, f.last_response_at_ms) {
        let mut line = format!("Last response: {}, {}", code_text(f), ago(f, at));
        if let Some(s) = f.server.filter(|s| !s.is_empty()) {
            let _ = write!(line, " (Server: {s})");
        }
        line.push('.');
        e.push(line);
        if let Some(s) = sip_status(code) {
            e.push(format!("{code} to REGISTER: {}", s.for_register));
        }
    }
    if f.from_credential_query {
        e.push("That answer is to regwatch's credential query: a REGISTER without Contact (it changes no binding), its challenge answered with the trunk's credentials.".to_owned());
    }
    match f.sent_credentials {
        Some(true) => {
            e.push("The REGISTER it answered carried credentials (Authorization).".to_owned())
        }
        Some(false) if f.last_code.is_some() => {
            e.push("The REGISTER it answered carried no credentials.".to_owned())
        }
        None if f.last_code == Some(403) => e.push(
            "The host does not report whether the REGISTER it answered carried credentials."
                .to_owned(),
        ),
        _ => {}
    }
    if let Some(q) = f.query_answer.filter(|q| *q != 0) {
        e.push(format!(
            "A query REGISTER (no Contact, no credentials: it changes no binding) got {q}: {}",
            match q {
                401 | 407 =>
                    "the account takes registrations, so the 403 came after the credentials.",
                403 => "registration is refused before any challenge.",
                404 | 604 => "the registrar does not serve this domain.",
                _ => "nothing that tells the two 403s apart.",
            }
        ));
    }
    if let Some((n, held)) = f.query_bindings {
        let mut line = format!(
            "A query REGISTER with the trunk's credentials (no Contact: it changes no binding) got 200 listing {n} binding{} for the AOR",
            if n == 1 { "" } else { "s" }
        );
        match (f.expected_contact, held) {
            (Some(c), Some(true)) => {
                let _ = write!(line, "; {c} is among them.");
            }
            (Some(c), Some(false)) => {
                let _ = write!(line, "; {c} is not among them.");
            }
            _ => line.push('.'),
        }
        e.push(line);
    }
    if let Some(c) = f.challenge {
        let mut line = format!(
            "Challenge: {} {}, realm \"{}\", algorithm {}",
            if c.proxy { 407 } else { 401 },
            if c.proxy {
                "Proxy-Authenticate"
            } else {
                "WWW-Authenticate"
            },
            c.realm,
            c.algorithm.unwrap_or("MD5")
        );
        if let Some(q) = c.qop {
            let _ = write!(line, ", qop {q}");
        }
        if c.stale {
            line.push_str(", stale=true (nonce expired; not a failure)");
        }
        line.push('.');
        e.push(line);
        if f.challenges_in_attempt > 1 {
            e.push(format!(
                "{} challenges in this attempt.",
                f.challenges_in_attempt
            ));
        }
        if let Some(r) = f
            .configured_realm
            .filter(|r| !r.is_empty() && *r != c.realm)
        {
            e.push(format!(
                "The host is configured with realm \"{r}\" but the challenge is for \"{}\".",
                c.realm
            ));
        }
    }
    if let Some((code, text)) = f.twilio_error {
        let title = twilio_code(code)
            .map(|t| t.title)
            .unwrap_or("not in regwatch's table");
        e.push(format!("X-Twilio-Error: {code} {text} ({title})."));
    }
    match (f.requested_expires, f.granted_expires) {
        (Some(r), Some(g)) if r != g => e.push(format!("Requested expiry {r} s, granted {g} s.")),
        (_, Some(g)) => e.push(format!("Granted expiry {g} s.")),
        (Some(r), None) => e.push(format!("Requested expiry {r} s.")),
        _ => {}
    }
    if let Some(m) = f.min_expires {
        e.push(format!("Min-Expires: {m} s."));
    }
    if let Some(r) = f.retry_after {
        e.push(format!("Retry-After: {r} s."));
    }
    if f.state.is_bound() {
        if let Some(r) = f.registered_at_ms {
            let mut line = format!("Registered {}", ago(f, r));
            if let Some(d) = f.refresh_due_at_ms {
                if d > f.now_ms {
                    let _ = write!(line, "; refresh due in {} s", secs(d - f.now_ms));
                } else {
                    let _ = write!(line, "; refresh was due {}", ago(f, d));
                }
            }
            if let Some(x) = f.expires_at_ms {
                let _ = write!(
                    line,
                    "; binding lapses in {} s",
                    secs(x.saturating_sub(f.now_ms))
                );
            }
            line.push('.');
            e.push(line);
        }
    } else if let (Some(r), Some(x)) = (f.registered_at_ms, f.expires_at_ms) {
        // A refresh failed: the binding made before still holds at the
        // registrar until it lapses.
        if x > f.now_ms {
            e.push(format!(
                "The binding made {} still holds until it lapses in {} s.",
                ago(f, r),
                secs(x - f.now_ms)
            ));
        }
    }
    if let Some(l) = f.refresh_late_by_ms {
        let point = f.refresh_policy.point(f.refresh_ratio);
        e.push(if f.state == RegState::Registered {
            format!("The last refresh came {} s after {point}.", l / 1000)
        } else {
            format!("No successful refresh {} s after {point}.", l / 1000)
        });
    }
    for t in Transport::ALL {
        let n = f.timeouts[t.index()];
        if n > 0 {
            e.push(format!(
                "{}: {n} request{} in a row unanswered (REGISTER or OPTIONS).",
                t.as_str().to_uppercase(),
                if n == 1 { "" } else { "s" }
            ));
        } else if f.answered[t.index()] && f.timeouts.iter().any(|n| *n > 0) {
            e.push(format!(
                "{}: the registrar answered.",
                t.as_str().to_uppercase()
            ));
        }
    }
    if let Some(k) = f.keepalive.filter(|k| k.enabled && k.sent > 0) {
        let mut line = format!(
            "OPTIONS keep-alive to {} over {}: ",
            k.target.as_deref().unwrap_or("?"),
            k.transport.map_or("?", |t| t.as_str()).to_uppercase()
        );
        if k.failures_in_row > 0 {
            let _ = write!(
                line,
                "{} failure{} in a row",
                k.failures_in_row,
                if k.failures_in_row == 1 { "" } else { "s" }
            );
        } else {
            let _ = write!(line, "answered");
            if let Some(c) = k.last_code {
                let _ = write!(line, " ({c})");
            }
        }
        match k.last_answer_at_ms {
            Some(a) if k.failures_in_row > 0 => {
                let _ = write!(line, "; last answer {}", ago(f, a));
            }
            None if k.failures_in_row > 0 => line.push_str("; never answered"),
            _ => {}
        }
        if k.rtt.count > 0 {
            let ms = |us: u64| us as f64 / 1000.0;
            let _ = write!(
                line,
                "; RTT {:.1} ms avg ({:.1}-{:.1})",
                ms(k.rtt.avg_us),
                ms(k.rtt.min_us),
                ms(k.rtt.max_us)
            );
        }
        line.push('.');
        e.push(line);
    }
    if let Some((kind, detail, t)) = f.transport_error {
        let what = match kind {
            TransportErrorKind::Refused => {
                "connection refused (ICMP port unreachable or TCP reset)"
            }
            TransportErrorKind::Unreachable => "network or host unreachable",
            TransportErrorKind::Dns => "name resolution failed",
            TransportErrorKind::Tls => "TLS handshake or certificate failure",
            TransportErrorKind::Protocol => "not SIP, the connection was dropped",
        };
        let mut line = format!("Transport error: {what}");
        if let Some(t) = t {
            let _ = write!(line, " over {}", t.as_str().to_uppercase());
        }
        if let Some(d) = detail.filter(|d| !d.is_empty()) {
            let _ = write!(line, " ({d})");
        }
        line.push('.');
        e.push(line);
    }
    if let Some(hs) = f.host_state {
        let what = match hs {
            HostState::Registered => "registered",
            HostState::Unregistered => "unregistered (it will retry)",
            HostState::Rejected => "rejected, without a SIP code",
            HostState::GaveUp => "gave up: it stopped retrying",
        };
        e.push(format!("The host reports: {what}."));
    }
    if f.failures_in_row > 1 {
        e.push(format!("{} failed attempts in a row.", f.failures_in_row));
    }
    for x in f
        .findings
        .iter()
        .filter(|x| x.severity >= Severity::Warning)
    {
        e.push(format!(
            "Configuration [{}] {}: {}",
            x.severity, x.code, x.message
        ));
    }
    if let Some(s) = &f.suggested_domain {
        e.push(format!("Closest valid registrar name: {s}."));
    }
    e
}
