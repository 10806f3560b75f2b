//! The host adapters through the C ABI, on the captured fixtures: the same
//! causes come out as through the Rust adapters.
use regwatch::ffi::regwatch_status::{self, *};
use regwatch::ffi::*;
use std::ffi::{c_char, CStr, CString};
use std::ptr;

const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn c(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).unwrap()
}

fn engine() -> *mut regwatch_engine {
    let mut e = ptr::null_mut();
    assert_eq!(
        unsafe { regwatch_engine_new(0, 1, &mut e) },
        REGWATCH_STATUS_OK
    );
    e
}

fn state(e: *mut regwatch_engine, trunk: &str) -> (String, String) {
    let (mut s, mut cause) = (ptr::null(), ptr::null());
    let st = unsafe { regwatch_engine_trunk_state(e, c(trunk).as_ptr(), &mut s, &mut cause) };
    assert_eq!(st, REGWATCH_STATUS_OK, "{trunk}");
    unsafe {
        (
            CStr::from_ptr(s).to_str().unwrap().to_owned(),
            CStr::from_ptr(cause).to_str().unwrap().to_owned(),
        )
    }
}

fn drain(e: *mut regwatch_engine) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    loop {
        let mut ev = std::mem::MaybeUninit::<regwatch_event>::uninit();
        unsafe { regwatch_event_init(ev.as_mut_ptr()) };
        let st: regwatch_status = unsafe { regwatch_engine_poll_event(e, ev.as_mut_ptr()) };
        if st != REGWATCH_STATUS_OK {
            break;
        }
        let ev = unsafe { ev.assume_init() };
        assert!(!unsafe { CStr::from_ptr(ev.summary) }.to_bytes().is_empty());
        // Findings: their code; the others: their cause id.
        let id = if ev.kind == REGWATCH_EVENT_FINDING {
            ev.finding_code
        } else {
            regwatch_cause_str(ev.cause)
        };
        out.push((
            ev.kind,
            unsafe { CStr::from_ptr(id) }.to_str().unwrap().to_owned(),
        ));
    }
    out
}

/// The account queries among the pending events: (trunk, probe id).
fn account_queries(e: *mut regwatch_engine) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    loop {
        let mut ev = std::mem::MaybeUninit::<regwatch_event>::uninit();
        unsafe { regwatch_event_init(ev.as_mut_ptr()) };
        if unsafe { regwatch_engine_poll_event(e, ev.as_mut_ptr()) } != REGWATCH_STATUS_OK {
            break;
        }
        let ev = unsafe { ev.assume_init() };
        if ev.kind == REGWATCH_EVENT_TRANSMIT
            && ev.transmit.purpose == REGWATCH_PURPOSE_ACCOUNT_QUERY
        {
            let trunk = unsafe { CStr::from_ptr(ev.trunk) }
                .to_str()
                .unwrap()
                .to_owned();
            out.push((trunk, ev.transmit.probe_id));
        }
    }
    out
}

/// `Event: Registry | ... | Username: u | Domain: d | Status: s` → stasis JSON.
fn registry_json(line: &str) -> Option<String> {
    if !line.contains("Event: Registry") {
        return None;
    }
    let field = |k: &str| {
        line.split(" | ")
            .find_map(|p| p.strip_prefix(&format!("{k}: ")))
            .unwrap_or("")
            .to_owned()
    };
    Some(
        serde_json::json!({
            "type": "Registry",
            "channeltype": field("ChannelType"),
            "username": field("Username"),
            "domain": field("Domain"),
            "status": field("Status"),
            "cause": "",
        })
        .to_string(),
    )
}

#[test]
fn asterisk_registry_alone_then_with_log_lines() {
    let conf = std::fs::read_to_string(format!("{FIX}/asterisk/pjsip.conf")).unwrap();
    let ami = std::fs::read_to_string(format!("{FIX}/asterisk/ami-events.log")).unwrap();
    let console = std::fs::read_to_string(format!("{FIX}/asterisk/console-run.log")).unwrap();

    // Registry events alone: rejected, cause unknown.
    let e = engine();
    assert_eq!(
        unsafe { regwatch_engine_asterisk_pjsip_conf(e, 0, c(&conf).as_ptr()) },
        REGWATCH_STATUS_OK
    );
    let events = drain(e);
    assert!(events.iter().any(|(k, _)| *k == REGWATCH_EVENT_FINDING));
    for line in ami.lines() {
        if let Some(j) = registry_json(line) {
            let st = unsafe { regwatch_engine_asterisk_registry_json(e, 1000, c(&j).as_ptr()) };
            assert_eq!(st, REGWATCH_STATUS_OK, "{line}");
        }
    }
    assert_eq!(state(e, "reg-403"), ("rejected".into(), "unknown".into()));
    assert_eq!(state(e, "reg-404"), ("rejected".into(), "unknown".into()));
    assert_eq!(state(e, "reg-ok").0, "registered");

    // Plus the console's WARNING lines: the exact cause.
    let mut fed = 0;
    for line in console.lines() {
        match unsafe { regwatch_engine_asterisk_log_line(e, 2000, c(line).as_ptr()) } {
            REGWATCH_STATUS_OK => fed += 1,
            REGWATCH_STATUS_DONE => {}
            other => panic!("{other:?} for {line}"),
        }
    }
    assert!(fed >= 5, "{fed} registration lines");
    assert_eq!(state(e, "reg-404").1, "domain_not_found");
    assert_eq!(state(e, "reg-401").1, "credentials_rejected");
    assert_eq!(state(e, "reg-timeout").1, "registrar_unreachable");
    assert_ne!(state(e, "reg-403").1, "unknown");
    unsafe { regwatch_engine_free(e) };
}

