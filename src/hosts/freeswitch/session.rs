//! A FreeSWITCH session: what `mod_regwatch` hands over (the sofia
//! configuration XML, `sofia::gateway_*` event headers) turned into engine
//! inputs, with what must be remembered between calls (the gateway
//! tracker, each gateway's configuration and sofia profile). Pure: the
//! caller owns the engine and the clock.
use super::{parse_gateways, parse_status_xml, GatewayChange, GatewayEvent, GatewayTracker};
use crate::core::{Engine, Error, TrunkConfig};
use crate::hosts::session::{feed, upsert, Fed};
use crate::hosts::settings::HostSettings;
use crate::hosts::{Fact, FactKind, HostError};
use crate::validate::Finding;
use std::collections::HashMap;

/// One gateway read from the XML.
#[derive(Clone, Debug)]
struct Gateway {
    config: TrunkConfig,
    notes: Vec<Finding>,
    registers: bool,
}

/// What the FreeSWITCH adapter remembers for one engine.
#[derive(Debug, Default)]
pub struct FreeswitchSession {
    tracker: GatewayTracker,
    gateways: HashMap<String, Gateway>,
    /// The sofia profile of each gateway (from the XML and gateway_add).
    profiles: HashMap<String, String>,
}

impl FreeswitchSession {
    /// A session that knows nothing yet.
    pub fn new() -> FreeswitchSession {
        FreeswitchSession::default()
    }

    /// The sofia configuration XML: every registering gateway becomes (or
    /// updates) a trunk named after the gateway, with the per-trunk keys
    /// of `settings` on top; an unchanged one keeps its state quietly.
    pub fn gateways_xml(
        &mut self,
        engine: &mut Engine,
        now_ms: u64,
        settings: &HostSettings,
        xml: &str,
    ) -> Result<(), Error> {
        let profile = engine.config().host_profile;
        for gw in parse_gateways(xml) {
            if let Some(p) = &gw.profile {
                self.profiles.insert(gw.name.clone(), p.clone());
            }
            let mut t = gw.trunk();
            if t.config.profile.is_none() {
                t.config.profile = profile;
            }
            let config = settings.trunk_config(t.config);
            let name = config.name.to_string();
            self.tracker.set_info(&name, gw.info());
            if t.registers {
                upsert(engine, now_ms, &config, &t.notes)?;
            }
            self.gateways.insert(
                name,
                Gateway {
                    config,
                    notes: t.notes,
                    registers: t.registers,
                },
            );
        }
        Ok(())
    }

    /// One event's headers: `gateway_state` and
    /// `gateway_invalid_digest_req` are observations; `gateway_add` and
    /// `gateway_delete` add or remove the trunk (a gateway must be known
    /// from the XML to be added: `UnknownTrunk` otherwise).
    pub fn event(
        &mut self,
        engine: &mut Engine,
        now_ms: u64,
        headers: &[(&str, &str)],
    ) -> Result<Fed, HostError> {
        let ev = match GatewayEvent::from_headers(headers) {
            Ok(ev) => ev,
            Err(e) => return Fed::of_error(&e),
        };
        let mapping = self.tracker.handle(&ev);
        let mut fed = Fed::Applied;
        match mapping.change {
            Some(GatewayChange::Added { gateway, profile }) => {
                if let Some(p) = profile {
                    self.profiles.insert(gateway.clone(), p);
                }
                match self.gateways.get(&gateway) {
                    Some(g) if g.registers && engine.find_trunk(&gateway).is_none() => {
                        if upsert(engine, now_ms, &g.config, &g.notes).is_err() {
                            fed = Fed::UnknownTrunk;
                        }
                    }
                    Some(_) => {}
                    None => fed = Fed::UnknownTrunk,
                }
            }
            Some(GatewayChange::Removed { gateway, .. }) => {
                if let Some(id) = engine.find_trunk(&gateway) {
                    let _ = engine.remove_trunk(now_ms, id);
                }
            }
            None => {}
        }
        if !mapping.facts.is_empty() {
            let f = feed(engine, now_ms, &mapping.facts);
            if f != Fed::Applied {
                fed = f;
            }
        }
        Ok(fed)
    }

