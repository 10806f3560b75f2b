//! A zero-copy SIP message parser for the headers registration needs.
//!
//! Tolerant of what real traffic contains: compact header names, any case,
//! white space before the colon, folded (continuation) lines, LF-only or
//! mixed line ends, keep-alive CRLFs before the start line, comma-separated
//! multi-value headers. Every accessor borrows from the input.
//!
//! Folded lines are kept as they are in the raw value; the structured
//! accessors treat CR and LF as white space (folding is only allowed where
//! white space is), and [`Header::unfolded`] joins them when needed.
//!
//! The header section must be UTF-8 ([`ParseError::NotUtf8`] otherwise);
//! the body is bytes. Input over [`MAX_MESSAGE`] bytes is refused.
use super::values::{is_lws, param, split_outside, trim_lws, Contact, NameAddr};
use std::borrow::Cow;
use std::fmt;

/// The largest message accepted, in bytes.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// Why a message could not be parsed. Offsets are byte offsets in the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing but white space.
    Empty,
    /// Larger than [`MAX_MESSAGE`].
    TooLarge,
    /// The header section does not end (no empty line), or the body is
    /// shorter than its Content-Length.
    Truncated {
        /// Where the input ended.
        offset: usize,
    },
    /// The first line is neither `METHOD uri SIP/2.0` nor `SIP/2.0 code reason`.
    BadStartLine {
        /// Where the start line begins.
        offset: usize,
    },
    /// A header line without a colon, or with an empty or invalid name.
    BadHeader {
        /// Where the line begins.
        offset: usize,
    },
    /// Content-Length is not a number.
    BadContentLength {
        /// Where the header line begins.
        offset: usize,
    },
    /// The header section is not UTF-8.
    NotUtf8 {
        /// The first invalid byte.
        offset: usize,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => f.write_str("empty message"),
            ParseError::TooLarge => write!(f, "message larger than {MAX_MESSAGE} bytes"),
            ParseError::Truncated { offset } => write!(f, "message truncated at byte {offset}"),
            ParseError::BadStartLine { offset } => {
                write!(f, "malformed start line at byte {offset}")
            }
            ParseError::BadHeader { offset } => write!(f, "malformed header line at byte {offset}"),
            ParseError::BadContentLength { offset } => {
                write!(f, "malformed Content-Length at byte {offset}")
            }
            ParseError::NotUtf8 { offset } => {
                write!(f, "invalid UTF-8 in the headers at byte {offset}")
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// The first line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartLine<'a> {
    /// `METHOD Request-URI SIP/2.0`.
    Request {
        /// The method, as written (`REGISTER`).
        method: &'a str,
        /// The Request-URI.
        uri: &'a str,
    },
    /// `SIP/2.0 code reason`.
    Response {
        /// The status code.
        code: u16,
        /// The reason phrase (may be empty).
        reason: &'a str,
    },
}

/// One header line (with its continuation lines).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// The name as written (`Via`, `v`, `CALL-ID`).
    pub name: &'a str,
    /// The raw value, trimmed; folded lines keep their CRLF + white space.
    pub value: &'a str,
    /// [`known_index`] of the canonical name, 0 for other headers.
    kind: u8,
}

const K_CONTENT_LENGTH: u8 = 17;

/// The headers the accessors look up, classified once at parse time:
/// 1 + their index here, by canonical (lower-case) name; 0 if unknown.
fn known_index(full: &str) -> u8 {
    match full {
        "via" => 1,
        "from" => 2,
        "to" => 3,
        "call-id" => 4,
        "cseq" => 5,
        "contact" => 6,
        "expires" => 7,
        "min-expires" => 8,
        "retry-after" => 9,
        "www-authenticate" => 10,
        "proxy-authenticate" => 11,
        "authorization" => 12,
        "proxy-authorization" => 13,
        "x-twilio-error" => 14,
        "server" => 15,
        "user-agent" => 16,
        "content-length" => K_CONTENT_LENGTH,
        _ => 0,
    }
}