#[test]
fn asterisk_object_sets_and_reload() {
    let e = engine();
    let obj = |kind: &str, id: &str, kv: &[(&str, &str)]| {
        let names: Vec<CString> = kv.iter().map(|(k, _)| c(k)).collect();
        let values: Vec<CString> = kv.iter().map(|(_, v)| c(v)).collect();
        let np: Vec<*const c_char> = names.iter().map(|s| s.as_ptr()).collect();
        let vp: Vec<*const c_char> = values.iter().map(|s| s.as_ptr()).collect();
        unsafe {
            regwatch_engine_asterisk_object(
                e,
                c(kind).as_ptr(),
                c(id).as_ptr(),
                np.as_ptr(),
                vp.as_ptr(),
                kv.len(),
            )
        }
    };
    assert_eq!(
        obj(
            "registration",
            "twilio",
            &[
                ("server_uri", "sip:acme.sip.twillio.com"),
                ("client_uri", "sip:office@acme.sip.twillio.com"),
                ("outbound_auth", "twilio-auth"),
                ("expiration", "3600"),
            ]
        ),
        REGWATCH_STATUS_OK
    );
    assert_eq!(
        obj(
            "auth",
            "twilio-auth",
            &[
                ("auth_type", "userpass"),
                ("username", "office"),
                ("password", "Str0ngPassw0rdX")
            ]
        ),
        REGWATCH_STATUS_OK
    );
    assert_eq!(
        unsafe { regwatch_engine_asterisk_commit(e, 0) },
        REGWATCH_STATUS_OK
    );
    let ev = drain(e);
    assert!(
        ev.iter()
            .any(|(k, c)| *k == REGWATCH_EVENT_FINDING && c == "domain.typo"),
        "{ev:?}"
    );
    assert_eq!(state(e, "twilio").1, "config_invalid");
    // A reload without the registration removes the trunk.
    assert_eq!(
        unsafe { regwatch_engine_asterisk_commit(e, 10) },
        REGWATCH_STATUS_OK
    );
    let (mut s, mut cs) = (ptr::null(), ptr::null());
    assert_eq!(
        unsafe { regwatch_engine_trunk_state(e, c("twilio").as_ptr(), &mut s, &mut cs) },
        REGWATCH_STATUS_NOT_FOUND
    );
    // Misuse.
    assert_eq!(
        unsafe {
            regwatch_engine_asterisk_object(
                e,
                ptr::null(),
                c("x").as_ptr(),
                ptr::null(),
                ptr::null(),
                0,
            )
        },
        REGWATCH_STATUS_NULL_ARGUMENT
    );
    assert_eq!(
        unsafe {
            regwatch_engine_asterisk_object(
                e,
                c("auth").as_ptr(),
                c("x").as_ptr(),
                ptr::null(),
                ptr::null(),
                2,
            )
        },
        REGWATCH_STATUS_NULL_ARGUMENT
    );
    assert_eq!(
        unsafe { regwatch_engine_asterisk_registry_json(e, 0, c("{not json").as_ptr()) },
        REGWATCH_STATUS_INVALID_ARGUMENT
    );
    assert_eq!(
        unsafe { regwatch_engine_asterisk_log_line(e, 0, c("hello").as_ptr()) },
        REGWATCH_STATUS_DONE
    );
    unsafe { regwatch_engine_free(e) };
}

