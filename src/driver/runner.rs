//! The runner: one thread that owns an [`Engine`] with keep-alives on, its
//! sockets and its clock, sends the engine's OPTIONS probes, feeds the
//! answers back, and hands every other output (state changes, alerts,
//! "re-register now") to the host's callback on that thread.
//!
//! Sockets: one connected UDP socket per registrar address (so ICMP port
//! unreachable comes back as "connection refused"), UDP retransmissions on
//! RFC 3261's Timer E schedule until the engine's deadline; one TCP
//! connection per registrar address, framed by Content-Length, RFC 5626
//! CRLF pings answered; TLS on the same connections (rustls), the
//! certificate checked against the SIP domain. Names resolve through the
//! system resolver and are cached for five minutes.
//!
//! Bounded whatever a peer does: a stream is framed as it is read, at
//! most [`READ_BUDGET`] bytes per connection (and [`UDP_BUDGET`]
//! datagrams per socket) per wake-up, the rest read on the next turn of
//! the loop, so one connection cannot stall the others, the commands or
//! the timers. A connection holds at most 64 KiB unframed and
//! [`MAX_UNSENT`] unsent. A peer past a limit, or sending what does not
//! parse as SIP, loses its connection: counted
//! ([`Runner::connections_dropped`]), logged, and its probes fail with
//! [`TransportErrorKind::Protocol`] and the words for the diagnosis ("the
//! peer sent N bytes without a complete SIP message").
use crate::core::{
    Diagnosis, Engine, EngineConfig, Output, Probe, ProbePurpose, ProbeResult, TransportErrorKind,
    TrunkConfig, TrunkSnapshot,
};
use crate::sip::timer::TimerE;
use crate::sip::{self, Frame, StreamFramer};
use crate::validate::Transport;
use mio::net::{TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Token, Waker};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the host's callback receives, on the runner thread. The engine is
/// there to read (diagnoses, snapshots), not to drive.
pub type OutputCallback = Box<dyn FnMut(&Engine, &Output) + Send + 'static>;

/// How a runner runs.
#[derive(Clone, Debug)]
pub struct RunnerConfig {
    /// The engine's policy; keep-alives are turned on whatever it says.
    pub engine: EngineConfig,
    /// The jitter seed.
    pub seed: u64,
    /// The User-Agent of the probes.
    pub user_agent: String,
    /// CA certificates (PEM) to trust for TLS instead of the system's
    /// store.
    pub ca_file: Option<std::path::PathBuf>,
    /// The DNS server to ask (SRV, NAPTR, A/AAAA); none: the system's
    /// (`/etc/resolv.conf`).
    pub nameserver: Option<SocketAddr>,
    /// Where the runner thread's logs go (its default subscriber); none:
    /// the process's global one, if any. With a dispatcher here, a panic in
    /// the runner thread (a bug) is logged there at ERROR level instead of
    /// reaching the process's panic hook (stderr), and the thread stops;
    /// without, it reaches the hook as any thread's panic would.
    pub logs: Option<tracing::Dispatch>,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            engine: EngineConfig::default(),
            seed: 0x7265_6777_6174_6368,
            user_agent: format!("regwatch/{}", env!("CARGO_PKG_VERSION")),
            ca_file: None,
            nameserver: None,
            logs: None,
        }
    }
}

/// Why a runner call failed.
#[derive(Debug, PartialEq, Eq)]
pub enum RunnerError {
    /// The engine refused (duplicate name, no such trunk...).
    Engine(String),
    /// The runner thread is gone.
    Stopped,
}

impl std::fmt::Display for RunnerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunnerError::Engine(e) => f.write_str(e),
            RunnerError::Stopped => f.write_str("the runner has stopped"),
        }
    }
}

impl std::error::Error for RunnerError {}

enum Command {
    Add(TrunkConfig, mpsc::Sender<Result<(), RunnerError>>),
    Remove(String, mpsc::Sender<Result<(), RunnerError>>),
    Snapshot(String, mpsc::Sender<Option<(TrunkSnapshot, Diagnosis)>>),
    Stop,
}

/// A running keep-alive monitor. Dropping it stops the thread and closes
/// every socket.
pub struct Runner {
    tx: mpsc::Sender<Command>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
    dropped: Arc<AtomicU64>,
}

