//! Username and password checks. Never quotes a password.
use super::{Finding, Profile};

/// Checks a username, optional authorization username and optional password.
pub fn validate_credentials(
    _username: &str,
    _auth_username: Option<&str>,
    _password: Option<&str>,
    _profile: Profile,
) -> Vec<Finding> {
    Vec::new()
}