#[test]
fn freeswitch_events_through_the_c_abi() {
    let xml = std::fs::read_to_string(format!("{FIX}/freeswitch/external.xml")).unwrap();
    let raw = std::fs::read_to_string(format!("{FIX}/freeswitch/events_run2_raw.txt")).unwrap();
    let e = engine();
    // As mod_regwatch does at load: the module's settings (keep-alives on:
    // the module sends the engine's transmits).
    assert_eq!(
        unsafe { regwatch_engine_settings_apply(e) },
        REGWATCH_STATUS_OK
    );
    assert_eq!(
        unsafe { regwatch_engine_freeswitch_gateways_xml(e, 0, c(&xml).as_ptr()) },
        REGWATCH_STATUS_OK
    );
    drain(e);
    let mut t = 0;
    let mut queries = Vec::new();
    for ev in regwatch::hosts::freeswitch::parse_raw_events(&raw) {
        t += 10;
        let names: Vec<CString> = ev.headers.iter().map(|(k, _)| c(k)).collect();
        let values: Vec<CString> = ev.headers.iter().map(|(_, v)| c(v)).collect();
        let np: Vec<*const c_char> = names.iter().map(|s| s.as_ptr()).collect();
        let vp: Vec<*const c_char> = values.iter().map(|s| s.as_ptr()).collect();
        let st =
            unsafe { regwatch_engine_freeswitch_event(e, t, np.as_ptr(), vp.as_ptr(), np.len()) };
        assert!(
            matches!(
                st,
                REGWATCH_STATUS_OK | REGWATCH_STATUS_DONE | REGWATCH_STATUS_NOT_FOUND
            ),
            "{st:?}"
        );
        queries.extend(account_queries(e));
    }
    assert_eq!(state(e, "gw_ok"), ("registered".into(), "healthy".into()));
    // FreeSWITCH's FAILED 403 does not say whether the REGISTER carried
    // credentials: from the events alone both causes stay open...
    assert_eq!(state(e, "gw_badpass").1, "account_forbidden");
    let words = text(|b, n, need| unsafe {
        regwatch_engine_trunk_text(e, c("gw_badpass").as_ptr(), b, n, need)
    });
    assert!(words.contains("or the password was refused"), "{words}");
    assert!(
        !words.contains("carried credentials (Authorization)"),
        "{words}"
    );
    // ... and the engine asked once for the account query (a REGISTER
    // without Contact or credentials), which the registrar of the capture
    // (a wrong password: challenged, then 403) answers with a challenge.
    let bad: Vec<u64> = queries
        .iter()
        .filter(|(trunk, _)| trunk == "gw_badpass")
        .map(|q| q.1)
        .collect();
    assert_eq!(bad.len(), 1, "{queries:?}");
    let st = unsafe {
        regwatch_engine_probe_result(
            e,
            t + 5,
            c("gw_badpass").as_ptr(),
            bad[0],
            REGWATCH_PROBE_RESPONSE,
            401,
            0,
            -1,
        )
    };
    assert_eq!(st, REGWATCH_STATUS_OK);
    assert_eq!(state(e, "gw_badpass").1, "credentials_rejected");
    assert_eq!(state(e, "gw_404").1, "domain_not_found");
    assert_eq!(state(e, "gw_401loop").1, "credentials_rejected");
    assert_eq!(state(e, "gw_refused").1, "connection_refused");
    assert_eq!(state(e, "gw_timeout").1, "registrar_unreachable");
    unsafe { regwatch_engine_free(e) };
}

