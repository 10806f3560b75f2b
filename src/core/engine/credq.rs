//! The credential query: per trunk, every `register_interval` seconds
//! (`EngineConfig::register_interval`, per trunk `register_interval`; 0:
//! off), a REGISTER without Contact. RFC 3261 §10.2.3 makes it a query:
//! the registrar adds, changes and removes no binding and answers with the
//! bindings it holds for the AOR. A 401/407 is answered once with the
//! trunk's credentials (digest, same Call-ID, CSeq + 1), so the answer
//! proves the credentials as a REGISTER would, without a side effect.
//!
//! The answer goes through the one classification ([`classify`]):
//!
//! | answer | verdict |
//! |---|---|
//! | 2xx | credentials good; `binding_missing` when the trunk's `contact` is not among the bindings listed |
//! | 401/407 again, or 403, after the credentials | `credentials_rejected` (`auth_username_mismatch` where Twilio or X-Twilio-Error says so) |
//! | 403 before any credentials | `account_forbidden` |
//! | 404 / 604 | `domain_not_found` |
//! | anything else, no answer, a transport error | nothing learned: the keep-alive speaks for reachability |
//!
//! The verdict stands in for a quiet registration cause (healthy,
//! unknown, late, expired, drift) as a keep-alive outage does, so that a
//! wrong password alerts while OPTIONS are answered; an alert is raised
//! and cleared once per change. A trunk the query found rejected gets no
//! re-register action (DESIGN.md, "Field rules"), and nothing but this
//! slow query is ever sent as REGISTER for it.
//!
//! Sans-IO: the cnonce is derived from the seed, the trunk, the nonce, the
//! round and the time; the host sends the requests ([`Probe::request`]
//! builds them) and hands back the answer with
//! [`Engine::handle_probe_response`].
//!
//! [`Probe::request`]: crate::core::Probe::request
use super::classify::{classify, AttemptSoFar, Outcome, Verdict};
use super::keepalive::Outstanding;
use super::timer::{first_offset, TimerKind};
use super::transition::Transition;
use super::wire::{holds_contact, register_response};
use super::{Engine, Error, TrunkId};
use crate::core::config::{Secret, TrunkConfig};
use crate::core::history::HistoryKind;
use crate::core::keepalive::{mix, ProbePurpose, ProbeResult, QueryRequest};
use crate::core::observation::RegisterResponse;
use crate::core::state::Cause;
use crate::sip::digest::DigestSession;
use crate::sip::{Message, StartLine};
use std::sync::Arc;

/// Salt of the query's first offset, so that it does not fall on the
/// trunk's first OPTIONS exactly.
const FIRST_SALT: u64 = 0x5eed_c0de_0001;

/// A trunk's credential query: nothing (8 bytes) on a trunk that has
/// none, so that trunks without it stay small (README, "Memory").
#[derive(Clone, Debug, Default)]
pub(super) struct Cq(Option<Box<CqState>>);

impl Cq {
    /// The state, if the trunk ever had a query.
    pub(super) fn state(&self) -> Option<&CqState> {
        self.0.as_deref()
    }

    fn st(&mut self) -> &mut CqState {
        self.0.get_or_insert_with(Box::default)
    }

    /// What the last answered query found wrong.
    pub(super) fn cause(&self) -> Option<Cause> {
        self.state().and_then(|q| q.cause)
    }

    /// Whether the query found the credentials, the account or the domain
    /// refused: no re-register is asked for such a trunk.
    pub(super) fn rejected(&self) -> bool {
        self.cause().is_some_and(|c| c != Cause::BindingMissing)
    }

    /// Whether probe `pid` is the query's request out.
    pub(super) fn awaits(&self, pid: u64) -> bool {
        self.state()
            .is_some_and(|q| q.out.is_some_and(|o| o.id == pid))
    }

    /// The query's request out, if it is probe `pid`.
    pub(super) fn out_mut(&mut self, pid: u64) -> Option<&mut Outstanding> {
        self.0.as_mut()?.out.as_mut().filter(|o| o.id == pid)
    }

