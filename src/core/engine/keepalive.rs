//! The keep-alive scheduler: per trunk one OPTIONS probe per interval, a
//! confirmation probe after a first failure, alternate transports after a
//! UDP failure, N/M hysteresis, and the "re-register now" action on
//! recovery. See [`crate::core::keepalive`] for the types.
use super::classify::reachability_only;
use super::classify::ANSWER_FRESH_MS;
use super::timer::{first_offset, TimerKind};
use super::transition::Transition;
use super::{Engine, TrunkId};
use crate::core::event::{Action, Output};
use crate::core::history::HistoryKind;
use crate::core::keepalive::{
    below, mix, KeepAliveStatus, Probe, ProbeClass, ProbePurpose, ProbeResult, ProbeTarget,
    QueryRequest,
};
use crate::core::observation::TransportErrorKind;
use crate::core::state::{Cause, RegState};
use crate::sip::uri::split_host_port;
use crate::validate::Transport;
use std::sync::Arc;

/// During a long outage, the other transports are probed again after this
/// many failures in a row (10 minutes at the default interval).
const ALTERNATES_AGAIN_EVERY: u32 = 10;

/// A probe's deadline in the engine's deadline queue.
#[derive(Clone, Copy, Debug)]
pub(super) struct Deadline {
    pub(super) at: u64,
    slot: u32,
    gen: u32,
    probe: u64,
}

/// A probe sent and not yet answered.
#[derive(Clone, Copy, Debug)]
pub(super) struct Outstanding {
    pub(super) id: u64,
    pub(super) at: u64,
    pub(super) deadline: u64,
}

type Alternates = [Option<(Transport, Outstanding)>; 2];
/// Where a trunk's probes go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Target {
    pub(super) names: Arc<ProbeTarget>,
    pub(super) port: u16,
    pub(super) transport: Transport,
}

/// A trunk's keep-alive state.
/// `repr(C)`, `status` first: its `down` is read by every state change.
#[derive(Clone, Debug, Default)]
#[repr(C)]
pub(super) struct KaState {
    pub(super) status: KeepAliveStatus,
    pub(super) target: Option<Target>,
    interval_ms: u64,
    /// When the next probe is due (None while one is outstanding: its
    /// deadline is in the engine's deadline queue).
    pub(super) due: Option<u64>,
    primary: Option<Outstanding>,
    /// Alternate probes (TCP, TLS) after a UDP failure (boxed: rare).
    alt: Option<Box<Alternates>>,
    /// The account query out (see `query.rs`; boxed: rare).
    pub(super) query: Option<Box<Outstanding>>,
    /// The REGISTER (by count) whose network failure a re-register was
    /// already asked for.
    rereg_for: Option<u64>,
    rounds: u64,
    /// Detail for the next transport error recorded (the name that did
    /// not resolve...), from `handle_probe_error`.
    error_detail: Option<String>,
    next_purpose: Option<ProbePurpose>,
    /// Alternates already sent in this run of failures.
    alt_sent: bool,
}

impl KaState {
    /// Probe `pid`, if this trunk's keep-alive awaits it.
    pub(super) fn outstanding_mut(&mut self, pid: u64) -> Option<&mut Outstanding> {
        let alt = (self.alt.as_deref_mut().into_iter().flatten())
            .filter_map(|a| a.as_mut().map(|(_, o)| o));
        [self.primary.as_mut(), self.query.as_deref_mut()]
            .into_iter()
            .flatten()
            .chain(alt)
            .find(|o| o.id == pid)
    }

    /// The network cause the keep-alive currently asserts, if down.
    pub(super) fn down(&self) -> Option<Cause> {
        self.status.down
    }
}

