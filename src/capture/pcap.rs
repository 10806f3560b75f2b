//! pcap and pcapng records from bytes pushed in any cuts.
//!
//! One bad record does not end the reading. A record (pcap) or block
//! (pcapng) whose own fields are wrong but whose length can be trusted is
//! skipped; one whose length cannot be trusted (over [`MAX_RECORD`] or
//! [`MAX_BLOCK`], a pcapng trailer that does not repeat the length) is
//! skipped by searching the following bytes for the next place where a
//! record header, and the one after that record, make sense. Every skip is
//! counted in [`PcapNotes`]; a file that ends inside a record is
//! reported as truncated, with what it held before.
//!
//! Held in memory: what was pushed and not yet read, plus at most one
//! record or block (and, while searching, the next one's header).

/// The largest pcap record (libpcap's own limit on a snapshot length).
pub const MAX_RECORD: usize = 256 * 1024;
/// The largest pcapng block.
pub const MAX_BLOCK: usize = 16 * 1024 * 1024;

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const PB: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;
/// Block types that a search for the next good block accepts.
const KNOWN_BLOCKS: [u32; 7] = [SHB, IDB, PB, SPB, 4, 5, EPB];

/// One captured frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Capture time, microseconds since the epoch.
    pub ts_us: u64,
    /// The link type (1 Ethernet, 113 Linux cooked, 101 raw IP, ...).
    pub linktype: u32,
    /// The bytes captured.
    pub data: &'a [u8],
}

/// Why the file cannot be read at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PcapError {
    /// Neither a pcap nor a pcapng header.
    NotPcap,
    /// The file ends inside its header.
    Truncated,
}

impl std::fmt::Display for PcapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PcapError::NotPcap => "not a pcap or pcapng file",
            PcapError::Truncated => "the file ends inside its pcap header",
        })
    }
}

impl std::error::Error for PcapError {}

/// What was skipped, and whether the file ended early.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PcapNotes {
    /// Frames read.
    pub frames: u64,
    /// Records or blocks skipped as bad.
    pub bad_records: u64,
    /// Bytes passed over while searching for the next good record.
    pub skipped_bytes: u64,
    /// Why the first bad record was bad.
    pub first_bad: Option<&'static str>,
    /// The file ends inside a record: `(bytes present, bytes the record
    /// needs)`.
    pub truncated: Option<(u64, u64)>,
}

impl PcapNotes {
    fn bad(&mut self, why: &'static str) {
        self.bad_records += 1;
        self.first_bad.get_or_insert(why);
    }
}

#[derive(Clone, Copy, Debug)]
struct Interface {
    linktype: u32,
    /// Time stamp units per second.
    units: u64,
    /// Seconds added to every time stamp.
    offset_s: i64,
}

#[derive(Clone, Debug)]
enum Kind {
    /// The header is not read yet.
    Unknown,
    Classic {
        big: bool,
        nanos: bool,
        linktype: u32,
        last_sec: Option<u32>,
    },
    Ng {
        big: bool,
        interfaces: Vec<Interface>,
        last_us: u64,
    },
}

/// A pcap / pcapng reader fed bytes.
#[derive(Debug)]
pub struct PcapReader {
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    kind: Kind,
    /// Searching for the next good record from `pos`.
    searching: bool,
    notes: PcapNotes,
}

impl Default for PcapReader {
    fn default() -> Self {
        PcapReader::new()
    }
}

fn u16_at(b: &[u8], at: usize, big: bool) -> u16 {
    let v = [b[at], b[at + 1]];
    if big {
        u16::from_be_bytes(v)
    } else {
        u16::from_le_bytes(v)
    }
}

fn u32_at(b: &[u8], at: usize, big: bool) -> u32 {
    let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if big {
        u32::from_be_bytes(v)
    } else {
        u32::from_le_bytes(v)
    }
}

/// A classic record header: `(seconds, fraction, captured, original)`.
fn classic_header(b: &[u8], big: bool) -> (u32, u32, usize, usize) {
    (
        u32_at(b, 0, big),
        u32_at(b, 4, big),
        u32_at(b, 8, big) as usize,
        u32_at(b, 12, big) as usize,
    )
}

/// Seconds: a record this far in time from the one before it is checked
/// against the record after it before it is believed.
const WEEK: u32 = 7 * 24 * 3600;

