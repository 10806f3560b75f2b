//! The sans-IO engine: the coordinator of trunks, registration tracking,
//! timers and alerts. It owns the trunks ([`slots`]), the timer queue and
//! the output queue, and routes each input to the subject that decides:
//! [`registration`] (REGISTER evidence and the binding's timers),
//! [`keepalive`] (OPTIONS probes), [`wire`] (raw SIP), [`alert`] (state
//! changes and alerts). [`snapshot`] is the read-only view.
use super::config::{EngineConfig, TrunkConfig};
use super::diagnosis::{self, Diagnosis};
use super::event::{Event, Output};
use super::history::{History, HistoryKind};
use super::observation::Observation;
use super::refresh::RefreshPolicy;
use super::state::{Cause, RegState};
use crate::validate::{Finding, Severity};
use std::collections::{HashMap, VecDeque};
use std::fmt;

mod alert;
mod carry;
mod classify;
mod counters;
mod credq;
mod deferred;
mod domains;
mod id;
mod index;
mod keepalive;
mod query;
mod registration;
mod slots;
mod snapshot;
mod timer;
mod transition;
mod trunk;
mod wire;
pub use classify::{ExchangeOutcome, Verdict};
pub use counters::{TrunkCounters, DELAY_BUCKETS_MS};
pub use deferred::JOB_QUEUE_GRACE_MS;
use domains::DomainMemo;
pub use id::TrunkId;
use registration::Step;
use slots::Slots;
pub use snapshot::TrunkSnapshot;
use timer::{TimerKind, Timers};
use transition::Transition;
use trunk::{Attempt, Trunk};
pub use wire::{Direction, SipObserved};

/// Why an engine call was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// No trunk with that id or name.
    UnknownTrunk,
    /// A trunk with that name exists already.
    DuplicateName(String),
    /// The trunk configuration has no name.
    MissingName,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownTrunk => f.write_str("no such trunk"),
            Error::DuplicateName(n) => write!(f, "a trunk named `{n}` exists already"),
            Error::MissingName => f.write_str("a trunk needs a name"),
        }
    }
}

impl std::error::Error for Error {}

/// The sans-IO registration engine. See the crate docs for the run-loop
/// contract.
///
/// `Send`, not `Sync`: serialise calls on one engine.
pub struct Engine {
    cfg: EngineConfig,
    seed: u64,
    now_ms: u64,
    slots: Slots,
    timers: Timers,
    out: VecDeque<Output>,
    /// Call-ID of each trunk's registration dialog → slot: the Call-ID of
    /// the last REGISTER seen on the wire for each trunk, and nothing
    /// else, so never more entries than trunks (a peer inventing Call-IDs
    /// replaces its trunk's entry; an unmatched REGISTER adds none).
    by_call_id: HashMap<Box<str>, u32>,
    /// REGISTER → trunk by AOR and Request-URI host (see `index`).
    index: index::RegisterIndex,
    /// What validation says of recently configured domains.
    domains: DomainMemo,
    /// The last keep-alive probe id handed out.
    next_probe: u64,
    /// Deadlines of probes sent, in time order (answered ones are skipped).
    deadlines: VecDeque<keepalive::Deadline>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("trunks", &self.slots.len())
            .field("timers", &self.timers.len())
            .field("pending_outputs", &self.out.len())
            .field("now_ms", &self.now_ms)
            .finish()
    }
}

impl Engine {
    /// A new engine. `now_ms` is the current monotonic time; `seed` feeds
    /// the engine's jitter, so two engines with the same seed and inputs
    /// behave identically.
    pub fn new(cfg: EngineConfig, now_ms: u64, seed: u64) -> Engine {
        Engine {
            cfg,
            seed,
            now_ms,
            slots: Slots::default(),
            timers: Timers::default(),
            out: VecDeque::new(),
            next_probe: 0,
            deadlines: VecDeque::new(),
            by_call_id: HashMap::new(),
            index: index::RegisterIndex::default(),
            domains: DomainMemo::default(),
        }
    }

    /// The policy in force.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// Replaces the policy. Applies to bindings made from now on.
    pub fn set_config(&mut self, cfg: EngineConfig) {
        let keepalive_changed = cfg.keepalive != self.cfg.keepalive
            || cfg.register_interval != self.cfg.register_interval;
        if !cfg.wire_auth_user && self.cfg.wire_auth_user {
            let ids: Vec<TrunkId> = self.trunk_ids().collect();
            for id in ids {
                if let Some(t) = self.slots.get_mut(id) {
                    t.wire_auth_user = None;
                }
            }
        }
        self.cfg = cfg;
        if keepalive_changed {
            let now = self.now_ms;
            let ids: Vec<TrunkId> = self.trunk_ids().collect();
            for id in ids {
                self.ka_configure(now, id);
                self.cq_configure(now, id);
            }
        }
    }