impl Engine {
    /// (Re)reads a trunk's keep-alive settings after its configuration
    /// changed: starts probing (the first probe at the trunk's place in
    /// the first round, `timer::first_offset`), stops, or
    /// retargets.
    pub(super) fn ka_configure(&mut self, now: u64, id: TrunkId) {
        let policy = self.cfg.keepalive.clone();
        let seed = self.seed;
        let Some(t) = self.slots.get_mut(id) else {
            return;
        };
        let c = &t.config;
        let enabled = c.keepalive.unwrap_or(policy.enabled) && !c.domain.trim().is_empty();
        let target = enabled.then(|| {
            let transport = c.transport.unwrap_or(Transport::Udp);
            let (dom_host, dom_port) = split_host_port(&c.domain);
            let (host, port, explicit) = match c.proxy.as_deref().map(split_host_port) {
                Some((h, p)) if !h.is_empty() => {
                    (h, p.unwrap_or(transport.default_port()), p.is_some())
                }
                _ => {
                    let p = c.port.or(dom_port);
                    (dom_host, p.unwrap_or(transport.default_port()), p.is_some())
                }
            };
            let literal = host
                .trim_matches(|ch| ch == '[' || ch == ']')
                .parse::<::core::net::IpAddr>()
                .is_ok();
            Target {
                names: Arc::new(ProbeTarget {
                    name: c.name.clone(),
                    host: host.trim_end_matches('.').to_owned(),
                    domain: dom_host.trim_end_matches('.').to_owned(),
                    username: c.username.clone(),
                    srv: !explicit && !literal,
                }),
                port,
                transport,
            }
        });
        let interval = c
            .keepalive_interval
            .map_or(policy.interval_ms, |s| u64::from(s) * 1000);
        t.ka.status.enabled = enabled;
        t.ka.status.target = target
            .as_ref()
            .map(|g| format!("{}:{}", g.names.host, g.port));
        t.ka.status.transport = target.as_ref().map(|g| g.transport);
        let changed = t.ka.target != target || t.ka.interval_ms != interval;
        if !changed {
            return;
        }
        let was_running = t.ka.target.is_some();
        t.ka.target = target;
        t.ka.interval_ms = interval;
        if !enabled {
            self.ka_stop(id);
            if self.slots.get(id).is_some_and(|t| t.ka.down().is_some()) {
                self.ka_set_down(now, id, None, None);
            }
            return;
        }
        if was_running && self.slots.get(id).is_some_and(|t| t.ka.primary.is_some()) {
            // A probe is out: the next one is scheduled from its result.
            return;
        }
        let offset = first_offset(seed, id, interval);
        let Some(t) = self.slots.get_mut(id) else {
            return;
        };
        t.ka.next_purpose = Some(ProbePurpose::KeepAlive);
        self.set_ka_timer(id, Some(now + offset));
    }

    /// Moves the trunk's keep-alive timer (when the next probe is due).
    fn set_ka_timer(&mut self, id: TrunkId, at: Option<u64>) {
        let Some(t) = self.slots.get_mut(id) else {
            return;
        };
        let old = std::mem::replace(&mut t.ka.due, at);
        if old == at {
            return;
        }
        match at {
            Some(a) => self.timers.arm(a, id.slot, TimerKind::Probe),
            None => self.timers.disarm(id.slot, TimerKind::Probe),
        }
    }

    /// Stops probing a trunk (removed, or keep-alive turned off): its
    /// timer goes, its outstanding probes are forgotten (their deadlines
    /// become stale and are skipped).
    pub(super) fn ka_stop(&mut self, id: TrunkId) {
        self.set_ka_timer(id, None);
        self.cq_stop(id);
        if let Some(t) = self.slots.get_mut(id) {
            t.ka.primary = None;
            t.ka.alt = None;
            t.ka.query = None;
            t.counters.settle_failure(None);
            t.ka.next_purpose = None;
        }
    }

    /// Queues a probe's deadline. Deadlines are `sent + timeout`, so they
    /// arrive in order and the queue stays sorted by pushing at the back;
    /// after a timeout change they are inserted in place.
    pub(super) fn push_deadline(&mut self, id: TrunkId, o: Outstanding) {
        let d = Deadline {
            at: o.deadline,
            slot: id.slot,
            gen: id.gen,
            probe: o.id,
        };
        match self.deadlines.back() {
            Some(b) if b.at > d.at => {
                let i = self.deadlines.partition_point(|x| x.at <= d.at);
                self.deadlines.insert(i, d);
            }
            _ => self.deadlines.push_back(d),
        }
    }

