//! The SIP parser on the forms real traffic contains.
use regwatch::sip::{parse, Frame, ParseError, StartLine, StreamFramer, MAX_MESSAGE};

const TWILIO_407: &str = "SIP/2.0 407 Proxy Authentication Required\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1---b1c2;rport=5060;received=198.51.100.7\r\n\
From: <sip:office@acme.sip.twilio.com>;tag=8f2c1a\r\n\
To: <sip:office@acme.sip.twilio.com>;tag=2f1e3c9d_6772d868_1b1a\r\n\
Call-ID: 5b7a8c1e-2d4f-4e0b-9f1a-7c3d2e1f0a9b\r\n\
CSeq: 1 REGISTER\r\n\
Proxy-Authenticate: Digest realm=\"sip.twilio.com\",qop=\"auth\",nonce=\"XkZ3o2M4M2U5Y2Fh\",opaque=\"ab12cd34\"\r\n\
Server: Twilio\r\n\
Content-Length: 0\r\n\r\n";

const TWILIO_200: &str = "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/TLS 192.0.2.10:5061;branch=z9hG4bK-2;rport=5061;received=198.51.100.7\r\n\
From: <sip:office@acme.sip.twilio.com>;tag=8f2c1a\r\n\
To: <sip:office@acme.sip.twilio.com>;tag=2f1e3c9d\r\n\
Call-ID: 5b7a8c1e-2d4f-4e0b-9f1a-7c3d2e1f0a9b\r\n\
CSeq: 2 REGISTER\r\n\
Contact: <sip:office@198.51.100.7:5061;transport=tls>;expires=3600, <sip:office@203.0.113.5:5060>;expires=1200,<sip:desk@10.0.0.9:5060;ob>;expires=60\r\n\
Server: Twilio\r\n\
Content-Length: 0\r\n\r\n";

#[test]
fn twilio_challenge() {
    let m = parse(TWILIO_407.as_bytes()).unwrap();
    assert_eq!(m.status(), Some(407));
    assert_eq!(m.cseq(), Some((1, "REGISTER")));
    let c = m.proxy_authenticate().unwrap();
    assert_eq!(c.realm, Some("sip.twilio.com"));
    assert_eq!(c.nonce, Some("XkZ3o2M4M2U5Y2Fh"));
    assert_eq!(c.opaque, Some("ab12cd34"));
    assert_eq!(c.algorithm, None);
    assert!(c.offers_qop("auth"));
    assert!(!c.stale);
    assert_eq!(m.server(), Some("Twilio"));
    assert_eq!(m.branch(), Some("z9hG4bK-524287-1---b1c2"));
    assert_eq!(m.to().unwrap().tag(), Some("2f1e3c9d_6772d868_1b1a"));
}

#[test]
fn twilio_ok_with_three_bindings() {
    let m = parse(TWILIO_200.as_bytes()).unwrap();
    let c = m.contacts();
    assert_eq!(c.len(), 3);
    assert_eq!(c[0].addr.uri, "sip:office@198.51.100.7:5061;transport=tls");
    assert_eq!(
        c.iter().map(|c| c.expires).collect::<Vec<_>>(),
        [Some(3600), Some(1200), Some(60)]
    );
    assert_eq!(m.expires(), None);
}

#[test]
fn compact_folded_lf_only_and_odd_whitespace() {
    let msg = "\r\n\r\nREGISTER sip:pbx.example.net SIP/2.0\n\
v: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKa, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKb\n\
V : SIP/2.0/TCP 10.0.0.3;branch=z9hG4bKc\n\
f: \"Front Desk\" <sip:1001@pbx.example.net>;tag=abc\n\
t:<sip:1001@pbx.example.net>\n\
i: abc@10.0.0.2\n\
CSEQ:   7   REGISTER\n\
m: <sip:1001@10.0.0.2:5060>\n\x20 ;expires=600\n\
Authorization: Digest username=\"1001\",\n\
\trealm=\"pbx.example.net\", nonce=\"n1\", uri=\"sip:pbx.example.net\",\n\
\x20 response=\"0123456789abcdef0123456789abcdef\", algorithm=MD5\n\
EXPIRES: 600\n\
l: 0\n\n";
    let m = parse(msg.as_bytes()).unwrap();
    assert!(matches!(
        m.start,
        StartLine::Request {
            method: "REGISTER",
            uri: "sip:pbx.example.net"
        }
    ));
    assert_eq!(m.via().len(), 3);
    assert_eq!(m.from().unwrap().display, "Front Desk");
    assert_eq!(m.from().unwrap().user(), Some("1001"));
    assert_eq!(m.call_id(), Some("abc@10.0.0.2"));
    assert_eq!(m.cseq(), Some((7, "REGISTER")));
    assert_eq!(m.contacts()[0].expires, Some(600));
    let a = m.authorization().unwrap();
    assert_eq!(a.username, Some("1001"));
    assert_eq!(a.response, Some("0123456789abcdef0123456789abcdef"));
    assert_eq!(a.algorithm, Some("MD5"));
    assert_eq!(m.expires(), Some(600));
    assert_eq!(m.content_length(), Some(0));
}

