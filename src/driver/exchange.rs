//! One request, one final response, over UDP, TCP or TLS, with blocking
//! sockets: what a one-shot probe needs. UDP retransmits on RFC 3261's
//! Timer E schedule (T1 = 500 ms, doubling up to T2 = 4 s); TCP and TLS
//! frame the stream by Content-Length and answer CRLF pings. TLS checks
//! the certificate against the SIP domain (RFC 5922), not the address
//! the packets go to.
use crate::core::TransportErrorKind;
use crate::sip::{self, Frame, StreamFramer};
use crate::validate::Transport;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A TLS client configuration: the system's trust store, or the CAs of a
/// PEM file (for private registrars).
pub fn tls_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .collect::<Result<_, _>>()
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!("{}: no certificate in it", path.display()));
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
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

/// Sends the request `build(local)` makes (given our `host:port` as the
/// peer sees it) and waits for its final response until `timeout`.
/// `branch` is the full Via branch of the request, to match the answer.
/// `tls` is needed for TLS endpoints (the name to verify, whom to trust).
pub fn exchange(
    ep: &Endpoint,
    addr: SocketAddr,
    timeout: Duration,
    branch: &str,
    tls: Option<&TlsTarget>,
    build: &dyn Fn(&str) -> String,
) -> Result<(String, Exchanged), ExchangeError> {
    match ep.transport {
        Transport::Udp => udp(addr, timeout, branch, build),
        Transport::Tcp => tcp(addr, timeout, branch, build),
        Transport::Tls => match tls {
            Some(t) => tls_exchange(addr, timeout, branch, t, build),
            None => Err(ExchangeError::Unsupported("no TLS configuration given")),
        },
    }
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

fn tls_exchange(
    addr: SocketAddr,
    timeout: Duration,
    branch: &str,
    t: &TlsTarget,
    build: &dyn Fn(&str) -> String,
) -> Result<(String, Exchanged), ExchangeError> {
    let start = Instant::now();
    let deadline = start + timeout;
    let name = ServerName::try_from(t.server_name.clone()).map_err(|e| {
        ExchangeError::Transport(TransportErrorKind::Tls, format!("{}: {e}", t.server_name))
    })?;
    let sock = TcpStream::connect_timeout(&addr, timeout).map_err(|e| io_error(&e, "connect"))?;
    let _ = sock.set_nodelay(true);
    sock.set_read_timeout(Some(timeout))
        .map_err(|e| io_error(&e, "socket"))?;
    let local = sock
        .local_addr()
        .map_err(|e| io_error(&e, "local address"))?;
    let conn = ClientConnection::new(t.config.clone(), name)
        .map_err(|e| ExchangeError::Transport(TransportErrorKind::Tls, e.to_string()))?;
    let mut stream = StreamOwned::new(conn, sock);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(|e| tls_error(&e))?;
    }
    let request = build(&local_of(local));
    stream_exchange(
        &mut stream,
        |s, d| s.sock.set_read_timeout(Some(d)),
        tls_error,
        request,
        start,
        deadline,
        branch,
    )
}

fn local_of(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

fn udp(
    addr: SocketAddr,
    timeout: Duration,
    branch: &str,
    build: &dyn Fn(&str) -> String,
) -> Result<(String, Exchanged), ExchangeError> {
    let bind: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0".parse().unwrap_or(addr)
    } else {
        "[::]:0".parse().unwrap_or(addr)
    };
    let sock = UdpSocket::bind(bind).map_err(|e| io_error(&e, "bind"))?;
    // A connected socket reports ICMP port unreachable as ECONNREFUSED.
    sock.connect(addr).map_err(|e| io_error(&e, "connect"))?;
    let local = sock
        .local_addr()
        .map_err(|e| io_error(&e, "local address"))?;
    let request = build(&local_of(local));
    let start = Instant::now();
    let deadline = start + timeout;
    let mut next_send = start;
    let mut interval = Duration::from_millis(500);
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
            next_send = now + interval;
            interval = (interval * 2).min(Duration::from_secs(4));
        }
        let wait = next_send
            .min(deadline)
            .saturating_duration_since(Instant::now());
        sock.set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .map_err(|e| io_error(&e, "socket"))?;
        match sock.recv(&mut buf) {
            Ok(n) => {
                if is_final_for(&buf[..n], branch) {
                    return Ok((
                        request,
                        Exchanged {
                            response: buf[..n].to_vec(),
                            rtt: start.elapsed(),
                            retransmissions: sends - 1,
                        },
                    ));
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(io_error(&e, "receive")),
        }
    }
}

fn tcp(
    addr: SocketAddr,
    timeout: Duration,
    branch: &str,
    build: &dyn Fn(&str) -> String,
) -> Result<(String, Exchanged), ExchangeError> {
    let start = Instant::now();
    let deadline = start + timeout;
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| io_error(&e, "connect"))?;
    let _ = stream.set_nodelay(true);
    let local = stream
        .local_addr()
        .map_err(|e| io_error(&e, "local address"))?;
    let request = build(&local_of(local));
    stream_exchange(
        &mut stream,
        |s, d| s.set_read_timeout(Some(d)),
        |e| io_error(e, "connection"),
        request,
        start,
        deadline,
        branch,
    )
}

/// Writes `request` on a connected stream (TCP, or TLS over it) and reads
/// until its final response or `deadline`, answering CRLF pings (RFC 5626
/// §3.5.1: a CRLFCRLF ping gets a CRLF pong).
fn stream_exchange<S: Read + Write>(
    stream: &mut S,
    set_read_timeout: impl Fn(&mut S, Duration) -> std::io::Result<()>,
    on_error: fn(&std::io::Error) -> ExchangeError,
    request: String,
    start: Instant,
    deadline: Instant,
    branch: &str,
) -> Result<(String, Exchanged), ExchangeError> {
    stream
        .write_all(request.as_bytes())
        .map_err(|e| on_error(&e))?;
    let mut framer = StreamFramer::new();
    let mut buf = vec![0u8; 16_384];
    loop {
        while let Ok(Some(frame)) = framer.next_frame() {
            match frame {
                Frame::Message(m) if is_final_for(&m, branch) => {
                    return Ok((
                        request,
                        Exchanged {
                            response: m,
                            rtt: start.elapsed(),
                            retransmissions: 0,
                        },
                    ));
                }
                Frame::KeepAlive => {
                    let _ = stream.write_all(b"\r\n");
                }
                Frame::Message(_) => {}
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ExchangeError::Timeout);
        }
        set_read_timeout(stream, left).map_err(|e| io_error(&e, "socket"))?;
        match stream.read(&mut buf) {
            Ok(0) => {
                return Err(ExchangeError::Transport(
                    TransportErrorKind::Refused,
                    "the registrar closed the connection".to_owned(),
                ))
            }
            Ok(n) => framer.push(&buf[..n]),
            Err(e) => return Err(on_error(&e)),
        }
    }
}
