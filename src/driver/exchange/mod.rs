//! One request, one final response, over UDP, TCP or TLS, with blocking
//! sockets: what a one-shot probe needs. UDP retransmits on RFC 3261's
//! Timer E schedule ([`crate::sip::timer::TimerE`]: T1 = 500 ms, doubling
//! up to T2 = 4 s); TCP and TLS
//! frame the stream by Content-Length and answer CRLF pings. TLS checks
//! the certificate against the SIP domain (RFC 5922), not the address
//! the packets go to.
//!
//! One deadline covers the whole exchange: TCP connect, TLS handshake,
//! request and response. Every socket read waits at most for what is left
//! of it and reads once, so a peer trickling a byte a second cannot
//! stretch it. What a stream buffers is bounded by the framer (64 KiB);
//! a peer past that, or sending what does not parse as SIP, ends the
//! exchange with [`TransportErrorKind::Protocol`].
use crate::core::TransportErrorKind;
use crate::sip::timer::TimerE;
use crate::sip::{self, Frame, FrameError, StreamFramer, MAX_MESSAGE};
use crate::validate::Transport;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wire::{TlsWire, Wire};

mod wire;

/// A TLS client configuration: the system's trust store, or the CAs of a
/// PEM file (for private registrars). A CA file that cannot be read, is
/// not a regular file or holds no certificate is an error naming it: a
/// configuration mistake, to be reported as one rather than as a TLS
/// failure of the registrar.
pub fn tls_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let bad = |why: String| format!("CA file {}: {why}", path.display());
            match std::fs::metadata(path) {
                Ok(m) if m.is_file() => {}
                Ok(_) => return Err(bad("not a regular file".to_owned())),
                Err(e) => return Err(bad(format!("cannot read it: {e}"))),
            }
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| bad(format!("cannot read it: {e}")))?
                .collect::<Result<_, _>>()
                .map_err(|e| bad(format!("not PEM: {e}")))?;
            if certs.is_empty() {
                return Err(bad("no certificate in it".to_owned()));
            }
            for c in certs {
                roots.add(c).map_err(|e| bad(e.to_string()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                let _ = roots.add(c);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// What TLS needs besides the address: whom the certificate must name,
/// and whom to trust.
#[derive(Clone, Debug)]
pub struct TlsTarget {
    /// The SIP domain the certificate must be valid for.
    pub server_name: String,
    /// The client configuration (see [`tls_config`]).
    pub config: Arc<ClientConfig>,
}

/// Where packets go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// A host name or address literal.
    pub host: String,
    /// The port.
    pub port: u16,
    /// The transport.
    pub transport: Transport,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(
                f,
                "[{}]:{} over {}",
                self.host,
                self.port,
                self.transport.as_str().to_uppercase()
            )
        } else {
            write!(
                f,
                "{}:{} over {}",
                self.host,
                self.port,
                self.transport.as_str().to_uppercase()
            )
        }
    }
}

/// Why an exchange got no final response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExchangeError {
    /// No final response before the deadline.
    Timeout,
    /// The transport failed (refused, unreachable, DNS, TLS), with detail.
    Transport(TransportErrorKind, String),
    /// Transport not supported by this build.
    Unsupported(&'static str),
}

impl std::fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExchangeError::Timeout => f.write_str("no answer"),
            ExchangeError::Transport(k, d) => write!(f, "{} ({d})", k.as_str()),
            ExchangeError::Unsupported(w) => f.write_str(w),
        }
    }
}

/// A final response and what it took.
#[derive(Clone, Debug)]
pub struct Exchanged {
    /// The final response, as received.
    pub response: Vec<u8>,
    /// From the first send to the final response.
    pub rtt: Duration,
    /// Provisional and unrelated messages skipped, and retransmissions sent.
    pub retransmissions: u32,
}

