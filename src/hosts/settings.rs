//! What a PBX module reads from its own configuration file (Asterisk's
//! `regwatch.conf`, FreeSWITCH's `regwatch.conf.xml`), with the modules'
//! defaults, in one place.
//!
//! A module hands every `key = value` it finds, with the section it was in,
//! to [`HostSettings::set`]; nothing is interpreted in C. Keys are matched
//! without regard to case, and `-` equals `_` (FreeSWITCH spells
//! `check-timeout` what Asterisk spells `check_timeout`).
//!
//! * The general section (`general` in Asterisk, `settings` in FreeSWITCH,
//!   or none): `check_timeout` (seconds, for the console's `check`),
//!   `ca_file`, `log_level` (`error`, `warning`, `info`, `debug`,
//!   `trace`), `reregister_exclude` (a comma-separated list of trunks that
//!   are never re-registered on recovery); every other key is an engine
//!   option ([`EngineConfig::set`]: `reregister_on_recovery`,
//!   `keepalive_interval_ms`...).
//! * Any other section names a trunk; its keys are trunk keys
//!   ([`TrunkConfig::set`]: `reregister_on_recovery`, `keepalive`,
//!   `keepalive_interval`), applied over what the PBX configuration says.
//!
//! The modules send the engine's keep-alive probes, so `keepalive` is on
//! unless the file turns it off.
#![forbid(unsafe_code)]

use crate::core::{ConfigError, Engine, EngineConfig, TrunkConfig};
use std::collections::BTreeMap;

/// How much of the engine's log a module shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Alerts and problems.
    Warn,
    /// Alerts cleared, notable changes (the default).
    #[default]
    Info,
    /// State changes and trunk management.
    Debug,
    /// Every observation.
    Trace,
}

impl LogLevel {
    /// `error`, `warning` (or `warn`), `info` (or `notice`), `debug`,
    /// `trace`, in any case.
    pub fn parse(s: &str) -> Option<LogLevel> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "error" | "err" => LogLevel::Error,
            "warning" | "warn" => LogLevel::Warn,
            "info" | "notice" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "trace" => LogLevel::Trace,
            _ => return None,
        })
    }
}

/// The default time a console `check` may take per request.
pub const DEFAULT_CHECK_TIMEOUT_MS: u32 = 8_000;

/// A module's settings (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct HostSettings {
    /// Per request of a console `check` (default 8 s).
    pub check_timeout_ms: u32,
    /// PEM CAs for the driver's TLS probes and checks (`None`: the
    /// system's store).
    pub ca_file: Option<String>,
    /// How much of the engine's log the module shows.
    pub log_level: LogLevel,
    /// Engine options, in the order read.
    engine_options: Vec<(String, String)>,
    /// Trunk keys per trunk name, in the order read.
    trunk_options: BTreeMap<String, Vec<(String, String)>>,
}

impl Default for HostSettings {
    fn default() -> Self {
        HostSettings {
            check_timeout_ms: DEFAULT_CHECK_TIMEOUT_MS,
            ca_file: None,
            log_level: LogLevel::Info,
            engine_options: vec![("keepalive".to_owned(), "on".to_owned())],
            trunk_options: BTreeMap::new(),
        }
    }
}

/// Whether `section` is the general one.
fn is_general(section: Option<&str>) -> bool {
    match section {
        None => true,
        Some(s) => {
            let s = s.trim();
            s.is_empty() || s.eq_ignore_ascii_case("general") || s.eq_ignore_ascii_case("settings")
        }
    }
}

fn invalid(key: &str, reason: &str) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_owned(),
        reason: reason.to_owned(),
    }
}

impl HostSettings {
    /// The modules' defaults.
    pub fn new() -> HostSettings {
        HostSettings::default()
    }

