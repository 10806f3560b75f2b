//! [`TrunkSnapshot`]: the read-only summary of one trunk that hosts render
//! their own views from.
use super::counters::TrunkCounters;
use super::{Engine, Error, TrunkId};
use crate::core::history::HistoryEntry;
use crate::core::state::{Cause, RegState};
use crate::validate::{Finding, Profile, Transport};
use serde::Serialize;
use std::sync::Arc;

/// A read-only summary of one trunk, for hosts that render their own view.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrunkSnapshot {
    /// The trunk's name.
    pub name: Arc<str>,
    /// The profile in force.
    pub profile: Profile,
    /// The configured domain.
    pub domain: String,
    /// The AOR user.
    pub username: String,
    /// The state.
    pub state: RegState,
    /// The cause.
    pub cause: Cause,
    /// Whether an alert is raised.
    pub alerting: bool,
    /// The last final response code.
    pub last_code: Option<u16>,
    /// The last reason phrase.
    pub last_reason: Option<String>,
    /// The expiry granted last.
    pub granted_expires: Option<u32>,
    /// Milliseconds until the binding lapses (0 when lapsed; None when unknown).
    pub expires_in_ms: Option<u64>,
    /// Milliseconds until the refresh is due (0 when overdue).
    pub refresh_in_ms: Option<u64>,
    /// REGISTERs seen.
    pub registers_sent: u64,
    /// Failed attempts in a row.
    pub failures_in_row: u32,
    /// Validation findings.
    pub findings: Vec<Finding>,
    /// Recent events, oldest first.
    pub history: Vec<HistoryEntry>,
    /// OPTIONS keep-alive health.
    pub keepalive: crate::core::keepalive::KeepAliveStatus,
    /// What the credential query (a REGISTER without Contact, with the
    /// trunk's credentials) said last: None while it is off or unanswered.
    pub credentials_ok: Option<bool>,
    /// Whether the last credential query's 200 listed the trunk's
    /// `contact` (None: no contact configured, or no 200 yet).
    pub binding_present: Option<bool>,
    /// The final code of the last credential query (0: no answer).
    pub query_code: Option<u16>,
    /// The transport configured (or, when none is, the keep-alive's, or
    /// the one the REGISTER under way goes over).
    pub transport: Option<Transport>,
    /// What the trunk counted for metrics.
    pub counters: TrunkCounters,
    /// Milliseconds since a binding was last made (a 2xx, or the host
    /// said registered); None: never seen.
    pub registered_ago_ms: Option<u64>,
}

impl Engine {
    /// A read-only summary of the trunk.
    pub fn snapshot(&self, id: TrunkId) -> Result<TrunkSnapshot, Error> {
        let t = self.trunk_ref(id)?;
        let now = self.now_ms;
        let b = t.binding.filter(|_| t.state.is_bound());
        Ok(TrunkSnapshot {
            name: t.config.name.clone(),
            profile: t.profile,
            domain: t.config.domain.clone(),
            username: t.config.username.clone(),
            state: t.state,
            cause: t.cause,
            alerting: t.alert.is_some(),
            last_code: t.last.as_ref().map(|l| l.code),
            last_reason: t.last.as_ref().map(|l| l.reason.clone()),
            granted_expires: t.binding.and_then(|b| b.granted),
            expires_in_ms: b.and_then(|b| b.expires_at).map(|e| e.saturating_sub(now)),
            refresh_in_ms: b
                .and_then(|b| b.refresh_due_at)
                .map(|e| e.saturating_sub(now)),
            registers_sent: t.registers_sent(),
            failures_in_row: t.failures_in_row,
            findings: t.findings.clone(),
            history: t.history.entries().collect(),
            keepalive: t.ka.status.clone(),
            credentials_ok: t.cq.state().and_then(|q| q.credentials_ok),
            binding_present: t.cq.state().and_then(|q| q.bindings?.1),
            query_code: t.cq.state().and_then(|q| q.last_code),
            transport: t
                .config
                .transport
                .or(t.ka.status.transport)
                .or(t.attempt.transport),
            counters: t.counters.clone(),
            registered_ago_ms: (t.counters.last_registered_at()).map(|at| now.saturating_sub(at)),
        })
    }
}
