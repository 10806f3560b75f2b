//! The WARNING lines of `res_pjsip_outbound_registration`: the only place
//! Asterisk names the status code of a failed registration.
//!
//! Lines are matched on the message text wherever it sits in the line
//! (console, `messages` log, `asterisk -r` output), after ANSI colour codes
//! are removed. The messages, from `handle_registration_response()` and
//! `schedule_retry()`:
//!
//! | message | meaning | facts |
//! |---|---|---|
//! | `Fatal response '<code>' received from '<server>' on registration attempt to '<client>', stopping outbound registration` | a permanent failure (401/407 after credentials, 403, 404, other 4xx) and no retry configured | REGISTER sent, the response, host gave up |
//! | `403 Forbidden fatal response received from ... retrying in '<n>' seconds` | 403 with `forbidden_retry_interval` | REGISTER sent, 403 |
//! | `'<code>' fatal response received from ... retrying in '<n>' seconds` | permanent failure with `fatal_retry_interval` | REGISTER sent, the response |
//! | `Temporal response '<code>' received from ... retrying in '<n>'` | 408/500/502/503/504/6xx **from the registrar**, or 401/407 with `auth_rejection_permanent=no` | REGISTER sent, the response |
//! | `No response received from ... retrying in '<n>'` | no response at all (transaction timeout or transport failure: Asterisk has no rdata) | REGISTER sent, timeout |
//! | `Maximum retries reached when attempting outbound registration to '<server>' with client '<client>', stopping registration attempt` | `max_retries` temporary failures | host gave up |
//! | `Fatal registration attempt to '<client>', stopping outbound registration` | a permanent failure without a response | host gave up |
//! | `Failed to create authenticated REGISTER request to server '<server>' from client '<client>'` | a challenge Asterisk could not answer (no usable auth) | none (the Fatal line that follows carries the code) |
//!
//! **Credentials.** Asterisk answers every 401/407 by itself and logs only
//! the final answer. The REGISTER that got that answer carried credentials
//! exactly when the registration has an `outbound_auth` (the
//! [`IndexEntry::has_credentials`](super::IndexEntry::has_credentials) of
//! the index), so that is what the `RegisterSent` fact says. A `Fatal
//! response '401'` therefore reads as "credentials sent and refused", and
//! a 403 to a registration with credentials as the Twilio-style answer to a
//! wrong password (`credentials_rejected`); without credentials a 403 is
//! `account_forbidden`. A registrar that answers 403 before challenging
//! (IP ACL) is indistinguishable here; raw SIP observation tells them apart.
use super::index::{IndexEntry, RegistrationIndex};
use crate::core::{HostState, RegisterSent};
use crate::hosts::text::{parse_code, reason_phrase, strip_ansi};
use crate::hosts::{Fact, FactKind, HostError, OwnedResponse};

/// What one registration log line says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogEvent {
    /// `Fatal response '<code>' ..., stopping outbound registration`.
    FatalResponse {
        /// The status code.
        code: u16,
        /// The registrar URI.
        server_uri: String,
        /// The AOR URI.
        client_uri: String,
    },
    /// `403 Forbidden fatal response received ... retrying in '<n>' seconds`.
    ForbiddenRetry {
        /// The registrar URI.
        server_uri: String,
        /// The AOR URI.
        client_uri: String,
        /// Seconds until the next attempt.
        retry_in_s: Option<u32>,
    },
    /// `'<code>' fatal response received ... retrying in '<n>' seconds`.
    FatalRetry {
        /// The status code.
        code: u16,
        /// The registrar URI.
        server_uri: String,
        /// The AOR URI.
        client_uri: String,
        /// Seconds until the next attempt.
        retry_in_s: Option<u32>,
    },
    /// `Temporal response '<code>' received ... retrying in '<n>'`.
    TemporalResponse {
        /// The status code.
        code: u16,
        /// The registrar URI.
        server_uri: String,
        /// The AOR URI.
        client_uri: String,
        /// Seconds until the next attempt.
        retry_in_s: Option<u32>,
    },
    /// `No response received from ... retrying in '<n>'`.
    NoResponse {
        /// The registrar URI.
        server_uri: String,
        /// The AOR URI.
        client_uri: String,
        /// Seconds until the next attempt.
        retry_in_s: Option<u32>,
    },
    /// `Maximum retries reached ..., stopping registration attempt`.
    MaxRetries {
        /// The registrar URI.
        server_uri: String,
        /// The AOR URI.
        client_uri: String,
    },
    /// `Fatal registration attempt to '<client>', stopping outbound registration`.
    FatalNoResponse {
        /// The AOR URI.
        client_uri: String,
    },
    /// `Failed to create authenticated REGISTER request ...`.
    AuthNotPossible {
        /// The registrar URI.
        server_uri: String,
        /// The AOR URI.
        client_uri: String,
    },
}

