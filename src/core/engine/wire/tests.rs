//! Tests of the wire view: REGISTER matching (the index against a scan
//! over every trunk), Call-IDs, the Request-URI port.
use super::*;
use crate::core::config::{EngineConfig, TrunkConfig};
use crate::validate::DomainParts;

/// The matching as it was before the index: every trunk scored in slot
/// order. The index must give the same trunk for every REGISTER.
fn scan(e: &Engine, msg: &Message<'_>) -> Option<u32> {
    if let Some(&slot) = msg.call_id().and_then(|c| e.by_call_id.get(c)) {
        return Some(slot);
    }
    let lower = |s: &str| s.trim_end_matches('.').to_ascii_lowercase();
    let (ruri_host, ruri_port) = match msg.start {
        StartLine::Request { uri, .. } => (
            sip::uri_host(uri).map(lower),
            Some(uri_port_or_default(uri)),
        ),
        _ => (None, None),
    };
    let addrs = [msg.to(), msg.from()];
    let mut best: Option<(u32, u32)> = None;
    let mut scores = Vec::new();
    for (slot, t) in e.slots.iter() {
        let parts = DomainParts::parse(&t.config.domain);
        let mut score = 0;
        for a in addrs.iter().flatten() {
            let user_ok = a
                .user()
                .is_some_and(|u| u == t.config.username || u == t.config.auth_user());
            let host_ok = sip::uri_host(a.uri)
                .map(lower)
                .is_some_and(|h| h == parts.host);
            if user_ok && host_ok {
                score = 4;
                break;
            }
        }
        if ruri_host.as_deref() == Some(parts.host.as_str()) {
            score += 2;
            let port = parts
                .port
                .or(t.config.port)
                .unwrap_or_else(|| t.config.transport.unwrap_or(Transport::Udp).default_port());
            if ruri_port.unwrap_or(crate::sip::uri::SIP_PORT) == port {
                score += 1;
            }
        }
        if score >= 2 && best.is_none_or(|(b, _)| score > b) {
            best = Some((score, slot));
        }
        scores.push((slot, score));
    }
    let (score, slot) = best?;
    if score < 4 {
        // Matched by the Request-URI alone: no AOR to share.
        return Some(slot);
    }
    // A trunk whose AOR another trunk registers to the same registrar
    // and port: a new dialog is filed under neither (the REGISTERs
    // here carry Contact user `x`, which no trunk names).
    let key = |c: &TrunkConfig| {
        let parts = DomainParts::parse(&c.domain);
        let port = parts
            .port
            .or(c.port)
            .unwrap_or_else(|| c.transport.unwrap_or(Transport::Udp).default_port());
        (parts.host, c.username.clone(), port)
    };
    // The twins are the trunks as good a match as the winner that share
    // its AOR user, domain host and port.
    let mine = key(&e.slots.at(slot)?.config);
    let twins = scores
        .iter()
        .filter(|(s, sc)| *sc == score && e.slots.at(*s).is_some_and(|t| key(&t.config) == mine))
        .count();
    (twins == 1).then_some(slot)
}

/// xorshift64*: a fixed sequence, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[(self.next() % v.len() as u64) as usize]
    }
}

const USERS: [&str; 4] = ["alice", "bob", "Alice", ""];
const DOMAINS: [&str; 8] = [
    "acme.sip.twilio.com",
    "ACME.sip.twilio.com.",
    "acme.sip.twilio.com:5080",
    "sip:acme.sip.twilio.com",
    "other.example.net",
    "other.example.net:5061",
    "[2001:db8::1]",
    "alice@acme.sip.twilio.com",
];
const HOSTS: [&str; 6] = [
    "acme.sip.twilio.com",
    "Acme.SIP.twilio.com.",
    "acme.sip.twilio.com:5080",
    "other.example.net:5061",
    "[2001:db8::1]",
    "nowhere.example",
];

fn random_trunk(r: &mut Rng, name: &str) -> TrunkConfig {
    let mut c = TrunkConfig::new(name);
    c.set("domain", r.pick(&DOMAINS)).unwrap();
    c.set("username", r.pick(&USERS)).unwrap();
    if r.next() % 3 == 0 {
        c.set("auth_username", r.pick(&USERS)).unwrap();
    }
    match r.next() % 4 {
        0 => c.set("transport", "tcp").unwrap(),
        1 => c.set("transport", "tls").unwrap(),
        _ => {}
    }
    if r.next() % 4 == 0 {
        c.set("port", r.pick(&["5060", "5061", "5080"])).unwrap();
    }
    c
}

