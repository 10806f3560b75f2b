//! Table tests for `sip::uri`.
use super::*;

#[test]
fn split_host_port_table() {
    // (input, host, port)
    let table: &[(&str, &str, Option<u16>)] = &[
        ("acme.sip.twilio.com", "acme.sip.twilio.com", None),
        ("  acme.sip.twilio.com  ", "acme.sip.twilio.com", None),
        ("proxy.example:5080", "proxy.example", Some(5080)),
        ("sip:proxy.example;lr", "proxy.example", None),
        ("sip:proxy.example:5070;lr", "proxy.example", Some(5070)),
        // RFC 3261 §19.1: `sips:` is a scheme like `sip:`, never a host.
        ("sips:proxy.example", "proxy.example", None),
        (
            "sips:proxy.example:5081;transport=tcp",
            "proxy.example",
            Some(5081),
        ),
        // Schemes are case-insensitive (§19.1.4).
        ("SIP:proxy.example:5062", "proxy.example", Some(5062)),
        ("Sips:proxy.example", "proxy.example", None),
        // A user part is not the host.
        ("sip:office@acme.example:5060", "acme.example", Some(5060)),
        ("sip:office:secret@acme.example", "acme.example", None),
        // Headers are not the host.
        ("sip:acme.example?subject=x", "acme.example", None),
        // IPv6: bracketed with a port, bracketed without, bare.
        ("[2001:db8::1]:5062", "2001:db8::1", Some(5062)),
        ("sip:[2001:db8::1]", "2001:db8::1", None),
        ("sips:[::1]:5061;lr", "::1", Some(5061)),
        ("2001:db8::1", "2001:db8::1", None),
        ("::1", "::1", None),
        // An unclosed bracket stays as written.
        ("[2001:db8::1", "[2001:db8::1", None),
        // An invalid port stays in the host, for the lookup to report.
        ("proxy.example:99999", "proxy.example:99999", None),
        ("proxy.example:http", "proxy.example:http", None),
        ("proxy.example:", "proxy.example:", None),
        ("[::1]:99999", "::1", None),
        // Nothing there.
        ("", "", None),
        ("sip:", "", None),
        // Another scheme is not stripped.
        ("tel:+15551234", "tel:+15551234", None),
    ];
    for &(input, host, port) in table {
        assert_eq!(split_host_port(input), (host, port), "{input:?}");
    }
}

#[test]
fn split_parts() {
    let p = split("sips:office:pw@[2001:db8::1]:5081;transport=tcp;lr?x=y");
    assert_eq!(
        p,
        UriParts {
            scheme: Some(Scheme::Sips),
            user: Some("office"),
            host: "2001:db8::1",
            bracketed: true,
            port: Some(5081),
            params: "transport=tcp;lr",
        }
    );
    let p = split("proxy.example");
    assert_eq!((p.scheme, p.user, p.bracketed), (None, None, false));
}

#[test]
fn default_ports() {
    // (port written, scheme, transport, port meant)
    let table = [
        (None, None, Transport::Udp, 5060),
        (None, None, Transport::Tcp, 5060),
        (None, None, Transport::Tls, 5061),
        (None, Some(Scheme::Sip), Transport::Udp, 5060),
        (None, Some(Scheme::Sip), Transport::Tls, 5061),
        (None, Some(Scheme::Sips), Transport::Tcp, 5061),
        (None, Some(Scheme::Sips), Transport::Tls, 5061),
        (Some(5080), Some(Scheme::Sips), Transport::Tls, 5080),
        (Some(5080), None, Transport::Udp, 5080),
    ];
    for (port, scheme, transport, want) in table {
        assert_eq!(
            port_or_default(port, scheme, transport),
            want,
            "{port:?} {scheme:?} {transport:?}"
        );
    }
    assert_eq!(Scheme::Sip.default_port(), SIP_PORT);
    assert_eq!(Scheme::Sips.default_port(), SIPS_PORT);
    let p = split("sips:acme.example");
    assert_eq!(port_or_default(p.port, p.scheme, Transport::Udp), 5061);
}

