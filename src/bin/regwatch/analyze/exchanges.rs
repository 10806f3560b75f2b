//! REGISTER exchanges: the transaction chain of one Call-ID (a REGISTER,
//! its retransmissions, a 401/407 challenge, the REGISTER with
//! credentials that answers it, the final answer), each closed with the
//! engine's classification of its outcome ([`regwatch::core::Engine::last_outcome`]):
//! a final answer as the engine read it, or no answer, which the engine is
//! told as a timeout ([`Observation::RegisterTimeout`]) so that its cause
//! is the engine's too. Nothing here decides a cause.
//!
//! Bounded: an exchange is held only while it is open (until its final
//! answer, or Timer F, 32 s, after its last REGISTER), at most
//! [`MAX_OPEN`] at once (past that the oldest is closed and said so), and
//! each closed one is handed to the caller and forgotten.
use regwatch::core::{ExchangeOutcome, Verdict};
use regwatch::sip::{self, Message};
use regwatch::{Cause, Direction, Engine, Observation, SipObserved, Transport, TrunkId};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

/// RFC 3261 Timer F (64 × T1, T1 = 500 ms): a REGISTER without a final
/// answer this long after it was sent has timed out.
pub(super) const TIMER_F_MS: u64 = 32_000;
/// Exchanges open at once, at most (a busy registrar's capture, 2,000
/// messages a second, has about 16,000 open within one Timer F).
pub(super) const MAX_OPEN: usize = 1 << 15;
/// The longest REGISTER kept to be shown to the engine again (when
/// another dialog of the same AOR came between it and its answer); a
/// longer one is not, and such an interleaved answer may stay
/// `unclassified`. With `MAX_OPEN`, at most 128 MiB of held REGISTERs.
const MAX_KEPT_REQUEST: usize = 4 * 1024;

/// How an exchange ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ending {
    /// A final answer, classified by the engine.
    Answered,
    /// No final answer within Timer F, or by the end of the capture.
    Unanswered,
    /// No final answer, and the client sent a new REGISTER (a higher
    /// CSeq on the same Call-ID) before Timer F.
    Abandoned,
    /// Challenged (401/407), and no REGISTER with credentials followed.
    ChallengeUnanswered,
    /// Closed without an answer because [`MAX_OPEN`] exchanges were open.
    OpenLimit,
}

impl Ending {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Ending::Answered => "answered",
            Ending::Unanswered => "unanswered",
            Ending::Abandoned => "abandoned",
            Ending::ChallengeUnanswered => "challenge_unanswered",
            Ending::OpenLimit => "open_limit",
        }
    }
}

/// One exchange.
#[derive(Debug)]
pub(super) struct Exchange {
    /// The AOR (user@domain): the engine's trunk name.
    pub(super) aor: std::sync::Arc<str>,
    pub(super) trunk: TrunkId,
    pub(super) call_id: Box<str>,
    pub(super) first_cseq: u32,
    pub(super) cseq: u32,
    /// When its first REGISTER was seen.
    pub(super) start_ms: u64,
    /// When its last new REGISTER was sent.
    pub(super) sent_ms: u64,
    /// When it ended.
    pub(super) end_ms: u64,
    /// REGISTERs (new transactions; 2 with a challenge).
    pub(super) requests: u32,
    /// REGISTERs and final answers seen again.
    pub(super) retransmissions: u32,
    /// 1xx answers.
    pub(super) provisional: u32,
    /// 401/407 answers the engine took as the challenge (or a stale nonce).
    pub(super) challenges: Vec<u16>,
    /// The authorization user of its last REGISTER with credentials (the
    /// username of Authorization / Proxy-Authorization).
    pub(super) auth_user: Option<Box<str>>,
    /// The expiry its last REGISTER asked for.
    pub(super) expires: Option<u32>,
    pub(super) transport: Option<Transport>,
    /// The final answer.
    pub(super) code: Option<u16>,
    pub(super) reason: Box<str>,
    pub(super) ending: Ending,
    /// The engine's classification (None: the engine did not take the
    /// answer, or the exchange has no classified ending).
    pub(super) outcome: Option<ExchangeOutcome>,
    /// Unanswered at the end of the capture: how long after its last
    /// REGISTER the capture ended.
    pub(super) capture_ended_after_ms: Option<u64>,
    /// The final answer to the current CSeq came (a challenge included).
    answered: bool,
    /// The last answer was a challenge: waiting for the REGISTER with
    /// credentials.
    challenged: bool,
    /// Its last REGISTER, to show the engine again if needed.
    request: Vec<u8>,
    /// Its deadline's version (a new one for each REGISTER or challenge).
    serial: u64,
    /// Its number, in the order the exchanges began.
    id: u64,
}