/// Whether a classic record header can be believed on its own: lengths
/// and fraction of a second in range, and not all zeros (padding).
fn classic_plausible(h: (u32, u32, usize, usize), nanos: bool) -> bool {
    let (sec, frac, incl, orig) = h;
    let frac_max = if nanos { 1_000_000_000 } else { 1_000_000 };
    incl <= MAX_RECORD && frac < frac_max && (sec, frac, incl, orig) != (0, 0, 0, 0)
}

/// Stricter, for a header found by searching or one that must vouch for
/// the record before it: something captured, no more than the original
/// length, within a week of `near` seconds when given.
fn classic_convincing(h: (u32, u32, usize, usize), nanos: bool, near: Option<u32>) -> bool {
    let (sec, _, incl, orig) = h;
    classic_plausible(h, nanos)
        && incl > 0
        && orig >= incl
        && orig <= 16 * MAX_RECORD
        && near.is_none_or(|n| sec.abs_diff(n) <= WEEK)
}

/// Whether the record whose header is at the start of `b` is followed by a
/// convincing header (or by the end of the file, `eof`): `None` when more
/// bytes are needed to tell.
fn classic_followed(b: &[u8], big: bool, nanos: bool, eof: bool) -> Option<bool> {
    let h = classic_header(b, big);
    let next = 16 + h.2;
    if b.len() < next + 16 {
        // At the end of the file the record must be whole.
        return eof.then_some(b.len() >= next);
    }
    Some(classic_convincing(
        classic_header(&b[next..], big),
        nanos,
        Some(h.0),
    ))
}

impl PcapReader {
    /// A reader waiting for the file's first bytes.
    pub fn new() -> PcapReader {
        PcapReader {
            buf: Vec::new(),
            pos: 0,
            eof: false,
            kind: Kind::Unknown,
            searching: false,
            notes: PcapNotes::default(),
        }
    }

    /// What was skipped so far.
    pub fn notes(&self) -> &PcapNotes {
        &self.notes
    }

    /// Bytes held: what was pushed and not yet read.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Appends bytes of the file. Read the frames with
    /// [`next_frame`](Self::next_frame) before pushing more.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// No more bytes.
    pub fn finish(&mut self) {
        self.eof = true;
    }

