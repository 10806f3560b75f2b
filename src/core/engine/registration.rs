//! Registration evidence: what a REGISTER, its final response, a timeout,
//! a transport error, a host state or a timer does to a trunk.
use super::trunk::{
    set_opt_string, set_string, Attempt, Binding, LastResponse, StoredChallenge, TimerKind,
    ANSWER_FRESH_MS,
};
use super::{Engine, TrunkId};
use crate::core::diagnosis::codes;
use crate::core::history::{HistoryEntry, HistoryKind};
use crate::core::observation::{HostState, RegisterResponse, RegisterSent, TransportErrorKind};
use crate::core::state::{Cause, RegState};
use crate::validate::{Profile, Transport};

impl Engine {
    pub(super) fn on_register_sent(&mut self, now: u64, id: TrunkId, s: RegisterSent) {
        let Ok(t) = self.trunk_mut(id) else { return };
        t.registers_sent += 1;
        let bound = t.state.is_bound();
        // A REGISTER with credentials right after a challenge continues the
        // attempt; anything else starts a new one.
        let continues = t.attempt.open && t.attempt.challenges > 0 && s.with_credentials;
        let challenges = if continues { t.attempt.challenges } else { 0 };
        let refresh = bound && s.expires != Some(0);
        if !continues {
            // A refresh sent past the late point is late by its distance
            // from the refresh point; a fresh registration is never late.
            t.refresh_late_by = match (refresh, t.binding) {
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
        t.attempt = Attempt {
            open: true,
            sent_at: Some(now),
            expires: s.expires,
            with_credentials: Some(s.with_credentials),
            challenges,
            transport: s.transport.or(t.config.transport),
            refresh,
        };
        let state = match t.state {
            st if st.is_bound() => st,
            _ if s.expires == Some(0) => t.state,
            _ => RegState::Registering,
        };
        let cause = t.reg_cause;
        self.transition_with(
            now,
            id,
            HistoryKind::RegisterSent,
            state,
            cause,
            None,
            |e| {
                e.expires = s.expires;
                e.credentials = s.with_credentials;
                e.transport = s.transport;
            },
        );
    }

    pub(super) fn on_response(&mut self, now: u64, id: TrunkId, r: &RegisterResponse<'_>) {
        if r.code < 200 {
            return;
        }
        let cfg = self.cfg.clone();
        let Ok(t) = self.trunk_mut(id) else { return };
        // Record what the response says.
        match &mut t.last {
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
                t.last = Some(LastResponse {
                    code: r.code,
                    reason: r.reason.to_owned(),
                    at: now,
                    server: r.server.map(str::to_owned),
                    twilio_error: r.twilio_error.map(|e| (e.code, e.text.to_owned())),
                })
            }
        }
        if r.retry_after.is_some() {
            t.retry_after = r.retry_after;
        }
        let transport = r.transport.or(t.attempt.transport).or(t.config.transport);
        if let Some(tr) = transport {
            // A locally generated 408 is a timeout, not an answer.
            if r.code != 408 {
                let seen = &mut t.transports[tr.index()];
                seen.answered_at = Some(now);
                seen.timeouts_in_row = 0;
            }
        }
        if r.code != 408 {
            t.transport_error = None;
        }
        let dereg = t.attempt.expires == Some(0);
        let code = r.code;
        let twilio_cause = r
            .twilio_error
            .and_then(|e| codes::cause_for_twilio_code(e.code));
        let sent_credentials = t.attempt.with_credentials;

        let set_entry = |e: &mut HistoryEntry| {
            e.code = code;
            e.transport = transport;
        };

        if (200..300).contains(&code) {
            if dereg {
                t.attempt.open = false;
                self.on_deregistered(now, id, HistoryKind::Response);
                if let Some(e) = self.trunk_mut(id).ok().and_then(|t| t.history.last_mut()) {
                    set_entry(e);
                }
                return;
            }
            let requested = t.attempt.expires.or(t.config.expires);
            let granted = r.granted_expires.or(requested);
            t.attempt = Attempt::default();
            t.challenge = None;
            if r.contact_bound == Some(false) || granted == Some(0) {
                t.binding = None;
                t.failure = Some(Cause::ContactNotBound);
                t.failures_in_row += 1;
                self.set_timer(id, None);
                self.transition_with(
                    now,
                    id,
                    HistoryKind::Response,
                    RegState::Rejected,
                    Cause::ContactNotBound,
                    Some(code),
                    |e| {
                        set_entry(e);
                        e.expires = granted;
                    },
                );
                return;
            }
            let mut b = Binding {
                registered_at: now,
                requested,
                granted,
                ..Binding::default()
            };
            if let Some(g) = granted {
                let life = u64::from(g) * 1000;
                let due = now + (life as f64 * cfg.refresh_ratio) as u64;
                let expires_at = now + life;
                let grace = cfg.refresh_grace_ms.min((expires_at - due) / 2);
                b.expires_at = Some(expires_at);
                b.refresh_due_at = Some(due);
                b.late_at = Some(due + grace);
            }
            t.binding = Some(b);
            t.failure = None;
            t.failures_in_row = 0;
            t.host_state = None;
            t.min_expires = None;
            let drift = matches!((requested, granted), (Some(req), Some(g)) if (g as f64) < req as f64 * cfg.drift_ratio);
            let cause = if t.refresh_late_by.is_some() {
                Cause::RefreshLate
            } else if drift {
                Cause::ExpiryDrift
            } else {
                Cause::Healthy
            };
            let timer = b.late_at.map(|at| (at, TimerKind::RefreshCheck));
            self.set_timer(id, timer);
            self.transition_with(
                now,
                id,
                HistoryKind::Response,
                RegState::Registered,
                cause,
                Some(code),
                |e| {
                    set_entry(e);
                    e.expires = granted;
                },
            );
            return;
        }

        // A failure or a challenge.
        let mut cause = match code {
            401 | 407 => {
                let ch = r.challenge.unwrap_or_default();
                t.challenge = Some(StoredChallenge {
                    proxy: code == 407,
                    realm: ch.realm.to_owned(),
                    algorithm: ch.algorithm.map(str::to_owned),
                    qop: ch.qop.map(str::to_owned),
                    stale: ch.stale,
                });
                if ch.stale {
                    // The nonce expired; the credentials were fine.
                    t.attempt.challenges = t.attempt.challenges.max(1);
                    let (state, cause) = (t.state, t.reg_cause);
                    self.transition_with(
                        now,
                        id,
                        HistoryKind::Response,
                        state,
                        cause,
                        None,
                        set_entry,
                    );
                    return;
                }
                t.attempt.challenges = t.attempt.challenges.saturating_add(1);
                let rejected = match sent_credentials {
                    Some(true) => true,
                    _ => t.attempt.challenges >= cfg.challenges_before_rejection,
                };
                if !rejected {
                    // The normal first challenge.
                    let (state, cause) = (t.state, t.reg_cause);
                    let state = if state.is_bound() {
                        state
                    } else {
                        RegState::Registering
                    };
                    self.transition_with(
                        now,
                        id,
                        HistoryKind::Response,
                        state,
                        cause,
                        None,
                        set_entry,
                    );
                    return;
                }
                twilio_cause.unwrap_or(Cause::CredentialsRejected)
            }
            403 => twilio_cause.unwrap_or(
                if sent_credentials == Some(true) || t.attempt.challenges > 0 {
                    Cause::CredentialsRejected
                } else {
                    Cause::AccountForbidden
                },
            ),
            404 | 604 => Cause::DomainNotFound,
            423 => {
                t.min_expires = r.min_expires;
                Cause::IntervalTooBrief
            }
            429 => Cause::RateLimited,
            408 => Cause::RegistrarUnreachable,
            603 => Cause::AccountForbidden,
            500..=599 => twilio_cause
                .filter(|c| *c == Cause::RateLimited)
                .unwrap_or(Cause::ServerError),
            _ => twilio_cause.unwrap_or(Cause::Unknown),
        };
        // Twilio refuses an authorization user that differs from the AOR user.
        if cause == Cause::CredentialsRejected
            && t.profile == Profile::Twilio
            && t.config
                .auth_username
                .as_deref()
                .is_some_and(|a| a != t.config.username)
        {
            cause = Cause::AuthUsernameMismatch;
        }
        if code == 408 {
            if let Some(tr) = transport {
                t.transports[tr.index()].timeouts_in_row += 1;
                t.transports[tr.index()].answered_at = None;
            }
        }
        t.attempt.open = false;
        let state = if cause == Cause::RegistrarUnreachable {
            RegState::Unreachable
        } else {
            RegState::Rejected
        };
        self.fail(
            now,
            id,
            HistoryKind::Response,
            state,
            cause,
            Some(code),
            set_entry,
        );
    }

    /// Records a failed attempt: the binding, if still valid, stays; the
    /// state reflects the failure only once nothing is bound.
    #[allow(clippy::too_many_arguments)]
    fn fail(
        &mut self,
        now: u64,
        id: TrunkId,
        kind: HistoryKind,
        failed_state: RegState,
        cause: Cause,
        code: Option<u16>,
        fill: impl FnOnce(&mut HistoryEntry),
    ) {
        let Ok(t) = self.trunk_mut(id) else { return };
        t.failure = Some(cause);
        t.failures_in_row += 1;
        t.attempt.open = false;
        let state = if t.state.is_bound() {
            t.state
        } else {
            failed_state
        };
        self.transition_with(now, id, kind, state, cause, code, fill);
    }

    pub(super) fn on_timeout(&mut self, now: u64, id: TrunkId, transport: Option<Transport>) {
        let Ok(t) = self.trunk_mut(id) else { return };
        let tr = transport.or(t.attempt.transport).or(t.config.transport);
        if let Some(tr) = tr {
            let s = &mut t.transports[tr.index()];
            s.timeouts_in_row += 1;
            s.answered_at = None;
        }
        let other_answers = tr.is_some_and(|tr| {
            Transport::ALL.iter().any(|o| {
                *o != tr
                    && t.transports[o.index()]
                        .answered_at
                        .is_some_and(|a| now - a <= ANSWER_FRESH_MS)
            })
        });
        let cause = if other_answers {
            Cause::TransportBlocked
        } else {
            Cause::RegistrarUnreachable
        };
        self.fail(
            now,
            id,
            HistoryKind::Timeout,
            RegState::Unreachable,
            cause,
            None,
            |e| {
                e.transport = tr;
            },
        );
    }

    pub(super) fn on_transport_error(
        &mut self,
        now: u64,
        id: TrunkId,
        transport: Option<Transport>,
        kind: TransportErrorKind,
        detail: Option<&str>,
    ) {
        let Ok(t) = self.trunk_mut(id) else { return };
        let tr = transport.or(t.attempt.transport).or(t.config.transport);
        if let Some(tr) = tr {
            t.transports[tr.index()].answered_at = None;
        }
        t.transport_error = Some((kind, detail.map(str::to_owned), tr));
        let cause = match kind {
            TransportErrorKind::Refused => Cause::ConnectionRefused,
            TransportErrorKind::Unreachable => Cause::RegistrarUnreachable,
            TransportErrorKind::Dns => Cause::DnsFailure,
            TransportErrorKind::Tls => Cause::TlsFailure,
            TransportErrorKind::Protocol => Cause::ProtocolError,
        };
        self.fail(
            now,
            id,
            HistoryKind::TransportError(kind),
            RegState::Unreachable,
            cause,
            None,
            |e| {
                e.transport = tr;
            },
        );
    }

    pub(super) fn on_deregistered(&mut self, now: u64, id: TrunkId, kind: HistoryKind) {
        let Ok(t) = self.trunk_mut(id) else { return };
        t.binding = None;
        t.attempt = Attempt::default();
        t.failure = None;
        t.failures_in_row = 0;
        t.refresh_late_by = None;
        self.set_timer(id, None);
        self.transition(
            now,
            id,
            kind,
            RegState::Deregistered,
            Cause::Deregistered,
            None,
        );
    }

    pub(super) fn on_host_state(
        &mut self,
        now: u64,
        id: TrunkId,
        hs: HostState,
        _detail: Option<&str>,
    ) {
        let Ok(t) = self.trunk_mut(id) else { return };
        t.host_state = Some(hs);
        let known_failure = t.failure;
        let kind = HistoryKind::HostState(hs);
        match hs {
            HostState::Registered => {
                if t.state.is_bound() {
                    let (s, c) = (t.state, t.reg_cause);
                    self.transition(now, id, kind, s, c, None);
                } else {
                    // Bound, expiry unknown: no timers until the SIP detail comes.
                    t.binding = Some(Binding {
                        registered_at: now,
                        ..Binding::default()
                    });
                    t.failure = None;
                    t.failures_in_row = 0;
                    self.set_timer(id, None);
                    self.transition(now, id, kind, RegState::Registered, Cause::Healthy, None);
                }
            }
            HostState::Unregistered | HostState::Rejected | HostState::GaveUp => {
                t.binding = None;
                self.set_timer(id, None);
                let Ok(t) = self.trunk_mut(id) else { return };
                let cause = known_failure.unwrap_or(Cause::Unknown);
                let state = match hs {
                    HostState::GaveUp => RegState::Stopped,
                    HostState::Rejected => RegState::Rejected,
                    _ => match cause {
                        Cause::Unknown => RegState::Registering,
                        c if unreachable_cause(c) => RegState::Unreachable,
                        _ => RegState::Rejected,
                    },
                };
                if hs == HostState::Rejected && known_failure.is_none() {
                    t.failures_in_row += 1;
                }
                let code = t
                    .last
                    .as_ref()
                    .map(|l| l.code)
                    .filter(|_| known_failure.is_some());
                self.transition(now, id, kind, state, cause, code);
            }
        }
    }

    pub(super) fn on_refresh_check(&mut self, at: u64, id: TrunkId) {
        let Ok(t) = self.trunk_mut(id) else { return };
        let Some(b) = t.binding else { return };
        let expiry = b.expires_at.map(|e| (e, TimerKind::Expiry));
        // A refresh sent before this point and still unanswered is not late
        // (yet): the expiry timer will tell.
        let pending =
            t.attempt.open && t.attempt.refresh && t.attempt.sent_at.is_some_and(|s| s <= at);
        if !pending {
            let cause = t.failure.unwrap_or(Cause::RefreshLate);
            if let Some(due) = b.refresh_due_at {
                t.refresh_late_by = Some(at.saturating_sub(due));
            }
            self.set_timer(id, expiry);
            self.transition(
                at,
                id,
                HistoryKind::RefreshMissed,
                RegState::RefreshLate,
                cause,
                None,
            );
        } else {
            self.set_timer(id, expiry);
        }
    }

    pub(super) fn on_expiry(&mut self, at: u64, id: TrunkId) {
        let Ok(t) = self.trunk_mut(id) else { return };
        t.binding = None;
        let (state, cause) = match t.failure {
            Some(c) if unreachable_cause(c) => (RegState::Unreachable, c),
            Some(c) => (RegState::Rejected, c),
            None => (RegState::Expired, Cause::RegistrationExpired),
        };
        let code = t
            .last
            .as_ref()
            .map(|l| l.code)
            .filter(|_| t.failure.is_some());
        self.transition(at, id, HistoryKind::BindingLapsed, state, cause, code);
    }
}

pub(super) fn unreachable_cause(c: Cause) -> bool {
    matches!(
        c,
        Cause::RegistrarUnreachable
            | Cause::TransportBlocked
            | Cause::ConnectionRefused
            | Cause::DnsFailure
            | Cause::TlsFailure
            | Cause::ProtocolError
    )
}