impl Exchange {
    /// The cause the engine gave it, if any.
    pub(super) fn cause(&self) -> Option<Cause> {
        self.outcome.and_then(|o| o.cause)
    }

    /// Whether it ended in a failure (anything but a binding made or
    /// removed).
    pub(super) fn failed(&self) -> bool {
        !matches!(
            self.outcome.map(|o| o.verdict),
            Some(Verdict::Bound { .. } | Verdict::Deregistered)
        ) || matches!(self.cause(), Some(c) if !matches!(c, Cause::Healthy | Cause::ExpiryDrift | Cause::Deregistered))
    }

    /// The seconds the registrar granted (a 2xx).
    pub(super) fn granted(&self) -> Option<u32> {
        match self.outcome.map(|o| o.verdict) {
            Some(Verdict::Bound { granted } | Verdict::NotBound { granted }) => granted,
            _ => None,
        }
    }
}

/// What did not become part of an exchange, and why (counted by the
/// caller with the message's offset).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stray {
    /// An answer whose REGISTER is not in the capture (sent before it
    /// began).
    NoRequest,
    /// A final answer repeated after its exchange ended.
    LateRepeat,
    /// An answer to a CSeq the exchange has not sent.
    UnknownCseq,
    /// A REGISTER the engine matched to no trunk.
    Unmatched,
}

impl Stray {
    pub(super) fn reason(self) -> &'static str {
        match self {
            Stray::NoRequest => {
                "an answer to a REGISTER that is not in the capture (sent before it began)"
            }
            Stray::LateRepeat => {
                "a final answer repeated after its exchange had ended (a retransmission)"
            }
            Stray::UnknownCseq => "an answer to a CSeq its Call-ID has not sent",
            Stray::Unmatched => {
                "a REGISTER the engine matched to no registration (its AOR has no user)"
            }
        }
    }
}

/// The open exchanges, by Call-ID, and their deadlines.
#[derive(Default)]
pub(super) struct Tracker {
    open: HashMap<Box<str>, Exchange>,
    /// (deadline, serial, Call-ID): the earliest first.
    deadlines: BinaryHeap<Reverse<(u64, u64, Box<str>)>>,
    serial: u64,
    /// Recently closed (Call-ID → last CSeq), to tell a repeated answer
    /// from one without a request; as bounded as `open`.
    closed: HashMap<Box<str>, u32>,
    closed_order: std::collections::VecDeque<Box<str>>,
    /// The Call-ID (as `dialog` numbers it) each trunk's engine state is
    /// about (the last REGISTER shown to it).
    current: HashMap<TrunkId, u64>,
    /// Exchanges closed for the open limit.
    pub(super) open_limit_hits: u64,
    /// (start, id) of the open exchanges.
    starts: BTreeSet<(u64, u64)>,
    /// Closed exchanges waiting for every exchange that began before them
    /// to close, so that they are handed over in the order they began
    /// (at most `MAX_WAITING`; past that the earliest goes at once).
    waiting: BTreeMap<(u64, u64), Exchange>,
    ids: u64,
}

/// Closed exchanges held back to keep the order they began in.
const MAX_WAITING: usize = 4 * MAX_OPEN;

fn auth_user<'a>(m: &Message<'a>) -> Option<&'a str> {
    m.any_authorization().and_then(|a| a.username)
}

