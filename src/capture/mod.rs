//! Captured SIP traffic, read the way `regwatch analyze` reads it: Asterisk
//! `pjsip set logger on` output, FreeSWITCH `sofia global siptrace on`,
//! SIPp `-trace_msg` message logs, and pcap / pcapng captures.
//!
//! Sans-IO, like the engine: every reader takes bytes pushed in pieces of
//! any size ([`text::TextReader`], [`pcap::PcapReader`], then
//! [`packets::Packets`] for the UDP and TCP payloads of each frame) and hands
//! back messages; the caller owns the file and the clock. Memory stays
//! bounded whatever the input: a line, a message, a pcap record or block
//! has a size limit, and what goes past it is skipped and counted, never
//! buffered. A bad record is skipped and reading goes on with the next
//! one; a truncated file gives what it holds and says so.
//!
//! Behind the `capture` feature (part of `cli`).
#![forbid(unsafe_code)]
#![deny(clippy::disallowed_methods, clippy::disallowed_types)]

pub mod packets;
pub mod pcap;
pub mod text;

use crate::core::Direction;
use crate::sip;

/// The formats `regwatch analyze` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Asterisk `pjsip set logger on` console output.
    Asterisk,
    /// FreeSWITCH `sofia global siptrace on`.
    Freeswitch,
    /// SIPp `-trace_msg` message log.
    Sipp,
    /// pcap or pcapng.
    Pcap,
}

impl Format {
    /// The name used in `analyze --json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Asterisk => "asterisk_pjsip_logger",
            Format::Freeswitch => "freeswitch_siptrace",
            Format::Sipp => "sipp_trace_msg",
            Format::Pcap => "pcap",
        }
    }
}

/// How many leading bytes [`detect`] looks at.
pub const DETECT_BYTES: usize = 1 << 20;

/// The format of a capture, from its first bytes (up to [`DETECT_BYTES`]).
pub fn detect(head: &[u8]) -> Option<Format> {
    if head.len() >= 4 {
        let magic = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        if matches!(
            magic,
            0xa1b2c3d4 | 0xd4c3b2a1 | 0xa1b23c4d | 0x4d3cb2a1 | 0x0a0d0d0a
        ) {
            return Some(Format::Pcap);
        }
    }
    let text = String::from_utf8_lossy(&head[..head.len().min(DETECT_BYTES)]);
    const SEP: &str = "   ------------------------------------------------------------------------";
    if text.contains("<--- Transmitting SIP") || text.contains("<--- Received SIP") {
        Some(Format::Asterisk)
    } else if (text.contains(" bytes to ") || text.contains(" bytes from ")) && text.contains(SEP) {
        Some(Format::Freeswitch)
    } else if text.contains("message sent") || text.contains("message received") {
        Some(Format::Sipp)
    } else {
        None
    }
}

/// The time stamp a text log gave a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stamp {
    /// None given (the format has none, or this entry lacks it).
    Absent,
    /// Something that is not a time of day (`25:00:00`, `9999999999:0:0`).
    Invalid,
    /// Milliseconds since midnight.
    At(u64),
}

impl Stamp {
    /// `hh:mm:ss[.fraction]`, checked: hours 0–23, minutes 0–59, seconds
    /// 0–60 (a leap second), digits only; the fraction is cut to
    /// milliseconds.
    pub fn parse_hms(s: &str) -> Stamp {
        parse_hms(s).map_or(Stamp::Invalid, Stamp::At)
    }
}

/// `hh:mm:ss[.fraction]` as milliseconds since midnight (see
/// [`Stamp::parse_hms`]).
pub fn parse_hms(s: &str) -> Option<u64> {
    fn number(s: &str) -> Option<u64> {
        let s = s.trim();
        if s.is_empty() || s.len() > 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    }
    let mut it = s.trim().split(':');
    let h = number(it.next()?)?;
    let m = number(it.next()?)?;
    let sec = it.next()?.trim();
    if it.next().is_some() {
        return None;
    }
    let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
    let sec = number(whole)?;
    if h > 23 || m > 59 || sec > 60 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ms = frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
    Some(((h * 60 + m) * 60 + sec) * 1000 + ms)
}

const DAY_MS: u64 = 24 * 3600 * 1000;

/// Turns the time-of-day stamps of a text log into one timeline in
/// milliseconds: a stamp more than 12 hours before the one before it is the
/// next day (a trace across midnight); a message without a usable stamp
/// takes the time of the message before it (its index in milliseconds
/// while no message had one, as for formats without times).
#[derive(Clone, Debug, Default)]
pub struct Clock {
    day: u64,
    last_of_day: Option<u64>,
    last: Option<u64>,
    index: u64,
    /// Stamps present but not a time of day.
    pub invalid: u64,
    /// Times the clock went back more than 12 hours (midnights crossed).
    pub midnights: u64,
}

impl Clock {
    /// The time of the next message, from its stamp.
    pub fn place(&mut self, stamp: Stamp) -> u64 {
        let i = self.index;
        self.index += 1;
        let t = match stamp {
            Stamp::At(ms) => {
                if self.last_of_day.is_some_and(|prev| ms + DAY_MS / 2 < prev) {
                    self.day += 1;
                    self.midnights += 1;
                }
                self.last_of_day = Some(ms);
                self.day.saturating_mul(DAY_MS).saturating_add(ms)
            }
            Stamp::Invalid => {
                self.invalid += 1;
                self.before(i)
            }
            Stamp::Absent => self.before(i),
        };
        self.last = Some(t);
        t
    }

    fn before(&self, index: u64) -> u64 {
        match (self.last_of_day, self.last) {
            (Some(_), Some(t)) => t,
            _ => index,
        }
    }
}

/// Whether the bytes are a REGISTER request (cheap for anything else).
pub fn is_register_request(b: &[u8]) -> bool {
    let start = b
        .iter()
        .position(|c| !matches!(c, b'\r' | b'\n' | b' ' | b'\t'))
        .unwrap_or(b.len());
    if !b[start..]
        .get(..8)
        .is_some_and(|m| m.eq_ignore_ascii_case(b"REGISTER"))
    {
        return false;
    }
    sip::parse(b).is_ok_and(|m| {
        m.is_request()
            && m.method()
                .is_some_and(|x| x.eq_ignore_ascii_case("REGISTER"))
    })
}

/// The direction of a message as the registering side saw it: the
/// client sends the requests (REGISTER) and receives the responses,
/// whichever side the capture was taken on (a registrar's log shows the
/// REGISTERs it received).
pub fn client_view(is_request: bool) -> Direction {
    if is_request {
        Direction::Sent
    } else {
        Direction::Received
    }
}
