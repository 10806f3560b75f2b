//! Realm checks.
use super::{Finding, Profile};

/// Checks a configured realm against the realm the registrar uses
/// (`sip.twilio.com` for Twilio, or an observed challenge realm).
pub fn validate_realm(
    _configured: &str,
    _expected: Option<&str>,
    _domain: &str,
    _profile: Profile,
) -> Vec<Finding> {
    Vec::new()
}