fn io_error(e: &std::io::Error, what: &str) -> ExchangeError {
    match e.kind() {
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset => {
            ExchangeError::Transport(TransportErrorKind::Refused, format!("{what}: {e}"))
        }
        ErrorKind::TimedOut | ErrorKind::WouldBlock => ExchangeError::Timeout,
        _ => ExchangeError::Transport(TransportErrorKind::Unreachable, format!("{what}: {e}")),
    }
}

/// Whether `bytes` is the final response to the request with `branch`.
/// Returns None for anything else (provisional, another transaction,
/// garbage).
fn is_final_for(bytes: &[u8], branch: &str) -> bool {
    let Ok(m) = sip::parse(bytes) else {
        return false;
    };
    matches!(m.status(), Some(200..=699)) && m.branch() == Some(branch)
}

fn tls_error(e: &std::io::Error) -> ExchangeError {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(r) => ExchangeError::Transport(TransportErrorKind::Tls, r.to_string()),
        None => match e.kind() {
            ErrorKind::TimedOut | ErrorKind::WouldBlock => ExchangeError::Timeout,
            ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset => {
                ExchangeError::Transport(TransportErrorKind::Refused, e.to_string())
            }
            _ => ExchangeError::Transport(TransportErrorKind::Tls, e.to_string()),
        },
    }
}

/// What is left until `deadline`, or a timeout when nothing is.
fn time_left(deadline: Instant) -> Result<Duration, ExchangeError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(ExchangeError::Timeout)
    } else {
        Ok(left)
    }
}

/// In words, why a framer gave up on a peer's stream.
pub(crate) fn not_sip(e: FrameError, dropped: usize) -> String {
    match e {
        FrameError::BadContentLength => {
            "the peer sent a Content-Length that is not a number".to_owned()
        }
        FrameError::TooLarge => {
            format!("the peer announced a message larger than {MAX_MESSAGE} bytes")
        }
        FrameError::HeaderTooLarge | FrameError::KeepAliveFlood => {
            format!("the peer sent {dropped} bytes without a complete SIP message")
        }
    }
}

/// In words, a framed message that does not parse.
pub(crate) fn unparsable(len: usize) -> String {
    format!("the peer sent {len} bytes that are not a SIP message")
}

