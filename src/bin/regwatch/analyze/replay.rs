//! The messages of a capture through one engine: a trunk for each
//! registering user@domain (its registration's state and diagnosis), and
//! every REGISTER exchange tracked ([`Tracker`]) and summed up
//! ([`Report`]) with the engine's classification of its outcome. Every
//! message is accounted for: part of an exchange, about something else
//! than registration (counted per method), or not understood (counted per
//! reason with its offset).
use super::exchanges::{Exchange, Stray, Tracker};
use super::report::{Offset, Report, Tally};
use regwatch::capture;
use regwatch::sip::{self, StartLine};
use regwatch::{Direction, Engine, EngineConfig, Transport, TrunkConfig, TrunkId};
use std::sync::Arc;

/// Methods counted by name among the messages about something else;
/// more are counted together.
const METHODS_KEPT: usize = 32;

pub(crate) struct Replay {
    pub(super) engine: Engine,
    /// SIP messages handed over by the reader.
    pub(super) messages: u64,
    /// Of them, parsed.
    pub(super) used: u64,
    /// Of them, about something else than registration, per method (of
    /// the request, or of the request a response answers).
    pub(super) other: Vec<(String, u64)>,
    /// Not understood, and why.
    pub(super) skipped: Tally,
    /// Understood, but part of no exchange, and why.
    pub(super) unmatched: Tally,
    /// Left out before parsing: neither end a registering address (pcap).
    pub(super) outside: Tally,
    /// The earliest time fed (the timeline starts there).
    pub(super) first: Option<u64>,
    /// The latest time fed (the end of the capture).
    pub(super) last: u64,
    /// The name of the trunk a REGISTER is for (reused).
    name: String,
    tracker: Tracker,
    pub(super) report: Report,
}

impl Replay {
    pub(super) fn new(json: bool) -> Replay {
        Replay {
            // Every exchange of the capture stays in the timeline.
            engine: Engine::new(
                EngineConfig {
                    history_fold: false,
                    // The capture is all there is: the Authorization
                    // header says who authenticated.
                    wire_auth_user: true,
                    ..EngineConfig::default()
                },
                0,
                1,
            ),
            messages: 0,
            used: 0,
            other: Vec::new(),
            skipped: Tally::default(),
            unmatched: Tally::default(),
            outside: Tally::default(),
            first: None,
            last: 0,
            name: String::new(),
            tracker: Tracker::default(),
            report: Report::new(json),
        }
    }

    /// Exchanges the open limit closed early.
    pub(super) fn open_limit_hits(&self) -> u64 {
        self.tracker.open_limit_hits
    }

    fn other(&mut self, method: &str) {
        let kept = self.other.len();
        match self
            .other
            .iter_mut()
            .find(|(m, _)| m.eq_ignore_ascii_case(method))
        {
            Some((_, n)) => *n += 1,
            None if kept < METHODS_KEPT => self.other.push((method.to_owned(), 1)),
            None => {
                if self.other.len() == METHODS_KEPT {
                    self.other.push(("(other methods)".to_owned(), 0));
                }
                if let Some((_, n)) = self.other.last_mut() {
                    *n += 1;
                }
            }
        }
    }

    /// The trunk of a REGISTER's AOR (made when first seen), or `None`
    /// when it names no user.
    fn trunk_for(&mut self, at_ms: u64, m: &sip::Message<'_>) -> Option<(TrunkId, Arc<str>)> {
        let user = m.to().and_then(|t| t.user()).unwrap_or("");
        let domain = match m.start {
            StartLine::Request { uri, .. } => sip::uri_host(uri).unwrap_or(""),
            _ => "",
        };
        if user.is_empty() {
            return None;
        }
        let name = &mut self.name;
        name.clear();
        name.push_str(user);
        name.push('@');
        name.push_str(domain);
        let id = match self.engine.find_trunk(name) {
            Some(id) => id,
            None => {
                let mut cfg = TrunkConfig::new(name);
                let _ = cfg.set("domain", domain);
                let _ = cfg.set("username", user);
                // The capture does not hold the password. A stand-in that
                // passes the password rules keeps findings about a
                // password nobody typed out of the diagnosis; it is never
                // used (no digest is computed here).
                let _ = cfg.set("password", "Capture-Has-No-Password-1");
                let id = self.engine.add_trunk(at_ms, cfg).ok()?;
                while self.engine.poll_output().is_some() {}
                id
            }
        };
        let aor = self.engine.trunk_config(id)?.name.clone();
        Some((id, aor))
    }

