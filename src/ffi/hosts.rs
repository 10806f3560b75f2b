//! The host adapters behind the C ABI: what Asterisk and FreeSWITCH say,
//! handed over as they say it (object sets, JSON blobs, log lines, event
//! headers), turned into engine inputs on the Rust side.
//!
//! Every function here is a `regwatch_engine_*` call: the same threading
//! rules as the engine (serialise calls on one engine).
use super::boundary::{pairs, req_str, try_ffi};
use super::engine::{regwatch_engine, with_engine};
use super::regwatch_status;
use crate::core::{Engine, Error};
use crate::hosts::asterisk::{
    parse_conf, parse_log_line, parse_show_registrations, AsteriskConfig, AsteriskTrunk, ObjectSet,
    RegistrationIndex, RegistryEvent,
};
use crate::hosts::freeswitch::{parse_gateways, GatewayChange, GatewayEvent, GatewayTracker};
use crate::hosts::{apply, Fact, HostError};
use crate::validate::Finding;
use std::collections::{BTreeSet, HashMap};
use std::ffi::c_char;

/// What the adapters remember per engine.
#[derive(Default)]
pub(crate) struct HostContext {
    /// Asterisk object sets collected since the last commit.
    pending: Vec<ObjectSet>,
    /// Trunks that came from Asterisk's configuration.
    asterisk_trunks: BTreeSet<String>,
    index: RegistrationIndex,
    tracker: GatewayTracker,
    /// Gateways read from sofia XML: configuration and host notes.
    gateways: HashMap<String, (crate::core::TrunkConfig, Vec<Finding>, bool)>,
    /// The sofia profile of each gateway (from the XML and gateway_add).
    profiles: HashMap<String, String>,
}

/// Feeds facts; `NOT_FOUND` if any named a trunk the engine lacks.
fn feed(engine: &mut Engine, now_ms: u64, facts: &[Fact]) -> regwatch_status {
    let results = apply(engine, now_ms, facts);
    if results
        .iter()
        .any(|(_, r)| matches!(r, Err(Error::UnknownTrunk)))
    {
        regwatch_status::REGWATCH_STATUS_NOT_FOUND
    } else {
        regwatch_status::REGWATCH_STATUS_OK
    }
}

fn host_err(e: HostError) -> regwatch_status {
    match e {
        HostError::Ignored(_) => regwatch_status::REGWATCH_STATUS_DONE,
        HostError::Malformed(_) => regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT,
        HostError::UnknownRegistration { .. } => regwatch_status::REGWATCH_STATUS_NOT_FOUND,
    }
}

/// Adds or updates every trunk of `trunks`, removes the Asterisk trunks
/// that are gone, and rebuilds the URI index.
fn sync_asterisk(h: &mut regwatch_engine, now_ms: u64, config: &AsteriskConfig) -> regwatch_status {
    let mut trunks: Vec<AsteriskTrunk> = config.trunks();
    let profile = h.engine.config().host_profile;
    let mut seen = BTreeSet::new();
    for t in &mut trunks {
        if t.config.profile.is_none() {
            t.config.profile = profile;
        }
    }
    for t in trunks {
        let name = t.config.name.to_string();
        let id = match h.engine.find_trunk(&name) {
            Some(id) => {
                // An unchanged registration (a reload of pjsip.conf that
                // touched another section) keeps its state quietly: no
                // findings emitted again.
                if h.engine.trunk_config(id) != Some(&t.config) {
                    if let Err(e) = h.engine.update_trunk(now_ms, id, t.config.clone()) {
                        return super::engine::engine_err(e);
                    }
                }
                id
            }
            None => match h.engine.add_trunk(now_ms, t.config.clone()) {
                Ok(id) => id,
                Err(e) => return super::engine::engine_err(e),
            },
        };
        let _ = h.engine.set_host_notes(now_ms, id, t.notes.clone());
        seen.insert(name);
    }
    for gone in h.hosts.asterisk_trunks.difference(&seen) {
        if let Some(id) = h.engine.find_trunk(gone) {
            let _ = h.engine.remove_trunk(now_ms, id);
        }
    }
    h.hosts.asterisk_trunks = seen;
    h.hosts.index = config.index();
    regwatch_status::REGWATCH_STATUS_OK
}

/// Asterisk: collects one sorcery object (`kind` = `registration`, `auth`
/// or `transport`; `id` = its section name) as `n` name/value pairs, as
/// `ast_sorcery_objectset_create` gives them. Nothing changes in the engine
/// until `regwatch_engine_asterisk_commit`. Passwords are copied, never
/// logged.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_asterisk_object(
    engine: *mut regwatch_engine,
    kind: *const c_char,
    id: *const c_char,
    names: *const *const c_char,
    values: *const *const c_char,
    n: usize,
) -> regwatch_status {
    with_engine(engine, |h| {
        // SAFETY: C strings and arrays per the documented contract.
        let kind = try_ffi!(unsafe { req_str(kind) });
        let id = try_ffi!(unsafe { req_str(id) });
        let fields = try_ffi!(unsafe { pairs(names, values, n) });
        h.hosts.pending.push(ObjectSet::new(id, kind, fields));
        regwatch_status::REGWATCH_STATUS_OK
    })
}

