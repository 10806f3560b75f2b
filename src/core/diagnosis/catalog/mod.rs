//! The text of every diagnosis: summary, evidence, remediation, references.
//!
//! Causes are grouped by family, one file each: [`auth`] (credentials,
//! account, authorization user), [`reachability`] (no answer, blocked
//! transport, refused, DNS, TLS, not SIP), [`timing`] (expiry asked,
//! granted, refreshed), [`binding`] (healthy, deregistered, not bound, missing),
//! [`server`] (5xx, throttling, unknown answers) and [`configuration`]
//! (unknown domain, invalid configuration). Each cause is one [`Words`]
//! entry holding its summary and its remedy together; the [`evidence`]
//! lines are the same for every cause (they list what was seen).
//!
//! Everything here is built from [`Facts`] only, so the same facts always
//! give the same words. No secret is ever part of Facts.
use super::codes::{sip_status, sip_status_class, twilio_code};
use super::{Confidence, Diagnosis, Facts, Reference};
use crate::core::observation::{HostState, TransportErrorKind};
use crate::core::state::{Cause, RegState};
use crate::core::RefreshPolicy;
use crate::validate::{Profile, Severity, Transport, TWILIO_REALM};
use std::fmt::Write;

mod auth;
mod binding;
mod configuration;
mod evidence;
mod reachability;
mod server;
mod timing;

/// One cause's words.
#[derive(Clone, Copy)]
struct Words {
    /// One line, plain words, naming the trunk.
    summary: fn(&Facts<'_>) -> String,
    /// Remediation, references and confidence.
    remedy: fn(&Facts<'_>, &mut Diagnosis),
}

/// The entry of a cause.
fn words(cause: Cause) -> Words {
    match cause {
        Cause::Healthy => binding::HEALTHY,
        Cause::CredentialsRejected => auth::CREDENTIALS_REJECTED,
        Cause::AccountForbidden => auth::ACCOUNT_FORBIDDEN,
        Cause::AuthUsernameMismatch => auth::AUTH_USERNAME_MISMATCH,
        Cause::DomainNotFound => configuration::DOMAIN_NOT_FOUND,
        Cause::IntervalTooBrief => timing::INTERVAL_TOO_BRIEF,
        Cause::RegistrarUnreachable => reachability::REGISTRAR_UNREACHABLE,
        Cause::TransportBlocked => reachability::TRANSPORT_BLOCKED,
        Cause::ConnectionRefused => reachability::CONNECTION_REFUSED,
        Cause::DnsFailure => reachability::DNS_FAILURE,
        Cause::TlsFailure => reachability::TLS_FAILURE,
        Cause::ServerError => server::SERVER_ERROR,
        Cause::RateLimited => server::RATE_LIMITED,
        Cause::RegistrationExpired => timing::REGISTRATION_EXPIRED,
        Cause::RefreshLate => timing::REFRESH_LATE,
        Cause::ExpiryDrift => timing::EXPIRY_DRIFT,
        Cause::Deregistered => binding::DEREGISTERED,
        Cause::ConfigInvalid => configuration::CONFIG_INVALID,
        Cause::Unknown => server::UNKNOWN,
        Cause::ContactNotBound => binding::CONTACT_NOT_BOUND,
        Cause::ProtocolError => reachability::PROTOCOL_ERROR,
        Cause::BindingMissing => binding::BINDING_MISSING,
    }
}

/// Renders the diagnosis for `cause` from what the engine knows.
pub(crate) fn render(cause: Cause, f: &Facts<'_>) -> Diagnosis {
    let w = words(cause);
    let mut d = Diagnosis {
        cause,
        severity: cause.severity(),
        summary: (w.summary)(f),
        evidence: evidence::evidence(f),
        remediation: Vec::new(),
        references: Vec::new(),
        confidence: Confidence::High,
    };
    (w.remedy)(f, &mut d);
    d
}

/// One line, plain words, naming the trunk.
pub(crate) fn summary(cause: Cause, f: &Facts<'_>) -> String {
    (words(cause).summary)(f)
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

/// Where the requests went, as reachability summaries name it: the
/// outbound proxy when there is one (it is what did not answer or
/// refused), else the registrar.
fn target(f: &Facts<'_>) -> String {
    match f.proxy.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) if !f.domain.trim().is_empty() => {
            format!("{p} (the outbound proxy for {})", f.domain.trim())
        }
        Some(p) => format!("{p} (the outbound proxy)"),
        None => registrar(f),
    }
}

fn transport_of_error(f: &Facts<'_>) -> Option<Transport> {
    f.transport_error.and_then(|(_, _, t)| t).or(f.transport)
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

/// Advice in the words of the PBX that runs the trunk: `asterisk` inside
/// Asterisk, `freeswitch` inside FreeSWITCH, both (named) elsewhere.
fn on_pbx(f: &Facts<'_>, asterisk: &str, freeswitch: &str) -> String {
    match f.refresh_policy {
        RefreshPolicy::Asterisk => asterisk.to_owned(),
        RefreshPolicy::Freeswitch => freeswitch.to_owned(),
        RefreshPolicy::Ratio => format!("Asterisk: {asterisk}; FreeSWITCH: {freeswitch}"),
    }
}

/// How to try again and see, with the commands of the console the words
/// are shown in.
fn verify(f: &Facts<'_>) -> String {
    let t = f.trunk;
    match f.refresh_policy {
        RefreshPolicy::Asterisk => format!(
            "Verify: `pjsip send register {t}` registers again now; `regwatch check {t}` runs a live check."
        ),
        RefreshPolicy::Freeswitch => format!(
            "Verify: `sofia profile <profile> register {t}` registers again now; `regwatch check {t}` runs a live check."
        ),
        RefreshPolicy::Ratio => format!(
            "Verify with a test registration: `regwatch check --domain {d} --user {u}`.",
            d = registrar(f),
            u = f.username
        ),
    }
}

#[cfg(test)]
mod tests;
