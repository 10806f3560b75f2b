//! Domain and Request-URI checks.
use super::{Finding, Profile};

/// The parts of a configured domain after the tolerated decorations
/// (scheme, user part, port, path, white space, trailing dot) are removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DomainParts {
    /// The bare host, lower-case, no trailing dot.
    pub host: String,
    /// An explicit port, if one was given.
    pub port: Option<u16>,
}

impl DomainParts {
    /// Extracts host and port from a configured domain or SIP URI.
    pub fn parse(_domain: &str) -> DomainParts {
        DomainParts::default()
    }
}

/// Checks a configured registrar domain.
pub fn validate_domain(_domain: &str, _profile: Profile) -> Vec<Finding> {
    Vec::new()
}

/// Checks a REGISTER Request-URI against the configured domain.
pub fn validate_request_uri(_request_uri: &str, _domain: &str, _profile: Profile) -> Vec<Finding> {
    Vec::new()
}

/// The closest valid Twilio registrar name for a mistyped one.
pub fn suggest_domain(_domain: &str) -> Option<String> {
    None
}

pub(crate) fn looks_like_twilio(_domain: &str) -> bool {
    false
}
