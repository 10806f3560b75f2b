//! The sans-IO engine: trunks, registration tracking, timers, alerts.
use super::config::{EngineConfig, TrunkConfig};
use super::diagnosis::{self, codes, ChallengeFacts, Diagnosis, Facts};
use super::event::{Event, Output};
use super::history::{History, HistoryEntry, HistoryKind};
use super::observation::{
    HostState, Observation, RegisterResponse, RegisterSent, TransportErrorKind,
};
use super::state::{Cause, RegState};
use crate::validate::{self, DomainParts, Finding, Profile, Severity, Transport};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;

mod index;
mod keepalive;
mod wire;
pub use wire::{Direction, SipObserved};

/// A trunk's handle within one engine. Stale handles (of a removed trunk)
/// are refused with [`Error::UnknownTrunk`], never confused with a new trunk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrunkId {
    slot: u32,
    gen: u32,
}

impl TrunkId {
    /// The id as one number (stable for the trunk's life in this engine).
    pub fn as_u64(self) -> u64 {
        (u64::from(self.gen) << 32) | u64::from(self.slot)
    }
    /// The inverse of [`as_u64`](Self::as_u64).
    pub fn from_u64(v: u64) -> TrunkId {
        TrunkId {
            slot: v as u32,
            gen: (v >> 32) as u32,
        }
    }
}

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

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum TimerKind {
    /// The refresh point plus grace.
    RefreshCheck,
    /// The binding's expiry.
    Expiry,
    /// Keep-alive: the next probe is due. (Probe deadlines are kept in
    /// their own queue, `Engine::deadlines`.)
    Probe,
}

/// The REGISTER exchange under way.
#[derive(Clone, Copy, Debug, Default)]
struct Attempt {
    /// A REGISTER was seen and has no final answer yet.
    open: bool,
    /// When the last REGISTER of this attempt was sent.
    sent_at: Option<u64>,
    /// Requested expiry; `Some(0)` is a deregistration.
    expires: Option<u32>,
    /// Whether the last REGISTER carried credentials (None: not observed).
    with_credentials: Option<bool>,
    /// 401/407 answers in this attempt.
    challenges: u8,
    transport: Option<Transport>,
    /// This REGISTER refreshes a live binding.
    refresh: bool,
}

#[derive(Clone, Copy, Debug, Default)]
struct Binding {
    registered_at: u64,
    requested: Option<u32>,
    granted: Option<u32>,
    expires_at: Option<u64>,
    refresh_due_at: Option<u64>,
    late_at: Option<u64>,
}

#[derive(Clone, Debug, Default)]
struct StoredChallenge {
    proxy: bool,
    realm: String,
    algorithm: Option<String>,
    qop: Option<String>,
    stale: bool,
}

#[derive(Clone, Debug, Default)]
struct LastResponse {
    code: u16,
    reason: String,
    at: u64,
    server: Option<String>,
    twilio_error: Option<(u32, String)>,
}

#[derive(Clone, Copy, Debug, Default)]
struct TransportSeen {
    timeouts_in_row: u32,
    /// When this transport last got an answer (any final response but a
    /// locally generated 408), cleared by a timeout or a transport error.
    answered_at: Option<u64>,
}

/// How long an answer on one transport counts as proof that it works, when
/// another transport times out (`transport_blocked` vs `registrar_unreachable`).
const ANSWER_FRESH_MS: u64 = 10 * 60 * 1000;

fn set_string(dst: &mut String, src: &str) {
    if dst != src {
        dst.clear();
        dst.push_str(src);
    }
}

fn set_opt_string(dst: &mut Option<String>, src: Option<&str>) {
    match (dst.as_mut(), src) {
        (Some(d), Some(s)) => set_string(d, s),
        (None, Some(s)) => *dst = Some(s.to_owned()),
        (_, None) => *dst = None,
    }
}

