//! The runner: one thread that owns an [`Engine`] with keep-alives on, its
//! sockets and its clock, sends the engine's OPTIONS probes, feeds the
//! answers back, and hands every other output (state changes, alerts,
//! "re-register now") to the host's callback on that thread.
//!
//! Sockets: one connected UDP socket per registrar address (so ICMP port
//! unreachable comes back as "connection refused"), UDP retransmissions on
//! RFC 3261's Timer E schedule until the engine's deadline; one TCP
//! connection per registrar address, framed by Content-Length, RFC 5626
//! CRLF pings answered. Names resolve through the system resolver and are
//! cached for five minutes. TLS probes are not in this build: a trunk
//! registering over TLS is refused by [`Runner::add_trunk`], and the TLS
//! alternate probe after a UDP failure reports "unreachable".
use crate::core::{
    Diagnosis, Engine, EngineConfig, Output, Probe, ProbeResult, TransportErrorKind, TrunkConfig,
    TrunkSnapshot,
};
use crate::sip::build::{self, RequestContext};
use crate::sip::{self, Frame, StreamFramer};
use crate::validate::Transport;
use mio::net::{TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Token, Waker};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
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
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            engine: EngineConfig::default(),
            seed: 0x7265_6777_6174_6368,
            user_agent: format!("regwatch/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// Why a runner call failed.
#[derive(Debug, PartialEq, Eq)]
pub enum RunnerError {
    /// The engine refused (duplicate name, no such trunk...).
    Engine(String),
    /// The trunk needs something this build cannot do.
    Unsupported(&'static str),
    /// The runner thread is gone.
    Stopped,
}

impl std::fmt::Display for RunnerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunnerError::Engine(e) => f.write_str(e),
            RunnerError::Unsupported(w) => f.write_str(w),
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
                let mut io = Io::new(poll, engine_cfg, cfg.seed, cfg.user_agent, on_output);
                io.run(&rx);
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
        if cfg.transport == Some(Transport::Tls) {
            return Err(RunnerError::Unsupported(
                "keep-alives over TLS are not in this build",
            ));
        }
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
    tcp: HashMap<SocketAddr, Conn>,
    by_token: HashMap<Token, (Transport, SocketAddr)>,
    inflight: HashMap<u64, Inflight>,
    retransmit: BinaryHeap<Reverse<(Instant, u64)>>,
    dns: HashMap<(String, u16), (Result<SocketAddr, String>, Instant)>,
    buf: Vec<u8>,
    swept: Instant,
}

const DNS_TTL: Duration = Duration::from_secs(300);
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);

fn branch_of(id: u64) -> String {
    format!("-rwka-{id:x}")
}

/// The probe id from a response's Via branch, if it is one of ours.
fn probe_of(bytes: &[u8]) -> Option<(u64, u16)> {
    let m = sip::parse(bytes).ok()?;
    let code = m.status()?;
    let hex = m.branch()?.strip_prefix("z9hG4bK-rwka-")?;
    Some((u64::from_str_radix(hex, 16).ok()?, code))
}

impl Io {
    fn new(
        poll: Poll,
        cfg: EngineConfig,
        seed: u64,
        user_agent: String,
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
            tcp: HashMap::new(),
            by_token: HashMap::new(),
            inflight: HashMap::new(),
            retransmit: BinaryHeap::new(),
            dns: HashMap::new(),
            buf: vec![0u8; 65_536],
            swept: epoch,
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
    fn wait(&self) -> Duration {
        let now = self.now_ms();
        let mut d = Duration::from_secs(1);
        if let Some(t) = self.engine.poll_timeout() {
            d = d.min(Duration::from_millis(t.saturating_sub(now)));
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

    fn resolve(&mut self, host: &str, port: u16) -> Result<SocketAddr, String> {
        let key = (host.to_owned(), port);
        if let Some((r, at)) = self.dns.get(&key) {
            if at.elapsed() < DNS_TTL {
                return r.clone();
            }
        }
        let r = match (host, port).to_socket_addrs() {
            Ok(mut a) => a.next().ok_or_else(|| format!("{host} has no address")),
            Err(e) => Err(format!("{host}: {e}")),
        };
        self.dns.insert(key, (r.clone(), Instant::now()));
        r
    }

    fn token(&mut self) -> Token {
        self.next_token += 1;
        Token(self.next_token)
    }

    fn send_probe(&mut self, p: Probe) {
        let addr = match self.resolve(&p.target.host, p.port) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(trunk = %p.target.name, "keep-alive: {e}");
                self.result(
                    p.trunk,
                    p.id,
                    ProbeResult::TransportError {
                        kind: TransportErrorKind::Dns,
                    },
                    None,
                );
                return;
            }
        };
        let deadline =
            Instant::now() + Duration::from_millis(p.deadline_ms.saturating_sub(p.at_ms));
        match p.transport {
            Transport::Udp => self.send_udp(p, addr, deadline),
            Transport::Tcp => self.send_tcp(p, addr, deadline),
            Transport::Tls => self.result(
                p.trunk,
                p.id,
                ProbeResult::TransportError {
                    kind: TransportErrorKind::Unreachable,
                },
                None,
            ),
        }
    }

    fn request(&self, p: &Probe, transport: Transport, local: &str) -> Vec<u8> {
        let id = format!("{:x}", p.id);
        build::options(&RequestContext {
            domain: &p.target.domain,
            user: &p.target.username,
            transport,
            local,
            call_id: &format!("rwka-{id}"),
            from_tag: &id,
            branch: &branch_of(p.id),
            cseq: 1,
            user_agent: &self.user_agent,
        })
        .into_bytes()
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
                    self.result(
                        p.trunk,
                        p.id,
                        ProbeResult::TransportError {
                            kind: TransportErrorKind::Unreachable,
                        },
                        None,
                    );
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
            self.by_token.insert(token, (Transport::Udp, addr));
            self.udp.insert(addr, (token, sock));
        }
        let Some((_, sock)) = self.udp.get(&addr) else {
            return;
        };
        let local = sock
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| "0.0.0.0:0".to_owned());
        let request = self.request(&p, Transport::Udp, &local);
        let sent = Instant::now();
        match sock.send(&request) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                self.result(
                    p.trunk,
                    p.id,
                    ProbeResult::TransportError {
                        kind: TransportErrorKind::Refused,
                    },
                    None,
                );
                return;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => {
                self.result(
                    p.trunk,
                    p.id,
                    ProbeResult::TransportError {
                        kind: TransportErrorKind::Unreachable,
                    },
                    None,
                );
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
        for c in self.tcp.values_mut() {
            c.probes.retain(|id| inflight.contains_key(id));
        }
    }