fn text(f: impl Fn(*mut c_char, usize, *mut usize) -> regwatch_status) -> String {
    let mut need = 0usize;
    let st = f(ptr::null_mut(), 0, &mut need);
    assert!(
        st == REGWATCH_STATUS_BUFFER_TOO_SMALL || st == REGWATCH_STATUS_OK,
        "{st:?}"
    );
    let mut buf = vec![0u8; need];
    assert_eq!(
        f(buf.as_mut_ptr().cast(), buf.len(), &mut need),
        REGWATCH_STATUS_OK
    );
    CStr::from_bytes_until_nul(&buf)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

/// What res_regwatch uses: a pjsip.conf reload that changes nothing keeps
/// quiet, `pjsip show registrations` seeds trunks not yet observed, the
/// console tables, the profile option, and a copy of a configuration
/// (password included) for a live check off the engine's thread.
#[test]
fn asterisk_module_surface() {
    let e = engine();
    let conf = "[acme]\ntype=registration\nserver_uri=sip:acme.sip.twilio.com\n\
        client_uri=sip:office@acme.sip.twilio.com\noutbound_auth=acme-auth\nexpiration=3600\n\
        [acme-auth]\ntype=auth\nusername=office\npassword=Str0ngPassw0rdX\n\
        [other]\ntype=registration\nserver_uri=sip:pbx.example.com\n\
        client_uri=sip:me@pbx.example.com\n";
    let opt =
        |k: &str, v: &str| unsafe { regwatch_engine_set_option(e, c(k).as_ptr(), c(v).as_ptr()) };
    assert_eq!(opt("profile", "generic"), REGWATCH_STATUS_OK);
    assert_eq!(opt("profile", "sipgate"), REGWATCH_STATUS_INVALID_ARGUMENT);
    assert_eq!(
        unsafe { regwatch_engine_asterisk_pjsip_conf(e, 0, c(conf).as_ptr()) },
        REGWATCH_STATUS_OK
    );
    let findings = |e: *mut regwatch_engine| {
        let mut out = Vec::new();
        loop {
            let mut ev = std::mem::MaybeUninit::<regwatch_event>::uninit();
            unsafe { regwatch_event_init(ev.as_mut_ptr()) };
            if unsafe { regwatch_engine_poll_event(e, ev.as_mut_ptr()) } != REGWATCH_STATUS_OK {
                break;
            }
            let ev = unsafe { ev.assume_init() };
            if ev.kind == REGWATCH_EVENT_FINDING {
                let s = |p| unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned();
                out.push(format!("{} {}", s(ev.trunk), s(ev.finding_code)));
            }
        }
        out
    };
    let f = findings(e);
    assert!(!f.is_empty());
    let mut sorted = f.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), f.len(), "each finding once: {f:?}");
    // The profile option applies to trunks read from PBX configuration:
    // a Twilio domain under the generic profile is not checked as Twilio.
    let json =
        text(|b, l, o| unsafe { regwatch_engine_trunk_json(e, c("acme").as_ptr(), b, l, o) });
    assert!(json.contains("\"profile\":\"generic\""), "{json}");
    // The same configuration again: no event at all.
    assert_eq!(
        unsafe { regwatch_engine_asterisk_pjsip_conf(e, 5, c(conf).as_ptr()) },
        REGWATCH_STATUS_OK
    );
    assert!(findings(e).is_empty());

    // Seeding from the console: only trunks in state unknown change.
    let show = " <Registration/ServerURI..............................>  <Auth....................>  <Status.......>\n\
        ==========================================================================================\n\n \
        acme/sip:acme.sip.twilio.com                            acme-auth                   Registered       (exp. 3500s)\n \
        other/sip:pbx.example.com                               n/a                         Rejected         (exp. 0s)\n \
        gone/sip:pbx.example.com                                n/a                         Registered       (exp. 9s)\n";
    assert_eq!(
        unsafe { regwatch_engine_asterisk_registrations_text(e, 10, c(show).as_ptr()) },
        REGWATCH_STATUS_OK
    );
    assert_eq!(state(e, "acme"), ("registered".into(), "healthy".into()));
    assert_eq!(state(e, "other").0, "rejected");
    // Seen once: a second listing does not apply again.
    assert_eq!(
        unsafe { regwatch_engine_asterisk_registrations_text(e, 11, c(show).as_ptr()) },
        REGWATCH_STATUS_DONE
    );

    let table = text(|b, l, o| unsafe { regwatch_engine_trunks_text(e, b, l, o) });
    assert!(table.starts_with("Trunk"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("acme ") && l.contains("registered") && l.contains("healthy")),
        "{table}"
    );
    assert!(table.contains("2 trunks"), "{table}");
    let list = text(|b, l, o| unsafe { regwatch_engine_findings_text(e, b, l, o) });
    assert!(list.contains("acme (acme.sip.twilio.com):"), "{list}");
    assert!(list.contains("Fix: "), "{list}");
    let metrics = text(|b, l, o| unsafe {
        regwatch_engine_metrics_text(e, c("pbx \"a\"").as_ptr(), b, l, o)
    });
    assert!(
        metrics.contains(
            "regwatch_trunk_state{trunk=\"acme\",host=\"pbx \\\"a\\\"\",domain=\"acme.sip.twilio.com\",transport=\"\",state=\"registered\",cause=\"healthy\"} 1\n"
        ),
        "{metrics}"
    );
    assert!(
        metrics.ends_with("regwatch_alerts_active{host=\"pbx \\\"a\\\"\"} 1\n"),
        "{metrics}"
    );
    let bare = text(|b, l, o| unsafe { regwatch_engine_metrics_text(e, ptr::null(), b, l, o) });
    assert!(!bare.contains("host="), "{bare}");
    assert_eq!(bare.lines().count(), metrics.lines().count());
    let mut need = 0usize;
    assert_eq!(
        unsafe {
            regwatch_engine_metrics_text(
                ptr::null_mut(),
                ptr::null(),
                ptr::null_mut(),
                0,
                &mut need,
            )
        },
        REGWATCH_STATUS_NULL_ARGUMENT
    );
    for s in [&table, &list, &json, &metrics] {
        assert!(!s.contains("Str0ngPassw0rdX"));
    }
    let trunks = text(|b, l, o| unsafe { regwatch_engine_trunks_json(e, b, l, o) });
    let v: serde_json::Value = serde_json::from_str(&trunks).unwrap();
    assert!(
        v[0]["summary"].as_str().is_some_and(|s| !s.is_empty()),
        "{v}"
    );

    // A copy of the configuration, for the live check.
    let mut cfg = ptr::null_mut();
    assert_eq!(
        unsafe { regwatch_engine_trunk_config(e, c("acme").as_ptr(), &mut cfg) },
        REGWATCH_STATUS_OK
    );
    assert!(!cfg.is_null());
    unsafe { regwatch::ffi::config::regwatch_trunk_config_free(cfg) };
    assert_eq!(
        unsafe { regwatch_engine_trunk_config(e, c("nope").as_ptr(), &mut cfg) },
        REGWATCH_STATUS_NOT_FOUND
    );
    assert_eq!(
        unsafe { regwatch_engine_trunk_config(e, c("acme").as_ptr(), ptr::null_mut()) },
        REGWATCH_STATUS_NULL_ARGUMENT
    );
    assert_eq!(
        unsafe { regwatch_engine_asterisk_registrations_text(e, 12, ptr::null()) },
        REGWATCH_STATUS_NULL_ARGUMENT
    );
    unsafe { regwatch_engine_free(e) };
}