/// Classifies a header name as written (compact forms, any case). The name
/// has been checked to be a token, so it is ASCII.
fn classify(name: &str) -> u8 {
    if name.len() == 1 {
        return match COMPACT.iter().find(|(c, _)| name.eq_ignore_ascii_case(c)) {
            Some((_, f)) => known_index(f),
            None => 0,
        };
    }
    let mut buf = [0u8; 20];
    let Some(dst) = buf.get_mut(..name.len()) else {
        return 0;
    };
    for (d, s) in dst.iter_mut().zip(name.bytes()) {
        *d = s.to_ascii_lowercase();
    }
    std::str::from_utf8(dst).map_or(0, known_index)
}

impl<'a> Header<'a> {
    /// The value with folded lines joined by single spaces.
    pub fn unfolded(&self) -> Cow<'a, str> {
        if !self.value.contains(['\r', '\n']) {
            return Cow::Borrowed(self.value);
        }
        let mut out = String::with_capacity(self.value.len());
        let mut in_break = false;
        for c in self.value.chars() {
            if c == '\r' || c == '\n' || (in_break && (c == ' ' || c == '\t')) {
                if !in_break {
                    out.push(' ');
                    // Drop the white space already pushed before the break.
                    while out.ends_with("  ") {
                        out.pop();
                    }
                }
                in_break = true;
            } else {
                in_break = false;
                out.push(c);
            }
        }
        Cow::Owned(out)
    }
}

/// Compact forms (RFC 3261 §7.3.3, RFC 3265, RFC 3515, RFC 4028, RFC 3841).
const COMPACT: &[(&str, &str)] = &[
    ("i", "call-id"),
    ("m", "contact"),
    ("e", "content-encoding"),
    ("l", "content-length"),
    ("c", "content-type"),
    ("f", "from"),
    ("s", "subject"),
    ("k", "supported"),
    ("t", "to"),
    ("v", "via"),
    ("o", "event"),
    ("u", "allow-events"),
    ("r", "refer-to"),
    ("b", "referred-by"),
    ("x", "session-expires"),
    ("a", "accept-contact"),
    ("j", "reject-contact"),
    ("d", "request-disposition"),
    ("y", "identity"),
    ("n", "identity-info"),
];

/// Whether header name `name` (as written) is the header `full` (lower-case).
pub fn name_is(name: &str, full: &str) -> bool {
    if name.len() == 1 {
        COMPACT
            .iter()
            .any(|(c, f)| name.eq_ignore_ascii_case(c) && *f == full)
    } else {
        name.eq_ignore_ascii_case(full)
    }
}

/// RFC 3261 `token` characters, as a table.
const TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        i += 1;
    }
    t
};

fn is_token_char(b: u8) -> bool {
    TOKEN[b as usize]
}

/// A parsed SIP message borrowing its input.
#[derive(Clone, Debug)]
pub struct Message<'a> {
    /// The whole message as given (after leading keep-alive CRLFs).
    pub raw: &'a [u8],
    /// The start line.
    pub start: StartLine<'a>,
    headers: Vec<Header<'a>>,
    /// The body (Content-Length bytes, or the rest of the input when the
    /// header is absent).
    pub body: &'a [u8],
}