impl Tracker {
    /// Closes every exchange whose deadline is at or before `now`.
    pub(super) fn expire(&mut self, engine: &mut Engine, now: u64, out: &mut dyn FnMut(Exchange)) {
        while let Some(Reverse((at, serial, _))) = self.deadlines.peek() {
            if *at > now {
                break;
            }
            let (at, serial) = (*at, *serial);
            let Some(Reverse((_, _, call_id))) = self.deadlines.pop() else {
                break;
            };
            if self.open.get(&call_id).is_some_and(|e| e.serial == serial) {
                if let Some(ex) = self.open.remove(&call_id) {
                    let ending = if ex.challenged {
                        Ending::ChallengeUnanswered
                    } else {
                        Ending::Unanswered
                    };
                    self.close(engine, ex, at, ending, out);
                }
            }
        }
    }

    /// The end of the capture at `end`: every open exchange closes.
    pub(super) fn finish(&mut self, engine: &mut Engine, end: u64, out: &mut dyn FnMut(Exchange)) {
        let mut rest: Vec<Exchange> = self.open.drain().map(|(_, e)| e).collect();
        rest.sort_by_key(|e| (e.start_ms, e.serial));
        self.deadlines.clear();
        for mut ex in rest {
            let ending = if ex.challenged {
                Ending::ChallengeUnanswered
            } else {
                ex.capture_ended_after_ms = Some(end.saturating_sub(ex.sent_ms));
                Ending::Unanswered
            };
            self.close(engine, ex, end, ending, out);
        }
    }

    /// Shows the engine the exchange's REGISTER again when its state is
    /// about another dialog of the trunk.
    fn make_current(&mut self, engine: &mut Engine, ex: &Exchange, at: u64) {
        if self.current.get(&ex.trunk) == Some(&dialog(&ex.call_id)) {
            return;
        }
        if let Ok(m) = sip::parse(&ex.request) {
            engine.observe_message(at, Direction::Sent, ex.transport, &m);
            while engine.poll_output().is_some() {}
        }
        self.current.insert(ex.trunk, dialog(&ex.call_id));
    }

    fn close(
        &mut self,
        engine: &mut Engine,
        mut ex: Exchange,
        at: u64,
        ending: Ending,
        out: &mut dyn FnMut(Exchange),
    ) {
        ex.end_ms = at.max(ex.start_ms);
        ex.ending = ending;
        if ending == Ending::Unanswered && ex.capture_ended_after_ms.is_some() {
            // The capture ended before Timer F: no timeout happened in it,
            // so the registration's own timeline does not get one; the
            // engine classifies the silence on a copy of the trunk.
            ex.outcome = classify_apart(engine, &ex, at);
        } else if matches!(
            ending,
            Ending::Unanswered | Ending::Abandoned | Ending::OpenLimit
        ) {
            // No answer: the engine is told the REGISTER timed out, and
            // its classification is the exchange's cause.
            self.make_current(engine, &ex, at);
            let obs = Observation::RegisterTimeout {
                transport: ex.transport,
            };
            if engine.handle_observation(at, ex.trunk, obs).is_ok() {
                ex.outcome = engine
                    .last_outcome(ex.trunk)
                    .ok()
                    .flatten()
                    .filter(|o| o.code.is_none());
            }
            while engine.poll_output().is_some() {}
        }
        if self.closed.len() >= MAX_OPEN {
            if let Some(old) = self.closed_order.pop_front() {
                self.closed.remove(&old);
            }
        }
        if self.closed.insert(ex.call_id.clone(), ex.cseq).is_none() {
            self.closed_order.push_back(ex.call_id.clone());
        }
        ex.request = Vec::new();
        self.starts.remove(&(ex.start_ms, ex.id));
        self.waiting.insert((ex.start_ms, ex.id), ex);
        self.release(out);
    }

    /// Hands over the closed exchanges no open one began before.
    fn release(&mut self, out: &mut dyn FnMut(Exchange)) {
        let full = self.waiting.len() > MAX_WAITING;
        while let Some(entry) = self.waiting.first_entry() {
            let early = self.starts.first().is_none_or(|s| entry.key() < s);
            if !early && !full {
                break;
            }
            out(entry.remove());
            if full {
                break;
            }
        }
    }

    fn arm(&mut self, ex: &mut Exchange, at: u64) {
        self.serial += 1;
        ex.serial = self.serial;
        self.deadlines
            .push(Reverse((at + TIMER_F_MS, ex.serial, ex.call_id.clone())));
    }