/// What mod_regwatch uses: the profile of each gateway for `sofia profile
/// <p> register <gw>`, no second OPTIONS stream for a gateway that pings
/// on its own, and sofia.conf read again without a word when unchanged.
#[test]
fn freeswitch_module_surface() {
    let xml = r#"<configuration name="sofia.conf"><profiles>
      <profile name="external"><gateways>
        <gateway name="plain"><param name="username" value="alice"/>
          <param name="password" value="Alice-Passw0rd-1"/>
          <param name="proxy" value="acme.sip.twilio.com"/>
          <param name="register-proxy" value="127.0.0.1:5080"/></gateway>
        <gateway name="pinging"><param name="username" value="bob"/>
          <param name="password" value="Bob-Passw0rd-2"/>
          <param name="proxy" value="acme.sip.twilio.com"/>
          <param name="ping" value="30"/></gateway>
      </gateways></profile></profiles></configuration>"#;
    let e = engine();
    assert_eq!(
        unsafe { regwatch_engine_set_option(e, c("keepalive").as_ptr(), c("on").as_ptr()) },
        REGWATCH_STATUS_OK
    );
    assert_eq!(
        unsafe { regwatch_engine_freeswitch_gateways_xml(e, 0, c(xml).as_ptr()) },
        REGWATCH_STATUS_OK
    );
    let first = drain(e);
    assert!(first.iter().any(|(k, _)| *k == REGWATCH_EVENT_FINDING));
    // Probes for the gateway without ping only.
    let mut probed = Vec::new();
    let mut deadline = 0u64;
    // Two and a half keep-alive intervals of engine time.
    while deadline < 150_000 {
        if unsafe { regwatch_engine_poll_timeout(e, &mut deadline) } != REGWATCH_STATUS_OK {
            break;
        }
        assert_eq!(
            unsafe { regwatch_engine_handle_timeout(e, deadline) },
            REGWATCH_STATUS_OK
        );
        loop {
            let mut ev = std::mem::MaybeUninit::<regwatch_event>::uninit();
            unsafe { regwatch_event_init(ev.as_mut_ptr()) };
            if unsafe { regwatch_engine_poll_event(e, ev.as_mut_ptr()) } != REGWATCH_STATUS_OK {
                break;
            }
            let ev = unsafe { ev.assume_init() };
            if ev.kind == REGWATCH_EVENT_TRANSMIT {
                probed.push(
                    unsafe { CStr::from_ptr(ev.trunk) }
                        .to_str()
                        .unwrap()
                        .to_owned(),
                );
            }
        }
    }
    assert!(
        probed.iter().filter(|t| *t == "plain").count() >= 2,
        "{probed:?}"
    );
    assert!(!probed.iter().any(|t| t == "pinging"), "{probed:?}");
    // The same XML again (a rescan or reloadxml): nothing to say.
    assert_eq!(
        unsafe { regwatch_engine_freeswitch_gateways_xml(e, deadline, c(xml).as_ptr()) },
        REGWATCH_STATUS_OK
    );
    assert!(
        !drain(e).iter().any(|(k, _)| *k == REGWATCH_EVENT_FINDING),
        "findings again"
    );
    let profile = text(|b, l, o| unsafe {
        regwatch_engine_freeswitch_profile(e, c("plain").as_ptr(), b, l, o)
    });
    assert_eq!(profile, "external");
    let mut need = 0usize;
    assert_eq!(
        unsafe {
            regwatch_engine_freeswitch_profile(e, c("nope").as_ptr(), ptr::null_mut(), 0, &mut need)
        },
        REGWATCH_STATUS_NOT_FOUND
    );
    // gateway_add names the profile of a gateway the XML placed elsewhere.
    let add = [
        ("Event-Name", "CUSTOM"),
        ("Event-Subclass", "sofia::gateway_add"),
        ("Gateway", "plain"),
        ("profile-name", "internal"),
    ];
    let names: Vec<CString> = add.iter().map(|(k, _)| c(k)).collect();
    let values: Vec<CString> = add.iter().map(|(_, v)| c(v)).collect();
    let np: Vec<*const c_char> = names.iter().map(|s| s.as_ptr()).collect();
    let vp: Vec<*const c_char> = values.iter().map(|s| s.as_ptr()).collect();
    let st = unsafe { regwatch_engine_freeswitch_event(e, deadline, np.as_ptr(), vp.as_ptr(), 4) };
    assert!(
        matches!(st, REGWATCH_STATUS_OK | REGWATCH_STATUS_DONE),
        "{st:?}"
    );
    let profile = text(|b, l, o| unsafe {
        regwatch_engine_freeswitch_profile(e, c("plain").as_ptr(), b, l, o)
    });
    assert_eq!(profile, "internal");
    unsafe { regwatch_engine_free(e) };
}

