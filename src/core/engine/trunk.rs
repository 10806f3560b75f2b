//! One trunk's record: its configuration and findings, the registration
//! attempt under way, the binding, the last response and challenge, what
//! each transport did, the keep-alive state and the history; and the
//! [`Facts`] view of it that the diagnosis catalog reads.
use super::classify::ANSWER_FRESH_MS;
use super::id::TrunkId;
use super::keepalive;
use super::timer::TimerKind;
use super::wire;
use crate::core::config::{EngineConfig, TrunkConfig};
use crate::core::diagnosis::{ChallengeFacts, Facts};
use crate::core::history::History;
use crate::core::observation::{HostState, TransportErrorKind};
use crate::core::state::{Cause, RegState};
use crate::validate::{self, Finding, Profile, Transport};

/// The REGISTER exchange under way.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Attempt {
    /// A REGISTER was seen and has no final answer yet.
    pub(super) open: bool,
    /// When the last REGISTER of this attempt was sent.
    pub(super) sent_at: Option<u64>,
    /// Requested expiry; `Some(0)` is a deregistration.
    pub(super) expires: Option<u32>,
    /// Whether the last REGISTER carried credentials (None: not observed).
    pub(super) with_credentials: Option<bool>,
    /// 401/407 answers in this attempt.
    pub(super) challenges: u8,
    pub(super) transport: Option<Transport>,
    /// This REGISTER refreshes a live binding.
    pub(super) refresh: bool,
}

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Binding {
    pub(super) registered_at: u64,
    pub(super) requested: Option<u32>,
    pub(super) granted: Option<u32>,
    pub(super) expires_at: Option<u64>,
    pub(super) refresh_due_at: Option<u64>,
    pub(super) late_at: Option<u64>,
}

#[derive(Clone, Debug, Default)]
pub(super) struct StoredChallenge {
    pub(super) proxy: bool,
    pub(super) realm: String,
    pub(super) algorithm: Option<String>,
    pub(super) qop: Option<String>,
    pub(super) stale: bool,
}

#[derive(Clone, Debug, Default)]
pub(super) struct LastResponse {
    pub(super) code: u16,
    pub(super) reason: String,
    pub(super) at: u64,
    pub(super) server: Option<String>,
    pub(super) twilio_error: Option<(u32, String)>,
}

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct TransportSeen {
    pub(super) timeouts_in_row: u32,
    /// When this transport last got an answer (any final response but a
    /// locally generated 408), cleared by a timeout or a transport error.
    pub(super) answered_at: Option<u64>,
}

pub(super) fn set_string(dst: &mut String, src: &str) {
    if dst != src {
        dst.clear();
        dst.push_str(src);
    }
}

pub(super) fn set_opt_string(dst: &mut Option<String>, src: Option<&str>) {
    match (dst.as_mut(), src) {
        (Some(d), Some(s)) => set_string(d, s),
        (None, Some(s)) => *dst = Some(s.to_owned()),
        (_, None) => *dst = None,
    }
}

/// A trunk. `repr(C)` for its layout: the fields every REGISTER, response
/// and fired timer reads or writes come first and share a few cache lines
/// (a trunk is over a kilobyte, and with thousands of trunks each one is
/// cold when its turn comes: each line touched is a cache miss); the rest
/// follow, widest alignment first, so that no padding is added.
#[repr(C)]
pub(super) struct Trunk {
    pub(super) id: TrunkId,
    pub(super) state: RegState,
    /// The cause reported: `reg_cause`, unless the keep-alive is down and
    /// the registration has nothing worse to say.
    pub(super) cause: Cause,
    /// The cause from registration evidence alone.
    pub(super) reg_cause: Cause,
    pub(super) alert: Option<Cause>,
    /// The cause of the last failed attempt, until a success.
    pub(super) failure: Option<Cause>,
    /// The last rejection the registrar answered (not a reachability
    /// failure), until a success: it keeps regwatch from re-registering
    /// the trunk on a keep-alive recovery even when a later retry timed out.
    pub(super) rejection: Option<Cause>,
    /// The account query (see `query.rs`): wanted after a 403 whose
    /// REGISTER's credentials the host did not report; its answer, kept
    /// until a success or a new configuration.
    pub(super) query_wanted: bool,
    pub(super) profile: Profile,
    /// `ka.status.down` (the keep-alive's alert), copied here where every
    /// transition reads it: the keep-alive's own record is cold. Both change
    /// together, in `keepalive.rs` only.
    pub(super) ka_down: Option<Cause>,
    pub(super) attempt: Attempt,
    pub(super) refresh_late_by: Option<u64>,
    pub(super) timer: Option<(u64, TimerKind)>,
    pub(super) history: History,
    /// The credential query at `register_interval` (see `credq.rs`).
    pub(super) cq: super::credq::Cq,
    /// What the trunk counts for metrics (in the trunk: every trunk that
    /// registers has them, and the slots waste no spare capacity).
    pub(super) counters: super::counters::TrunkCounters,
    pub(super) binding: Option<Binding>,
    // What follows is read less often.
    /// OPTIONS keep-alive state.
    pub(super) ka: keepalive::KaState,
    pub(super) config: TrunkConfig,
    pub(super) findings: Vec<Finding>,
    /// Findings from the host adapter (e.g. `asterisk.*` notes).
    pub(super) host_notes: Vec<Finding>,
    pub(super) last: Option<LastResponse>,
    pub(super) challenge: Option<StoredChallenge>,
    pub(super) transports: [TransportSeen; 3],
    /// The last transport error (boxed: most trunks never have one).
    #[allow(clippy::type_complexity)]
    pub(super) transport_error:
        Option<Box<(TransportErrorKind, Option<String>, Option<Transport>)>>,
    /// The last REGISTER seen on the wire, for matching its responses.
    pub(super) wire: Option<Box<wire::WireTx>>,
    /// The authorization user of the last REGISTER with credentials seen
    /// on the wire (its Authorization/Proxy-Authorization header): what
    /// the registrar was given, whatever the configuration says. Kept
    /// only under `EngineConfig::wire_auth_user`.
    pub(super) wire_auth_user: Option<Box<str>>,
    pub(super) host_state: Option<HostState>,
    /// The code behind the current cause, if any.
    pub(super) cause_code: Option<u16>,
    pub(super) query_answer: Option<u16>,
    pub(super) min_expires: Option<u32>,
    pub(super) retry_after: Option<u32>,
    pub(super) failures_in_row: u32,
    /// The last outcome classified (see `Engine::last_outcome`).
    pub(super) last_outcome: Option<super::classify::ExchangeOutcome>,
}

