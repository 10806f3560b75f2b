//! A stream connection's state (TCP, or TLS over it), its key, and the
//! limits every connection is held to.
use crate::core::TransportErrorKind;
use crate::sip::StreamFramer;
use mio::net::TcpStream;
use mio::Token;
use rustls::ClientConnection;
use std::io::ErrorKind;
use std::net::SocketAddr;

/// A stream connection: the address, and for TLS the name the
/// certificate must carry.
pub(super) type ConnKey = (SocketAddr, Option<String>);

/// One open connection.
pub(super) struct Conn {
    pub(super) stream: TcpStream,
    pub(super) token: Token,
    pub(super) tls: Option<ClientConnection>,
    pub(super) framer: StreamFramer,
    /// Bytes queued, not yet written.
    pub(super) out: Vec<u8>,
    /// The probes sent on it and not answered yet.
    pub(super) probes: Vec<u64>,
}

/// Bytes read from one stream connection per wake-up.
pub const READ_BUDGET: usize = 64 * 1024;
/// Bytes queued for a stream connection that the peer does not read,
/// past which the connection is dropped.
pub const MAX_UNSENT: usize = 64 * 1024;
/// One socket read.
pub(super) const CHUNK: usize = 16 * 1024;

/// What one wake-up read from a stream connection.
pub(super) struct StreamRead {
    /// Complete SIP messages.
    pub(super) messages: Vec<Vec<u8>>,
    /// Why the connection must close (after the messages are handled),
    /// with the words for the diagnosis when there are some.
    pub(super) error: Option<(TransportErrorKind, Option<String>)>,
    /// The budget ran out before the socket was drained.
    pub(super) more: bool,
}

/// The probe error an IO error on a connection means.
pub(super) fn stream_kind(e: &std::io::Error) -> TransportErrorKind {
    match e.kind() {
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset => TransportErrorKind::Refused,
        _ => TransportErrorKind::Unreachable,
    }
}