/// A module's settings: the keys it reads, refused where wrong, the
/// defaults (keep-alive on) and per-trunk keys, all on the Rust side.
#[test]
fn module_settings_through_the_c_abi() {
    let xml = r#"<configuration name="sofia.conf"><profiles>
      <profile name="external"><gateways>
        <gateway name="a"><param name="username" value="alice"/>
          <param name="password" value="Alice-Passw0rd-1"/>
          <param name="proxy" value="acme.sip.twilio.com"/></gateway>
        <gateway name="b"><param name="username" value="bob"/>
          <param name="password" value="Bob-Passw0rd-2"/>
          <param name="proxy" value="acme.sip.twilio.com"/></gateway>
      </gateways></profile></profiles></configuration>"#;
    let e = engine();
    let set = |section: Option<&str>, k: &str, v: &str| {
        let section = section.map(c);
        unsafe {
            regwatch_engine_setting(
                e,
                section.as_ref().map_or(ptr::null(), |s| s.as_ptr()),
                c(k).as_ptr(),
                c(v).as_ptr(),
            )
        }
    };
    assert_eq!(
        unsafe { regwatch_engine_settings_reset(e) },
        REGWATCH_STATUS_OK
    );
    assert_eq!(set(None, "no-such-key", "1"), REGWATCH_STATUS_UNKNOWN_KEY);
    assert_eq!(
        set(Some("settings"), "log-level", "loud"),
        REGWATCH_STATUS_INVALID_ARGUMENT
    );
    assert_eq!(
        set(Some("b"), "keepalive", "maybe"),
        REGWATCH_STATUS_INVALID_ARGUMENT
    );
    assert_eq!(
        set(Some("settings"), "log-level", "debug"),
        REGWATCH_STATUS_OK
    );
    assert_eq!(
        set(Some("settings"), "check-timeout", "3"),
        REGWATCH_STATUS_OK
    );
    assert_eq!(set(Some("b"), "keepalive", "off"), REGWATCH_STATUS_OK);
    assert_eq!(
        unsafe { regwatch_engine_setting(e, ptr::null(), ptr::null(), ptr::null()) },
        REGWATCH_STATUS_NULL_ARGUMENT
    );
    assert_eq!(
        unsafe { regwatch_engine_settings_apply(e) },
        REGWATCH_STATUS_OK
    );
    assert_eq!(
        unsafe { regwatch_engine_freeswitch_gateways_xml(e, 0, c(xml).as_ptr()) },
        REGWATCH_STATUS_OK
    );
    let mut probed = Vec::new();
    let mut deadline = 0u64;
    while deadline < 150_000 {
        if unsafe { regwatch_engine_poll_timeout(e, &mut deadline) } != REGWATCH_STATUS_OK {
            break;
        }
        assert_eq!(
            unsafe { regwatch_engine_handle_timeout(e, deadline) },
            REGWATCH_STATUS_OK
        );
        loop {
            let mut ev = std::mem::MaybeUninit::<regwatch_event>::uninit();
            unsafe { regwatch_event_init(ev.as_mut_ptr()) };
            if unsafe { regwatch_engine_poll_event(e, ev.as_mut_ptr()) } != REGWATCH_STATUS_OK {
                break;
            }
            let ev = unsafe { ev.assume_init() };
            if ev.kind == REGWATCH_EVENT_TRANSMIT {
                probed.push(
                    unsafe { CStr::from_ptr(ev.trunk) }
                        .to_str()
                        .unwrap()
                        .to_owned(),
                );
            }
        }
    }
    // Keep-alive is on by the modules' default, off for `b` by its section.
    assert!(
        probed.iter().filter(|t| *t == "a").count() >= 2,
        "{probed:?}"
    );
    assert!(!probed.iter().any(|t| t == "b"), "{probed:?}");
    unsafe { regwatch_engine_free(e) };
}

