//! Any text as what Asterisk says: WARNING log lines of
//! res_pjsip_outbound_registration (colour codes and all), AMI messages
//! (real `Key: Value` blocks and the ` | ` log form), stasis Registry and
//! ContactStatus JSON, and `pjsip show registrations` output. AMI and
//! ContactStatus through the Rust API; the rest through the C ABI path
//! res_regwatch takes, into an engine holding two registrations of the
//! captured run, so that lines naming them become observations (and then
//! the console renderings). Never a panic.
#![no_main]

mod common;

use common::{checked, cstring, ok, text, with_host, Host};
use libfuzzer_sys::fuzz_target;
use regwatch::ffi::*;
use regwatch::ffi::regwatch_status::{self, REGWATCH_STATUS_OK};
use regwatch::hosts::asterisk::{
    ami_messages, AmiMessage, AsteriskConfig, ContactStatusEvent, RegistrationIndex, RegistryEvent,
};
use std::sync::OnceLock;

/// Two registrations of the captured run's pjsip.conf
/// (tests/fixtures/asterisk/pjsip.conf): enough for lines naming them to
/// become observations, cheap enough to set up for each changed engine.
const PJSIP: &str = "\
[transport-udp]
type=transport
protocol=udp
bind=127.0.0.1:15070

[trunk-auth]
type=auth
auth_type=userpass
username=acme
password=s3cret

[reg-403]
type=registration
transport=transport-udp
outbound_auth=trunk-auth
expiration=60
retry_interval=20
server_uri=sip:127.0.0.1:15061
client_uri=sip:acme@127.0.0.1:15061

[reg-timeout]
type=registration
transport=transport-udp
outbound_auth=trunk-auth
expiration=60
retry_interval=20
server_uri=sip:127.0.0.1:15064
client_uri=sip:acme@127.0.0.1:15064
";
const TRUNKS: [&str; 2] = ["reg-403", "reg-timeout"];

fn index() -> &'static RegistrationIndex {
    static INDEX: OnceLock<RegistrationIndex> = OnceLock::new();
    INDEX.get_or_init(|| AsteriskConfig::from_pjsip_conf(PJSIP).index())
}

/// The engine res_regwatch has after reading the run's pjsip.conf.
fn setup(h: &mut Host) {
    let conf = cstring(PJSIP);
    ok(unsafe { regwatch_engine_asterisk_pjsip_conf(h.e, 0, conf.as_ptr()) });
}

fn ami(m: &AmiMessage, index: &RegistrationIndex) {
    let _ = (m.event(), m.get("Status"));
    if let Ok(ev) = RegistryEvent::from_ami(m) {
        let _ = ev.status.host_state();
        let _ = ev.facts(index);
    }
    if let Ok(c) = ContactStatusEvent::from_ami(m) {
        let _ = c.status.reachable();
    }
}

fuzz_target!(|data: &[u8]| {
    let text = text(data);
    let index = index();
    // What res_regwatch does not pass through the C ABI (AMI is read by
    // `regwatch analyze`; ContactStatus feeds no engine input yet).
    for m in ami_messages(&text) {
        ami(&m, index);
    }
    ami(&AmiMessage::parse(&text), index);
    if let Ok(c) = ContactStatusEvent::from_json(&text) {
        let _ = c.status.reachable();
    }

    // res_regwatch's path: every line as a log line, the whole text as a
    // Registry JSON message and as `pjsip show registrations` output. A
    // status other than OK says the engine was left as it was.
    with_host(setup, |h| {
        let mut applied = false;
        let mut feed = |s: regwatch_status| applied |= checked(s) == REGWATCH_STATUS_OK;
        for line in text.split('\n') {
            let l = cstring(line);
            let now = h.tick();
            feed(unsafe { regwatch_engine_asterisk_log_line(h.e, now, l.as_ptr()) });
        }
        let whole = cstring(&text);
        let now = h.tick();
        feed(unsafe { regwatch_engine_asterisk_registry_json(h.e, now, whole.as_ptr()) });
        feed(unsafe { regwatch_engine_asterisk_registrations_text(h.e, now, whole.as_ptr()) });
        h.drain();
        // The consoles, when the input changed a trunk.
        if applied {
            h.render(&TRUNKS);
        }
        applied
    });
});
