//! The SIP corpus: every message under tests/corpus/sip parsed and compared
//! with the expectations written in tests/corpus/sip/expected.toml.
//!
//! Each expectation key names one thing the engine reads from a message
//! (see `actual`); a key the test does not know is itself a failure, so a
//! typo cannot silently skip a check. `"none"` means "absent".
use regwatch::sip::{parse, Frame, Message, ParseError, StartLine, StreamFramer};
use std::collections::BTreeSet;
use std::path::Path;
use toml::Value;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/sip");

/// Keys that describe the entry rather than the parse result.
const META: &[&str] = &["file", "origin", "forms"];

struct Entry {
    file: String,
    origin: String,
    forms: Vec<String>,
    expect: toml::value::Table,
    bytes: Vec<u8>,
}

fn load() -> Vec<Entry> {
    let text = std::fs::read_to_string(Path::new(DIR).join("expected.toml")).unwrap();
    let doc: toml::Table = toml::from_str(&text).unwrap();
    let list = doc["message"].as_array().unwrap();
    list.iter()
        .map(|v| {
            let t = v.as_table().unwrap().clone();
            let file = t["file"].as_str().unwrap().to_owned();
            let bytes =
                std::fs::read(Path::new(DIR).join(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            Entry {
                origin: t["origin"].as_str().unwrap().to_owned(),
                forms: t["forms"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f.as_str().unwrap().to_owned())
                    .collect(),
                expect: t,
                file,
                bytes,
            }
        })
        .collect()
}

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

fn opt(v: Option<&str>) -> Value {
    s(v.unwrap_or("none"))
}

fn num<T: Into<i64>>(v: Option<T>) -> Value {
    v.map_or(s("none"), |n| Value::Integer(n.into()))
}

/// Folding (CRLF + white space) is equivalent to one space (RFC 3261 §7.3.1).
fn unfold(v: &str) -> String {
    let mut out = String::new();
    let mut parts = v.split(['\r', '\n']).peekable();
    while let Some(p) = parts.next() {
        if out.is_empty() {
            out.push_str(p);
            continue;
        }
        let p = p.trim_start_matches([' ', '\t']);
        if p.is_empty() && parts.peek().is_some() {
            continue;
        }
        let trimmed = out.trim_end_matches([' ', '\t']).len();
        out.truncate(trimmed);
        out.push(' ');
        out.push_str(p);
    }
    out
}

fn error_kind(e: &ParseError) -> (&'static str, Option<usize>) {
    match *e {
        ParseError::Empty => ("empty", None),
        ParseError::TooLarge => ("too_large", None),
        ParseError::Truncated { offset } => ("truncated", Some(offset)),
        ParseError::BadStartLine { offset } => ("bad_start_line", Some(offset)),
        ParseError::BadHeader { offset } => ("bad_header", Some(offset)),
        ParseError::BadContentLength { offset } => ("bad_content_length", Some(offset)),
        ParseError::NotUtf8 { offset } => ("not_utf8", Some(offset)),
    }
}

/// What the parser says for `key`, in the form expected.toml writes it;
/// `None` for a key this test does not know.
fn actual(m: &Message<'_>, key: &str, want: &Value) -> Option<Value> {
    Some(match key {
        "error" => s("parsed without error"),
        "method" => opt(m.method()),
        "request_uri" => match m.start {
            StartLine::Request { uri, .. } => s(uri),
            StartLine::Response { .. } => s("none"),
        },
        "status" => num(m.status()),
        "reason" => match m.start {
            StartLine::Response { reason, .. } => s(reason),
            StartLine::Request { .. } => s("none"),
        },
        "via" => Value::Array(m.via().iter().map(|v| s(&unfold(v))).collect()),
        "branch" => opt(m.branch()),
        "call_id" => opt(m.call_id()),
        "cseq" => m
            .cseq()
            .map_or(s("none"), |(n, method)| s(&format!("{n} {method}"))),
        "from_user" => opt(m.from().and_then(|a| a.user())),
        "from_tag" => opt(m.from().and_then(|a| a.tag())),
        "to_user" => opt(m.to().and_then(|a| a.user())),
        "to_tag" => opt(m.to().and_then(|a| a.tag())),
        "contacts" => Value::Array(
            m.contacts()
                .iter()
                .map(|c| match c.expires {
                    Some(e) => s(&format!("{} expires={e}", c.addr.uri)),
                    None => s(c.addr.uri),
                })
                .collect(),
        ),
        "contact_display" => Value::Array(m.contacts().iter().map(|c| s(c.addr.display)).collect()),
        "expires" => num(m.expires()),
        "min_expires" => num(m.min_expires()),
        "retry_after" => num(m.retry_after()),
        "content_length" => num(m.content_length().map(|n| n as i64)),
        "body_len" => Value::Integer(m.body.len() as i64),
        "body_starts" => {
            let prefix = want.as_str().unwrap_or("");
            s(if m.body.starts_with(prefix.as_bytes()) {
                prefix
            } else {
                "(another body)"
            })
        }
        "server" => opt(m.server()),
        "user_agent" => opt(m.user_agent()),
        "x_twilio_error" => m
            .x_twilio_error()
            .map_or(s("none"), |(c, t)| s(&format!("{c} {t}"))),
        "headers" => Value::Integer(m.headers().len() as i64),
        "www_authenticate_count" => {
            Value::Integer(m.headers_named("www-authenticate").count() as i64)
        }
        "challenge" => {
            let (header, c) = match (m.www_authenticate(), m.proxy_authenticate()) {
                (Some(c), _) => ("www", c),
                (None, Some(c)) => ("proxy", c),
                (None, None) => return Some(s("none")),
            };
            let mut t = toml::value::Table::new();
            let fields: &[(&str, Value)] = &[
                ("header", s(header)),
                ("scheme", s(c.scheme)),
                ("realm", opt(c.realm)),
                ("nonce", opt(c.nonce)),
                ("algorithm", opt(c.algorithm)),
                ("qop", opt(c.qop)),
                ("opaque", opt(c.opaque)),
                ("domain", opt(c.domain)),
                ("stale", Value::Boolean(c.stale)),
                ("offers_auth", Value::Boolean(c.offers_qop("auth"))),
            ];
            for (k, v) in fields {
                t.insert((*k).into(), v.clone());
            }
            Value::Table(t)
        }
        "auth" => {
            let (header, c) = match (m.authorization(), m.proxy_authorization()) {
                (Some(c), _) => ("www", c),
                (None, Some(c)) => ("proxy", c),
                (None, None) => return Some(s("none")),
            };
            let mut t = toml::value::Table::new();
            let fields: &[(&str, Value)] = &[
                ("header", s(header)),
                ("username", opt(c.username)),
                ("realm", opt(c.realm)),
                ("nonce", opt(c.nonce)),
                ("uri", opt(c.uri)),
                ("response", opt(c.response)),
                ("algorithm", opt(c.algorithm)),
                ("cnonce", opt(c.cnonce)),
                ("nc", opt(c.nc)),
                ("qop", opt(c.qop)),
                ("opaque", opt(c.opaque)),
            ];
            for (k, v) in fields {
                t.insert((*k).into(), v.clone());
            }
            Value::Table(t)
        }
        _ => return None,
    })
}

/// Compares `want` with `got`; for tables, only the keys `want` names.
fn compare(path: &str, want: &Value, got: &Value, errors: &mut Vec<String>) {
    match (want, got) {
        (Value::Table(w), Value::Table(g)) => {
            for (k, wv) in w {
                match g.get(k) {
                    Some(gv) => compare(&format!("{path}.{k}"), wv, gv, errors),
                    None => errors.push(format!("{path}.{k}: unknown key")),
                }
            }
        }
        _ if want == got => {}
        _ => errors.push(format!("{path}: expected {want:?}, got {got:?}")),
    }
}

fn check(e: &Entry, errors: &mut Vec<String>) {
    let keys = || e.expect.iter().filter(|(k, _)| !META.contains(&k.as_str()));
    if keys().next().is_none() {
        errors.push(format!("{}: no expectation", e.file));
    }
    match parse(&e.bytes) {
        Err(err) => {
            let (kind, offset) = error_kind(&err);
            match e.expect.get("error").and_then(Value::as_str) {
                Some(want) if want == kind => {}
                Some(want) => errors.push(format!("{}: expected error {want}, got {err}", e.file)),
                None => errors.push(format!("{}: unexpected error: {err}", e.file)),
            }
            if let Some(want) = e.expect.get("error_offset").and_then(Value::as_integer) {
                if offset != Some(want as usize) {
                    errors.push(format!(
                        "{}: expected the error at byte {want}, got {err}",
                        e.file
                    ));
                }
            }
        }
        Ok(m) => {
            for (k, want) in keys() {
                match actual(&m, k, want) {
                    Some(got) => compare(&format!("{}: {k}", e.file), want, &got, errors),
                    None => errors.push(format!("{}: unknown expectation key {k}", e.file)),
                }
            }
        }
    }
}

#[test]
fn corpus_matches_expectations() {
    let entries = load();
    let mut errors = Vec::new();
    for e in &entries {
        check(e, &mut errors);
    }
    assert!(
        errors.is_empty(),
        "{} mismatches:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

#[test]
fn corpus_is_complete_and_covers_every_style_and_form() {
    let entries = load();
    assert!(entries.len() >= 60, "only {} messages", entries.len());
    let listed: BTreeSet<&str> = entries.iter().map(|e| e.file.as_str()).collect();
    assert_eq!(listed.len(), entries.len(), "a file is listed twice");
    for f in std::fs::read_dir(DIR).unwrap() {
        let name = f.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".sip") {
            assert!(listed.contains(name.as_str()), "{name} has no expectation");
        }
    }
    let origins: BTreeSet<&str> = entries.iter().map(|e| e.origin.as_str()).collect();
    for o in ["twilio", "asterisk", "freeswitch", "kamailio", "baresip"] {
        assert!(origins.contains(o), "no message in the {o} style");
    }
    let forms: BTreeSet<&str> = entries
        .iter()
        .flat_map(|e| e.forms.iter().map(String::as_str))
        .collect();
    for f in [
        "compact",
        "folded",
        "lf-only",
        "multi-value",
        "truncated",
        "garbage",
        "oversized",
    ] {
        assert!(forms.contains(f), "no message of the {f} form");
    }
    let failing = entries.iter().filter(|e| parse(&e.bytes).is_err()).count();
    assert!(failing >= 10 && failing < entries.len() / 2);
}

/// The messages that carry Content-Length, sent back to back on one TCP
/// stream and cut at every 97th byte, come out of the framer whole and parse
/// to the same results.
#[test]
fn corpus_through_the_stream_framer() {
    let entries: Vec<Entry> = load()
        .into_iter()
        .filter(|e| parse(&e.bytes).is_ok_and(|m| m.content_length().is_some()))
        .collect();
    assert!(entries.len() >= 40);
    let stream: Vec<u8> = entries.iter().flat_map(|e| e.bytes.clone()).collect();
    let mut framer = StreamFramer::new();
    let mut frames = Vec::new();
    for chunk in stream.chunks(97) {
        framer.push(chunk);
        while let Some(f) = framer.next_frame().unwrap() {
            if let Frame::Message(m) = f {
                frames.push(m);
            }
        }
    }
    assert_eq!(frames.len(), entries.len());
    let mut errors = Vec::new();
    for (e, frame) in entries.iter().zip(&frames) {
        let reframed = Entry {
            file: format!("{} (framed)", e.file),
            origin: e.origin.clone(),
            forms: e.forms.clone(),
            expect: e.expect.clone(),
            bytes: frame.clone(),
        };
        check(&reframed, &mut errors);
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}
