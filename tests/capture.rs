//! The capture readers (`regwatch::capture`) on their own: the same
//! messages whatever the cuts the bytes come in, bounded buffers on
//! endless lines, pcap records found again after garbage, truncation
//! reported, time stamps checked, midnight crossed, TCP retransmissions
//! dropped.
#![cfg(feature = "capture")]

use regwatch::capture::packets::{Packets, Payload};
use regwatch::capture::pcap::{PcapReader, MAX_RECORD};
use regwatch::capture::text::{TextMessage, TextReader, MAX_LINE};
use regwatch::capture::{self, parse_hms, Clock, Format, Stamp};
use regwatch::sip::MAX_MESSAGE;
use regwatch::Transport;

const EX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/analyze");

fn shipped(name: &str) -> Vec<u8> {
    std::fs::read(format!("{EX}/{name}")).unwrap()
}

/// Every message of a text log pushed in pieces of `cut` bytes.
fn text_messages(format: Format, bytes: &[u8], cut: usize) -> Vec<TextMessage> {
    let mut r = TextReader::new(format).unwrap();
    let mut out = Vec::new();
    for piece in bytes.chunks(cut.max(1)) {
        r.push(piece);
        while let Some(m) = r.next_message() {
            out.push(m);
        }
    }
    r.finish();
    while let Some(m) = r.next_message() {
        out.push(m);
    }
    out
}

#[test]
fn text_logs_read_the_same_in_any_cuts() {
    for (name, format) in [
        ("sipp-register-ok.log", Format::Sipp),
        ("freeswitch-siptrace.txt", Format::Freeswitch),
        ("asterisk-pjsip-logger.txt", Format::Asterisk),
    ] {
        let bytes = shipped(name);
        assert_eq!(capture::detect(&bytes), Some(format), "{name}");
        let whole = text_messages(format, &bytes, bytes.len());
        assert_eq!(whole.len(), 4, "{name}");
        for (m, request) in whole.iter().zip([true, false, true, false]) {
            let parsed = regwatch::sip::parse(&m.bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(parsed.is_request(), request, "{name}");
            assert_eq!(m.transport, Some(Transport::Udp), "{name}");
        }
        for cut in [1, 2, 3, 7, 64, 1000] {
            assert_eq!(
                text_messages(format, &bytes, cut),
                whole,
                "{name}, cut {cut}"
            );
        }
    }
}

#[test]
fn an_endless_line_is_skipped_with_bounded_memory() {
    for (format, name) in [
        (Format::Sipp, "sipp-register-ok.log"),
        (Format::Freeswitch, "freeswitch-siptrace.txt"),
        (Format::Asterisk, "asterisk-pjsip-logger.txt"),
    ] {
        let mut r = TextReader::new(format).unwrap();
        let chunk = vec![b'x'; 64 * 1024];
        let mut most = 0;
        for _ in 0..160 {
            // 10 MiB without a line feed.
            r.push(&chunk);
            assert!(r.next_message().is_none());
            most = most.max(r.buffered());
        }
        assert!(
            most <= MAX_LINE + MAX_MESSAGE + chunk.len(),
            "{format:?} held {most} bytes"
        );
        r.push(b"\n");
        // A good log after it is read as usual.
        r.push(&shipped(name));
        r.finish();
        let mut n = 0;
        while r.next_message().is_some() {
            n += 1;
        }
        assert_eq!(n, 4, "{format:?}");
        // SIPp is read block by block: the junk is a block without a
        // message, ignored as any text before the first block.
        let long = if format == Format::Sipp { 0 } else { 1 };
        assert_eq!(r.notes().long_lines, long, "{format:?}");
    }
}

#[test]
fn a_huge_message_is_cut_to_the_limit() {
    let mut log = b"----------------------------------------------- 2026-11-24 20:04:31.219438\n\
                    UDP message sent (9 bytes):\n\nREGISTER sip:a SIP/2.0\r\n"
        .to_vec();
    for _ in 0..20_000 {
        log.extend_from_slice(b"X-Pad: 0123456789abcdef\r\n");
    }
    let msgs = text_messages(Format::Sipp, &log, 4096);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].bytes.len(), MAX_MESSAGE);
}

#[test]
fn time_stamps_are_checked() {
    assert_eq!(parse_hms("20:04:31.219438"), Some(72_271_219));
    assert_eq!(parse_hms(" 0:0:0 "), Some(0));
    assert_eq!(parse_hms("23:59:60.999"), Some(86_400_999));
    // f64 would make this 1000.
    assert_eq!(parse_hms("00:00:01.001"), Some(1001));
    for bad in [
        "24:00:00",
        "23:60:00",
        "23:59:61",
        "18446744073709551615:00:00",
        "99999999999999999999:0:0",
        "1:2",
        "1:2:3:4",
        "a:b:c",
        "-1:00:00",
        "01:02:03.x",
        "",
    ] {
        assert_eq!(parse_hms(bad), None, "{bad}");
        assert_eq!(Stamp::parse_hms(bad), Stamp::Invalid, "{bad}");
    }
}

