//! Any text as sofia gateway XML (a whole sofia.conf, a profile, lone
//! gateways): the lenient tag reader, every gateway accessor, and the C
//! ABI path a FreeSWITCH module takes (`regwatch_engine_freeswitch_gateways_xml`,
//! which makes each gateway a trunk with its findings, then gateway events
//! and the console renderings) for inputs of one or two gateways. Never
//! a panic; a gateway always has a name; no password of the first gateway
//! shows in `Debug`, in the trunk's JSON or in its console text.
#![no_main]

mod common;

use common::{cstring, ok, text, Host};
use libfuzzer_sys::fuzz_target;
use regwatch::core::{render_trunk_json, render_trunk_text};
use regwatch::ffi::*;
use regwatch::hosts::freeswitch::{parse_gateways, GatewayTracker, SofiaGateway};
use regwatch::{Engine, EngineConfig};
use std::ffi::{c_char, CString};

fn secret_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    ["password", "secret", "md5_cred", "token", "passwd"]
        .iter()
        .any(|s| k.contains(s))
}

/// The trunk's findings and notes (without their text), and its JSON and
/// console text, as an engine renders them.
fn rendered(g: &SofiaGateway) -> Option<(Vec<(&'static str, String)>, String)> {
    let t = g.trunk();
    let mut e = Engine::new(EngineConfig::default(), 0, 7);
    let id = e.add_trunk(0, t.config).ok()?;
    let _ = e.set_host_notes(0, id, t.notes);
    let verdicts = e
        .snapshot(id)
        .ok()?
        .findings
        .iter()
        .map(|f| (f.code, format!("{:?}", f.severity)))
        .collect();
    let text = render_trunk_json(&e, id).ok()? + &render_trunk_text(&e, id).ok()?;
    Some((verdicts, text))
}

/// `s` with every letter and digit moved on by one in its class (`a`->`b`,
/// `z`->`a`, `9`->`0`): another secret of the same length and character
/// classes, so the password rules judge it the same way.
fn shifted(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'z' => 'a',
            'Z' => 'A',
            '9' => '0',
            'a'..='y' | 'A'..='Y' | '0'..='8' => char::from(c as u8 + 1),
            c => c,
        })
        .collect()
}

/// No secret value of `g` reaches its `Debug` or its renderings: the
/// same gateway with other secret values gives the same `Debug`, and,
/// when the rules judge the other secrets the same way, a secret found in
/// the rendering is found there with the other secrets too (it came from
/// another field, e.g. a password equal to the user name).
fn secrets_stay_hidden(g: &SofiaGateway) {
    let mut other = g.clone();
    let mut secrets = Vec::new();
    for (k, v) in &mut other.params {
        if secret_key(k) {
            if v.trim().len() >= 4 {
                secrets.push(v.trim().to_owned());
            }
            *v = shifted(v);
        }
    }
    if secrets.is_empty() {
        return;
    }
    assert_eq!(
        format!("{g:?}"),
        format!("{other:?}"),
        "Debug shows a secret"
    );
    assert_eq!(
        format!("{:?}", g.trunk().config),
        format!("{:?}", other.trunk().config),
        "TrunkConfig Debug shows a secret"
    );
    let (Some((verdicts, real)), Some((other_verdicts, fake))) = (rendered(g), rendered(&other))
    else {
        return;
    };
    if verdicts != other_verdicts {
        return; // e.g. `1234` is a placeholder, `2345` is not
    }
    for s in &secrets {
        assert!(
            !real.contains(s.as_str()) || fake.contains(s.as_str()),
            "a secret of gateway `{}` is rendered",
            g.name
        );
    }
}

/// One event through the C ABI (headers as `Name`, `value` pairs).
fn event(h: &mut Host, headers: &[(&str, &str)]) {
    let names: Vec<CString> = headers.iter().map(|(k, _)| cstring(k)).collect();
    let values: Vec<CString> = headers.iter().map(|(_, v)| cstring(v)).collect();
    let n: Vec<*const c_char> = names.iter().map(|c| c.as_ptr()).collect();
    let v: Vec<*const c_char> = values.iter().map(|c| c.as_ptr()).collect();
    let now = h.tick();
    ok(unsafe { regwatch_engine_freeswitch_event(h.e, now, n.as_ptr(), v.as_ptr(), n.len()) });
}

fuzz_target!(|data: &[u8]| {
    let xml = text(data);
    let gateways = parse_gateways(&xml);
    let mut tracker = GatewayTracker::new();
    for (i, g) in gateways.iter().enumerate() {
        assert!(!g.name.is_empty(), "a gateway without a name");
        let _ = (g.param("proxy"), g.param_raw("username"), g.registers());
        let _ = (g.expires(), g.transport());
        tracker.set_info(&g.name, g.info());
        if i == 0 {
            secrets_stay_hidden(g);
        }
    }

    // The module's path: the XML, then a failure and a recovery for each
    // gateway, and the consoles. Every gateway becomes a trunk, validated
    // and rendered: for inputs of one or two gateways, to keep each run
    // short (the validation is most of the work).
    if gateways.is_empty() || gateways.len() > 2 {
        return;
    }
    let mut h = Host::new();
    let c = cstring(&xml);
    ok(unsafe { regwatch_engine_freeswitch_gateways_xml(h.e, 0, c.as_ptr()) });
    h.drain();
    let names: Vec<&str> = gateways.iter().map(|g| g.name.as_str()).collect();
    for name in &names {
        let sub = "Event-Subclass";
        let failed = [
            (sub, "sofia::gateway_state"),
            ("Gateway", name),
            ("State", "FAILED"),
            ("Status", "403"),
            ("Phrase", "Forbidden"),
        ];
        event(&mut h, &failed);
        let reged = [
            (sub, "sofia::gateway_state"),
            ("Gateway", name),
            ("State", "REGED"),
        ];
        event(&mut h, &reged);
        let g = cstring(name);
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
    h.drain();
    h.render(&names);
});
