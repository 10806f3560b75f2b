//! What a PBX module hands from one engine to the next across an unload
//! and load (or anything else that makes a new engine in the same
//! process): each trunk's cause and what explains it, so that a trunk the
//! PBX still shows rejected keeps its cause instead of `unknown` until the
//! PBX's next retry, and a registered one keeps its binding's times.
//!
//! The text is one line per trunk, tab-separated: name, state, cause,
//! cause code, failure, rejection, account-query answer, registered at,
//! expires at (times in the engine clock's milliseconds: valid in the same
//! process, whose monotonic clock both engines read). A module applies it
//! to the new engine's trunks before the PBX's own view (Asterisk's `pjsip
//! show registrations`), which then wins where it disagrees: one event per
//! trunk at the load, and no cause `unknown` for a trunk whose cause was
//! known. (FreeSWITCH's module seeds from `sofia xmlstatus` first: that
//! feed only fills trunks still unknown, so the carry then agrees or not.)
use super::alert::alert_wanted;
use super::timer::TimerKind;
use super::transition::Transition;
use super::trunk::Binding;
use super::Engine;
use crate::core::history::HistoryKind;
use crate::core::state::{Cause, RegState};
use std::fmt::Write;

/// The most text [`Engine::carry_in`] reads (a bound on what a module
/// stores outside the engine).
const MAX_CARRY_BYTES: usize = 16 << 20;

fn state_of(s: &str) -> Option<RegState> {
    RegState::ALL.iter().copied().find(|x| x.as_str() == s)
}

fn num(s: &str) -> Option<u64> {
    (!s.is_empty()).then(|| s.parse().ok()).flatten()
}

impl Engine {
    /// Every trunk whose state is known, as [`carry_in`](Self::carry_in)
    /// reads it.
    pub fn carry_out(&self) -> String {
        let mut out = String::new();
        for (_, t) in self.slots.iter() {
            let name = &*t.config.name;
            if t.state == RegState::Unknown || name.contains(['\t', '\n', '\r']) {
                continue;
            }
            let opt = |c: Option<Cause>| c.map_or("", Cause::as_str);
            let (reg, exp) = t
                .binding
                .map_or((None, None), |b| (Some(b.registered_at), b.expires_at));
            // What the credential query found is found again by the next
            // engine's query; carried, it would outlive a good answer.
            let cause = if t.cq.cause() == Some(t.cause) {
                t.reg_cause
            } else {
                t.cause
            };
            let _ = writeln!(
                out,
                "{name}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                t.state.as_str(),
                cause.as_str(),
                t.cause_code.map(|c| c.to_string()).unwrap_or_default(),
                opt(t.failure),
                opt(t.rejection),
                t.query_answer.map(|c| c.to_string()).unwrap_or_default(),
                reg.map(|x| x.to_string()).unwrap_or_default(),
                exp.map(|x| x.to_string()).unwrap_or_default(),
            );
        }
        out
    }

    /// Takes what [`carry_out`](Self::carry_out) gave for the trunks this
    /// engine has: a trunk in the carried state (from the PBX's view fed
    /// before, or still `unknown`) gets the carried cause, failure and
    /// binding times. Lines that do not parse, name no trunk or disagree
    /// with the PBX are skipped. Returns how many trunks took their
    /// carried state.
    pub fn carry_in(&mut self, now_ms: u64, text: &str) -> usize {
        let now = self.tick(now_ms);
        let text = match text.char_indices().nth(MAX_CARRY_BYTES) {
            Some((i, _)) => &text[..i],
            None => text,
        };
        let mut taken = 0;
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            let [name, state, cause, code, failure, rejection, query, reg, exp] = f[..] else {
                continue;
            };
            let (Some(state), Some(cause)) = (state_of(state), Cause::parse(cause)) else {
                continue;
            };
            let Some(id) = self.find_trunk(name) else {
                continue;
            };
            let Some(t) = self.slots.get_mut(id) else {
                continue;
            };
            // The PBX's view wins: a registered trunk it shows rejected
            // (or the reverse) keeps what it shows.
            let agrees = t.state == RegState::Unknown
                || t.state == state
                || (t.state.is_bound() && state.is_bound());
            // A cause of the new engine's own (from the wire already)
            // stands; one from the configuration alone yields to what was
            // seen before the reload.
            let open = matches!(
                t.cause,
                Cause::Unknown | Cause::Healthy | Cause::ConfigInvalid
            );
            if !agrees || !open {
                continue;
            }
            t.failure = Cause::parse(failure);
            t.rejection = Cause::parse(rejection);
            t.query_answer = num(query).and_then(|q| u16::try_from(q).ok());
            let expires_at = num(exp).filter(|x| *x > now);
            let mut timer = None;
            if state.is_bound() {
                if let Some(x) = expires_at {
                    t.binding = Some(Binding {
                        registered_at: num(reg).unwrap_or(now),
                        expires_at: Some(x),
                        ..Binding::default()
                    });
                    timer = Some((x, TimerKind::Expiry));
                }
            }
            let code = num(code).and_then(|c| u16::try_from(c).ok());
            // The alert the previous engine raised was never cleared: it
            // stands, and is not raised again.
            if alert_wanted(state, cause) && t.alert.is_none() {
                t.alert = Some(cause);
            }
            if timer.is_some() {
                self.set_timer(id, timer);
            }
            let tr = Transition::new(now, HistoryKind::CarriedOver, state, cause, code);
            self.transition(id, tr);
            taken += 1;
        }
        taken
    }
}