    /// Takes probe `pid` as answered (or timed out), if it is the query's.
    pub(super) fn take_out(&mut self, pid: u64) -> bool {
        let ours = self.awaits(pid);
        if ours {
            self.st().out = None;
        }
        ours
    }

    /// The query's timer fired.
    pub(super) fn timer_fired(&mut self) {
        if let Some(q) = self.0.as_mut() {
            q.due = None;
        }
    }
}

/// What a trunk's query knows.
#[derive(Clone, Debug, Default)]
pub(super) struct CqState {
    /// Milliseconds between queries (0: off).
    interval_ms: u64,
    /// When the next query is due.
    pub(super) due: Option<u64>,
    /// The request out.
    pub(super) out: Option<Outstanding>,
    exchange: Option<Box<Exchange>>,
    /// What the last answered query found wrong (None: nothing, or no
    /// answer yet).
    pub(super) cause: Option<Cause>,
    /// Whether the last query that said something proved the credentials.
    pub(super) credentials_ok: Option<bool>,
    /// The last query's 200: bindings listed, and whether the trunk's
    /// `contact` was among them (None: no contact configured).
    pub(super) bindings: Option<(u32, Option<bool>)>,
    /// The final code of the last query (0: no answer).
    pub(super) last_code: Option<u16>,
    /// The last answer that refused the query, for the diagnosis.
    pub(super) refusal: Option<Box<Refusal>>,
    /// Queries started.
    pub(super) rounds: u64,
}

/// A refusing answer to the query, as the diagnosis shows it.
#[derive(Clone, Debug)]
pub(super) struct Refusal {
    pub(super) code: u16,
    pub(super) reason: String,
    pub(super) at: u64,
    pub(super) server: Option<String>,
    pub(super) twilio_error: Option<(u32, String)>,
    pub(super) sent_credentials: bool,
    pub(super) challenges: u8,
}

/// One query exchange: its dialog and what it has done so far.
#[derive(Clone, Debug)]
struct Exchange {
    started: u64,
    call_id: String,
    from_tag: String,
    cseq: u32,
    sent_credentials: bool,
    challenges: u8,
    digest: Option<DigestSession>,
}

/// The causes a query's answer may assert.
fn query_cause(c: Cause) -> bool {
    matches!(
        c,
        Cause::CredentialsRejected
            | Cause::AccountForbidden
            | Cause::AuthUsernameMismatch
            | Cause::DomainNotFound
    )
}