    /// The trunk of an outstanding probe.
    pub(super) fn probe_trunk(&self, pid: u64) -> Option<TrunkId> {
        self.deadlines
            .iter()
            .find(|d| d.probe == pid && self.deadline_live(d))
            .map(|d| TrunkId {
                slot: d.slot,
                gen: d.gen,
            })
    }

    /// Whether a queued deadline still belongs to an unanswered probe.
    pub(super) fn deadline_live(&self, d: &Deadline) -> bool {
        let Some(t) = self.slots.get(TrunkId {
            slot: d.slot,
            gen: d.gen,
        }) else {
            return false;
        };
        // A deadline moved later (`defer_probe_deadline`) leaves its old
        // entry behind: only the entry at the probe's deadline stands.
        let at = |o: &Outstanding| o.id == d.probe && o.deadline == d.at;
        t.ka.primary.as_ref().is_some_and(at)
            || t.ka.query.as_deref().is_some_and(at)
            || t.cq.state().and_then(|q| q.out.as_ref()).is_some_and(at)
            || (t.ka.alt.iter().flat_map(|a| a.iter().flatten())).any(|(_, o)| at(o))
    }

    /// Drops answered probes' deadlines from the front of the queue.
    pub(super) fn trim_deadlines(&mut self) {
        while let Some(d) = self.deadlines.front() {
            if self.deadline_live(d) {
                break;
            }
            self.deadlines.pop_front();
        }
    }

    /// The earliest deadline of a probe still unanswered.
    pub(super) fn next_deadline(&self) -> Option<u64> {
        self.deadlines
            .iter()
            .find(|d| self.deadline_live(d))
            .map(|d| d.at)
    }

    /// Times out the probe of a deadline that came (if still unanswered).
    pub(super) fn on_deadline(&mut self, d: Deadline) {
        if !self.deadline_live(&d) {
            return;
        }
        let id = TrunkId {
            slot: d.slot,
            gen: d.gen,
        };
        self.ka_result(d.at, id, d.probe, ProbeResult::Timeout, None);
    }

    fn next_probe_id(&mut self) -> u64 {
        self.next_probe = self.next_probe.wrapping_add(1);
        self.next_probe
    }

    pub(super) fn emit_probe(
        &mut self,
        at: u64,
        id: TrunkId,
        transport: Transport,
        port: u16,
        purpose: ProbePurpose,
    ) -> Option<Outstanding> {
        self.emit_probe_with(at, id, (transport, port), purpose, None)
    }

    /// [`emit_probe`](Self::emit_probe) with a credential query's dialog.
    pub(super) fn emit_probe_with(
        &mut self,
        at: u64,
        id: TrunkId,
        (transport, port): (Transport, u16),
        purpose: ProbePurpose,
        query: Option<Arc<QueryRequest>>,
    ) -> Option<Outstanding> {
        let timeout = self.cfg.keepalive.timeout_ms;
        let pid = self.next_probe_id();
        let t = self.slots.get_mut(id)?;
        let g = t.ka.target.as_ref()?;
        let o = Outstanding {
            id: pid,
            at,
            deadline: at + timeout,
        };
        if purpose != ProbePurpose::CredentialQuery {
            t.ka.status.sent += 1;
        }
        let probe = Probe {
            trunk: id,
            id: pid,
            target: g.names.clone(),
            port,
            transport,
            purpose,
            at_ms: at,
            deadline_ms: o.deadline,
            query,
        };
        self.out.push_back(Output::Transmit(probe));
        Some(o)
    }

    /// The trunk's probe is due: send it.
    pub(super) fn on_probe_timer(&mut self, at: u64, id: TrunkId) {
        let Some(t) = self.slots.get_mut(id) else {
            return;
        };
        t.ka.due = None;
        if t.ka.primary.is_some() {
            // Still waiting for the last one: its result schedules the next.
            return;
        }
        let Some(g) = t.ka.target.as_ref() else {
            return;
        };
        let (transport, port) = (g.transport, g.port);
        let purpose = t.ka.next_purpose.take().unwrap_or(ProbePurpose::KeepAlive);
        t.ka.rounds += 1;
        if let Some(o) = self.emit_probe(at, id, transport, port, purpose) {
            let Some(t) = self.slots.get_mut(id) else {
                return;
            };
            t.ka.primary = Some(o);
            self.push_deadline(id, o);
        }
    }

