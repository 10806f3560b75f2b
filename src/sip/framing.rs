//! Framing SIP over a byte stream (TCP, TLS) by Content-Length.
//!
//! Bounded whatever the peer sends: a message (header section and body)
//! is at most [`MAX_MESSAGE`] bytes, and so is a run of CR/LF keep-alive
//! bytes between two messages; the framer holds at most that plus the
//! last chunk pushed. Every byte is looked at a bounded number of times
//! (the search for the end of the header section resumes where it
//! stopped; framed bytes are dropped from the front once per push, not
//! once per frame), so a peer trickling or flooding costs linear work.
use super::parse::{name_is, MAX_MESSAGE};

/// What [`StreamFramer::next_frame`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// One complete message (header section and body), ready for
    /// [`parse`](super::parse).
    Message(Vec<u8>),
    /// A CRLF keep-alive (RFC 5626 §3.5.1: `\r\n\r\n` ping or `\r\n` pong).
    KeepAlive,
}

/// Why the stream cannot be framed. After an error the framer has dropped
/// its buffer ([`StreamFramer::dropped`] says how much): the connection
/// should be closed (RFC 3261 §18.3 leaves no way to resynchronise a
/// stream).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The header section exceeds [`MAX_MESSAGE`] without ending.
    HeaderTooLarge,
    /// Content-Length is not a number.
    BadContentLength,
    /// The message would exceed [`MAX_MESSAGE`].
    TooLarge,
    /// More than [`MAX_MESSAGE`] CR/LF keep-alive bytes without a message.
    KeepAliveFlood,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FrameError::HeaderTooLarge => "header section larger than the limit",
            FrameError::BadContentLength => "Content-Length is not a number",
            FrameError::TooLarge => "message larger than the limit",
            FrameError::KeepAliveFlood => "more keep-alive line breaks than the limit",
        })
    }
}

impl std::error::Error for FrameError {}

/// Accumulates bytes from a stream and yields complete messages. A message
/// without Content-Length has an empty body on a stream (RFC 3261 §18.3
/// makes the header mandatory there).
///
/// Call [`next_frame`](Self::next_frame) until it returns `Ok(None)` after
/// each [`push`](Self::push): memory stays within [`MAX_MESSAGE`] plus
/// the largest chunk pushed.
#[derive(Clone, Debug, Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
    /// Where the bytes not framed yet begin in `buf` (the bytes before it
    /// were taken; `push` drops them). Offsets below are from here.
    start: usize,
    /// How far `buf` has been searched for the end of the header section.
    scanned: usize,
    /// The size of the message at the front of `buf`, once its header
    /// section has been read.
    need: Option<usize>,
    /// CR/LF keep-alive bytes taken since the last message.
    crlf: usize,
    /// What the last error dropped.
    dropped: usize,
}

