//! Framing SIP over a byte stream (TCP, TLS) by Content-Length.
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
/// its buffer: the connection should be closed (RFC 3261 §18.3 leaves no
/// way to resynchronise a stream).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The header section exceeds [`MAX_MESSAGE`] without ending.
    HeaderTooLarge,
    /// Content-Length is not a number.
    BadContentLength,
    /// The message would exceed [`MAX_MESSAGE`].
    TooLarge,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FrameError::HeaderTooLarge => "header section larger than the limit",
            FrameError::BadContentLength => "Content-Length is not a number",
            FrameError::TooLarge => "message larger than the limit",
        })
    }
}

impl std::error::Error for FrameError {}

/// Accumulates bytes from a stream and yields complete messages. A message
/// without Content-Length has an empty body on a stream (RFC 3261 §18.3
/// makes the header mandatory there).
#[derive(Clone, Debug, Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
    /// Bytes at the front of `buf` already framed, dropped at the next
    /// push: framing many small messages from one read moves the rest of
    /// the buffer once, not once per message.
    start: usize,
    /// Bytes of the message at `start` already searched for the end of
    /// its header section, in vain: a header arriving in many reads is
    /// searched once, not once per read.
    scanned: usize,
    /// The length of the message at `start` once its header section is
    /// read, while its body arrives.
    total: Option<usize>,
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

    fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
        self.scanned = 0;
        self.total = None;
    }

    /// Takes the first `n` bytes as a frame: the next message starts after.
    fn consume(&mut self, n: usize) {
        self.start += n;
        self.scanned = 0;
        self.total = None;
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        let buf = &self.buf[self.start..];
        if let Some(total) = self.total {
            if buf.len() < total {
                return Ok(None);
            }
            let msg = buf[..total].to_vec();
            self.consume(total);
            return Ok(Some(Frame::Message(msg)));
        }
        // Keep-alives: CRLFs before a message.
        let lead = buf
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        if lead > 0 {
            if lead == buf.len() && !buf.ends_with(b"\n") {
                // A lone CR: wait for its LF. The run before it is one
                // keep-alive either way, so only the CR is kept: an
                // endless run of CRs is neither buffered nor scanned again.
                self.consume(lead - 1);
                return Ok(None);
            }
            self.consume(lead);
            return Ok(Some(Frame::KeepAlive));
        }
        // A header end straddling the last search starts at most two
        // bytes before where it stopped.
        let from = self.scanned.saturating_sub(2);
        let Some((head_end, body_start)) = find_header_end(buf, from) else {
            if buf.len() > MAX_MESSAGE {
                self.clear();
                return Err(FrameError::HeaderTooLarge);
            }
            self.scanned = buf.len();
            return Ok(None);
        };
        let head = &buf[..head_end];
        let mut length = 0usize;
        for line in head.split(|b| *b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(colon) = line.iter().position(|b| *b == b':') else {
                continue;
            };
            let name = std::str::from_utf8(&line[..colon]).unwrap_or("").trim();
            if name_is(name, "content-length") {
                let v = std::str::from_utf8(&line[colon + 1..]).unwrap_or("").trim();
                match v.parse::<usize>() {
                    Ok(n) => length = n,
                    Err(_) => {
                        self.clear();
                        return Err(FrameError::BadContentLength);
                    }
                }
            }
        }
        let total = body_start.saturating_add(length);
        if total > MAX_MESSAGE {
            self.clear();
            return Err(FrameError::TooLarge);
        }
        if buf.len() < total {
            self.total = Some(total);
            return Ok(None);
        }
        let msg = buf[..total].to_vec();
        self.consume(total);
        Ok(Some(Frame::Message(msg)))
    }
}

/// The first end of a header section (a blank line) at or after `from`:
/// where the header section ends and where the body starts.
fn find_header_end(b: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
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