    /// Takes one `key = value` of `section` (see the module docs). A value
    /// that cannot be used is refused and changes nothing.
    pub fn set(
        &mut self,
        section: Option<&str>,
        key: &str,
        value: &str,
    ) -> Result<(), ConfigError> {
        let key = key.trim().to_ascii_lowercase().replace('-', "_");
        let value = value.trim();
        if !is_general(section) {
            let trunk = section.unwrap_or_default().trim();
            // Checked now, so that a mistake is reported where it was read.
            TrunkConfig::new(trunk).set(&key, value)?;
            self.trunk_options
                .entry(trunk.to_owned())
                .or_default()
                .push((key, value.to_owned()));
            return Ok(());
        }
        match key.as_str() {
            "check_timeout" => {
                let s: u32 = value
                    .parse()
                    .ok()
                    .filter(|s| (1..=600).contains(s))
                    .ok_or_else(|| invalid(&key, "seconds between 1 and 600"))?;
                self.check_timeout_ms = s * 1000;
            }
            "ca_file" => self.ca_file = (!value.is_empty()).then(|| value.to_owned()),
            "log_level" => {
                self.log_level = LogLevel::parse(value)
                    .ok_or_else(|| invalid(&key, "error, warning, info, debug or trace"))?
            }
            "reregister_exclude" => {
                for trunk in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    self.trunk_options
                        .entry(trunk.to_owned())
                        .or_default()
                        .push(("reregister_on_recovery".to_owned(), "off".to_owned()));
                }
            }
            _ => {
                EngineConfig::default().set(&key, value)?;
                self.engine_options.push((key, value.to_owned()));
            }
        }
        Ok(())
    }

    /// The engine's configuration: `base` with every engine option read.
    pub fn engine_config(&self, base: &EngineConfig) -> EngineConfig {
        let mut cfg = base.clone();
        for (k, v) in &self.engine_options {
            // Each was checked by `set`.
            let _ = cfg.set(k, v);
        }
        cfg
    }

    /// Applies the engine options to `engine` (bindings made from then on
    /// follow them; keep-alive settings apply at once).
    pub fn apply(&self, engine: &mut Engine) {
        let cfg = self.engine_config(engine.config());
        engine.set_config(cfg);
    }

    /// `config` with the keys the settings give its trunk.
    pub fn trunk_config(&self, mut config: TrunkConfig) -> TrunkConfig {
        if let Some(opts) = self.trunk_options.get(&*config.name) {
            for (k, v) in opts {
                let _ = config.set(k, v);
            }
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_turn_keepalive_on_and_nothing_else() {
        let s = HostSettings::new();
        assert_eq!(s.check_timeout_ms, 8000);
        assert_eq!(s.ca_file, None);
        assert_eq!(s.log_level, LogLevel::Info);
        let cfg = s.engine_config(&EngineConfig::default());
        assert!(cfg.keepalive.enabled);
        assert_eq!(
            EngineConfig {
                keepalive: EngineConfig::default().keepalive,
                ..cfg.clone()
            },
            EngineConfig::default()
        );
    }

    #[test]
    fn both_spellings_and_sections_are_read() {
        let mut s = HostSettings::new();
        s.set(Some("general"), "check_timeout", "3").unwrap();
        s.set(Some("settings"), "Log-Level", "TRACE").unwrap();
        s.set(None, "ca-file", "/etc/ca.pem").unwrap();
        s.set(None, "keepalive", "off").unwrap();
        s.set(None, "reregister-on-recovery", "no").unwrap();
        s.set(None, "keepalive-interval-ms", "30000").unwrap();
        assert_eq!(s.check_timeout_ms, 3000);
        assert_eq!(s.log_level, LogLevel::Trace);
        assert_eq!(s.ca_file.as_deref(), Some("/etc/ca.pem"));
        let cfg = s.engine_config(&EngineConfig::default());
        assert!(!cfg.keepalive.enabled);
        assert!(!cfg.reregister_on_recovery);
        assert_eq!(cfg.keepalive.interval_ms, 30_000);
    }

    #[test]
    fn bad_values_and_keys_are_refused_where_read() {
        let mut s = HostSettings::new();
        assert!(matches!(
            s.set(None, "log_level", "loud"),
            Err(ConfigError::InvalidValue { .. })
        ));
        assert!(s.set(None, "check_timeout", "0").is_err());
        assert!(s.set(None, "check_timeout", "ten").is_err());
        assert!(matches!(
            s.set(None, "no_such_key", "1"),
            Err(ConfigError::UnknownKey(_))
        ));
        assert!(matches!(
            s.set(Some("trunk-a"), "bogus", "1"),
            Err(ConfigError::UnknownKey(_))
        ));
        assert!(s.set(Some("trunk-a"), "keepalive", "maybe").is_err());
        assert_eq!(s, HostSettings::new());
    }

    #[test]
    fn trunk_sections_and_the_exclude_list_reach_the_trunk() {
        let mut s = HostSettings::new();
        s.set(Some("office"), "reregister_on_recovery", "no")
            .unwrap();
        s.set(Some("office"), "keepalive_interval", "20").unwrap();
        s.set(None, "reregister-exclude", "gw_a, gw_b,,").unwrap();
        let office = s.trunk_config(TrunkConfig::new("office"));
        assert_eq!(office.reregister_on_recovery, Some(false));
        assert_eq!(office.keepalive_interval, Some(20));
        for gw in ["gw_a", "gw_b"] {
            assert_eq!(
                s.trunk_config(TrunkConfig::new(gw)).reregister_on_recovery,
                Some(false)
            );
        }
        assert_eq!(
            s.trunk_config(TrunkConfig::new("other")),
            TrunkConfig::new("other")
        );
    }

    #[test]
    fn log_levels_parse_the_same_for_both_hosts() {
        for (t, l) in [
            ("error", LogLevel::Error),
            ("WARNING", LogLevel::Warn),
            ("warn", LogLevel::Warn),
            ("notice", LogLevel::Info),
            ("info", LogLevel::Info),
            ("debug", LogLevel::Debug),
            ("trace", LogLevel::Trace),
        ] {
            assert_eq!(LogLevel::parse(t), Some(l), "{t}");
        }
        assert_eq!(LogLevel::parse("verbose"), None);
    }
}
