//! TCP and TLS: one connection per registrar address (and, for TLS, per
//! certificate name), framed by Content-Length as it is read, at most
//! [`READ_BUDGET`] bytes per wake-up, RFC 5626 CRLF pings answered; a
//! peer past a limit, or sending what is not SIP, loses its connection.
use super::conn::{stream_kind, Conn, ConnKey, StreamRead, CHUNK, MAX_UNSENT, READ_BUDGET};
use super::io::{probe_of, Inflight, Io, Route};
use crate::core::{Probe, TransportErrorKind};
use crate::sip::timer::TimerE;
use crate::sip::{self, Frame, StreamFramer};
use crate::validate::Transport;
use mio::net::TcpStream;
use mio::{Interest, Token};
use rustls::pki_types::ServerName;
use rustls::ClientConnection;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Instant;

impl Io {
    /// Queues a probe on the stream connection (TCP, or TLS to `tls_name`)
    /// to `addr`, opening it first if needed.
    pub(super) fn send_stream(&mut self, p: Probe, addr: SocketAddr, deadline: Instant) {
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
    pub(super) fn flush(&mut self, key: &ConnKey) {
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

    pub(super) fn close_stream(&mut self, key: &ConnKey, kind: TransportErrorKind) {
        self.close_stream_with(key, kind, None);
    }

    /// Closes a connection; its probes fail with `kind`, and `detail` (what
    /// the peer did) when there is one. A detail means the peer broke a
    /// limit: that is counted and logged.
    pub(super) fn close_stream_with(
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
    pub(super) fn read_stream(&mut self, key: &ConnKey) -> StreamRead {
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
                                    let detail = crate::driver::exchange::unparsable(m.len());
                                    out.error = Some((TransportErrorKind::Protocol, Some(detail)));
                                    break;
                                }
                                out.messages.push(m);
                            }
                            // RFC 5626 §3.5.1: a CRLFCRLF ping gets a CRLF pong.
                            Ok(Some(Frame::KeepAlive)) => pong = true,
                            Ok(None) => break,
                            Err(e) => {
                                let detail =
                                    crate::driver::exchange::not_sip(e, c.framer.dropped());
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

    /// Handles what the poll said about a stream connection.
    pub(super) fn stream_ready(
        &mut self,
        token: Token,
        key: ConnKey,
        readable: bool,
        writable: bool,
        error: bool,
    ) {
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