#[test]
fn asterisk_fixture_messages_parse() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/asterisk/sip-messages"
    );
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for block in text.split("-----------------------------------------------") {
            // Each block: a timestamp line, a "... message ... bytes" line, a blank line, the message.
            let Some(start) = block.find("\n\n") else {
                continue;
            };
            let msg = block[start + 2..].trim_start_matches('\n');
            if msg.trim().is_empty() {
                continue;
            }
            let m = parse(msg.as_bytes()).unwrap_or_else(|e| panic!("{e}: {msg}"));
            assert!(m.call_id().is_some() && m.cseq().is_some());
            n += 1;
        }
    }
    assert!(n >= 20, "{n} messages");
}

#[test]
fn malformed_inputs_are_errors() {
    assert_eq!(parse(b"").unwrap_err(), ParseError::Empty);
    assert_eq!(parse(b"\r\n\r\n").unwrap_err(), ParseError::Empty);
    assert!(matches!(
        parse(b"SIP/2.0 200 OK\r\nVia: x\r\n").unwrap_err(),
        ParseError::Truncated { .. }
    ));
    assert!(matches!(
        parse(b"HELLO\r\n\r\n").unwrap_err(),
        ParseError::BadStartLine { .. }
    ));
    assert!(matches!(
        parse(b"SIP/2.0 20 OK\r\n\r\n").unwrap_err(),
        ParseError::BadStartLine { .. }
    ));
    assert!(matches!(
        parse(b"SIP/2.0 200 OK\r\nno colon here\r\n\r\n").unwrap_err(),
        ParseError::BadHeader { .. }
    ));
    assert!(matches!(
        parse(b"SIP/2.0 200 OK\r\n bad fold\r\n\r\n").unwrap_err(),
        ParseError::BadHeader { .. }
    ));
    assert!(matches!(
        parse(b"SIP/2.0 200 OK\r\nContent-Length: x\r\n\r\n").unwrap_err(),
        ParseError::BadContentLength { .. }
    ));
    assert!(matches!(
        parse(b"SIP/2.0 200 OK\r\nl: 10\r\n\r\nabc").unwrap_err(),
        ParseError::Truncated { .. }
    ));
    assert!(matches!(
        parse(b"SIP/2.0 200 OK\r\nX: \xff\xfe\r\n\r\n").unwrap_err(),
        ParseError::NotUtf8 { .. }
    ));
    let big = vec![b'a'; MAX_MESSAGE + 1];
    assert_eq!(parse(&big).unwrap_err(), ParseError::TooLarge);
}

#[test]
fn never_panics_on_prefixes_and_garbage() {
    for msg in [TWILIO_407, TWILIO_200] {
        let b = msg.as_bytes();
        for cut in 0..b.len() {
            let _ = parse(&b[..cut]);
            let m = parse(&b[..cut]);
            if let Ok(m) = m {
                let _ = (
                    m.contacts(),
                    m.via(),
                    m.cseq(),
                    m.proxy_authenticate(),
                    m.to(),
                    m.from(),
                );
            }
        }
    }
    let mut x: u32 = 1;
    for _ in 0..2000 {
        let bytes: Vec<u8> = (0..64)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let alphabet = b"SIP/2.0 REGISTER :;,<>\"\r\n \tabc=@1";
                alphabet[x as usize % alphabet.len()]
            })
            .collect();
        if let Ok(m) = parse(&bytes) {
            let _ = (
                m.contacts(),
                m.via(),
                m.cseq(),
                m.www_authenticate(),
                m.authorization(),
                m.x_twilio_error(),
            );
        }
    }
}

#[test]
fn stream_framing() {
    let mut f = StreamFramer::new();
    let mut stream = Vec::new();
    stream.extend_from_slice(b"\r\n\r\n");
    stream.extend_from_slice(TWILIO_407.as_bytes());
    stream
        .extend_from_slice(b"SIP/2.0 200 OK\r\nCSeq: 2 REGISTER\r\nContent-Length: 5\r\n\r\nhello");
    stream.extend_from_slice(TWILIO_200.as_bytes());
    // Fed in awkward pieces.
    let mut frames = Vec::new();
    for chunk in stream.chunks(7) {
        f.push(chunk);
        while let Some(fr) = f.next_frame().unwrap() {
            frames.push(fr);
        }
    }
    assert_eq!(frames[0], Frame::KeepAlive);
    let msgs: Vec<Vec<u8>> = frames
        .into_iter()
        .filter_map(|f| match f {
            Frame::Message(m) => Some(m),
            Frame::KeepAlive => None,
        })
        .collect();
    assert_eq!(msgs.len(), 3);
    assert_eq!(parse(&msgs[1]).unwrap().body, b"hello");
    assert_eq!(parse(&msgs[2]).unwrap().contacts().len(), 3);
    assert_eq!(f.buffered(), 0);
    let mut bad = StreamFramer::new();
    bad.push(b"SIP/2.0 200 OK\r\nContent-Length: lots\r\n\r\n");
    assert!(bad.next_frame().is_err());
}
