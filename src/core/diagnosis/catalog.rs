//! The text of every diagnosis: summary, evidence, remediation, references.
//!
//! Everything here is built from [`Facts`] only, so the same facts always
//! give the same words. No secret is ever part of Facts.
use super::codes::{sip_status, twilio_code};
use super::{Confidence, Diagnosis, Facts, Reference};
use crate::core::observation::{HostState, TransportErrorKind};
use crate::core::state::{Cause, RegState};
use crate::validate::{Profile, Severity, Transport, TWILIO_REALM};
use std::fmt::Write;

/// Renders the diagnosis for `cause` from what the engine knows.
pub(crate) fn render(cause: Cause, f: &Facts<'_>) -> Diagnosis {
    let mut d = Diagnosis {
        cause,
        severity: cause.severity(),
        summary: summary(cause, f),
        evidence: evidence(f),
        remediation: Vec::new(),
        references: Vec::new(),
        confidence: Confidence::High,
    };
    remedy(cause, f, &mut d);
    d
}

fn secs(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

fn ago(f: &Facts<'_>, at: u64) -> String {
    let s = f.now_ms.saturating_sub(at) / 1000;
    match s {
        0 => "just now".to_owned(),
        1..=119 => format!("{s} s ago"),
        120..=7199 => format!("{} min ago", s / 60),
        _ => format!("{} h ago", s / 3600),
    }
}

fn twilio(f: &Facts<'_>) -> bool {
    f.profile == Profile::Twilio
}

fn code_text(f: &Facts<'_>) -> String {
    match (f.last_code, f.last_reason) {
        (Some(c), Some(r)) if !r.is_empty() => format!("{c} {r}"),
        (Some(c), _) => c.to_string(),
        _ => "no response".to_owned(),
    }
}

fn who(f: &Facts<'_>) -> String {
    let user = f.auth_username.unwrap_or(f.username);
    if user.is_empty() {
        "the configured user".to_owned()
    } else {
        format!("user {user}")
    }
}

/// The transports that timed out, and the ones that answered.
fn transports(f: &Facts<'_>) -> (Vec<Transport>, Vec<Transport>) {
    let timed_out = Transport::ALL
        .into_iter()
        .filter(|t| f.timeouts[t.index()] > 0)
        .collect();
    let answered = Transport::ALL
        .into_iter()
        .filter(|t| f.answered[t.index()])
        .collect();
    (timed_out, answered)
}

fn list(ts: &[Transport]) -> String {
    let names: Vec<String> = ts.iter().map(|t| t.as_str().to_uppercase()).collect();
    match names.len() {
        0 => "none".to_owned(),
        _ => names.join(" and "),
    }
}

fn registrar(f: &Facts<'_>) -> String {
    if f.domain.is_empty() {
        "the registrar".to_owned()
    } else {
        f.domain.trim().to_owned()
    }
}

/// One line, plain words, naming the trunk.
pub(crate) fn summary(cause: Cause, f: &Facts<'_>) -> String {
    let t = f.trunk;
    let reg = registrar(f);
    match cause {
        Cause::Healthy => match (f.state, f.expires_at_ms) {
            (RegState::Registered, Some(e)) => format!(
                "{t}: registered to {reg}; the binding lapses in {} s unless refreshed.",
                secs(e.saturating_sub(f.now_ms))
            ),
            (RegState::Registered, None) => format!("{t}: registered to {reg} (as the host reports it)."),
            _ => format!("{t}: no problem seen."),
        },
        Cause::CredentialsRejected => {
            if f.sent_credentials == Some(false) && f.challenges_in_attempt >= 2 {
                format!(
                    "{t}: {reg} challenged the REGISTER and the host sent it again without credentials, so it never authenticated."
                )
            } else if f.last_code == Some(403) {
                if twilio(f) {
                    format!("{t}: Twilio rejected the password for {} (403 after the 407 challenge was answered).", who(f))
                } else {
                    format!("{t}: {reg} refused the credentials of {} (403 after authenticating).", who(f))
                }
            } else if f.last_code == Some(904) {
                format!("{t}: FreeSWITCH could not authenticate {} to {reg} (904: the credentials were refused).", who(f))
            } else {
                format!(
                    "{t}: {reg} refused the username or password of {} ({} again after credentials were sent).",
                    who(f),
                    code_text(f)
                )
            }
        }
        Cause::AccountForbidden => format!(
            "{t}: {reg} forbids registration for this account ({}), whatever the password.",
            code_text(f)
        ),
        Cause::AuthUsernameMismatch => format!(
            "{t}: the authorization user `{}` differs from the username `{}`; Twilio requires them to be the same.",
            f.auth_username.unwrap_or("?"),
            f.username
        ),
        Cause::DomainNotFound => match &f.suggested_domain {
            Some(s) => format!("{t}: {reg} does not exist at the registrar (404); did you mean {s}?"),
            None => format!("{t}: the registrar does not know the domain {reg} (404): deleted, renamed or mistyped."),
        },
        Cause::IntervalTooBrief => match f.min_expires {
            Some(m) => format!(
                "{t}: the requested expiry{} is too short; {reg} wants at least {m} s (423).",
                f.requested_expires.map(|e| format!(" of {e} s")).unwrap_or_default()
            ),
            None => format!("{t}: the requested expiry is too short for {reg} (423)."),
        },
        Cause::RegistrarUnreachable => format!(
            "{t}: {reg} does not answer{}.",
            match transports(f).0.as_slice() {
                [] => String::new(),
                ts => format!(" over {}", list(ts)),
            }
        ),
        Cause::TransportBlocked => {
            let (out, ok) = transports(f);
            format!(
                "{t}: {} to {reg} gets no answer while {} does: something blocks {}.",
                list(&out),
                list(&ok),
                list(&out)
            )
        }
        Cause::ConnectionRefused => format!(
            "{t}: nothing listens at {reg}{}: the connection was refused.",
            transport_of_error(f).map(|t| format!(" over {}", t.as_str().to_uppercase())).unwrap_or_default()
        ),
        Cause::DnsFailure => format!(
            "{t}: the name {} does not resolve.",
            f.transport_error.and_then(|(_, d, _)| d).filter(|d| !d.is_empty()).unwrap_or(reg.as_str())
        ),
        Cause::TlsFailure => format!("{t}: the TLS handshake with {reg} failed (certificate or TLS settings)."),
        Cause::ServerError => format!(
            "{t}: {reg} answered {}: a failure on the registrar's side{}.",
            code_text(f),
            f.retry_after.map(|r| format!("; it asks to retry after {r} s")).unwrap_or_default()
        ),
        Cause::RateLimited => format!("{t}: {reg} is throttling REGISTERs from this address ({}).", code_text(f)),
        Cause::RegistrationExpired => format!(
            "{t}: the registration lapsed: no refresh reached {reg} before the binding expired, so inbound calls fail."
        ),
        Cause::RefreshLate => match f.refresh_late_by_ms {
            Some(l) => format!(
                "{t}: the refresh is {} s past the refresh point ({:.0} % of the granted expiry).",
                l / 1000,
                f.refresh_ratio * 100.0
            ),
            None => format!("{t}: the refresh is overdue."),
        },
        Cause::ExpiryDrift => format!(
            "{t}: registered, but {reg} granted {} s where {} s was asked.",
            f.granted_expires.unwrap_or(0),
            f.requested_expires.unwrap_or(0)
        ),
        Cause::Deregistered => format!("{t}: deregistered on purpose (Expires: 0); inbound calls will not reach it."),
        Cause::ConfigInvalid => {
            let n = f.findings.iter().filter(|x| x.severity == Severity::Error).count();
            format!(
                "{t}: the configuration has {n} error{} that will make registration fail.",
                if n == 1 { "" } else { "s" }
            )
        }
        Cause::ContactNotBound => format!(
            "{t}: {reg} answered 200 OK but does not hold our binding (our Contact is missing or granted 0 s)."
        ),
        Cause::ProtocolError => format!(
            "{t}: what {reg} sends{} is not SIP{}; the connection was dropped.",
            transport_of_error(f).map(|t| format!(" over {}", t.as_str().to_uppercase())).unwrap_or_default(),
            f.transport_error.and_then(|(_, d, _)| d).filter(|d| !d.is_empty()).map(|d| format!(": {d}")).unwrap_or_default()
        ),
        Cause::Unknown => {
            if f.last_code.is_none() && f.host_state.is_none() && f.transport_error.is_none() {
                format!("{t}: nothing observed yet.")
            } else if let Some(hs) = f.host_state.filter(|_| f.last_code.is_none()) {
                format!(
                    "{t}: the host reports `{}` but gives no SIP code, so the cause cannot be told.",
                    hs.as_str()
                )
            } else {
                format!("{t}: {reg} answered {}, which fits no known cause.", code_text(f))
            }
        }
    }
}

fn transport_of_error(f: &Facts<'_>) -> Option<Transport> {
    f.transport_error.and_then(|(_, _, t)| t).or(f.transport)
}

/// What was seen, one short line each.
fn evidence(f: &Facts<'_>) -> Vec<String> {
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
    match f.sent_credentials {
        Some(true) => {
            e.push("The REGISTER it answered carried credentials (Authorization).".to_owned())
        }
        Some(false) if f.last_code.is_some() => {
            e.push("The REGISTER it answered carried no credentials.".to_owned())
        }
        _ => {}
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
    }
    if let Some(l) = f.refresh_late_by_ms {
        let point = format!(
            "the refresh point ({:.0} % of the granted expiry)",
            f.refresh_ratio * 100.0
        );
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

fn twilio_ref(code: u32) -> Reference {
    let t = twilio_code(code);
    Reference {
        source: "twilio-debugger",
        id: code.to_string(),
        title: t.map(|t| t.title).unwrap_or("").to_owned(),
        note: t.and_then(|t| t.note).map(str::to_owned),
    }
}

fn rfc(id: &str, title: &str) -> Reference {
    Reference {
        source: "rfc",
        id: id.to_owned(),
        title: title.to_owned(),
        note: None,
    }
}

fn console_credentials() -> String {
    "In the Twilio Console open Voice > Manage > SIP domains > your domain > Voice Authentication / SIP Registration, \
     note the credential list mapped under SIP Registration, then Voice > Manage > Credential lists: check the username \
     exists there exactly (case-sensitive)."
        .to_owned()
}

fn verify(f: &Facts<'_>) -> String {
    format!(
        "Verify with a test registration: Asterisk `pjsip send register {t}`, FreeSWITCH `sofia profile <profile> register {t}`, \
         or `regwatch check --domain {d} --user {u}`.",
        t = f.trunk,
        d = registrar(f),
        u = f.username
    )
}

/// Remediation, references and confidence per cause.
fn remedy(cause: Cause, f: &Facts<'_>, d: &mut Diagnosis) {
    let tw = twilio(f);
    let r = &mut d.remediation;
    let refs = &mut d.references;
    match cause {
        Cause::Healthy => {
            r.push(
                "Nothing to fix. Keep the refresh at about half of the granted expiry.".to_owned(),
            );
            if f.host_state.is_some() && f.expires_at_ms.is_none() {
                d.confidence = Confidence::Medium;
                r.push("Feed regwatch the SIP messages (or the host's log lines) to track the granted expiry and catch a silent lapse.".to_owned());
            }
        }
        Cause::CredentialsRejected => {
            if f.sent_credentials == Some(false) && f.challenges_in_attempt >= 2 {
                r.push("Make the host answer the challenge: Asterisk needs `outbound_auth=<auth section>` on the type=registration; FreeSWITCH needs `username` and `password` on the gateway.".to_owned());
                if f.challenge.is_some_and(|c| c.proxy) {
                    r.push("The registrar challenges with 407 Proxy-Authenticate (Twilio always does). A client that only answers 401 never authenticates: update it or use one that answers 407.".to_owned());
                }
                d.confidence = Confidence::Medium;
            } else {
                if tw {
                    r.push(console_credentials());
                    r.push("Re-enter the password on the PBX exactly as stored in the credential list (case-sensitive, no leading/trailing spaces). If nobody knows it, set a new one in the Console and update the PBX at once.".to_owned());
                } else {
                    r.push("Check the username and password against the registrar's account settings (case-sensitive).".to_owned());
                }
                r.push("On the PBX: Asterisk `type=auth` section (`username`, `password`; leave `realm` empty or matching the challenge) referenced by `outbound_auth`; FreeSWITCH gateway params `username`, `password`, `realm`.".to_owned());
                if let (Some(c), Some(cr)) = (f.challenge, f.configured_realm) {
                    if !cr.is_empty() && cr != c.realm {
                        r.push(format!("The configured realm \"{cr}\" does not match the challenge's \"{}\": clear it or set it to \"{}\".", c.realm, c.realm));
                    }
                }
                // A generic registrar's 403 may also mean "not allowed at all".
                if !tw && f.last_code == Some(403) {
                    d.confidence = Confidence::Medium;
                }
            }
            if f.last_code == Some(904) {
                refs.push(Reference {
                    source: "freeswitch",
                    id: "904".to_owned(),
                    title: "Operation has no matching challenge".to_owned(),
                    note: Some("mod_sofia's local code when its credentials fail".to_owned()),
                });
            }
            if tw {
                refs.push(twilio_ref(32202));
                refs.push(twilio_ref(31201));
            }
            refs.push(rfc("RFC 3261 §22", "Usage of HTTP Authentication"));
            r.push(verify(f));
        }
        Cause::AccountForbidden => {
            if tw {
                r.push("In the Twilio Console: Voice > Manage > SIP domains > your domain: under Voice Authentication, turn SIP Registration on (Debugger 32210).".to_owned());
                r.push("Map a credential list under SIP Registration (32212) and make sure it holds this trunk's username.".to_owned());
                r.push("If the domain uses an IP access control list, add the PBX's public address (32201).".to_owned());
                refs.push(twilio_ref(32210));
                refs.push(twilio_ref(32212));
                refs.push(twilio_ref(32201));
                if f.twilio_error.is_none() {
                    d.confidence = Confidence::Medium;
                }
            } else {
                r.push("Ask the provider whether registration is enabled for this account and whether the PBX's address is allowed.".to_owned());
                d.confidence = Confidence::Medium;
            }
            r.push(verify(f));
        }
        Cause::AuthUsernameMismatch => {
            r.push(format!(
                "Set the authorization user equal to the username `{}` (Asterisk: `username` in type=auth must equal the user of `client_uri`; FreeSWITCH: drop `auth-username` or set it to `username`).",
                f.username
            ));
            r.push("Make sure that same username is in the credential list mapped for SIP Registration.".to_owned());
            refs.push(twilio_ref(32106));
            if f.twilio_error.is_none() {
                d.confidence = Confidence::Medium;
            }
            r.push(verify(f));
        }
        Cause::DomainNotFound => {
            if let Some(s) = &f.suggested_domain {
                r.push(format!(
                    "Register to `{s}`: the configured `{}` is not a valid registrar name.",
                    registrar(f)
                ));
            }
            if tw {
                r.push("Compare the domain with Voice > Manage > SIP domains in the Twilio Console: it must be exactly `<name>.sip.twilio.com` (or `<name>.sip.<edge>.twilio.com`), with no https://, no user part and no extra labels.".to_owned());
                r.push("If the SIP domain was deleted or renamed, create it again or point the PBX at the new name.".to_owned());
            } else {
                r.push("Check the domain (Request-URI of the REGISTER) against the provider's documentation; a 404 means the registrar does not serve that domain.".to_owned());
            }
            r.push("Asterisk: `server_uri=sip:<domain>` and `client_uri=sip:<user>@<domain>`; FreeSWITCH: the gateway's `realm`/`proxy`/`from-domain`.".to_owned());
            refs.push(rfc("RFC 3261 §10.2", "Constructing the REGISTER Request"));
            r.push(verify(f));
        }
        Cause::IntervalTooBrief => {
            let min = f.min_expires.unwrap_or(if tw { 600 } else { 60 });
            r.push(format!(
                "Raise the registration expiry to at least {min} s{} (Asterisk `expiration`, FreeSWITCH `expire-seconds`).",
                if tw { " and at most 3600 s" } else { "" }
            ));
            r.push("A PBX that honours Min-Expires retries by itself; if it does not, the setting is the fix.".to_owned());
            refs.push(rfc(
                "RFC 3261 §10.2.8",
                "Error Responses (423 Interval Too Brief)",
            ));
            r.push(verify(f));
        }
        Cause::RegistrarUnreachable => {
            r.push(format!("Check the PBX reaches {} at all: DNS, routing, and outbound firewall rules for the SIP port.", registrar(f)));
            r.push("Probe each transport: `regwatch check` (or `sipsak -s sip:<domain>`) over UDP 5060, TCP 5060 and TLS 5061. If one answers, switch the trunk to it.".to_owned());
            if tw {
                r.push("Twilio answers on UDP/TCP 5060 and TLS 5061; allow outbound traffic to Twilio's published signalling IP ranges.".to_owned());
            }
            let (out, _) = transports(f);
            if out.len() < 2 {
                d.confidence = Confidence::Medium;
            }
            refs.push(rfc(
                "RFC 3261 §17.1.2.2",
                "Timer F: non-INVITE transaction timeout",
            ));
        }
        Cause::TransportBlocked => {
            let (out, ok) = transports(f);
            r.push(format!(
                "Switch the trunk to {} (Asterisk: a `transport=` of that type on the registration; FreeSWITCH: `register-transport`).",
                list(&ok)
            ));
            r.push(format!(
                "Or open outbound {} to the registrar in the firewall (and the replies: SIP over UDP needs the firewall to keep the return path).",
                list(&out)
            ));
            if ok.contains(&Transport::Tls) {
                r.push("TLS also protects the digest exchange; use port 5061.".to_owned());
            }
            d.confidence = Confidence::Medium;
        }
        Cause::ConnectionRefused => {
            r.push("Check host and port: the address answers, but nothing listens for SIP there (UDP/TCP 5060, TLS 5061).".to_owned());
            r.push("Check the transport matches the port (TLS on 5061, UDP/TCP on 5060) and that any outbound proxy setting points at a SIP server.".to_owned());
        }
        Cause::DnsFailure => {
            if let Some(s) = &f.suggested_domain {
                r.push(format!("The name looks mistyped: use `{s}`."));
            }
            r.push("Check the domain's spelling, then that the PBX's resolver works (`getent hosts <domain>`, `dig <domain>`); for SRV: `dig _sip._udp.<domain> SRV`.".to_owned());
            refs.push(rfc("RFC 3263", "Locating SIP Servers"));
        }
        Cause::TlsFailure => {
            r.push(format!("The certificate must be valid for {} (RFC 5922): register to the SIP domain's name, not an IP address or an alias.", registrar(f)));
            r.push("Check the PBX's CA bundle is current and that TLS goes to port 5061; check the PBX clock (certificate validity).".to_owned());
            refs.push(rfc("RFC 5922", "Domain Certificates in SIP"));
            d.confidence = Confidence::Medium;
        }
        Cause::ServerError => {
            match f.retry_after {
                Some(ra) => r.push(format!(
                    "Wait: the registrar asks for a retry after {ra} s; do not hammer it."
                )),
                None => r.push(
                    "Retry later with back-off; a persistent 5xx is the provider's problem."
                        .to_owned(),
                ),
            }
            if tw {
                r.push(
                    "Check status.twilio.com and the Debugger for the time of the failure."
                        .to_owned(),
                );
            }
            if f.last_code == Some(503) && f.server.is_none() {
                r.push("A 503 with no Server header may be generated by the PBX itself when the connection fails: check the network path too.".to_owned());
                d.confidence = Confidence::Medium;
            }
        }
        Cause::RateLimited => {
            r.push("Slow down: keep REGISTERs below 5 per second per address, refresh at half the expiry, and stagger many trunks.".to_owned());
            r.push("Raise the retry interval after failures (Asterisk `retry_interval`, FreeSWITCH `retry-seconds`).".to_owned());
            if tw {
                refs.push(twilio_ref(32008));
            }
        }
        Cause::RegistrationExpired => {
            r.push("Find why the PBX stopped refreshing: is it running, is the trunk still configured, did it give up after failures (Asterisk max_retries)?".to_owned());
            r.push(format!("Register again now ({}).", verify(f)));
            r.push("Keep the expiry at most 3600 s with a refresh at half of it, and watch with OPTIONS keep-alives so a lapse is seen in seconds.".to_owned());
            if tw {
                refs.push(twilio_ref(32009));
            }
            refs.push(rfc("RFC 3261 §10.2.4", "Refreshing Bindings"));
        }
        Cause::RefreshLate => {
            r.push(format!(
                "Refresh earlier: at {:.0} % of the granted expiry. Asterisk re-registers 10 s before expiry by default; with a 3600 s expiry that leaves one packet's margin.",
                f.refresh_ratio * 100.0
            ));
            r.push("Lower the expiry (e.g. 600–1800 s) so the host's own refresh point comes sooner, or set regwatch's refresh policy to match the host.".to_owned());
            d.confidence = Confidence::Medium;
        }
        Cause::ExpiryDrift => {
            r.push(format!(
                "Set the requested expiry to what the registrar grants ({} s): Asterisk `expiration`, FreeSWITCH `expire-seconds`.",
                f.granted_expires.unwrap_or(0)
            ));
            r.push("Make sure the host schedules its refresh from the granted expiry, not from the requested one.".to_owned());
        }
        Cause::Deregistered => {
            r.push("If this was not intended, register again and find what sent Expires: 0 (a reload, a shutdown, an admin command).".to_owned());
            r.push(verify(f));
        }
        Cause::ConfigInvalid => {
            for x in f.findings.iter().filter(|x| x.severity == Severity::Error) {
                r.push(format!("{} ({}): {}", x.code, x.field, x.fix));
            }
            r.push(verify(f));
        }
        Cause::ContactNotBound => {
            r.push("Check the Contact the PBX sends is reachable from the registrar (NAT: Asterisk `rewrite_contact`/`external_signaling_address`, FreeSWITCH `ext-sip-ip`).".to_owned());
            r.push("Check no other device registered the same user with a different Contact and replaced the binding.".to_owned());
            refs.push(rfc("RFC 3261 §10.3", "Processing REGISTER Requests"));
            d.confidence = Confidence::Medium;
        }
        Cause::ProtocolError => {
            r.push(format!("Check that host, port and transport point at a SIP server for {}: a TLS port (5061) reached over TCP, or a port where another service listens, answers with what is not SIP.", registrar(f)));
            r.push("If the address is right, something on the path (a SIP ALG, a proxy, a load balancer) may be corrupting the stream: capture the traffic (`tcpdump -i any -w sip.pcap port <port>`) and read it with `regwatch analyze`; TLS keeps middleboxes out of the stream.".to_owned());
            r.push("regwatch drops a connection whose peer sends more than 64 KiB without a complete SIP message, or a message that does not parse: a stream cannot be resynchronised after that (RFC 3261 §18.3), and a registrar's answers are far smaller.".to_owned());
            refs.push(rfc("RFC 3261 §18.3", "Framing"));
            d.confidence = Confidence::Medium;
        }
        Cause::Unknown => {
            d.confidence = Confidence::Low;
            r.push("Capture the exchange: Asterisk `pjsip set logger on`, FreeSWITCH `sofia global siptrace on`, and feed the SIP messages (or the host's WARNING log lines) to regwatch for the exact cause.".to_owned());
            if let Some(code) = f.last_code {
                match sip_status(code) {
                    Some(s) => r.push(format!("{code} {}: {}", s.reason, s.for_register)),
                    None => r.push(format!("{code}: {}.", super::codes::sip_status_class(code))),
                }
            }
        }
    }
    if tw
        && f.challenge.is_some_and(|c| c.realm != TWILIO_REALM)
        && cause == Cause::CredentialsRejected
    {
        r.push(format!(
            "The challenge realm is not \"{TWILIO_REALM}\": is this really Twilio's registrar (check for a proxy or SBC in between)?"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::diagnosis::ChallengeFacts;
    use crate::validate::Finding;

    fn base(profile: Profile) -> Facts<'static> {
        Facts {
            trunk: "office",
            profile,
            domain: if profile == Profile::Twilio {
                "acme.sip.twilio.com"
            } else {
                "pbx.example.net"
            },
            username: "office",
            now_ms: 100_000,
            refresh_ratio: 0.5,
            ..Facts::default()
        }
    }

    #[test]
    fn every_cause_renders_for_both_profiles() {
        for &c in Cause::ALL {
            for p in [Profile::Twilio, Profile::Generic] {
                let d = render(c, &base(p));
                assert!(d.summary.starts_with("office: "), "{c}: {}", d.summary);
                assert!(!d.remediation.is_empty(), "{c} ({p:?}) has no remediation");
                assert_eq!(d.cause, c);
            }
        }
    }

    #[test]
    fn twilio_wrong_password() {
        let mut f = base(Profile::Twilio);
        f.last_code = Some(403);
        f.last_reason = Some("Forbidden");
        f.last_response_at_ms = Some(90_000);
        f.sent_credentials = Some(true);
        f.server = Some("Twilio");
        f.challenge = Some(ChallengeFacts {
            proxy: true,
            realm: "sip.twilio.com",
            qop: Some("auth"),
            ..Default::default()
        });
        let d = render(Cause::CredentialsRejected, &f);
        assert!(
            d.summary.contains("403") && d.summary.contains("password"),
            "{}",
            d.summary
        );
        assert!(d.references.iter().any(|r| r.id == "32202"));
        let n31201 = d.references.iter().find(|r| r.id == "31201").unwrap();
        assert!(n31201.note.as_deref().unwrap().contains("Voice SDK"));
        assert!(
            d.evidence
                .iter()
                .any(|e| e.contains("realm \"sip.twilio.com\"")),
            "{:?}",
            d.evidence
        );
        assert!(
            d.evidence.iter().any(|e| e.contains("10 s ago")),
            "{:?}",
            d.evidence
        );
        assert!(d.remediation.iter().any(|r| r.contains("Credential lists")));
        assert_eq!(d.confidence, Confidence::High);
    }

    #[test]
    fn generic_repeated_401() {
        let mut f = base(Profile::Generic);
        f.last_code = Some(401);
        f.last_reason = Some("Unauthorized");
        f.sent_credentials = Some(true);
        f.challenges_in_attempt = 2;
        f.challenge = Some(ChallengeFacts {
            realm: "pbx.example.net",
            ..Default::default()
        });
        let d = render(Cause::CredentialsRejected, &f);
        assert!(d.summary.contains("401"), "{}", d.summary);
        assert!(!d.references.iter().any(|r| r.source == "twilio-debugger"));
    }

    #[test]
    fn challenge_never_answered() {
        let mut f = base(Profile::Twilio);
        f.last_code = Some(407);
        f.sent_credentials = Some(false);
        f.challenges_in_attempt = 2;
        f.challenge = Some(ChallengeFacts {
            proxy: true,
            realm: "sip.twilio.com",
            ..Default::default()
        });
        let d = render(Cause::CredentialsRejected, &f);
        assert!(d.summary.contains("without credentials"), "{}", d.summary);
        assert!(d.remediation.iter().any(|r| r.contains("407")));
    }

    #[test]
    fn not_found_suggests_the_domain() {
        let mut f = base(Profile::Twilio);
        f.domain = "acme.sip.twillio.com";
        f.last_code = Some(404);
        f.suggested_domain = Some("acme.sip.twilio.com".to_owned());
        let d = render(Cause::DomainNotFound, &f);
        assert!(
            d.summary.contains("did you mean acme.sip.twilio.com"),
            "{}",
            d.summary
        );
        assert!(!d.summary.contains("dialled"));
    }

    #[test]
    fn interval_too_brief_names_min_expires() {
        let mut f = base(Profile::Twilio);
        f.last_code = Some(423);
        f.min_expires = Some(600);
        f.requested_expires = Some(60);
        let d = render(Cause::IntervalTooBrief, &f);
        assert!(
            d.summary.contains("600") && d.summary.contains("60 s"),
            "{}",
            d.summary
        );
        assert!(d.remediation[0].contains("600"));
    }

    #[test]
    fn transport_blocked_names_the_transports() {
        let mut f = base(Profile::Twilio);
        f.timeouts = [2, 0, 0];
        f.answered = [false, false, true];
        let d = render(Cause::TransportBlocked, &f);
        assert!(
            d.summary.contains("UDP") && d.summary.contains("TLS"),
            "{}",
            d.summary
        );
        assert!(d.remediation[0].contains("TLS"));
    }

    #[test]
    fn host_state_only_is_honest() {
        let mut f = base(Profile::Twilio);
        f.state = RegState::Rejected;
        f.host_state = Some(HostState::Rejected);
        let d = render(Cause::Unknown, &f);
        assert!(d.summary.contains("no SIP code"), "{}", d.summary);
        assert_eq!(d.confidence, Confidence::Low);
        assert!(d.remediation[0].contains("pjsip set logger on"));
        let nothing = render(Cause::Unknown, &base(Profile::Generic));
        assert!(nothing.summary.contains("nothing observed yet"));
    }

    #[test]
    fn config_invalid_lists_fixes() {
        let findings = [Finding {
            code: "domain.typo",
            severity: Severity::Error,
            field: "domain",
            message: "m".into(),
            fix: "Use `acme.sip.twilio.com`.".into(),
        }];
        let mut f = base(Profile::Twilio);
        f.findings = &findings;
        let d = render(Cause::ConfigInvalid, &f);
        assert!(d.summary.contains("1 error "), "{}", d.summary);
        assert!(d.remediation[0].contains("acme.sip.twilio.com"));
    }
}
