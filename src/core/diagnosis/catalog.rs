//! The text of every diagnosis.
use super::{Confidence, Diagnosis, Facts};
use crate::core::state::Cause;

/// Renders the diagnosis for `cause` from what the engine knows.
pub(crate) fn render(cause: Cause, facts: &Facts<'_>) -> Diagnosis {
    Diagnosis {
        cause,
        severity: cause.severity(),
        summary: format!("{}: {}", facts.trunk, cause.as_str()),
        evidence: Vec::new(),
        remediation: Vec::new(),
        references: Vec::new(),
        confidence: Confidence::Low,
    }
}
