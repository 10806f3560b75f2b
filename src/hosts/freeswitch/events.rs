//! `sofia::gateway_*` events: header maps, the raw `Key: Value` text and
//! the one-line compact form.
use crate::hosts::text::{clock_seconds, parse_code};
use crate::hosts::HostError;

/// One event as `(name, value)` headers (values as FreeSWITCH gave them,
/// not trimmed), plus the time prefix of the compact form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawEvent {
    /// `HH:MM:SS` from the start of a compact line, if any. For the raw
    /// form read the `Event-Date-Timestamp` header instead.
    pub time: Option<String>,
    /// The headers, in order.
    pub headers: Vec<(String, String)>,
}

impl RawEvent {
    /// The first header with this name (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// `Event-Subclass`.
    pub fn subclass(&self) -> Option<&str> {
        self.get("Event-Subclass")
    }
}

fn header<'a, K: AsRef<str>, V: AsRef<str>>(headers: &'a [(K, V)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.as_ref().trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_ref())
}

/// Headers that frame an event on the wire rather than belong to it.
fn framing(name: &str) -> bool {
    name.eq_ignore_ascii_case("Content-Length") || name.eq_ignore_ascii_case("Content-Type")
}

/// Splits the raw text form (every header as `Name: value`, events
/// separated by `=====` lines or blank lines, as in ESL `plain` output and
/// the captured fixtures) into events. Blocks that hold only framing
/// headers (`Content-Length`) are dropped. Never fails.
pub fn parse_raw_events(text: &str) -> Vec<RawEvent> {
    let mut out = Vec::new();
    let mut cur = RawEvent::default();
    let flush = |cur: &mut RawEvent, out: &mut Vec<RawEvent>| {
        if cur.headers.iter().any(|(k, _)| !framing(k)) {
            out.push(std::mem::take(cur));
        } else {
            cur.headers.clear();
        }
    };
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        let t = line.trim();
        if t.is_empty() || (t.len() >= 3 && t.bytes().all(|b| b == b'=')) {
            flush(&mut cur, &mut out);
            continue;
        }
        let (k, v) = match line.find(": ") {
            Some(i) => (&line[..i], &line[i + 2..]),
            None => match t.strip_suffix(':') {
                Some(k) => (k, ""),
                None => continue,
            },
        };
        let k = k.trim();
        if !k.is_empty() {
            cur.headers.push((k.to_owned(), v.to_owned()));
        }
    }
    flush(&mut cur, &mut out);
    out
}

fn key_end(s: &str, i: usize) -> Option<usize> {
    let b = s.as_bytes();
    if !b.get(i)?.is_ascii_alphabetic() {
        return None;
    }
    let mut j = i;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'-' || b[j] == b'_') {
        j += 1;
    }
    (b.get(j) == Some(&b'=')).then_some(j)
}

/// Parses one compact line: `[HH:MM:SS] <subclass> Key=value Key=value`,
/// where a value runs until the space before the next `Key=` (values may
/// hold spaces: `Phrase=Service Unavailable`). The subclass becomes an
/// `Event-Subclass` header. `None` when there is no `x::y` subclass.
pub fn parse_compact_line(line: &str) -> Option<RawEvent> {
    let line = line.trim_end_matches(['\r', '\n']).trim_start();
    let mut ev = RawEvent::default();
    let (first, mut rest) = split_word(line);
    let subclass = if clock_seconds(first).is_some() && first.len() == 8 {
        ev.time = Some(first.to_owned());
        let (s, r) = split_word(rest);
        rest = r;
        s
    } else {
        first
    };
    if !subclass.contains("::") {
        return None;
    }
    ev.headers
        .push(("Event-Subclass".to_owned(), subclass.to_owned()));
    let b = rest.as_bytes();
    let mut starts = Vec::new();
    for i in 0..b.len() {
        if (i == 0 || b[i - 1] == b' ') && key_end(rest, i).is_some() {
            starts.push(i);
        }
    }
    for (n, &s) in starts.iter().enumerate() {
        let Some(eq) = key_end(rest, s) else { continue };
        let end = match starts.get(n + 1) {
            Some(&next) => next - 1,
            None => rest.len(),
        };
        let value = rest.get(eq + 1..end.max(eq + 1)).unwrap_or("");
        ev.headers.push((rest[s..eq].to_owned(), value.to_owned()));
    }
    Some(ev)
}

fn split_word(s: &str) -> (&str, &str) {
    match s.find(' ') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    }
}

/// Every compact line of a text that parses.
pub fn parse_compact(text: &str) -> Vec<RawEvent> {
    text.split('\n').filter_map(parse_compact_line).collect()
}

