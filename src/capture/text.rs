//! The text logs: Asterisk's pjsip logger, FreeSWITCH's siptrace and SIPp's
//! message log, read from bytes pushed in any cuts.
//!
//! Bounded: the Asterisk and FreeSWITCH logs are read line by line, and a
//! line longer than [`MAX_LINE`] is skipped (counted in
//! [`TextNotes::long_lines`]); a SIPp log is read block by block (from one
//! separator to the next), a block kept up to 1 KiB past
//! [`sip::MAX_MESSAGE`](crate::sip::MAX_MESSAGE). A message longer than
//! `MAX_MESSAGE` keeps its first `MAX_MESSAGE` bytes (counted in
//! [`TextNotes::cut_messages`]). The reader holds at most one line and one
//! message besides what was pushed and not yet read.
use super::{Format, Stamp};
use crate::sip::MAX_MESSAGE;
use crate::validate::Transport;
use memchr::memmem::Finder;
use std::collections::VecDeque;

/// The longest line kept; longer ones are skipped.
pub const MAX_LINE: usize = 2 * MAX_MESSAGE;

/// One message of a text log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextMessage {
    /// Whether the logging side sent it (else it received it).
    pub capturer_sent: bool,
    /// The transport the log names, if any.
    pub transport: Option<Transport>,
    /// Its time stamp.
    pub stamp: Stamp,
    /// The message as logged.
    pub bytes: Vec<u8>,
    /// The line of the log where its entry starts (1 for the first): the
    /// `<--- ...` line (Asterisk), the `send`/`recv` line (FreeSWITCH),
    /// the separator line (SIPp).
    pub line: u64,
}

/// What the reader skipped or cut.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextNotes {
    /// Lines longer than [`MAX_LINE`], skipped.
    pub long_lines: u64,
    /// Messages longer than `MAX_MESSAGE`, cut to it.
    pub cut_messages: u64,
    /// Messages without the blank line that ends the header section (a
    /// log or a copy that trimmed trailing blank lines): the blank line
    /// is added, so that a message without a body reads as complete.
    pub unended_headers: u64,
}

/// The line as text, invalid UTF-8 replaced (valid text, the usual case,
/// is checked by the faster validator and borrowed).
fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(b),
    }
}

/// SIPp's block separator (then the date and time).
const SIPP_SEP: &str = "-----------------------------------------------";
/// sofia-sip's separator around each message.
const SOFIA_SEP: &str = "------------------------------------------------------------------------";

/// A message being collected, bounded.
#[derive(Debug, Default)]
struct Body {
    text: String,
    cut: bool,
}

impl Body {
    fn push(&mut self, s: &str, limit: usize) {
        if self.text.len() + s.len() <= limit {
            self.text.push_str(s);
            return;
        }
        let mut room = limit.saturating_sub(self.text.len());
        while !s.is_char_boundary(room) {
            room -= 1;
        }
        self.text.push_str(&s[..room]);
        self.cut = true;
    }
}

#[derive(Debug)]
enum State {
    /// SIPp: the block since the last separator (the first block is what
    /// precedes the first one), as bytes.
    Sipp(Vec<u8>, bool),
    /// FreeSWITCH: between messages.
    SofiaIdle,
    /// FreeSWITCH: after a `send`/`recv` line, before its separator.
    SofiaHead(Head),
    /// FreeSWITCH: inside a message.
    SofiaBody(Head, Body),
    /// Asterisk: the message after a `<--- ... --->` line, if one is open.
    Asterisk(Option<(Head, Body)>),
}

#[derive(Clone, Copy, Debug)]
struct Head {
    /// The line the entry starts on.
    line: u64,
    sent: bool,
    transport: Option<Transport>,
    stamp: Stamp,
}

/// Reads one text format from bytes pushed in any cuts.
#[derive(Debug)]
pub struct TextReader {
    state: State,
    /// Pushed bytes not yet split into lines, from `start`.
    pending: Vec<u8>,
    start: usize,
    /// Inside a line longer than `MAX_LINE`: skip to its end.
    skipping: bool,
    finished: bool,
    out: VecDeque<TextMessage>,
    notes: TextNotes,
    find: Finders,
    /// Line feeds read so far.
    lines: u64,
    /// The line being read (line modes).
    line_no: u64,
    /// SIPp: the line the block being collected starts on.
    block_line: u64,
}

