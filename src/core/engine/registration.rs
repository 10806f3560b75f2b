//! The per-trunk registration state machine: what a REGISTER, its final
//! response, a timeout, a transport error, a host state or a binding timer
//! does to one trunk. Each input updates the trunk's own record and
//! returns a [`Step`] (the binding timer to set, the [`Transition`] to
//! apply); the engine applies it, so the alert policy and the timer queue
//! are touched in one place. What a final outcome means is decided by
//! [`classify`](super::classify).
use super::classify::{
    self, reachability_only, AttemptSoFar, ExchangeOutcome, Outcome, Verdict, ANSWER_FRESH_MS,
};
use super::timer::TimerKind;
use super::transition::Transition;
use super::trunk::{
    set_opt_string, set_string, Attempt, Binding, LastResponse, StoredChallenge, Trunk,
};
use crate::core::config::EngineConfig;
use crate::core::history::HistoryKind;
use crate::core::observation::{HostState, RegisterResponse, RegisterSent, TransportErrorKind};
use crate::core::state::{Cause, RegState};
use crate::validate::{Profile, Transport};

/// What an input asks of the engine once the trunk's record is updated.
#[derive(Clone, Copy, Debug, Default)]
#[must_use]
pub(super) struct Step {
    /// The binding timer: `Some(timer)` replaces it (`Some(None)` clears
    /// it), `None` leaves it.
    pub(super) timer: Option<Option<(u64, TimerKind)>>,
    /// The new (state, cause), if anything is to be recorded.
    pub(super) transition: Option<Transition>,
}

impl Step {
    fn to(tr: Transition) -> Step {
        Step {
            timer: None,
            transition: Some(tr),
        }
    }

    fn timer(mut self, timer: Option<(u64, TimerKind)>) -> Step {
        self.timer = Some(timer);
        self
    }
}

impl Trunk {
    /// A REGISTER was sent.
    #[inline]
    pub(super) fn on_register_sent(&mut self, now: u64, s: RegisterSent) -> Step {
        let bound = self.state.is_bound();
        // A REGISTER with credentials right after a challenge continues the
        // attempt; anything else starts a new one.
        let with_credentials = (!s.credentials_unknown).then_some(s.with_credentials);
        let continues =
            self.attempt.open && self.attempt.challenges > 0 && with_credentials != Some(false);
        let challenges = if continues {
            self.attempt.challenges
        } else {
            0
        };
        let refresh = bound && s.expires != Some(0);
        if !continues {
            // A refresh sent past the late point is late by its distance
            // from the refresh point; a fresh registration is never late.
            self.refresh_late_by = match (refresh, self.binding) {
                (
                    true,
                    Some(Binding {
                        refresh_due_at: Some(due),
                        late_at: Some(late),
                        ..
                    }),
                ) => (now > late).then(|| now - due),
                _ => None,
            };
        }
        self.counters_mut().count_sent(now, continues);
        self.attempt = Attempt {
            open: true,
            sent_at: Some(now),
            expires: s.expires,
            with_credentials,
            challenges,
            transport: s.transport.or(self.config.transport),
            refresh,
        };
        // A retry after a rejection or an unreachable registrar keeps the
        // state the PBX itself shows (Asterisk: Rejected; FreeSWITCH:
        // FAIL_WAIT, then FAILED again) until the answer changes it: one
        // event per change of (state, cause), not two per retry.
        let state = match self.state {
            st if st.is_bound() => st,
            _ if s.expires == Some(0) => self.state,
            st @ (RegState::Rejected | RegState::Unreachable) => st,
            _ => RegState::Registering,
        };
        let mut tr = Transition::new(now, HistoryKind::RegisterSent, state, self.reg_cause, None);
        tr.expires = s.expires;
        tr.credentials = with_credentials == Some(true);
        tr.transport = s.transport;
        Step::to(tr)
    }

