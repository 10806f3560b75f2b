//! No adapter panics, whatever it is given: truncated fixtures, random
//! bytes, random mixes of the formats' own tokens, huge and deeply nested
//! inputs, multi-byte characters next to every delimiter. How long the
//! huge inputs take is measured by `cargo bench --bench hosts` (linear
//! work), not asserted here.
use regwatch::hosts::asterisk::{
    ami_messages, parse_conf, parse_log_line, AmiMessage, AsteriskConfig, Auth, ContactStatusEvent,
    ObjectSet, Registration, RegistrationIndex, RegistryEvent,
};
use regwatch::hosts::freeswitch::{
    parse_compact, parse_compact_line, parse_gateways, parse_raw_events, GatewayEvent,
    GatewayTracker,
};
use regwatch::hosts::uri::SipUri;
use regwatch::hosts::{self, Fact};
use regwatch::{Engine, EngineConfig};

fn fixture(path: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A deterministic xorshift generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Every entry point, on one input. Returns the facts produced, which are
/// then fed to an engine too.
fn everything(text: &str, index: &RegistrationIndex) -> Vec<Fact> {
    let mut facts = Vec::new();
    // Asterisk.
    for m in ami_messages(text) {
        if let Ok(ev) = RegistryEvent::from_ami(&m) {
            facts.extend(ev.facts(index).unwrap_or_default());
        }
        let _ = ContactStatusEvent::from_ami(&m);
    }
    let m = AmiMessage::parse(text);
    let _ = RegistryEvent::from_ami(&m).map(|e| e.facts(index));
    let _ = ContactStatusEvent::from_ami(&m);
    if let Ok(ev) = RegistryEvent::from_json(text) {
        facts.extend(ev.facts(index).unwrap_or_default());
    }
    let _ = ContactStatusEvent::from_json(text);
    for line in text.split('\n') {
        if let Some(l) = parse_log_line(line) {
            facts.extend(l.event.facts(index).unwrap_or_default());
        }
    }
    if let Some(l) = parse_log_line(text) {
        facts.extend(l.event.facts(index).unwrap_or_default());
    }
    let conf = parse_conf(text);
    let objects = conf.objects();
    for o in &objects {
        let _ = Registration::from_objectset(o);
        let _ = Auth::from_objectset(o);
    }
    let ac = AsteriskConfig::from_objectsets(&objects);
    let _ = ac.trunks();
    let _ = ac.index();
    let ac = AsteriskConfig::from_pjsip_conf(text);
    for t in ac.trunks() {
        let _ = t.config.findings(None);
    }
    // The text as the values of an object set.
    let set = ObjectSet::new(
        text,
        "registration",
        [
            ("server_uri", text),
            ("client_uri", text),
            ("outbound_auth", text),
            ("expiration", text),
            ("line", text),
            ("outbound_proxy", text),
            ("transport", text),
        ],
    );
    let _ = AsteriskConfig::from_objectsets(&[set]).trunks();
    // FreeSWITCH.
    let mut tracker = GatewayTracker::new();
    let mut raws = parse_raw_events(text);
    raws.extend(parse_compact(text));
    raws.extend(parse_compact_line(text));
    for r in &raws {
        if let Ok(ev) = GatewayEvent::from_raw(r) {
            facts.extend(tracker.handle(&ev).facts);
        }
    }
    let headers = [
        ("Event-Subclass", "sofia::gateway_state"),
        ("Gateway", text),
        ("State", text),
        ("Status", text),
        ("Phrase", text),
        ("Register-Network-Port", text),
    ];
    if let Ok(ev) = GatewayEvent::from_headers(&headers) {
        facts.extend(tracker.handle(&ev).facts);
    }
    for sub in [
        "sofia::gateway_add",
        "sofia::gateway_delete",
        "sofia::gateway_invalid_digest_req",
        text,
    ] {
        if let Ok(ev) = GatewayEvent::with_subclass(sub, &headers) {
            facts.extend(tracker.handle(&ev).facts);
        }
    }
    for g in parse_gateways(text) {
        let _ = g.trunk();
        let _ = g.info();
    }
    // Helpers.
    let _ = SipUri::parse(text).map(|u| (u.host_port(), u.transport()));
    let _ = hosts::strip_ansi(text);
    facts
}

fn index() -> RegistrationIndex {
    AsteriskConfig::from_pjsip_conf(&fixture("asterisk/pjsip.conf")).index()
}

fn feed(engine: &mut Engine, now: &mut u64, facts: &[Fact]) {
    *now += 1;
    let _ = hosts::apply(engine, *now, facts);
    while engine.poll_output().is_some() {}
    engine.handle_timeout(*now);
}

fn engine() -> Engine {
    let mut e = Engine::new(EngineConfig::default(), 0, 3);
    for t in AsteriskConfig::from_pjsip_conf(&fixture("asterisk/pjsip.conf")).trunks() {
        e.add_trunk(0, t.config).unwrap();
    }
    for g in parse_gateways(&fixture("freeswitch/external.xml")) {
        e.add_trunk(0, g.trunk().config).unwrap();
    }
    e
}

const FIXTURES: [&str; 8] = [
    "asterisk/ami-events.log",
    "asterisk/console-run.log",
    "asterisk/final-cli.txt",
    "asterisk/pjsip.conf",
    "freeswitch/events_run1_raw.txt",
    "freeswitch/events_run2_raw.txt",
    "freeswitch/events_run2_compact.txt",
    "freeswitch/external.xml",
];

/// Cuts at every char boundary near `at`.
fn prefix(s: &str, at: usize) -> &str {
    let mut at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    &s[..at]
}

#[test]
fn truncated_fixtures() {
    let idx = index();
    let mut e = engine();
    let mut now = 0;
    for f in FIXTURES {
        let text = fixture(f);
        // Every prefix of the first 600 bytes, then every 997th.
        let cuts = (0..600).chain((600..text.len()).step_by(997));
        for at in cuts {
            let p = prefix(&text, at);
            let facts = everything(p, &idx);
            feed(&mut e, &mut now, &facts);
            // And the tail, starting mid-line.
            let tail_at = text.len() - p.len();
            let mut t = tail_at;
            while !text.is_char_boundary(t) {
                t += 1;
            }
            everything(&text[t..], &idx);
        }
    }
}

#[test]
fn random_bytes() {
    let idx = index();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..400 {
        let len = rng.below(400);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let text = String::from_utf8_lossy(&bytes);
        everything(&text, &idx);
    }
}

const TOKENS: &[&str] = &[
    "Event: Registry",
    "Event: ContactStatus",
    " | ",
    ": ",
    "\r\n",
    "\n",
    "\n\n",
    "Username: ",
    "Domain: ",
    "Status: ",
    "Rejected",
    "Registered",
    "ChannelType: PJSIP",
    "sip:acme@127.0.0.1:15061",
    "sip:127.0.0.1:15061",
    "sips:",
    "[",
    "]",
    "(",
    ")",
    "(!)",
    "(+)",
    "!",
    "=",
    "=>",
    ";",
    "\\;",
    ";--",
    "--;",
    "#include x",
    "type=registration",
    "type=auth",
    "outbound_auth=",
    "server_uri=",
    "Fatal response '",
    "' received from '",
    "' on registration attempt to '",
    "', stopping outbound registration",
    "', retrying in '",
    "No response received from '",
    "Temporal response '",
    "' fatal response received from '",
    "Maximum retries reached when attempting outbound registration to '",
    "' with client '",
    "403",
    "904",
    "'",
    "\"",
    "{",
    "}",
    "\"type\":\"registry\"",
    "\u{1b}[0;31m",
    "\u{1b}]",
    "\u{1b}",
    "=====",
    "Event-Subclass: sofia::gateway_state",
    "sofia::gateway_state",
    "sofia::gateway_add",
    "sofia::gateway_delete",
    "Gateway=gw",
    "State=",
    "FAILED",
    "TRYING",
    "REGED",
    "DOWN",
    "Status=",
    "Phrase=",
    "Register-Network-Port=0",
    "06:03:18 ",
    "<gateway name=\"g\">",
    "</gateway>",
    "<param name=\"proxy\" value=\"",
    "<param name=\"username\" value=\"u\"/>",
    "<profile name=\"p\">",
    "</profile>",
    "<!--",
    "-->",
    "<![CDATA[",
    "]]>",
    "<?",
    "?>",
    "&",
    "&#",
    "&#x",
    "&amp;",
    "/>",
    "<",
    ">",
    "@",
    ":",
    "é",
    "😀",
    "\u{301}",
    "\u{0}",
    " ",
    "\t",
];

#[test]
fn random_token_soup() {
    let idx = index();
    let mut e = engine();
    let mut now = 0;
    let mut rng = Rng(42);
    for _ in 0..3000 {
        let n = rng.below(40);
        let text: String = (0..n).map(|_| TOKENS[rng.below(TOKENS.len())]).collect();
        let facts = everything(&text, &idx);
        feed(&mut e, &mut now, &facts);
    }
}

#[test]
fn multibyte_next_to_every_delimiter() {
    let idx = index();
    let mut e = engine();
    let mut now = 0;
    for f in FIXTURES {
        let text = fixture(f);
        let head = prefix(&text, 3000);
        for m in ["é", "😀", "\u{301}", "\u{feff}"] {
            // After each ASCII punctuation.
            let mut spiced = String::new();
            for c in head.chars() {
                spiced.push(c);
                if c.is_ascii_punctuation() || c == ' ' {
                    spiced.push_str(m);
                }
            }
            let facts = everything(&spiced, &idx);
            feed(&mut e, &mut now, &facts);
            // In place of each ASCII punctuation.
            let replaced: String = head
                .chars()
                .map(|c| if c.is_ascii_punctuation() { '€' } else { c })
                .collect();
            everything(&replaced, &idx);
        }
    }
}

#[test]
fn huge_inputs_are_handled() {
    let idx = index();
    let mb = 1 << 19;
    let cases: Vec<(&str, String)> = vec![
        ("brackets", "[".repeat(mb)),
        ("angles", "<a>".repeat(mb / 3)),
        ("open tags", "<gateway name=\"g\"><param name=\"x\" value=\"y\"/>".repeat(mb / 48)),
        ("one long line", "x".repeat(2 * mb)),
        ("ampersands", format!("<a v=\"{}\"/>", "&#".repeat(mb / 2))),
        ("json nesting", "[".repeat(100_000) + &"]".repeat(100_000)),
        (
            "template fan-out",
            {
                let mut s = String::from("[t0](!)\na=b\n");
                for i in 1..2000 {
                    s.push_str(&format!("[t{i}](!,{})\nk{i}=v\n", (1..=64.min(i)).map(|d| format!("t{}", i - d)).collect::<Vec<_>>().join(",")));
                }
                s.push_str("[obj](t1999)\ntype=registration\n");
                s
            },
        ),
        ("many sections", "[s](t)\ntype=auth\nusername=u\n".repeat(mb / 28)),
        ("compact keys", format!("sofia::gateway_state {}", "K=v ".repeat(mb / 4))),
        ("compact spaces", format!("sofia::gateway_state Gateway={}", " ".repeat(mb))),
        ("raw headers", "Event-Subclass: sofia::gateway_state\nGateway: g\nState: FAILED\n".repeat(mb / 60)),
        ("ami lines", "Event: Registry | Username: a | Domain: b | Status: Rejected\n".repeat(mb / 64)),
        ("log lines", "Fatal response '403' received from 's' on registration attempt to 'c', stopping outbound registration\n".repeat(mb / 110)),
        ("escapes", "\u{1b}[".repeat(mb / 2)),
        ("quotes", "'".repeat(mb)),
        ("comment blocks", ";--".repeat(mb / 3)),
    ];
    for (what, text) in &cases {
        // Finishing at all (no stack overflow on nesting, no panic) is
        // what this asserts; the time is the benchmark's.
        let _ = (what, everything(text, &idx));
    }
}

#[test]
fn every_reason_phrase_and_clock_edge() {
    for c in 0..=u16::MAX {
        let _ = hosts::reason_phrase(c);
    }
    for s in [
        "99:99:99 sofia::x",
        "23:59:60 sofia::x",
        ":::::::: sofia::x",
        "00:00:0é sofia::x",
    ] {
        let _ = parse_compact_line(s);
    }
}