fn random_register(r: &mut Rng, call_id: &str) -> String {
    let uri = |r: &mut Rng| {
        let user = r.pick(&USERS);
        let host = r.pick(&HOSTS);
        if user.is_empty() {
            format!("sip:{host}")
        } else {
            format!("sip:{user}@{host}")
        }
    };
    let (to, from) = (uri(r), uri(r));
    let ruri = format!("{}:{}", r.pick(&["sip", "sips"]), r.pick(&HOSTS));
    format!(
        "REGISTER {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK{call_id}\r\n\
         From: <{from}>;tag=1\r\nTo: <{to}>\r\nCall-ID: {call_id}\r\nCSeq: 1 REGISTER\r\n\
         Contact: <sip:x@192.0.2.1>\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Random trunks added, changed and removed, random REGISTERs: the
/// maps pick the trunk the scan over every trunk picked, every time.
#[test]
fn index_matches_like_the_scan() {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let mut e = Engine::new(EngineConfig::default(), 0, 1);
    let mut ids: Vec<TrunkId> = Vec::new();
    let mut matched = 0;
    for step in 0..20_000u32 {
        match r.next() % 10 {
            0 | 1 if ids.len() < 24 => {
                let cfg = random_trunk(&mut r, &format!("t{step}"));
                ids.push(e.add_trunk(0, cfg).unwrap());
            }
            2 if !ids.is_empty() => {
                let id = ids[(r.next() % ids.len() as u64) as usize];
                let name = e.trunk_config(id).unwrap().name.to_string();
                e.update_trunk(0, id, random_trunk(&mut r, &name)).unwrap();
            }
            3 if !ids.is_empty() => {
                let i = (r.next() % ids.len() as u64) as usize;
                e.remove_trunk(0, ids.swap_remove(i)).unwrap();
            }
            _ => {
                // Reuse a Call-ID now and then, so the Call-ID map counts too.
                let call_id = format!("c{}", r.next() % 64);
                let text = random_register(&mut r, &call_id);
                let msg = sip::parse(text.as_bytes()).unwrap();
                let want = scan(&e, &msg);
                assert_eq!(e.match_register(&msg), want, "step {step}:\n{text}");
                matched += usize::from(want.is_some());
                let _ = e.observe_sip(u64::from(step), Direction::Sent, None, text.as_bytes());
            }
        }
        while e.poll_output().is_some() {}
    }
    assert!(
        matched > 1000,
        "too few matches to mean anything: {matched}"
    );
    for id in ids {
        e.remove_trunk(0, id).unwrap();
    }
    assert_eq!(e.by_call_id.len(), 0);
    assert_eq!(e.index.keys(), 0, "{:?}", e.index);
}

fn register(user: &str, host: &str, call_id: &str) -> Vec<u8> {
    format!(
        "REGISTER sip:{host} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK{call_id}\r\n\
         From: <sip:{user}@{host}>;tag=1\r\nTo: <sip:{user}@{host}>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 REGISTER\r\nContact: <sip:{user}@192.0.2.9>\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// A REGISTER to `sips:host` without a port is to port 5061 (RFC 3261
/// §19.1.2): of two trunks on one domain whose AORs it does not name,
/// the one on TLS (5061) is the better match, not the one on UDP.
#[test]
fn a_sips_request_uri_without_a_port_means_5061() {
    let mut e = Engine::new(EngineConfig::default(), 0, 1);
    let mut ids = Vec::new();
    for (name, user, transport) in [("udp", "bob", "udp"), ("tls", "alice", "tls")] {
        let mut c = TrunkConfig::new(name);
        c.set("domain", "acme.sip.twilio.com").unwrap();
        c.set("username", user).unwrap();
        c.set("transport", transport).unwrap();
        ids.push(e.add_trunk(0, c).unwrap());
    }
    let text = String::from_utf8(register("carol", "acme.sip.twilio.com", "s1"))
        .unwrap()
        .replacen("REGISTER sip:", "REGISTER sips:", 1);
    let r = e.observe_sip(1, Direction::Sent, None, text.as_bytes());
    assert_eq!(r, Ok(SipObserved::Register(ids[1])));
    let plain = register("carol", "acme.sip.twilio.com", "s2");
    let r = e.observe_sip(2, Direction::Sent, None, &plain);
    assert_eq!(r, Ok(SipObserved::Register(ids[0])));
}

/// A peer inventing a Call-ID for every REGISTER, for a known AOR, an
/// unknown user at a known domain and an unknown domain: the engine
/// remembers one Call-ID per trunk at most, and none once the trunks
/// are gone.
#[test]
fn fresh_call_ids_do_not_grow_the_map() {
    let mut e = Engine::new(EngineConfig::default(), 0, 1);
    let mut ids = Vec::new();
    for (name, user) in [("a", "alice"), ("b", "bob")] {
        let mut c = TrunkConfig::new(name);
        c.set("domain", "acme.sip.twilio.com").unwrap();
        c.set("username", user).unwrap();
        ids.push(e.add_trunk(0, c).unwrap());
    }
    let keys = e.index.keys();
    for k in 0..50_000u64 {
        let known = register("alice", "acme.sip.twilio.com", &format!("k{k}"));
        let r = e.observe_sip(k, Direction::Sent, None, &known);
        assert_eq!(r, Ok(SipObserved::Register(ids[0])));
        let stranger = register("mallory", "acme.sip.twilio.com", &format!("s{k}"));
        assert!(matches!(
            e.observe_sip(k, Direction::Sent, None, &stranger),
            Ok(SipObserved::Register(_))
        ));
        let elsewhere = register("mallory", "evil.example", &format!("e{k}"));
        let r = e.observe_sip(k, Direction::Sent, None, &elsewhere);
        assert_eq!(r, Ok(SipObserved::Unmatched));
        while e.poll_output().is_some() {}
        assert!(e.by_call_id.len() <= 2, "{} Call-IDs", e.by_call_id.len());
    }
    assert_eq!(e.index.keys(), keys);
    for id in ids {
        e.remove_trunk(0, id).unwrap();
    }
    assert!(e.by_call_id.is_empty());
    assert_eq!(e.index.keys(), 0);
}