    /// The jitter seed given to [`Engine::new`].
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The latest time the engine has seen.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// How many trunks there are.
    pub fn trunk_count(&self) -> usize {
        self.slots.len()
    }

    fn tick(&mut self, now_ms: u64) -> u64 {
        if now_ms > self.now_ms {
            self.now_ms = now_ms;
        }
        self.now_ms
    }

    /// Adds a trunk. Its configuration is validated at once: findings come
    /// out as [`Event::Finding`], and an error-level finding makes the
    /// trunk's cause `config_invalid` (with an alert) until evidence from
    /// the wire says otherwise.
    pub fn add_trunk(&mut self, now_ms: u64, config: TrunkConfig) -> Result<TrunkId, Error> {
        let now = self.tick(now_ms);
        if config.name.trim().is_empty() {
            return Err(Error::MissingName);
        }
        if self.slots.has_name(&config.name) {
            return Err(Error::DuplicateName(config.name.to_string()));
        }
        let id = self.slots.vacant();
        let parts = self.domains.parts(&config.domain);
        self.index.insert(&config, parts, id.slot);
        let trunk = Trunk {
            id,
            profile: self.domains.profile(&config),
            ka_down: None,
            config,
            findings: Vec::new(),
            host_notes: Vec::new(),
            state: RegState::Unknown,
            cause: Cause::Unknown,
            reg_cause: Cause::Unknown,
            ka: keepalive::KaState::default(),
            cause_code: None,
            alert: None,
            attempt: Attempt::default(),
            binding: None,
            last: None,
            challenge: None,
            min_expires: None,
            retry_after: None,
            transports: Default::default(),
            transport_error: None,
            host_state: None,
            failure: None,
            rejection: None,
            query_wanted: false,
            query_answer: None,
            cq: Default::default(),
            failures_in_row: 0,
            refresh_late_by: None,
            timer: None,
            history: History::default(),
            wire: None,
            wire_auth_user: None,
            last_outcome: None,
            counters: Default::default(),
        };
        tracing::debug!(trunk = %trunk.config.name, "trunk added");
        self.slots.insert(trunk);
        self.configure(now, id);
        Ok(id)
    }

    /// Replaces a trunk's configuration (a renamed trunk keeps its id and
    /// history). Findings are recomputed and emitted again.
    pub fn update_trunk(
        &mut self,
        now_ms: u64,
        id: TrunkId,
        config: TrunkConfig,
    ) -> Result<(), Error> {
        let now = self.tick(now_ms);
        if config.name.trim().is_empty() {
            return Err(Error::MissingName);
        }
        let old_name = self.trunk_ref(id)?.config.name.clone();
        if old_name != config.name {
            if self.slots.has_name(&config.name) {
                return Err(Error::DuplicateName(config.name.to_string()));
            }
            self.slots.rename(&old_name, config.name.clone(), id.slot);
        }
        let profile = self.domains.profile(&config);
        let t = self.trunk_mut(id)?;
        t.profile = profile;
        // A new configuration (a fixed password...) asks again.
        t.query_answer = None;
        let old = std::mem::replace(&mut t.config, config);
        let parts = self.domains.parts(&old.domain);
        self.index.remove(&old, parts, id.slot);
        if let Some(t) = self.slots.get(id) {
            let parts = self.domains.parts(&t.config.domain);
            self.index.insert(&t.config, parts, id.slot);
        }
        self.configure(now, id);
        self.cq_config_changed(now, id, &old);
        Ok(())
    }

    fn configure(&mut self, now: u64, id: TrunkId) {
        self.configure_except(now, id, &[]);
    }

