//! What a PBX module reads from its own configuration file (Asterisk's
//! `regwatch.conf`, FreeSWITCH's `regwatch.conf.xml`), with the modules'
//! defaults, in one place.
//!
//! A module hands every `key = value` it finds, with the section it was in,
//! to [`HostSettings::read`] (or [`HostSettings::set`]); nothing is
//! interpreted in C. Keys are matched without regard to case, and `-`
//! equals `_`.
//!
//! * The general section (`general` in Asterisk, `settings` in FreeSWITCH,
//!   or none): `check_timeout` (seconds, for the console's `check`),
//!   `ca_file`, `log_level` (`error`, `warning`, `info`, `debug`,
//!   `trace`), `reregister_exclude` (a comma-separated list of trunks that
//!   are never re-registered on recovery), and the engine options (see
//!   [`PARAMS`]): `keepalive`, `keepalive_interval` (seconds),
//!   `keepalive_timeout` (seconds), `reregister_on_recovery`,
//!   `register_interval` (seconds between credential queries, off by
//!   default)... The
//!   engine's own names (`keepalive_interval_ms`, in milliseconds) are
//!   still read.
//! * Any other section names a trunk; its keys are trunk keys
//!   ([`TrunkConfig::set`]: `reregister_on_recovery`, `keepalive`,
//!   `keepalive_interval`, `register_interval`, `contact`), applied over
//!   what the PBX configuration says.
//!
//! FreeSWITCH's style is hyphenated names and seconds (`check-timeout`,
//! `retry-seconds`, `ping`): in its section (`settings`) a name spelt with
//! `_`, or one of the engine's millisecond names, is read but gets a
//! deprecation note naming the new spelling ([`Reading::note`]), which the
//! module logs. Every refused value's note names the allowed range.
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

/// What the value of an engine option is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unit {
    /// `on`/`off` (also `yes`/`no`, `true`/`false`, `1`/`0`).
    Switch,
    /// Seconds, up to three decimals, from `min_ms` to `max_ms` (the
    /// engine takes milliseconds).
    Seconds {
        /// The least, in milliseconds.
        min_ms: u64,
        /// The most, in milliseconds.
        max_ms: u64,
    },
    /// A whole number from `min` to `max`.
    Count {
        /// The least.
        min: u64,
        /// The most.
        max: u64,
    },
    /// Taken as the engine takes it; `range` says what it accepts.
    Engine {
        /// The allowed values, for messages.
        range: &'static str,
    },
}

/// An engine option as a module's configuration names it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Param {
    /// Its name, FreeSWITCH's spelling (`-` and seconds).
    pub name: &'static str,
    /// The engine's key ([`EngineConfig::set`]).
    pub engine_key: &'static str,
    /// Its value.
    pub unit: Unit,
    /// The engine's millisecond name, still read (FreeSWITCH: with a
    /// deprecation note).
    pub old_ms: Option<&'static str>,
}

const fn p(name: &'static str, engine_key: &'static str, unit: Unit) -> Param {
    Param {
        name,
        engine_key,
        unit,
        old_ms: None,
    }
}

const fn secs(name: &'static str, engine_key: &'static str, min_ms: u64, max_ms: u64) -> Param {
    Param {
        name,
        engine_key,
        unit: Unit::Seconds { min_ms, max_ms },
        old_ms: Some(engine_key),
    }
}

/// Every engine option a module's file may set, with its unit and range.
/// The keep-alive times are narrower here than the engine's (an interval
/// of at most 10 minutes, a timeout of at most a minute), so that
/// milliseconds written under a seconds name are refused, not taken as
/// hours.
pub const PARAMS: &[Param] = &[
    p("keepalive", "keepalive", Unit::Switch),
    secs(
        "keepalive-interval",
        "keepalive_interval_ms",
        1_000,
        600_000,
    ),
    secs("keepalive-timeout", "keepalive_timeout_ms", 100, 60_000),
    secs("keepalive-confirm", "keepalive_confirm_ms", 100, 600_000),
    p(
        "keepalive-failures-to-alert",
        "keepalive_failures_to_alert",
        Unit::Count { min: 1, max: 1000 },
    ),
    p(
        "keepalive-successes-to-clear",
        "keepalive_successes_to_clear",
        Unit::Count { min: 1, max: 1000 },
    ),
    p(
        "keepalive-jitter",
        "keepalive_jitter",
        Unit::Engine {
            range: "a fraction between 0 and 0.5",
        },
    ),
    p("keepalive-alternates", "keepalive_alternates", Unit::Switch),
    p(
        "reregister-on-recovery",
        "reregister_on_recovery",
        Unit::Switch,
    ),
    p(
        "profile",
        "profile",
        Unit::Engine {
            range: "twilio, generic or auto",
        },
    ),
    p(
        "register-interval",
        "register_interval",
        Unit::Engine {
            range: "0 (off) or seconds from 5 to 604800",
        },
    ),
    p(
        "history-len",
        "history_len",
        Unit::Count { min: 1, max: 4096 },
    ),
    p(
        "challenges-before-rejection",
        "challenges_before_rejection",
        Unit::Count { min: 2, max: 255 },
    ),
];