#[test]
fn the_clock_crosses_midnight_and_skips_bad_stamps() {
    let mut c = Clock::default();
    let h = |s| Stamp::parse_hms(s);
    assert_eq!(c.place(h("23:59:59.000")), 86_399_000);
    assert_eq!(c.place(Stamp::Invalid), 86_399_000);
    assert_eq!(c.place(h("00:00:01.000")), 86_401_000);
    assert_eq!(c.place(Stamp::Absent), 86_401_000);
    // A little backwards is not a new day.
    assert_eq!(c.place(h("00:00:00.500")), 86_400_500);
    assert_eq!((c.midnights, c.invalid), (1, 1));
    // Without any stamp: the message's index, as before.
    let mut c = Clock::default();
    assert_eq!([c.place(Stamp::Absent), c.place(Stamp::Absent)], [0, 1]);
}

/// A classic pcap (Ethernet, microseconds) of UDP datagrams.
fn pcap(packets: &[(u32, &[u8])]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    b.extend_from_slice(&[2, 0, 4, 0]);
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&65_535u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    for (i, (sec, payload)) in packets.iter().enumerate() {
        let f = udp_frame(payload, 5060 + i as u16);
        b.extend_from_slice(&sec.to_le_bytes());
        b.extend_from_slice(&(i as u32).to_le_bytes());
        b.extend_from_slice(&(f.len() as u32).to_le_bytes());
        b.extend_from_slice(&(f.len() as u32).to_le_bytes());
        b.extend_from_slice(&f);
    }
    b
}

fn udp_frame(payload: &[u8], sport: u16) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0];
    let ip_len = (20 + 8 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&ip_len.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&5060u16.to_be_bytes());
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

/// (time, payload) of every UDP datagram, the bytes pushed `cut` at a
/// time; and the reader's notes.
fn frames(bytes: &[u8], cut: usize) -> (Vec<(u64, Vec<u8>)>, regwatch::capture::pcap::PcapNotes) {
    let mut r = PcapReader::new();
    let mut p = Packets::new();
    let mut out: Vec<Payload> = Vec::new();
    let mut drain = |r: &mut PcapReader, out: &mut Vec<Payload>| {
        while let Some(f) = r.next_frame().unwrap() {
            p.frame(&f, out);
        }
    };
    for piece in bytes.chunks(cut.max(1)) {
        r.push(piece);
        drain(&mut r, &mut out);
    }
    r.finish();
    drain(&mut r, &mut out);
    let got = out.into_iter().map(|p| (p.ts_us, p.bytes)).collect();
    (got, r.notes().clone())
}

const MSGS: [&[u8]; 4] = [
    b"REGISTER sip:a.example SIP/2.0\r\nCall-ID: 1\r\n\r\n",
    b"SIP/2.0 407 Proxy Authentication Required\r\nCall-ID: 1\r\n\r\n",
    b"REGISTER sip:a.example SIP/2.0\r\nCall-ID: 1\r\nCSeq: 2 REGISTER\r\n\r\n",
    b"SIP/2.0 200 OK\r\nCall-ID: 1\r\n\r\n",
];

fn four() -> Vec<(u32, &'static [u8])> {
    MSGS.iter()
        .enumerate()
        .map(|(i, m)| (1_700_000_000 + i as u32, *m))
        .collect()
}

#[test]
fn pcap_reads_the_same_in_any_cuts() {
    let b = pcap(&four());
    let (whole, notes) = frames(&b, b.len());
    assert_eq!(whole.len(), 4);
    assert_eq!(whole[1], (1_700_000_001_000_001, MSGS[1].to_vec()));
    assert_eq!(
        (notes.frames, notes.bad_records, notes.truncated),
        (4, 0, None)
    );
    for cut in [1, 5, 16, 100] {
        assert_eq!(frames(&b, cut).0, whole, "cut {cut}");
    }
}

/// The offsets of the records of `pcap(&four())`.
fn record_offsets(b: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut p = 24;
    while p < b.len() {
        out.push(p);
        p += 16 + u32::from_le_bytes(b[p + 8..p + 12].try_into().unwrap()) as usize;
    }
    out
}

