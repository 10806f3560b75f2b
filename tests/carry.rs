//! A PBX module unloaded and loaded again makes a new engine: what the old
//! one knew is carried over (through the C ABI, as the modules do), so a
//! registration the PBX still shows rejected keeps its cause and a
//! registered one is healthy at once, with no alert raised a second time;
//! where the PBX's own view disagrees, the PBX wins.
use regwatch::ffi::*;
use regwatch::hosts::asterisk::AsteriskSession;
use regwatch::hosts::settings::HostSettings;
use regwatch::{Cause, Direction, Engine, EngineConfig, Event, Output, RegState};
use std::ffi::{CStr, CString};

const CONF: &str = "\
[good-auth]\ntype=auth\nusername=alice\npassword=Alice-Passw0rd-1\n\
[bad-auth]\ntype=auth\nusername=frank\npassword=Not-The-Passw0rd-9\n\
[good]\ntype=registration\nserver_uri=sip:acme.sip.twilio.com\nclient_uri=sip:alice@acme.sip.twilio.com\noutbound_auth=good-auth\nexpiration=600\n\
[wrongpw]\ntype=registration\nserver_uri=sip:acme.sip.twilio.com\nclient_uri=sip:frank@acme.sip.twilio.com\noutbound_auth=bad-auth\nexpiration=600\n";

fn sip(e: &mut Engine, at: u64, d: Direction, user: &str, cseq: u32, code: Option<u16>) {
    let first = match code {
        None => "REGISTER sip:acme.sip.twilio.com SIP/2.0".to_owned(),
        Some(c) => format!("SIP/2.0 {c} X"),
    };
    let extra = match code {
        None if cseq % 2 == 0 => "Proxy-Authorization: Digest username=\"u\", realm=\"sip.twilio.com\", nonce=\"n\", uri=\"sip:acme.sip.twilio.com\", response=\"0\"\r\n".to_owned(),
        None => "Expires: 600\r\n".to_owned(),
        Some(200) => "Contact: <sip:s@127.0.0.1:5070>;expires=600\r\n".to_owned(),
        Some(407) => "Proxy-Authenticate: Digest realm=\"sip.twilio.com\", nonce=\"n\"\r\n".to_owned(),
        _ => String::new(),
    };
    let m = format!(
        "{first}\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{user}{cseq}\r\n\
         From: <sip:{user}@acme.sip.twilio.com>;tag=t\r\nTo: <sip:{user}@acme.sip.twilio.com>\r\n\
         Call-ID: {user}-call\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:s@127.0.0.1:5070>\r\n\
         {extra}Content-Length: 0\r\n\r\n"
    );
    e.observe_sip(at, d, None, m.as_bytes()).unwrap();
}

fn attempt(e: &mut Engine, at: u64, user: &str, last: u16) {
    sip(e, at, Direction::Sent, user, 1, None);
    sip(e, at + 10, Direction::Received, user, 1, Some(407));
    sip(e, at + 20, Direction::Sent, user, 2, None);
    sip(e, at + 30, Direction::Received, user, 2, Some(last));
}

fn state(e: &Engine, name: &str) -> (RegState, Cause) {
    e.trunk_state(e.find_trunk(name).unwrap()).unwrap()
}

fn loaded() -> (Engine, AsteriskSession) {
    let mut e = Engine::new(EngineConfig::default(), 0, 1);
    let mut s = AsteriskSession::new();
    s.pjsip_conf(&mut e, 0, &HostSettings::new(), CONF).unwrap();
    while e.poll_output().is_some() {}
    (e, s)
}

fn show(good: &str, wrongpw: &str) -> String {
    format!(
        " <Registration/ServerURI..............................>  <Auth....................>  <Status.......>\n\
         ==========================================================================================\n\n \
         good/sip:acme.sip.twilio.com                            good-auth                   {good}        (exp. 480s)\n \
         wrongpw/sip:acme.sip.twilio.com                         bad-auth                    {wrongpw}          (exp. 2s ago)\n\n\
         Objects found: 2\n"
    )
}