    /// Reports what became of a probe this engine emitted
    /// ([`Output::Transmit`]). `rtt_us` is the measured round trip, if the
    /// host measured it (else the engine's clock gives it in whole
    /// milliseconds). Returns `Ok(false)` for a probe that is no longer
    /// awaited (answered already, timed out, or the trunk was
    /// reconfigured): late answers change nothing.
    pub fn handle_probe_result(
        &mut self,
        now_ms: u64,
        trunk: TrunkId,
        probe: u64,
        result: ProbeResult,
        rtt_us: Option<u64>,
    ) -> Result<bool, super::Error> {
        let now = self.tick(now_ms);
        self.trunk_ref(trunk)?;
        Ok(self.ka_result(now, trunk, probe, result, rtt_us))
    }

    /// Like [`Engine::handle_probe_result`] with a transport error, plus
    /// what the host knows of it (the name that did not resolve, the TLS
    /// alert...), shown in the diagnosis evidence.
    pub fn handle_probe_error(
        &mut self,
        now_ms: u64,
        trunk: TrunkId,
        probe: u64,
        kind: TransportErrorKind,
        detail: Option<&str>,
    ) -> Result<bool, super::Error> {
        let t = self.trunk_mut(trunk)?;
        t.ka.error_detail = detail.map(str::to_owned);
        let r = self.handle_probe_result(
            now_ms,
            trunk,
            probe,
            ProbeResult::TransportError { kind },
            None,
        );
        if let Some(t) = self.slots.get_mut(trunk) {
            t.ka.error_detail = None;
        }
        r
    }

    fn ka_result(
        &mut self,
        now: u64,
        id: TrunkId,
        pid: u64,
        result: ProbeResult,
        rtt_us: Option<u64>,
    ) -> bool {
        let Some(t) = self.slots.get_mut(id) else {
            return false;
        };
        if let Some(o) = t.ka.primary.filter(|o| o.id == pid) {
            t.ka.primary = None;
            self.ka_primary_result(now, id, o, result, rtt_us);
            self.trim_deadlines();
            return true;
        }
        if t.ka.query.as_deref().is_some_and(|o| o.id == pid) {
            t.ka.query = None;
            self.query_result(now, id, result);
            self.trim_deadlines();
            return true;
        }
        if t.cq.take_out(pid) {
            self.cq_result(now, id, result, None);
            self.trim_deadlines();
            return true;
        }
        let lane = (t.ka.alt.as_deref())
            .and_then(|a| a.iter().position(|a| a.is_some_and(|(_, o)| o.id == pid)));
        if let Some(lane) = lane {
            let Some((transport, _)) = t.ka.alt.as_deref_mut().and_then(|a| a[lane].take()) else {
                return false;
            };
            self.ka_alt_result(now, id, transport, result);
            self.trim_deadlines();
            return true;
        }
        false
    }

    fn record_transport(
        &mut self,
        now: u64,
        id: TrunkId,
        transport: Transport,
        result: ProbeResult,
    ) {
        let Some(t) = self.slots.get_mut(id) else {
            return;
        };
        let seen = &mut t.transports[transport.index()];
        if result.class().reachable() || result.class() == ProbeClass::ServerError {
            seen.answered_at = Some(now);
            seen.timeouts_in_row = 0;
        } else {
            seen.answered_at = None;
            if let ProbeResult::TransportError { kind } = result {
                let detail = t.ka.error_detail.take();
                t.transport_error = Some(Box::new((kind, detail, Some(transport))));
            } else {
                seen.timeouts_in_row += 1;
            }
        }
    }

