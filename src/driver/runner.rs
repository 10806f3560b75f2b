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
use crate::core::{
    Diagnosis, Engine, EngineConfig, Output, Probe, ProbePurpose, ProbeResult, TransportErrorKind,
    TrunkConfig, TrunkSnapshot,
};
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
}

const WAKER: Token = Token(0);

impl Runner {
    /// Starts the runner thread.
    pub fn start(cfg: RunnerConfig, on_output: OutputCallback) -> std::io::Result<Runner> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (tx, rx) = mpsc::channel();
        let mut engine_cfg = cfg.engine.clone();
        engine_cfg.keepalive.enabled = true;
        let thread = std::thread::Builder::new()
            .name("regwatch-runner".to_owned())
            .spawn(move || {
                let logs = cfg.logs.clone();
                let _logs = logs.as_ref().map(tracing::dispatcher::set_default);
                if logs.is_none() {
                    return run_thread(cfg, engine_cfg, poll, on_output, &rx);
                }
                let run = || run_thread(cfg, engine_cfg, poll, on_output, &rx);
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
        })
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
    poll: Poll,
    on_output: OutputCallback,
    rx: &mpsc::Receiver<Command>,
) {
    let tls = super::exchange::tls_config(cfg.ca_file.as_deref());
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
    interval: Duration,
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
}

/// A cached lookup: host, port (0 for an SRV lookup), transport.
type DnsKey = (String, u16, Transport);

/// Probes per timer tick the runner aims for (see `Io::wait`).
const BURST: u64 = 16;

const DNS_TTL: Duration = Duration::from_secs(300);
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);

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
            let wait = self.wait();
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
        self.retransmit.push(Reverse((sent + T1, p.id)));
        self.inflight.insert(
            p.id,
            Inflight {
                trunk: p.trunk,
                addr,
                transport: Transport::Udp,
                sent,
                deadline,
                request,
                interval: T1,
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
            f.interval = (f.interval * 2).min(T2);
            self.retransmit.push(Reverse((now + f.interval, id)));
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
                interval: T1,
            },
        );
        self.flush(&key);
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
        let Some(mut c) = self.streams.remove(key) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut c.stream);
        self.by_token.remove(&c.token);
        for id in c.probes {
            if let Some(f) = self.inflight.remove(&id) {
                self.failed(f.trunk, id, kind);
            }
        }
        self.drain();
    }

    /// Reads what the connection has; returns the complete messages (and
    /// queues CRLF pongs), or the failure.
    fn read_stream(&mut self, key: &ConnKey) -> Result<Vec<Vec<u8>>, TransportErrorKind> {
        let Some(c) = self.streams.get_mut(key) else {
            return Ok(Vec::new());
        };
        loop {
            let r = match &mut c.tls {
                None => c.stream.read(&mut self.buf),
                Some(tls) => tls.read_tls(&mut c.stream),
            };
            match r {
                Ok(0) => return Err(TransportErrorKind::Refused),
                Ok(n) => match &mut c.tls {
                    None => c.framer.push(&self.buf[..n]),
                    Some(tls) => {
                        if let Err(e) = tls.process_new_packets() {
                            tracing::warn!("keep-alive TLS: {e}");
                            return Err(TransportErrorKind::Tls);
                        }
                        loop {
                            match tls.reader().read(&mut self.buf) {
                                Ok(0) => break,
                                Ok(m) => c.framer.push(&self.buf[..m]),
                                Err(_) => break,
                            }
                        }
                    }
                },
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(stream_kind(&e)),
            }
        }
        let mut messages = Vec::new();
        while let Ok(Some(f)) = c.framer.next_frame() {
            match f {
                Frame::Message(m) => messages.push(m),
                // RFC 5626 §3.5.1: a CRLFCRLF ping gets a CRLF pong.
                Frame::KeepAlive => c.out.extend_from_slice(b"\r\n"),
            }
        }
        Ok(messages)
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
            Route::Udp(addr) => loop {
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
            },
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
                    match self.read_stream(&key) {
                        Ok(messages) => {
                            for m in messages {
                                if let Some((id, _)) = probe_of(&m) {
                                    if let Some(c) = self.streams.get_mut(&key) {
                                        c.probes.retain(|p| *p != id);
                                    }
                                }
                                self.answer(&m);
                            }
                        }
                        Err(kind) => {
                            self.close_stream(&key, kind);
                            return;
                        }
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
