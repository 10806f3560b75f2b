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
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    let local = sock
        .local_addr()
        .map_err(|e| io_error(&e, "local address"))?;
    let conn = ClientConnection::new(t.config.clone(), name)
        .map_err(|e| ExchangeError::Transport(TransportErrorKind::Tls, e.to_string()))?;
    let mut wire = TlsWire { conn, sock };
    // The handshake, one socket read at a time within the deadline.
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
    let request = build(&local_of(local));
    stream_exchange(&mut wire, tls_error, request, start, deadline, branch)
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

/// A connected stream as [`stream_exchange`] uses it: each `receive` makes
/// at most one read from the socket.
trait Wire {
    /// Read and write timeouts of the socket.
    fn set_timeout(&mut self, d: Duration) -> std::io::Result<()>;
    /// Writes all of `bytes`.
    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    /// At most one socket read: `Some(n)` bytes of the stream into `buf`
    /// (0 when what came completes nothing yet), `None` at its end.
    fn receive(&mut self, buf: &mut [u8]) -> std::io::Result<Option<usize>>;
}

impl Wire for TcpStream {
    fn set_timeout(&mut self, d: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(d))?;
        self.set_write_timeout(Some(d))
    }
    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.write_all(bytes)
    }
    fn receive(&mut self, buf: &mut [u8]) -> std::io::Result<Option<usize>> {
        match self.read(buf)? {
            0 => Ok(None),
            n => Ok(Some(n)),
        }
    }
}

/// TLS over a blocking TCP socket, driven one record read at a time
/// (rustls' own `Stream` loops on the socket until it has plaintext,
/// each read waiting the whole timeout again).
struct TlsWire {
    conn: ClientConnection,
    sock: TcpStream,
}

impl TlsWire {
    /// Writes what rustls has to send.
    fn flush(&mut self) -> std::io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.sock)?;
        }
        Ok(())
    }

    /// One read from the socket into rustls, processed; the bytes read
    /// (0: the peer closed the connection).
    fn receive_tls(&mut self) -> std::io::Result<usize> {
        let n = self.conn.read_tls(&mut self.sock)?;
        if n > 0 {
            self.conn
                .process_new_packets()
                .map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e))?;
            self.flush()?;
        }
        Ok(n)
    }

    /// Plaintext rustls holds already: `Some(n)`, `Some(0)` for none yet,
    /// `None` after the peer's close_notify.
    fn plaintext(&mut self, buf: &mut [u8]) -> std::io::Result<Option<usize>> {
        match self.conn.reader().read(buf) {
            Ok(0) => Ok(None),
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(Some(0)),
            Err(e) => Err(e),
        }
    }
}

impl Wire for TlsWire {
    fn set_timeout(&mut self, d: Duration) -> std::io::Result<()> {
        self.sock.set_read_timeout(Some(d))?;
        self.sock.set_write_timeout(Some(d))
    }
    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.conn.writer().write_all(bytes)?;
        self.flush()
    }
    fn receive(&mut self, buf: &mut [u8]) -> std::io::Result<Option<usize>> {
        match self.plaintext(buf)? {
            Some(0) => {}
            other => return Ok(other),
        }
        if self.receive_tls()? == 0 {
            return Ok(None);
        }
        self.plaintext(buf)
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
        |e| io_error(e, "connection"),
        request,
        start,
        deadline,
        branch,
    )
}