    /// Twilio refuses an authorization user that differs from the AOR user.
    /// The user the registrar was given (the last Authorization header
    /// seen on the wire, its user part when it reads `user@domain`, as a
    /// registrar splits it) counts before the configured one when the
    /// engine's policy says so (`EngineConfig::wire_auth_user`).
    pub(super) fn twilio_auth_user_differs(&self) -> bool {
        let wire = self
            .wire_auth_user
            .as_deref()
            .map(|a| a.split_once('@').map_or(a, |(u, _)| u));
        self.profile == Profile::Twilio
            && wire
                .or(self.config.auth_username.as_deref())
                .is_some_and(|a| a != self.config.username)
    }

    /// Records how the engine classified an outcome (see
    /// `Engine::last_outcome`); `step` is what it did to the trunk.
    fn record_outcome(&mut self, code: Option<u16>, verdict: Verdict, step: &Step) {
        let cause = match verdict {
            Verdict::Challenged | Verdict::StaleNonce => None,
            _ => step.transition.map(|t| t.cause),
        };
        self.last_outcome = Some(ExchangeOutcome {
            code,
            verdict,
            cause,
        });
    }

    /// A credential refusal is the auth user mismatch when Twilio would
    /// refuse the pair for it (as `classify` says of a REGISTER's answer).
    pub(super) fn refine(&self, cause: Cause) -> Cause {
        if cause == Cause::CredentialsRejected && self.twilio_auth_user_differs() {
            Cause::AuthUsernameMismatch
        } else {
            cause
        }
    }

    /// A response to the last REGISTER (provisional ones change nothing).
    pub(super) fn on_response(
        &mut self,
        now: u64,
        r: &RegisterResponse<'_>,
        cfg: &EngineConfig,
    ) -> Step {
        if r.code < 200 {
            return Step::default();
        }
        let transport = self.record_response(now, r);
        let so_far = AttemptSoFar {
            dereg: self.attempt.expires == Some(0),
            requested: self.attempt.expires.or(self.config.expires),
            sent_credentials: self.attempt.with_credentials,
            challenges: self.attempt.challenges,
            challenges_before_rejection: cfg.challenges_before_rejection,
            twilio_auth_user_differs: self.twilio_auth_user_differs(),
        };
        let code = r.code;
        if code == 401 || code == 407 {
            let ch = r.challenge.unwrap_or_default();
            self.challenge = Some(StoredChallenge {
                proxy: code == 407,
                realm: ch.realm.to_owned(),
                algorithm: ch.algorithm.map(str::to_owned),
                qop: ch.qop.map(str::to_owned),
                stale: ch.stale,
            });
        }
        let verdict = classify::classify(Outcome::Response(r), &so_far);
        let step = self.on_verdict(now, r, verdict, (so_far, transport), cfg);
        self.record_outcome(Some(code), verdict, &step);
        step
    }

