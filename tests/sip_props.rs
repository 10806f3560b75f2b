//! Property tests of the SIP parser, the stream framer and raw-SIP
//! observation: generated messages in every form real traffic uses parse
//! back to what was written (round trip), and no input of any shape makes
//! them panic.
use proptest::collection::vec;
use proptest::prelude::*;
use regwatch::sip::{parse, Frame, StartLine, StreamFramer};
use regwatch::{Direction, Engine, EngineConfig, Transport, TrunkConfig};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/sip");

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,15}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,8}(\\.[a-z][a-z0-9-]{0,8}){1,3}",
        (1u8..=254, 0u8..=255, 0u8..=255, 1u8..=254)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        (1u16..0xffff, 1u16..0xffff).prop_map(|(a, b)| format!("[2001:db8::{a:x}:{b:x}]")),
    ]
}

#[derive(Clone, Debug)]
struct Binding {
    display: Option<String>,
    user: String,
    host: String,
    port: u16,
    expires: Option<u32>,
}

fn binding() -> impl Strategy<Value = Binding> {
    (
        proptest::option::of("[A-Za-z ,;<>]{1,12}"),
        token(),
        host(),
        1u16..,
        proptest::option::of(0u32..100_000),
    )
        .prop_map(|(display, user, host, port, expires)| Binding {
            display,
            user,
            host,
            port,
            expires,
        })
}

#[derive(Clone, Debug)]
struct ChallengeSpec {
    proxy: bool,
    realm: String,
    nonce: String,
    algorithm: Option<String>,
    qop: Option<String>,
    opaque: Option<String>,
    stale: bool,
}

fn challenge() -> impl Strategy<Value = ChallengeSpec> {
    (
        any::<bool>(),
        "[a-z0-9.]{1,20}",
        "[A-Za-z0-9+/=]{4,32}",
        proptest::option::of(prop_oneof![
            Just("MD5"),
            Just("MD5-sess"),
            Just("SHA-256"),
            Just("SHA-512-256")
        ]),
        proptest::option::of(prop_oneof![Just("auth"), Just("auth,auth-int")]),
        proptest::option::of("[a-f0-9]{0,16}"),
        any::<bool>(),
    )
        .prop_map(
            |(proxy, realm, nonce, algorithm, qop, opaque, stale)| ChallengeSpec {
                proxy,
                realm,
                nonce,
                algorithm: algorithm.map(str::to_owned),
                qop: qop.map(str::to_owned),
                opaque,
                stale,
            },
        )
}

/// How the message is written, independent of what it says.
#[derive(Clone, Debug)]
struct Form {
    lf_only: bool,
    compact: bool,
    /// 0: as usual, 1: lower case, 2: upper case.
    name_case: u8,
    space_before_colon: bool,
    fold_via: bool,
    vias_in_one_header: bool,
    contacts_in_one_header: bool,
    leading_crlf: bool,
}

fn form() -> impl Strategy<Value = Form> {
    (
        any::<bool>(),
        any::<bool>(),
        0u8..3,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(a, b, c, d, e, f, g, h)| Form {
            lf_only: a,
            compact: b,
            name_case: c,
            space_before_colon: d,
            fold_via: e,
            vias_in_one_header: f,
            contacts_in_one_header: g,
            leading_crlf: h,
        })
}