/// A recognised log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// The bracketed time at the start of the line (`Nov 24 06:01:09`), if any.
    pub timestamp: Option<String>,
    /// The level word after it (`WARNING`), if any.
    pub level: Option<String>,
    /// What it says.
    pub event: LogEvent,
}

/// Matches literal pieces in order, returning the text between them. The
/// first piece may sit anywhere; text after the last piece is ignored.
fn captures<'a>(text: &'a str, pieces: &[&str]) -> Option<Vec<&'a str>> {
    let (first, rest) = pieces.split_first()?;
    let start = text.find(first)? + first.len();
    let mut pos = start;
    let mut out = Vec::with_capacity(rest.len());
    for p in rest {
        let i = text.get(pos..)?.find(p)?;
        out.push(&text[pos..pos + i]);
        pos += i + p.len();
    }
    Some(out)
}

fn secs(s: &str) -> Option<u32> {
    s.trim().parse().ok()
}

/// Recognises one line; `None` for every other line.
pub fn parse_log_line(line: &str) -> Option<LogLine> {
    let clean = strip_ansi(line);
    let text = clean.trim();
    let event = parse_event(text)?;
    let (timestamp, level) = match text.strip_prefix('[') {
        Some(rest) => match rest.find(']') {
            Some(close) => {
                let ts = rest[..close].trim().to_owned();
                let after = rest[close + 1..].trim_start();
                let word: String = after
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase())
                    .collect();
                (Some(ts), (!word.is_empty()).then_some(word))
            }
            None => (None, None),
        },
        None => (None, None),
    };
    Some(LogLine {
        timestamp,
        level,
        event,
    })
}

fn parse_event(text: &str) -> Option<LogEvent> {
    const ON: &str = "' on registration attempt to '";
    if let Some(c) = captures(
        text,
        &[
            "Fatal response '",
            "' received from '",
            ON,
            "', stopping outbound registration",
        ],
    ) {
        return Some(LogEvent::FatalResponse {
            code: parse_code(c[0])?,
            server_uri: c[1].to_owned(),
            client_uri: c[2].to_owned(),
        });
    }
    if let Some(c) = captures(
        text,
        &[
            "403 Forbidden fatal response received from '",
            ON,
            "', retrying in '",
            "'",
        ],
    ) {
        return Some(LogEvent::ForbiddenRetry {
            server_uri: c[0].to_owned(),
            client_uri: c[1].to_owned(),
            retry_in_s: secs(c[2]),
        });
    }
    if let Some(c) = captures(
        text,
        &[
            "' fatal response received from '",
            ON,
            "', retrying in '",
            "'",
        ],
    ) {
        let at = text.find("' fatal response received from '")?;
        let before = &text[..at];
        let code = &before[before.rfind('\'')? + 1..];
        return Some(LogEvent::FatalRetry {
            code: parse_code(code)?,
            server_uri: c[0].to_owned(),
            client_uri: c[1].to_owned(),
            retry_in_s: secs(c[2]),
        });
    }
    if let Some(c) = captures(
        text,
        &[
            "Temporal response '",
            "' received from '",
            ON,
            "', retrying in '",
            "'",
        ],
    ) {
        return Some(LogEvent::TemporalResponse {
            code: parse_code(c[0])?,
            server_uri: c[1].to_owned(),
            client_uri: c[2].to_owned(),
            retry_in_s: secs(c[3]),
        });
    }
    if let Some(c) = captures(
        text,
        &["No response received from '", ON, "', retrying in '", "'"],
    ) {
        return Some(LogEvent::NoResponse {
            server_uri: c[0].to_owned(),
            client_uri: c[1].to_owned(),
            retry_in_s: secs(c[2]),
        });
    }
    if let Some(c) = captures(
        text,
        &[
            "Maximum retries reached when attempting outbound registration to '",
            "' with client '",
            "', stopping registration attempt",
        ],
    ) {
        return Some(LogEvent::MaxRetries {
            server_uri: c[0].to_owned(),
            client_uri: c[1].to_owned(),
        });
    }
    if let Some(c) = captures(
        text,
        &[
            "Fatal registration attempt to '",
            "', stopping outbound registration",
        ],
    ) {
        return Some(LogEvent::FatalNoResponse {
            client_uri: c[0].to_owned(),
        });
    }
    if let Some(c) = captures(
        text,
        &[
            "Failed to create authenticated REGISTER request to server '",
            "' from client '",
            "'",
        ],
    ) {
        return Some(LogEvent::AuthNotPossible {
            server_uri: c[0].to_owned(),
            client_uri: c[1].to_owned(),
        });
    }
    None
}

