//! A lenient reader for the SIP URIs found in PBX configuration and events
//! (`sip:acme@127.0.0.1:15061`, `<sips:acme.sip.twilio.com;transport=tls>`,
//! `127.0.0.1:5091`).
//!
//! It extracts what the adapters need (scheme, user, host, port, URI
//! parameters) and never fails on decoration it does not understand; it is
//! not a validator. The splitting itself is [`crate::sip::uri::split`]'s.
use crate::sip::uri;
use crate::validate::Transport;

/// The parts of a SIP URI.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SipUri {
    /// `sip` or `sips` (lower case), or `None` when the text had no scheme.
    pub scheme: Option<String>,
    /// The user part, without a password.
    pub user: Option<String>,
    /// The host, as written (an IPv6 reference keeps its brackets).
    pub host: String,
    /// An explicit port.
    pub port: Option<u16>,
    /// URI parameters (`;transport=tcp`, `;lr`), names lower-cased.
    pub params: Vec<(String, Option<String>)>,
}

impl SipUri {
    /// Parses `sip:`/`sips:` URIs, name-addr forms (`"x" <sip:...>`) and bare
    /// `host[:port][;params]`. `None` when no host can be found, or when the
    /// text starts with another scheme (`https://...`).
    pub fn parse(text: &str) -> Option<SipUri> {
        let mut s = text.trim();
        if let Some(open) = s.find('<') {
            let inner = &s[open + 1..];
            s = match inner.find('>') {
                Some(close) => &inner[..close],
                None => inner,
            };
            s = s.trim();
        }
        let (scheme, rest) = uri::strip_scheme(s);
        if scheme.is_none() && rest.contains("://") {
            return None;
        }
        let parts = uri::split(s);
        if !parts.bracketed && parts.host.starts_with('[') {
            // An IPv6 reference without its closing bracket.
            return None;
        }
        let mut uri = SipUri {
            scheme: scheme.map(|s| s.as_str().to_owned()),
            user: parts.user.map(str::to_owned),
            host: if parts.bracketed {
                format!("[{}]", parts.host)
            } else {
                parts.host.to_owned()
            },
            port: parts.port,
            params: Vec::new(),
        };
        for p in parts.params.split(';') {
            let p = p.trim();
            if p.is_empty() {
                continue;
            }
            match p.find('=') {
                Some(eq) => uri
                    .params
                    .push((p[..eq].to_ascii_lowercase(), Some(p[eq + 1..].to_owned()))),
                None => uri.params.push((p.to_ascii_lowercase(), None)),
            }
        }
        if uri.host.is_empty() {
            return None;
        }
        Some(uri)
    }

    /// A URI parameter's value (`Some("")` for a flag such as `;lr`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    /// The transport the URI asks for: `;transport=`, else TLS for `sips:`.
    pub fn transport(&self) -> Option<Transport> {
        self.param("transport")
            .and_then(Transport::parse)
            .or_else(|| (self.scheme.as_deref() == Some("sips")).then_some(Transport::Tls))
    }

    /// `host[:port]`.
    pub fn host_port(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let u = SipUri::parse("sip:acme@127.0.0.1:15061").unwrap();
        assert_eq!(u.user.as_deref(), Some("acme"));
        assert_eq!((u.host.as_str(), u.port), ("127.0.0.1", Some(15061)));
        let u = SipUri::parse("<sips:acme.sip.twilio.com;transport=tls;lr>").unwrap();
        assert_eq!(u.transport(), Some(Transport::Tls));
        assert_eq!(u.param("lr"), Some(""));
        let u = SipUri::parse("127.0.0.1:5091").unwrap();
        assert_eq!((u.scheme, u.port), (None, Some(5091)));
        let u = SipUri::parse("sip:[::1]:5060").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("[::1]", Some(5060)));
        assert!(SipUri::parse("https://acme.sip.twilio.com").is_none());
        assert!(SipUri::parse("sip:").is_none());
        assert!(SipUri::parse("sip:[::1").is_none());
        assert!(SipUri::parse("sïp:é@ü").is_some());
        // Schemes are case-insensitive; a bare IPv6 address has no port.
        let u = SipUri::parse("SIPS:acme.sip.twilio.com").unwrap();
        assert_eq!(u.scheme.as_deref(), Some("sips"));
        assert_eq!(u.transport(), Some(Transport::Tls));
        let u = SipUri::parse("sip:2001:db8::1").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("2001:db8::1", None));
    }
}
