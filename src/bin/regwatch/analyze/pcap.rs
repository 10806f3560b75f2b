//! pcap and pcapng captures through the packet reader and the replay.
use super::{pipelined, plural, read_chunk, Msg, Note, Offset, Replay, CHUNK, MAX_HELD};
use regwatch::capture;
use regwatch::capture::packets::{Packets, Payload};
use regwatch::capture::pcap::{PcapNotes, PcapReader};
use regwatch::Direction;
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The frames of a pcap through the packet reader; every payload to
/// `each` with the number of the record that completed it (from 1), until
/// it says to stop (`false`).
fn pcap_pass(
    src: &mut dyn Read,
    each: &mut dyn FnMut(u64, Payload) -> bool,
) -> io::Result<PcapNotes> {
    let mut reader = PcapReader::new();
    let mut packets = Packets::new();
    let mut out = Vec::new();
    let mut buf = vec![0u8; CHUNK];
    let mut eof = false;
    loop {
        loop {
            match reader.next_frame() {
                Ok(Some(f)) => packets.frame(&f, &mut out),
                Ok(None) => break,
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
            }
            let record = reader.notes().frames;
            for p in out.drain(..) {
                if !each(record, p) {
                    return Ok(reader.notes().clone());
                }
            }
        }
        if eof {
            return Ok(reader.notes().clone());
        }
        match read_chunk(src, &mut buf)? {
            Some(n) => reader.push(&buf[..n]),
            None => {
                reader.finish();
                eof = true;
            }
        }
    }
}

/// Where a pcap's bytes come from, twice.
enum Twice {
    /// A regular file: opened again, read up to the length seen the first
    /// time.
    File(PathBuf),
    /// Anything else, held.
    Held(Vec<u8>),
}

/// The registering side of a pcap learnt in one pass, as the REGISTERs
/// come, with a check that it decides every message as knowing it from
/// the start would (the whole file read first): if a message was placed
/// before its sender or receiver turned out to send REGISTERs, or a time
/// stamp comes before the first one, the pass is not sure and the file is
/// read again in two passes.
#[derive(Default)]
struct Sides {
    /// Senders of REGISTERs so far.
    clients: HashSet<SocketAddr>,
    /// Addresses that were not clients when a message was placed by them
    /// (a sender, or the receiver of a message skipped): one of them
    /// becoming a client changes an earlier decision.
    seen: HashSet<SocketAddr>,
    /// `seen` reached its bound: any new client makes the pass unsure.
    full: bool,
    /// The first time stamp, microseconds.
    first: Option<u64>,
    /// An earlier decision would be different: read again.
    unsure: bool,
}

impl Sides {
    /// Addresses `seen` holds at most (a capture of registrations has a
    /// handful: the registrars).
    const SEEN_MAX: usize = 1 << 16;

    fn see(&mut self, a: SocketAddr) {
        if self.seen.len() < Self::SEEN_MAX {
            self.seen.insert(a);
        } else if !self.seen.contains(&a) {
            self.full = true;
        }
    }

    /// The message's direction as the registering side saw it and its
    /// time (milliseconds from the first), or `None` to skip it.
    fn place(&mut self, p: &Payload) -> Option<(Direction, u64)> {
        let first = *self.first.get_or_insert(p.ts_us);
        if p.ts_us < first {
            self.unsure = true;
            return None;
        }
        if !self.clients.contains(&p.src) && capture::is_register_request(&p.bytes) {
            if self.full || self.seen.contains(&p.src) {
                self.unsure = true;
                return None;
            }
            self.clients.insert(p.src);
        }
        let direction = if self.clients.contains(&p.src) {
            Direction::Sent
        } else {
            self.see(p.src);
            if !self.clients.contains(&p.dst) {
                self.see(p.dst);
                return None;
            }
            Direction::Received
        };
        Some((direction, (p.ts_us - first) / 1000))
    }
}