    fn ka_primary_result(
        &mut self,
        now: u64,
        id: TrunkId,
        o: Outstanding,
        result: ProbeResult,
        rtt_us: Option<u64>,
    ) {
        let policy = self.cfg.keepalive.clone();
        let seed = self.seed;
        let class = result.class();
        let Some(t) = self.slots.get_mut(id) else {
            return;
        };
        let Some(transport) = t.ka.target.as_ref().map(|g| g.transport) else {
            return;
        };
        t.ka.status.last_class = Some(class);
        if let Some(code) = result.code() {
            t.ka.status.last_code = Some(code);
        }
        let answered = class.reachable() || class == ProbeClass::ServerError;
        if answered {
            t.ka.status.last_answer_at_ms = Some(now);
            let rtt = rtt_us.unwrap_or_else(|| now.saturating_sub(o.at) * 1000);
            t.ka.status.rtt.add(rtt);
        }
        let interval = t.ka.interval_ms;
        // The regular cadence: one interval (± jitter) after this probe
        // was sent, never in the past.
        let span = (interval as f64 * policy.jitter) as u64;
        let h = mix(seed ^ mix(u64::from(id.slot) << 32 | u64::from(id.gen)) ^ t.ka.rounds);
        let jittered = (o.at + interval + below(h, 2 * span + 1)).saturating_sub(span);
        let regular = jittered.max(now + 1);
        self.record_transport(now, id, transport, result);
        let Some(t) = self.slots.get_mut(id) else {
            return;
        };
        if class.reachable() {
            t.ka.status.successes_in_row += 1;
            t.ka.status.failures_in_row = 0;
            t.ka.next_purpose = Some(ProbePurpose::KeepAlive);
            let down = t.ka.down().is_some();
            let recovered = down && t.ka.status.successes_in_row >= policy.successes_to_clear;
            // Re-register on recovery only when the registration itself
            // has no failure but a reachability one (DESIGN.md, "Field
            // rules"): a trunk rejected for its credentials, account,
            // domain or configuration gets no REGISTER from regwatch, which
            // would only add failed attempts toward the provider.
            let may_reregister = t.failure.is_none_or(reachability_only)
                && t.rejection.is_none()
                && !t.cq.rejected();
            if !down || recovered {
                t.ka.alt_sent = false;
            }
            // The last REGISTER failed on the network (refused, no answer,
            // DNS, TLS) and the registrar answers now: the host waits for
            // its own retry, so ask for the REGISTER once for that failure,
            // even when the keep-alive never counted an outage.
            let register_failed = !down
                && t.failure.is_some_and(reachability_only)
                && t.rejection.is_none()
                && !t.cq.rejected()
                && t.ka.rereg_for != Some(t.registers_sent());
            let reregister = (recovered && may_reregister) || register_failed;
            if reregister {
                t.ka.rereg_for = Some(t.registers_sent());
            }
            let name = t.config.name.clone();
            self.set_ka_timer(id, Some(regular));
            if recovered {
                self.ka_recovered(now, id, result.code(), reregister);
            }
            if recovered && reregister {
                tracing::debug!(trunk = %name, "registrar answers keep-alives again: re-register now");
            } else if recovered {
                tracing::info!(trunk = %name, "registrar answers keep-alives again; no re-register: the registration was rejected, not unreachable");
            } else if register_failed {
                tracing::debug!(trunk = %name, "registrar answers keep-alives after a failed REGISTER: re-register now");
            }
            if reregister {
                self.out
                    .push_back(Output::Action(Action::ReRegister { trunk: id, name }));
            }
            return;
        }
        t.ka.status.failures_in_row += 1;
        t.ka.status.successes_in_row = 0;
        t.ka.status.failed += 1;
        let failures = t.ka.status.failures_in_row;
        // A first failure: confirm fast instead of waiting an interval, and
        // try the other transports when UDP failed: once, then again every
        // ALTERNATES_AGAIN_EVERY failures in a row, so that a verdict made
        // while the registrar was going down (TCP still up for a moment) is
        // checked again.
        let confirm = failures < policy.failures_to_alert;
        let send_alternates = policy.alternates
            && transport == Transport::Udp
            && (!t.ka.alt_sent || failures % ALTERNATES_AGAIN_EVERY == 0)
            && class == ProbeClass::Unreachable
            && !matches!(
                result,
                ProbeResult::TransportError {
                    kind: TransportErrorKind::Dns
                }
            );
        if send_alternates {
            t.ka.alt_sent = true;
        }
        let (next, purpose) = if confirm {
            (
                (now + policy.confirm_ms).min(regular.max(now + 1)),
                ProbePurpose::Confirm,
            )
        } else {
            (regular, ProbePurpose::KeepAlive)
        };
        t.ka.next_purpose = Some(purpose);
        self.set_ka_timer(id, Some(next));
        if send_alternates {
            for (lane, (tr, port)) in [(Transport::Tcp, 5060), (Transport::Tls, 5061)]
                .into_iter()
                .enumerate()
            {
                if let Some(ao) = self.emit_probe(now, id, tr, port, ProbePurpose::Alternate) {
                    let Some(t) = self.slots.get_mut(id) else {
                        return;
                    };
                    t.ka.alt.get_or_insert_with(Box::default)[lane] = Some((tr, ao));
                    self.push_deadline(id, ao);
                }
            }
        }
        if failures >= policy.failures_to_alert {
            let cause = self.ka_cause(now, id, transport, result);
            self.ka_set_down(now, id, Some(cause), result.code());
        }
    }

