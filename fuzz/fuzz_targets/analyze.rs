//! Any bytes through what `regwatch analyze` reads: format detection, the
//! three text log readers and the pcap/pcapng reader with the UDP/TCP
//! packet layer, each fed in cuts the input picks; then the messages
//! through the time stamps' clock and the engine's raw-SIP observation.
//! Never a panic, and the readers' buffers stay within their bounds.
//!
//! An input whose last byte is 0xFF stands for a long text log: the bytes
//! before it repeated to just over `MAX_LINE` (128 KiB), cut in pieces 64
//! times larger, so that a line over `MAX_LINE` and a message over
//! `MAX_MESSAGE` come from inputs of a few bytes. Of such a stream, the
//! first 16 messages of each text reader go through the parser and the
//! engine (the rest are the same messages again; the bounds are what it is
//! for). The pcap reader reads the input as it is (its limits, 256 KiB a
//! record and 16 MiB a block, are crossed by the lengths a header claims).
#![no_main]

use libfuzzer_sys::fuzz_target;
use regwatch::capture::packets::Packets;
use regwatch::capture::pcap::{PcapReader, MAX_BLOCK};
use regwatch::capture::text::{TextReader, MAX_LINE};
use regwatch::capture::{self, Clock, Format};
use regwatch::sip::MAX_MESSAGE;
use regwatch::{Engine, EngineConfig, SipObserved, TrunkConfig};
use std::cell::RefCell;

/// Cut points picked by the input: pieces of 1 to 256 bytes (64 to
/// 16384 for a repeated stream).
fn pieces(data: &[u8], scale: usize) -> impl Iterator<Item = &[u8]> {
    let step = data.first().map_or(64, |b| usize::from(*b) + 1) * scale;
    data.chunks(step)
}

/// A new engine with a trunk the messages may match, its configuration's
/// outputs drained.
fn engine() -> Engine {
    let mut e = Engine::new(EngineConfig::default(), 0, 3);
    let mut cfg = TrunkConfig::new("a");
    let _ = cfg.set("domain", "acme.sip.twilio.com");
    let _ = cfg.set("username", "alice");
    e.add_trunk(0, cfg).expect("the trunk is valid");
    while e.poll_output().is_some() {}
    e
}

/// `chunk` repeated to `n` bytes.
fn repeated(chunk: &[u8], n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        v.extend_from_slice(&chunk[..chunk.len().min(n - v.len())]);
    }
    v
}

thread_local! {
    static KEPT: RefCell<Option<Engine>> = const { RefCell::new(None) };
}

/// One message through the engine; whether it changed the engine (was
/// recorded for the trunk).
fn observe(e: &mut Engine, at: u64, bytes: &[u8]) -> bool {
    let mut touched = false;
    if let Ok(m) = regwatch::sip::parse(bytes) {
        let dir = capture::client_view(m.is_request());
        let o = e.observe_message(at, dir, None, &m);
        // (Only an observation recorded for a trunk moves the clock.)
        touched = !matches!(o, SipObserved::NotRegistration | SipObserved::Unmatched);
    }
    let _ = capture::is_register_request(bytes);
    while e.poll_output().is_some() {}
    touched
}

fuzz_target!(|input: &[u8]| {
    let long;
    let (data, scale) = match input.split_last() {
        Some((0xff, rest)) if !rest.is_empty() => {
            let n = MAX_LINE + 1 + rest.len();
            long = repeated(rest, n);
            (&long[..], 64)
        }
        _ => (input, 1),
    };
    // How many messages of each text reader go through the parser and engine.
    let budget = if scale > 1 { 16 } else { usize::MAX };
    let _ = capture::detect(data);
    // One engine for the input (a trunk the messages may match): kept for
    // the next input when no message was recorded for the trunk (building
    // and validating the trunk costs more than most inputs; an engine that
    // nothing changed is the same as a new one).
    let mut e = KEPT.with(|k| k.borrow_mut().take()).unwrap_or_else(engine);
    let mut touched = false;

    for format in [Format::Sipp, Format::Freeswitch, Format::Asterisk] {
        let mut r = TextReader::new(format).expect("a text format");
        let mut clock = Clock::default();
        let mut left = budget;
        let mut take = |r: &mut TextReader, e: &mut Engine, touched: &mut bool| {
            while let Some(m) = r.next_message() {
                assert!(m.bytes.len() <= MAX_MESSAGE, "a message over the limit");
                let at = clock.place(m.stamp);
                if left > 0 {
                    left -= 1;
                    *touched |= observe(e, at, &m.bytes);
                }
            }
        };
        for piece in pieces(data, scale) {
            r.push(piece);
            take(&mut r, &mut e, &mut touched);
            assert!(
                r.buffered() <= MAX_LINE + MAX_MESSAGE + 2048,
                "text reader holds too much"
            );
        }
        r.finish();
        take(&mut r, &mut e, &mut touched);
    }

    let mut r = PcapReader::new();
    let mut p = Packets::new();
    let mut out = Vec::new();
    let mut failed = false;
    let mut take =
        |r: &mut PcapReader, out: &mut Vec<_>, e: &mut Engine, failed: &mut bool| -> bool {
            let mut touched = false;
            loop {
                match r.next_frame() {
                    Ok(Some(f)) => p.frame(&f, out),
                    Ok(None) => break,
                    Err(_) => {
                        *failed = true;
                        break;
                    }
                }
            }
            for pl in out.drain(..) {
                let pl: capture::packets::Payload = pl;
                touched |= observe(e, pl.ts_us / 1000, &pl.bytes);
            }
            touched
        };
    for piece in pieces(input, 1) {
        r.push(piece);
        touched |= take(&mut r, &mut out, &mut e, &mut failed);
        if failed {
            break;
        }
        assert!(
            r.buffered() <= MAX_BLOCK + 256,
            "pcap reader holds too much"
        );
    }
    if !failed {
        r.finish();
        touched |= take(&mut r, &mut out, &mut e, &mut failed);
    }
    let n = r.notes();
    assert!(n.truncated.is_none_or(|(have, need)| have < need));
    if !touched {
        KEPT.with(|k| *k.borrow_mut() = Some(e));
    }
});
