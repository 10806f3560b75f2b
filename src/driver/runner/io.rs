//! The runner thread's loop: the engine's timers, the commands, the poll
//! of every socket; outputs handed to the host, probes sent (UDP in
//! `udp.rs`, TCP/TLS in `stream.rs`), answers fed back.
use super::command::{Command, OutputCallback, RunnerError};
use super::conn::{Conn, ConnKey};
use super::dns_cache::DnsCache;
use crate::core::{Engine, EngineConfig, Output, Probe, ProbeResult, TransportErrorKind};
use crate::driver::dns::Resolver;
use crate::sip::{self, timer::TimerE};
use crate::validate::Transport;
use mio::net::UdpSocket;
use mio::{Events, Poll, Token};
use rustls::ClientConfig;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A probe sent and not answered yet.
pub(super) struct Inflight {
    pub(super) trunk: crate::core::TrunkId,
    pub(super) addr: SocketAddr,
    pub(super) transport: Transport,
    pub(super) sent: Instant,
    pub(super) deadline: Instant,
    /// The request, for retransmissions (UDP).
    pub(super) request: Vec<u8>,
    /// Where a UDP request is in its retransmission schedule.
    pub(super) timer_e: TimerE,
}

/// The runner thread's state: the engine, its sockets, what is in flight.
pub(super) struct Io {
    pub(super) poll: Poll,
    pub(super) engine: Engine,
    pub(super) epoch: Instant,
    pub(super) user_agent: String,
    pub(super) on_output: OutputCallback,
    pub(super) next_token: usize,
    pub(super) udp: HashMap<SocketAddr, (Token, UdpSocket)>,
    pub(super) streams: HashMap<ConnKey, Conn>,
    pub(super) by_token: HashMap<Token, Route>,
    pub(super) tls: Result<Arc<ClientConfig>, String>,
    pub(super) inflight: HashMap<u64, Inflight>,
    pub(super) retransmit: BinaryHeap<Reverse<(Instant, u64)>>,
    pub(super) dns: DnsCache,
    pub(super) buf: Vec<u8>,
    pub(super) swept: Instant,
    /// Timer resolution in milliseconds, from the probe rate.
    pub(super) tick_ms: u64,
    /// Sockets that had more to read when their budget ran out: read
    /// again on the next turn of the loop (mio is edge-triggered).
    pub(super) again: Vec<Token>,
    /// Connections dropped for breaking a limit (shared with [`super::Runner`]).
    pub(super) dropped: Arc<AtomicU64>,
}

/// What a poll token stands for.
#[derive(Clone)]
pub(super) enum Route {
    Udp(SocketAddr),
    Stream(ConnKey),
}

/// The token of the waker that commands use.
pub(super) const WAKER: Token = Token(0);

/// Probes per timer tick the runner aims for (see `Io::wait`).
const BURST: u64 = 16;

/// The probe id from a response's Via branch, if it is one of ours.
pub(super) fn probe_of(bytes: &[u8]) -> Option<(u64, u16)> {
    let m = sip::parse(bytes).ok()?;
    let code = m.status()?;
    Some((crate::core::keepalive::probe_of_branch(m.branch()?)?, code))
}

