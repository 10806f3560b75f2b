//! An Asterisk session: what `res_regwatch` hands over (sorcery object
//! sets, a committed configuration, stasis `Registry` JSON, log lines,
//! `pjsip show registrations`) turned into engine inputs, with what must be
//! remembered between calls. Pure: the caller owns the engine and the
//! clock.
use super::{
    parse_conf, parse_log_line, parse_show_registrations, AsteriskConfig, ObjectSet,
    RegistrationIndex, RegistryEvent,
};
use crate::core::{Engine, Error, HistoryKind, HostState, RegState};
use crate::hosts::session::{feed, upsert, Fed};
use crate::hosts::settings::HostSettings;
use crate::hosts::{Fact, FactKind, HostError};
use std::collections::BTreeSet;

/// What the Asterisk adapter remembers for one engine.
#[derive(Debug, Default)]
pub struct AsteriskSession {
    /// Object sets collected since the last commit.
    pending: Vec<ObjectSet>,
    /// Trunks that came from Asterisk's configuration.
    trunks: BTreeSet<String>,
    index: RegistrationIndex,
}

impl AsteriskSession {
    /// A session that knows nothing yet.
    pub fn new() -> AsteriskSession {
        AsteriskSession::default()
    }

    /// Collects one sorcery object (`kind` = `registration`, `auth` or
    /// `transport`) until [`commit`](Self::commit).
    pub fn object(&mut self, kind: &str, id: &str, fields: &[(&str, &str)]) {
        self.pending
            .push(ObjectSet::new(id, kind, fields.iter().copied()));
    }

    /// The objects collected since the last commit are the complete
    /// configuration: see [`sync`](Self::sync).
    pub fn commit(
        &mut self,
        engine: &mut Engine,
        now_ms: u64,
        settings: &HostSettings,
    ) -> Result<(), Error> {
        let sets = std::mem::take(&mut self.pending);
        self.sync(
            engine,
            now_ms,
            settings,
            &AsteriskConfig::from_objectsets(&sets),
        )
    }

    /// The same from the text of a `pjsip.conf` (`#include` not followed).
    pub fn pjsip_conf(
        &mut self,
        engine: &mut Engine,
        now_ms: u64,
        settings: &HostSettings,
        text: &str,
    ) -> Result<(), Error> {
        let config = AsteriskConfig::from_objectsets(&parse_conf(text).objects());
        self.sync(engine, now_ms, settings, &config)
    }

    /// Every registration of `config` becomes (or updates) a trunk named
    /// after its section, with the engine's host profile when it names
    /// none and the per-trunk keys of `settings` on top; trunks of
    /// registrations no longer present are removed; the URI index is
    /// rebuilt.
    pub fn sync(
        &mut self,
        engine: &mut Engine,
        now_ms: u64,
        settings: &HostSettings,
        config: &AsteriskConfig,
    ) -> Result<(), Error> {
        let profile = engine.config().host_profile;
        let mut seen = BTreeSet::new();
        for mut t in config.trunks() {
            if t.config.profile.is_none() {
                t.config.profile = profile;
            }
            let cfg = settings.trunk_config(t.config);
            upsert(engine, now_ms, &cfg, &t.notes)?;
            seen.insert(cfg.name.to_string());
        }
        for gone in self.trunks.difference(&seen) {
            if let Some(id) = engine.find_trunk(gone) {
                let _ = engine.remove_trunk(now_ms, id);
            }
        }
        self.trunks = seen;
        self.index = config.index();
        Ok(())
    }

    /// Whether `name` is a registration of the configuration last synced.
    pub fn knows(&self, name: &str) -> bool {
        self.trunks.contains(name)
    }

    /// A stasis `Registry` message as JSON.
    pub fn registry_json(
        &self,
        engine: &mut Engine,
        now_ms: u64,
        json: &str,
    ) -> Result<Fed, HostError> {
        let facts = RegistryEvent::from_json(json).and_then(|ev| ev.facts(&self.index));
        match facts {
            Ok(f) if f.is_empty() => Ok(Fed::Applied),
            Ok(f) => Ok(feed(engine, now_ms, &f)),
            Err(e) => Fed::of_error(&e),
        }
    }

    /// One log line: only the lines of `res_pjsip_outbound_registration`
    /// that carry a status code or a timeout are inputs.
    pub fn log_line(&self, engine: &mut Engine, now_ms: u64, line: &str) -> Result<Fed, HostError> {
        let Some(parsed) = parse_log_line(line) else {
            return Ok(Fed::Ignored);
        };
        match parsed.event.facts(&self.index) {
            Ok(f) => Ok(feed(engine, now_ms, &f)),
            Err(e) => Fed::of_error(&e),
        }
    }