#[test]
fn a_reload_keeps_causes_and_raises_no_alert_again() {
    let (mut e, _) = loaded();
    attempt(&mut e, 1_000, "alice", 200);
    attempt(&mut e, 2_000, "frank", 403);
    assert_eq!(state(&e, "good"), (RegState::Registered, Cause::Healthy));
    assert_eq!(
        state(&e, "wrongpw"),
        (RegState::Rejected, Cause::CredentialsRejected)
    );
    let text = e.carry_out();
    assert!(!text.contains("Passw0rd"), "{text}");

    // The new engine: the configuration, the carry, then Asterisk's view
    // (which agrees: nothing changes).
    let (mut e, s) = loaded();
    assert_eq!(e.carry_in(120_000, &text), 2);
    s.registrations_text(&mut e, 120_001, &show("Registered", "Rejected"));
    assert_eq!(state(&e, "good"), (RegState::Registered, Cause::Healthy));
    assert_eq!(
        state(&e, "wrongpw"),
        (RegState::Rejected, Cause::CredentialsRejected)
    );
    let (mut alerts, mut states) = (0, 0);
    while let Some(o) = e.poll_output() {
        match o {
            Output::Event(Event::AlertRaised { .. }) => alerts += 1,
            Output::Event(Event::StateChanged { cause, .. }) => {
                assert_ne!(
                    cause,
                    Cause::Unknown,
                    "no event names a cause that was known"
                );
                states += 1;
            }
            _ => {}
        }
    }
    assert_eq!(alerts, 0, "the alert raised before the reload stands");
    assert_eq!(states, 2, "one state event per trunk at the load");
    // The binding's lapse was carried: 600 s after the 200 at ~1 s.
    let snap = e.snapshot(e.find_trunk("good").unwrap()).unwrap();
    assert!(
        snap.expires_in_ms
            .is_some_and(|x| x > 400_000 && x <= 481_100),
        "{:?}",
        snap.expires_in_ms
    );
    let h = snap.history.last().unwrap();
    assert_eq!(
        h.kind.to_string(),
        "carried over from before the module reload"
    );
}

#[test]
fn the_pbx_view_wins_over_the_carry() {
    let (mut e, _) = loaded();
    attempt(&mut e, 1_000, "frank", 403);
    let text = e.carry_out();
    // The password was fixed during the reload: Asterisk shows it registered.
    let (mut e, s) = loaded();
    assert_eq!(e.carry_in(120_000, &text), 1);
    s.registrations_text(&mut e, 120_001, &show("Registered", "Registered"));
    assert_eq!(state(&e, "wrongpw"), (RegState::Registered, Cause::Healthy));
}

#[test]
fn bad_carry_text_changes_nothing() {
    let (mut e, _) = loaded();
    for junk in [
        "",
        "\n\n",
        "good\tregistered",
        "nobody\tregistered\thealthy\t\t\t\t\t\t",
        "good\tweird\thealthy\t\t\t\t\t\t",
        "good\tregistered\tnot_a_cause\t\t\t\t\t\t",
        "good\tregistered\thealthy\tx\ty\tz\tq\tr\ts",
    ] {
        let before = state(&e, "good");
        let n = e.carry_in(5, junk);
        assert!(n <= 1, "{junk:?}");
        if n == 0 {
            assert_eq!(state(&e, "good"), before, "{junk:?}");
        }
    }
}

