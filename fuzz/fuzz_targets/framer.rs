//! The TCP/TLS stream framer fed a stream in random cuts, as reads from a
//! socket arrive.
//!
//! Input: `[cuts, mode, len_lo, len_hi, cut_0 (u16 LE) .. cut_{n-1}, stream...]`
//! with up to 31 cut points. When `mode & 15 == 15` the stream bytes are
//! repeated to just over the 64 KiB limit (64 KiB + `len` % 4 KiB), as an
//! endless stream from a hostile peer would be; otherwise they are the
//! stream as given.
//!
//! Checked: after each read and the frames cut from it, the framer holds
//! at most the limit (so at most the limit plus one read at any time);
//! every frame is at most the limit; an error leaves nothing buffered; a
//! framed message that parses carries exactly its Content-Length of body
//! (the first 16 of a stream are parsed);
//! the messages before the first error are the same, and the error comes
//! or not the same, whether the stream arrives in cuts or in one read
//! (for the streams as given: a repeated one is read in cuts only).
#![no_main]

use libfuzzer_sys::fuzz_target;
use regwatch::sip::{parse, Frame, StreamFramer, MAX_MESSAGE};

/// What framing a stream in these chunks gives: the messages up to the
/// first error, and whether there was one.
fn frame(chunks: &[&[u8]], parse_frames: bool) -> (Vec<Vec<u8>>, bool) {
    let mut framer = StreamFramer::new();
    let mut messages = Vec::new();
    let mut failed = false;
    let mut framed = 0usize;
    for chunk in chunks {
        framer.push(chunk);
        assert!(framer.buffered() <= MAX_MESSAGE + chunk.len());
        loop {
            match framer.next_frame() {
                Ok(Some(Frame::Message(m))) => {
                    assert!(m.len() <= MAX_MESSAGE, "a {}-byte frame", m.len());
                    // (The messages are the same in both readings, so
                    // parsing them in one is enough.)
                    framed += 1;
                    let parse_this = parse_frames && framed <= 16;
                    if let Some(p) = parse_this.then(|| parse(&m).ok()).flatten() {
                        if let Some(n) = p.content_length() {
                            assert_eq!(p.body.len(), n, "framed body differs from Content-Length");
                        }
                    }
                    if !failed {
                        messages.push(m);
                    }
                }
                Ok(Some(Frame::KeepAlive)) => {}
                Ok(None) => break,
                Err(_) => {
                    assert_eq!(framer.buffered(), 0, "bytes kept after an error");
                    failed = true;
                    // The runner closes the connection here; keep going
                    // to frame what follows from a clean state.
                }
            }
        }
        assert!(
            framer.buffered() <= MAX_MESSAGE,
            "{} bytes buffered after framing (limit {MAX_MESSAGE})",
            framer.buffered()
        );
    }
    (messages, failed)
}

/// `chunk` repeated to `n` bytes.
fn repeated(chunk: &[u8], n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        v.extend_from_slice(&chunk[..chunk.len().min(n - v.len())]);
    }
    v
}

fuzz_target!(|data: &[u8]| {
    let header = |i: usize| data.get(i).copied().unwrap_or(0);
    let cuts = usize::from(header(0) % 32);
    let endless = header(1) & 15 == 15;
    let extra = usize::from(u16::from_le_bytes([header(2), header(3)])) % 4096;
    let start = (4 + 2 * cuts).min(data.len());
    let payload = &data[start..];
    let stream: Vec<u8> = if endless && !payload.is_empty() {
        repeated(payload, MAX_MESSAGE + 1 + extra)
    } else {
        payload.to_vec()
    };
    let mut points: Vec<usize> = (0..cuts)
        .map(|i| {
            let c = u16::from_le_bytes([header(4 + 2 * i), header(5 + 2 * i)]);
            (usize::from(c) * stream.len()) >> 16
        })
        .collect();
    points.sort_unstable();
    points.dedup();
    let mut chunks = Vec::with_capacity(points.len() + 1);
    let mut at = 0;
    for p in points {
        chunks.push(&stream[at..p]);
        at = p;
    }
    chunks.push(&stream[at..]);

    let (cut, cut_failed) = frame(&chunks, true);
    if endless {
        return; // the bounds are what this stream is for
    }
    let (whole, whole_failed) = frame(&[&stream], false);
    assert_eq!(cut_failed, whole_failed, "an error in one reading only");
    assert!(cut == whole, "the cuts changed the messages");
});