impl Trunk {
    /// REGISTERs seen sent.
    pub(super) fn registers_sent(&self) -> u64 {
        self.counters.registers
    }

    /// The trunk's counters.
    pub(super) fn counters_mut(&mut self) -> &mut super::counters::TrunkCounters {
        &mut self.counters
    }

    pub(super) fn facts(&self, now_ms: u64, cfg: &EngineConfig) -> Facts<'_> {
        let mut f = Facts {
            trunk: &self.config.name,
            profile: self.profile,
            domain: &self.config.domain,
            username: &self.config.username,
            auth_username: self
                .wire_auth_user
                .as_deref()
                .filter(|a| *a != self.config.username)
                .or(self.config.auth_username.as_deref()),
            configured_realm: self.config.realm.as_deref(),
            proxy: self.config.proxy.as_deref(),
            transport: self.config.transport,
            state: self.state,
            now_ms,
            challenge: self.challenge.as_ref().map(|c| ChallengeFacts {
                proxy: c.proxy,
                realm: &c.realm,
                algorithm: c.algorithm.as_deref(),
                qop: c.qop.as_deref(),
                stale: c.stale,
            }),
            sent_credentials: self.attempt.with_credentials,
            challenges_in_attempt: self.attempt.challenges,
            min_expires: self.min_expires,
            retry_after: self.retry_after,
            requested_expires: self
                .attempt
                .expires
                .or(self.binding.and_then(|b| b.requested))
                .or(self.config.expires),
            refresh_late_by_ms: self.refresh_late_by,
            refresh_ratio: cfg.refresh_ratio,
            refresh_policy: self.config.refresh_policy(cfg),
            query_answer: self.query_answer,
            expected_contact: self.config.contact.as_deref(),
            query_bindings: self.cq.state().and_then(|q| q.bindings),
            transport_error: self
                .transport_error
                .as_deref()
                .map(|(k, d, t)| (*k, d.as_deref(), *t)),
            host_state: self.host_state,
            failures_in_row: self.failures_in_row,
            findings: &self.findings,
            keepalive: Some(&self.ka.status).filter(|k| k.enabled),
            ..Facts::default()
        };
        if let Some(l) = &self.last {
            f.last_code = Some(l.code);
            f.last_reason = Some(&l.reason);
            f.last_response_at_ms = Some(l.at);
            f.server = l.server.as_deref();
            f.twilio_error = l.twilio_error.as_ref().map(|(c, t)| (*c, t.as_str()));
        }
        // The cause shown is the credential query's refusal: its answer
        // is the evidence, not the host's last REGISTER.
        if let Some(r) = self
            .cq
            .state()
            .and_then(|q| q.refusal.as_deref())
            .filter(|_| self.cq.rejected() && self.cq.cause() == Some(self.cause))
        {
            f.last_code = Some(r.code);
            f.last_reason = Some(&r.reason);
            f.last_response_at_ms = Some(r.at);
            f.server = r.server.as_deref();
            f.twilio_error = r.twilio_error.as_ref().map(|(c, t)| (*c, t.as_str()));
            f.sent_credentials = Some(r.sent_credentials);
            f.challenges_in_attempt = r.challenges;
            f.from_credential_query = true;
        }
        if let Some(b) = self.binding {
            f.registered_at_ms = Some(b.registered_at);
            f.granted_expires = b.granted;
            f.refresh_due_at_ms = b.refresh_due_at;
            f.expires_at_ms = b.expires_at;
        }
        for t in Transport::ALL {
            let s = self.transports[t.index()];
            f.timeouts[t.index()] = s.timeouts_in_row;
            f.answered[t.index()] = s
                .answered_at
                .is_some_and(|a| now_ms.saturating_sub(a) <= ANSWER_FRESH_MS);
        }
        if self.cause == Cause::DomainNotFound
            || self.findings.iter().any(|x| x.code.starts_with("domain."))
        {
            f.suggested_domain = validate::suggest_domain(&self.config.domain);
        }
        f
    }
}
