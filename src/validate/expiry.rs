//! Expiry and refresh-ratio checks.
use super::{Finding, Profile};

/// Checks a requested expiry (seconds) and the refresh ratio (0..1 of the
/// granted expiry at which the host refreshes), if known.
pub fn validate_expiry(
    _expires: u32,
    _refresh_ratio: Option<f64>,
    _profile: Profile,
) -> Vec<Finding> {
    Vec::new()
}