    /// Recomputes the findings and emits those not in `already` (what was
    /// emitted before, when only host notes changed).
    fn configure_except(&mut self, now: u64, id: TrunkId, already: &[Finding]) {
        let Some(t) = self.slots.get_mut(id) else {
            return;
        };
        // The ratio is advice only where it is the schedule: a PBX with its
        // own refresh point has no such setting.
        let ratio = (t.config.refresh_policy(&self.cfg) == RefreshPolicy::Ratio)
            .then_some(self.cfg.refresh_ratio);
        let domain = self.domains.findings(&t.config.domain, t.profile);
        t.findings = t.config.findings_with(ratio, t.profile, domain);
        t.findings.extend(t.host_notes.iter().cloned());
        t.findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        let name = t.config.name.clone();
        let events: Vec<Output> = t
            .findings
            .iter()
            .filter(|f| !already.contains(f))
            .map(|f| {
                Output::Event(Event::Finding {
                    trunk: id,
                    name: name.clone(),
                    finding: f.clone(),
                })
            })
            .collect();
        let has_error = t.findings.iter().any(|f| f.severity == Severity::Error);
        let (state, cause) = (t.state, t.reg_cause);
        self.out.extend(events);
        let new_cause = match (cause, has_error) {
            (Cause::Unknown, true) if state == RegState::Unknown => Cause::ConfigInvalid,
            (Cause::ConfigInvalid, false) => Cause::Unknown,
            (c, _) => c,
        };
        // A configuration step right after another (a host's notes joining
        // the trunk it just added) changes nothing worth a history entry.
        let repeat = new_cause == cause
            && t.history.entries().next_back().is_some_and(|h| {
                h.kind == HistoryKind::Configured && h.state == state && h.cause == t.cause
            });
        if !repeat {
            let tr = Transition::new(now, HistoryKind::Configured, state, new_cause, None);
            self.transition(id, tr);
        }
        self.ka_configure(now, id);
        self.cq_configure(now, id);
    }

    /// Attaches findings that only the host adapter can know (what Asterisk
    /// or FreeSWITCH will do with this configuration). They join the
    /// trunk's validation findings; those not emitted before come out as
    /// events.
    pub fn set_host_notes(
        &mut self,
        now_ms: u64,
        id: TrunkId,
        notes: Vec<Finding>,
    ) -> Result<(), Error> {
        let now = self.tick(now_ms);
        let t = self.trunk_mut(id)?;
        if t.host_notes == notes {
            return Ok(());
        }
        t.host_notes = notes;
        let already = std::mem::take(&mut t.findings);
        self.configure_except(now, id, &already);
        Ok(())
    }

    /// Removes a trunk. An alert still raised is cleared first.
    pub fn remove_trunk(&mut self, now_ms: u64, id: TrunkId) -> Result<(), Error> {
        let now = self.tick(now_ms);
        self.trunk_ref(id)?;
        self.set_timer(id, None);
        self.ka_stop(id);
        self.cq_stop(id);
        let Some(t) = self.slots.remove(id) else {
            return Err(Error::UnknownTrunk);
        };
        let parts = self.domains.parts(&t.config.domain);
        self.index.remove(&t.config, parts, id.slot);
        // The trunk's only Call-ID entry is its last REGISTER's.
        if let Some(w) = &t.wire {
            self.forget_call_id(w.call_id(), id.slot);
        }
        if let Some(cause) = t.alert {
            self.out.push_back(Output::Event(Event::AlertCleared {
                trunk: id,
                name: t.config.name.clone(),
                at_ms: now,
                cause,
                state: t.state,
            }));
        }
        tracing::debug!(trunk = %t.config.name, "trunk removed");
        Ok(())
    }

    /// The id of the trunk with this name.
    pub fn find_trunk(&self, name: &str) -> Option<TrunkId> {
        self.slots.find(name.as_bytes())
    }

    /// The id of the trunk whose name is these bytes (a name as a C host
    /// passes it, not yet checked to be UTF-8: no trunk's name is not).
    pub fn find_trunk_bytes(&self, name: &[u8]) -> Option<TrunkId> {
        self.slots.find(name)
    }