/// Parses one SIP message. Never panics; see [`ParseError`].
pub fn parse(input: &[u8]) -> Result<Message<'_>, ParseError> {
    if input.len() > MAX_MESSAGE {
        return Err(ParseError::TooLarge);
    }
    let skip = input
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
        .ok_or(ParseError::Empty)?;
    let bytes = &input[skip..];
    // The header section is UTF-8 and ends at the first empty line; the
    // body may be anything. Search the valid UTF-8 prefix with str's fast
    // substring search.
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
    };
    let tb = text.as_bytes();
    // One pass over the lines: the start line, the headers (with their
    // continuation lines), and the empty line that ends them.
    let mut pos = 0;
    let next_line = |pos: &mut usize| -> Option<(usize, &str)> {
        let nl = *pos + memchr::memchr(b'\n', &tb[*pos..])?;
        let start = *pos;
        *pos = nl + 1;
        let end = if nl > start && tb[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        Some((start, &text[start..end]))
    };
    let missing_end = |text_len: usize| {
        if text_len < bytes.len() && text_len == text.len() {
            ParseError::NotUtf8 {
                offset: skip + text.len(),
            }
        } else {
            ParseError::Truncated {
                offset: input.len(),
            }
        }
    };
    let (first_off, first) = next_line(&mut pos).ok_or_else(|| missing_end(text.len()))?;
    let start = start_line(first).ok_or(ParseError::BadStartLine {
        offset: skip + first_off,
    })?;
    let mut headers: Vec<Header<'_>> = Vec::with_capacity(16);
    let body_start = loop {
        let off = pos;
        match tb.get(pos) {
            None => return Err(missing_end(text.len())),
            Some(b'\n') => break pos + 1,
            Some(b'\r') if tb.get(pos + 1) == Some(&b'\n') => break pos + 2,
            Some(b' ' | b'\t') => {
                // A continuation line extends the value of the previous header.
                let Some((_, line)) = next_line(&mut pos) else {
                    return Err(missing_end(text.len()));
                };
                let Some(h) = headers.last_mut() else {
                    return Err(ParseError::BadHeader { offset: skip + off });
                };
                let value_start = h.value.as_ptr() as usize - text.as_ptr() as usize;
                h.value = trim_lws(&text[value_start..off + line.len()]);
                continue;
            }
            Some(_) => {}
        }
        // `name *WSP ":" value`: the name is scanned and checked in one go.
        let mut i = pos;
        while i < tb.len() && is_token_char(tb[i]) {
            i += 1;
        }
        let name = &text[pos..i];
        while i < tb.len() && matches!(tb[i], b' ' | b'\t') {
            i += 1;
        }
        match tb.get(i) {
            Some(b':') if !name.is_empty() => {}
            None => return Err(missing_end(text.len())),
            Some(_) => return Err(ParseError::BadHeader { offset: skip + off }),
        }
        pos = i + 1;
        let Some((_, rest)) = next_line(&mut pos) else {
            return Err(missing_end(text.len()));
        };
        let kind = classify(name);
        headers.push(Header {
            name,
            value: trim_lws(rest),
            kind,
        });
    };
    // Content-Length, read once the header (and any folding) is complete.
    let content_length = match headers.iter().find(|h| h.kind == K_CONTENT_LENGTH) {
        Some(h) => Some(
            h.value
                .parse::<usize>()
                .map_err(|_| ParseError::BadContentLength {
                    offset: skip + (h.name.as_ptr() as usize - text.as_ptr() as usize),
                })?,
        ),
        None => None,
    };

    let rest = &bytes[body_start..];
    let (body, raw_len) = match content_length {
        Some(n) => {
            if rest.len() < n {
                return Err(ParseError::Truncated {
                    offset: input.len(),
                });
            }
            (&rest[..n], body_start + n)
        }
        None => (rest, bytes.len()),
    };
    Ok(Message {
        raw: &bytes[..raw_len],
        start,
        headers,
        body,
    })
}

fn start_line(line: &str) -> Option<StartLine<'_>> {
    let line = line.trim();
    if let Some(rest) = strip_prefix_ci(line, "SIP/2.0 ") {
        let rest = rest.trim_start();
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        if code.len() != 3 {
            return None;
        }
        let code: u16 = code.parse().ok()?;
        if !(100..=699).contains(&code) {
            return None;
        }
        return Some(StartLine::Response {
            code,
            reason: reason.trim(),
        });
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?;
    let uri = parts.next()?;
    let version = parts.next()?;
    if parts.next().is_some()
        || !version.eq_ignore_ascii_case("SIP/2.0")
        || !method.bytes().all(is_token_char)
    {
        return None;
    }
    Some(StartLine::Request { method, uri })
}

fn strip_prefix_ci<'a>(s: &'a str, p: &str) -> Option<&'a str> {
    (s.len() >= p.len() && s.is_char_boundary(p.len()) && s[..p.len()].eq_ignore_ascii_case(p))
        .then(|| &s[p.len()..])
}