    fn send_tcp(&mut self, p: Probe, addr: SocketAddr, deadline: Instant) {
        if !self.tcp.contains_key(&addr) {
            let mut stream = match TcpStream::connect(addr) {
                Ok(s) => s,
                Err(e) => {
                    let kind = if e.kind() == ErrorKind::ConnectionRefused {
                        TransportErrorKind::Refused
                    } else {
                        TransportErrorKind::Unreachable
                    };
                    self.result(p.trunk, p.id, ProbeResult::TransportError { kind }, None);
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
            self.by_token.insert(token, (Transport::Tcp, addr));
            self.tcp.insert(
                addr,
                Conn {
                    stream,
                    token,
                    framer: StreamFramer::new(),
                    out: Vec::new(),
                    probes: Vec::new(),
                },
            );
        }
        let local = self
            .tcp
            .get(&addr)
            .and_then(|c| c.stream.local_addr().ok())
            .map(|a| a.to_string())
            .unwrap_or_else(|| "0.0.0.0:0".to_owned());
        let request = self.request(&p, Transport::Tcp, &local);
        let Some(c) = self.tcp.get_mut(&addr) else {
            return;
        };
        c.out.extend_from_slice(&request);
        c.probes.push(p.id);
        self.inflight.insert(
            p.id,
            Inflight {
                trunk: p.trunk,
                addr,
                transport: Transport::Tcp,
                sent: Instant::now(),
                deadline,
                request: Vec::new(),
                interval: T1,
            },
        );
        self.flush(addr);
    }

    /// Writes what is queued on a connection; a failure fails its probes.
    fn flush(&mut self, addr: SocketAddr) {
        let Some(c) = self.tcp.get_mut(&addr) else {
            return;
        };
        while !c.out.is_empty() {
            match c.stream.write(&c.out) {
                Ok(0) => break,
                Ok(n) => {
                    c.out.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                // Not connected yet: wait for writable.
                Err(e) if e.kind() == ErrorKind::NotConnected => return,
                Err(e) => {
                    self.close_tcp(addr, &e);
                    return;
                }
            }
        }
    }

    fn close_tcp(&mut self, addr: SocketAddr, e: &std::io::Error) {
        let Some(mut c) = self.tcp.remove(&addr) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut c.stream);
        self.by_token.remove(&c.token);
        let kind = match e.kind() {
            ErrorKind::ConnectionRefused => TransportErrorKind::Refused,
            _ => TransportErrorKind::Unreachable,
        };
        for id in c.probes {
            if let Some(f) = self.inflight.remove(&id) {
                self.result(f.trunk, id, ProbeResult::TransportError { kind }, None);
            }
        }
        self.drain();
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
        let Some(&(transport, addr)) = self.by_token.get(&token) else {
            return;
        };
        match transport {
            Transport::Udp => loop {
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
                                self.result(
                                    f.trunk,
                                    id,
                                    ProbeResult::TransportError {
                                        kind: TransportErrorKind::Refused,
                                    },
                                    None,
                                );
                            }
                        }
                        self.drain();
                    }
                    Err(_) => return,
                }
            },
            Transport::Tcp => {
                if error {
                    let e = self
                        .tcp
                        .get(&addr)
                        .and_then(|c| c.stream.take_error().ok().flatten())
                        .unwrap_or_else(|| std::io::Error::from(ErrorKind::ConnectionRefused));
                    self.close_tcp(addr, &e);
                    return;
                }
                if writable {
                    self.flush(addr);
                }
                if readable {
                    loop {
                        let Some(c) = self.tcp.get_mut(&addr) else {
                            return;
                        };
                        match c.stream.read(&mut self.buf) {
                            Ok(0) => {
                                self.close_tcp(
                                    addr,
                                    &std::io::Error::from(ErrorKind::ConnectionReset),
                                );
                                return;
                            }
                            Ok(n) => c.framer.push(&self.buf[..n]),
                            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                            Err(e) => {
                                self.close_tcp(addr, &e);
                                return;
                            }
                        }
                    }
                    let mut frames = Vec::new();
                    if let Some(c) = self.tcp.get_mut(&addr) {
                        while let Ok(Some(f)) = c.framer.next_frame() {
                            frames.push(f);
                        }
                    }
                    for f in frames {
                        match f {
                            Frame::Message(m) => {
                                if let Some((id, _)) = probe_of(&m) {
                                    if let Some(c) = self.tcp.get_mut(&addr) {
                                        c.probes.retain(|p| *p != id);
                                    }
                                }
                                self.answer(&m);
                            }
                            Frame::KeepAlive => {
                                if let Some(c) = self.tcp.get_mut(&addr) {
                                    c.out.extend_from_slice(b"\r\n");
                                }
                                self.flush(addr);
                            }
                        }
                    }
                }
            }
            Transport::Tls => {}
        }
    }
}
