//! SIP URIs, RFC 3261 §19.1: the one place that splits them.
//!
//! `[sip:|sips:][user[:password]@]host[:port][;params][?headers]`, and the
//! bare `host[:port]` that configuration fields hold. The scheme is
//! case-insensitive and both `sip:` and `sips:` are schemes (never a host
//! name); an IPv6 reference is written in brackets (`[2001:db8::1]:5062`),
//! and a bare IPv6 address (`2001:db8::1`) has no port. A port is kept
//! only when it is a valid `u16`; otherwise the text stays in the host,
//! where the name lookup will report it.
//!
//! Two families of functions:
//! * [`split`] / [`split_host_port`]: lenient, for what people type in a
//!   configuration (surrounding white space, name-addr brackets are the
//!   caller's business).
//! * [`uri_host`], [`uri_user`], [`uri_port`], [`uri_binding`]: the
//!   borrowed, allocation-free views of a URI taken from a message on the
//!   wire (any scheme, a `>` ends the URI).
//!
//! Default ports (§19.1.2): 5060 for UDP and TCP, 5061 for TLS
//! ([`Transport::default_port`]) and for a `sips:` URI
//! ([`Scheme::default_port`]).
use crate::validate::Transport;

/// The well-known SIP port (UDP, TCP).
pub const SIP_PORT: u16 = 5060;
/// The well-known SIP-over-TLS port, and the default of `sips:` URIs.
pub const SIPS_PORT: u16 = 5061;

/// A SIP URI scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:` (TLS on every hop).
    Sips,
}

impl Scheme {
    /// `sip` or `sips`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Sip => "sip",
            Scheme::Sips => "sips",
        }
    }

    /// The port a URI of this scheme means when it names none: 5060, or
    /// 5061 for `sips:`.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Sip => SIP_PORT,
            Scheme::Sips => SIPS_PORT,
        }
    }
}

/// The scheme `s` starts with (ASCII case-insensitive), and the rest.
pub fn strip_scheme(s: &str) -> (Option<Scheme>, &str) {
    let b = s.as_bytes();
    if b.len() >= 5 && b[..5].eq_ignore_ascii_case(b"sips:") {
        (Some(Scheme::Sips), &s[5..])
    } else if b.len() >= 4 && b[..4].eq_ignore_ascii_case(b"sip:") {
        (Some(Scheme::Sip), &s[4..])
    } else {
        (None, s)
    }
}

/// The port `port` names, or the default one for `transport` (and 5061
/// whatever the transport for a `sips:` URI).
pub fn port_or_default(port: Option<u16>, scheme: Option<Scheme>, transport: Transport) -> u16 {
    port.unwrap_or(match scheme {
        Some(Scheme::Sips) => SIPS_PORT,
        _ => transport.default_port(),
    })
}

/// The parts of a SIP URI or `host[:port]`, borrowed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UriParts<'a> {
    /// `sip:` or `sips:`, when written.
    pub scheme: Option<Scheme>,
    /// The user part (password left out), when an `@` is present.
    pub user: Option<&'a str>,
    /// The host: an IPv6 reference without its brackets. Empty when none.
    /// An unclosed `[` keeps the text as it is.
    pub host: &'a str,
    /// Whether the host was written in brackets (`[2001:db8::1]`).
    pub bracketed: bool,
    /// A valid explicit port.
    pub port: Option<u16>,
    /// The URI parameters without the leading `;` (`lr;transport=tcp`).
    pub params: &'a str,
}

/// Splits `[sip:|sips:][user@]host[:port][;params][?headers]`, leniently:
/// white space around is ignored, a missing host is an empty one.
pub fn split(text: &str) -> UriParts<'_> {
    let (scheme, s) = strip_scheme(text.trim());
    let s = s.split('?').next().unwrap_or(s);
    let (user, s) = match s.rfind('@') {
        Some(at) => {
            let u = &s[..at];
            (Some(u.split(':').next().unwrap_or(u)), &s[at + 1..])
        }
        None => (None, s),
    };
    let (hostport, params) = s.split_once(';').unwrap_or((s, ""));
    let (host, port, bracketed) = host_port(hostport.trim());
    UriParts {
        scheme,
        user,
        host,
        bracketed,
        port,
        params,
    }
}

/// `host[:port]`, `[v6]:port`, or a bare IPv6 address: the host (without
/// brackets), the port, whether the host was bracketed.
fn host_port(s: &str) -> (&str, Option<u16>, bool) {
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((h, tail)) = rest.split_once(']') {
            return (h, tail.strip_prefix(':').and_then(|p| p.parse().ok()), true);
        }
        return (s, None, false);
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => match p.parse() {
            Ok(port) => (h, Some(port), false),
            Err(_) => (s, None, false),
        },
        _ => (s, None, false),
    }
}

/// The host and explicit port of a configured domain, proxy or URI
/// (`sips:proxy.example:5081;lr` → `("proxy.example", Some(5081))`).
pub fn split_host_port(s: &str) -> (&str, Option<u16>) {
    let p = split(s);
    (p.host, p.port)
}

/// A wire URI's user part and `host[:port]` (any scheme; parameters,
/// headers and a closing `>` cut off; the user empty when there is none).
pub fn uri_binding(uri: &str) -> (&str, &str) {
    let b = uri.as_bytes();
    let start = memchr::memchr(b':', b).map_or(0, |i| i + 1);
    let end = memchr::memchr3(b';', b'?', b'>', &b[start..]).map_or(b.len(), |i| start + i);
    // Every split point is an ASCII byte, hence a character boundary.
    let rest = uri.get(start..end).unwrap_or("");
    match memchr::memrchr(b'@', rest.as_bytes()) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => ("", rest),
    }
}

/// Whether a Contact URI names the binding `key` (a [`uri_binding`]: user
/// exact, host and port case-insensitive): how a 2xx to REGISTER is
/// searched for one binding among those it lists.
pub fn same_binding(uri: &str, key: (&str, &str)) -> bool {
    let (u, h) = uri_binding(uri);
    u == key.0 && h.eq_ignore_ascii_case(key.1)
}

/// The user part of a SIP URI.
pub fn uri_user(uri: &str) -> Option<&str> {
    let rest = uri.split_once(':').map(|(_, r)| r)?;
    let before_params = rest.split([';', '?']).next().unwrap_or(rest);
    before_params
        .split_once('@')
        .map(|(u, _)| u.split(':').next().unwrap_or(u))
}

/// The host part of a SIP URI (without port, lower-case left to the caller).
pub fn uri_host(uri: &str) -> Option<&str> {
    let hostport = uri_binding(uri).1;
    if let Some(v6) = hostport.strip_prefix('[') {
        return v6.split(']').next();
    }
    Some(hostport.split(':').next().unwrap_or(hostport)).filter(|h| !h.is_empty())
}

/// The explicit port of a SIP URI.
pub fn uri_port(uri: &str) -> Option<u16> {
    let hostport = uri_binding(uri).1;
    let port = match hostport.strip_prefix('[') {
        Some(v6) => v6.split_once("]:").map(|(_, p)| p)?,
        None => hostport.split_once(':').map(|(_, p)| p)?,
    };
    port.parse().ok()
}

/// The port a Request-URI means: the one it names, else its scheme's
/// default (5060 for `sip:`, 5061 for `sips:`, RFC 3261 §19.1.2).
pub fn uri_port_or_default(uri: &str) -> u16 {
    uri_port(uri).unwrap_or_else(|| strip_scheme(uri).0.unwrap_or(Scheme::Sip).default_port())
}

#[cfg(test)]
mod tests;