#[derive(Clone, Debug)]
struct Spec {
    /// `Some(method, uri)` for a request, else a response.
    request: Option<(String, String)>,
    status: u16,
    reason: String,
    call_id: String,
    cseq: u32,
    cseq_method: String,
    vias: Vec<(String, String)>,
    from_user: String,
    from_tag: String,
    contacts: Vec<Binding>,
    expires: Option<u32>,
    min_expires: Option<u32>,
    retry_after: Option<u32>,
    challenge: Option<ChallengeSpec>,
    server: Option<String>,
    body: Vec<u8>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        proptest::option::of(("[A-Z]{3,9}", host().prop_map(|h| format!("sip:{h}")))),
        100u16..700,
        "[A-Za-z][A-Za-z ]{0,20}",
        "[A-Za-z0-9][A-Za-z0-9.@_-]{0,30}",
        any::<u32>(),
        prop_oneof![Just("REGISTER"), Just("OPTIONS"), Just("INVITE")],
        vec((host(), token()), 1..4),
        (token(), token()),
        vec(binding(), 0..4),
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<u32>()),
        (
            proptest::option::of(any::<u32>()),
            proptest::option::of(challenge()),
            proptest::option::of("[A-Za-z][A-Za-z0-9 ./()-]{0,30}"),
            vec(any::<u8>(), 0..64),
        ),
    )
        .prop_map(
            |(
                request,
                status,
                reason,
                call_id,
                cseq,
                method,
                vias,
                (from_user, from_tag),
                contacts,
                expires,
                min_expires,
                (retry_after, challenge, server, body),
            )| Spec {
                request,
                status,
                reason: reason.trim_end().to_owned(),
                call_id,
                cseq,
                cseq_method: method.to_owned(),
                vias,
                from_user,
                from_tag,
                contacts,
                expires,
                min_expires,
                retry_after,
                challenge,
                server: server.map(|s| s.trim_end().to_owned()),
                body,
            },
        )
}

fn name(full: &'static str, compact: Option<&'static str>, f: &Form) -> String {
    let n = match compact {
        Some(c) if f.compact => c,
        _ => full,
    };
    let n = match f.name_case {
        1 => n.to_ascii_lowercase(),
        2 => n.to_ascii_uppercase(),
        _ => n.to_owned(),
    };
    if f.space_before_colon {
        format!("{n} ")
    } else {
        n
    }
}

fn render_binding(b: &Binding) -> String {
    let mut s = String::new();
    if let Some(d) = &b.display {
        s.push_str(&format!("\"{d}\" "));
    }
    s.push_str(&format!("<{}>", binding_uri(b)));
    if let Some(e) = b.expires {
        s.push_str(&format!(";expires={e}"));
    }
    s
}

fn binding_uri(b: &Binding) -> String {
    format!("sip:{}@{}:{}", b.user, b.host, b.port)
}

fn render(s: &Spec, f: &Form) -> Vec<u8> {
    let mut lines: Vec<String> = Vec::new();
    match &s.request {
        Some((method, uri)) => lines.push(format!("{method} {uri} SIP/2.0")),
        None => lines.push(format!("SIP/2.0 {} {}", s.status, s.reason)),
    }
    let vias: Vec<String> = s
        .vias
        .iter()
        .map(|(h, b)| format!("SIP/2.0/UDP {h}:5060;branch=z9hG4bK{b};rport"))
        .collect();
    let via_name = name("Via", Some("v"), f);
    if f.vias_in_one_header {
        lines.push(format!("{via_name}: {}", vias.join(", ")));
    } else {
        for v in &vias {
            lines.push(format!("{via_name}: {v}"));
        }
    }
    if f.fold_via {
        // Fold the first Via before its parameters.
        let first = lines.iter_mut().find(|l| l.starts_with(&via_name)).unwrap();
        *first = first.replacen(";branch", "\n\t ;branch", 1);
    }
    lines.push(format!(
        "{}: <sip:{}@example.com>;tag={}",
        name("From", Some("f"), f),
        s.from_user,
        s.from_tag
    ));
    lines.push(format!(
        "{}: <sip:{}@example.com>",
        name("To", Some("t"), f),
        s.from_user
    ));
    lines.push(format!("{}: {}", name("Call-ID", Some("i"), f), s.call_id));
    lines.push(format!(
        "{}: {} {}",
        name("CSeq", None, f),
        s.cseq,
        s.cseq_method
    ));
    let contact_name = name("Contact", Some("m"), f);
    if f.contacts_in_one_header && !s.contacts.is_empty() {
        let all: Vec<String> = s.contacts.iter().map(render_binding).collect();
        lines.push(format!("{contact_name}: {}", all.join(",")));
    } else {
        for b in &s.contacts {
            lines.push(format!("{contact_name}: {}", render_binding(b)));
        }
    }
    if let Some(e) = s.expires {
        lines.push(format!("{}: {e}", name("Expires", None, f)));
    }
    if let Some(e) = s.min_expires {
        lines.push(format!("{}: {e}", name("Min-Expires", None, f)));
    }
    if let Some(e) = s.retry_after {
        lines.push(format!("{}: {e} (busy)", name("Retry-After", None, f)));
    }
    if let Some(c) = &s.challenge {
        let header = if c.proxy {
            name("Proxy-Authenticate", None, f)
        } else {
            name("WWW-Authenticate", None, f)
        };
        let mut params = vec![
            format!("realm=\"{}\"", c.realm),
            format!("nonce=\"{}\"", c.nonce),
        ];
        if let Some(a) = &c.algorithm {
            params.push(format!("algorithm={a}"));
        }
        if let Some(q) = &c.qop {
            params.push(format!("qop=\"{q}\""));
        }
        if let Some(o) = &c.opaque {
            params.push(format!("opaque=\"{o}\""));
        }
        if c.stale {
            params.push("stale=true".into());
        }
        lines.push(format!("{header}: Digest {}", params.join(", ")));
    }
    if let Some(srv) = &s.server {
        lines.push(format!("{}: {srv}", name("Server", None, f)));
    }
    lines.push(format!(
        "{}: {}",
        name("Content-Length", Some("l"), f),
        s.body.len()
    ));
    let eol = if f.lf_only { "\n" } else { "\r\n" };
    let mut out = String::new();
    if f.leading_crlf {
        out.push_str("\r\n\r\n");
    }
    for l in &lines {
        out.push_str(&l.replace('\n', eol));
        out.push_str(eol);
    }
    out.push_str(eol);
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&s.body);
    bytes
}