/// FreeSWITCH's spelling (hyphens, seconds) is taken silently; an old
/// name is taken with a note naming the new one; a refused value's note
/// names the allowed range; the note of each call replaces the last.
#[test]
fn setting_notes_through_the_c_abi() {
    let e = engine();
    let set = |k: &str, v: &str| unsafe {
        regwatch_engine_setting(e, c("settings").as_ptr(), c(k).as_ptr(), c(v).as_ptr())
    };
    let note = || text(|b, l, o| unsafe { regwatch_engine_setting_note(e, b, l, o) });
    assert_eq!(note(), "");
    assert_eq!(set("keepalive_interval_ms", "3000"), REGWATCH_STATUS_OK);
    assert_eq!(
        note(),
        "keepalive_interval_ms (milliseconds) is deprecated: write keepalive-interval = 3 (seconds)"
    );
    assert_eq!(set("keepalive-interval", "3"), REGWATCH_STATUS_OK);
    assert_eq!(note(), "");
    assert_eq!(
        set("keepalive-interval", "3000"),
        REGWATCH_STATUS_INVALID_ARGUMENT
    );
    assert_eq!(
        note(),
        "keepalive-interval = 3000: must be seconds between 1 and 600; not applied"
    );
    assert_eq!(
        unsafe { regwatch_engine_settings_reset(e) },
        REGWATCH_STATUS_OK
    );
    assert_eq!(note(), "");
    assert_eq!(
        unsafe {
            regwatch_engine_setting_note(ptr::null_mut(), ptr::null_mut(), 0, ptr::null_mut())
        },
        REGWATCH_STATUS_NULL_ARGUMENT
    );
    unsafe { regwatch_engine_free(e) };
}