impl Io {
    pub(super) fn new(
        poll: Poll,
        cfg: EngineConfig,
        seed: u64,
        user_agent: String,
        tls: Result<Arc<ClientConfig>, String>,
        resolver: Resolver,
        on_output: OutputCallback,
    ) -> Io {
        let epoch = Instant::now();
        Io {
            poll,
            engine: Engine::new(cfg, 0, seed),
            epoch,
            user_agent,
            on_output,
            next_token: 1,
            udp: HashMap::new(),
            streams: HashMap::new(),
            by_token: HashMap::new(),
            tls,
            inflight: HashMap::new(),
            retransmit: BinaryHeap::new(),
            dns: DnsCache::new(resolver),
            buf: vec![0u8; 65_536],
            swept: epoch,
            tick_ms: 20,
            again: Vec::new(),
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    pub(super) fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    pub(super) fn run(&mut self, rx: &mpsc::Receiver<Command>) {
        let mut events = Events::with_capacity(256);
        loop {
            let now = self.now_ms();
            self.engine.handle_timeout(now);
            self.drain();
            self.retransmit_due();
            self.sweep();
            let wait = if self.again.is_empty() {
                self.wait()
            } else {
                Duration::ZERO
            };
            if let Err(e) = self.poll.poll(&mut events, Some(wait)) {
                if e.kind() != ErrorKind::Interrupted {
                    tracing::error!("runner poll failed: {e}");
                    return;
                }
            }
            for ev in events.iter() {
                match ev.token() {
                    WAKER => {}
                    t => self.ready(t, ev.is_readable(), ev.is_writable(), ev.is_error()),
                }
            }
            for t in std::mem::take(&mut self.again) {
                self.ready(t, true, false, false);
            }
            while let Ok(cmd) = rx.try_recv() {
                if !self.command(cmd) {
                    return;
                }
            }
        }
    }

    /// How long to sleep: until the engine's next deadline or the next
    /// retransmission, at most one second.
    ///
    /// Deadlines are rounded up to the next tick: timers due within one
    /// tick fire together, so a thousand trunks cost a few dozen wake-ups a
    /// second, not one per probe. The tick is sized so that a tick holds
    /// about `BURST` probes at the current rate (1 to 20 ms): at 20,000
    /// probes a second bursts stay small enough for the registrar's
    /// socket buffer. A keep-alive sent one tick late changes nothing;
    /// RTTs are measured from the send.
    fn wait(&mut self) -> Duration {
        let now = self.now_ms();
        let step = self.tick_ms;
        let tick = |t: u64| t.div_ceil(step) * step;
        let mut until = now + 1000;
        if let Some(t) = self.engine.poll_timeout() {
            until = until.min(tick(t.max(now)));
        }
        let mut d = Duration::from_millis(until.saturating_sub(now));
        // Retransmissions of probes answered since are not worth a wake-up.
        while let Some(Reverse((_, id))) = self.retransmit.peek() {
            if self.inflight.contains_key(id) {
                break;
            }
            self.retransmit.pop();
        }
        if let Some(Reverse((at, _))) = self.retransmit.peek() {
            d = d.min(at.saturating_duration_since(Instant::now()));
        }
        d
    }

    fn command(&mut self, cmd: Command) -> bool {
        let now = self.now_ms();
        match cmd {
            Command::Add(cfg, reply) => {
                let r = self
                    .engine
                    .add_trunk(now, *cfg)
                    .map(|_| ())
                    .map_err(|e| RunnerError::Engine(e.to_string()));
                let _ = reply.send(r);
                self.drain();
            }
            Command::Remove(name, reply) => {
                let r = match self.engine.find_trunk(&name) {
                    Some(id) => self
                        .engine
                        .remove_trunk(now, id)
                        .map_err(|e| RunnerError::Engine(e.to_string())),
                    None => Err(RunnerError::Engine(format!("no trunk named `{name}`"))),
                };
                let _ = reply.send(r);
                self.drain();
            }
            Command::Snapshot(name, reply) => {
                let s = self.engine.find_trunk(&name).and_then(|id| {
                    Some((
                        self.engine.snapshot(id).ok()?,
                        self.engine.diagnose(id).ok()?,
                    ))
                });
                let _ = reply.send(s);
            }
            Command::Stop => return false,
        }
        // Probes per second ≈ trunks / interval: size the tick for BURST.
        let trunks = self.engine.trunk_count() as u64;
        let interval = self.engine.config().keepalive.interval_ms;
        self.tick_ms = (BURST * interval / trunks.max(1)).clamp(1, 20);
        true
    }

    /// Hands outputs to the host; sends transmits.
    pub(super) fn drain(&mut self) {
        while let Some(o) = self.engine.poll_output() {
            match o {
                Output::Transmit(p) => self.send_probe(p),
                other => (self.on_output)(&self.engine, &other),
            }
        }
    }

    pub(super) fn failed(
        &mut self,
        trunk: crate::core::TrunkId,
        id: u64,
        kind: TransportErrorKind,
    ) {
        self.result(trunk, id, ProbeResult::TransportError { kind }, None);
    }

    pub(super) fn result(
        &mut self,
        trunk: crate::core::TrunkId,
        id: u64,
        r: ProbeResult,
        rtt: Option<Duration>,
    ) {
        let now = self.now_ms();
        let rtt_us = rtt.map(|d| d.as_micros() as u64);
        let _ = self.engine.handle_probe_result(now, trunk, id, r, rtt_us);
    }

    pub(super) fn token(&mut self) -> Token {
        self.next_token += 1;
        Token(self.next_token)
    }

    pub(super) fn send_probe(&mut self, p: Probe) {
        let addr = match self.dns.resolve(&p) {
            Ok(a) => a,
            Err(e) => {
                let now = self.now_ms();
                let _ = self.engine.handle_probe_error(
                    now,
                    p.trunk,
                    p.id,
                    TransportErrorKind::Dns,
                    Some(&e),
                );
                return;
            }
        };
        let deadline =
            Instant::now() + Duration::from_millis(p.deadline_ms.saturating_sub(p.at_ms));
        match p.transport {
            Transport::Udp => self.send_udp(p, addr, deadline),
            Transport::Tcp | Transport::Tls => self.send_stream(p, addr, deadline),
        }
    }

    pub(super) fn request(&self, p: &Probe, local: &str) -> Vec<u8> {
        p.request(local, &self.user_agent).into_bytes()
    }

    /// Forgets probes past their deadline (the engine has counted them
    /// as timeouts already), at most once a second.
    fn sweep(&mut self) {
        let now = Instant::now();
        if now.duration_since(self.swept) < Duration::from_secs(1) {
            return;
        }
        self.swept = now;
        self.inflight.retain(|_, f| f.deadline > now);
        let inflight = &self.inflight;
        for c in self.streams.values_mut() {
            c.probes.retain(|id| inflight.contains_key(id));
        }
    }

    /// A response read from a socket: if it answers a probe in flight,
    /// the whole message goes to the engine (a credential query's answer
    /// carries the challenge and the bindings, not only a code).
    pub(super) fn answer(&mut self, bytes: &[u8]) {
        let Ok(m) = sip::parse(bytes) else {
            return;
        };
        let (Some(code), Some(id)) = (
            m.status(),
            m.branch().and_then(crate::core::keepalive::probe_of_branch),
        ) else {
            return;
        };
        if !(200..=699).contains(&code) {
            return;
        }
        if let Some(f) = self.inflight.remove(&id) {
            let rtt_us = f.sent.elapsed().as_micros() as u64;
            let now = self.now_ms();
            let _ = self
                .engine
                .handle_probe_response(now, f.trunk, id, &m, Some(rtt_us));
            self.drain();
        }
    }

    fn ready(&mut self, token: Token, readable: bool, writable: bool, error: bool) {
        let Some(route) = self.by_token.get(&token).cloned() else {
            return;
        };
        match route {
            Route::Udp(addr) => self.udp_ready(token, addr),
            Route::Stream(key) => self.stream_ready(token, key, readable, writable, error),
        }
    }
}
