//! Any bytes through what `regwatch analyze` reads: format detection, the
//! three text log readers and the pcap/pcapng reader with the UDP/TCP
//! packet layer, each fed in cuts the input picks; then the messages
//! through the time stamps' clock and the engine's raw-SIP observation.
//! Never a panic, and the readers' buffers stay within their bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regwatch::capture::packets::Packets;
use regwatch::capture::pcap::{PcapReader, MAX_BLOCK};
use regwatch::capture::text::{TextReader, MAX_LINE};
use regwatch::capture::{self, Clock, Format};
use regwatch::sip::MAX_MESSAGE;
use regwatch::{Engine, EngineConfig, TrunkConfig};

/// Cut points picked by the input: pieces of 1 to 256 bytes.
fn pieces(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let step = data.first().map_or(64, |b| usize::from(*b) + 1);
    data.chunks(step)
}

fn engine() -> Engine {
    let mut e = Engine::new(EngineConfig::default(), 0, 3);
    let mut cfg = TrunkConfig::new("a");
    let _ = cfg.set("domain", "acme.sip.twilio.com");
    let _ = cfg.set("username", "alice");
    let _ = e.add_trunk(0, cfg);
    e
}

fn observe(e: &mut Engine, at: u64, bytes: &[u8]) {
    if let Ok(m) = regwatch::sip::parse(bytes) {
        let dir = capture::client_view(m.is_request());
        let _ = e.observe_message(at, dir, None, &m);
    }
    let _ = capture::is_register_request(bytes);
    while e.poll_output().is_some() {}
}

fuzz_target!(|data: &[u8]| {
    let _ = capture::detect(data);
    // One engine for the input (a trunk the messages may match).
    let mut e = engine();

    for format in [Format::Sipp, Format::Freeswitch, Format::Asterisk] {
        let mut r = TextReader::new(format).expect("a text format");
        let mut clock = Clock::default();
        let mut take = |r: &mut TextReader, e: &mut Engine| {
            while let Some(m) = r.next_message() {
                assert!(m.bytes.len() <= MAX_MESSAGE, "a message over the limit");
                let at = clock.place(m.stamp);
                observe(e, at, &m.bytes);
            }
        };
        for piece in pieces(data) {
            r.push(piece);
            take(&mut r, &mut e);
            assert!(r.buffered() <= MAX_LINE + MAX_MESSAGE + 2048, "text reader holds too much");
        }
        r.finish();
        take(&mut r, &mut e);
    }

    let mut r = PcapReader::new();
    let mut p = Packets::new();
    let mut out = Vec::new();
    let mut failed = false;
    let mut take = |r: &mut PcapReader, out: &mut Vec<_>, e: &mut Engine, failed: &mut bool| {
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
            observe(e, pl.ts_us / 1000, &pl.bytes);
        }
    };
    for piece in pieces(data) {
        r.push(piece);
        take(&mut r, &mut out, &mut e, &mut failed);
        if failed {
            break;
        }
        assert!(r.buffered() <= MAX_BLOCK + 256, "pcap reader holds too much");
    }
    if !failed {
        r.finish();
        take(&mut r, &mut out, &mut e, &mut failed);
    }
    let n = r.notes();
    assert!(n.truncated.is_none_or(|(have, need)| have < need));
});
