//! Validation tables: every finding code, 40+ domains with their expected
//! codes, credentials, expiry, transport, realm and Request-URI checks.
use regwatch::validate::{
    codes, suggest_domain, validate_credentials, validate_domain, validate_expiry, validate_realm,
    validate_request_uri, validate_transport, DomainParts, Finding, Profile, Severity, Transport,
};
use std::collections::BTreeSet;
use std::sync::Mutex;

use Profile::{Generic as G, Twilio as T};

/// Every code any test here produced; `every_code_is_produced` checks the set.
static SEEN: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());

fn record(f: &[Finding]) -> Vec<&'static str> {
    let mut codes: Vec<&'static str> = f.iter().map(|f| f.code).collect();
    SEEN.lock().unwrap().extend(codes.iter().copied());
    codes.sort_unstable();
    codes.dedup();
    codes
}

/// (domain, profile, expected codes, expected suggestion)
const DOMAINS: &[(&str, Profile, &[&str], Option<&str>)] = &[
    // Good ones.
    ("acme.sip.twilio.com", T, &[], None),
    ("acme.sip.ashburn.twilio.com", T, &[], None),
    ("acme.sip.us1.twilio.com", T, &[], None),
    ("acme.sip.dublin.twilio.com", T, &[], None),
    ("acme.sip.sao-paulo.twilio.com", T, &[], None),
    ("acme.sip.london-ix.twilio.com", T, &[], None),
    ("acme-corp-2.sip.twilio.com", T, &[], None),
    ("acme.sip.twilio.com:5061", T, &[], None),
    ("pbx.example.com", G, &[], None),
    ("sip.provider.example.net:5080", G, &[], None),
    // Decorations.
    (
        "https://acme.sip.twilio.com",
        T,
        &["domain.scheme_prefix"],
        Some("acme.sip.twilio.com"),
    ),
    (
        "http://acme.sip.twilio.com/",
        T,
        &["domain.path", "domain.scheme_prefix"],
        Some("acme.sip.twilio.com"),
    ),
    (
        "sip:acme.sip.twilio.com",
        T,
        &["domain.scheme_prefix"],
        Some("acme.sip.twilio.com"),
    ),
    (
        "office@acme.sip.twilio.com",
        T,
        &["domain.user_part"],
        Some("acme.sip.twilio.com"),
    ),
    (
        "acme.sip.twilio.com/register",
        T,
        &["domain.path"],
        Some("acme.sip.twilio.com"),
    ),
    (
        "acme.sip.twilio.com;transport=tls",
        T,
        &["domain.path"],
        Some("acme.sip.twilio.com"),
    ),
    (
        " acme.sip.twilio.com ",
        T,
        &["domain.whitespace"],
        Some("acme.sip.twilio.com"),
    ),
    ("acme.sip .twilio.com", T, &["domain.whitespace"], None),
    (
        "acme.sip.twilio.com.",
        T,
        &["domain.trailing_dot"],
        Some("acme.sip.twilio.com"),
    ),
    (
        "ACME.sip.Twilio.com",
        T,
        &["domain.uppercase"],
        Some("acme.sip.twilio.com"),
    ),
    ("PBX.Example.com", G, &["domain.uppercase"], None),
    ("acme..sip.twilio.com", T, &["domain.invalid_chars"], None),
    ("acme_!.example.com", G, &["domain.invalid_chars"], None),
    (
        "acme.sip.twilio.com:99999",
        T,
        &["domain.invalid_chars"],
        None,
    ),
    ("аcme.sip.twilio.com", T, &["domain.invalid_chars"], None), // Cyrillic а
    ("", T, &["domain.empty"], None),
    ("   ", G, &["domain.empty"], None),
    // IP literals.
    ("54.172.60.0", T, &["domain.ip_literal"], None),
    ("192.0.2.10:5060", G, &["domain.ip_literal"], None),
    ("[2001:db8::1]:5060", G, &["domain.ip_literal"], None),
    // Twilio typos.
    (
        "acme.sip.twillio.com",
        T,
        &["domain.typo"],
        Some("acme.sip.twilio.com"),
    ),
    (
        "acme.sip.twilo.com",
        T,
        &["domain.typo"],
        Some("acme.sip.twilio.com"),
    ),
    (
        "acme.sip.twiilio.com",
        T,
        &["domain.typo"],
        Some("acme.sip.twilio.com"),
    ),
    (
        "acme.sip.tiwlio.com",
        T,
        &["domain.typo"],
        Some("acme.sip.twilio.com"),
    ),
    (
        "acme.spi.twilio.com",
        T,
        &["domain.typo"],
        Some("acme.sip.twilio.com"),
    ),
    (
        "acme.sip.twilio.co",
        T,
        &["domain.typo"],
        Some("acme.sip.twilio.com"),
    ),
    (
        "acme.sip.twillio.com",
        G,
        &["domain.typo"],
        Some("acme.sip.twilio.com"),
    ),
    // Structure.
    (
        "acme.twilio.com",
        T,
        &["domain.missing_sip_label"],
        Some("acme.sip.twilio.com"),
    ),
    (
        "acme.ashburn.twilio.com",
        T,
        &["domain.missing_sip_label"],
        Some("acme.sip.ashburn.twilio.com"),
    ),
    ("sip.twilio.com", T, &["domain.missing_sip_label"], None),
    ("twilio.com", T, &["domain.missing_sip_label"], None),
    (
        "www.acme.sip.twilio.com",
        T,
        &["domain.extra_label"],
        Some("acme.sip.twilio.com"),
    ),
    (
        "sip.acme.sip.twilio.com",
        T,
        &["domain.extra_label"],
        Some("acme.sip.twilio.com"),
    ),
    (
        "pbx.office.acme.sip.twilio.com",
        T,
        &["domain.extra_label"],
        Some("acme.sip.twilio.com"),
    ),
    (
        "acme.sip.ashburn.dublin.twilio.com",
        T,
        &["domain.extra_label"],
        Some("acme.sip.ashburn.twilio.com"),
    ),
    (
        "acme.sip.london.twilio.com",
        T,
        &["domain.unknown_edge"],
        Some("acme.sip.twilio.com"),
    ),
    (
        "acme.sip.roaming.twilio.com",
        T,
        &["domain.unknown_edge"],
        Some("acme.sip.twilio.com"),
    ),
    (
        "acme.sip.ashbourn.twilio.com",
        T,
        &["domain.unknown_edge"],
        Some("acme.sip.ashburn.twilio.com"),
    ),
    (
        "acme.sip.sydeny.twilio.com",
        T,
        &["domain.unknown_edge"],
        Some("acme.sip.sydney.twilio.com"),
    ),
    (
        "acme.pstn.twilio.com",
        T,
        &["domain.pstn_termination_uri"],
        None,
    ),
    (
        "acme.pstn.ashburn.twilio.com",
        T,
        &["domain.pstn_termination_uri"],
        None,
    ),
    ("pbx.example.com", T, &["domain.not_provider"], None),
    // Several at once.
    (
        "https://office@ACME.sip.twillio.com./",
        T,
        &[
            "domain.path",
            "domain.scheme_prefix",
            "domain.trailing_dot",
            "domain.typo",
            "domain.uppercase",
            "domain.user_part",
        ],
        Some("acme.sip.twilio.com"),
    ),
];