#[test]
fn pcap_finds_the_next_record_after_garbage() {
    let good = pcap(&four());
    let at = record_offsets(&good);
    for junk in [1usize, 3, 16, 100, 5000] {
        for fill in [0x00u8, 0xff, 0x41] {
            let mut b = good[..at[2]].to_vec();
            b.extend(std::iter::repeat_n(fill, junk));
            b.extend_from_slice(&good[at[2]..]);
            let (got, notes) = frames(&b, 7);
            let payloads: Vec<&[u8]> = got.iter().map(|g| g.1.as_slice()).collect();
            assert_eq!(payloads, MSGS, "junk {junk} of {fill:#x}");
            assert_eq!(notes.bad_records, 1, "junk {junk} of {fill:#x}: {notes:?}");
            assert_eq!(notes.skipped_bytes, junk as u64, "junk {junk} of {fill:#x}");
        }
    }
}

#[test]
fn a_clock_set_during_the_capture_is_believed() {
    // A device that booted in 1970 and got its time from NTP mid-capture:
    // the record after the jump vouches for it.
    let msgs: Vec<(u32, &[u8])> = vec![
        (100, MSGS[0]),
        (101, MSGS[1]),
        (1_700_000_000, MSGS[2]),
        (1_700_000_001, MSGS[3]),
    ];
    let (got, notes) = frames(&pcap(&msgs), 1000);
    assert_eq!(got.len(), 4);
    assert_eq!(notes.bad_records, 0);
    // Even as the last record of the file.
    let (got, notes) = frames(&pcap(&msgs[..3]), 1000);
    assert_eq!((got.len(), notes.bad_records), (3, 0));
}

#[test]
fn a_record_too_long_to_believe_is_skipped() {
    let mut b = pcap(&four());
    let at = record_offsets(&b);
    let p = at[1];
    b[p + 8..p + 12].copy_from_slice(&(MAX_RECORD as u32 + 1).to_le_bytes());
    let (got, notes) = frames(&b, 1000);
    let payloads: Vec<&[u8]> = got.iter().map(|g| g.1.as_slice()).collect();
    assert_eq!(payloads, [MSGS[0], MSGS[2], MSGS[3]]);
    assert_eq!(notes.bad_records, 1);
    assert_eq!(notes.first_bad, Some("a record longer than 256 KiB"));

    // A fraction of a second over a second: the record header is not
    // trusted either.
    let mut b = pcap(&four());
    b[p + 4..p + 8].copy_from_slice(&2_000_000u32.to_le_bytes());
    let (got, notes) = frames(&b, 1000);
    assert_eq!(got.len(), 3);
    assert_eq!(notes.bad_records, 1);
}

#[test]
fn a_truncated_pcap_says_where_it_ends() {
    let b = pcap(&four());
    let at = record_offsets(&b);
    let total = b.len() - at[3];
    for end in [at[3] + 1, at[3] + 15, at[3] + 16, b.len() - 1] {
        let (got, notes) = frames(&b[..end], 13);
        assert_eq!(got.len(), 3, "end {end}");
        let (have, need) = notes
            .truncated
            .unwrap_or_else(|| panic!("end {end}: {notes:?}"));
        assert_eq!(have, (end - at[3]) as u64);
        assert!(
            need > have && need as usize <= total.max(16),
            "{have}/{need}"
        );
    }
    // Only a header, or not even that.
    assert!(frames(&b[..24], 5).0.is_empty());
    let mut r = PcapReader::new();
    r.push(&b[..10]);
    r.finish();
    assert!(r.next_frame().is_err());
    let mut r = PcapReader::new();
    r.push(b"GET / HTTP/1.1\r\n");
    assert!(r.next_frame().is_err());
}

#[test]
fn pcapng_resolution_and_bad_blocks() {
    // SHB, IDB with if_tsresol = 9 (nanoseconds), one EPB, a block with a
    // wrong trailer, another EPB.
    fn block(kind: u32, body: &[u8], trailer: Option<u32>) -> Vec<u8> {
        let mut body = body.to_vec();
        while body.len() % 4 != 0 {
            body.push(0);
        }
        let len = 12 + body.len() as u32;
        let mut b = kind.to_le_bytes().to_vec();
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(&body);
        b.extend_from_slice(&trailer.unwrap_or(len).to_le_bytes());
        b
    }
    fn epb(ts: u64, frame: &[u8]) -> Vec<u8> {
        let mut b = 0u32.to_le_bytes().to_vec();
        b.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        b.extend_from_slice(&(ts as u32).to_le_bytes());
        b.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        b.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        b.extend_from_slice(frame);
        b
    }
    let mut shb = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    let mut idb = vec![1, 0, 0, 0];
    idb.extend_from_slice(&0u32.to_le_bytes());
    idb.extend_from_slice(&[9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0]);
    let mut b = block(0x0A0D_0D0A, &shb, None);
    b.extend(block(1, &idb, None));
    b.extend(block(
        6,
        &epb(1_700_000_000_123_456_789, &udp_frame(MSGS[0], 1)),
        None,
    ));
    b.extend(block(
        6,
        &epb(1_700_000_001_000_000_000, &udp_frame(MSGS[1], 2)),
        Some(4),
    ));
    b.extend(block(
        6,
        &epb(1_700_000_002_000_000_000, &udp_frame(MSGS[2], 3)),
        None,
    ));
    assert_eq!(capture::detect(&b), Some(Format::Pcap));
    for cut in [1, 9, 4096] {
        let (got, notes) = frames(&b, cut);
        assert_eq!(got.len(), 2, "cut {cut}");
        assert_eq!(got[0], (1_700_000_000_123_456, MSGS[0].to_vec()));
        assert_eq!(got[1].1, MSGS[2]);
        assert_eq!(notes.bad_records, 1, "{notes:?}");
        assert_eq!(
            notes.first_bad,
            Some("a block whose trailing length differs from its length")
        );
    }
    // A packet on an interface nobody described is counted, not trusted.
    let mut b2 = block(0x0A0D_0D0A, &shb, None);
    b2.extend(block(6, &epb(1, &udp_frame(MSGS[0], 1)), None));
    let (got, notes) = frames(&b2, 100);
    assert!(got.is_empty());
    assert_eq!(notes.bad_records, 1);
}