impl<'a> Message<'a> {
    /// All headers, in order.
    pub fn headers(&self) -> &[Header<'a>] {
        &self.headers
    }

    /// Every header named `full` (lower-case full name; compact forms match).
    pub fn headers_named<'s>(&'s self, full: &'s str) -> impl Iterator<Item = &'s Header<'a>> + 's {
        let kind = known_index(full);
        self.headers.iter().filter(move |h| {
            if kind != 0 {
                h.kind == kind
            } else {
                name_is(h.name, full)
            }
        })
    }

    /// The first header named `full`, raw value.
    pub fn header(&self, full: &str) -> Option<&'a str> {
        self.headers_named(full).next().map(|h| h.value)
    }

    /// Every comma-separated value of every header named `full`, in order.
    pub fn values<'s>(&'s self, full: &'s str) -> impl Iterator<Item = &'a str> + 's {
        self.headers_named(full)
            .flat_map(|h| split_outside(h.value, ','))
    }

    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The method of a request, or the CSeq method of a response.
    pub fn method(&self) -> Option<&'a str> {
        match self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => self.cseq().map(|(_, m)| m),
        }
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Every Via value, top first.
    pub fn via(&self) -> Vec<&'a str> {
        self.values("via").collect()
    }

    /// The `branch` of the top Via.
    pub fn branch(&self) -> Option<&'a str> {
        self.values("via").next().and_then(|v| param(v, "branch"))
    }

    /// Call-ID.
    pub fn call_id(&self) -> Option<&'a str> {
        self.header("call-id")
    }

    /// CSeq number and method.
    pub fn cseq(&self) -> Option<(u32, &'a str)> {
        let v = self.header("cseq")?;
        let mut it = v.split(is_lws).filter(|s| !s.is_empty());
        let n = it.next()?.parse().ok()?;
        Some((n, it.next()?))
    }

    /// From.
    pub fn from(&self) -> Option<NameAddr<'a>> {
        self.header("from").and_then(NameAddr::parse)
    }

    /// To.
    pub fn to(&self) -> Option<NameAddr<'a>> {
        self.header("to").and_then(NameAddr::parse)
    }

    /// Every Contact binding (`*` is returned as a binding whose URI is `*`).
    pub fn contacts(&self) -> Vec<Contact<'a>> {
        self.contacts_iter().collect()
    }

    /// The Contact bindings, lazily.
    pub fn contacts_iter<'s>(&'s self) -> impl Iterator<Item = Contact<'a>> + 's {
        self.values("contact")
            .filter_map(NameAddr::parse)
            .map(|addr| Contact {
                addr,
                expires: param(addr.params, "expires").and_then(|e| e.parse().ok()),
            })
    }

    fn seconds(&self, full: &str) -> Option<u32> {
        let v = self.header(full)?;
        let digits = v.split(|c: char| !c.is_ascii_digit()).next()?;
        digits.parse().ok()
    }

    /// Expires.
    pub fn expires(&self) -> Option<u32> {
        self.seconds("expires")
    }

    /// Min-Expires.
    pub fn min_expires(&self) -> Option<u32> {
        self.seconds("min-expires")
    }

    /// Retry-After (seconds; comments and parameters ignored).
    pub fn retry_after(&self) -> Option<u32> {
        self.seconds("retry-after")
    }

    /// Content-Length.
    pub fn content_length(&self) -> Option<usize> {
        self.header("content-length")
            .and_then(|v| v.trim().parse().ok())
    }

    /// Server.
    pub fn server(&self) -> Option<&'a str> {
        self.header("server")
    }

    /// User-Agent.
    pub fn user_agent(&self) -> Option<&'a str> {
        self.header("user-agent")
    }

    /// `X-Twilio-Error: <code> <text>`.
    pub fn x_twilio_error(&self) -> Option<(u32, &'a str)> {
        let v = self.header("x-twilio-error")?;
        let (code, text) = v.split_once(is_lws).unwrap_or((v, ""));
        Some((code.parse().ok()?, trim_lws(text)))
    }
}