impl StreamFramer {
    /// An empty framer.
    pub fn new() -> StreamFramer {
        StreamFramer::default()
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered and not yet framed.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The bytes not framed yet.
    fn rest(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Takes `n` bytes from the front.
    fn take(&mut self, n: usize) {
        self.start += n;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    /// What the peer had sent since its last complete message when the
    /// last error dropped it (bytes; 0 before any error). For "the peer
    /// sent N bytes without a complete SIP message".
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    fn fail(&mut self, e: FrameError) -> FrameError {
        self.dropped = self.crlf.saturating_add(self.buffered());
        self.buf = Vec::new();
        self.start = 0;
        self.scanned = 0;
        self.need = None;
        self.crlf = 0;
        e
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.need.is_none() && self.scanned == 0 {
            // Keep-alives: CRs and LFs before a message, taken as they
            // come (never buffered), counted against the limit.
            let lead = self
                .rest()
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
            if lead > 0 {
                let ends_with_lf = self.rest()[lead - 1] == b'\n';
                self.take(lead);
                self.crlf = self.crlf.saturating_add(lead);
                if self.crlf > MAX_MESSAGE {
                    return Err(self.fail(FrameError::KeepAliveFlood));
                }
                if ends_with_lf {
                    return Ok(Some(Frame::KeepAlive));
                }
                // A lone CR: its LF makes the keep-alive when it comes; a
                // message after it is framed now.
                if self.buffered() == 0 {
                    return Ok(None);
                }
            }
        }
        let total = match self.need {
            Some(n) => n,
            None => {
                let from = self.scanned.saturating_sub(2);
                let Some((head_end, body_start)) = find_header_end(self.rest(), from) else {
                    if self.buffered() > MAX_MESSAGE {
                        return Err(self.fail(FrameError::HeaderTooLarge));
                    }
                    self.scanned = self.buffered();
                    return Ok(None);
                };
                let length = match content_length(&self.rest()[..head_end]) {
                    Ok(n) => n,
                    Err(e) => return Err(self.fail(e)),
                };
                let total = body_start.saturating_add(length);
                if total > MAX_MESSAGE {
                    return Err(self.fail(FrameError::TooLarge));
                }
                self.need = Some(total);
                total
            }
        };
        if self.buffered() < total {
            return Ok(None);
        }
        let msg = self.rest()[..total].to_vec();
        self.take(total);
        self.scanned = 0;
        self.need = None;
        self.crlf = 0;
        Ok(Some(Frame::Message(msg)))
    }
}

/// The Content-Length of a header section (the last one wins; none: 0).
fn content_length(head: &[u8]) -> Result<usize, FrameError> {
    let mut length = 0usize;
    for line in head.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let name = std::str::from_utf8(&line[..colon]).unwrap_or("").trim();
        if name_is(name, "content-length") {
            let v = std::str::from_utf8(&line[colon + 1..]).unwrap_or("").trim();
            length = v
                .parse::<usize>()
                .map_err(|_| FrameError::BadContentLength)?;
        }
    }
    Ok(length)
}

/// Where the header section ends (its last line feed) and the body starts,
/// searching from `from`.
fn find_header_end(b: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from.min(b.len());
    while let Some(p) = memchr::memchr(b'\n', &b[i..]) {
        let nl = i + p;
        let next = nl + 1;
        if b.get(next) == Some(&b'\n') {
            return Some((nl, next + 1));
        }
        if b.get(next) == Some(&b'\r') && b.get(next + 1) == Some(&b'\n') {
            return Some((nl, next + 2));
        }
        i = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS_200: &[u8] = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 5\r\n\r\nhello";

    /// Everything the framer yields, until it wants more or fails.
    fn drain(f: &mut StreamFramer) -> (Vec<Frame>, Option<FrameError>) {
        let mut frames = Vec::new();
        loop {
            match f.next_frame() {
                Ok(Some(fr)) => frames.push(fr),
                Ok(None) => return (frames, None),
                Err(e) => return (frames, Some(e)),
            }
        }
    }

    #[test]
    fn endless_crs_are_never_buffered() {
        // 1 MiB of CRs in 1 KiB pieces: never more than a piece buffered,
        // then an error once past the limit.
        let mut f = StreamFramer::new();
        let piece = [b'\r'; 1024];
        let mut err = None;
        for _ in 0..1024 {
            f.push(&piece);
            let (frames, e) = drain(&mut f);
            assert!(frames.is_empty());
            assert!(f.buffered() <= piece.len());
            if e.is_some() {
                err = e;
                break;
            }
        }
        assert_eq!(err, Some(FrameError::KeepAliveFlood));
        assert!(f.dropped() > MAX_MESSAGE && f.dropped() <= MAX_MESSAGE + piece.len());
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn endless_crlfs_are_bounded() {
        let mut f = StreamFramer::new();
        let mut alive = 0;
        let mut err = None;
        for _ in 0..100_000 {
            f.push(b"\r\n\r\n");
            let (frames, e) = drain(&mut f);
            alive += frames.len();
            if e.is_some() {
                err = e;
                break;
            }
        }
        assert_eq!(err, Some(FrameError::KeepAliveFlood));
        assert_eq!(alive, MAX_MESSAGE / 4);
    }

    #[test]
    fn keep_alives_between_messages_do_not_add_up() {
        // A ping before every message, for far more than the limit in all.
        let mut f = StreamFramer::new();
        for _ in 0..(4 * MAX_MESSAGE / OPTIONS_200.len()) {
            f.push(b"\r\n\r\n");
            f.push(OPTIONS_200);
            let (frames, e) = drain(&mut f);
            assert_eq!(e, None);
            assert_eq!(
                frames,
                vec![Frame::KeepAlive, Frame::Message(OPTIONS_200.to_vec())]
            );
        }
    }

    #[test]
    fn many_messages_in_one_push_then_the_rest() {
        // Thousands of messages and pings in one push, the last message
        // cut: every frame comes out once and whole, only the cut message
        // stays buffered, and it completes with the next push.
        let mut stream = Vec::new();
        for i in 0..3000 {
            stream.extend_from_slice(OPTIONS_200);
            if i % 3 == 0 {
                stream.extend_from_slice(b"\r\n\r\n");
            }
        }
        let cut = stream.len() - OPTIONS_200.len() / 2;
        let mut f = StreamFramer::new();
        f.push(&stream[..cut]);
        let (mut frames, e) = drain(&mut f);
        assert_eq!(e, None);
        assert_eq!(f.buffered(), OPTIONS_200.len() - OPTIONS_200.len() / 2);
        f.push(&stream[cut..]);
        let (rest, e) = drain(&mut f);
        assert_eq!(e, None);
        assert_eq!(f.buffered(), 0);
        frames.extend(rest);
        let msg = Frame::Message(OPTIONS_200.to_vec());
        assert_eq!(frames.iter().filter(|fr| **fr == msg).count(), 3000);
        assert_eq!(
            frames.iter().filter(|fr| **fr == Frame::KeepAlive).count(),
            1000
        );
        assert_eq!(frames.len(), 4000);
    }

    #[test]
    fn a_lone_cr_waits_for_its_lf() {
        let mut f = StreamFramer::new();
        f.push(b"\r\n\r");
        assert_eq!(drain(&mut f), (vec![], None));
        f.push(b"\n");
        assert_eq!(drain(&mut f), (vec![Frame::KeepAlive], None));
        // A stray CR before a message is no keep-alive.
        f.push(b"\r");
        f.push(OPTIONS_200);
        assert_eq!(
            drain(&mut f),
            (vec![Frame::Message(OPTIONS_200.to_vec())], None)
        );
    }

    #[test]
    fn an_endless_header_is_dropped_at_the_limit() {
        let mut f = StreamFramer::new();
        f.push(b"SIP/2.0 200 OK\r\nX-Big: ");
        let piece = [b'a'; 4096];
        let mut err = None;
        for _ in 0..1024 {
            f.push(&piece);
            let (frames, e) = drain(&mut f);
            assert!(frames.is_empty());
            assert!(f.buffered() <= MAX_MESSAGE + piece.len());
            if e.is_some() {
                err = e;
                break;
            }
        }
        assert_eq!(err, Some(FrameError::HeaderTooLarge));
        assert!(f.dropped() > MAX_MESSAGE);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn bytes_without_line_breaks_are_dropped_at_the_limit() {
        let mut f = StreamFramer::new();
        f.push(&vec![b'A'; MAX_MESSAGE]);
        assert_eq!(drain(&mut f), (vec![], None));
        f.push(b"A");
        assert_eq!(drain(&mut f), (vec![], Some(FrameError::HeaderTooLarge)));
        assert_eq!(f.dropped(), MAX_MESSAGE + 1);
    }

    #[test]
    fn a_body_past_the_limit_is_refused_before_it_comes() {
        let mut f = StreamFramer::new();
        f.push(b"SIP/2.0 200 OK\r\nContent-Length: 1000000\r\n\r\n");
        assert_eq!(drain(&mut f), (vec![], Some(FrameError::TooLarge)));
        let mut f = StreamFramer::new();
        f.push(b"SIP/2.0 200 OK\r\nl: 99999999999999999999999\r\n\r\n");
        assert_eq!(drain(&mut f), (vec![], Some(FrameError::BadContentLength)));
    }

    #[test]
    fn a_trickled_message_comes_out_whole() {
        let mut f = StreamFramer::new();
        let mut frames = Vec::new();
        for b in OPTIONS_200.iter().chain(OPTIONS_200) {
            f.push(&[*b]);
            let (got, e) = drain(&mut f);
            assert_eq!(e, None);
            frames.extend(got);
        }
        assert_eq!(frames, vec![Frame::Message(OPTIONS_200.to_vec()); 2]);
        assert_eq!(f.buffered(), 0);
    }

    /// A small deterministic generator (xorshift), so that the random cuts
    /// are the same on every run.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn random_cuts_give_the_same_frames() {
        // Messages, pings, pongs and stray CRs, cut at random places: the
        // same frames as the stream in one piece, and bounded buffering.
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let big = {
            let mut m = b"SIP/2.0 200 OK\r\nContent-Length: 60000\r\n\r\n".to_vec();
            m.resize(m.len() + 60_000, b'b');
            m
        };
        for round in 0..200 {
            let mut stream = Vec::new();
            for _ in 0..1 + rng.below(8) {
                match rng.below(5) {
                    0 => stream.extend_from_slice(b"\r\n\r\n"),
                    1 => stream.extend_from_slice(b"\r\n"),
                    2 if round % 10 == 0 => stream.extend_from_slice(&big),
                    _ => stream.extend_from_slice(OPTIONS_200),
                }
            }
            let mut whole = StreamFramer::new();
            whole.push(&stream);
            let (want, e) = drain(&mut whole);
            assert_eq!(e, None);
            let mut f = StreamFramer::new();
            let mut got = Vec::new();
            let mut at = 0;
            while at < stream.len() {
                let n = (1 + rng.below(3000)).min(stream.len() - at);
                f.push(&stream[at..at + n]);
                at += n;
                let (frames, e) = drain(&mut f);
                assert_eq!(e, None);
                assert!(f.buffered() <= MAX_MESSAGE);
                got.extend(frames);
            }
            let messages = |v: &[Frame]| -> Vec<Frame> {
                v.iter()
                    .filter(|f| matches!(f, Frame::Message(_)))
                    .cloned()
                    .collect()
            };
            assert_eq!(messages(&got), messages(&want), "round {round}");
            assert_eq!(f.buffered(), 0);
        }
    }

    #[test]
    fn random_cuts_of_hostile_streams_stay_bounded() {
        // Floods of one byte (CR, LF, a letter) or random bytes, cut at
        // random: an error within the limit, never more buffered than the
        // limit and a piece.
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        for kind in 0..4 {
            let mut f = StreamFramer::new();
            let mut sent = 0usize;
            let failed = loop {
                let n = 1 + rng.below(5000);
                let piece: Vec<u8> = (0..n)
                    .map(|_| match kind {
                        0 => b'\r',
                        1 => b"\r\n"[rng.below(2)],
                        2 => b'x',
                        _ => (rng.next() & 0xff) as u8,
                    })
                    .collect();
                f.push(&piece);
                sent += n;
                let (_, e) = drain(&mut f);
                assert!(f.buffered() <= MAX_MESSAGE + 5000);
                if e.is_some() {
                    break true;
                }
                if sent > 8 * MAX_MESSAGE {
                    break false;
                }
            };
            // Random bytes may frame as messages now and then; the others
            // must fail once past the limit.
            assert!(failed || kind == 3, "kind {kind}");
            if kind < 3 {
                assert!(sent <= MAX_MESSAGE + 5001, "kind {kind}: {sent}");
            }
        }
    }
}