/// The fixed strings searched on every line, prepared once.
#[derive(Debug)]
struct Finders {
    sipp_sep: Finder<'static>,
    sent: Finder<'static>,
    received: Finder<'static>,
    message: Finder<'static>,
    blank: Finder<'static>,
    mark: Finder<'static>,
}

impl Finders {
    fn new() -> Finders {
        Finders {
            sipp_sep: Finder::new(SIPP_SEP),
            sent: Finder::new("message sent"),
            received: Finder::new("message received"),
            message: Finder::new("message"),
            blank: Finder::new("\n\n"),
            mark: Finder::new("<--- "),
        }
    }
}

impl TextReader {
    /// A reader for a text format (`None` for [`Format::Pcap`]).
    pub fn new(format: Format) -> Option<TextReader> {
        let state = match format {
            Format::Sipp => State::Sipp(Vec::new(), false),
            Format::Freeswitch => State::SofiaIdle,
            Format::Asterisk => State::Asterisk(None),
            Format::Pcap => return None,
        };
        Some(TextReader {
            state,
            pending: Vec::new(),
            start: 0,
            skipping: false,
            finished: false,
            out: VecDeque::new(),
            notes: TextNotes::default(),
            find: Finders::new(),
            lines: 0,
            line_no: 0,
            block_line: 1,
        })
    }

    /// What was skipped or cut so far.
    pub fn notes(&self) -> TextNotes {
        self.notes
    }

    /// Bytes held (pushed and not yet read, the line and message being
    /// collected): bounded by what one push adds plus [`MAX_LINE`] and
    /// `MAX_MESSAGE`.
    pub fn buffered(&self) -> usize {
        let body = match &self.state {
            State::Sipp(b, _) => b.len(),
            State::SofiaBody(_, b) | State::Asterisk(Some((_, b))) => b.text.len(),
            _ => 0,
        };
        self.pending.len() - self.start + body
    }

