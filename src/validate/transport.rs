//! Transport and port consistency.
use super::{Finding, Profile, Transport};

/// Checks a transport and port combination.
pub fn validate_transport(
    _transport: Transport,
    _port: Option<u16>,
    _profile: Profile,
) -> Vec<Finding> {
    Vec::new()
}