    /// What a classified final response does to the trunk (`seen`: what
    /// the attempt had done, the transport the answer came over).
    fn on_verdict(
        &mut self,
        now: u64,
        r: &RegisterResponse<'_>,
        verdict: Verdict,
        seen: (AttemptSoFar, Option<Transport>),
        cfg: &EngineConfig,
    ) -> Step {
        let (so_far, transport) = seen;
        let code = r.code;
        let here = |state, cause, code| {
            Transition::new(now, HistoryKind::Response, state, cause, code)
                .response(r.code, transport)
        };
        match verdict {
            Verdict::Deregistered => {
                let mut step = self.on_deregistered(now, HistoryKind::Response);
                if let Some(tr) = step.transition.take() {
                    step.transition = Some(tr.response(code, transport));
                }
                step
            }
            Verdict::NotBound { granted } => {
                self.attempt = Attempt::default();
                self.challenge = None;
                self.binding = None;
                self.failure = Some(Cause::ContactNotBound);
                self.failures_in_row += 1;
                self.counters_mut().count_failure(Cause::ContactNotBound);
                let mut tr = here(RegState::Rejected, Cause::ContactNotBound, Some(code));
                tr.expires = granted;
                Step::to(tr).timer(None)
            }
            Verdict::Bound { granted } => {
                let answered = self.attempt.open;
                self.counters_mut().count_registered(now, answered);
                self.attempt = Attempt::default();
                self.challenge = None;
                let cause = self.bind(now, so_far.requested, granted, cfg);
                let timer = self.binding.and_then(|b| {
                    b.late_at
                        .map(|at| (at, TimerKind::RefreshCheck))
                        .or(b.expires_at.map(|at| (at, TimerKind::Expiry)))
                });
                let mut tr = here(RegState::Registered, cause, Some(code));
                tr.expires = granted;
                Step::to(tr).timer(timer)
            }
            Verdict::StaleNonce => {
                // The nonce expired; the credentials were fine.
                self.attempt.challenges = self.attempt.challenges.max(1);
                Step::to(here(self.state, self.reg_cause, None))
            }
            Verdict::Challenged => {
                // The normal first challenge.
                self.attempt.challenges = self.attempt.challenges.saturating_add(1);
                let state = match self.state {
                    st if st.is_bound() => st,
                    // A retry keeps the failure's state (see on_register_sent).
                    st @ (RegState::Rejected | RegState::Unreachable) => st,
                    _ => RegState::Registering,
                };
                Step::to(here(state, self.reg_cause, None))
            }
            Verdict::Failed { mut cause, state } => {
                if code == 401 || code == 407 {
                    self.attempt.challenges = self.attempt.challenges.saturating_add(1);
                }
                // A 403 the host reported without saying whether its
                // REGISTER carried credentials: the account query tells
                // (once; see query.rs).
                if code == 403
                    && so_far.sent_credentials.is_none()
                    && so_far.challenges == 0
                    && r.twilio_error.is_none()
                {
                    match self.query_answer {
                        Some(code) => {
                            if let Some(known) = super::query::cause_of_answer(code) {
                                cause = self.refine(known);
                            }
                        }
                        None => self.query_wanted = true,
                    }
                }
                let tr = Transition::new(now, HistoryKind::Response, state, cause, Some(code));
                self.fail(tr.response(code, transport))
            }
        }
    }

    /// Records what a final response says (code, reason, Server,
    /// X-Twilio-Error, Retry-After, a 423's Min-Expires) and what it shows
    /// of its transport. Returns the transport it came over.
    fn record_response(&mut self, now: u64, r: &RegisterResponse<'_>) -> Option<Transport> {
        match &mut self.last {
            Some(l) => {
                l.code = r.code;
                set_string(&mut l.reason, r.reason);
                l.at = now;
                set_opt_string(&mut l.server, r.server);
                match (&mut l.twilio_error, r.twilio_error) {
                    (Some((c, txt)), Some(e)) => {
                        *c = e.code;
                        set_string(txt, e.text);
                    }
                    (slot, e) => *slot = e.map(|e| (e.code, e.text.to_owned())),
                }
            }
            None => {
                self.last = Some(LastResponse {
                    code: r.code,
                    reason: r.reason.to_owned(),
                    at: now,
                    server: r.server.map(str::to_owned),
                    twilio_error: r.twilio_error.map(|e| (e.code, e.text.to_owned())),
                })
            }
        }
        if r.retry_after.is_some() {
            self.retry_after = r.retry_after;
        }
        if r.code == 423 {
            self.min_expires = r.min_expires;
        }
        let transport = r
            .transport
            .or(self.attempt.transport)
            .or(self.config.transport);
        if let Some(tr) = transport {
            let seen = &mut self.transports[tr.index()];
            if r.code == 408 {
                // A locally generated 408 is a timeout, not an answer.
                seen.timeouts_in_row += 1;
                seen.answered_at = None;
            } else {
                seen.answered_at = Some(now);
                seen.timeouts_in_row = 0;
            }
        }
        if r.code != 408 {
            self.transport_error = None;
        }
        transport
    }

