//! Building the two requests regwatch sends itself: OPTIONS (keep-alive and
//! reachability probes) and REGISTER (the test registration), as RFC 3261
//! wants them (§8.1.1, §10.2, §11): a magic-cookie branch, a From tag, our
//! own Call-ID, Max-Forwards 70, Content-Length 0.
use crate::validate::Transport;
use std::fmt::Write;

/// Where a request is sent from and to, and as whom.
#[derive(Clone, Debug)]
pub struct RequestContext<'a> {
    /// The SIP domain: the Request-URI is `sip:<domain>` (`sips:` never;
    /// TLS is a transport choice here, as Twilio expects).
    pub domain: &'a str,
    /// The AOR user (From / To).
    pub user: &'a str,
    /// The transport the request goes over (Via).
    pub transport: Transport,
    /// Our `host:port` as the peer should reach us (Via sent-by, Contact).
    pub local: &'a str,
    /// The Call-ID.
    pub call_id: &'a str,
    /// The From tag.
    pub from_tag: &'a str,
    /// The Via branch, without the `z9hG4bK` cookie.
    pub branch: &'a str,
    /// The CSeq number.
    pub cseq: u32,
    /// The User-Agent value.
    pub user_agent: &'a str,
}

fn via_transport(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "UDP",
        Transport::Tcp => "TCP",
        Transport::Tls => "TLS",
    }
}

fn head(out: &mut String, method: &str, c: &RequestContext<'_>, to_user: bool) {
    let _ = write!(
        out,
        "{method} sip:{domain} SIP/2.0\r\n\
         Via: SIP/2.0/{t} {local};branch=z9hG4bK{branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{user}@{domain}>;tag={tag}\r\n",
        domain = c.domain,
        t = via_transport(c.transport),
        local = c.local,
        branch = c.branch,
        user = c.user,
        tag = c.from_tag,
    );
    if to_user {
        let _ = write!(out, "To: <sip:{}@{}>\r\n", c.user, c.domain);
    } else {
        let _ = write!(out, "To: <sip:{}>\r\n", c.domain);
    }
    let _ = write!(
        out,
        "Call-ID: {}\r\nCSeq: {} {method}\r\nUser-Agent: {}\r\n",
        c.call_id, c.cseq, c.user_agent
    );
}

/// An OPTIONS request to `sip:<domain>` (To is the domain: the registrar
/// itself is asked, not a user).
pub fn options(c: &RequestContext<'_>) -> String {
    let mut out = String::with_capacity(384);
    head(&mut out, "OPTIONS", c, false);
    out.push_str("Accept: application/sdp\r\nContent-Length: 0\r\n\r\n");
    out
}

/// A REGISTER without Contact (RFC 3261 §10.2.3: a query for the AOR's
/// bindings, which changes none) and without credentials.
pub fn register_query(c: &RequestContext<'_>) -> String {
    register_query_with(c, None)
}

/// A query REGISTER (no Contact, RFC 3261 §10.2.3) that may carry
/// credentials: `authorization` as for [`register`]. Answered 200, it
/// lists every binding the registrar holds for the AOR.
pub fn register_query_with(c: &RequestContext<'_>, authorization: Option<(&str, &str)>) -> String {
    let mut out = String::with_capacity(512);
    head(&mut out, "REGISTER", c, true);
    if let Some((name, value)) = authorization {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

/// A REGISTER without Contact (a query: it adds and changes no binding)
/// with an `Authorization` or `Proxy-Authorization` header when given
/// (the answer to the registrar's challenge).
pub fn register_query_authorized(
    c: &RequestContext<'_>,
    authorization: Option<(&str, &str)>,
) -> String {
    let mut out = String::with_capacity(640);
    head(&mut out, "REGISTER", c, true);
    if let Some((name, value)) = authorization {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

/// The transport parameter our Contact carries (none for UDP).
fn contact_transport(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "",
        Transport::Tcp => ";transport=tcp",
        Transport::Tls => ";transport=tls",
    }
}

/// A REGISTER for `user@domain` binding `sip:<user>@<local>` for
/// `expires` seconds (0 removes it). `authorization` is a complete header
/// line value pair, e.g. `("Proxy-Authorization", "Digest ...")`.
pub fn register(
    c: &RequestContext<'_>,
    expires: u32,
    authorization: Option<(&str, &str)>,
) -> String {
    let mut out = String::with_capacity(640);
    head(&mut out, "REGISTER", c, true);
    let _ = write!(
        out,
        "Contact: <sip:{}@{}{}>\r\nExpires: {expires}\r\n",
        c.user,
        c.local,
        contact_transport(c.transport)
    );
    if let Some((name, value)) = authorization {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::parse;

    fn ctx() -> RequestContext<'static> {
        RequestContext {
            domain: "acme.sip.twilio.com",
            user: "office",
            transport: Transport::Tcp,
            local: "192.0.2.10:40123",
            call_id: "rw-1-abc",
            from_tag: "t1",
            branch: "-rw-1",
            cseq: 7,
            user_agent: "regwatch/0.1.0",
        }
    }

    #[test]
    fn options_parses_back() {
        let o = options(&ctx());
        let m = parse(o.as_bytes()).unwrap();
        assert_eq!(m.method(), Some("OPTIONS"));
        assert_eq!(m.cseq(), Some((7, "OPTIONS")));
        assert_eq!(m.branch(), Some("z9hG4bK-rw-1"));
        assert_eq!(m.call_id(), Some("rw-1-abc"));
        assert_eq!(m.to().and_then(|t| t.user()), None);
        assert_eq!(m.content_length(), Some(0));
        assert!(o.starts_with(
            "OPTIONS sip:acme.sip.twilio.com SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.10:40123;"
        ));
    }

    #[test]
    fn register_parses_back() {
        let r = register(
            &ctx(),
            600,
            Some(("Proxy-Authorization", "Digest username=\"office\"")),
        );
        let m = parse(r.as_bytes()).unwrap();
        assert_eq!(m.method(), Some("REGISTER"));
        assert_eq!(m.expires(), Some(600));
        let c = m.contacts();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].addr.uri, "sip:office@192.0.2.10:40123;transport=tcp");
        assert_eq!(
            m.any_authorization().and_then(|a| a.username),
            Some("office")
        );
        assert_eq!(m.to().and_then(|t| t.user()), Some("office"));
    }
}