    /// `sofia xmlstatus`: each gateway the engine knows but has seen
    /// nothing of yet (state `unknown`) takes the state sofia shows
    /// (`REGED`: registered; `FAILED`/`FAIL_WAIT`: rejected); so does one
    /// whose state was carried over a module reload (given first) when
    /// sofia now shows it otherwise (bound or not). Gateways with their
    /// own observations keep them.
    pub fn status_xml(&self, engine: &mut Engine, now_ms: u64, text: &str) -> Fed {
        use crate::core::{HistoryKind, HostState, RegState};
        let facts: Vec<Fact> = parse_status_xml(text)
            .into_iter()
            .filter_map(|g| {
                let state = g.host_state()?;
                let id = engine.find_trunk(&g.name)?;
                let (now, _) = engine.trunk_state(id).ok()?;
                let carried = engine.snapshot(id).is_ok_and(|s| {
                    s.history
                        .last()
                        .is_some_and(|h| h.kind == HistoryKind::CarriedOver)
                });
                let take = now == RegState::Unknown
                    || (carried && (state == HostState::Registered) != now.is_bound());
                take.then_some((g, state))
            })
            .map(|(g, state)| {
                Fact::new(
                    g.name.clone(),
                    FactKind::HostState {
                        state,
                        detail: Some(format!("sofia xmlstatus: {}", g.state)),
                    },
                )
            })
            .collect();
        feed(engine, now_ms, &facts)
    }

    /// The sofia profile of `gateway`, if known.
    pub fn profile(&self, gateway: &str) -> Option<&str> {
        self.profiles.get(gateway).map(String::as_str)
    }

    /// Whether `gateway` was read from the XML.
    pub fn knows(&self, gateway: &str) -> bool {
        self.gateways.contains_key(gateway)
    }

    /// The console command that re-registers `gateway`
    /// (`sofia profile <p> register <gw>`), when its profile is known.
    pub fn reregister_command(&self, gateway: &str) -> Option<String> {
        self.profile(gateway)
            .map(|p| format!("sofia profile {p} register {gateway}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{EngineConfig, RegState};

    const XML: &str = r#"<configuration name="sofia.conf"><profiles><profile name="external"><gateways>
        <gateway name="gw_ok"><param name="username" value="alice"/><param name="realm" value="acme.sip.twilio.com"/>
        <param name="password" value="Secret-1234-abcd"/></gateway>
        <gateway name="gw_ping"><param name="register" value="false"/><param name="proxy" value="127.0.0.1"/></gateway>
        </gateways></profile></profiles></configuration>"#;

    fn headers<'a>(pairs: &'a [(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        pairs.to_vec()
    }

    #[test]
    fn xml_events_and_profiles() {
        let mut e = Engine::new(EngineConfig::default(), 0, 1);
        let mut s = FreeswitchSession::new();
        let mut settings = HostSettings::new();
        settings.set(None, "reregister-exclude", "gw_ok").unwrap();
        s.gateways_xml(&mut e, 1, &settings, XML).unwrap();
        let id = e.find_trunk("gw_ok").expect("registering gateway added");
        assert_eq!(
            e.trunk_config(id).unwrap().reregister_on_recovery,
            Some(false)
        );
        assert!(e.find_trunk("gw_ping").is_none());
        assert!(s.knows("gw_ping"));
        assert_eq!(s.profile("gw_ok"), Some("external"));
        assert_eq!(
            s.reregister_command("gw_ok").as_deref(),
            Some("sofia profile external register gw_ok")
        );
        assert_eq!(s.reregister_command("nope"), None);

        let reged = headers(&[
            ("Event-Subclass", "sofia::gateway_state"),
            ("Gateway", "gw_ok"),
            ("State", "REGED"),
            ("Ping-Status", "UP"),
        ]);
        assert_eq!(s.event(&mut e, 2, &reged), Ok(Fed::Applied));
        assert_eq!(e.trunk_state(id).unwrap().0, RegState::Registered);
        let other = headers(&[("Event-Subclass", "sofia::register")]);
        assert_eq!(s.event(&mut e, 3, &other), Ok(Fed::Ignored));
        let add_unknown = headers(&[
            ("Event-Subclass", "sofia::gateway_add"),
            ("Gateway", "gw_new"),
            ("profile-name", "internal"),
        ]);
        assert_eq!(s.event(&mut e, 4, &add_unknown), Ok(Fed::UnknownTrunk));
        assert_eq!(s.profile("gw_new"), Some("internal"));
        let delete = headers(&[
            ("Event-Subclass", "sofia::gateway_delete"),
            ("Gateway", "gw_ok"),
            ("profile-name", "external"),
        ]);
        assert_eq!(s.event(&mut e, 5, &delete), Ok(Fed::Applied));
        assert!(e.find_trunk("gw_ok").is_none());
        let add = headers(&[
            ("Event-Subclass", "sofia::gateway_add"),
            ("Gateway", "gw_ok"),
            ("profile-name", "external"),
        ]);
        assert_eq!(s.event(&mut e, 6, &add), Ok(Fed::Applied));
        assert!(e.find_trunk("gw_ok").is_some());
    }
}