    /// Makes the binding a 2xx granted; returns the cause it has (late,
    /// drifted or healthy).
    fn bind(
        &mut self,
        now: u64,
        requested: Option<u32>,
        granted: Option<u32>,
        cfg: &EngineConfig,
    ) -> Cause {
        let mut b = Binding {
            registered_at: now,
            requested,
            granted,
            ..Binding::default()
        };
        if let Some(g) = granted {
            let policy = self.config.refresh_policy(cfg);
            let expires_at = now + u64::from(g) * 1000;
            let due = now + policy.refresh_after_ms(cfg.refresh_ratio, requested, g);
            b.expires_at = Some(expires_at);
            // A host whose own point comes after the expiry (FreeSWITCH
            // asked for more than it was granted) lets the binding lapse:
            // the expiry timer says so, not a late refresh.
            if due < expires_at {
                let grace = cfg.refresh_grace_ms.min((expires_at - due) / 2);
                b.refresh_due_at = Some(due);
                b.late_at = Some(due + grace);
            }
        }
        self.binding = Some(b);
        self.failure = None;
        self.rejection = None;
        self.query_answer = None;
        self.failures_in_row = 0;
        self.host_state = None;
        self.min_expires = None;
        let drift = matches!((requested, granted), (Some(req), Some(g)) if (g as f64) < req as f64 * cfg.drift_ratio);
        if self.refresh_late_by.is_some() {
            Cause::RefreshLate
        } else if drift {
            Cause::ExpiryDrift
        } else {
            Cause::Healthy
        }
    }

    /// Records a failed attempt. The state says the failure at once, as
    /// the PBX does (Asterisk: Rejected; FreeSWITCH: FAILED), even while
    /// a binding made earlier has time left: its expiry timer still runs
    /// and says when it lapses.
    fn fail(&mut self, tr: Transition) -> Step {
        self.failure = Some(tr.cause);
        if !reachability_only(tr.cause) {
            self.rejection = Some(tr.cause);
        }
        self.failures_in_row += 1;
        // An unexplained 403 is counted once the account query says what
        // it was (query.rs), not under a cause it would then contradict.
        if self.query_wanted {
            self.counters_mut().defer_failure(tr.cause);
        } else {
            self.counters_mut().count_failure(tr.cause);
        }
        self.attempt.open = false;
        Step::to(tr)
    }

    /// No final response came.
    pub(super) fn on_timeout(&mut self, now: u64, transport: Option<Transport>) -> Step {
        let tr = transport
            .or(self.attempt.transport)
            .or(self.config.transport);
        if let Some(tr) = tr {
            let s = &mut self.transports[tr.index()];
            s.timeouts_in_row += 1;
            s.answered_at = None;
        }
        let other_transport_answers = tr.is_some_and(|tr| {
            Transport::ALL.iter().any(|o| {
                *o != tr
                    && self.transports[o.index()]
                        .answered_at
                        .is_some_and(|a| now - a <= ANSWER_FRESH_MS)
            })
        });
        self.failed(
            now,
            HistoryKind::Timeout,
            Outcome::Timeout {
                other_transport_answers,
            },
            tr,
        )
    }

    /// The host could not send the REGISTER or connect.
    pub(super) fn on_transport_error(
        &mut self,
        now: u64,
        transport: Option<Transport>,
        kind: TransportErrorKind,
        detail: Option<&str>,
    ) -> Step {
        let tr = transport
            .or(self.attempt.transport)
            .or(self.config.transport);
        if let Some(tr) = tr {
            self.transports[tr.index()].answered_at = None;
        }
        self.transport_error = Some(Box::new((kind, detail.map(str::to_owned), tr)));
        self.failed(
            now,
            HistoryKind::TransportError(kind),
            Outcome::TransportError(kind),
            tr,
        )
    }

    /// A failure without a response (timeout, transport error).
    fn failed(
        &mut self,
        now: u64,
        kind: HistoryKind,
        outcome: Outcome<'_>,
        transport: Option<Transport>,
    ) -> Step {
        let so_far = AttemptSoFar::default();
        let Verdict::Failed { cause, state } = classify::classify(outcome, &so_far) else {
            return Step::default();
        };
        let mut tr = Transition::new(now, kind, state, cause, None);
        tr.transport = transport;
        let step = self.fail(tr);
        self.record_outcome(None, Verdict::Failed { cause, state }, &step);
        step
    }