    /// A REGISTER the client sent; the engine has not seen it yet (it is
    /// shown here). `aor` and `trunk` are its registration's.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn register(
        &mut self,
        engine: &mut Engine,
        at: u64,
        transport: Option<Transport>,
        m: &Message<'_>,
        bytes: &[u8],
        aor: &std::sync::Arc<str>,
        trunk: TrunkId,
        out: &mut dyn FnMut(Exchange),
    ) -> Result<(), Stray> {
        let call_id = m.call_id().unwrap_or("");
        let cseq = m.cseq().map_or(0, |(n, _)| n);
        let observed = |s: &mut Tracker, engine: &mut Engine| {
            let r = engine.observe_message(at, Direction::Sent, transport, m);
            while engine.poll_output().is_some() {}
            if matches!(r, SipObserved::Register(_) | SipObserved::Retransmission(_)) {
                s.current.insert(trunk, dialog(call_id));
            }
            r
        };
        if let Some(ex) = self.open.get_mut(call_id) {
            if ex.cseq == cseq {
                ex.retransmissions += 1;
                let _ = observed(self, engine);
                return Ok(());
            }
            if ex.challenged && cseq > ex.cseq && ex.trunk == trunk {
                let mut ex = self.open.remove(call_id).unwrap_or_else(|| unreachable!());
                ex.cseq = cseq;
                ex.requests += 1;
                ex.sent_ms = at;
                ex.answered = false;
                ex.challenged = false;
                if let Some(u) = auth_user(m) {
                    ex.auth_user = Some(u.into());
                }
                ex.expires = request_expires(m);
                keep(&mut ex.request, bytes);
                self.arm(&mut ex, at);
                self.open.insert(ex.call_id.clone(), ex);
                let _ = observed(self, engine);
                return Ok(());
            }
            // A new REGISTER before an answer (or after a final one): the
            // old exchange is over.
            if let Some(old) = self.open.remove(call_id) {
                let ending = if old.answered && !old.challenged {
                    Ending::Answered
                } else if old.challenged {
                    Ending::ChallengeUnanswered
                } else {
                    Ending::Abandoned
                };
                self.close(engine, old, at, ending, out);
            }
        }
        if self.open.len() >= MAX_OPEN {
            self.close_oldest(engine, at, out);
        }
        let r = observed(self, engine);
        if matches!(r, SipObserved::Unmatched) {
            return Err(Stray::Unmatched);
        }
        let mut ex = Exchange {
            aor: aor.clone(),
            trunk,
            call_id: call_id.into(),
            first_cseq: cseq,
            cseq,
            start_ms: at,
            sent_ms: at,
            end_ms: at,
            requests: 1,
            retransmissions: 0,
            provisional: 0,
            challenges: Vec::new(),
            auth_user: auth_user(m).map(Into::into),
            expires: request_expires(m),
            transport,
            code: None,
            reason: "".into(),
            ending: Ending::Unanswered,
            outcome: None,
            capture_ended_after_ms: None,
            answered: false,
            challenged: false,
            request: Vec::new(),
            serial: 0,
            id: self.ids,
        };
        self.ids += 1;
        self.starts.insert((ex.start_ms, ex.id));
        keep(&mut ex.request, bytes);
        self.arm(&mut ex, at);
        self.open.insert(ex.call_id.clone(), ex);
        Ok(())
    }

    fn close_oldest(&mut self, engine: &mut Engine, at: u64, out: &mut dyn FnMut(Exchange)) {
        while let Some(Reverse((_, serial, call_id))) = self.deadlines.pop() {
            if self.open.get(&call_id).is_some_and(|e| e.serial == serial) {
                if let Some(ex) = self.open.remove(&call_id) {
                    self.open_limit_hits += 1;
                    self.close(engine, ex, at, Ending::OpenLimit, out);
                }
                return;
            }
        }
    }

    /// An answer to a REGISTER the client received.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn answer(
        &mut self,
        engine: &mut Engine,
        at: u64,
        transport: Option<Transport>,
        m: &Message<'_>,
        code: u16,
        reason: &str,
        out: &mut dyn FnMut(Exchange),
    ) -> Result<(), Stray> {
        let call_id = m.call_id().unwrap_or("");
        let cseq = m.cseq().map_or(0, |(n, _)| n);
        let Some(mut ex) = self.open.remove(call_id) else {
            return Err(match self.closed.get(call_id) {
                Some(&last) if cseq <= last => {
                    let _ = engine.observe_message(at, Direction::Received, transport, m);
                    while engine.poll_output().is_some() {}
                    Stray::LateRepeat
                }
                _ => Stray::NoRequest,
            });
        };
        let put_back = |s: &mut Tracker, ex: Exchange| {
            s.open.insert(ex.call_id.clone(), ex);
        };
        if cseq < ex.cseq || (cseq == ex.cseq && ex.answered && code >= 200) {
            // An answer to an earlier REGISTER of the chain, or the final
            // answer again.
            ex.retransmissions += 1;
            if cseq == ex.cseq {
                self.make_current(engine, &ex, at);
                let _ = engine.observe_message(at, Direction::Received, transport, m);
                while engine.poll_output().is_some() {}
            }
            put_back(self, ex);
            return Ok(());
        }
        if cseq != ex.cseq {
            put_back(self, ex);
            return Err(Stray::UnknownCseq);
        }
        if code < 200 {
            ex.provisional += 1;
            put_back(self, ex);
            return Ok(());
        }
        self.make_current(engine, &ex, at);
        let r = engine.observe_message(at, Direction::Received, transport, m);
        while engine.poll_output().is_some() {}
        ex.answered = true;
        ex.code = Some(code);
        ex.reason = reason.into();
        let outcome = match r {
            SipObserved::Response(_) => engine
                .last_outcome(ex.trunk)
                .ok()
                .flatten()
                .filter(|o| o.code == Some(code)),
            _ => None,
        };
        match outcome.map(|o| o.verdict) {
            Some(Verdict::Challenged | Verdict::StaleNonce) => {
                ex.challenges.push(code);
                ex.challenged = true;
                self.arm(&mut ex, at);
                put_back(self, ex);
            }
            _ => {
                ex.outcome = outcome;
                self.close(engine, ex, at, Ending::Answered, out);
            }
        }
        Ok(())
    }
}