/// A pcap: in one pass when the registering side (whoever sends
/// REGISTERs) can be learnt as it goes (see [`Sides`]), else in two (the
/// registering side and the first time stamp in the first, the replay in
/// the second).
pub(super) fn replay_pcap(
    path: &Path,
    head: Vec<u8>,
    rest: &mut (dyn Read + Send),
    regular: bool,
    json: bool,
) -> io::Result<(Replay, Vec<Note>)> {
    let source = if regular {
        Twice::File(path.to_path_buf())
    } else {
        let mut held = head.clone();
        (&mut *rest).take(MAX_HELD + 1).read_to_end(&mut held)?;
        if held.len() as u64 > MAX_HELD {
            return Err(io::Error::other(
                "over 1 GiB from a pipe or device; save the capture to a file first",
            ));
        }
        Twice::Held(held)
    };
    let mut length = 0u64;
    let mut replay = Replay::new(json);
    let feed = |m: Msg| feed_one(&mut replay, m);
    let once = |src: &mut dyn Read, out: &mut dyn FnMut(Msg)| -> io::Result<(PcapNotes, bool)> {
        let mut sides = Sides::default();
        let notes = pcap_pass(src, &mut |record, p| {
            let placed = sides.place(&p);
            if sides.unsure {
                return false;
            }
            out(match placed {
                Some((direction, at)) => Msg {
                    at,
                    direction: Some(direction),
                    transport: Some(p.transport),
                    bytes: p.bytes,
                    offset: Offset::Record(record),
                    outside: false,
                },
                None => outside(record),
            });
            true
        })?;
        Ok((notes, !sides.unsure))
    };
    let (notes, sure) = match &source {
        Twice::File(_) => {
            let mut counted = CountingReader {
                inner: io::Cursor::new(&head[..]).chain(rest),
                n: &mut length,
            };
            pipelined(|out| once(&mut counted, out), feed)?
        }
        Twice::Held(b) => pipelined(|out| once(&mut &b[..], out), feed)?,
    };
    if sure {
        replay.finish();
        return Ok((replay, pcap_notes(&notes)));
    }
    drop(replay);
    let open = || -> io::Result<Box<dyn Read + Send + '_>> {
        Ok(match &source {
            Twice::File(p) => Box::new(File::open(p)?.take(length)),
            Twice::Held(b) => Box::new(&b[..]),
        })
    };
    let mut clients: HashSet<SocketAddr> = HashSet::new();
    let mut first: Option<u64> = None;
    let scan = |(_, p): (u64, Payload)| {
        first = Some(first.map_or(p.ts_us, |f| f.min(p.ts_us)));
        if capture::is_register_request(&p.bytes) {
            clients.insert(p.src);
        }
    };
    let mut src = open()?;
    pipelined(
        |out| {
            pcap_pass(&mut src, &mut |record, p| {
                out((record, p));
                true
            })
        },
        scan,
    )?;
    let first = first.unwrap_or(0);
    let clients = &clients;
    let mut replay = Replay::new(json);
    let play = |out: &mut dyn FnMut(Msg), record: u64, p: Payload| {
        let sent = clients.contains(&p.src);
        if !sent && !clients.contains(&p.dst) {
            out(outside(record));
            return;
        }
        let direction = if sent {
            Direction::Sent
        } else {
            Direction::Received
        };
        out(Msg {
            at: p.ts_us.saturating_sub(first) / 1000,
            direction: Some(direction),
            transport: Some(p.transport),
            bytes: p.bytes,
            offset: Offset::Record(record),
            outside: false,
        });
    };
    let feed = |m: Msg| feed_one(&mut replay, m);
    let mut src = open()?;
    let notes = pipelined(
        |out| {
            pcap_pass(&mut src, &mut |record, p| {
                play(out, record, p);
                true
            })
        },
        feed,
    )?;
    replay.finish();
    Ok((replay, pcap_notes(&notes)))
}

/// A message neither sent nor received by a registering address (one
/// that sent a REGISTER in the capture).
fn outside(record: u64) -> Msg {
    Msg {
        at: 0,
        direction: None,
        transport: None,
        bytes: Vec::new(),
        offset: Offset::Record(record),
        outside: true,
    }
}

fn feed_one(replay: &mut Replay, m: Msg) {
    if m.outside {
        replay.outside.add(OUTSIDE, m.offset);
    } else {
        replay.feed(m.at, m.direction, m.transport, &m.bytes, m.offset);
    }
}

/// Why a message outside registration is left out.
const OUTSIDE: &str = "neither its sender nor its receiver sent a REGISTER in the capture";

struct CountingReader<'a, R> {
    inner: R,
    n: &'a mut u64,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        *self.n += k as u64;
        Ok(k)
    }
}