    /// Appends bytes of the log. Read the messages they complete with
    /// [`next_message`](Self::next_message) before pushing more, to keep
    /// memory bounded.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.pending.drain(..self.start);
            self.start = 0;
        }
        self.pending.extend_from_slice(bytes);
    }

    /// No more bytes: the last line and the last message are complete.
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// Whether [`finish`](Self::finish) was called.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The next complete message; `None` when more bytes are needed (or,
    /// after [`finish`](Self::finish), at the end).
    pub fn next_message(&mut self) -> Option<TextMessage> {
        if matches!(self.state, State::Sipp(..)) {
            return self.next_sipp();
        }
        loop {
            if let Some(m) = self.out.pop_front() {
                return Some(m);
            }
            let rest = &self.pending[self.start..];
            match memchr::memchr(b'\n', rest) {
                Some(nl) => {
                    let (a, b) = (self.start, self.start + nl + 1);
                    self.start = b;
                    self.lines += 1;
                    self.line_no = self.lines;
                    if std::mem::take(&mut self.skipping) {
                        continue;
                    }
                    if b - a > MAX_LINE {
                        self.notes.long_lines += 1;
                        continue;
                    }
                    let pending = std::mem::take(&mut self.pending);
                    self.line(&lossy(&pending[a..b]));
                    self.pending = pending;
                }
                None if rest.len() > MAX_LINE => {
                    // A line that can only be too long: drop what is here
                    // and the rest of it as it comes.
                    if !self.skipping {
                        self.notes.long_lines += 1;
                    }
                    self.skipping = true;
                    self.pending.clear();
                    self.start = 0;
                }
                None if self.finished => {
                    if !rest.is_empty() && !self.skipping {
                        self.line_no = self.lines + 1;
                        let pending = std::mem::take(&mut self.pending);
                        self.line(&lossy(&pending[self.start..]));
                    }
                    self.pending.clear();
                    self.start = 0;
                    self.skipping = false;
                    self.end();
                    return self.out.pop_front();
                }
                None => return None,
            }
        }
    }

    /// One line, with its line feed if it had one.
    fn line(&mut self, line: &str) {
        match self.state {
            State::Asterisk(_) => self.asterisk_line(line),
            _ => self.sofia_line(line),
        }
    }

    /// The input ended: what is open is complete.
    fn end(&mut self) {
        match std::mem::replace(&mut self.state, State::SofiaIdle) {
            State::Sipp(block, cut) => {
                self.sipp_block(block, cut, self.block_line);
                self.state = State::Sipp(Vec::new(), false);
            }
            State::SofiaHead(h) => self.sofia_message(h, Body::default()),
            State::SofiaBody(h, b) => self.sofia_message(h, b),
            State::SofiaIdle => {}
            State::Asterisk(open) => {
                if let Some((h, b)) = open {
                    self.emit(h, b);
                }
                self.state = State::Asterisk(None);
            }
        }
    }

    fn emit(&mut self, h: Head, mut body: Body) {
        if body.cut {
            self.notes.cut_messages += 1;
        } else if !body.text.trim().is_empty()
            && !body.text.contains("\r\n\r\n")
            && !body.text.contains("\n\n")
        {
            self.notes.unended_headers += 1;
            let t = &mut body.text;
            while t.ends_with([' ', '\t']) {
                t.pop();
            }
            if !t.ends_with('\n') {
                t.push_str("\r\n");
            }
            t.push_str("\r\n");
        }
        self.out.push_back(TextMessage {
            capturer_sent: h.sent,
            transport: h.transport,
            stamp: h.stamp,
            bytes: body.text.into_bytes(),
            line: h.line,
        });
    }

    // SIPp: blocks after `----- <date> <time>` lines, `UDP message sent (N
    // bytes):` / `UDP message received [N] bytes :`, a blank line, the
    // message. Read block by block, not line by line: the separator is
    // searched for in what was pushed, the block converted to text once.

    fn next_sipp(&mut self) -> Option<TextMessage> {
        loop {
            if let Some(m) = self.out.pop_front() {
                return Some(m);
            }
            let rest = &self.pending[self.start..];
            if let Some(p) = self.find.sipp_sep.find(rest) {
                let (a, b) = (self.start, self.start + p);
                self.start = b + SIPP_SEP.len();
                self.sipp_take(a, b);
                let next = self.lines + 1;
                let line = std::mem::replace(&mut self.block_line, next);
                let fresh = State::Sipp(Vec::with_capacity(1024), false);
                if let State::Sipp(block, cut) = std::mem::replace(&mut self.state, fresh) {
                    self.sipp_block(block, cut, line);
                }
                continue;
            }
            if self.finished {
                let (a, b) = (self.start, self.pending.len());
                self.sipp_take(a, b);
                self.pending.clear();
                self.start = 0;
                self.end();
                return self.out.pop_front();
            }
            // Everything but what could start a separator cut by the push
            // belongs to the block.
            let keep = SIPP_SEP.len() - 1;
            if rest.len() > keep {
                let (a, b) = (self.start, self.pending.len() - keep);
                self.start = b;
                self.sipp_take(a, b);
            }
            return None;
        }
    }

    /// `pending[a..b]` to the block, up to its limit.
    fn sipp_take(&mut self, a: usize, b: usize) {
        // Room for the block's own lines besides the message.
        const LIMIT: usize = MAX_MESSAGE + 1024;
        self.lines += memchr::memchr_iter(b'\n', &self.pending[a..b]).count() as u64;
        if let State::Sipp(block, cut) = &mut self.state {
            let room = LIMIT.saturating_sub(block.len());
            let take = (b - a).min(room);
            block.extend_from_slice(&self.pending[a..a + take]);
            *cut |= take < b - a;
        }
    }

    fn sipp_block(&mut self, block: Vec<u8>, cut: bool, line: u64) {
        let text = String::from_utf8(block)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        let block = Body { text, cut };
        let text = &block.text;
        let sent = self.find.sent.find(text.as_bytes()).is_some();
        if !sent && self.find.received.find(text.as_bytes()).is_none() {
            return;
        }
        let stamp = match text
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
        {
            Some(t) => Stamp::parse_hms(t),
            None => Stamp::Absent,
        };
        // The first line naming a message: the line of the first "message".
        let transport = self.find.message.find(text.as_bytes()).and_then(|at| {
            let from = text[..at].rfind('\n').map_or(0, |n| n + 1);
            let to = text[at..].find('\n').map_or(text.len(), |n| at + n);
            text[from..to]
                .split_whitespace()
                .next()
                .and_then(Transport::parse)
        });
        let Some(start) = self.find.blank.find(text.as_bytes()) else {
            return;
        };
        let msg = text[start + 2..].trim_start_matches('\n');
        if msg.trim_start().is_empty() {
            return;
        }
        // The message is the block's tail: move it out rather than copy.
        let offset = text.len() - msg.len();
        let mut text = block.text;
        text.drain(..offset);
        let mut body = Body {
            text,
            cut: block.cut,
        };
        if body.text.len() > MAX_MESSAGE {
            let mut end = MAX_MESSAGE;
            while !body.text.is_char_boundary(end) {
                end -= 1;
            }
            body.text.truncate(end);
            body.cut = true;
        }
        let head = Head {
            line,
            sent,
            transport,
            stamp,
        };
        self.emit(head, body);
    }

    // FreeSWITCH (sofia-sip's tport log): a `send N bytes to udp/[host]:port
    // at hh:mm:ss.us:` line, a separator, the message with each line
    // indented by three spaces, a separator.

    fn sofia_line(&mut self, raw: &str) {
        let raw = raw.strip_suffix('\n').unwrap_or(raw);
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        match std::mem::replace(&mut self.state, State::SofiaIdle) {
            State::SofiaIdle => {
                let l = raw.trim_start();
                let sent = l.starts_with("send ");
                if !(sent || l.starts_with("recv ")) || !l.contains(" bytes ") {
                    return;
                }
                let transport = l
                    .split_whitespace()
                    .find(|w| w.contains("/["))
                    .and_then(|w| w.split('/').next())
                    .and_then(Transport::parse);
                let stamp = match l.rsplit_once(" at ") {
                    Some((_, t)) => Stamp::parse_hms(t.trim_end_matches(':')),
                    None => Stamp::Absent,
                };
                self.state = State::SofiaHead(Head {
                    line: self.line_no,
                    sent,
                    transport,
                    stamp,
                });
            }
            // The separator after the stamp line may be missing.
            State::SofiaHead(h) if raw.trim() == SOFIA_SEP => {
                self.state = State::SofiaBody(h, Body::default());
            }
            State::SofiaHead(h) => self.sofia_body_line(h, Body::default(), raw),
            State::SofiaBody(h, b) if raw.trim() == SOFIA_SEP => self.sofia_message(h, b),
            State::SofiaBody(h, b) => self.sofia_body_line(h, b, raw),
            other => self.state = other,
        }
    }

    fn sofia_body_line(&mut self, h: Head, mut b: Body, raw: &str) {
        let l = raw.strip_prefix("   ").unwrap_or(raw);
        b.push(l, MAX_MESSAGE);
        b.push("\r\n", MAX_MESSAGE);
        self.state = State::SofiaBody(h, b);
    }

    fn sofia_message(&mut self, h: Head, mut b: Body) {
        // The blank line that ends the header section may be logged as an
        // indented empty line or not at all.
        if !b.text.ends_with("\r\n\r\n") {
            b.push("\r\n", MAX_MESSAGE);
        }
        self.emit(h, b);
        self.state = State::SofiaIdle;
    }

    // Asterisk: `<--- Transmitting SIP request (N bytes) to UDP:host:port
    // --->` or `<--- Received SIP response (N bytes) from ...`, then the
    // message, up to the next `<--- `.

    fn asterisk_line(&mut self, line: &str) {
        let Some(first) = self.find.mark.find(line.as_bytes()) else {
            if let State::Asterisk(Some((_, b))) = &mut self.state {
                b.push(line, MAX_MESSAGE);
            }
            return;
        };
        if let State::Asterisk(open) = &mut self.state {
            if let Some((h, mut b)) = open.take() {
                b.push(&line[..first], MAX_MESSAGE);
                self.emit(h, b);
            }
        }
        // A mark's head runs to the end of its line: only the last mark of
        // a line can open a message, and only if the line is complete.
        let last = self
            .find
            .mark
            .find_iter(line.as_bytes())
            .last()
            .unwrap_or(first);
        let Some(head) = line[last..].strip_suffix('\n') else {
            return;
        };
        let sent = head.contains("Transmitting SIP");
        if !sent && !head.contains("Received SIP") {
            return;
        }
        let transport = head
            .split_once(") to ")
            .or_else(|| head.split_once(") from "))
            .and_then(|(_, t)| t.split(':').next())
            .and_then(Transport::parse);
        let h = Head {
            line: self.line_no,
            sent,
            transport,
            stamp: Stamp::Absent,
        };
        self.state = State::Asterisk(Some((h, Body::default())));
    }
}