    /// The network cause of a failed primary probe, given what the other
    /// transports said.
    fn ka_cause(&self, now: u64, id: TrunkId, transport: Transport, result: ProbeResult) -> Cause {
        let base = result.cause().unwrap_or(Cause::RegistrarUnreachable);
        let Some(t) = self.slots.get(id) else {
            return base;
        };
        let other_answers = Transport::ALL.iter().any(|o| {
            *o != transport
                && t.transports[o.index()]
                    .answered_at
                    .is_some_and(|a| now.saturating_sub(a) <= ANSWER_FRESH_MS)
        });
        match base {
            Cause::RegistrarUnreachable | Cause::ConnectionRefused if other_answers => {
                Cause::TransportBlocked
            }
            c => c,
        }
    }

    fn ka_alt_result(&mut self, now: u64, id: TrunkId, transport: Transport, result: ProbeResult) {
        self.record_transport(now, id, transport, result);
        // An alternate that answers while the primary is down turns
        // "unreachable" into "this transport is blocked".
        let Some(t) = self.slots.get_mut(id) else {
            return;
        };
        if result.class().reachable()
            && matches!(
                t.ka.down(),
                Some(Cause::RegistrarUnreachable | Cause::ConnectionRefused)
            )
        {
            self.ka_set_down(now, id, Some(Cause::TransportBlocked), None);
        }
    }

    /// Raises, changes or clears the keep-alive's claim on the trunk's cause.
    /// The keep-alive recovered. When the host is asked to register
    /// again, an answered OPTIONS is not a binding (the registrar may have
    /// lost it): a trunk the engine still counts as bound is `registering`
    /// with the outage's cause until the host's REGISTER is answered, in
    /// the same step (one event). Without the action, or when the host will not carry it out
    /// (`reregister_on_recovery` off), the trunk takes its registration's
    /// own state and cause again.
    fn ka_recovered(&mut self, now: u64, id: TrunkId, code: Option<u16>, reregister: bool) {
        let cfg = &self.cfg;
        let Some(t) = self.slots.get(id) else {
            return;
        };
        if reregister && t.state.is_bound() && t.config.reregisters_on_recovery(cfg) {
            if let Some(t) = self.slots.get_mut(id) {
                // The outage's cause stands (and its alert) until the
                // REGISTER is answered.
                let cause = t.ka.status.down.take().unwrap_or(t.reg_cause);
                t.ka_down = None;
                let mut tr = Transition::new(
                    now,
                    HistoryKind::KeepAliveUp,
                    RegState::Registering,
                    cause,
                    code,
                );
                tr.entry_code = code.unwrap_or(0);
                self.transition(id, tr);
            }
            return;
        }
        self.ka_set_down(now, id, None, code);
    }

    fn ka_set_down(&mut self, now: u64, id: TrunkId, down: Option<Cause>, code: Option<u16>) {
        let Some(t) = self.slots.get_mut(id) else {
            return;
        };
        if t.ka.status.down == down {
            return;
        }
        t.ka.status.down = down;
        t.ka_down = down;
        let (state, reg_cause) = (t.state, t.reg_cause);
        let kind = if down.is_some() {
            HistoryKind::KeepAliveDown
        } else {
            HistoryKind::KeepAliveUp
        };
        let mut tr = Transition::new(now, kind, state, reg_cause, code);
        tr.entry_code = code.unwrap_or(0);
        self.transition(id, tr);
    }
}
