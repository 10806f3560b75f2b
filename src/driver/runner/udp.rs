//! UDP: one connected socket per registrar address (so ICMP port
//! unreachable comes back as "connection refused"), retransmissions on
//! RFC 3261's Timer E schedule ([`crate::sip::timer::TimerE`]) until the
//! engine's deadline, at most [`UDP_BUDGET`] datagrams read per wake-up.
use super::io::{Inflight, Io, Route};
use crate::core::{Probe, TransportErrorKind};
use crate::sip::timer::TimerE;
use crate::validate::Transport;
use mio::net::UdpSocket;
use mio::{Interest, Token};
use std::cmp::Reverse;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Instant;

/// Datagrams read from one UDP socket per wake-up.
pub const UDP_BUDGET: usize = 64;

impl Io {
    pub(super) fn send_udp(&mut self, p: Probe, addr: SocketAddr, deadline: Instant) {
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

    pub(super) fn retransmit_due(&mut self) {
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

    /// Reads what a UDP socket has, at most [`UDP_BUDGET`] datagrams.
    pub(super) fn udp_ready(&mut self, token: Token, addr: SocketAddr) {
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
}