/// FNV-1a, to fold the server's nonce into the cnonce.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Engine {
    /// (Re)reads a trunk's query cadence after its configuration or the
    /// engine's changed: starts, stops, or keeps the schedule. The first
    /// query goes out at the trunk's place in the first round
    /// ([`first_offset`]: a few trunks at once, a large fleet one trunk
    /// per 10 ms over at most one query interval, so that a provider never
    /// sees a burst of REGISTERs from a restart of `watch`).
    pub(super) fn cq_configure(&mut self, now: u64, id: TrunkId) {
        let cfg_interval = self.cfg.register_interval;
        let seed = self.seed;
        let Some(t) = self.slots.get_mut(id) else {
            return;
        };
        let wanted = u64::from(t.config.register_interval.unwrap_or(cfg_interval)) * 1000;
        let interval = if t.ka.target.is_some() { wanted } else { 0 };
        if interval == t.cq.state().map_or(0, |q| q.interval_ms) {
            return;
        }
        if interval == 0 {
            self.cq_stop(id);
            self.cq_verdict(now, id, None, 0, false);
            if let Some(t) = self.slots.get_mut(id) {
                // Nothing kept for a trunk without queries.
                t.cq = Cq::default();
            }
            return;
        }
        let q = t.cq.st();
        q.interval_ms = interval;
        if q.out.is_some() {
            // The answer schedules the next one.
            return;
        }
        let offset = first_offset(seed ^ FIRST_SALT, id, interval);
        self.set_cq_timer(id, Some(now + offset));
    }

    /// A new configuration that changes what the query proves (the
    /// account, its credentials, where it goes, the expected Contact):
    /// the next query goes out soon rather than an interval later, so a
    /// fixed password clears its alert at once.
    pub(super) fn cq_config_changed(&mut self, now: u64, id: TrunkId, old: &TrunkConfig) {
        let seed = self.seed;
        let Some(t) = self.slots.get(id) else {
            return;
        };
        let Some(q) = t.cq.state() else {
            return;
        };
        let c = &t.config;
        let same = c.domain == old.domain
            && c.username == old.username
            && c.auth_username == old.auth_username
            && c.password == old.password
            && c.proxy == old.proxy
            && c.port == old.port
            && c.transport == old.transport
            && c.contact == old.contact;
        if same || q.interval_ms == 0 || q.out.is_some() {
            return;
        }
        let soon = now + first_offset(seed ^ FIRST_SALT, id, q.interval_ms);
        if q.due.is_none_or(|d| d > soon) {
            self.set_cq_timer(id, Some(soon));
        }
    }

    /// Stops a trunk's queries (removed, keep-alive off, interval 0).
    pub(super) fn cq_stop(&mut self, id: TrunkId) {
        self.set_cq_timer(id, None);
        if let Some(q) = self.slots.get_mut(id).and_then(|t| t.cq.0.as_mut()) {
            q.out = None;
            q.exchange = None;
        }
    }

    fn set_cq_timer(&mut self, id: TrunkId, at: Option<u64>) {
        let Some(t) = self.slots.get_mut(id) else {
            return;
        };
        let old = match (t.cq.0.as_mut(), at) {
            (Some(q), _) => std::mem::replace(&mut q.due, at),
            (None, None) => return,
            (None, Some(_)) => std::mem::replace(&mut t.cq.st().due, at),
        };
        if old == at {
            return;
        }
        match at {
            Some(a) => self.timers.arm(a, id.slot, TimerKind::Query),
            None => self.timers.disarm(id.slot, TimerKind::Query),
        }
    }

    /// The query is due: a new exchange, its first request without
    /// credentials.
    pub(super) fn on_query_timer(&mut self, at: u64, id: TrunkId) {
        let seed = self.seed;
        let Some(q) = self.slots.get_mut(id).and_then(|t| t.cq.0.as_mut()) else {
            return;
        };
        q.due = None;
        if q.out.is_some() || q.interval_ms == 0 {
            return;
        }
        q.rounds += 1;
        let h = mix(seed ^ mix(u64::from(id.slot) << 32 | u64::from(id.gen)) ^ q.rounds ^ at);
        q.exchange = Some(Box::new(Exchange {
            started: at,
            call_id: format!("rwcq-{h:016x}"),
            from_tag: format!("{:08x}", h >> 32),
            cseq: 1,
            sent_credentials: false,
            challenges: 0,
            digest: None,
        }));
        self.cq_send(at, id, None);
    }

    /// Sends the exchange's next request.
    fn cq_send(&mut self, at: u64, id: TrunkId, authorization: Option<(&'static str, String)>) {
        let Some(t) = self.slots.get(id) else {
            return;
        };
        let ex = t.cq.state().and_then(|q| q.exchange.as_deref());
        let (Some(ex), Some(g)) = (ex, t.ka.target.as_ref()) else {
            return;
        };
        let q = Arc::new(QueryRequest {
            call_id: ex.call_id.clone(),
            from_tag: ex.from_tag.clone(),
            cseq: ex.cseq,
            authorization,
        });
        let lane = (g.transport, g.port);
        let purpose = ProbePurpose::CredentialQuery;
        match self.emit_probe_with(at, id, lane, purpose, Some(q)) {
            Some(o) => {
                if let Some(t) = self.slots.get_mut(id) {
                    t.cq.st().out = Some(o);
                }
                self.push_deadline(id, o);
            }
            None => self.cq_done(at, id),
        }
    }

    /// The exchange is over: the next query one interval after it began.
    fn cq_done(&mut self, now: u64, id: TrunkId) {
        let Some(q) = self.slots.get_mut(id).and_then(|t| t.cq.0.as_mut()) else {
            return;
        };
        let started = q.exchange.take().map_or(now, |e| e.started);
        if q.interval_ms == 0 {
            return;
        }
        let next = (started + q.interval_ms).max(now + 1);
        self.set_cq_timer(id, Some(next));
    }

    /// The final answer to one of this engine's probes, as a parsed
    /// message: for a credential query, what the registrar said (its
    /// challenge, the bindings it lists); for any other probe, its status
    /// code as [`Engine::handle_probe_result`] takes it. `Ok(false)` for a
    /// probe no longer awaited.
    pub fn handle_probe_response(
        &mut self,
        now_ms: u64,
        trunk: TrunkId,
        probe: u64,
        msg: &Message<'_>,
        rtt_us: Option<u64>,
    ) -> Result<bool, Error> {
        let code = msg.status().unwrap_or(0);
        let t = self.trunk_ref(trunk)?;
        if !t.cq.awaits(probe) {
            return self.handle_probe_result(
                now_ms,
                trunk,
                probe,
                ProbeResult::Response { code },
                rtt_us,
            );
        }
        let now = self.tick(now_ms);
        if let Some(t) = self.slots.get_mut(trunk) {
            t.cq.take_out(probe);
        }
        self.cq_result(now, trunk, ProbeResult::Response { code }, Some(msg));
        self.trim_deadlines();
        Ok(true)
    }

    /// What became of a query request: the challenge answered, or the
    /// exchange's verdict.
    pub(super) fn cq_result(
        &mut self,
        now: u64,
        id: TrunkId,
        result: ProbeResult,
        msg: Option<&Message<'_>>,
    ) {
        let ProbeResult::Response { code } = result else {
            // No answer: nothing learned (the keep-alive reports the network).
            if let Some(q) = self.slots.get_mut(id).and_then(|t| t.cq.0.as_mut()) {
                q.last_code = Some(0);
            }
            return self.cq_done(now, id);
        };
        if code < 200 {
            return;
        }
        if matches!(code, 401 | 407) && self.cq_answer_challenge(now, id, code, msg) {
            return;
        }
        let cfg_challenges = self.cfg.challenges_before_rejection;
        let Some(t) = self.slots.get_mut(id) else {
            return;
        };
        let differs = t.twilio_auth_user_differs();
        let contact = t.config.contact.as_deref();
        let Some(q) = t.cq.0.as_mut() else {
            return;
        };
        let Some(ex) = q.exchange.as_ref() else {
            return;
        };
        let sent = ex.sent_credentials;
        let a = AttemptSoFar {
            dereg: false,
            requested: None,
            sent_credentials: Some(sent),
            challenges: ex.challenges,
            challenges_before_rejection: cfg_challenges,
            twilio_auth_user_differs: differs,
        };
        let reason = match msg.map(|m| m.start) {
            Some(StartLine::Response { reason, .. }) => reason,
            _ => "",
        };
        let resp = match msg {
            Some(m) => register_response(m, code, reason, None),
            None => RegisterResponse {
                code,
                ..RegisterResponse::default()
            },
        };
        q.last_code = Some(code);
        let verdict = classify(Outcome::Response(&resp), &a);
        let found = match verdict {
            Verdict::Bound { .. } | Verdict::NotBound { .. } | Verdict::Deregistered => {
                let held = match (msg, contact) {
                    (Some(m), Some(c)) if !c.trim().is_empty() => {
                        let (n, held) = holds_contact(m, c);
                        q.bindings = Some((n, Some(held)));
                        Some(held)
                    }
                    (Some(m), _) => {
                        q.bindings = Some((holds_contact(m, "").0, None));
                        None
                    }
                    (None, _) => {
                        q.bindings = None;
                        None
                    }
                };
                q.credentials_ok = Some(true);
                Some((held == Some(false)).then_some(Cause::BindingMissing))
            }
            Verdict::Failed { cause, .. } if query_cause(cause) => {
                q.bindings = None;
                q.credentials_ok = Some(false);
                q.refusal = Some(Box::new(Refusal {
                    code,
                    reason: reason.to_owned(),
                    at: now,
                    server: resp.server.map(str::to_owned),
                    twilio_error: resp.twilio_error.map(|e| (e.code, e.text.to_owned())),
                    sent_credentials: sent,
                    challenges: a.challenges,
                }));
                Some(Some(cause))
            }
            // Challenged without credentials to answer it, a stale nonce
            // again, 5xx, 423, 429...: nothing learned about the account.
            _ => None,
        };
        if let Some(cause) = found {
            self.cq_verdict(now, id, cause, code, sent);
        }
        self.cq_done(now, id);
    }

    /// Answers a 401/407 with the trunk's credentials, once (again for a
    /// `stale=true` nonce). False when it cannot or should not: no
    /// password, credentials refused already, a challenge not understood.
    fn cq_answer_challenge(
        &mut self,
        now: u64,
        id: TrunkId,
        code: u16,
        msg: Option<&Message<'_>>,
    ) -> bool {
        let seed = self.seed;
        let Some(t) = self.slots.get_mut(id) else {
            return false;
        };
        let challenge = msg.and_then(|m| {
            if code == 401 {
                m.www_authenticate()
            } else {
                m.proxy_authenticate()
            }
        });
        let (Some(c), Some(pw)) = (challenge, t.config.password.as_ref().map(Secret::expose))
        else {
            return false;
        };
        let domain = match t.ka.target.as_ref() {
            Some(g) if !g.names.domain.is_empty() => g.names.domain.clone(),
            Some(g) => g.names.host.clone(),
            None => return false,
        };
        let user = t.config.auth_user().to_owned();
        let Some(q) = t.cq.0.as_mut() else {
            return false;
        };
        let rounds = q.rounds;
        let Some(ex) = q.exchange.as_mut() else {
            return false;
        };
        if (ex.sent_credentials && !c.stale) || ex.challenges >= 3 {
            return false;
        }
        let ok = match ex.digest.as_mut() {
            Some(d) => d.update(&c).is_ok(),
            None => match DigestSession::new(&user, pw, &c) {
                Ok(d) => {
                    ex.digest = Some(d);
                    true
                }
                Err(_) => false,
            },
        };
        let Some(d) = ex.digest.as_mut().filter(|_| ok) else {
            return false;
        };
        let cnonce = format!(
            "{:016x}",
            mix(seed
                ^ mix(u64::from(id.slot) << 32 | u64::from(id.gen))
                ^ fnv(c.nonce.unwrap_or(""))
                ^ mix(rounds ^ u64::from(d.next_nc()))
                ^ now)
        );
        let value = d.authorize("REGISTER", &format!("sip:{domain}"), &cnonce);
        ex.cseq += 1;
        ex.sent_credentials = true;
        ex.challenges = ex.challenges.saturating_add(1);
        let name = if code == 407 {
            "Proxy-Authorization"
        } else {
            "Authorization"
        };
        self.cq_send(now, id, Some((name, value)));
        true
    }

    /// Records what the query found; a change re-states the trunk's
    /// registration (state and cause) so that the query's cause stands in
    /// for a quiet one, with one event and one alert per change.
    fn cq_verdict(&mut self, now: u64, id: TrunkId, cause: Option<Cause>, code: u16, sent: bool) {
        let Some(t) = self.slots.get_mut(id) else {
            return;
        };
        if t.cq.cause() == cause {
            return;
        }
        t.cq.st().cause = cause;
        let (state, reg_cause) = (t.state, t.reg_cause);
        let mut tr = Transition::new(
            now,
            HistoryKind::CredentialQuery,
            state,
            reg_cause,
            (code != 0).then_some(code),
        );
        tr.entry_code = code;
        tr.credentials = sent;
        self.transition(id, tr);
    }
}

#[cfg(test)]
mod tests;
