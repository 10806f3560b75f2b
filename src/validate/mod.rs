//! Pure, stateless configuration checks.
//!
//! Every function here takes the configured values and returns
//! [`Finding`]s: a stable code (see [`codes`]), a severity, the field it is
//! about, a message and a fix. A finding never contains a secret: password
//! checks describe the password ("shorter than 12 characters"), never quote
//! it.
//!
//! Provider rules come from a [`Profile`]: `twilio` knows the exact shape
//! of a Twilio SIP Domain (`<name>.sip[.<edge>].twilio.com`), its credential
//! rules and expiry limits; `generic` applies only what holds for every RFC
//! 3261 registrar.
#![forbid(unsafe_code)]
#![deny(clippy::disallowed_methods, clippy::disallowed_types)]

use serde::Serialize;
use std::fmt;

pub mod codes;
mod credentials;
mod domain;
mod expiry;
mod realm;
mod text;
mod transport;

pub use credentials::validate_credentials;
pub use domain::{suggest_domain, validate_domain, validate_request_uri, DomainParts};
pub use expiry::validate_expiry;
pub use realm::{validate_realm, TWILIO_REALM};
pub use transport::validate_transport;

/// How serious a finding (or a diagnosis) is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nothing will fail because of it.
    Info,
    /// Likely to cause trouble, or against the provider's advice.
    Warning,
    /// Guarantees (or nearly guarantees) failure.
    Error,
}

impl Severity {
    /// The lowercase name used in JSON and on consoles.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which provider's rules apply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Twilio SIP Domains: `<name>.sip[.<edge>].twilio.com`, 407 challenges
    /// with realm `sip.twilio.com`, expiry at most 3600 s.
    Twilio,
    /// Any RFC 3261 registrar.
    #[default]
    Generic,
}

impl Profile {
    /// `"twilio"` or `"generic"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Twilio => "twilio",
            Profile::Generic => "generic",
        }
    }

    /// Parses `twilio` / `generic` (any case).
    pub fn parse(s: &str) -> Option<Profile> {
        match s.trim().to_ascii_lowercase().as_str() {
            "twilio" => Some(Profile::Twilio),
            "generic" => Some(Profile::Generic),
            _ => None,
        }
    }

    /// The profile a domain most likely belongs to: `twilio` for anything
    /// that looks like a Twilio host, typos included (`acme.sip.twillio.com`),
    /// else `generic`.
    pub fn detect(domain: &str) -> Profile {
        if domain::looks_like_twilio(domain) {
            Profile::Twilio
        } else {
            Profile::Generic
        }
    }
}

/// A SIP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// UDP (default port 5060).
    Udp,
    /// TCP (default port 5060).
    Tcp,
    /// TLS over TCP (default port 5061).
    Tls,
}

impl Transport {
    /// All transports, in the order probes try them.
    pub const ALL: [Transport; 3] = [Transport::Udp, Transport::Tcp, Transport::Tls];

    /// `"udp"`, `"tcp"` or `"tls"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }

    /// Parses `udp`, `tcp`, `tls` (any case; `transport-udp` style names
    /// from Asterisk and `sips` are understood too).
    pub fn parse(s: &str) -> Option<Transport> {
        let s = s.trim().to_ascii_lowercase();
        let s = s.strip_prefix("transport-").unwrap_or(&s);
        match s {
            "udp" => Some(Transport::Udp),
            "tcp" => Some(Transport::Tcp),
            "tls" | "sips" => Some(Transport::Tls),
            _ => None,
        }
    }

    /// The standard port: 5060, or 5061 for TLS.
    pub fn default_port(self) -> u16 {
        match self {
            Transport::Tls => 5061,
            _ => 5060,
        }
    }

    /// Index 0..3, for per-transport arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One validation result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable id, e.g. `domain.typo` (see [`codes`]).
    pub code: &'static str,
    /// How serious it is.
    pub severity: Severity,
    /// The configuration field it is about: `domain`, `username`,
    /// `auth_username`, `password`, `expires`, `transport`, `port`, `realm`,
    /// `request_uri`, `refresh_ratio`.
    pub field: &'static str,
    /// What is wrong, in plain words. Never contains a secret.
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

impl Finding {
    pub(crate) fn new(
        code: &'static str,
        severity: Severity,
        field: &'static str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            code,
            severity,
            field,
            message: message.into(),
            fix: fix.into(),
        }
    }
}

/// Serialises findings as a JSON array (the C ABI's format).
pub fn findings_to_json(findings: &[Finding]) -> String {
    serde_json::to_string(findings).unwrap_or_else(|_| "[]".to_owned())
}