#[test]
fn strip_scheme_table() {
    let table = [
        ("sip:a", Some(Scheme::Sip), "a"),
        ("SIPS:a", Some(Scheme::Sips), "a"),
        ("sips", None, "sips"),
        ("sipx:a", None, "sipx:a"),
        ("s", None, "s"),
        ("", None, ""),
        ("é:sip:a", None, "é:sip:a"),
    ];
    for (input, scheme, rest) in table {
        assert_eq!(strip_scheme(input), (scheme, rest), "{input:?}");
    }
}

#[test]
fn wire_uri_table() {
    // (uri, user, host, port, binding)
    type Row<'a> = (
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        Option<u16>,
        (&'a str, &'a str),
    );
    let table: &[Row<'_>] = &[
        (
            "sip:office@acme.sip.twilio.com",
            Some("office"),
            Some("acme.sip.twilio.com"),
            None,
            ("office", "acme.sip.twilio.com"),
        ),
        (
            "sip:office:pw@198.51.100.7:5062;ob",
            Some("office"),
            Some("198.51.100.7"),
            Some(5062),
            ("office:pw", "198.51.100.7:5062"),
        ),
        (
            "sips:acme.example:5061>;expires=60",
            None,
            Some("acme.example"),
            Some(5061),
            ("", "acme.example:5061"),
        ),
        (
            "sip:desk@[2001:db8::9]:5070;transport=tcp",
            Some("desk"),
            Some("2001:db8::9"),
            Some(5070),
            ("desk", "[2001:db8::9]:5070"),
        ),
        (
            "sip:[2001:db8::9]",
            None,
            Some("2001:db8::9"),
            None,
            ("", "[2001:db8::9]"),
        ),
        ("sip:", None, None, None, ("", "")),
        (
            "acme.example",
            None,
            Some("acme.example"),
            None,
            ("", "acme.example"),
        ),
        ("sip:a@b?h=1", Some("a"), Some("b"), None, ("a", "b")),
        ("sip:b:notaport", None, Some("b"), None, ("", "b:notaport")),
    ];
    for &(uri, user, host, port, binding) in table {
        assert_eq!(uri_user(uri), user, "user of {uri:?}");
        assert_eq!(uri_host(uri), host, "host of {uri:?}");
        assert_eq!(uri_port(uri), port, "port of {uri:?}");
        assert_eq!(uri_binding(uri), binding, "binding of {uri:?}");
    }
}

#[test]
fn a_request_uri_without_a_port_means_its_schemes_default() {
    for (uri, port) in [
        ("sip:acme.sip.twilio.com", 5060),
        ("sips:acme.sip.twilio.com", 5061),
        ("SIPS:acme.sip.twilio.com", 5061),
        ("sips:acme.sip.twilio.com:5081", 5081),
        ("sip:acme.sip.twilio.com:5061", 5061),
        ("sips:[2001:db8::1]", 5061),
        ("acme.sip.twilio.com", 5060),
    ] {
        assert_eq!(uri_port_or_default(uri), port, "{uri}");
    }
}

#[test]
fn never_panics_on_odd_text() {
    for s in [
        "[",
        "]",
        "@",
        ":",
        ";",
        "?",
        "[]:",
        "sip:[",
        "sips:@",
        "é@ü:ñ",
        "sip:a@[::1",
        "\u{0}:\u{0}",
    ] {
        let _ = (
            split(s),
            uri_host(s),
            uri_user(s),
            uri_port(s),
            uri_binding(s),
        );
    }
}

#[test]
fn agrees_with_the_domain_validator_on_well_formed_input() {
    use crate::validate::DomainParts;
    for s in [
        "acme.sip.twilio.com",
        "acme.sip.twilio.com:5080",
        "sip:acme.sip.twilio.com",
        "sips:acme.sip.twilio.com:5061",
        "sip:office@acme.sip.twilio.com:5062",
        "[2001:db8::1]:5062",
        "[2001:db8::1]",
        "2001:db8::1",
        "192.0.2.1:5060",
    ] {
        let d = DomainParts::parse(s);
        assert_eq!(split_host_port(s), (d.host.as_str(), d.port), "{s:?}");
    }
}