    /// Closes what is due before `at_ms`.
    fn expire(&mut self, at_ms: u64) {
        let offset = self.first.unwrap_or(0);
        let report = &mut self.report;
        self.tracker
            .expire(&mut self.engine, at_ms, &mut |ex: Exchange| {
                report.add(&ex, offset)
            });
    }

    /// The end of the capture: every open exchange closes.
    pub(super) fn finish(&mut self) {
        let offset = self.first.unwrap_or(0);
        let end = self.last;
        self.expire(end);
        let report = &mut self.report;
        self.tracker
            .finish(&mut self.engine, end, &mut |ex: Exchange| {
                report.add(&ex, offset)
            });
    }

    /// One message at `at_ms`; `direction` as the registering side saw it,
    /// or `None` to tell from the message (a request is the client's).
    pub(super) fn feed(
        &mut self,
        at_ms: u64,
        direction: Option<Direction>,
        transport: Option<Transport>,
        bytes: &[u8],
        offset: Offset,
    ) {
        self.messages += 1;
        self.first = Some(self.first.map_or(at_ms, |f| f.min(at_ms)));
        self.last = self.last.max(at_ms);
        self.expire(at_ms);
        let m = match sip::parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.skipped.add(parse_reason(&e), offset);
                return;
            }
        };
        self.used += 1;
        let direction = direction.unwrap_or_else(|| capture::client_view(m.is_request()));
        let first = self.first.unwrap_or(0);
        let r = match (direction, m.start) {
            (Direction::Sent, StartLine::Request { method, .. })
                if method.eq_ignore_ascii_case("REGISTER") =>
            {
                match self.trunk_for(at_ms, &m) {
                    Some((id, aor)) => {
                        let report = &mut self.report;
                        let mut out = |ex: Exchange| report.add(&ex, first);
                        self.tracker.register(
                            &mut self.engine,
                            at_ms,
                            transport,
                            &m,
                            bytes,
                            &aor,
                            id,
                            &mut out,
                        )
                    }
                    None => Err(Stray::Unmatched),
                }
            }
            (Direction::Received, StartLine::Response { code, reason })
                if m.cseq()
                    .is_some_and(|(_, x)| x.eq_ignore_ascii_case("REGISTER")) =>
            {
                let report = &mut self.report;
                let mut out = |ex: Exchange| report.add(&ex, first);
                self.tracker.answer(
                    &mut self.engine,
                    at_ms,
                    transport,
                    &m,
                    code,
                    reason,
                    &mut out,
                )
            }
            (_, StartLine::Request { method, .. }) => {
                let what = if method.eq_ignore_ascii_case("REGISTER") {
                    "REGISTER (received by the registering side)"
                } else {
                    method
                };
                self.other(what);
                Ok(())
            }
            (_, StartLine::Response { .. }) => {
                let method = m.cseq().map_or("(no CSeq)", |(_, x)| x);
                let what = if method.eq_ignore_ascii_case("REGISTER") {
                    "REGISTER answers sent by the registering side".to_owned()
                } else {
                    format!("{method} answers")
                };
                self.other(&what);
                Ok(())
            }
        };
        if let Err(stray) = r {
            self.unmatched.add(stray.reason(), offset);
        }
    }
}

/// Why a message is not SIP, grouped by kind (the byte offset inside the
/// message left out, so that the reasons stay few).
fn parse_reason(e: &sip::ParseError) -> &'static str {
    use sip::ParseError as E;
    match e {
        E::Empty => "not a SIP message: empty",
        E::TooLarge => "not a SIP message: larger than 64 KiB",
        E::Truncated { .. } => {
            "not a SIP message: truncated (no end of the headers, or a body shorter than its Content-Length)"
        }
        E::BadStartLine { .. } => "not a SIP message: malformed start line",
        E::BadHeader { .. } => "not a SIP message: malformed header line",
        E::BadContentLength { .. } => "not a SIP message: malformed Content-Length",
        E::NotUtf8 { .. } => "not a SIP message: invalid UTF-8 in the headers",
    }
}
