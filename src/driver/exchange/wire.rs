//! The connected streams a [`super::Session`] reads: plain TCP, and TLS
//! over it driven one record read at a time.
use rustls::ClientConnection;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A connected stream as [`stream_exchange`] uses it: each `receive` makes
/// at most one read from the socket.
pub(super) trait Wire {
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
pub(super) struct TlsWire {
    pub(super) conn: ClientConnection,
    pub(super) sock: TcpStream,
}

impl TlsWire {
    /// Writes what rustls has to send.
    pub(super) fn flush(&mut self) -> std::io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.sock)?;
        }
        Ok(())
    }

    /// One read from the socket into rustls, processed; the bytes read
    /// (0: the peer closed the connection).
    pub(super) fn receive_tls(&mut self) -> std::io::Result<usize> {
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