const WAKER: Token = Token(0);

impl Runner {
    /// Starts the runner thread. A `ca_file` that cannot be used (missing,
    /// unreadable, not a regular file, no certificate in it) is an
    /// [`ErrorKind::InvalidInput`] error naming it.
    pub fn start(cfg: RunnerConfig, on_output: OutputCallback) -> std::io::Result<Runner> {
        // A CA file is read now, so that a mistake in it is the caller's
        // error, not a TLS failure of every trunk later.
        let ca = match cfg.ca_file.as_deref() {
            Some(path) => Some(
                super::exchange::tls_config(Some(path))
                    .map_err(|e| std::io::Error::new(ErrorKind::InvalidInput, e))?,
            ),
            None => None,
        };
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (tx, rx) = mpsc::channel();
        let dropped = Arc::new(AtomicU64::new(0));
        let counter = dropped.clone();
        let mut engine_cfg = cfg.engine.clone();
        engine_cfg.keepalive.enabled = true;
        let thread = std::thread::Builder::new()
            .name("regwatch-runner".to_owned())
            .spawn(move || {
                let logs = cfg.logs.clone();
                let _logs = logs.as_ref().map(tracing::dispatcher::set_default);
                let run = || run_thread(cfg, engine_cfg, ca, counter, poll, on_output, &rx);
                if logs.is_none() {
                    return run();
                }
                if let Err(panic) = crate::quiet_panic::catch(run) {
                    tracing::error!(
                        "internal error, the runner thread has stopped: panicked: {panic}"
                    );
                }
            })?;
        Ok(Runner {
            tx,
            waker,
            thread: Some(thread),
            dropped,
        })
    }

    /// Stream connections dropped because the peer broke a limit or sent
    /// what is not SIP, since the start.
    pub fn connections_dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn call<T>(&self, make: impl FnOnce(mpsc::Sender<T>) -> Command) -> Result<T, RunnerError> {
        let (tx, rx) = mpsc::channel();
        self.tx.send(make(tx)).map_err(|_| RunnerError::Stopped)?;
        self.waker.wake().map_err(|_| RunnerError::Stopped)?;
        rx.recv().map_err(|_| RunnerError::Stopped)
    }

    /// Adds a trunk to monitor (probes start within one interval).
    pub fn add_trunk(&self, cfg: TrunkConfig) -> Result<(), RunnerError> {
        self.call(|tx| Command::Add(cfg, tx))?
    }

    /// Stops monitoring a trunk.
    pub fn remove_trunk(&self, name: &str) -> Result<(), RunnerError> {
        self.call(|tx| Command::Remove(name.to_owned(), tx))?
    }

    /// The trunk's snapshot and diagnosis now.
    pub fn snapshot(&self, name: &str) -> Result<Option<(TrunkSnapshot, Diagnosis)>, RunnerError> {
        self.call(|tx| Command::Snapshot(name.to_owned(), tx))
    }