    /// The binding was removed on purpose (`Expires: 0` answered).
    pub(super) fn on_deregistered(&mut self, now: u64, kind: HistoryKind) -> Step {
        self.binding = None;
        self.attempt = Attempt::default();
        self.failure = None;
        self.rejection = None;
        self.failures_in_row = 0;
        self.refresh_late_by = None;
        Step::to(Transition::new(
            now,
            kind,
            RegState::Deregistered,
            Cause::Deregistered,
            None,
        ))
        .timer(None)
    }

    /// The host reports its own registration state (no SIP detail).
    pub(super) fn on_host_state(&mut self, now: u64, hs: HostState) -> Step {
        self.host_state = Some(hs);
        let known_failure = self.failure;
        let kind = HistoryKind::HostState(hs);
        match hs {
            HostState::Registered => {
                if self.state.is_bound() {
                    Step::to(Transition::new(now, kind, self.state, self.reg_cause, None))
                } else {
                    // Bound, expiry unknown: no timers until the SIP detail comes.
                    self.binding = Some(Binding {
                        registered_at: now,
                        ..Binding::default()
                    });
                    self.counters_mut().count_registered(now, false);
                    self.failure = None;
                    self.rejection = None;
                    self.failures_in_row = 0;
                    Step::to(Transition::new(
                        now,
                        kind,
                        RegState::Registered,
                        Cause::Healthy,
                        None,
                    ))
                    .timer(None)
                }
            }
            HostState::Unregistered | HostState::Rejected | HostState::GaveUp => {
                self.binding = None;
                let cause = known_failure.unwrap_or(Cause::Unknown);
                let state = match hs {
                    HostState::GaveUp => RegState::Stopped,
                    HostState::Rejected => RegState::Rejected,
                    _ => match cause {
                        Cause::Unknown => RegState::Registering,
                        c if reachability_only(c) => RegState::Unreachable,
                        _ => RegState::Rejected,
                    },
                };
                if hs == HostState::Rejected && known_failure.is_none() {
                    self.failures_in_row += 1;
                }
                let code = self
                    .last
                    .as_ref()
                    .map(|l| l.code)
                    .filter(|_| known_failure.is_some());
                Step::to(Transition::new(now, kind, state, cause, code)).timer(None)
            }
        }
    }

    /// The refresh point plus grace came (the timer fired at `at`).
    pub(super) fn on_refresh_check(&mut self, at: u64) -> Step {
        let Some(b) = self.binding else {
            return Step::default();
        };
        let expiry = b.expires_at.map(|e| (e, TimerKind::Expiry));
        // A refresh sent before this point and still unanswered is not late
        // (yet): the expiry timer will tell.
        let pending = self.attempt.open
            && self.attempt.refresh
            && self.attempt.sent_at.is_some_and(|s| s <= at);
        // Neither is a refresh that already failed: the failure is the
        // state; the expiry timer will tell when the binding lapses.
        if pending || self.failure.is_some() {
            return Step::default().timer(expiry);
        }
        let cause = self.failure.unwrap_or(Cause::RefreshLate);
        if let Some(due) = b.refresh_due_at {
            self.refresh_late_by = Some(at.saturating_sub(due));
        }
        Step::to(Transition::new(
            at,
            HistoryKind::RefreshMissed,
            RegState::RefreshLate,
            cause,
            None,
        ))
        .timer(expiry)
    }

    /// The binding's expiry came (the timer fired at `at`).
    pub(super) fn on_expiry(&mut self, at: u64) -> Step {
        self.binding = None;
        let (state, cause) = match self.failure {
            Some(c) if reachability_only(c) => (RegState::Unreachable, c),
            Some(c) => (RegState::Rejected, c),
            None => (RegState::Expired, Cause::RegistrationExpired),
        };
        let code = self
            .last
            .as_ref()
            .map(|l| l.code)
            .filter(|_| self.failure.is_some());
        Step::to(Transition::new(
            at,
            HistoryKind::BindingLapsed,
            state,
            cause,
            code,
        ))
    }
}