impl LogEvent {
    /// The AOR URI the line names.
    pub fn client_uri(&self) -> &str {
        match self {
            LogEvent::FatalResponse { client_uri, .. }
            | LogEvent::ForbiddenRetry { client_uri, .. }
            | LogEvent::FatalRetry { client_uri, .. }
            | LogEvent::TemporalResponse { client_uri, .. }
            | LogEvent::NoResponse { client_uri, .. }
            | LogEvent::MaxRetries { client_uri, .. }
            | LogEvent::FatalNoResponse { client_uri }
            | LogEvent::AuthNotPossible { client_uri, .. } => client_uri,
        }
    }

    /// The registrar URI the line names (all but `FatalNoResponse`).
    pub fn server_uri(&self) -> Option<&str> {
        match self {
            LogEvent::FatalResponse { server_uri, .. }
            | LogEvent::ForbiddenRetry { server_uri, .. }
            | LogEvent::FatalRetry { server_uri, .. }
            | LogEvent::TemporalResponse { server_uri, .. }
            | LogEvent::NoResponse { server_uri, .. }
            | LogEvent::MaxRetries { server_uri, .. }
            | LogEvent::AuthNotPossible { server_uri, .. } => Some(server_uri),
            LogEvent::FatalNoResponse { .. } => None,
        }
    }

    /// The status code, when the line has one.
    pub fn code(&self) -> Option<u16> {
        match self {
            LogEvent::FatalResponse { code, .. }
            | LogEvent::FatalRetry { code, .. }
            | LogEvent::TemporalResponse { code, .. } => Some(*code),
            LogEvent::ForbiddenRetry { .. } => Some(403),
            _ => None,
        }
    }

    /// Seconds until Asterisk tries again, when it says.
    pub fn retry_in_s(&self) -> Option<u32> {
        match self {
            LogEvent::ForbiddenRetry { retry_in_s, .. }
            | LogEvent::FatalRetry { retry_in_s, .. }
            | LogEvent::TemporalResponse { retry_in_s, .. }
            | LogEvent::NoResponse { retry_in_s, .. } => *retry_in_s,
            _ => None,
        }
    }

    /// Whether Asterisk stopped the registration for good (until reload).
    pub fn stops(&self) -> bool {
        matches!(
            self,
            LogEvent::FatalResponse { .. }
                | LogEvent::MaxRetries { .. }
                | LogEvent::FatalNoResponse { .. }
        )
    }