/// The module's own keys, FreeSWITCH's spelling.
const MODULE_KEYS: &[&str] = &[
    "check-timeout",
    "ca-file",
    "log-level",
    "reregister-exclude",
];

/// `key` as matched: lower case, `-` for `_`.
fn canonical(key: &str) -> String {
    key.trim().to_ascii_lowercase().replace('_', "-")
}

/// Milliseconds as seconds: `3`, `1.5`, `0.25`.
fn ms_as_seconds(ms: u64) -> String {
    let (s, frac) = (ms / 1000, ms % 1000);
    if frac == 0 {
        s.to_string()
    } else {
        format!("{s}.{frac:03}").trim_end_matches('0').to_owned()
    }
}

/// `3`, `1.5`, `0.250` seconds as milliseconds (no sign, no exponent, at
/// most three decimals).
fn seconds_as_ms(v: &str) -> Option<u64> {
    let (int, frac) = v.split_once('.').unwrap_or((v, "0"));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty()
        || frac.is_empty()
        || int.len() > 9
        || frac.len() > 3
        || !digits(int)
        || !digits(frac)
    {
        return None;
    }
    let frac_ms: u64 = format!("{frac:0<3}").parse().ok()?;
    int.parse::<u64>()
        .ok()?
        .checked_mul(1000)?
        .checked_add(frac_ms)
}

fn switch_value(key: &str, v: &str) -> Result<&'static str, ConfigError> {
    match v.to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" | "1" => Ok("on"),
        "off" | "no" | "false" | "0" => Ok("off"),
        _ => Err(invalid(key, "must be on or off (yes/no, true/false)")),
    }
}

/// The engine key and value for `value` of `param`, named `key` by the
/// file; `ms` when `key` is the old millisecond name.
fn engine_value(param: &Param, key: &str, value: &str, ms: bool) -> Result<String, ConfigError> {
    match param.unit {
        Unit::Switch => switch_value(key, value).map(str::to_owned),
        Unit::Seconds { min_ms, max_ms } if ms => value
            .parse::<u64>()
            .ok()
            .filter(|n| (min_ms..=max_ms).contains(n))
            .map(|n| n.to_string())
            .ok_or_else(|| {
                invalid(
                    key,
                    &format!("must be milliseconds between {min_ms} and {max_ms}"),
                )
            }),
        Unit::Seconds { min_ms, max_ms } => seconds_as_ms(value)
            .filter(|n| (min_ms..=max_ms).contains(n))
            .map(|n| n.to_string())
            .ok_or_else(|| {
                invalid(
                    key,
                    &format!(
                        "must be seconds between {} and {}",
                        ms_as_seconds(min_ms),
                        ms_as_seconds(max_ms)
                    ),
                )
            }),
        Unit::Count { min, max } => value
            .parse::<u64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .map(|n| n.to_string())
            .ok_or_else(|| {
                invalid(
                    key,
                    &format!("must be a whole number between {min} and {max}"),
                )
            }),
        Unit::Engine { range } => {
            EngineConfig::default()
                .set(param.engine_key, value)
                .map_err(|_| invalid(key, &format!("must be {range}")))?;
            Ok(value.to_owned())
        }
    }
}