/// Calls every accessor, for the "never panics" properties.
fn touch_everything(bytes: &[u8]) {
    if let Ok(m) = parse(bytes) {
        let _ = (
            m.method(),
            m.status(),
            m.via(),
            m.branch(),
            m.call_id(),
            m.cseq(),
        );
        let _ = (m.from().map(|a| (a.user(), a.tag())), m.to());
        for c in m.contacts() {
            let _ = (c.addr.user(), regwatch::sip::uri_host(c.addr.uri));
        }
        let _ = (
            m.expires(),
            m.min_expires(),
            m.retry_after(),
            m.content_length(),
        );
        let _ = (m.server(), m.user_agent(), m.x_twilio_error());
        let _ = (
            m.www_authenticate(),
            m.proxy_authenticate(),
            m.any_authorization(),
        );
        for h in m.headers() {
            let _ = h.unfolded();
        }
    }
}

fn corpus() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(CORPUS)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sip"))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    out.sort();
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// What was written is what is read, in every form.
    #[test]
    fn round_trip(s in spec(), f in form()) {
        let bytes = render(&s, &f);
        let m = parse(&bytes).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        match (&s.request, m.start) {
            (Some((method, uri)), StartLine::Request { method: pm, uri: pu }) => {
                prop_assert_eq!(method.as_str(), pm);
                prop_assert_eq!(uri.as_str(), pu);
            }
            (None, StartLine::Response { code, reason }) => {
                prop_assert_eq!(s.status, code);
                prop_assert_eq!(s.reason.as_str(), reason);
            }
            (_, other) => prop_assert!(false, "start line {other:?}"),
        }
        prop_assert_eq!(m.call_id(), Some(s.call_id.as_str()));
        prop_assert_eq!(m.cseq(), Some((s.cseq, s.cseq_method.as_str())));
        prop_assert_eq!(m.via().len(), s.vias.len());
        let branch = format!("z9hG4bK{}", s.vias[0].1);
        prop_assert_eq!(m.branch(), Some(branch.as_str()));
        let from = m.from().unwrap();
        prop_assert_eq!(from.user(), Some(s.from_user.as_str()));
        prop_assert_eq!(from.tag(), Some(s.from_tag.as_str()));
        prop_assert_eq!(m.to().unwrap().tag(), None);
        let got: Vec<(String, Option<u32>, String)> = m
            .contacts()
            .iter()
            .map(|c| (c.addr.uri.to_owned(), c.expires, c.addr.display.to_owned()))
            .collect();
        let want: Vec<(String, Option<u32>, String)> = s
            .contacts
            .iter()
            .map(|b| (binding_uri(b), b.expires, b.display.clone().unwrap_or_default()))
            .collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(m.expires(), s.expires);
        prop_assert_eq!(m.min_expires(), s.min_expires);
        prop_assert_eq!(m.retry_after(), s.retry_after);
        prop_assert_eq!(m.server(), s.server.as_deref());
        prop_assert_eq!(m.content_length(), Some(s.body.len()));
        prop_assert_eq!(m.body, &s.body[..]);
        match &s.challenge {
            None => {
                prop_assert!(m.www_authenticate().is_none() && m.proxy_authenticate().is_none());
            }
            Some(c) => {
                let got = if c.proxy { m.proxy_authenticate() } else { m.www_authenticate() };
                let got = got.unwrap();
                prop_assert_eq!(got.realm, Some(c.realm.as_str()));
                prop_assert_eq!(got.nonce, Some(c.nonce.as_str()));
                prop_assert_eq!(got.algorithm, c.algorithm.as_deref());
                prop_assert_eq!(got.qop, c.qop.as_deref());
                prop_assert_eq!(got.opaque, c.opaque.as_deref());
                prop_assert_eq!(got.stale, c.stale);
                prop_assert_eq!(got.offers_qop("auth"), c.qop.is_some());
            }
        }
    }

    /// Messages sent back to back on a stream and cut anywhere come out of
    /// the framer whole, in order, each parsing to the same message.
    #[test]
    fn framing_round_trip(
        msgs in vec((spec(), form()), 1..5),
        cuts in vec(1usize..200, 1..40),
    ) {
        let rendered: Vec<Vec<u8>> = msgs.iter().map(|(s, f)| render(s, f)).collect();
        let stream: Vec<u8> = rendered.concat();
        let mut framer = StreamFramer::new();
        let mut frames = Vec::new();
        let (mut at, mut i) = (0, 0);
        while at < stream.len() {
            let n = cuts[i % cuts.len()].min(stream.len() - at);
            framer.push(&stream[at..at + n]);
            at += n;
            i += 1;
            while let Some(f) = framer.next_frame().map_err(|e| TestCaseError::fail(format!("{e}")))? {
                if let Frame::Message(m) = f {
                    frames.push(m);
                }
            }
        }
        prop_assert_eq!(frames.len(), rendered.len());
        for (frame, original) in frames.iter().zip(&rendered) {
            let a = parse(frame).unwrap();
            let b = parse(original).unwrap();
            prop_assert_eq!(a.raw, b.raw);
        }
        prop_assert_eq!(framer.buffered(), 0);
    }

    /// Arbitrary bytes: an error or a message, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..2048)) {
        touch_everything(&bytes);
        let mut framer = StreamFramer::new();
        framer.push(&bytes);
        while let Ok(Some(_)) = framer.next_frame() {}
    }

    /// Corpus messages with bytes replaced, inserted and removed: an error
    /// or a message, never a panic; raw-SIP observation too.
    #[test]
    fn mutated_corpus_never_panics(
        pick in any::<prop::sample::Index>(),
        edits in vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..16),
    ) {
        let all = corpus();
        let mut bytes = pick.get(&all).clone();
        for (at, op, b) in edits {
            let i = if bytes.is_empty() { 0 } else { at.index(bytes.len()) };
            match op {
                0 if !bytes.is_empty() => bytes[i] = b,
                1 => bytes.insert(i, b),
                _ if !bytes.is_empty() => { bytes.remove(i); }
                _ => {}
            }
        }
        touch_everything(&bytes);
        let mut engine = Engine::new(EngineConfig::default(), 0, 7);
        let mut cfg = TrunkConfig::new("office");
        cfg.set("domain", "acme.sip.twilio.com").unwrap();
        cfg.set("username", "office").unwrap();
        engine.add_trunk(0, cfg).unwrap();
        for dir in [Direction::Sent, Direction::Received] {
            let _ = engine.observe_sip(1, dir, Some(Transport::Udp), &bytes);
        }
        while engine.poll_output().is_some() {}
    }
}