fn pcap_notes(n: &PcapNotes) -> Vec<Note> {
    let mut out = Vec::new();
    if n.bad_records > 0 {
        out.push(Note {
            code: "pcap.bad_record",
            count: n.bad_records,
            text: format!(
                "{} skipped (the first: {}); {} passed over to find the next good one",
                plural(n.bad_records, "bad record", "bad records"),
                n.first_bad.unwrap_or("malformed"),
                plural(n.skipped_bytes, "byte", "bytes"),
            ),
        });
    }
    if let Some((have, need)) = n.truncated {
        out.push(Note {
            code: "pcap.truncated",
            count: 1,
            text: format!(
                "the file is truncated: it ends inside a record ({have} of its {need} bytes); \
                 the {} before it were read",
                plural(n.frames, "frame", "frames")
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use regwatch::Transport;

    const REGISTER: &[u8] =
        b"REGISTER sip:example.net SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
        From: <sip:a@example.net>;tag=1\r\nTo: <sip:a@example.net>\r\nCall-ID: c1\r\n\
        CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n";
    const OK: &[u8] = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
        From: <sip:a@example.net>;tag=1\r\nTo: <sip:a@example.net>;tag=2\r\nCall-ID: c1\r\n\
        CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n";

    /// xorshift64*: a fixed sequence, no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    /// What the two passes decide for each payload: the registering side
    /// is every sender of a REGISTER in the whole file, times count from
    /// the earliest.
    fn two_passes(ps: &[Payload]) -> Vec<Option<(Direction, u64)>> {
        let clients: HashSet<SocketAddr> = ps
            .iter()
            .filter(|p| capture::is_register_request(&p.bytes))
            .map(|p| p.src)
            .collect();
        let first = ps.iter().map(|p| p.ts_us).min().unwrap_or(0);
        ps.iter()
            .map(|p| {
                let sent = clients.contains(&p.src);
                if !sent && !clients.contains(&p.dst) {
                    return None;
                }
                let d = if sent {
                    Direction::Sent
                } else {
                    Direction::Received
                };
                Some((d, p.ts_us.saturating_sub(first) / 1000))
            })
            .collect()
    }

    /// Random captures among a few addresses: whenever one pass is sure,
    /// it decided every message as the two passes do; and it is sure for
    /// the usual capture (clients register before anything else of theirs,
    /// times in order).
    #[test]
    fn one_pass_decides_as_two_or_says_it_is_unsure() {
        let addr = |i: u64| SocketAddr::from(([192, 0, 2, i as u8], 5060));
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut sure, mut unsure) = (0, 0);
        for _ in 0..5_000 {
            let n = 1 + r.next() % 12;
            let mut ts = 1_000_000u64;
            let ps: Vec<Payload> = (0..n)
                .map(|_| {
                    let src = addr(r.next() % 4);
                    let dst = addr(r.next() % 4);
                    let bytes = if r.next() % 2 == 0 { REGISTER } else { OK };
                    // Now and then a time stamp before the one before it.
                    ts = if r.next() % 8 == 0 {
                        ts - 1000
                    } else {
                        ts + r.next() % 5000
                    };
                    Payload {
                        ts_us: ts,
                        src,
                        dst,
                        transport: Transport::Udp,
                        bytes: bytes.to_vec(),
                    }
                })
                .collect();
            let mut sides = Sides::default();
            let mut got = Vec::new();
            for p in &ps {
                got.push(sides.place(p));
                if sides.unsure {
                    break;
                }
            }
            if sides.unsure {
                unsure += 1;
            } else {
                sure += 1;
                assert_eq!(got, two_passes(&ps), "{ps:?}");
            }
        }
        assert!(sure > 500 && unsure > 500, "sure {sure}, unsure {unsure}");

        // The usual capture: REGISTER out, answer back, for many clients.
        let registrar = addr(200);
        let mut sides = Sides::default();
        for i in 0..100u64 {
            let client = SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], 5060));
            for (src, dst, bytes) in [(client, registrar, REGISTER), (registrar, client, OK)] {
                let p = Payload {
                    ts_us: 1_000_000 + i * 500,
                    src,
                    dst,
                    transport: Transport::Udp,
                    bytes: bytes.to_vec(),
                };
                assert!(sides.place(&p).is_some());
            }
        }
        assert!(!sides.unsure);
    }

    /// Past its bound on remembered addresses, a new client makes the pass
    /// unsure (it can no longer tell whether it placed that address).
    #[test]
    fn a_full_memory_makes_a_new_client_unsure() {
        let mut sides = Sides::default();
        let registrar = SocketAddr::from(([192, 0, 2, 10], 5060));
        for i in 0..=Sides::SEEN_MAX as u32 {
            let other = SocketAddr::from((i.to_be_bytes(), 5060));
            let p = Payload {
                ts_us: 1,
                src: registrar,
                dst: other,
                transport: Transport::Udp,
                bytes: OK.to_vec(),
            };
            assert_eq!(sides.place(&p), None);
        }
        assert!(sides.full && !sides.unsure);
        let p = Payload {
            ts_us: 2,
            src: SocketAddr::from(([198, 51, 100, 1], 5060)),
            dst: registrar,
            transport: Transport::Udp,
            bytes: REGISTER.to_vec(),
        };
        assert_eq!(sides.place(&p), None);
        assert!(sides.unsure);
    }
}
