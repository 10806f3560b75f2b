//! Realm checks.
use super::codes::*;
use super::{domain::DomainParts, Finding, Profile, Severity};

/// The realm Twilio challenges with, for every SIP Domain.
pub const TWILIO_REALM: &str = "sip.twilio.com";

/// Checks a configured realm against the realm the registrar uses: an
/// observed challenge realm when known, else `sip.twilio.com` for Twilio.
pub fn validate_realm(
    configured: &str,
    expected: Option<&str>,
    domain: &str,
    profile: Profile,
) -> Vec<Finding> {
    let configured = configured.trim();
    if configured.is_empty() {
        return Vec::new();
    }
    let twilio = profile == Profile::Twilio || super::domain::looks_like_twilio(domain);
    let expected = expected.or(twilio.then_some(TWILIO_REALM));
    let Some(expected) = expected else {
        return Vec::new();
    };
    if configured == expected {
        return Vec::new();
    }
    let host = DomainParts::parse(domain).host;
    let message = if twilio && configured.eq_ignore_ascii_case(&host) {
        format!("The realm is set to the domain `{configured}`, but Twilio challenges every SIP Domain with realm `{TWILIO_REALM}`; the PBX will not answer that challenge.")
    } else {
        format!("The realm is set to `{configured}`, but the registrar challenges with `{expected}`; the PBX will not answer that challenge.")
    };
    vec![Finding::new(
        REALM_MISMATCH,
        Severity::Error,
        "realm",
        message,
        format!("Set the realm to `{expected}` or leave it empty so the challenge's realm is used (Asterisk: `realm` in the type=auth section; FreeSWITCH: the gateway's `realm` param)."),
    )]
}