struct Trunk {
    id: TrunkId,
    config: TrunkConfig,
    profile: Profile,
    findings: Vec<Finding>,
    /// Findings from the host adapter (e.g. `asterisk.*` notes).
    host_notes: Vec<Finding>,
    state: RegState,
    /// The cause reported: `reg_cause`, unless the keep-alive is down and
    /// the registration has nothing worse to say.
    cause: Cause,
    /// The cause from registration evidence alone.
    reg_cause: Cause,
    /// OPTIONS keep-alive state.
    ka: keepalive::KaState,
    /// The code behind the current cause, if any.
    cause_code: Option<u16>,
    alert: Option<Cause>,
    attempt: Attempt,
    binding: Option<Binding>,
    last: Option<LastResponse>,
    challenge: Option<StoredChallenge>,
    min_expires: Option<u32>,
    retry_after: Option<u32>,
    transports: [TransportSeen; 3],
    transport_error: Option<(TransportErrorKind, Option<String>, Option<Transport>)>,
    host_state: Option<HostState>,
    /// The cause of the last failed attempt, until a success.
    failure: Option<Cause>,
    failures_in_row: u32,
    refresh_late_by: Option<u64>,
    timer: Option<(u64, TimerKind)>,
    history: History,
    registers_sent: u64,
    /// The last REGISTER seen on the wire, for matching its responses.
    wire: Option<wire::WireTx>,
    /// Retransmitted REGISTERs and responses seen on the wire (counted once).
    retransmissions: u64,
}

