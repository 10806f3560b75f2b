//! The runner: one thread that owns an [`Engine`](crate::core::Engine)
//! with keep-alives on, its sockets and its clock, sends the engine's
//! OPTIONS probes, feeds the answers back, and hands every other output
//! (state changes, alerts, "re-register now") to the host's callback on
//! that thread. The engine decides what to probe, when, and what the
//! answers mean; the runner resolves names, moves bytes (within the
//! limits below) and reads the clock.
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
//! [`TransportErrorKind::Protocol`](crate::core::TransportErrorKind::Protocol)
//! and the words for the diagnosis ("the peer sent N bytes without a
//! complete SIP message").
//!
//! Files: this one is the host's side ([`Runner`], [`RunnerConfig`]);
//! `command.rs` what crosses to the runner thread; `io.rs` the thread's
//! poll loop; `udp.rs` and `stream.rs` (with `conn.rs`, a connection's
//! state) the two kinds of socket; `dns_cache.rs` the name cache.
mod command;
mod conn;
mod dns_cache;
mod io;
mod stream;
#[cfg(test)]
mod tests;
mod udp;

pub use command::{OutputCallback, RunnerError};
pub use conn::{MAX_UNSENT, READ_BUDGET};
pub use udp::UDP_BUDGET;

use crate::core::{Diagnosis, EngineConfig, TrunkConfig, TrunkSnapshot};
use command::Command;
use io::{Io, WAKER};
use mio::{Poll, Waker};
use rustls::ClientConfig;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

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

/// A running keep-alive monitor. Dropping it stops the thread and closes
/// every socket.
pub struct Runner {
    tx: mpsc::Sender<Command>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
    dropped: Arc<AtomicU64>,
}

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
        self.call(|tx| Command::Add(Box::new(cfg), tx))?
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