/// What [`HostSettings::read`] made of one `key = value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// Taken, or why not (the setting then keeps its value).
    pub result: Result<(), ConfigError>,
    /// One line for the admin, or `None`: why the value was refused (with
    /// the allowed range), or, for a name FreeSWITCH's style spells
    /// otherwise, the name to write instead.
    pub note: Option<String>,
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
        self.read(section, key, value).result
    }

    /// As [`HostSettings::set`], with the line to log about it.
    pub fn read(&mut self, section: Option<&str>, key: &str, value: &str) -> Reading {
        let written = key.trim();
        let value = value.trim();
        let freeswitch = section.is_some_and(|s| s.trim().eq_ignore_ascii_case("settings"));
        let mut renamed = None;
        let result = if is_general(section) {
            self.set_general(written, value, freeswitch, &mut renamed)
        } else {
            let trunk = section.unwrap_or_default().trim();
            let key = written.to_ascii_lowercase().replace('-', "_");
            // Checked now, so that a mistake is reported where it was read.
            TrunkConfig::new(trunk).set(&key, value).map(|()| {
                self.trunk_options
                    .entry(trunk.to_owned())
                    .or_default()
                    .push((key, value.to_owned()));
            })
        };
        let note = match &result {
            Err(ConfigError::InvalidValue { reason, .. }) => {
                Some(format!("{written} = {value}: {reason}; not applied"))
            }
            Err(ConfigError::UnknownKey(_)) => Some(format!(
                "{written}: unknown parameter, ignored{}",
                if freeswitch {
                    " (see regwatch.conf.xml in mod_regwatch's sources)"
                } else {
                    ""
                }
            )),
            Ok(()) => renamed,
        };
        Reading { result, note }
    }

    /// A key of the general section; `renamed` gets the deprecation note
    /// (FreeSWITCH only).
    fn set_general(
        &mut self,
        written: &str,
        value: &str,
        freeswitch: bool,
        renamed: &mut Option<String>,
    ) -> Result<(), ConfigError> {
        let name = canonical(written);
        let old_style = freeswitch && written.contains('_');
        if let Some(k) = MODULE_KEYS.iter().find(|k| **k == name) {
            self.set_module_key(k, written, value)?;
            if old_style {
                *renamed = Some(format!("{written} is deprecated: write {k}"));
            }
            return Ok(());
        }
        let by_name = PARAMS.iter().find(|p| p.name == name);
        let by_ms = PARAMS
            .iter()
            .find(|p| p.old_ms.is_some_and(|o| canonical(o) == name));
        let Some(param) = by_name.or(by_ms) else {
            // Not a known name: as the engine takes it (it may know more).
            let key = written.to_ascii_lowercase().replace('-', "_");
            EngineConfig::default().set(&key, value)?;
            self.engine_options.push((key, value.to_owned()));
            return Ok(());
        };
        let ms = by_name.is_none();
        let v = engine_value(param, written, value, ms)?;
        if freeswitch && ms {
            let secs = v.parse().map(ms_as_seconds).unwrap_or_default();
            *renamed = Some(format!(
                "{written} (milliseconds) is deprecated: write {} = {secs} (seconds)",
                param.name
            ));
        } else if old_style {
            *renamed = Some(format!("{written} is deprecated: write {}", param.name));
        }
        // The engine has the last word on its own keys.
        EngineConfig::default().set(param.engine_key, &v)?;
        self.engine_options.push((param.engine_key.to_owned(), v));
        Ok(())
    }

    /// `check-timeout`, `ca-file`, `log-level`, `reregister-exclude`.
    fn set_module_key(
        &mut self,
        name: &str,
        written: &str,
        value: &str,
    ) -> Result<(), ConfigError> {
        match name {
            "check-timeout" => {
                let s: u32 = value
                    .parse()
                    .ok()
                    .filter(|s| (1..=600).contains(s))
                    .ok_or_else(|| invalid(written, "must be seconds between 1 and 600"))?;
                self.check_timeout_ms = s * 1000;
            }
            "ca-file" => self.ca_file = (!value.is_empty()).then(|| value.to_owned()),
            "log-level" => {
                self.log_level = LogLevel::parse(value).ok_or_else(|| {
                    invalid(written, "must be error, warning, info, debug or trace")
                })?
            }
            _ => {
                for trunk in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    self.trunk_options
                        .entry(trunk.to_owned())
                        .or_default()
                        .push(("reregister_on_recovery".to_owned(), "off".to_owned()));
                }
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
mod tests;
