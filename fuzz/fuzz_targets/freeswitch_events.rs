//! Any text as FreeSWITCH `sofia::gateway_*` events: the raw
//! `Name: value` form (ESL plain, blocks split by blank or `=====` lines),
//! the compact one-line form, header maps and header lists with each
//! subclass; a GatewayTracker maps them. Every event read from the input
//! also goes, as its header list, through the C ABI path mod_regwatch
//! takes, into an engine holding three gateways of the captured run's
//! sofia XML. Never a panic.
#![no_main]

mod common;

use common::{checked, cstring, ok, text, with_host, Host};
use libfuzzer_sys::fuzz_target;
use regwatch::ffi::*;
use regwatch::ffi::regwatch_status::{
    REGWATCH_STATUS_DONE, REGWATCH_STATUS_INVALID_ARGUMENT, REGWATCH_STATUS_NOT_FOUND,
};
use regwatch::hosts::freeswitch::{
    parse_compact, parse_compact_line, parse_gateways, parse_raw_events, GatewayEvent, GatewayInfo,
    GatewayTracker, RawEvent,
};
use std::collections::HashMap;
use std::ffi::{c_char, CString};
use std::sync::OnceLock;

/// Three gateways of the captured run's sofia XML
/// (tests/fixtures/freeswitch/external.xml), one that does not register:
/// enough for events naming them to become observations, cheap enough to
/// set up for each changed engine.
const XML: &str = r#"<include><profile name="external"><gateways>
  <gateway name="gw_404">
    <param name="username" value="acme"/>
    <param name="password" value="s3cret"/>
    <param name="proxy" value="gone.sip.twilio.com"/>
    <param name="register-proxy" value="127.0.0.1:5093"/>
    <param name="outbound-proxy" value="127.0.0.1:5093"/>
  </gateway>
  <gateway name="gw_timeout">
    <param name="username" value="acme"/>
    <param name="password" value="s3cret"/>
    <param name="proxy" value="acme.sip.twilio.com"/>
    <param name="register-proxy" value="127.0.0.1:5094"/>
    <param name="outbound-proxy" value="127.0.0.1:5094"/>
    <param name="timeout-seconds" value="5"/>
  </gateway>
  <gateway name="gw_ping">
    <param name="register" value="false"/>
    <param name="proxy" value="127.0.0.1:5096"/>
    <param name="ping" value="5"/>
  </gateway>
</gateways></profile></include>"#;
const GATEWAYS: [&str; 3] = ["gw_404", "gw_timeout", "gw_ping"];
const SUBCLASSES: [&str; 4] = [
    "sofia::gateway_state",
    "sofia::gateway_add",
    "sofia::gateway_delete",
    "sofia::gateway_invalid_digest_req",
];

/// The engine mod_regwatch has after reading the run's sofia XML.
fn setup(h: &mut Host) {
    let xml = cstring(XML);
    ok(unsafe { regwatch_engine_freeswitch_gateways_xml(h.e, 0, xml.as_ptr()) });
}

/// What the C ABI path does not do itself: header maps, and the header
/// lists read as each subclass (so that a state event's headers are also
/// read as an add, a delete, an invalid digest request, and the other way
/// round), on a tracker of its own. The first events only: every event
/// also goes through the C ABI below.
fn direct(events: &[RawEvent]) {
    static INFO: OnceLock<Vec<(String, GatewayInfo)>> = OnceLock::new();
    let info = INFO.get_or_init(|| {
        parse_gateways(XML)
            .iter()
            .map(|g| (g.name.clone(), g.info()))
            .collect()
    });
    let mut tracker = GatewayTracker::new();
    for (name, i) in info {
        tracker.set_info(name, *i);
    }
    for r in events.iter().take(4) {
        let _ = (r.subclass(), r.get("Gateway"), r.time.as_deref());
        let map: HashMap<String, String> = r.headers.iter().cloned().collect();
        if let Ok(ev) = GatewayEvent::from_map(&map) {
            let _ = ev.gateway();
        }
        for sub in SUBCLASSES {
            if let Ok(ev) = GatewayEvent::with_subclass(sub, &r.headers) {
                for f in tracker.handle(&ev).facts {
                    let _ = f.observation();
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let text = text(data);
    let mut events = parse_raw_events(&text);
    events.extend(parse_compact(&text));
    events.extend(parse_compact_line(&text));
    direct(&events);

    // mod_regwatch's path. DONE and INVALID_ARGUMENT (not a gateway
    // event) and NOT_FOUND (a gateway that is not a trunk) leave the
    // trunks as they were; the gateway tracker may remember the state of
    // such a gateway, as a long-running FreeSWITCH's would.
    with_host(setup, |h| {
        let mut changed = false;
        for r in events.iter().take(64) {
            let names: Vec<CString> = r.headers.iter().map(|(k, _)| cstring(k)).collect();
            let values: Vec<CString> = r.headers.iter().map(|(_, v)| cstring(v)).collect();
            let n: Vec<*const c_char> = names.iter().map(|c| c.as_ptr()).collect();
            let v: Vec<*const c_char> = values.iter().map(|c| c.as_ptr()).collect();
            let now = h.tick();
            let s = checked(unsafe {
                regwatch_engine_freeswitch_event(h.e, now, n.as_ptr(), v.as_ptr(), n.len())
            });
            changed |= ![
                REGWATCH_STATUS_DONE,
                REGWATCH_STATUS_INVALID_ARGUMENT,
                REGWATCH_STATUS_NOT_FOUND,
            ]
            .contains(&s);
            if let Some(g) = r.get("Gateway") {
                let g = cstring(g);
                let mut buf = [0 as c_char; 256];
                let mut len = 0usize;
                ok(unsafe {
                    regwatch_engine_freeswitch_profile(
                        h.e,
                        g.as_ptr(),
                        buf.as_mut_ptr(),
                        buf.len(),
                        &mut len,
                    )
                });
            }
        }
        h.drain();
        // The consoles, when an event changed something.
        if changed {
            h.render(&GATEWAYS);
        }
        changed
    });
});