#[test]
fn tcp_retransmissions_are_dropped_and_streams_framed() {
    fn tcp_frame(seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0];
        let ip_len = (20 + 20 + payload.len()) as u16;
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&ip_len.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 0, 64, 6, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
        f.extend_from_slice(&40000u16.to_be_bytes());
        f.extend_from_slice(&5060u16.to_be_bytes());
        f.extend_from_slice(&seq.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend_from_slice(payload);
        f
    }
    let a = b"REGISTER sip:a.example SIP/2.0\r\nCall-ID: 1\r\nContent-Length: 0\r\n\r\n";
    let b = b"REGISTER sip:a.example SIP/2.0\r\nCall-ID: 2\r\nContent-Length: 0\r\n\r\n";
    let seq0 = u32::MAX - 20; // wraps inside the stream
    let mut stream = a.to_vec();
    stream.extend_from_slice(b);
    let (x, y) = stream.split_at(30);
    let (y, z) = y.split_at(50);
    let mut p = Packets::new();
    let mut out = Vec::new();
    let segs: Vec<(u32, &[u8])> = vec![
        (seq0, x),
        (seq0, x), // retransmitted
        (seq0.wrapping_add(30), y),
        (seq0.wrapping_add(20), &stream[20..80]), // overlaps what was seen
        (seq0.wrapping_add(80), z),
        (seq0.wrapping_add(80), z),
    ];
    for (seq, data) in segs {
        let f = tcp_frame(seq, data);
        let frame = regwatch::capture::pcap::Frame {
            ts_us: 1,
            linktype: 1,
            data: &f,
        };
        p.frame(&frame, &mut out);
    }
    let got: Vec<&[u8]> = out.iter().map(|p| p.bytes.as_slice()).collect();
    assert_eq!(got, [&a[..], &b[..]]);
    assert!(out.iter().all(|p| p.transport == Transport::Tcp));
    assert_eq!(p.flows(), 1);
}

/// Each message of a text log says the line its entry starts on; a
/// message whose log dropped the blank line after its headers is read as
/// ending there, and counted.
#[test]
fn text_messages_carry_their_line_and_tolerate_a_missing_blank_line() {
    let bytes = shipped("asterisk-pjsip-logger.txt");
    let whole = text_messages(Format::Asterisk, &bytes, bytes.len());
    let text = String::from_utf8(bytes.clone()).unwrap();
    let marks: Vec<u64> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("<--- "))
        .map(|(i, _)| i as u64 + 1)
        .collect();
    assert_eq!(whole.iter().map(|m| m.line).collect::<Vec<_>>(), marks);
    let sipp = shipped("sipp-register-ok.log");
    let seps: Vec<u64> = String::from_utf8(sipp.clone())
        .unwrap()
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("-----------------------------------------------"))
        .map(|(i, _)| i as u64 + 1)
        .collect();
    for cut in [1, 5, 4096] {
        let got: Vec<u64> = text_messages(Format::Sipp, &sipp, cut)
            .iter()
            .map(|m| m.line)
            .collect();
        assert_eq!(got, seps, "cut {cut}");
    }
    // Every blank line dropped, as a trimmed copy of the log would.
    let trimmed: String = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    let mut r = TextReader::new(Format::Asterisk).unwrap();
    r.push(trimmed.as_bytes());
    r.finish();
    let mut n = 0;
    while let Some(m) = r.next_message() {
        regwatch::sip::parse(&m.bytes)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&m.bytes)));
        n += 1;
    }
    assert_eq!(n, 4);
    assert_eq!(r.notes().unended_headers, 4);
}