    /// Stops the thread and waits for it; every socket is closed.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.tx.send(Command::Stop);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The runner thread's body: its TLS configuration, resolver and loop.
fn run_thread(
    cfg: RunnerConfig,
    engine_cfg: EngineConfig,
    ca: Option<Arc<ClientConfig>>,
    dropped: Arc<AtomicU64>,
    poll: Poll,
    on_output: OutputCallback,
    rx: &mpsc::Receiver<Command>,
) {
    let tls = match ca {
        Some(c) => Ok(c),
        None => super::exchange::tls_config(None),
    };
    if let Err(e) = &tls {
        tracing::warn!("TLS configuration: {e}");
    }
    let resolver = match cfg.nameserver {
        Some(ns) => super::dns::Resolver::with_nameserver(ns),
        None => super::dns::Resolver::system(),
    };
    let mut io = Io::new(
        poll,
        engine_cfg,
        cfg.seed,
        cfg.user_agent,
        tls,
        resolver,
        on_output,
    );
    io.dropped = dropped;
    io.run(rx);
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct Inflight {
    trunk: crate::core::TrunkId,
    addr: SocketAddr,
    transport: Transport,
    sent: Instant,
    deadline: Instant,
    request: Vec<u8>,
    /// Where a UDP request is in its retransmission schedule.
    timer_e: TimerE,
}

struct Conn {
    stream: TcpStream,
    token: Token,
    tls: Option<ClientConnection>,
    framer: StreamFramer,
    out: Vec<u8>,
    probes: Vec<u64>,
}

struct Io {
    poll: Poll,
    engine: Engine,
    epoch: Instant,
    user_agent: String,
    on_output: OutputCallback,
    next_token: usize,
    udp: HashMap<SocketAddr, (Token, UdpSocket)>,
    streams: HashMap<ConnKey, Conn>,
    by_token: HashMap<Token, Route>,
    tls: Result<Arc<ClientConfig>, String>,
    inflight: HashMap<u64, Inflight>,
    retransmit: BinaryHeap<Reverse<(Instant, u64)>>,
    dns: HashMap<DnsKey, (Result<SocketAddr, String>, Instant)>,
    resolver: super::dns::Resolver,
    buf: Vec<u8>,
    swept: Instant,
    /// Timer resolution in milliseconds, from the probe rate.
    tick_ms: u64,
    /// Sockets that had more to read when their budget ran out: read
    /// again on the next turn of the loop (mio is edge-triggered).
    again: Vec<Token>,
    /// Connections dropped for breaking a limit (shared with [`Runner`]).
    dropped: Arc<AtomicU64>,
}

/// Bytes read from one stream connection per wake-up.
pub const READ_BUDGET: usize = 64 * 1024;
/// Datagrams read from one UDP socket per wake-up.
pub const UDP_BUDGET: usize = 64;
/// Bytes queued for a stream connection that the peer does not read,
/// past which the connection is dropped.
pub const MAX_UNSENT: usize = 64 * 1024;
/// One socket read.
const CHUNK: usize = 16 * 1024;

/// What one wake-up read from a stream connection.
struct StreamRead {
    /// Complete SIP messages.
    messages: Vec<Vec<u8>>,
    /// Why the connection must close (after the messages are handled),
    /// with the words for the diagnosis when there are some.
    error: Option<(TransportErrorKind, Option<String>)>,
    /// The budget ran out before the socket was drained.
    more: bool,
}

/// A cached lookup: host, port (0 for an SRV lookup), transport.
type DnsKey = (String, u16, Transport);

/// Probes per timer tick the runner aims for (see `Io::wait`).
const BURST: u64 = 16;

const DNS_TTL: Duration = Duration::from_secs(300);

/// The probe id from a response's Via branch, if it is one of ours.
fn probe_of(bytes: &[u8]) -> Option<(u64, u16)> {
    let m = sip::parse(bytes).ok()?;
    let code = m.status()?;
    Some((crate::core::keepalive::probe_of_branch(m.branch()?)?, code))
}

impl Io {
    fn new(
        poll: Poll,
        cfg: EngineConfig,
        seed: u64,
        user_agent: String,
        tls: Result<Arc<ClientConfig>, String>,
        resolver: super::dns::Resolver,
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
            dns: HashMap::new(),
            resolver,
            buf: vec![0u8; 65_536],
            swept: epoch,
            tick_ms: 20,
            again: Vec::new(),
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn run(&mut self, rx: &mpsc::Receiver<Command>) {
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
                    .add_trunk(now, cfg)
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
    fn drain(&mut self) {
        while let Some(o) = self.engine.poll_output() {
            match o {
                Output::Transmit(p) => self.send_probe(p),
                other => (self.on_output)(&self.engine, &other),
            }
        }
    }

    fn failed(&mut self, trunk: crate::core::TrunkId, id: u64, kind: TransportErrorKind) {
        self.result(trunk, id, ProbeResult::TransportError { kind }, None);
    }

    fn result(
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

    /// Where a probe goes: SRV (RFC 3263) when its trunk has no port
    /// configured, else A/AAAA. Cached for five minutes; a cache miss
    /// blocks this thread for the lookup. The error is the name that did
    /// not resolve.
    fn resolve(&mut self, p: &Probe) -> Result<SocketAddr, String> {
        let srv = p.target.srv && p.purpose != ProbePurpose::Alternate;
        let key = (
            p.target.host.clone(),
            if srv { 0 } else { p.port },
            p.transport,
        );
        if let Some((r, at)) = self.dns.get(&key) {
            if at.elapsed() < DNS_TTL {
                return r.clone();
            }
        }
        let r = if srv {
            self.resolver
                .locate(&p.target.host, Some(p.transport), None)
                .map_err(|e| {
                    tracing::warn!(trunk = %p.target.name, "keep-alive: {e}");
                    e.name
                })
                .and_then(|l| {
                    l.into_iter()
                        .find(|l| l.transport == p.transport)
                        .map(|l| l.addr)
                        .ok_or_else(|| p.target.host.clone())
                })
        } else {
            self.resolver
                .addresses(&p.target.host, p.port)
                .map_err(|e| {
                    tracing::warn!(trunk = %p.target.name, "keep-alive: {e}");
                    e.name
                })
                .map(|a| a[0])
        };
        self.dns.insert(key, (r.clone(), Instant::now()));
        r
    }

    fn token(&mut self) -> Token {
        self.next_token += 1;
        Token(self.next_token)
    }

    fn send_probe(&mut self, p: Probe) {
        let addr = match self.resolve(&p) {
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

    fn request(&self, p: &Probe, local: &str) -> Vec<u8> {
        p.request(local, &self.user_agent).into_bytes()
    }

    fn send_udp(&mut self, p: Probe, addr: SocketAddr, deadline: Instant) {
        if !self.udp.contains_key(&addr) {
            let bind: SocketAddr = if addr.is_ipv4() {
                SocketAddr::from(([0, 0, 0, 0], 0))
            } else {
                SocketAddr::from(([0u16; 8], 0))
            };
            let sock = match UdpSocket::bind(bind).and_then(|s| s.connect(addr).map(|_| s)) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("keep-alive: UDP socket to {addr}: {e}");
                    self.failed(p.trunk, p.id, TransportErrorKind::Unreachable);
                    return;
                }
            };
            let token = self.token();
            let mut sock = sock;
            if self
                .poll
                .registry()
                .register(&mut sock, token, Interest::READABLE)
                .is_err()
            {
                return;
            }
            self.by_token.insert(token, Route::Udp(addr));
            self.udp.insert(addr, (token, sock));
        }
        let Some((_, sock)) = self.udp.get(&addr) else {
            return;
        };
        let local = sock
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| "0.0.0.0:0".to_owned());
        let request = self.request(&p, &local);
        let sent = Instant::now();
        match sock.send(&request) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                self.failed(p.trunk, p.id, TransportErrorKind::Refused);
                return;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => {
                self.failed(p.trunk, p.id, TransportErrorKind::Unreachable);
                return;
            }
        }
        let mut timer_e = TimerE::new();
        self.retransmit
            .push(Reverse((sent + timer_e.after_send(), p.id)));
        self.inflight.insert(
            p.id,
            Inflight {
                trunk: p.trunk,
                addr,
                transport: Transport::Udp,
                sent,
                deadline,
                request,
                timer_e,
            },
        );
    }

    fn retransmit_due(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((at, id))) = self.retransmit.peek().copied() {
            if at > now {
                break;
            }
            self.retransmit.pop();
            let Some(f) = self.inflight.get_mut(&id) else {
                continue;
            };
            if now >= f.deadline {
                // The engine's own deadline times it out.
                self.inflight.remove(&id);
                continue;
            }
            if let Some((_, sock)) = self.udp.get(&f.addr) {
                let _ = sock.send(&f.request);
            }
            self.retransmit
                .push(Reverse((now + f.timer_e.after_send(), id)));
        }
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

    /// Queues a probe on the stream connection (TCP, or TLS to `tls_name`)
    /// to `addr`, opening it first if needed.
    fn send_stream(&mut self, p: Probe, addr: SocketAddr, deadline: Instant) {
        let transport = p.transport;
        let key: ConnKey = (
            addr,
            (transport == Transport::Tls).then(|| p.target.domain.clone()),
        );
        if !self.streams.contains_key(&key) {
            let tls = match &key.1 {
                None => None,
                Some(name) => {
                    let made = match &self.tls {
                        Ok(cfg) => ServerName::try_from(name.clone())
                            .map_err(|e| e.to_string())
                            .and_then(|n| {
                                ClientConnection::new(cfg.clone(), n).map_err(|e| e.to_string())
                            }),
                        Err(e) => Err(e.clone()),
                    };
                    match made {
                        Ok(c) => Some(c),
                        Err(e) => {
                            tracing::warn!(trunk = %p.target.name, "keep-alive TLS: {e}");
                            let kind = TransportErrorKind::Tls;
                            self.failed(p.trunk, p.id, kind);
                            return;
                        }
                    }
                }
            };
            let mut stream = match TcpStream::connect(addr) {
                Ok(s) => s,
                Err(e) => {
                    let kind = if e.kind() == ErrorKind::ConnectionRefused {
                        TransportErrorKind::Refused
                    } else {
                        TransportErrorKind::Unreachable
                    };
                    self.failed(p.trunk, p.id, kind);
                    return;
                }
            };
            let token = self.token();
            if self
                .poll
                .registry()
                .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                .is_err()
            {
                return;
            }
            self.by_token.insert(token, Route::Stream(key.clone()));
            self.streams.insert(
                key.clone(),
                Conn {
                    stream,
                    token,
                    tls,
                    framer: StreamFramer::new(),
                    out: Vec::new(),
                    probes: Vec::new(),
                },
            );
        }
        let local = self
            .streams
            .get(&key)
            .and_then(|c| c.stream.local_addr().ok())
            .map(|a| a.to_string())
            .unwrap_or_else(|| "0.0.0.0:0".to_owned());
        let request = self.request(&p, &local);
        let Some(c) = self.streams.get_mut(&key) else {
            return;
        };
        c.out.extend_from_slice(&request);
        c.probes.push(p.id);
        self.inflight.insert(
            p.id,
            Inflight {
                trunk: p.trunk,
                addr,
                transport,
                sent: Instant::now(),
                deadline,
                request: Vec::new(),
                timer_e: TimerE::new(),
            },
        );
        self.flush(&key);
        // A peer that reads nothing would have us queue every probe.
        let unsent = self.streams.get(&key).map_or(0, |c| c.out.len());
        if unsent > MAX_UNSENT {
            let detail = format!("the peer has left {unsent} bytes unread");
            self.close_stream_with(&key, TransportErrorKind::Unreachable, Some(detail));
        }
    }

    /// Writes what is queued on a connection (through TLS when it is a TLS
    /// one); a failure fails its probes.
    fn flush(&mut self, key: &ConnKey) {
        let Some(c) = self.streams.get_mut(key) else {
            return;
        };
        let failed = match &mut c.tls {
            None => loop {
                if c.out.is_empty() {
                    break None;
                }
                match c.stream.write(&c.out) {
                    Ok(0) => break None,
                    Ok(n) => {
                        c.out.drain(..n);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break None,
                    // Not connected yet: wait for writable.
                    Err(e) if e.kind() == ErrorKind::NotConnected => break None,
                    Err(e) => break Some(stream_kind(&e)),
                }
            },
            Some(tls) => {
                if !c.out.is_empty() {
                    let _ = tls.writer().write_all(&c.out);
                    c.out.clear();
                }
                loop {
                    if !tls.wants_write() {
                        break None;
                    }
                    match tls.write_tls(&mut c.stream) {
                        Ok(_) => {}
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break None,
                        Err(e) if e.kind() == ErrorKind::NotConnected => break None,
                        Err(e) => break Some(stream_kind(&e)),
                    }
                }
            }
        };
        if let Some(kind) = failed {
            self.close_stream(key, kind);
        }
    }

    fn close_stream(&mut self, key: &ConnKey, kind: TransportErrorKind) {
        self.close_stream_with(key, kind, None);
    }

    /// Closes a connection; its probes fail with `kind`, and `detail` (what
    /// the peer did) when there is one. A detail means the peer broke a
    /// limit: that is counted and logged.
    fn close_stream_with(
        &mut self,
        key: &ConnKey,
        kind: TransportErrorKind,
        detail: Option<String>,
    ) {
        let Some(mut c) = self.streams.remove(key) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut c.stream);
        self.by_token.remove(&c.token);
        if let Some(d) = &detail {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(
                "keep-alive: dropped the connection to {}: {d} ({n} dropped so far)",
                key.0
            );
        }
        for id in c.probes {
            if let Some(f) = self.inflight.remove(&id) {
                let now = self.now_ms();
                let _ = self
                    .engine
                    .handle_probe_error(now, f.trunk, id, kind, detail.as_deref());
            }
        }
        self.drain();
    }

    /// Reads what the connection has, up to [`READ_BUDGET`], framing as it
    /// reads: the complete messages, a CRLF pong queued for pings, and why
    /// the connection must close if it must.
    fn read_stream(&mut self, key: &ConnKey) -> StreamRead {
        let mut out = StreamRead {
            messages: Vec::new(),
            error: None,
            more: false,
        };
        let Some(c) = self.streams.get_mut(key) else {
            return out;
        };
        let mut pong = false;
        let mut read = 0usize;
        let closed = || Some((TransportErrorKind::Refused, None));
        while out.error.is_none() {
            if read >= READ_BUDGET {
                out.more = true;
                break;
            }
            let chunk = &mut self.buf[..CHUNK];
            let r = match &mut c.tls {
                None => c.stream.read(chunk),
                Some(tls) => tls.read_tls(&mut c.stream),
            };
            match r {
                Ok(0) => out.error = closed(),
                Ok(n) => {
                    read += n;
                    match &mut c.tls {
                        None => c.framer.push(&chunk[..n]),
                        Some(tls) => {
                            if let Err(e) = tls.process_new_packets() {
                                tracing::warn!("keep-alive TLS: {e}");
                                out.error = Some((TransportErrorKind::Tls, None));
                                break;
                            }
                            loop {
                                match tls.reader().read(chunk) {
                                    Ok(0) => {
                                        // close_notify: what came before it
                                        // is framed below.
                                        out.error = closed();
                                        break;
                                    }
                                    Ok(m) => c.framer.push(&chunk[..m]),
                                    Err(_) => break,
                                }
                            }
                        }
                    }
                    // Frame now: the framer never holds more than a
                    // message's worth.
                    loop {
                        match c.framer.next_frame() {
                            Ok(Some(Frame::Message(m))) => {
                                if sip::parse(&m).is_err() {
                                    let detail = super::exchange::unparsable(m.len());
                                    out.error = Some((TransportErrorKind::Protocol, Some(detail)));
                                    break;
                                }
                                out.messages.push(m);
                            }
                            // RFC 5626 §3.5.1: a CRLFCRLF ping gets a CRLF pong.
                            Ok(Some(Frame::KeepAlive)) => pong = true,
                            Ok(None) => break,
                            Err(e) => {
                                let detail = super::exchange::not_sip(e, c.framer.dropped());
                                out.error = Some((TransportErrorKind::Protocol, Some(detail)));
                                break;
                            }
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => out.error = Some((stream_kind(&e), None)),
            }
        }
        // One pong per wake-up, and none while the peer leaves what was
        // sent unread.
        if pong && c.out.is_empty() {
            c.out.extend_from_slice(b"\r\n");
        }
        out
    }

    fn answer(&mut self, bytes: &[u8]) {
        let Some((id, code)) = probe_of(bytes) else {
            return;
        };
        if !(200..=699).contains(&code) {
            return;
        }
        if let Some(f) = self.inflight.remove(&id) {
            let rtt = f.sent.elapsed();
            let _ = f.transport;
            self.result(f.trunk, id, ProbeResult::Response { code }, Some(rtt));
            self.drain();
        }
    }

    fn ready(&mut self, token: Token, readable: bool, writable: bool, error: bool) {
        let Some(route) = self.by_token.get(&token).cloned() else {
            return;
        };
        match route {
            Route::Udp(addr) => {
                for n in 0.. {
                    if n == UDP_BUDGET {
                        // The rest on the next turn: a flood of datagrams
                        // cannot hold the loop.
                        if !self.again.contains(&token) {
                            self.again.push(token);
                        }
                        return;
                    }
                    let Some((_, sock)) = self.udp.get(&addr) else {
                        return;
                    };
                    match sock.recv(&mut self.buf) {
                        Ok(n) => {
                            let bytes = self.buf[..n].to_vec();
                            self.answer(&bytes);
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                        Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                            // ICMP port unreachable: every probe in flight to
                            // this address is refused.
                            let ids: Vec<u64> = self
                                .inflight
                                .iter()
                                .filter(|(_, f)| f.addr == addr && f.transport == Transport::Udp)
                                .map(|(id, _)| *id)
                                .collect();
                            for id in ids {
                                if let Some(f) = self.inflight.remove(&id) {
                                    let kind = TransportErrorKind::Refused;
                                    self.failed(f.trunk, id, kind);
                                }
                            }
                            self.drain();
                        }
                        Err(_) => return,
                    }
                }
            }
            Route::Stream(key) => {
                if error {
                    let kind = self
                        .streams
                        .get(&key)
                        .and_then(|c| c.stream.take_error().ok().flatten())
                        .map_or(TransportErrorKind::Refused, |e| stream_kind(&e));
                    self.close_stream(&key, kind);
                    return;
                }
                if readable {
                    let r = self.read_stream(&key);
                    for m in r.messages {
                        if let Some((id, _)) = probe_of(&m) {
                            if let Some(c) = self.streams.get_mut(&key) {
                                c.probes.retain(|p| *p != id);
                            }
                        }
                        self.answer(&m);
                    }
                    if let Some((kind, detail)) = r.error {
                        self.close_stream_with(&key, kind, detail);
                        return;
                    }
                    if r.more && !self.again.contains(&token) {
                        self.again.push(token);
                    }
                }
                if writable || readable {
                    self.flush(&key);
                }
            }
        }
    }
}

/// A stream connection: the address, and for TLS the name the
/// certificate must carry.
type ConnKey = (SocketAddr, Option<String>);

#[derive(Clone)]
enum Route {
    Udp(SocketAddr),
    Stream(ConnKey),
}

fn stream_kind(e: &std::io::Error) -> TransportErrorKind {
    match e.kind() {
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset => TransportErrorKind::Refused,
        _ => TransportErrorKind::Unreachable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Cause;
    use std::net::TcpListener;

    /// A TCP peer on loopback writing `bytes` to every connection until it
    /// goes away.
    fn flooding_peer(bytes: &'static [u8]) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                std::thread::spawn(
                    move || while std::io::Write::write_all(&mut s, bytes).is_ok() {},
                );
            }
        });
        addr
    }

    fn runner() -> Runner {
        let mut engine = EngineConfig::default();
        for (k, v) in [
            ("keepalive_interval_ms", "1000"),
            ("keepalive_timeout_ms", "2000"),
            ("keepalive_confirm_ms", "200"),
            ("keepalive_alternates", "off"),
        ] {
            engine.set(k, v).unwrap();
        }
        let cfg = RunnerConfig {
            engine,
            ..RunnerConfig::default()
        };
        Runner::start(cfg, Box::new(|_, _| {})).unwrap()
    }

    fn trunk(name: &str, addr: SocketAddr) -> TrunkConfig {
        let mut c = TrunkConfig::new(name);
        for (k, v) in [
            ("domain", "hostile.test"),
            ("username", "alice"),
            ("password", "Hostile-Peers-Test-9"),
            ("transport", "tcp"),
            ("proxy", &addr.to_string()),
        ] {
            c.set(k, v).unwrap();
        }
        c
    }

    /// Waits (at most 20 s) for the trunk's diagnosis to be `cause`.
    fn diagnosis_of(r: &Runner, name: &str, cause: Cause) -> Diagnosis {
        for _ in 0..200 {
            let (_, d) = r.snapshot(name).unwrap().unwrap();
            if d.cause == cause {
                return d;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{name}: no {cause} diagnosis: {:?}", r.snapshot(name));
    }

    #[test]
    fn flooding_peers_lose_their_connection_and_are_named() {
        let r = runner();
        let bytes = flooding_peer(&[b'A'; 16384]);
        let crs = flooding_peer(&[b'\r'; 16384]);
        r.add_trunk(trunk("bytes", bytes)).unwrap();
        r.add_trunk(trunk("crs", crs)).unwrap();
        for name in ["bytes", "crs"] {
            let d = diagnosis_of(&r, name, Cause::ProtocolError);
            assert!(
                d.summary.contains("bytes without a complete SIP message")
                    && d.summary.contains("over TCP is not SIP"),
                "{}",
                d.summary
            );
        }
        assert!(r.connections_dropped() >= 2);
    }
}