/// The engine's classification of an exchange left without an answer, on
/// a fresh engine with the trunk's configuration (its own transport
/// history aside): the REGISTER, then a timeout.
fn classify_apart(engine: &Engine, ex: &Exchange, at: u64) -> Option<ExchangeOutcome> {
    let cfg = engine.trunk_config(ex.trunk)?.clone();
    let mut e = Engine::new(engine.config().clone(), ex.sent_ms, 1);
    let id = e.add_trunk(ex.sent_ms, cfg).ok()?;
    if let Ok(m) = sip::parse(&ex.request) {
        e.observe_message(ex.sent_ms, Direction::Sent, ex.transport, &m);
    }
    let obs = Observation::RegisterTimeout {
        transport: ex.transport,
    };
    e.handle_observation(at.max(ex.sent_ms), id, obs).ok()?;
    e.last_outcome(id)
        .ok()
        .flatten()
        .filter(|o| o.code.is_none())
}

/// A Call-ID as a number (64-bit SipHash, fixed keys): which dialog the
/// engine's state of a trunk is about. A collision only spares showing
/// the engine a REGISTER again.
fn dialog(call_id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new();
    call_id.hash(&mut h);
    h.finish()
}

/// The expiry a REGISTER asks for: Expires, else its first Contact's
/// `;expires=`, else 0 for `Contact: *`.
fn request_expires(m: &Message<'_>) -> Option<u32> {
    let contacts = m.contacts();
    m.expires()
        .or_else(|| contacts.first().and_then(|c| c.expires))
        .or_else(|| contacts.first().filter(|c| c.addr.uri == "*").map(|_| 0))
}

fn keep(dst: &mut Vec<u8>, bytes: &[u8]) {
    dst.clear();
    if bytes.len() <= MAX_KEPT_REQUEST {
        dst.extend_from_slice(bytes);
    }
}
