//! SIP payloads of captured frames: UDP datagrams, and TCP streams framed
//! by Content-Length (Ethernet, Linux cooked, raw IP or BSD loopback; IPv4
//! and IPv6).
//!
//! TCP: a segment whose bytes were all seen already (a retransmission) is
//! dropped, one that overlaps gives only its new bytes; a flow keeps its
//! next expected sequence number and, only while a message is incomplete,
//! a framer. Memory: a few dozen bytes per flow plus the incomplete
//! messages (each under `MAX_MESSAGE`).
use super::pcap::Frame;
use crate::sip::{self, StreamFramer};
use crate::validate::Transport;
use core::net::{IpAddr, SocketAddr};
use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use std::collections::HashMap;

/// One SIP message (or what claims to be one) from a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    /// The time of the frame that completed it, microseconds.
    pub ts_us: u64,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// UDP or TCP.
    pub transport: Transport,
    /// The message.
    pub bytes: Vec<u8>,
}

type Flow = (SocketAddr, SocketAddr);

#[derive(Debug)]
struct TcpFlow {
    /// The sequence number after the last byte taken.
    next: u32,
    /// Bytes of an incomplete message.
    framer: Option<StreamFramer>,
}

/// Turns frames into SIP payloads, following TCP flows.
#[derive(Debug, Default)]
pub struct Packets {
    flows: HashMap<Flow, TcpFlow>,
}

impl Packets {
    /// A reader with no flow yet.
    pub fn new() -> Packets {
        Packets::default()
    }

    /// TCP flows followed.
    pub fn flows(&self) -> usize {
        self.flows.len()
    }

    /// The payloads a frame completes, appended to `out`.
    pub fn frame(&mut self, f: &Frame<'_>, out: &mut Vec<Payload>) {
        let data = f.data;
        let sliced = match f.linktype {
            1 => SlicedPacket::from_ethernet(data),
            113 => SlicedPacket::from_linux_sll(data),
            101 | 228 | 229 => SlicedPacket::from_ip(data),
            0 if data.len() > 4 => SlicedPacket::from_ip(&data[4..]), // BSD loopback
            _ => return,
        };
        let Ok(s) = sliced else { return };
        let (src_ip, dst_ip): (IpAddr, IpAddr) = match &s.net {
            Some(NetSlice::Ipv4(v4)) => (
                v4.header().source_addr().into(),
                v4.header().destination_addr().into(),
            ),
            Some(NetSlice::Ipv6(v6)) => (
                v6.header().source_addr().into(),
                v6.header().destination_addr().into(),
            ),
            _ => return,
        };
        match &s.transport {
            Some(TransportSlice::Udp(u)) => {
                let payload = u.payload();
                if payload.len() < 8 {
                    return;
                }
                out.push(Payload {
                    ts_us: f.ts_us,
                    src: SocketAddr::new(src_ip, u.source_port()),
                    dst: SocketAddr::new(dst_ip, u.destination_port()),
                    transport: Transport::Udp,
                    bytes: payload.to_vec(),
                });
            }
            Some(TransportSlice::Tcp(tc)) => {
                let payload = tc.payload();
                if payload.is_empty() {
                    return;
                }
                let flow = (
                    SocketAddr::new(src_ip, tc.source_port()),
                    SocketAddr::new(dst_ip, tc.destination_port()),
                );
                let seq = tc.sequence_number();
                let end = seq.wrapping_add(payload.len() as u32);
                let st = self.flows.entry(flow).or_insert(TcpFlow {
                    next: seq,
                    framer: None,
                });
                // Sequence numbers wrap: compare by signed distance.
                if (end.wrapping_sub(st.next) as i32) <= 0 {
                    return; // every byte seen already
                }
                let skip = if (seq.wrapping_sub(st.next) as i32) < 0 {
                    st.next.wrapping_sub(seq) as usize
                } else {
                    0
                };
                st.next = end;
                let framer = st.framer.get_or_insert_with(StreamFramer::new);
                framer.push(&payload[skip..]);
                while let Ok(Some(frame)) = framer.next_frame() {
                    if let sip::Frame::Message(m) = frame {
                        out.push(Payload {
                            ts_us: f.ts_us,
                            src: flow.0,
                            dst: flow.1,
                            transport: Transport::Tcp,
                            bytes: m,
                        });
                    }
                }
                if framer.buffered() == 0 {
                    st.framer = None;
                }
            }
            _ => {}
        }
    }
}