/// A sofia gateway's registration state (`sofia_state_names[]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GatewayState {
    /// Not registered; about to try (or initial).
    Unreged,
    /// A REGISTER is under way.
    Trying,
    /// A 200 OK arrived (the event carries `Status: 200`).
    Register,
    /// Registered (the check loop's confirmation).
    Reged,
    /// Unregistering (set by the API, immediately turned into DOWN).
    Unregister,
    /// The attempt failed (`Status` carries the code, if it was a response).
    Failed,
    /// Waiting to retry.
    FailWait,
    /// Never used for gateways.
    Expired,
    /// `register=false`: not registering at all.
    Noreg,
    /// Stopped: profile stop/restart, `killgw`, `unregister`.
    Down,
    /// No answer within `timeout-seconds`.
    Timeout,
}

impl GatewayState {
    /// Every state.
    pub const ALL: [GatewayState; 11] = [
        GatewayState::Unreged,
        GatewayState::Trying,
        GatewayState::Register,
        GatewayState::Reged,
        GatewayState::Unregister,
        GatewayState::Failed,
        GatewayState::FailWait,
        GatewayState::Expired,
        GatewayState::Noreg,
        GatewayState::Down,
        GatewayState::Timeout,
    ];

    /// The name FreeSWITCH uses (`FAIL_WAIT`).
    pub fn as_str(self) -> &'static str {
        match self {
            GatewayState::Unreged => "UNREGED",
            GatewayState::Trying => "TRYING",
            GatewayState::Register => "REGISTER",
            GatewayState::Reged => "REGED",
            GatewayState::Unregister => "UNREGISTER",
            GatewayState::Failed => "FAILED",
            GatewayState::FailWait => "FAIL_WAIT",
            GatewayState::Expired => "EXPIRED",
            GatewayState::Noreg => "NOREG",
            GatewayState::Down => "DOWN",
            GatewayState::Timeout => "TIMEOUT",
        }
    }

    /// Parses a state name (any case).
    pub fn parse(s: &str) -> Option<GatewayState> {
        let s = s.trim();
        GatewayState::ALL
            .into_iter()
            .find(|g| g.as_str().eq_ignore_ascii_case(s))
    }
}

/// `Ping-Status`: the gateway's overall up/down flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PingStatus {
    /// Up (registered, or pings answered).
    Up,
    /// Down.
    Down,
    /// Invalid.
    Invalid,
}

impl PingStatus {
    /// Parses `UP`, `DOWN`, `INVALID` (any case).
    pub fn parse(s: &str) -> Option<PingStatus> {
        match s.trim().to_ascii_uppercase().as_str() {
            "UP" => Some(PingStatus::Up),
            "DOWN" => Some(PingStatus::Down),
            "INVALID" => Some(PingStatus::Invalid),
            _ => None,
        }
    }
}

/// A `sofia::gateway_state` event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayStateEvent {
    /// The gateway name.
    pub gateway: String,
    /// The new state.
    pub state: GatewayState,
    /// `Ping-Status`.
    pub ping_status: Option<PingStatus>,
    /// `Status`: the SIP code of a REGISTER (or OPTIONS) response, when
    /// the event carries one (locally generated ones included: 408, 503, 904).
    pub status: Option<u16>,
    /// `Phrase`, trimmed.
    pub phrase: Option<String>,
    /// `Register-Network-IP`: where the last REGISTER response came from.
    pub network_ip: Option<String>,
    /// `Register-Network-Port` (0 after a locally generated response).
    pub network_port: Option<u16>,
}

impl GatewayStateEvent {
    /// Whether a `Status` on this event was generated by sofia-sip itself
    /// rather than received: no `Register-Network-IP`, or
    /// `Register-Network-Port: 0` (FREESWITCH.md: the 503 of a refused
    /// connection arrives at once without a network address; the 408 of a
    /// transaction timeout carries port 0).
    pub fn is_local(&self) -> bool {
        let no_ip = match self.network_ip.as_deref() {
            Some(ip) => ip.is_empty(),
            None => true,
        };
        no_ip || self.network_port == Some(0)
    }
}

/// A sofia gateway event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GatewayEvent {
    /// `sofia::gateway_state`.
    State(GatewayStateEvent),
    /// `sofia::gateway_add`: the profile (re)created the gateway.
    Added {
        /// The gateway name.
        gateway: String,
        /// `profile-name`.
        profile: Option<String>,
    },
    /// `sofia::gateway_delete`: the gateway is gone (killgw, profile stop,
    /// rescan removal).
    Deleted {
        /// The gateway name.
        gateway: String,
        /// `profile-name`.
        profile: Option<String>,
    },
    /// `sofia::gateway_invalid_digest_req`: a 401/407 came from an address
    /// that is not the gateway's host (or `gw-auth-acl` denied it), so
    /// sofia did not answer it.
    InvalidDigest {
        /// The gateway name.
        gateway: String,
        /// `profile-name`.
        profile: Option<String>,
        /// The challenge's realm.
        realm: Option<String>,
    },
}