    /// The next frame; `Ok(None)` when more bytes are needed (or, after
    /// [`finish`](Self::finish), at the end). An error only when the file
    /// is not a capture at all.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, PcapError> {
        if matches!(self.kind, Kind::Unknown) && !self.header()? {
            return Ok(None);
        }
        let found = match self.kind {
            Kind::Classic { .. } => self.classic(),
            _ => self.ng(),
        };
        Ok(found.map(|(ts_us, linktype, a, b)| Frame {
            ts_us,
            linktype,
            data: &self.buf[a..b],
        }))
    }

    /// Reads the file header; whether it is read.
    fn header(&mut self) -> Result<bool, PcapError> {
        let b = &self.buf[self.pos..];
        if b.len() < 4 {
            return if self.eof {
                Err(if b.is_empty() {
                    PcapError::NotPcap
                } else {
                    PcapError::Truncated
                })
            } else {
                Ok(false)
            };
        }
        let magic = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let (big, nanos) = match magic {
            SHB => {
                // pcapng: the first block is read as any other.
                self.kind = Kind::Ng {
                    big: false,
                    interfaces: Vec::new(),
                    last_us: 0,
                };
                return Ok(true);
            }
            0xa1b2_c3d4 => (false, false),
            0xd4c3_b2a1 => (true, false),
            0xa1b2_3c4d => (false, true),
            0x4d3c_b2a1 => (true, true),
            _ => return Err(PcapError::NotPcap),
        };
        if b.len() < 24 {
            return if self.eof {
                Err(PcapError::Truncated)
            } else {
                Ok(false)
            };
        }
        // The link type is the low 16 bits; the high ones carry FCS facts.
        let linktype = u32_at(b, 20, big) & 0xffff;
        self.pos += 24;
        self.kind = Kind::Classic {
            big,
            nanos,
            linktype,
            last_sec: None,
        };
        Ok(true)
    }

    /// The next classic record: `(time, link type, data range)`.
    fn classic(&mut self) -> Option<(u64, u32, usize, usize)> {
        let Kind::Classic {
            big,
            nanos,
            linktype,
            last_sec,
        } = self.kind
        else {
            return None;
        };
        loop {
            let b = &self.buf[self.pos..];
            if self.searching {
                if b.len() < 16 {
                    return self.out_of_bytes(None);
                }
                let found = classic_convincing(classic_header(b, big), nanos, None)
                    && classic_followed(b, big, nanos, self.eof)?;
                if !found {
                    self.pos += 1;
                    self.notes.skipped_bytes += 1;
                    continue;
                }
                self.searching = false;
            }
            let b = &self.buf[self.pos..];
            if b.len() < 16 {
                return self.out_of_bytes(Some(16));
            }
            let h = classic_header(b, big);
            let (sec, frac, incl, _) = h;
            // A header far in time from the record before it (a few bytes
            // of garbage shift every field) must be vouched for by the
            // record after it.
            let jump = last_sec.is_some_and(|l| sec.abs_diff(l) > WEEK);
            let believed = classic_plausible(h, nanos)
                && (!jump || classic_followed(b, big, nanos, self.eof)?);
            if !believed {
                self.notes.bad(if incl > MAX_RECORD {
                    "a record longer than 256 KiB"
                } else if frac >= if nanos { 1_000_000_000 } else { 1_000_000 } {
                    "a time stamp with a fraction of a second over one second"
                } else {
                    "a record header that does not fit the records around it"
                });
                self.searching = true;
                self.pos += 1;
                self.notes.skipped_bytes += 1;
                continue;
            }
            if b.len() < 16 + incl {
                return self.out_of_bytes(Some(16 + incl));
            }
            let a = self.pos + 16;
            self.pos = a + incl;
            self.notes.frames += 1;
            if let Kind::Classic { last_sec, .. } = &mut self.kind {
                *last_sec = Some(sec);
            }
            let sub_us = if nanos {
                u64::from(frac) / 1000
            } else {
                u64::from(frac)
            };
            return Some((u64::from(sec) * 1_000_000 + sub_us, linktype, a, a + incl));
        }
    }

    /// No whole record in the buffer: wait for more, or at the end of the
    /// file note what was left (`need`: the bytes the record needs, if
    /// known).
    fn out_of_bytes<T>(&mut self, need: Option<usize>) -> Option<T> {
        if !self.eof {
            return None;
        }
        let left = self.buf.len() - self.pos;
        if left > 0 {
            if self.searching {
                self.notes.skipped_bytes += left as u64;
            } else {
                let need = need.unwrap_or(left).max(left + 1);
                self.notes.truncated = Some((left as u64, need as u64));
            }
            self.pos = self.buf.len();
        }
        None
    }

    /// The next pcapng packet: `(time, link type, data range)`.
    fn ng(&mut self) -> Option<(u64, u32, usize, usize)> {
        loop {
            let Kind::Ng { big, .. } = self.kind else {
                return None;
            };
            let b = &self.buf[self.pos..];
            if b.len() < 12 {
                return self.out_of_bytes(if self.searching { None } else { Some(12) });
            }
            let kind = u32_at(b, 0, big);
            // A section header says its own byte order.
            let big = if kind == SHB {
                match u32_at(b, 8, false) {
                    0x1A2B_3C4D => false,
                    0x4D3C_2B1A => true,
                    _ => {
                        if !self.searching {
                            self.notes
                                .bad("a section header with a bad byte-order magic");
                            self.searching = true;
                        }
                        self.pos += 1;
                        self.notes.skipped_bytes += 1;
                        continue;
                    }
                }
            } else {
                big
            };
            let len = u32_at(b, 4, big) as usize;
            let sane = len >= 12 && len % 4 == 0 && len <= MAX_BLOCK;
            if self.searching && !(sane && KNOWN_BLOCKS.contains(&kind)) {
                self.pos += 1;
                self.notes.skipped_bytes += 1;
                continue;
            }
            if !sane {
                self.notes
                    .bad("a block length that is not a multiple of 4 or over 16 MiB");
                self.searching = true;
                self.pos += 1;
                self.notes.skipped_bytes += 1;
                continue;
            }
            if b.len() < len {
                if self.searching && self.eof {
                    self.pos += 1;
                    self.notes.skipped_bytes += 1;
                    continue;
                }
                return self.out_of_bytes(Some(len));
            }
            if u32_at(b, len - 4, big) as usize != len {
                if !self.searching {
                    self.notes
                        .bad("a block whose trailing length differs from its length");
                    self.searching = true;
                }
                self.pos += 1;
                self.notes.skipped_bytes += 1;
                continue;
            }
            self.searching = false;
            let start = self.pos;
            self.pos += len;
            if let Some(found) = self.ng_block(kind, big, start + 8, start + len - 4) {
                return Some(found);
            }
        }
    }

    /// One well-framed block (body in `a..b`): a packet, or state.
    fn ng_block(
        &mut self,
        kind: u32,
        big: bool,
        a: usize,
        b: usize,
    ) -> Option<(u64, u32, usize, usize)> {
        let Kind::Ng {
            big: order,
            interfaces,
            last_us,
        } = &mut self.kind
        else {
            return None;
        };
        let body = &self.buf[a..b];
        match kind {
            SHB => {
                *order = big;
                interfaces.clear();
                None
            }
            IDB => {
                if body.len() < 8 {
                    self.notes
                        .bad("an interface description shorter than its fields");
                    return None;
                }
                let mut i = Interface {
                    linktype: u32::from(u16_at(body, 0, big)),
                    units: 1_000_000,
                    offset_s: 0,
                };
                for (code, value) in options(&body[8..], big) {
                    match (code, value.len()) {
                        // if_tsresol: 10^-v, or 2^-v with the high bit.
                        (9, 1) => {
                            let v = value[0];
                            let units = if v & 0x80 == 0 {
                                10u64.checked_pow(u32::from(v))
                            } else {
                                1u64.checked_shl(u32::from(v & 0x7f))
                                    .filter(|_| v & 0x7f < 64)
                            };
                            match units {
                                Some(u) if u > 0 => i.units = u,
                                _ => self.notes.bad("an interface time resolution out of range"),
                            }
                        }
                        // if_tsoffset: seconds.
                        (14, 8) => {
                            let mut v = [0u8; 8];
                            v.copy_from_slice(value);
                            i.offset_s = if big {
                                i64::from_be_bytes(v)
                            } else {
                                i64::from_le_bytes(v)
                            };
                        }
                        _ => {}
                    }
                }
                interfaces.push(i);
                None
            }
            EPB | PB => {
                if body.len() < 20 {
                    self.notes.bad("a packet block shorter than its fields");
                    return None;
                }
                let iface = if kind == EPB {
                    u32_at(body, 0, big) as usize
                } else {
                    usize::from(u16_at(body, 0, big))
                };
                let ts = (u64::from(u32_at(body, 4, big)) << 32) | u64::from(u32_at(body, 8, big));
                let caplen = u32_at(body, 12, big) as usize;
                if caplen > body.len() - 20 {
                    self.notes.bad("a packet longer than its block");
                    return None;
                }
                let Some(i) = interfaces.get(iface).copied() else {
                    self.notes.bad("a packet on an interface never described");
                    return None;
                };
                let us = (u128::from(ts) * 1_000_000 / u128::from(i.units)) as i128
                    + i128::from(i.offset_s) * 1_000_000;
                let us = u64::try_from(us.max(0)).unwrap_or(u64::MAX);
                *last_us = us;
                self.notes.frames += 1;
                Some((us, i.linktype, a + 20, a + 20 + caplen))
            }
            SPB => {
                if body.len() < 4 {
                    self.notes
                        .bad("a simple packet block shorter than its fields");
                    return None;
                }
                let Some(i) = interfaces.first().copied() else {
                    self.notes.bad("a packet on an interface never described");
                    return None;
                };
                let orig = u32_at(body, 0, big) as usize;
                let caplen = orig.min(body.len() - 4);
                self.notes.frames += 1;
                // No time stamp: the time of the packet before.
                Some((*last_us, i.linktype, a + 4, a + 4 + caplen))
            }
            _ => None,
        }
    }
}

/// The options of a pcapng block: `(code, value)`, up to `opt_endofopt`
/// or the first one that does not fit.
fn options(mut b: &[u8], big: bool) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let code = u16_at(b, 0, big);
        let len = usize::from(u16_at(b, 2, big));
        if code == 0 {
            break;
        }
        let padded = (len + 3) & !3;
        let Some(value) = b.get(4..4 + len) else {
            break;
        };
        out.push((code, value));
        b = b.get(4 + padded..).unwrap_or(&[]);
    }
    out
}