fn local_of(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

/// Sends the request `build(local)` makes (given our `host:port` as the
/// peer sees it) and waits for its final response until `timeout`: a
/// [`Session`] for one transaction. `branch` is the full Via branch of
/// the request, to match the answer. `tls` is needed for TLS endpoints
/// (the name to verify, whom to trust).
pub fn exchange(
    ep: &Endpoint,
    addr: SocketAddr,
    timeout: Duration,
    branch: &str,
    tls: Option<&TlsTarget>,
    build: &dyn Fn(&str) -> String,
) -> Result<(String, Exchanged), ExchangeError> {
    let deadline = Instant::now() + timeout;
    let mut session = Session::open(ep, addr, deadline, tls)?;
    let request = build(session.local());
    let x = session.transact(&request, branch, deadline)?;
    Ok((request, x))
}

/// One flow to a registrar kept for several transactions: the same
/// socket (UDP) or connection (TCP, TLS), hence the same local address,
/// for a REGISTER, its challenge answered, a retry and the final
/// `Expires: 0`. A Contact made from [`Session::local`] names this flow
/// for as long as the session lives, so what the first REGISTER binds the
/// last one can remove (RFC 3261 §10.2.2 matches bindings by Contact URI).
pub struct Session {
    conn: Conn,
    local: String,
    /// Set once the stream failed: a broken stream is not used again.
    broken: Option<ExchangeError>,
}

enum Conn {
    Udp(UdpSocket),
    Tcp(TcpStream, StreamFramer),
    Tls(Box<TlsWire>, StreamFramer),
}

impl Session {
    /// Opens the flow: a connected UDP socket, or a TCP connection (and
    /// the TLS handshake) finished before `deadline`.
    pub fn open(
        ep: &Endpoint,
        addr: SocketAddr,
        deadline: Instant,
        tls: Option<&TlsTarget>,
    ) -> Result<Session, ExchangeError> {
        let (conn, local) = match ep.transport {
            Transport::Udp => {
                let bind: SocketAddr = if addr.is_ipv4() {
                    (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let sock = UdpSocket::bind(bind).map_err(|e| io_error(&e, "bind"))?;
                // A connected socket reports ICMP port unreachable as
                // ECONNREFUSED, and takes answers from this peer only.
                sock.connect(addr).map_err(|e| io_error(&e, "connect"))?;
                let local = sock
                    .local_addr()
                    .map_err(|e| io_error(&e, "local address"))?;
                (Conn::Udp(sock), local)
            }
            Transport::Tcp => {
                let stream = connect(addr, deadline)?;
                let local = stream
                    .local_addr()
                    .map_err(|e| io_error(&e, "local address"))?;
                (Conn::Tcp(stream, StreamFramer::new()), local)
            }
            Transport::Tls => {
                let Some(t) = tls else {
                    return Err(ExchangeError::Unsupported("no TLS configuration given"));
                };
                let name = ServerName::try_from(t.server_name.clone()).map_err(|e| {
                    ExchangeError::Transport(
                        TransportErrorKind::Tls,
                        format!("{}: {e}", t.server_name),
                    )
                })?;
                let sock = connect(addr, deadline)?;
                let local = sock
                    .local_addr()
                    .map_err(|e| io_error(&e, "local address"))?;
                let conn = ClientConnection::new(t.config.clone(), name).map_err(|e| {
                    ExchangeError::Transport(TransportErrorKind::Tls, e.to_string())
                })?;
                let mut wire = TlsWire { conn, sock };
                handshake(&mut wire, deadline)?;
                (Conn::Tls(Box::new(wire), StreamFramer::new()), local)
            }
        };
        Ok(Session {
            conn,
            local: local_of(local),
            broken: None,
        })
    }

    /// Our `host:port` as the peer sees it (`[v6]:port` for IPv6): what
    /// Via and Contact carry for every request of this session.
    pub fn local(&self) -> &str {
        &self.local
    }

    /// Sends `request` and waits until `deadline` for its final response
    /// (matched by the Via `branch`); over UDP retransmitted on Timer E.
    /// Provisional responses, answers to earlier transactions and CRLF
    /// pings (answered) are skipped. A stream that failed fails every
    /// later transaction with the same error.
    pub fn transact(
        &mut self,
        request: &str,
        branch: &str,
        deadline: Instant,
    ) -> Result<Exchanged, ExchangeError> {
        if let Some(e) = &self.broken {
            return Err(e.clone());
        }
        let r = match &mut self.conn {
            Conn::Udp(sock) => udp_transact(sock, request, branch, deadline),
            Conn::Tcp(stream, framer) => stream_transact(
                stream,
                framer,
                |e| io_error(e, "connection"),
                request,
                deadline,
                branch,
            ),
            Conn::Tls(wire, framer) => {
                stream_transact(&mut **wire, framer, tls_error, request, deadline, branch)
            }
        };
        if let Err(e) = &r {
            if !matches!(self.conn, Conn::Udp(_)) && *e != ExchangeError::Timeout {
                self.broken = Some(e.clone());
            }
        }
        r
    }
}

/// A TCP connection made before `deadline`.
fn connect(addr: SocketAddr, deadline: Instant) -> Result<TcpStream, ExchangeError> {
    let stream = TcpStream::connect_timeout(&addr, time_left(deadline)?)
        .map_err(|e| io_error(&e, "connect"))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// The TLS handshake, one socket read at a time within the deadline.
fn handshake(wire: &mut TlsWire, deadline: Instant) -> Result<(), ExchangeError> {
    while wire.conn.is_handshaking() {
        wire.set_timeout(time_left(deadline)?)
            .map_err(|e| io_error(&e, "socket"))?;
        wire.flush().map_err(|e| tls_error(&e))?;
        if !wire.conn.is_handshaking() {
            break;
        }
        if wire.receive_tls().map_err(|e| tls_error(&e))? == 0 {
            return Err(ExchangeError::Transport(
                TransportErrorKind::Refused,
                "the registrar closed the connection during the TLS handshake".to_owned(),
            ));
        }
    }
    Ok(())
}

fn udp_transact(
    sock: &UdpSocket,
    request: &str,
    branch: &str,
    deadline: Instant,
) -> Result<Exchanged, ExchangeError> {
    let start = Instant::now();
    let mut next_send = start;
    let mut timer_e = TimerE::new();
    let mut sends = 0u32;
    let mut buf = vec![0u8; 65_536];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(ExchangeError::Timeout);
        }
        if now >= next_send {
            sock.send(request.as_bytes())
                .map_err(|e| io_error(&e, "send"))?;
            sends += 1;
            next_send = now + timer_e.after_send();
        }
        let wait = next_send
            .min(deadline)
            .saturating_duration_since(Instant::now());
        sock.set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .map_err(|e| io_error(&e, "socket"))?;
        match sock.recv(&mut buf) {
            Ok(n) => {
                if is_final_for(&buf[..n], branch) {
                    return Ok(Exchanged {
                        response: buf[..n].to_vec(),
                        rtt: start.elapsed(),
                        retransmissions: sends - 1,
                    });
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(io_error(&e, "receive")),
        }
    }
}

/// Writes `request` on a connected stream (TCP, or TLS over it) and reads
/// until its final response or `deadline`, answering CRLF pings (RFC 5626
/// §3.5.1: a CRLFCRLF ping gets a CRLF pong). A stream that is not SIP
/// (64 KiB without a complete message, a message that does not parse)
/// ends it. The framer lives as long as the stream: what came after one
/// answer is read by the next transaction.
fn stream_transact<W: Wire + ?Sized>(
    wire: &mut W,
    framer: &mut StreamFramer,
    on_error: fn(&std::io::Error) -> ExchangeError,
    request: &str,
    deadline: Instant,
    branch: &str,
) -> Result<Exchanged, ExchangeError> {
    let start = Instant::now();
    wire.set_timeout(time_left(deadline)?)
        .map_err(|e| io_error(&e, "socket"))?;
    wire.send(request.as_bytes()).map_err(|e| on_error(&e))?;
    let mut buf = vec![0u8; 16_384];
    loop {
        let mut pong = false;
        loop {
            match framer.next_frame() {
                Ok(Some(Frame::Message(m))) => {
                    if is_final_for(&m, branch) {
                        return Ok(Exchanged {
                            response: m,
                            rtt: start.elapsed(),
                            retransmissions: 0,
                        });
                    }
                    if sip::parse(&m).is_err() {
                        return Err(ExchangeError::Transport(
                            TransportErrorKind::Protocol,
                            unparsable(m.len()),
                        ));
                    }
                }
                Ok(Some(Frame::KeepAlive)) => pong = true,
                Ok(None) => break,
                Err(e) => {
                    return Err(ExchangeError::Transport(
                        TransportErrorKind::Protocol,
                        not_sip(e, framer.dropped()),
                    ))
                }
            }
        }
        wire.set_timeout(time_left(deadline)?)
            .map_err(|e| io_error(&e, "socket"))?;
        if pong {
            // One pong for what one read brought, however many pings.
            wire.send(b"\r\n").map_err(|e| on_error(&e))?;
        }
        match wire.receive(&mut buf) {
            Ok(None) => {
                return Err(ExchangeError::Transport(
                    TransportErrorKind::Refused,
                    "the registrar closed the connection".to_owned(),
                ))
            }
            Ok(Some(n)) => framer.push(&buf[..n]),
            Err(e) => return Err(on_error(&e)),
        }
    }
}

#[cfg(test)]
mod tests;