/// Writes `request` on a connected stream (TCP, or TLS over it) and reads
/// until its final response or `deadline`, answering CRLF pings (RFC 5626
/// §3.5.1: a CRLFCRLF ping gets a CRLF pong). A stream that is not SIP
/// (64 KiB without a complete message, a message that does not parse)
/// ends it.
fn stream_exchange<W: Wire>(
    wire: &mut W,
    on_error: fn(&std::io::Error) -> ExchangeError,
    request: String,
    start: Instant,
    deadline: Instant,
    branch: &str,
) -> Result<(String, Exchanged), ExchangeError> {
    wire.set_timeout(time_left(deadline)?)
        .map_err(|e| io_error(&e, "socket"))?;
    wire.send(request.as_bytes()).map_err(|e| on_error(&e))?;
    let mut framer = StreamFramer::new();
    let mut buf = vec![0u8; 16_384];
    loop {
        let mut pong = false;
        loop {
            match framer.next_frame() {
                Ok(Some(Frame::Message(m))) => {
                    if is_final_for(&m, branch) {
                        return Ok((
                            request,
                            Exchanged {
                                response: m,
                                rtt: start.elapsed(),
                                retransmissions: 0,
                            },
                        ));
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
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A TCP peer on loopback that runs `serve` on its first connection.
    fn peer(serve: impl FnOnce(TcpStream) + Send + 'static) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((s, _)) = l.accept() {
                serve(s);
            }
        });
        addr
    }

    /// Writes `bytes` again and again until the client goes away.
    fn flood(bytes: &'static [u8]) -> impl FnOnce(TcpStream) + Send + 'static {
        move |mut s| while s.write_all(bytes).is_ok() {}
    }

    fn options(local: &str) -> String {
        format!("OPTIONS sip:hostile.test SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bK-t\r\nContent-Length: 0\r\n\r\n")
    }

    fn over_tcp(addr: SocketAddr) -> Result<(String, Exchanged), ExchangeError> {
        let ep = Endpoint {
            host: "127.0.0.1".to_owned(),
            port: addr.port(),
            transport: Transport::Tcp,
        };
        exchange(
            &ep,
            addr,
            Duration::from_secs(20),
            "z9hG4bK-t",
            None,
            &options,
        )
    }

    fn protocol_detail(r: Result<(String, Exchanged), ExchangeError>) -> String {
        match r {
            Err(ExchangeError::Transport(TransportErrorKind::Protocol, d)) => d,
            other => panic!("not a protocol error: {other:?}"),
        }
    }

    #[test]
    fn an_endless_stream_is_not_sip() {
        let d = protocol_detail(over_tcp(peer(flood(&[b'A'; 4096]))));
        assert!(d.contains("without a complete SIP message"), "{d}");
    }

    #[test]
    fn endless_crs_are_not_sip() {
        let d = protocol_detail(over_tcp(peer(flood(&[b'\r'; 4096]))));
        assert!(d.contains("without a complete SIP message"), "{d}");
    }

    #[test]
    fn a_huge_header_is_not_sip() {
        let addr = peer(|mut s| {
            let mut m = b"SIP/2.0 200 OK\r\nX-Big: ".to_vec();
            m.resize(1 << 20, b'a');
            m.extend_from_slice(b"\r\n\r\n");
            let _ = s.write_all(&m);
        });
        let d = protocol_detail(over_tcp(addr));
        assert!(d.contains("without a complete SIP message"), "{d}");
    }

    #[test]
    fn garbage_is_not_sip() {
        let addr = peer(|mut s| {
            let _ = s.write_all(b"\x16\x03\x01\x02\x00\x01\xfc binary noise\r\n\r\n");
            std::thread::sleep(Duration::from_secs(5));
        });
        let d = protocol_detail(over_tcp(addr));
        assert_eq!(d, "the peer sent 24 bytes that are not a SIP message");
    }

    #[test]
    fn a_trickled_tls_handshake_ends_at_the_deadline() {
        // A ServerHello that never ends, a byte every 50 ms for 5 s: each
        // read gets its byte well within the timeout, so only an overall
        // deadline ends the exchange (with a timeout, not a TLS failure).
        let addr = peer(|mut s| {
            let mut record = vec![0x16, 0x03, 0x03, 0x40, 0x00, 0x02, 0x00, 0x3f, 0xfc];
            record.resize(100, 0x42);
            for b in record {
                if s.write_all(&[b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let tls = TlsTarget {
            server_name: "hostile.test".to_owned(),
            config: Arc::new(config),
        };
        let ep = Endpoint {
            host: "127.0.0.1".to_owned(),
            port: addr.port(),
            transport: Transport::Tls,
        };
        let r = exchange(
            &ep,
            addr,
            Duration::from_millis(1000),
            "z9hG4bK-t",
            Some(&tls),
            &options,
        );
        assert_eq!(r.err(), Some(ExchangeError::Timeout));
    }

    #[test]
    fn a_pinged_exchange_still_gets_its_answer() {
        let addr = peer(|mut s| {
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"\r\n\r\n\r\n\r\n");
            let mut pong = [0u8; 2];
            let _ = s.read_exact(&mut pong);
            assert_eq!(&pong, b"\r\n");
            let _ = s.write_all(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP x;branch=z9hG4bK-t\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
        });
        let (_, x) = over_tcp(addr).unwrap();
        assert!(x.response.starts_with(b"SIP/2.0 200 OK"));
    }
}