fn opt(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

impl GatewayEvent {
    /// Reads an event from its headers; the subclass comes from the
    /// `Event-Subclass` header.
    pub fn from_headers<K: AsRef<str>, V: AsRef<str>>(
        headers: &[(K, V)],
    ) -> Result<GatewayEvent, HostError> {
        let sub = header(headers, "Event-Subclass")
            .ok_or_else(|| HostError::Ignored("no Event-Subclass".into()))?;
        GatewayEvent::with_subclass(sub, headers)
    }

    /// Reads an event whose subclass is known separately.
    pub fn with_subclass<K: AsRef<str>, V: AsRef<str>>(
        subclass: &str,
        headers: &[(K, V)],
    ) -> Result<GatewayEvent, HostError> {
        let gateway = || {
            opt(header(headers, "Gateway"))
                .ok_or_else(|| HostError::Malformed("no Gateway header".into()))
        };
        let profile = || opt(header(headers, "profile-name"));
        match subclass.trim() {
            "sofia::gateway_state" => {
                let state_text = header(headers, "State")
                    .ok_or_else(|| HostError::Malformed("no State header".into()))?;
                let state = GatewayState::parse(state_text).ok_or_else(|| {
                    HostError::Malformed(format!("unknown gateway State `{}`", state_text.trim()))
                })?;
                Ok(GatewayEvent::State(GatewayStateEvent {
                    gateway: gateway()?,
                    state,
                    ping_status: header(headers, "Ping-Status").and_then(PingStatus::parse),
                    status: header(headers, "Status").and_then(parse_code),
                    phrase: opt(header(headers, "Phrase")),
                    network_ip: opt(header(headers, "Register-Network-IP")),
                    network_port: header(headers, "Register-Network-Port")
                        .and_then(|p| p.trim().parse().ok()),
                }))
            }
            "sofia::gateway_add" => Ok(GatewayEvent::Added {
                gateway: gateway()?,
                profile: profile(),
            }),
            "sofia::gateway_delete" => Ok(GatewayEvent::Deleted {
                gateway: gateway()?,
                profile: profile(),
            }),
            "sofia::gateway_invalid_digest_req" => Ok(GatewayEvent::InvalidDigest {
                gateway: gateway()?,
                profile: profile(),
                realm: opt(header(headers, "realm")),
            }),
            other => Err(HostError::Ignored(format!("event subclass `{other}`"))),
        }
    }

    /// Reads an event from a header map.
    pub fn from_map<S: std::hash::BuildHasher>(
        headers: &std::collections::HashMap<String, String, S>,
    ) -> Result<GatewayEvent, HostError> {
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        GatewayEvent::from_headers(&pairs)
    }

    /// Reads a [`RawEvent`].
    pub fn from_raw(ev: &RawEvent) -> Result<GatewayEvent, HostError> {
        GatewayEvent::from_headers(&ev.headers)
    }

    /// The gateway the event is about.
    pub fn gateway(&self) -> &str {
        match self {
            GatewayEvent::State(s) => &s.gateway,
            GatewayEvent::Added { gateway, .. }
            | GatewayEvent::Deleted { gateway, .. }
            | GatewayEvent::InvalidDigest { gateway, .. } => gateway,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_values_with_spaces() {
        let e = parse_compact_line("06:03:18 sofia::gateway_state Gateway=gw_401loop State=FAILED Ping-Status=DOWN Phrase=Operation has no matching challenge  Status=904").unwrap();
        assert_eq!(e.time.as_deref(), Some("06:03:18"));
        assert_eq!(
            e.get("Phrase"),
            Some("Operation has no matching challenge ")
        );
        assert_eq!(e.get("Status"), Some("904"));
        let g = GatewayEvent::from_raw(&e).unwrap();
        let GatewayEvent::State(s) = g else { panic!() };
        assert_eq!((s.state, s.status), (GatewayState::Failed, Some(904)));
        assert!(s.is_local());
        assert!(parse_compact_line("no subclass here").is_none());
        assert!(parse_compact_line("06:03:18").is_none());
    }

    #[test]
    fn from_a_map() {
        let mut m = std::collections::HashMap::new();
        m.insert(
            "Event-Subclass".to_owned(),
            "sofia::gateway_delete".to_owned(),
        );
        m.insert("Gateway".to_owned(), "gw".to_owned());
        assert!(matches!(
            GatewayEvent::from_map(&m),
            Ok(GatewayEvent::Deleted { .. })
        ));
    }

    #[test]
    fn raw_blocks() {
        let t = "====\nEvent-Subclass: sofia::gateway_add\nGateway: gw\nprofile-name: external\n\nContent-Length: 10\n====\n";
        let evs = parse_raw_events(t);
        assert_eq!(evs.len(), 1);
        assert_eq!(
            GatewayEvent::from_raw(&evs[0]).unwrap(),
            GatewayEvent::Added {
                gateway: "gw".into(),
                profile: Some("external".into())
            }
        );
    }
}
