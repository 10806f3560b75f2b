//! The account query: one REGISTER without Contact and without
//! credentials, sent when a host reports a 403 without saying whether the
//! REGISTER it answered carried credentials (FreeSWITCH: sofia answers the
//! challenge without an event, and its FAILED 403 follows either).
//!
//! A REGISTER without Contact is a query (RFC 3261 §10.2.3): it adds,
//! changes and removes no binding; without credentials it cannot count as
//! a failed login. The registrar's answer tells the two 403s apart:
//!
//! | answer | meaning | cause |
//! |---|---|---|
//! | 401 / 407 | the account takes registrations: the 403 came after the credentials | `credentials_rejected` |
//! | 403 | registration is refused before any challenge (Twilio 32210, 32212) | `account_forbidden` |
//! | 404 | the registrar does not serve the domain | `domain_not_found` |
//! | anything else, no answer (kept as 0) | nothing learned: both candidates stay in the words | (unchanged) |
//!
//! It goes out once per failure: the answer is kept until a success or a
//! new configuration, and later 403s of the same kind use it. It needs a
//! host that sends the engine's transmits (keep-alive on); without one the
//! diagnosis names both candidates with Medium confidence.
use super::transition::Transition;
use super::{Engine, TrunkId};
use crate::core::history::HistoryKind;
use crate::core::keepalive::{ProbePurpose, ProbeResult};
use crate::core::state::{Cause, RegState};

/// What a query's answer says the 403 was.
pub(super) fn cause_of_answer(code: u16) -> Option<Cause> {
    match code {
        401 | 407 => Some(Cause::CredentialsRejected),
        403 => Some(Cause::AccountForbidden),
        404 | 604 => Some(Cause::DomainNotFound),
        _ => None,
    }
}

impl Engine {
    /// Sends the account query a registration input asked for, if the
    /// trunk has a keep-alive target and none is out.
    pub(super) fn maybe_query(&mut self, now: u64, id: TrunkId) {
        let Some(t) = self.slots.get_mut(id) else {
            return;
        };
        // A query already out answers for this 403 too (its answer
        // settles the deferred failure).
        if !std::mem::take(&mut t.query_wanted) || t.ka.query.is_some() {
            return;
        }
        let Some((transport, port)) = t.ka.target.as_ref().map(|g| (g.transport, g.port)) else {
            // No query goes out: the failure counts as it was classified.
            t.counters.settle_failure(None);
            return;
        };
        if let Some(o) = self.emit_probe(now, id, transport, port, ProbePurpose::AccountQuery) {
            if let Some(t) = self.slots.get_mut(id) {
                t.ka.query = Some(Box::new(o));
            }
            self.push_deadline(id, o);
        } else if let Some(t) = self.slots.get_mut(id) {
            t.counters.settle_failure(None);
        }
    }

    /// The query's answer: the trunk's 403 takes the cause it names.
    pub(super) fn query_result(&mut self, now: u64, id: TrunkId, result: ProbeResult) {
        let Some(t) = self.slots.get_mut(id) else {
            return;
        };
        // Kept whatever it was (0: no answer), so that it goes out once.
        let code = match result {
            ProbeResult::Response { code } => code,
            _ => 0,
        };
        t.query_answer = Some(code);
        let Some(cause) = cause_of_answer(code).map(|c| t.refine(c)) else {
            t.counters.settle_failure(None);
            return;
        };
        let still_the_403 = t.state == RegState::Rejected
            && t.attempt.with_credentials.is_none()
            && t.last.as_ref().is_some_and(|l| l.code == 403);
        if !still_the_403 {
            t.counters.settle_failure(None);
            return;
        }
        t.counters.settle_failure(Some(cause));
        t.failure = Some(cause);
        t.rejection = Some(cause);
        let tr = Transition::new(
            now,
            HistoryKind::AccountQuery,
            RegState::Rejected,
            cause,
            Some(403),
        )
        .response(code, None);
        self.transition(id, tr);
    }
}