    fn entry<'a>(&self, index: &'a RegistrationIndex) -> Result<&'a IndexEntry, HostError> {
        let found = match self.server_uri() {
            Some(s) => index.find(self.client_uri(), s),
            None => index.find_by_client(self.client_uri()),
        };
        found.ok_or_else(|| HostError::UnknownRegistration {
            client_uri: self.client_uri().to_owned(),
            server_uri: self.server_uri().unwrap_or("").to_owned(),
        })
    }

    /// The engine inputs for this line (see the module docs for the
    /// table). `AuthNotPossible` gives none.
    pub fn facts(&self, index: &RegistrationIndex) -> Result<Vec<Fact>, HostError> {
        let e = self.entry(index)?;
        // `None`: not known.
        let sent = |with_credentials: Option<bool>| {
            Fact::new(
                e.name.clone(),
                FactKind::RegisterSent(RegisterSent {
                    expires: e.expires,
                    with_credentials: with_credentials == Some(true),
                    transport: e.transport,
                    credentials_unknown: with_credentials.is_none(),
                }),
            )
        };
        let response = |code: u16| {
            let mut r = OwnedResponse::new(code, reason_phrase(code));
            r.transport = e.transport;
            Fact::new(e.name.clone(), FactKind::RegisterResponse(r))
        };
        let gave_up = |why: String| {
            Fact::new(
                e.name.clone(),
                FactKind::HostState {
                    state: HostState::GaveUp,
                    detail: Some(why),
                },
            )
        };
        // Asterisk logs only the final answer. A 401/407 there answered
        // credentials (the first challenge is handled silently). A 403 may
        // answer the first, unauthenticated REGISTER (even Twilio answers
        // 403 before any challenge when registration is off on the
        // domain) or the credentials: the line does not say which.
        let creds = |code: u16| match (e.has_credentials, code) {
            (false, _) => Some(false),
            (true, 403) => None,
            (true, _) => Some(true),
        };
        Ok(match self {
            LogEvent::FatalResponse { code, .. } => vec![
                sent(creds(*code)),
                response(*code),
                gave_up(format!(
                    "Asterisk stopped the registration after a fatal '{code}'"
                )),
            ],
            LogEvent::ForbiddenRetry { .. } => vec![sent(creds(403)), response(403)],
            LogEvent::FatalRetry { code, .. } | LogEvent::TemporalResponse { code, .. } => {
                vec![sent(creds(*code)), response(*code)]
            }
            LogEvent::NoResponse { .. } => vec![
                sent(Some(false)),
                Fact::new(
                    e.name.clone(),
                    FactKind::RegisterTimeout {
                        transport: e.transport,
                    },
                ),
            ],
            LogEvent::MaxRetries { .. } => vec![gave_up(
                "Asterisk stopped the registration: maximum retries reached".to_owned(),
            )],
            LogEvent::FatalNoResponse { .. } => vec![gave_up(
                "Asterisk stopped the registration after a fatal failure without a response"
                    .to_owned(),
            )],
            LogEvent::AuthNotPossible { .. } => Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message() {
        let l = parse_log_line("\u{1b}[0;33m[Nov 24 06:01:09] WARNING[31507]: res_pjsip_outbound_registration.c:1585 handle_registration_response: Fatal response '403' received from 'sip:127.0.0.1:15061' on registration attempt to 'sip:acme@127.0.0.1:15061', stopping outbound registration\u{1b}[0m").unwrap();
        assert_eq!(l.timestamp.as_deref(), Some("Nov 24 06:01:09"));
        assert_eq!(l.level.as_deref(), Some("WARNING"));
        assert_eq!(l.event.code(), Some(403));
        assert!(l.event.stops());
        let e = parse_event("'404' fatal response received from 's' on registration attempt to 'c', retrying in '30' seconds").unwrap();
        assert_eq!((e.code(), e.retry_in_s()), (Some(404), Some(30)));
        let e = parse_event("403 Forbidden fatal response received from 's' on registration attempt to 'c', retrying in '5' seconds").unwrap();
        assert_eq!(e.code(), Some(403));
        let e = parse_event("Temporal response '503' received from 's' on registration attempt to 'c', retrying in '60'").unwrap();
        assert_eq!(e.code(), Some(503));
        let e = parse_event(
            "No response received from 's' on registration attempt to 'c', retrying in '20'",
        )
        .unwrap();
        assert_eq!((e.server_uri(), e.client_uri()), (Some("s"), "c"));
        assert!(parse_event("Maximum retries reached when attempting outbound registration to 's' with client 'c', stopping registration attempt").unwrap().stops());
        assert!(
            parse_event("Fatal registration attempt to 'c', stopping outbound registration")
                .unwrap()
                .stops()
        );
        assert!(parse_event(
            "Failed to create authenticated REGISTER request to server 's' from client 'c'"
        )
        .is_some());
        assert!(parse_event("Fatal response 'abc' received from 's' on registration attempt to 'c', stopping outbound registration").is_none());
        assert!(parse_event("NOTICE something else").is_none());
    }
}