impl Trunk {
    fn facts(&self, now_ms: u64, refresh_ratio: f64) -> Facts<'_> {
        let mut f = Facts {
            trunk: &self.config.name,
            profile: self.profile,
            domain: &self.config.domain,
            username: &self.config.username,
            auth_username: self.config.auth_username.as_deref(),
            configured_realm: self.config.realm.as_deref(),
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
            refresh_ratio,
            transport_error: self
                .transport_error
                .as_ref()
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

struct Slot {
    gen: u32,
    trunk: Option<Trunk>,
}

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
}

/// The sans-IO registration engine. See the crate docs for the run-loop
/// contract.
///
/// `Send`, not `Sync`: serialise calls on one engine.
pub struct Engine {
    cfg: EngineConfig,
    seed: u64,
    now_ms: u64,
    slots: Vec<Slot>,
    free: Vec<u32>,
    by_name: HashMap<Arc<str>, u32>,
    timers: BTreeSet<(u64, u32, TimerKind)>,
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
            .field("trunks", &self.by_name.len())
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
            slots: Vec::new(),
            free: Vec::new(),
            by_name: HashMap::new(),
            timers: BTreeSet::new(),
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
        let keepalive_changed = cfg.keepalive != self.cfg.keepalive;
        self.cfg = cfg;
        if keepalive_changed {
            let now = self.now_ms;
            let ids: Vec<TrunkId> = self.trunk_ids().collect();
            for id in ids {
                self.ka_configure(now, id);
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
        self.by_name.len()
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
        if self.by_name.contains_key(&config.name) {
            return Err(Error::DuplicateName(config.name.to_string()));
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(Slot {
                    gen: 0,
                    trunk: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let gen = self.slots[slot as usize].gen;
        let id = TrunkId { slot, gen };
        let name = config.name.clone();
        let parts = self.domains.parts(&config.domain);
        self.index.insert(&config, parts, slot);
        let trunk = Trunk {
            id,
            profile: self.domains.profile(&config),
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
            failures_in_row: 0,
            refresh_late_by: None,
            timer: None,
            history: History::default(),
            registers_sent: 0,
            wire: None,
            retransmissions: 0,
        };
        self.slots[slot as usize].trunk = Some(trunk);
        self.by_name.insert(name, slot);
        tracing::debug!(trunk = %self.slots[slot as usize].trunk.as_ref().map(|t| &*t.config.name).unwrap_or(""), "trunk added");
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
            if self.by_name.contains_key(&config.name) {
                return Err(Error::DuplicateName(config.name.to_string()));
            }
            self.by_name.remove(&old_name);
            self.by_name.insert(config.name.clone(), id.slot);
        }
        let profile = self.domains.profile(&config);
        let t = self.trunk_mut(id)?;
        t.profile = profile;
        let old = std::mem::replace(&mut t.config, config);
        let parts = self.domains.parts(&old.domain);
        self.index.remove(&old, parts, id.slot);
        if let Some(t) = self.slots[id.slot as usize].trunk.as_ref() {
            let parts = self.domains.parts(&t.config.domain);
            self.index.insert(&t.config, parts, id.slot);
        }
        self.configure(now, id);
        Ok(())
    }

    fn configure(&mut self, now: u64, id: TrunkId) {
        self.configure_except(now, id, &[]);
    }

    /// Recomputes the findings and emits those not in `already` (what was
    /// emitted before, when only host notes changed).
    fn configure_except(&mut self, now: u64, id: TrunkId, already: &[Finding]) {
        let ratio = self.cfg.refresh_ratio;
        let Some(t) = self
            .slots
            .get_mut(id.slot as usize)
            .filter(|s| s.gen == id.gen)
            .and_then(|s| s.trunk.as_mut())
        else {
            return;
        };
        let domain = self.domains.findings(&t.config.domain, t.profile);
        t.findings = t.config.findings_with(Some(ratio), t.profile, domain);
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
        self.transition(now, id, HistoryKind::Configured, state, new_cause, None);
        self.ka_configure(now, id);
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
        let slot = &mut self.slots[id.slot as usize];
        let Some(t) = slot.trunk.take() else {
            return Err(Error::UnknownTrunk);
        };
        slot.gen = slot.gen.wrapping_add(1);
        self.free.push(id.slot);
        self.by_name.remove(&t.config.name);
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
        let slot = *self.by_name.get(name)?;
        self.slots[slot as usize].trunk.as_ref().map(|t| t.id)
    }

    /// Every trunk's id, in slot order.
    pub fn trunk_ids(&self) -> impl Iterator<Item = TrunkId> + '_ {
        self.slots
            .iter()
            .filter_map(|s| s.trunk.as_ref().map(|t| t.id))
    }

    /// A trunk's configuration.
    pub fn trunk_config(&self, id: TrunkId) -> Option<&TrunkConfig> {
        self.trunk_ref(id).ok().map(|t| &t.config)
    }

    fn trunk_ref(&self, id: TrunkId) -> Result<&Trunk, Error> {
        self.slots
            .get(id.slot as usize)
            .filter(|s| s.gen == id.gen)
            .and_then(|s| s.trunk.as_ref())
            .ok_or(Error::UnknownTrunk)
    }

    fn trunk_mut(&mut self, id: TrunkId) -> Result<&mut Trunk, Error> {
        self.slots
            .get_mut(id.slot as usize)
            .filter(|s| s.gen == id.gen)
            .and_then(|s| s.trunk.as_mut())
            .ok_or(Error::UnknownTrunk)
    }

    fn set_timer(&mut self, id: TrunkId, timer: Option<(u64, TimerKind)>) {
        let Ok(t) = self.trunk_mut(id) else { return };
        let old = std::mem::replace(&mut t.timer, timer);
        if old == timer {
            return;
        }
        if let Some((at, kind)) = old {
            self.timers.remove(&(at, id.slot, kind));
        }
        if let Some((at, kind)) = timer {
            self.timers.insert((at, id.slot, kind));
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
        self.trunk_ref(id)?;
        match obs {
            Observation::RegisterSent(s) => self.on_register_sent(now, id, s),
            Observation::RegisterResponse(r) => self.on_response(now, id, &r),
            Observation::RegisterTimeout { transport } => self.on_timeout(now, id, transport),
            Observation::TransportError {
                transport,
                kind,
                detail,
            } => self.on_transport_error(now, id, transport, kind, detail),
            Observation::Deregistered => self.on_deregistered(now, id, HistoryKind::Deregistered),
            Observation::HostState { state, detail } => self.on_host_state(now, id, state, detail),
        }
        Ok(())
    }

    fn on_register_sent(&mut self, now: u64, id: TrunkId, s: RegisterSent) {
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

    fn on_response(&mut self, now: u64, id: TrunkId, r: &RegisterResponse<'_>) {
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

    fn on_timeout(&mut self, now: u64, id: TrunkId, transport: Option<Transport>) {
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

    fn on_transport_error(
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

    fn on_deregistered(&mut self, now: u64, id: TrunkId, kind: HistoryKind) {
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

    fn on_host_state(&mut self, now: u64, id: TrunkId, hs: HostState, _detail: Option<&str>) {
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

    /// Fires every timer due at or before `now_ms`.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        let now = self.tick(now_ms);
        loop {
            self.trim_deadlines();
            let timer = self
                .timers
                .first()
                .map(|&(at, _, _)| at)
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
        let Some((at, slot, kind)) = self.timers.pop_first() else {
            return;
        };
        let Some(t) = self.slots[slot as usize].trunk.as_mut() else {
            return;
        };
        let id = t.id;
        match kind {
            TimerKind::RefreshCheck | TimerKind::Expiry => t.timer = None,
            TimerKind::Probe => t.ka.due = None,
        }
        match kind {
            TimerKind::RefreshCheck => self.on_refresh_check(at, id),
            TimerKind::Expiry => self.on_expiry(at, id),
            TimerKind::Probe => self.on_probe_timer(at, id),
        }
    }

    fn on_refresh_check(&mut self, at: u64, id: TrunkId) {
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

    fn on_expiry(&mut self, at: u64, id: TrunkId) {
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

    fn transition(
        &mut self,
        at: u64,
        id: TrunkId,
        kind: HistoryKind,
        state: RegState,
        cause: Cause,
        code: Option<u16>,
    ) {
        self.transition_with(at, id, kind, state, cause, code, |_| {});
    }

    /// Applies a new (state, cause), records history, emits events and
    /// raises or clears the alert.
    #[allow(clippy::too_many_arguments)]
    fn transition_with(
        &mut self,
        at: u64,
        id: TrunkId,
        kind: HistoryKind,
        state: RegState,
        cause: Cause,
        code: Option<u16>,
        fill: impl FnOnce(&mut HistoryEntry),
    ) {
        let cap = self.cfg.history_len;
        let ratio = self.cfg.refresh_ratio;
        let now = self.now_ms;
        let Some(t) = self
            .slots
            .get_mut(id.slot as usize)
            .and_then(|s| s.trunk.as_mut())
        else {
            return;
        };
        let mut entry = HistoryEntry {
            at_ms: at,
            kind,
            expires: None,
            code: 0,
            transport: None,
            credentials: false,
            state,
            cause,
        };
        t.reg_cause = cause;
        // A keep-alive outage explains a quiet or late registration better
        // than the registration's own cause; any real failure wins.
        let cause = match (t.ka.down(), cause) {
            (
                Some(k),
                Cause::Healthy
                | Cause::Unknown
                | Cause::RefreshLate
                | Cause::RegistrationExpired
                | Cause::ExpiryDrift,
            ) => k,
            (_, c) => c,
        };
        entry.cause = cause;
        fill(&mut entry);
        t.history.push(cap, entry);
        let (from, old_cause) = (t.state, t.cause);
        if from == state && old_cause == cause {
            return;
        }
        t.state = state;
        t.cause = cause;
        t.cause_code = code.or(t.cause_code.filter(|_| old_cause == cause));
        tracing::debug!(
            trunk = %t.config.name,
            from = from.as_str(),
            to = state.as_str(),
            cause = cause.as_str(),
            "registration state changed"
        );
        self.out.push_back(Output::Event(Event::StateChanged {
            trunk: id,
            name: t.config.name.clone(),
            at_ms: at,
            from,
            to: state,
            cause,
            code,
        }));
        let wanted = alert_wanted(state, cause).then_some(cause);
        if wanted != t.alert {
            let previous = std::mem::replace(&mut t.alert, wanted);
            match wanted {
                Some(c) => {
                    let summary = diagnosis::summary(c, &t.facts(now, ratio));
                    if c.severity() >= Severity::Error {
                        tracing::error!(trunk = %t.config.name, cause = c.as_str(), "{summary}");
                    } else {
                        tracing::warn!(trunk = %t.config.name, cause = c.as_str(), "{summary}");
                    }
                    self.out.push_back(Output::Event(Event::AlertRaised {
                        trunk: id,
                        name: t.config.name.clone(),
                        at_ms: at,
                        cause: c,
                        severity: c.severity().max(Severity::Warning),
                        state,
                        code: t.cause_code,
                        summary,
                    }))
                }
                None => {
                    if let Some(p) = previous {
                        tracing::info!(trunk = %t.config.name, cause = p.as_str(), "alert cleared");
                        self.out.push_back(Output::Event(Event::AlertCleared {
                            trunk: id,
                            name: t.config.name.clone(),
                            at_ms: at,
                            cause: p,
                            state,
                        }))
                    }
                }
            }
        }
    }

    /// The next output, if any. Drain until `None` after every input.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// The next deadline (absolute, on the caller's monotonic clock), if any.
    pub fn poll_timeout(&self) -> Option<u64> {
        let timer = self.timers.first().map(|&(at, _, _)| at);
        match (timer, self.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The trunk's current state and cause.
    pub fn trunk_state(&self, id: TrunkId) -> Result<(RegState, Cause), Error> {
        self.trunk_ref(id).map(|t| (t.state, t.cause))
    }

    /// The full diagnosis of the trunk's current condition.
    pub fn diagnose(&self, id: TrunkId) -> Result<Diagnosis, Error> {
        let t = self.trunk_ref(id)?;
        Ok(diagnosis::render(
            t.cause,
            &t.facts(self.now_ms, self.cfg.refresh_ratio),
        ))
    }

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
            registers_sent: t.registers_sent,
            failures_in_row: t.failures_in_row,
            findings: t.findings.clone(),
            history: t.history.entries().copied().collect(),
            keepalive: t.ka.status.clone(),
        })
    }
}

/// What validation says of a domain, remembered for the domains configured
/// last: a host with thousands of trunks on one domain (or `regwatch
/// analyze` making one per user of a capture) validates it once. Bounded:
/// forgotten all at once past `DomainMemo::CAP` domains.
#[derive(Debug, Default)]
struct DomainMemo {
    /// Domain → its place in `facts`.
    known: HashMap<Box<str>, usize>,
    facts: Vec<DomainFacts>,
}

#[derive(Debug, Default)]
struct DomainFacts {
    parts: Option<DomainParts>,
    detected: Option<Profile>,
    /// `validate_domain` under each profile (Twilio, generic).
    findings: [Option<Vec<Finding>>; 2],
}

impl DomainMemo {
    const CAP: usize = 256;

    fn entry(&mut self, domain: &str) -> &mut DomainFacts {
        let i = match self.known.get(domain) {
            Some(&i) => i,
            None => {
                if self.facts.len() >= Self::CAP {
                    self.known.clear();
                    self.facts.clear();
                }
                self.facts.push(DomainFacts::default());
                self.known.insert(domain.into(), self.facts.len() - 1);
                self.facts.len() - 1
            }
        };
        &mut self.facts[i]
    }

    /// `DomainParts::parse(domain)`.
    fn parts(&mut self, domain: &str) -> &DomainParts {
        self.entry(domain)
            .parts
            .get_or_insert_with(|| DomainParts::parse(domain))
    }

    /// `config.effective_profile()`.
    fn profile(&mut self, config: &TrunkConfig) -> Profile {
        if let Some(p) = config.profile {
            return p;
        }
        *self
            .entry(&config.domain)
            .detected
            .get_or_insert_with(|| Profile::detect(&config.domain))
    }

    /// `validate::validate_domain(domain, profile)`.
    fn findings(&mut self, domain: &str, profile: Profile) -> Vec<Finding> {
        let i = usize::from(profile != Profile::Twilio);
        self.entry(domain).findings[i]
            .get_or_insert_with(|| validate::validate_domain(domain, profile))
            .clone()
    }
}

fn unreachable_cause(c: Cause) -> bool {
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

/// Whether a (state, cause) pair deserves an alert.
fn alert_wanted(state: RegState, cause: Cause) -> bool {
    match state {
        // Unknown: nothing registered yet, but validation or the keep-alive
        // may already know it cannot work.
        RegState::Unknown => {
            cause == Cause::ConfigInvalid || unreachable_cause(cause) || cause == Cause::ServerError
        }
        RegState::Deregistered => false,
        RegState::Expired | RegState::Rejected | RegState::Unreachable | RegState::Stopped => true,
        RegState::Registering | RegState::Registered | RegState::RefreshLate => {
            cause.severity() >= Severity::Warning && cause != Cause::Unknown
        }
    }
}
