//! Any bytes through the SIP parser, every accessor, the stream framer, the
//! digest credential check and the engine's raw-SIP observation: an error
//! value or a result, never a panic. A frame the framer cuts from a stream
//! and the parser accepts carries exactly its Content-Length of body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regwatch::core::SipObserved;
use regwatch::sip::digest::check_authorization;
use regwatch::sip::{parse, uri_host, Frame, StreamFramer};
use regwatch::{Direction, Engine, EngineConfig, Transport, TrunkConfig};
use std::cell::RefCell;

fn touch(bytes: &[u8]) {
    let Ok(m) = parse(bytes) else { return };
    let _ = (m.method(), m.status(), m.via(), m.branch(), m.call_id(), m.cseq());
    let _ = (m.from().map(|a| (a.user(), a.tag())), m.to());
    for c in m.contacts() {
        let _ = (c.addr.user(), uri_host(c.addr.uri), c.expires);
    }
    let _ = (m.expires(), m.min_expires(), m.retry_after(), m.content_length());
    let _ = (m.server(), m.user_agent(), m.x_twilio_error());
    let _ = (m.www_authenticate(), m.proxy_authenticate(), m.any_authorization());
    for h in m.headers() {
        let _ = h.unfolded();
    }
    if m.is_request() {
        let _ = check_authorization(&m, "Correct-Horse-9");
    }
}

/// A new engine with the trunk REGISTERs are matched against, its
/// configuration's outputs drained.
fn engine() -> Engine {
    let mut engine = Engine::new(EngineConfig::default(), 0, 7);
    let mut cfg = TrunkConfig::new("office");
    let _ = cfg.set("domain", "acme.sip.twilio.com");
    let _ = cfg.set("username", "office");
    engine.add_trunk(0, cfg).expect("the trunk is valid");
    while engine.poll_output().is_some() {}
    engine
}

thread_local! {
    static KEPT: RefCell<Option<Engine>> = const { RefCell::new(None) };
}

fuzz_target!(|data: &[u8]| {
    touch(data);

    // The same bytes as a TCP stream, cut in two at a point the input picks.
    let cut = data.first().map_or(0, |b| *b as usize % (data.len() + 1));
    let mut framer = StreamFramer::new();
    framer.push(&data[..cut]);
    let mut frames = Vec::new();
    while let Ok(Some(f)) = framer.next_frame() {
        frames.push(f);
    }
    framer.push(&data[cut..]);
    while let Ok(Some(f)) = framer.next_frame() {
        frames.push(f);
    }
    for f in &frames {
        if let Frame::Message(bytes) = f {
            touch(bytes);
            if let Ok(m) = parse(bytes) {
                if let Some(n) = m.content_length() {
                    assert_eq!(m.body.len(), n, "framed body differs from Content-Length");
                }
            }
        }
    }

    // The engine's raw-SIP observation, on an engine holding one trunk.
    // Building and validating that trunk costs more than most inputs, so
    // the engine is kept for the next input when this one did not touch a
    // trunk (every observation `NotRegistration`, `Unmatched` or a parse
    // error): it is then the same as a new one.
    let mut engine = KEPT.with(|k| k.borrow_mut().take()).unwrap_or_else(engine);
    let mut touched = false;
    for dir in [Direction::Sent, Direction::Received, Direction::Received] {
        touched |= matches!(
            engine.observe_sip(1, dir, Some(Transport::Udp), data),
            Ok(o) if !matches!(o, SipObserved::NotRegistration | SipObserved::Unmatched)
        );
    }
    let _ = engine.poll_timeout();
    while engine.poll_output().is_some() {}
    if !touched {
        KEPT.with(|k| *k.borrow_mut() = Some(engine));
    }
});