#[test]
fn domain_table() {
    assert!(DOMAINS.len() >= 40, "{} domains", DOMAINS.len());
    let mut failures = Vec::new();
    for (domain, profile, want, suggestion) in DOMAINS {
        let got = record(&validate_domain(domain, *profile));
        let mut want: Vec<&str> = want.to_vec();
        want.sort_unstable();
        if got != want {
            failures.push(format!(
                "{domain:?} ({profile:?}): got {got:?}, want {want:?}"
            ));
        }
        let s = suggest_domain(domain);
        if s.as_deref() != *suggestion {
            failures.push(format!("{domain:?}: suggestion {s:?}, want {suggestion:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Host names at and past DNS's limits: 253 octets in all (without the
/// trailing dot), 63 in a label.
#[test]
fn domain_length_limits() {
    let label = |n: usize| "a".repeat(n);
    // 4 labels of 63 + 3 dots = 255; three of 63 and one of 61 = 253.
    let at_limit = format!("{}.{}.{}.{}", label(63), label(63), label(63), label(61));
    assert_eq!(at_limit.len(), 253);
    assert!(record(&validate_domain(&at_limit, G)).is_empty());
    assert!(record(&validate_domain(&format!("{at_limit}."), G)).contains(&"domain.trailing_dot"));
    let over = format!("{at_limit}a");
    let f = validate_domain(&over, G);
    assert_eq!(record(&f), ["domain.too_long"]);
    assert_eq!(f[0].severity, Severity::Error);
    assert!(f[0].message.contains("254 characters"), "{f:?}");
    let f = validate_domain(&format!("{}.sip.twilio.com", label(64)), T);
    assert_eq!(record(&f), ["domain.too_long"]);
    assert!(
        f[0].message.contains("64 characters") && f[0].message.contains("63"),
        "{f:?}"
    );
    assert!(record(&validate_domain(&format!("{}.example.com", label(63)), G)).is_empty());
    // Huge input: one finding, a short message.
    let f = validate_domain(&"a.".repeat(5000), G);
    assert_eq!(record(&f), ["domain.too_long", "domain.trailing_dot"]);
    assert!(f.iter().all(|f| f.message.len() < 200), "{f:?}");
}

#[test]
fn findings_are_complete_and_fixes_name_the_correction() {
    for f in validate_domain("acme.sip.twillio.com", T) {
        assert!(!f.message.is_empty() && !f.fix.is_empty());
        assert_eq!(f.field, "domain");
        assert!(f.fix.contains("acme.sip.twilio.com"), "{f:?}");
        assert_eq!(f.severity, Severity::Error);
    }
    let f = validate_domain("acme.sip.ashbourn.twilio.com", T);
    assert!(f[0].message.contains("ashburn"), "{f:?}");
}

#[test]
fn profile_detection() {
    assert_eq!(Profile::detect("acme.sip.twilio.com"), T);
    assert_eq!(Profile::detect("https://acme.sip.twillio.com"), T);
    assert_eq!(Profile::detect("pbx.example.com"), G);
    assert_eq!(Profile::detect(""), G);
}

#[test]
fn domain_parts() {
    let p = DomainParts::parse("sips:office@Acme.SIP.twilio.com.:5061;transport=tls");
    assert_eq!(p.host, "acme.sip.twilio.com");
    assert_eq!(p.port, Some(5061));
    assert_eq!(DomainParts::parse("[::1]:5060").host, "::1");
    assert_eq!(DomainParts::parse("host:0").port, None);
}

#[test]
fn request_uri() {
    let ok = record(&validate_request_uri(
        "sip:acme.sip.twilio.com",
        "acme.sip.twilio.com",
        T,
    ));
    assert!(ok.is_empty());
    assert!(record(&validate_request_uri(
        "sip:ACME.sip.twilio.com:5060;transport=udp",
        "acme.sip.twilio.com",
        T
    ))
    .is_empty());
    let f = validate_request_uri("sip:office@acme.sip.twilio.com", "acme.sip.twilio.com", T);
    assert_eq!(record(&f), ["domain.user_part"]);
    assert_eq!(f[0].severity, Severity::Error);
    assert_eq!(f[0].field, "request_uri");
    let f = validate_request_uri("sip:office@pbx.example.com", "pbx.example.com", G);
    assert_eq!(f[0].severity, Severity::Warning);
    let f = validate_request_uri("sip:other.sip.twilio.com", "acme.sip.twilio.com", T);
    assert_eq!(record(&f), ["domain.request_uri_mismatch"]);
}

/// (username, auth_username, password, profile, expected codes)
#[allow(clippy::type_complexity)]
const CREDENTIALS: &[(&str, Option<&str>, Option<&str>, Profile, &[&str])] = &[
    ("office", None, Some("Str0ngPassw0rd"), T, &[]),
    ("office", Some("office"), Some("Str0ngPassw0rd"), T, &[]),
    ("1001", None, Some("lab-pass-12345"), G, &[]),
    (
        "",
        None,
        Some("Str0ngPassw0rd"),
        T,
        &["credentials.username_empty"],
    ),
    (
        "a-very-long-username-for-twilio-x",
        None,
        Some("Str0ngPassw0rd"),
        T,
        &["credentials.username_too_long"],
    ),
    (
        "a-very-long-username-for-twilio-x",
        None,
        Some("Str0ngPassw0rd"),
        G,
        &[],
    ),
    (
        "office pbx",
        None,
        Some("Str0ngPassw0rd"),
        T,
        &["credentials.username_chars"],
    ),
    (
        "office@acme",
        None,
        Some("Str0ngPassw0rd"),
        G,
        &["credentials.username_chars"],
    ),
    (
        "оffice",
        None,
        Some("Str0ngPassw0rd"),
        T,
        &["credentials.username_chars"],
    ), // Cyrillic о
    (
        "office",
        Some("pbx"),
        Some("Str0ngPassw0rd"),
        T,
        &["credentials.auth_user_mismatch"],
    ),
    (
        "office",
        Some("pbx"),
        Some("Str0ngPassw0rd"),
        G,
        &["credentials.auth_user_mismatch"],
    ),
    ("office", None, None, T, &["credentials.password_empty"]),
    ("office", None, Some(""), G, &["credentials.password_empty"]),
    (
        "office",
        None,
        Some("Str0ngPassw0rd "),
        T,
        &["credentials.password_whitespace"],
    ),
    (
        "office",
        None,
        Some("\tStr0ngPassw0rd"),
        G,
        &["credentials.password_whitespace"],
    ),
    (
        "office",
        None,
        Some("Str0ng Passw0rd"),
        G,
        &["credentials.password_whitespace"],
    ),
    (
        "office",
        None,
        Some("Str0ngPаssw0rd"),
        T,
        &["credentials.password_nonascii"],
    ), // Cyrillic а
    (
        "office",
        None,
        Some("Str0ngPassw0rd\u{a0}x"),
        G,
        &[
            "credentials.password_nonascii",
            "credentials.password_whitespace",
        ],
    ),
    (
        "office",
        None,
        Some("“Str0ngPassw0rd”"),
        G,
        &["credentials.password_nonascii"],
    ),
    (
        "office",
        None,
        Some("changeme"),
        T,
        &["credentials.password_placeholder"],
    ),
    (
        "office",
        None,
        Some("PASSWORD"),
        G,
        &["credentials.password_placeholder"],
    ),
    (
        "office",
        None,
        Some("<your password>"),
        G,
        &[
            "credentials.password_placeholder",
            "credentials.password_whitespace",
        ],
    ),
    (
        "office",
        None,
        Some("${SIP_PASSWORD}"),
        G,
        &["credentials.password_placeholder"],
    ),
    (
        "office",
        None,
        Some("$SIP_PASSWORD"),
        G,
        &["credentials.password_placeholder"],
    ),
    (
        "office",
        None,
        Some("xxxxxxxx"),
        G,
        &["credentials.password_placeholder"],
    ),
    (
        "office",
        None,
        Some("123456"),
        G,
        &["credentials.password_placeholder"],
    ),
    (
        "office",
        None,
        Some("Short1a"),
        T,
        &["credentials.password_weak"],
    ),
    (
        "office",
        None,
        Some("alllowercase123"),
        T,
        &["credentials.password_weak"],
    ),
    (
        "office",
        None,
        Some("NoDigitsAtAllHere"),
        T,
        &["credentials.password_weak"],
    ),
    (
        "office",
        None,
        Some("short"),
        G,
        &["credentials.password_weak"],
    ),
];

#[test]
fn credentials_table() {
    let mut failures = Vec::new();
    for (u, a, p, profile, want) in CREDENTIALS {
        let got = record(&validate_credentials(u, *a, *p, *profile));
        let mut want: Vec<&str> = want.to_vec();
        want.sort_unstable();
        if got != want {
            failures.push(format!(
                "{u:?}/{a:?} ({profile:?}): got {got:?}, want {want:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn no_finding_ever_contains_the_password() {
    // A small deterministic generator: passwords of every shape the rules
    // look at (short, long, spaces, non-ASCII, placeholders with suffixes).
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let alphabet: Vec<char> = "abcXYZ019 -_!$<>{}аé\u{a0}“".chars().collect();
    for i in 0..300 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = 3 + (x % 20) as usize;
        let mut p: String = (0..len)
            .map(|k| alphabet[((x >> (k % 50)) as usize + k * 7 + i) % alphabet.len()])
            .collect();
        if i % 10 == 0 {
            p = format!("changeme{i}");
        }
        for profile in [T, G] {
            for f in validate_credentials("office", Some("pbx"), Some(&p), profile) {
                assert!(
                    !f.message.contains(&p) && !f.fix.contains(&p),
                    "{p:?} leaked in {f:?}"
                );
                let core = p.trim();
                if core.chars().count() >= 4 {
                    assert!(!f.message.contains(core), "{core:?} leaked in {f:?}");
                }
            }
        }
    }
}

#[test]
fn expiry_table() {
    let cases: &[(u32, Option<f64>, Profile, &[&str])] = &[
        (3600, Some(0.5), T, &[]),
        (600, Some(0.5), T, &["expiry.refresh_ratio"]), // refresh every 300 s < 600 s
        (600, None, T, &[]),
        (7200, None, T, &["expiry.too_long"]),
        (300, None, T, &["expiry.too_short"]),
        (0, None, G, &["expiry.too_short"]),
        (30, None, G, &["expiry.too_short"]),
        (100_000, None, G, &["expiry.too_long"]),
        (3600, Some(0.95), G, &["expiry.refresh_ratio"]),
        (3600, Some(0.1), G, &["expiry.refresh_ratio"]),
    ];
    for (e, r, p, want) in cases {
        assert_eq!(
            record(&validate_expiry(*e, *r, *p)),
            *want,
            "{e} {r:?} {p:?}"
        );
    }
    assert_eq!(validate_expiry(0, None, T)[0].severity, Severity::Error);
}

#[test]
fn transport_table() {
    let cases: &[(Transport, Option<u16>, Profile, &[&str])] = &[
        (Transport::Tls, Some(5061), T, &[]),
        (Transport::Tls, None, T, &[]),
        (Transport::Tls, Some(5060), T, &["transport.port_mismatch"]),
        (Transport::Udp, Some(5061), G, &["transport.port_mismatch"]),
        (
            Transport::Tcp,
            Some(5061),
            T,
            &["transport.insecure", "transport.port_mismatch"],
        ),
        (Transport::Udp, Some(5060), T, &["transport.insecure"]),
        (Transport::Udp, Some(5060), G, &[]),
    ];
    for (t, port, p, want) in cases {
        assert_eq!(
            record(&validate_transport(*t, *port, *p)),
            *want,
            "{t} {port:?} {p:?}"
        );
    }
}

#[test]
fn realm_table() {
    assert!(record(&validate_realm(
        "sip.twilio.com",
        None,
        "acme.sip.twilio.com",
        T
    ))
    .is_empty());
    assert!(record(&validate_realm("", None, "acme.sip.twilio.com", T)).is_empty());
    let f = validate_realm("acme.sip.twilio.com", None, "acme.sip.twilio.com", T);
    assert_eq!(record(&f), ["realm.mismatch"]);
    assert!(f[0].message.contains("sip.twilio.com"));
    // Observed challenge realm wins; generic without one says nothing.
    assert_eq!(
        record(&validate_realm(
            "pbx",
            Some("pbx.example.net"),
            "pbx.example.net",
            G
        )),
        ["realm.mismatch"]
    );
    assert!(record(&validate_realm("anything", None, "pbx.example.net", G)).is_empty());
    assert!(record(&validate_realm(
        "pbx.example.net",
        Some("pbx.example.net"),
        "pbx.example.net",
        G
    ))
    .is_empty());
}

#[test]
fn never_panics_on_odd_input() {
    let long = "a.".repeat(5000);
    let inputs = [
        "",
        ".",
        "..",
        "...",
        "[",
        "[::1",
        "]",
        "@",
        "@@",
        ":",
        "::",
        "a:99999",
        "a:",
        ":5060",
        "//",
        "https://",
        "sip:",
        "sip:@",
        "sips:[",
        "ä",
        "ä.ö.ü",
        "😀.sip.twilio.com",
        "e\u{301}.sip.twilio.com",
        "a\0b.com",
        "\u{feff}acme.sip.twilio.com",
        long.as_str(),
        "-a-.com",
        "x.-.y",
        ".sip.twilio.com",
        "sip..twilio.com",
        "acme.sip.twilio.com:",
        "acme.sip.twilio.com:abc",
        "a@b@c",
        "/path",
        "?q",
        ";p",
        "[1:2:3]:x",
    ];
    for s in inputs {
        for p in [T, G] {
            let _ = validate_domain(s, p);
            let _ = validate_request_uri(s, s, p);
            let _ = suggest_domain(s);
            let _ = validate_credentials(s, Some(s), Some(s), p);
            let _ = validate_realm(s, Some(s), s, p);
            let _ = Profile::detect(s);
            let _ = DomainParts::parse(s);
        }
    }
}

#[test]
fn every_code_is_produced() {
    // Runs the tables (again) so this test does not depend on test order.
    domain_table();
    domain_length_limits();
    request_uri();
    credentials_table();
    expiry_table();
    transport_table();
    realm_table();
    let seen = SEEN.lock().unwrap().clone();
    let all: BTreeSet<&str> = codes::ALL.iter().copied().collect();
    let missing: Vec<_> = all.difference(&seen).collect();
    assert!(missing.is_empty(), "codes no test produces: {missing:?}");
}
