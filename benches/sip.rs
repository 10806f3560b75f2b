//! Raw-SIP observation cost (parse + correlate + update) for a 200 OK with
//! three Contact bindings and for a Twilio 407 challenge, and our parser
//! alone, side by side with libosip2 parsing the same bytes.
//!
//!     cargo bench --bench sip                       # regwatch only
//!     cargo bench --bench sip --features bench-osip # + libosip2 (libosip2-dev)
use criterion::{criterion_group, criterion_main, Criterion};
use regwatch::{Direction, Engine, EngineConfig, SipObserved, Transport, TrunkConfig};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn register(t: usize, cseq: u32) -> String {
    format!(
        "REGISTER sip:acme.sip.twilio.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-{cseq};rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:office{t}@acme.sip.twilio.com>;tag=8f2c1a\r\n\
To: <sip:office{t}@acme.sip.twilio.com>\r\n\
Call-ID: 5b7a8c1e-2d4f-4e0b-9f1a-{t:012}\r\n\
CSeq: {cseq} REGISTER\r\n\
Contact: <sip:office{t}@198.51.100.7:5060>\r\n\
Expires: 3600\r\n\
User-Agent: Asterisk PBX 22.10.1\r\n\
Content-Length: 0\r\n\r\n"
    )
}

fn ok_3_bindings(t: usize, cseq: u32) -> String {
    format!(
        "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-{cseq};rport=5060;received=198.51.100.7\r\n\
From: <sip:office{t}@acme.sip.twilio.com>;tag=8f2c1a\r\n\
To: <sip:office{t}@acme.sip.twilio.com>;tag=2f1e3c9d_6772d868_1b1a\r\n\
Call-ID: 5b7a8c1e-2d4f-4e0b-9f1a-{t:012}\r\n\
CSeq: {cseq} REGISTER\r\n\
Contact: <sip:office@203.0.113.5:5060>;expires=1200,<sip:office{t}@198.51.100.7:5060>;expires=3600, <sip:desk@10.0.0.9:5060;ob>;expires=60\r\n\
Server: Twilio\r\n\
Content-Length: 0\r\n\r\n"
    )
}

fn challenge_407(t: usize, cseq: u32) -> String {
    format!(
        "SIP/2.0 407 Proxy Authentication Required\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-{cseq};rport=5060;received=198.51.100.7\r\n\
From: <sip:office{t}@acme.sip.twilio.com>;tag=8f2c1a\r\n\
To: <sip:office{t}@acme.sip.twilio.com>;tag=2f1e3c9d_6772d868_1b1a\r\n\
Call-ID: 5b7a8c1e-2d4f-4e0b-9f1a-{t:012}\r\n\
CSeq: {cseq} REGISTER\r\n\
Proxy-Authenticate: Digest realm=\"sip.twilio.com\",qop=\"auth\",nonce=\"XkZ3o2M4M2U5Y2FhNDk2ZDU\",opaque=\"ab12cd34ef56\"\r\n\
Server: Twilio\r\n\
Content-Length: 0\r\n\r\n"
    )
}

/// Trunks observed side by side: each timed batch is one response per trunk.
const TRUNKS: usize = 64;

/// Times `observe_sip` of the responses only: each round sends one REGISTER
/// per trunk outside the timed region, then times the 64 responses as one
/// batch (one clock read per batch, not per message).
fn observe(c: &mut Criterion, name: &str, response: fn(usize, u32) -> String) {
    let mut engine = Engine::new(EngineConfig::default(), 0, 1);
    for t in 0..TRUNKS {
        let mut cfg = TrunkConfig::new(&format!("office{t}"));
        cfg.set("domain", "acme.sip.twilio.com").unwrap();
        cfg.set("username", &format!("office{t}")).unwrap();
        engine.add_trunk(0, cfg).unwrap();
    }
    let mut cseq = 1u32;
    let mut now = 0u64;
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                cseq += 1;
                now += 1;
                let batch = (iters - done).min(TRUNKS as u64) as usize;
                let regs: Vec<String> = (0..batch).map(|t| register(t, cseq)).collect();
                let resps: Vec<String> = (0..batch).map(|t| response(t, cseq)).collect();
                for reg in &regs {
                    let r = engine.observe_sip(
                        now,
                        Direction::Sent,
                        Some(Transport::Udp),
                        reg.as_bytes(),
                    );
                    assert!(matches!(r, Ok(SipObserved::Register(_))));
                }
                while engine.poll_output().is_some() {}
                let mut matched = 0;
                let t = Instant::now();
                for resp in &resps {
                    let r = engine.observe_sip(
                        now,
                        Direction::Received,
                        Some(Transport::Udp),
                        black_box(resp.as_bytes()),
                    );
                    matched += usize::from(matches!(r, Ok(SipObserved::Response(_))));
                }
                total += t.elapsed();
                done += batch as u64;
                assert_eq!(matched, batch, "every response finds its trunk");
                while engine.poll_output().is_some() {}
            }
            total
        })
    });
}

fn bench(c: &mut Criterion) {
    observe(c, "observe_sip/200_ok_3_bindings", ok_3_bindings);
    observe(c, "observe_sip/407_challenge", challenge_407);
    for (name, msg) in [
        ("200_ok_3_bindings", ok_3_bindings(0, 7)),
        ("407_challenge", challenge_407(0, 7)),
    ] {
        c.bench_function(&format!("parse/regwatch/{name}"), |b| {
            b.iter(|| {
                let m = regwatch::sip::parse(black_box(msg.as_bytes())).unwrap();
                black_box((m.contacts().len(), m.proxy_authenticate().is_some()))
            })
        });
        #[cfg(feature = "bench-osip")]
        osip::bench(c, name, &msg);
    }
}

#[cfg(feature = "bench-osip")]
mod osip {
    use super::*;
    use std::ffi::{c_char, c_int, c_void};

    #[link(name = "osipparser2")]
    extern "C" {
        fn parser_init() -> c_int;
        fn osip_message_init(sip: *mut *mut c_void) -> c_int;
        fn osip_message_parse(sip: *mut c_void, buf: *const c_char, length: usize) -> c_int;
        fn osip_message_free(sip: *mut c_void);
    }

    pub fn bench(c: &mut Criterion, name: &str, msg: &str) {
        // SAFETY: libosip2's documented initialisation, called before any parse.
        unsafe { parser_init() };
        c.bench_function(&format!("parse/libosip2/{name}"), |b| {
            b.iter(|| {
                let mut m: *mut c_void = std::ptr::null_mut();
                // SAFETY: init/parse/free on a message object libosip2 allocates.
                unsafe {
                    assert_eq!(osip_message_init(&mut m), 0);
                    let r = osip_message_parse(m, msg.as_ptr().cast(), msg.len());
                    assert_eq!(r, 0);
                    osip_message_free(black_box(m));
                }
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