#[test]
fn the_c_abi_carries_text() {
    let c = |s: &str| CString::new(s).unwrap();
    let mut e = std::ptr::null_mut();
    assert_eq!(
        unsafe { regwatch_engine_new(0, 1, &mut e) },
        regwatch_status::REGWATCH_STATUS_OK
    );
    let mut need = 0usize;
    let st = unsafe { regwatch_engine_carry_text(e, std::ptr::null_mut(), 0, &mut need) };
    assert!(matches!(
        st,
        regwatch_status::REGWATCH_STATUS_OK | regwatch_status::REGWATCH_STATUS_BUFFER_TOO_SMALL
    ));
    let mut buf = vec![0 as std::ffi::c_char; need.max(1)];
    assert_eq!(
        unsafe { regwatch_engine_carry_text(e, buf.as_mut_ptr(), buf.len(), &mut need) },
        regwatch_status::REGWATCH_STATUS_OK
    );
    assert_eq!(unsafe { CStr::from_ptr(buf.as_ptr()) }.to_bytes(), b"");
    let mut taken = 7usize;
    assert_eq!(
        unsafe {
            regwatch_engine_carry_apply(
                e,
                1,
                c("x\tregistered\thealthy\t\t\t\t\t\t").as_ptr(),
                &mut taken,
            )
        },
        regwatch_status::REGWATCH_STATUS_OK
    );
    assert_eq!(taken, 0);
    assert_eq!(
        unsafe { regwatch_engine_carry_apply(e, 1, std::ptr::null(), &mut taken) },
        regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT
    );
    assert_eq!(
        unsafe {
            regwatch_engine_carry_apply(
                std::ptr::null_mut(),
                1,
                c("").as_ptr(),
                std::ptr::null_mut(),
            )
        },
        regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT
    );
    unsafe { regwatch_engine_free(e) };
}

/// mod_regwatch's load, through the C ABI: the gateways from sofia.conf,
/// what the engine before the reload carried, then sofia's own view
/// (`sofia xmlstatus`), which wins where they disagree.
#[test]
fn freeswitch_load_seeds_from_sofia_then_the_carry() {
    let c = |s: &str| CString::new(s).unwrap();
    let xml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/freeswitch/external.xml"
    ))
    .unwrap();
    let status = "<profiles>\n<gateway>\n<name>gw_ok</name>\n<type>gateway</type>\n<data>sip:a@b</data>\n<state>REGED</state>\n</gateway>\n\
        <gateway>\n<name>gw_badpass</name>\n<type>gateway</type>\n<data>sip:a@b</data>\n<state>FAIL_WAIT</state>\n</gateway>\n (retry: 20s)\n</profiles>\n";
    let state = |e: *mut regwatch_engine, t: &str| {
        let (mut s, mut cause) = (std::ptr::null(), std::ptr::null());
        assert_eq!(
            unsafe { regwatch_engine_trunk_state(e, c(t).as_ptr(), &mut s, &mut cause) },
            regwatch_status::REGWATCH_STATUS_OK
        );
        unsafe {
            (
                CStr::from_ptr(s).to_str().unwrap().to_owned(),
                CStr::from_ptr(cause).to_str().unwrap().to_owned(),
            )
        }
    };
    let mut e = std::ptr::null_mut();
    assert_eq!(
        unsafe { regwatch_engine_new(0, 1, &mut e) },
        regwatch_status::REGWATCH_STATUS_OK
    );
    assert_eq!(
        unsafe { regwatch_engine_freeswitch_gateways_xml(e, 0, c(&xml).as_ptr()) },
        regwatch_status::REGWATCH_STATUS_OK
    );
    // gw_ok was rejected before the reload and registered since: sofia's
    // view wins; gw_badpass keeps its carried cause.
    let carried = "gw_badpass\trejected\tcredentials_rejected\t403\tcredentials_rejected\tcredentials_rejected\t407\t\t\n\
                   gw_ok\trejected\tdomain_not_found\t404\tdomain_not_found\tdomain_not_found\t\t\t\n";
    let mut taken = 0usize;
    assert_eq!(
        unsafe { regwatch_engine_carry_apply(e, 5, c(carried).as_ptr(), &mut taken) },
        regwatch_status::REGWATCH_STATUS_OK
    );
    assert_eq!(taken, 2);
    assert_eq!(
        unsafe { regwatch_engine_freeswitch_status_xml(e, 10, c(status).as_ptr()) },
        regwatch_status::REGWATCH_STATUS_OK
    );
    assert_eq!(state(e, "gw_ok"), ("registered".into(), "healthy".into()));
    assert_eq!(
        state(e, "gw_badpass"),
        ("rejected".into(), "credentials_rejected".into())
    );
    unsafe { regwatch_engine_free(e) };
}