/// Asterisk: applies the objects collected with
/// `regwatch_engine_asterisk_object` as the complete configuration: every
/// registration becomes (or updates) a trunk named after its section,
/// trunks of registrations no longer present are removed, and validation
/// findings plus Asterisk-specific notes come out as
/// `REGWATCH_EVENT_FINDING` events. Call it on load and after every
/// pjsip.conf reload.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_asterisk_commit(
    engine: *mut regwatch_engine,
    now_ms: u64,
) -> regwatch_status {
    with_engine(engine, |h| {
        let sets = std::mem::take(&mut h.hosts.pending);
        let config = AsteriskConfig::from_objectsets(&sets);
        sync_asterisk(h, now_ms, &config)
    })
}

/// Asterisk: the same as collecting objects and committing, from the text
/// of a `pjsip.conf` (sections, templates, comments; `#include` lines are
/// not followed).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_asterisk_pjsip_conf(
    engine: *mut regwatch_engine,
    now_ms: u64,
    text: *const c_char,
) -> regwatch_status {
    with_engine(engine, |h| {
        // SAFETY: C string per the contract.
        let text = try_ffi!(unsafe { req_str(text) });
        let config = AsteriskConfig::from_objectsets(&parse_conf(text).objects());
        sync_asterisk(h, now_ms, &config)
    })
}

/// Asterisk: a stasis `Registry` message as JSON (`{"channeltype",
/// "username" (client_uri), "domain" (server_uri), "status", "cause"}`).
/// Returns `REGWATCH_STATUS_DONE` for a message that is not a PJSIP
/// registration, `REGWATCH_STATUS_NOT_FOUND` for a registration the
/// committed configuration does not know, `REGWATCH_STATUS_INVALID_ARGUMENT`
/// for JSON that is not a Registry message.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_asterisk_registry_json(
    engine: *mut regwatch_engine,
    now_ms: u64,
    json: *const c_char,
) -> regwatch_status {
    with_engine(engine, |h| {
        // SAFETY: C string per the contract.
        let json = try_ffi!(unsafe { req_str(json) });
        let ev = try_ffi!(RegistryEvent::from_json(json).map_err(host_err));
        let facts = try_ffi!(ev.facts(&h.hosts.index).map_err(host_err));
        feed(&mut h.engine, now_ms, &facts)
    })
}

/// Asterisk: one log line (colour codes allowed). Lines of
/// `res_pjsip_outbound_registration` that carry a status code or a timeout
/// ("Fatal response '403' received from ...", "No response received from
/// ...") become observations; any other line returns
/// `REGWATCH_STATUS_DONE`, so a module may pass every WARNING it sees.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_asterisk_log_line(
    engine: *mut regwatch_engine,
    now_ms: u64,
    line: *const c_char,
) -> regwatch_status {
    with_engine(engine, |h| {
        // SAFETY: C string per the contract.
        let line = try_ffi!(unsafe { req_str(line) });
        let Some(parsed) = parse_log_line(line) else {
            return regwatch_status::REGWATCH_STATUS_DONE;
        };
        let facts = try_ffi!(parsed.event.facts(&h.hosts.index).map_err(host_err));
        if facts.is_empty() {
            return regwatch_status::REGWATCH_STATUS_DONE;
        }
        feed(&mut h.engine, now_ms, &facts)
    })
}

/// Asterisk: the console output of `pjsip show registrations`. Each
/// registration regwatch knows but has seen nothing of yet (state
/// `unknown`, e.g. right after the module loaded) takes the state Asterisk
/// shows (`Registered`, `Unregistered`, `Rejected`); trunks with their own
/// observations keep them. Returns `REGWATCH_STATUS_DONE` when no line
/// applied.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_asterisk_registrations_text(
    engine: *mut regwatch_engine,
    now_ms: u64,
    text: *const c_char,
) -> regwatch_status {
    with_engine(engine, |h| {
        // SAFETY: C string per the contract.
        let text = try_ffi!(unsafe { req_str(text) });
        let facts: Vec<Fact> = parse_show_registrations(text)
            .into_iter()
            .filter(|r| {
                h.engine
                    .find_trunk(&r.name)
                    .and_then(|id| h.engine.trunk_state(id).ok())
                    .is_some_and(|(s, _)| s == crate::core::RegState::Unknown)
            })
            .map(|r| r.fact())
            .collect();
        if facts.is_empty() {
            return regwatch_status::REGWATCH_STATUS_DONE;
        }
        feed(&mut h.engine, now_ms, &facts)
    })
}