/// What the modules now only print: the AMI blocks, the FreeSWITCH
/// headers, the log lines, and the re-register decision (per-trunk
/// opt-out, the host's command), all made on the Rust side.
#[test]
fn renderings_and_the_reregister_policy_through_the_c_abi() {
    let conf = "[a]\ntype=registration\nserver_uri=sip:acme.sip.twilio.com\n\
        client_uri=sip:alice@acme.sip.twilio.com\ntransport=t-udp\n\
        [b]\ntype=registration\nserver_uri=sip:beta.sip.twilio.com\n\
        client_uri=sip:bob@beta.sip.twilio.com\ntransport=t-udp\n\
        [t-udp]\ntype=transport\nprotocol=udp\n";
    let e = engine();
    let set = |section: &str, k: &str, v: &str| unsafe {
        regwatch_engine_setting(e, c(section).as_ptr(), c(k).as_ptr(), c(v).as_ptr())
    };
    assert_eq!(set("b", "reregister_on_recovery", "no"), REGWATCH_STATUS_OK);
    assert_eq!(
        unsafe { regwatch_engine_settings_apply(e) },
        REGWATCH_STATUS_OK
    );
    assert_eq!(
        unsafe { regwatch_engine_asterisk_pjsip_conf(e, 0, c(conf).as_ptr()) },
        REGWATCH_STATUS_OK
    );
    let mut wait = 0u32;
    assert_eq!(
        unsafe { regwatch_engine_next_wait_ms(e, 0, &mut wait) },
        REGWATCH_STATUS_OK
    );
    assert!(wait <= REGWATCH_MAX_WAIT_MS);
    assert_eq!(
        unsafe { regwatch_engine_next_wait_ms(e, 0, ptr::null_mut()) },
        REGWATCH_STATUS_NULL_ARGUMENT
    );
    let s = |p: *const c_char| unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned();
    let (mut rereg, mut notices, mut ami, mut fs) = (Vec::new(), Vec::new(), 0, 0);
    let mut now = 0u64;
    // Unanswered for 150 s (both trunks down), then answered.
    for _ in 0..400 {
        if now > 400_000 {
            break;
        }
        assert_eq!(
            unsafe { regwatch_engine_handle_timeout(e, now) },
            REGWATCH_STATUS_OK
        );
        let mut probes = Vec::new();
        loop {
            let mut ev = std::mem::MaybeUninit::<regwatch_event>::uninit();
            unsafe { regwatch_event_init(ev.as_mut_ptr()) };
            if unsafe { regwatch_engine_poll_event(e, ev.as_mut_ptr()) } != REGWATCH_STATUS_OK {
                break;
            }
            let ev = unsafe { ev.assume_init() };
            assert!(!s(ev.summary).is_empty());
            match ev.kind {
                REGWATCH_EVENT_TRANSMIT => probes.push((s(ev.trunk), ev.transmit.probe_id)),
                REGWATCH_EVENT_ACTION_REREGISTER => rereg.push((s(ev.trunk), s(ev.command))),
                REGWATCH_EVENT_NOTICE => {
                    assert_eq!(ev.log_level, REGWATCH_LOG_INFO);
                    notices.push((s(ev.trunk), s(ev.log_line)));
                }
                REGWATCH_EVENT_STATE_CHANGED
                | REGWATCH_EVENT_ALERT_RAISED
                | REGWATCH_EVENT_ALERT_CLEARED => {
                    let fields = s(ev.ami_fields);
                    assert!(fields.starts_with(&format!("Trunk: {}\r\n", s(ev.trunk))));
                    assert!(fields.contains(&format!("Summary: {}\r\n", s(ev.summary))));
                    assert!(s(ev.ami_event).starts_with("Regwatch"));
                    ami += 1;
                    let headers =
                        unsafe { std::slice::from_raw_parts(ev.fs_headers, ev.fs_header_count) };
                    assert_eq!(s(headers[0].name), "Gateway");
                    assert!(headers
                        .iter()
                        .any(|h| s(h.name) == "Cause"
                            && s(h.value) == s(regwatch_cause_str(ev.cause))));
                    assert!(s(ev.fs_subclass).starts_with("regwatch::"));
                    fs += 1;
                }
                _ => {}
            }
        }
        if now >= 150_000 {
            for (trunk, id) in probes {
                let st = unsafe {
                    regwatch_engine_probe_result(
                        e,
                        now + 3,
                        c(&trunk).as_ptr(),
                        id,
                        REGWATCH_PROBE_RESPONSE,
                        200,
                        0,
                        2500,
                    )
                };
                assert!(st == REGWATCH_STATUS_OK || st == REGWATCH_STATUS_DONE);
            }
        }
        if unsafe { regwatch_engine_poll_timeout(e, &mut now) } != REGWATCH_STATUS_OK {
            break;
        }
    }
    assert!(ami > 0 && fs > 0);
    // `a` is re-registered with Asterisk's own command; `b` said no.
    assert!(
        rereg
            .iter()
            .any(|(t, cmd)| t == "a" && cmd == "pjsip send register a"),
        "{rereg:?}"
    );
    assert!(!rereg.iter().any(|(t, _)| t == "b"), "{rereg:?}");
    assert!(
        notices
            .iter()
            .any(|(t, l)| t == "b" && l.contains("re-registration on recovery is off")),
        "{notices:?}"
    );
    // The AMI trunk list, with its count.
    let (mut need, mut count) = (0usize, 0usize);
    assert_eq!(
        unsafe {
            regwatch_engine_ami_trunks(
                e,
                c("7").as_ptr(),
                ptr::null_mut(),
                0,
                &mut need,
                &mut count,
            )
        },
        REGWATCH_STATUS_BUFFER_TOO_SMALL
    );
    let mut buf = vec![0 as c_char; need];
    assert_eq!(
        unsafe {
            regwatch_engine_ami_trunks(
                e,
                c("7").as_ptr(),
                buf.as_mut_ptr(),
                need,
                &mut need,
                &mut count,
            )
        },
        REGWATCH_STATUS_OK
    );
    let text = s(buf.as_ptr());
    assert_eq!(count, 2);
    assert_eq!(
        text.matches("Event: RegwatchTrunk\r\nActionID: 7\r\n")
            .count(),
        2
    );
    unsafe { regwatch_engine_free(e) };
}

#[test]
fn sip_messages_worth_copying() {
    let w = |m: &str, len: usize| unsafe { regwatch_sip_wanted(m.as_ptr().cast(), m.len(), len) };
    assert!(w("REGISTER", 500));
    assert!(w("options", 500));
    assert!(!w("INVITE", 500));
    assert!(!w("REGISTERX", 500));
    assert!(!w("REGISTER", 0));
    assert!(w("REGISTER", 64 * 1024));
    assert!(!w("REGISTER", 64 * 1024 + 1));
    assert!(!unsafe { regwatch_sip_wanted(ptr::null(), 0, 10) });
}