    /// Every trunk's id, in slot order.
    pub fn trunk_ids(&self) -> impl Iterator<Item = TrunkId> + '_ {
        self.slots.ids()
    }

    /// A trunk's configuration.
    pub fn trunk_config(&self, id: TrunkId) -> Option<&TrunkConfig> {
        self.trunk_ref(id).ok().map(|t| &t.config)
    }

    fn trunk_ref(&self, id: TrunkId) -> Result<&Trunk, Error> {
        self.slots.get(id).ok_or(Error::UnknownTrunk)
    }

    fn trunk_mut(&mut self, id: TrunkId) -> Result<&mut Trunk, Error> {
        self.slots.get_mut(id).ok_or(Error::UnknownTrunk)
    }

    fn set_timer(&mut self, id: TrunkId, timer: Option<(u64, TimerKind)>) {
        if let Some(t) = self.slots.get_mut(id) {
            set_timer(&mut self.timers, t, timer);
        }
    }

    /// Feeds one observation about a trunk.
    pub fn handle_observation(
        &mut self,
        now_ms: u64,
        id: TrunkId,
        obs: Observation<'_>,
    ) -> Result<(), Error> {
        let now = self.tick(now_ms);
        let t = self.slots.get_mut(id).ok_or(Error::UnknownTrunk)?;
        // Matched by reference: a response is not copied on the way.
        let step = match &obs {
            Observation::RegisterSent(s) => t.on_register_sent(now, *s),
            Observation::RegisterResponse(r) => t.on_response(now, r, &self.cfg),
            Observation::RegisterTimeout { transport } => t.on_timeout(now, *transport),
            Observation::TransportError {
                transport,
                kind,
                detail,
            } => t.on_transport_error(now, *transport, *kind, *detail),
            Observation::Deregistered => t.on_deregistered(now, HistoryKind::Deregistered),
            Observation::HostState { state, .. } => t.on_host_state(now, *state),
        };
        // Only a response asks for an account query (an unexplained 403).
        let query = t.query_wanted;
        apply(t, step, &mut self.timers, &self.cfg, now, &mut self.out);
        if query {
            self.maybe_query(now, id);
        }
        Ok(())
    }

    /// Applies what a registration input asked for: the binding timer,
    /// then the transition.
    fn apply(&mut self, id: TrunkId, step: Step) {
        if let Some(t) = self.slots.get_mut(id) {
            apply(
                t,
                step,
                &mut self.timers,
                &self.cfg,
                self.now_ms,
                &mut self.out,
            );
        }
    }

    /// Fires every timer due at or before `now_ms`.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        let now = self.tick(now_ms);
        loop {
            self.trim_deadlines();
            let timer = self
                .timers
                .first()
                .map(|(at, _, _)| at)
                .filter(|&at| at <= now);
            let deadline = self.deadlines.front().map(|d| d.at).filter(|&at| at <= now);
            match (timer, deadline) {
                (None, None) => break,
                (Some(t), Some(d)) if d < t => self.fire_deadline(),
                (None, Some(_)) => self.fire_deadline(),
                _ => self.fire_timer(),
            }
        }
    }

    fn fire_deadline(&mut self) {
        if let Some(d) = self.deadlines.pop_front() {
            self.on_deadline(d);
        }
    }

    fn fire_timer(&mut self) {
        let Some((at, slot, kind)) = self.timers.pop() else {
            return;
        };
        let Some(t) = self.slots.at_mut(slot) else {
            return;
        };
        let id = t.id;
        let step = match kind {
            TimerKind::RefreshCheck => {
                t.timer = None;
                t.on_refresh_check(at)
            }
            TimerKind::Expiry => {
                t.timer = None;
                t.on_expiry(at)
            }
            TimerKind::Probe => {
                t.ka.due = None;
                return self.on_probe_timer(at, id);
            }
            TimerKind::Query => {
                t.cq.timer_fired();
                return self.on_query_timer(at, id);
            }
        };
        self.apply(id, step);
    }

    /// The next output, if any. Drain until `None` after every input.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// The next deadline (absolute, on the caller's monotonic clock), if any.
    pub fn poll_timeout(&self) -> Option<u64> {
        let timer = self.timers.first().map(|(at, _, _)| at);
        match (timer, self.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The trunk's current state and cause.
    pub fn trunk_state(&self, id: TrunkId) -> Result<(RegState, Cause), Error> {
        self.trunk_ref(id).map(|t| (t.state, t.cause))
    }

    /// How the engine classified the last outcome of the trunk's REGISTER
    /// exchange (a final response, a timeout, a transport error), if any.
    pub fn last_outcome(&self, id: TrunkId) -> Result<Option<ExchangeOutcome>, Error> {
        self.trunk_ref(id).map(|t| t.last_outcome)
    }

    /// The full diagnosis of the trunk's current condition.
    pub fn diagnose(&self, id: TrunkId) -> Result<Diagnosis, Error> {
        let t = self.trunk_ref(id)?;
        Ok(diagnosis::render(t.cause, &t.facts(self.now_ms, &self.cfg)))
    }
}

/// [`Engine::apply`] on a trunk already in hand.
fn apply(
    t: &mut Trunk,
    step: Step,
    timers: &mut Timers,
    cfg: &EngineConfig,
    now: u64,
    out: &mut VecDeque<Output>,
) {
    if let Some(timer) = step.timer {
        set_timer(timers, t, timer);
    }
    if let Some(tr) = step.transition {
        alert::record(t, tr, cfg, now, out);
    }
}

/// Sets a trunk's binding timer, arming or disarming it in the queue.
fn set_timer(timers: &mut Timers, t: &mut Trunk, timer: Option<(u64, TimerKind)>) {
    let old = std::mem::replace(&mut t.timer, timer);
    if old == timer {
        return;
    }
    match (timer, old) {
        (Some((at, kind)), _) => timers.arm(at, t.id.slot, kind),
        (None, Some((_, kind))) => timers.disarm(t.id.slot, kind),
        (None, None) => {}
    }
}