/// FreeSWITCH: the sofia configuration XML (a whole `sofia.conf` as
/// `switch_xml_open_cfg` gives it, a profile, or lone `<gateway>`
/// elements). Every registering gateway becomes (or updates) a trunk named
/// after the gateway; findings and FreeSWITCH-specific notes come out as
/// events.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_freeswitch_gateways_xml(
    engine: *mut regwatch_engine,
    now_ms: u64,
    xml: *const c_char,
) -> regwatch_status {
    with_engine(engine, |h| {
        // SAFETY: C string per the contract.
        let xml = try_ffi!(unsafe { req_str(xml) });
        let profile = h.engine.config().host_profile;
        for gw in parse_gateways(xml) {
            if let Some(p) = &gw.profile {
                h.hosts.profiles.insert(gw.name.clone(), p.clone());
            }
            let mut t = gw.trunk();
            if t.config.profile.is_none() {
                t.config.profile = profile;
            }
            let name = t.config.name.to_string();
            h.hosts.tracker.set_info(&name, gw.info());
            if t.registers {
                let id = match h.engine.find_trunk(&name) {
                    // Unchanged (sofia.conf read again on a rescan or a
                    // reloadxml): state and findings stay as they are.
                    Some(id) if h.engine.trunk_config(id) == Some(&t.config) => Ok(id),
                    Some(id) => h
                        .engine
                        .update_trunk(now_ms, id, t.config.clone())
                        .map(|_| id),
                    None => h.engine.add_trunk(now_ms, t.config.clone()),
                };
                match id {
                    Ok(id) => {
                        let _ = h.engine.set_host_notes(now_ms, id, t.notes.clone());
                    }
                    Err(e) => return super::engine::engine_err(e),
                }
            }
            h.hosts
                .gateways
                .insert(name, (t.config, t.notes, t.registers));
        }
        regwatch_status::REGWATCH_STATUS_OK
    })
}

/// FreeSWITCH: one event's headers as `n` name/value pairs (as
/// `switch_event_header_t` lists them; `Event-Subclass` among them).
/// `sofia::gateway_state` and `sofia::gateway_invalid_digest_req` become
/// observations; `sofia::gateway_add` / `gateway_delete` add or remove the
/// trunk (a gateway must be known from `regwatch_engine_freeswitch_gateways_xml`
/// to be added). Other events return `REGWATCH_STATUS_DONE`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_freeswitch_event(
    engine: *mut regwatch_engine,
    now_ms: u64,
    names: *const *const c_char,
    values: *const *const c_char,
    n: usize,
) -> regwatch_status {
    with_engine(engine, |h| {
        // SAFETY: arrays per the documented contract.
        let headers = try_ffi!(unsafe { pairs(names, values, n) });
        let ev = try_ffi!(GatewayEvent::from_headers(&headers).map_err(host_err));
        let mapping = h.hosts.tracker.handle(&ev);
        let mut status = regwatch_status::REGWATCH_STATUS_OK;
        if let Some(GatewayChange::Added {
            gateway,
            profile: Some(p),
        }) = &mapping.change
        {
            h.hosts.profiles.insert(gateway.clone(), p.clone());
        }
        match mapping.change {
            Some(GatewayChange::Added { gateway, .. }) => match h.hosts.gateways.get(&gateway) {
                Some((cfg, notes, true)) if h.engine.find_trunk(&gateway).is_none() => {
                    match h.engine.add_trunk(now_ms, cfg.clone()) {
                        Ok(id) => {
                            let _ = h.engine.set_host_notes(now_ms, id, notes.clone());
                        }
                        Err(e) => return super::engine::engine_err(e),
                    }
                }
                Some(_) => {}
                None => status = regwatch_status::REGWATCH_STATUS_NOT_FOUND,
            },
            Some(GatewayChange::Removed { gateway, .. }) => {
                if let Some(id) = h.engine.find_trunk(&gateway) {
                    let _ = h.engine.remove_trunk(now_ms, id);
                }
            }
            None => {}
        }
        if !mapping.facts.is_empty() {
            let s = feed(&mut h.engine, now_ms, &mapping.facts);
            if s != regwatch_status::REGWATCH_STATUS_OK {
                status = s;
            }
        }
        status
    })
}

/// FreeSWITCH: the sofia profile of `gateway` (from the gateway XML or its
/// `sofia::gateway_add` event), for commands such as `sofia profile <p>
/// register <gw>`. `NOT_FOUND` when no profile is known. Output as for
/// `regwatch_engine_trunk_json`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_freeswitch_profile(
    engine: *mut regwatch_engine,
    gateway: *const c_char,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> regwatch_status {
    with_engine(engine, |h| {
        // SAFETY: C string per the contract.
        let gateway = try_ffi!(unsafe { req_str(gateway) });
        let Some(p) = h.hosts.profiles.get(gateway) else {
            return regwatch_status::REGWATCH_STATUS_NOT_FOUND;
        };
        // SAFETY: buffer per the contract.
        unsafe { super::boundary::write_out(p, buf, len, out_len) }
    })
}