    /// `pjsip show registrations`: each registration the engine knows but
    /// has seen nothing of yet (state `unknown`) takes the state Asterisk
    /// shows; so does one whose state was carried over a module reload
    /// (`regwatch_engine_carry_apply`, given first) when Asterisk now
    /// shows it otherwise (bound or not). Trunks with their own
    /// observations keep them.
    pub fn registrations_text(&self, engine: &mut Engine, now_ms: u64, text: &str) -> Fed {
        let facts: Vec<Fact> = parse_show_registrations(text)
            .into_iter()
            .map(|r| r.fact())
            .filter(|f| {
                let Some(id) = engine.find_trunk(&f.trunk) else {
                    return false;
                };
                let Ok((state, _)) = engine.trunk_state(id) else {
                    return false;
                };
                if state == RegState::Unknown {
                    return true;
                }
                let carried = engine.snapshot(id).is_ok_and(|s| {
                    s.history
                        .last()
                        .is_some_and(|h| h.kind == HistoryKind::CarriedOver)
                });
                let pbx_bound = matches!(
                    f.kind,
                    FactKind::HostState {
                        state: HostState::Registered,
                        ..
                    }
                );
                carried && pbx_bound != state.is_bound()
            })
            .collect();
        feed(engine, now_ms, &facts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::EngineConfig;

    const CONF: &str = "[t]\ntype=registration\nserver_uri=sip:acme.sip.twilio.com\n\
        client_uri=sip:alice@acme.sip.twilio.com\noutbound_auth=a\n\
        [a]\ntype=auth\nauth_type=userpass\nusername=alice\npassword=Secret-1234-abcd\n";

    #[test]
    fn commit_adds_updates_and_removes_trunks_with_settings_on_top() {
        let mut e = Engine::new(EngineConfig::default(), 0, 1);
        let mut s = AsteriskSession::new();
        let mut settings = HostSettings::new();
        settings
            .set(Some("t"), "reregister_on_recovery", "no")
            .unwrap();
        s.pjsip_conf(&mut e, 1, &settings, CONF).unwrap();
        let id = e.find_trunk("t").expect("added");
        assert_eq!(
            e.trunk_config(id).unwrap().reregister_on_recovery,
            Some(false)
        );
        // Unchanged: no findings again.
        while e.poll_output().is_some() {}
        s.pjsip_conf(&mut e, 2, &settings, CONF).unwrap();
        assert!(e.poll_output().is_none());
        // Gone from the configuration: removed.
        s.commit(&mut e, 3, &settings).unwrap();
        assert!(e.find_trunk("t").is_none());
    }

    #[test]
    fn inputs_say_what_became_of_them() {
        let mut e = Engine::new(EngineConfig::default(), 0, 1);
        let mut s = AsteriskSession::new();
        s.pjsip_conf(&mut e, 1, &HostSettings::new(), CONF).unwrap();
        assert_eq!(s.log_line(&mut e, 2, "hello"), Ok(Fed::Ignored));
        assert!(s.registry_json(&mut e, 2, "{not json").is_err());
        let other = r#"{"type":"Registry","channeltype":"IAX2","username":"u","domain":"d","status":"Registered"}"#;
        assert_eq!(s.registry_json(&mut e, 2, other), Ok(Fed::Ignored));
        let unknown = r#"{"type":"Registry","channeltype":"PJSIP","username":"sip:x@y","domain":"sip:y","status":"Registered"}"#;
        assert_eq!(s.registry_json(&mut e, 2, unknown), Ok(Fed::UnknownTrunk));
        let ok = r#"{"type":"Registry","channeltype":"PJSIP","username":"sip:alice@acme.sip.twilio.com","domain":"sip:acme.sip.twilio.com","status":"Registered"}"#;
        assert_eq!(s.registry_json(&mut e, 3, ok), Ok(Fed::Applied));
        let id = e.find_trunk("t").unwrap();
        assert_eq!(e.trunk_state(id).unwrap().0, RegState::Registered);
        // Known now: `pjsip show registrations` does not override it.
        let text = " t/sip:acme.sip.twilio.com   a   Rejected   (exp. 0s)\n";
        assert_eq!(s.registrations_text(&mut e, 4, text), Fed::Ignored);
    }
}
