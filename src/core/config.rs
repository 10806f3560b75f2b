//! Engine-wide policy and per-trunk configuration.
use super::refresh::RefreshPolicy;
use crate::validate::{self, Finding, Profile, Transport};
use std::fmt;
use std::sync::Arc;

/// A secret (a SIP password). Its `Debug` and `Display` print `<redacted>`;
/// it is never serialised.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself, for digest computation. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Engine-wide policy. Every field has a sensible default.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    /// Registration events kept per trunk (default 32, at least 1).
    pub history_len: usize,
    /// Whether a repeated cycle of history entries (a PBX retrying and
    /// getting the same answer) is kept once with a count (default true;
    /// `regwatch analyze` keeps every entry).
    pub history_fold: bool,
    /// Whose refresh schedule trunks follow when they do not name one
    /// (default [`RefreshPolicy::Ratio`]; per trunk: `refresh_policy`).
    pub refresh_policy: RefreshPolicy,
    /// Point of the granted expiry at which a refresh is due under
    /// [`RefreshPolicy::Ratio`] (default 0.5).
    pub refresh_ratio: f64,
    /// Grace after the refresh point before the trunk counts as
    /// `refresh_late` (default 30 s; never more than half of the time left
    /// between the refresh point and expiry).
    pub refresh_grace_ms: u64,
    /// A granted expiry below `drift_ratio × requested` is reported as
    /// `expiry_drift` (default 0.9).
    pub drift_ratio: f64,
    /// Consecutive 401/407 answers within one attempt that count as
    /// rejected credentials when the host did not say whether it sent
    /// credentials (default 2: the first is the normal challenge).
    pub challenges_before_rejection: u8,
    /// Keep-alive policy for every trunk that does not set its own.
    pub keepalive: KeepAlivePolicy,
    /// The profile given to trunks that the host adapters (Asterisk,
    /// FreeSWITCH) read from a PBX configuration, which names none
    /// (default None: detected from each domain).
    pub host_profile: Option<Profile>,
    /// Whether the authorization user of the last REGISTER with
    /// credentials seen on the wire (`observe_sip`) counts before the
    /// configured one, for the authorization-user mismatch and in the
    /// diagnosis (default false: the configuration is the truth;
    /// `regwatch analyze`, which has only the capture, sets it).
    pub wire_auth_user: bool,
    /// Whether a host carries out the engine's "re-register now" action
    /// for trunks that do not say otherwise (default true; per trunk:
    /// `reregister_on_recovery`). See [`TrunkConfig::reregisters_on_recovery`].
    pub reregister_on_recovery: bool,
    /// Seconds between credential queries per trunk (default 0: off;
    /// `regwatch watch`: 600; per trunk: `register_interval`): a REGISTER
    /// without Contact (RFC 3261 §10.2.3: it adds and changes no binding)
    /// answered with the trunk's credentials, whose answer says whether
    /// the credentials are good and which bindings the registrar holds.
    /// Needs the keep-alive on (the host sends the engine's transmits).
    pub register_interval: u32,
}

/// OPTIONS keep-alive policy (DESIGN.md "Keep-alive scheduling").
///
/// Off by default: an engine emits probe transmits only when its host (or
/// the driver) sends them, and says so by turning this on; a host that
/// never answers its transmits would otherwise see false alerts.
#[derive(Clone, Debug, PartialEq)]
pub struct KeepAlivePolicy {
    /// Whether trunks are probed (default false; per trunk: `keepalive`).
    pub enabled: bool,
    /// Time between probes (default 60 s; per trunk: `keepalive_interval`).
    pub interval_ms: u64,
    /// How long a probe may go unanswered before it counts as a timeout
    /// (default 5 s; UDP retransmissions are the sender's business
    /// within it).
    pub timeout_ms: u64,
    /// Failed probes in a row that raise the alert (default 2).
    pub failures_to_alert: u32,
    /// Answered probes in a row that clear it (default 1).
    pub successes_to_clear: u32,
    /// Delay of the confirmation probe sent after a first failure, instead
    /// of waiting a whole interval (default 5 s).
    pub confirm_ms: u64,
    /// Each interval varies by up to ± this fraction, from the engine's
    /// seed (default 0.1); first probes go out one trunk per 10 ms
    /// (wrapping around the interval for fleets larger than it holds).
    pub jitter: f64,
    /// After a UDP probe fails, probe TCP 5060 and TLS 5061 (once, then
    /// again every 10 failures in a row), to tell `transport_blocked` from
    /// `registrar_unreachable` (default true).
    pub alternates: bool,
}

impl Default for KeepAlivePolicy {
    fn default() -> Self {
        KeepAlivePolicy {
            enabled: false,
            interval_ms: 60_000,
            timeout_ms: 5_000,
            failures_to_alert: 2,
            successes_to_clear: 1,
            confirm_ms: 5_000,
            jitter: 0.1,
            alternates: true,
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            history_len: 32,
            history_fold: true,
            refresh_policy: RefreshPolicy::Ratio,
            refresh_ratio: 0.5,
            refresh_grace_ms: 30_000,
            drift_ratio: 0.9,
            challenges_before_rejection: 2,
            keepalive: KeepAlivePolicy::default(),
            host_profile: None,
            wire_auth_user: false,
            reregister_on_recovery: true,
            register_interval: 0,
        }
    }
}

impl EngineConfig {
    /// Sets one option by name, as the C ABI and configuration files do.
    /// Keys: `history_len`, `history_fold` (`on`/`off`), `refresh_policy` (`ratio`, `asterisk`,
    /// `freeswitch`), `refresh_ratio`, `refresh_grace_ms`,
    /// `drift_ratio`, `challenges_before_rejection`, and for keep-alives
    /// `keepalive` (`on`/`off`), `keepalive_interval_ms`,
    /// `keepalive_timeout_ms`, `keepalive_failures_to_alert`,
    /// `keepalive_successes_to_clear`, `keepalive_confirm_ms`,
    /// `keepalive_jitter`, `keepalive_alternates` (`on`/`off`); `profile`
    /// (`twilio`/`generic`/`auto`) for trunks read from a PBX configuration;
    /// `register_interval` (seconds between credential queries, 0: off).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let v = value.trim();
        match key {
            "history_len" => {
                let n: usize = parse_num(key, v)?;
                if !(1..=4096).contains(&n) {
                    return Err(ConfigError::invalid(key, "must be between 1 and 4096"));
                }
                self.history_len = n;
            }
            "refresh_ratio" => {
                let r: f64 = parse_num(key, v)?;
                if !(r > 0.0 && r < 1.0) {
                    return Err(ConfigError::invalid(
                        key,
                        "must be between 0 and 1 (exclusive)",
                    ));
                }
                self.refresh_ratio = r;
            }
            "refresh_grace_ms" => self.refresh_grace_ms = parse_range(key, v, 0, 3_600_000)?,
            "refresh_policy" => self.refresh_policy = parse_policy(key, v)?,
            "history_fold" => self.history_fold = parse_switch(key, v)?,
            "drift_ratio" => {
                let r: f64 = parse_num(key, v)?;
                if !(r > 0.0 && r <= 1.0) {
                    return Err(ConfigError::invalid(key, "must be in (0, 1]"));
                }
                self.drift_ratio = r;
            }
            "challenges_before_rejection" => {
                let n: u8 = parse_num(key, v)?;
                if n < 2 {
                    return Err(ConfigError::invalid(
                        key,
                        "must be at least 2 (the first 401/407 is a normal challenge)",
                    ));
                }
                self.challenges_before_rejection = n;
            }
            "keepalive" => self.keepalive.enabled = parse_switch(key, v)?,
            "keepalive_interval_ms" => {
                self.keepalive.interval_ms = parse_range(key, v, 1_000, 86_400_000)?
            }
            "keepalive_timeout_ms" => {
                self.keepalive.timeout_ms = parse_range(key, v, 100, 600_000)?
            }
            "keepalive_failures_to_alert" => {
                self.keepalive.failures_to_alert = parse_range(key, v, 1, 1000)?
            }
            "keepalive_successes_to_clear" => {
                self.keepalive.successes_to_clear = parse_range(key, v, 1, 1000)?
            }
            "keepalive_confirm_ms" => {
                self.keepalive.confirm_ms = parse_range(key, v, 100, 86_400_000)?
            }
            "keepalive_jitter" => {
                let r: f64 = parse_num(key, v)?;
                if !(0.0..=0.5).contains(&r) {
                    return Err(ConfigError::invalid(key, "must be between 0 and 0.5"));
                }
                self.keepalive.jitter = r;
            }
            "keepalive_alternates" => self.keepalive.alternates = parse_switch(key, v)?,
            "reregister_on_recovery" => self.reregister_on_recovery = parse_switch(key, v)?,
            "register_interval" => self.register_interval = parse_register_interval(key, v)?,
            "profile" => {
                self.host_profile = match v {
                    "" | "auto" => None,
                    p => Some(Profile::parse(p).ok_or_else(|| {
                        ConfigError::invalid(key, "must be twilio, generic or auto")
                    })?),
                }
            }
            _ => return Err(ConfigError::UnknownKey(key.to_owned())),
        }
        Ok(())
    }
}

/// Why a configuration value was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// No such key.
    UnknownKey(String),
    /// The value does not fit the key.
    InvalidValue {
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
}

impl ConfigError {
    fn invalid(key: &str, reason: &str) -> ConfigError {
        ConfigError::InvalidValue {
            key: key.to_owned(),
            reason: reason.to_owned(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::UnknownKey(k) => write!(f, "unknown configuration key `{k}`"),
            ConfigError::InvalidValue { key, reason } => {
                write!(f, "invalid value for `{key}`: {reason}")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

fn parse_num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, ConfigError> {
    v.parse()
        .map_err(|_| ConfigError::invalid(key, &format!("expected {}", expected(key))))
}

/// What a numeric key takes, for the message that refuses a value.
fn expected(key: &str) -> &'static str {
    match key {
        "history_len" => "a whole number from 1 to 4096",
        "refresh_ratio" => "a number between 0 and 1 (exclusive), e.g. 0.5",
        "drift_ratio" => "a number above 0 and at most 1, e.g. 0.9",
        "challenges_before_rejection" => "a whole number from 2 to 255",
        "keepalive_jitter" => "a number from 0 to 0.5",
        "port" => "a port number from 1 to 65535",
        "expires" => "a number of seconds from 0 to 4294967295 (3600 is usual)",
        "refresh_grace_ms" => "milliseconds from 0 to 3600000",
        _ => "a number",
    }
}

fn parse_range<T: std::str::FromStr + PartialOrd + fmt::Display>(
    key: &str,
    v: &str,
    min: T,
    max: T,
) -> Result<T, ConfigError> {
    match v.parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(ConfigError::invalid(
            key,
            &format!("expected a number from {min} to {max}"),
        )),
    }
}

/// 0 (off), or 5 s to a week: a query every few seconds would count
/// toward a provider's REGISTER rate limit.
fn parse_register_interval(key: &str, v: &str) -> Result<u32, ConfigError> {
    match v.parse::<u32>() {
        Ok(n) if n == 0 || (5..=604_800).contains(&n) => Ok(n),
        _ => Err(ConfigError::invalid(
            key,
            "expected 0 (off) or a number of seconds from 5 to 604800",
        )),
    }
}

fn parse_policy(key: &str, v: &str) -> Result<RefreshPolicy, ConfigError> {
    RefreshPolicy::parse(v)
        .ok_or_else(|| ConfigError::invalid(key, "expected ratio, asterisk or freeswitch"))
}

fn parse_switch(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v.to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" | "1" => Ok(true),
        "off" | "no" | "false" | "0" => Ok(false),
        _ => Err(ConfigError::invalid(key, "expected on or off")),
    }
}

/// One trunk: a registration of `username@domain` to a registrar.
///
/// Built field by field with [`TrunkConfig::set`] (the keys the C ABI and
/// the PBX adapters use), or directly. `Debug` never shows the password.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrunkConfig {
    /// The trunk's name as the host knows it (Asterisk registration name,
    /// FreeSWITCH gateway name). Unique within an engine.
    pub name: Arc<str>,
    /// The SIP domain (registrar), as configured: validation reports any
    /// decoration (`https://`, `user@`, port, trailing dot).
    pub domain: String,
    /// The AOR user part (`From`/`To` user).
    pub username: String,
    /// The digest authorization user, when it differs from `username`.
    pub auth_username: Option<String>,
    /// The digest password.
    pub password: Option<Secret>,
    /// The digest realm the host is configured to answer, if pinned.
    pub realm: Option<String>,
    /// The transport the host registers over.
    pub transport: Option<Transport>,
    /// The registrar port, if not the transport's default.
    pub port: Option<u16>,
    /// An outbound proxy (`host[:port]`) that packets go to instead of the domain.
    pub proxy: Option<String>,
    /// The expiry the host requests, in seconds.
    pub expires: Option<u32>,
    /// Whose rules apply. `None`: detected from the domain.
    pub profile: Option<Profile>,
    /// Whether this trunk gets OPTIONS keep-alives (`None`: the engine's
    /// policy).
    pub keepalive: Option<bool>,
    /// This trunk's keep-alive interval in seconds (`None`: the engine's).
    pub keepalive_interval: Option<u32>,
    /// Whether the host re-registers this trunk when the engine asks
    /// (`None`: the engine's `reregister_on_recovery`).
    pub reregister_on_recovery: Option<bool>,
    /// Whose refresh schedule the host follows for this trunk (`None`:
    /// the engine's). The PBX adapters set it for the trunks they read.
    pub refresh_policy: Option<RefreshPolicy>,
    /// The user part of the Contact the host registers (Asterisk's
    /// `contact_user`, default `s`), when known: it tells apart two
    /// trunks that register the same AOR to the same registrar.
    pub contact_user: Option<String>,
    /// This trunk's credential-query interval in seconds (`None`: the
    /// engine's `register_interval`; 0: off).
    pub register_interval: Option<u32>,
    /// The Contact the PBX registers for this trunk (`sip:user@host:port`
    /// or `user@host:port`), when known: a credential query's 200 that
    /// lists the AOR's bindings without it raises `binding_missing`.
    pub contact: Option<String>,
}

impl TrunkConfig {
    /// A configuration with only a name.
    pub fn new(name: &str) -> TrunkConfig {
        TrunkConfig {
            name: Arc::from(name),
            ..TrunkConfig::default()
        }
    }

    /// The configuration keys [`TrunkConfig::set`] accepts.
    pub const KEYS: &'static [&'static str] = &[
        "name",
        "domain",
        "username",
        "auth_username",
        "password",
        "realm",
        "transport",
        "port",
        "proxy",
        "expires",
        "profile",
        "keepalive",
        "keepalive_interval",
        "reregister_on_recovery",
        "refresh_policy",
        "contact_user",
        "register_interval",
        "contact",
    ];

    /// Sets one field from text. An empty value clears optional fields.
    /// Validation of the *content* (typos, weak passwords) is left to
    /// [`TrunkConfig::findings`]; `set` refuses only what cannot be stored
    /// (a port that is not a number, an unknown transport or profile).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let opt = |v: &str| (!v.is_empty()).then(|| v.to_owned());
        match key {
            "name" => {
                if value.trim().is_empty() {
                    return Err(ConfigError::invalid(key, "a trunk needs a name"));
                }
                self.name = Arc::from(value);
            }
            "domain" => self.domain = value.to_owned(),
            "username" => self.username = value.to_owned(),
            "auth_username" => self.auth_username = opt(value),
            "password" => self.password = (!value.is_empty()).then(|| Secret::new(value)),
            "realm" => self.realm = opt(value),
            "transport" => {
                self.transport = if value.trim().is_empty() {
                    None
                } else {
                    Some(
                        Transport::parse(value)
                            .ok_or_else(|| ConfigError::invalid(key, "expected udp, tcp or tls"))?,
                    )
                }
            }
            "port" => {
                self.port = if value.trim().is_empty() {
                    None
                } else {
                    let p: u16 = parse_num(key, value.trim())?;
                    if p == 0 {
                        return Err(ConfigError::invalid(key, "port 0 is not a port"));
                    }
                    Some(p)
                }
            }
            "proxy" => self.proxy = opt(value.trim()),
            "expires" => {
                self.expires = if value.trim().is_empty() {
                    None
                } else {
                    Some(parse_num(key, value.trim())?)
                }
            }
            "profile" => {
                self.profile = match value.trim() {
                    "" | "auto" => None,
                    v => Some(Profile::parse(v).ok_or_else(|| {
                        ConfigError::invalid(key, "expected twilio, generic or auto")
                    })?),
                }
            }
            "keepalive" => {
                self.keepalive = match value.trim() {
                    "" | "default" => None,
                    v => Some(parse_switch(key, v)?),
                }
            }
            "keepalive_interval" => {
                self.keepalive_interval = if value.trim().is_empty() {
                    None
                } else {
                    Some(parse_range(key, value.trim(), 1, 86_400)?)
                }
            }
            "reregister_on_recovery" => {
                self.reregister_on_recovery = match value.trim() {
                    "" | "default" => None,
                    v => Some(parse_switch(key, v)?),
                }
            }
            "contact_user" => self.contact_user = opt(value.trim()),
            "register_interval" => {
                self.register_interval = match value.trim() {
                    "" | "default" => None,
                    v => Some(parse_register_interval(key, v)?),
                }
            }
            "contact" => self.contact = opt(value.trim()),
            "refresh_policy" => {
                self.refresh_policy = match value.trim() {
                    "" | "default" => None,
                    v => Some(parse_policy(key, v)?),
                }
            }
            _ => return Err(ConfigError::UnknownKey(key.to_owned())),
        }
        Ok(())
    }

    /// The refresh schedule in force: this trunk's, else the engine's.
    pub fn refresh_policy(&self, engine: &EngineConfig) -> RefreshPolicy {
        self.refresh_policy.unwrap_or(engine.refresh_policy)
    }

    /// Whether the host should carry out the engine's "re-register now"
    /// for this trunk: its own `reregister_on_recovery`, else the engine's.
    /// (The engine asks only after a reachability failure; this is the
    /// operator's opt-out on top.)
    pub fn reregisters_on_recovery(&self, engine: &EngineConfig) -> bool {
        self.reregister_on_recovery
            .unwrap_or(engine.reregister_on_recovery)
    }

    /// The profile in force: the configured one, else detected from the domain.
    pub fn effective_profile(&self) -> Profile {
        self.profile
            .unwrap_or_else(|| Profile::detect(&self.domain))
    }

    /// Milliseconds between this trunk's credential queries (0: none):
    /// its own `register_interval`, else the engine's.
    pub fn register_interval_ms(&self, engine: &EngineConfig) -> u64 {
        u64::from(self.register_interval.unwrap_or(engine.register_interval)) * 1000
    }

    /// The effective authorization user (`auth_username`, else `username`).
    pub fn auth_user(&self) -> &str {
        self.auth_username.as_deref().unwrap_or(&self.username)
    }

    /// Runs every validator that applies to this configuration.
    /// `refresh_ratio` is the engine's refresh policy.
    pub fn findings(&self, refresh_ratio: Option<f64>) -> Vec<Finding> {
        let profile = self.effective_profile();
        let domain = validate::validate_domain(&self.domain, profile);
        self.findings_with(refresh_ratio, profile, domain)
    }

    /// [`findings`](Self::findings), given the profile in force and what
    /// `validate_domain` says of the domain under it (an engine with many
    /// trunks on one domain validates it once).
    pub(crate) fn findings_with(
        &self,
        refresh_ratio: Option<f64>,
        profile: Profile,
        domain_findings: Vec<Finding>,
    ) -> Vec<Finding> {
        let mut out = domain_findings;
        out.extend(validate::validate_credentials(
            &self.username,
            self.auth_username.as_deref(),
            self.password.as_ref().map(Secret::expose),
            profile,
        ));
        if let Some(e) = self.expires {
            out.extend(validate::validate_expiry(e, refresh_ratio, profile));
        }
        if self.transport.is_some() || self.port.is_some() {
            // Hosts default to UDP when no transport is configured.
            let t = self.transport.unwrap_or(Transport::Udp);
            out.extend(validate::validate_transport(t, self.port, profile));
        }
        if let Some(r) = &self.realm {
            out.extend(validate::validate_realm(r, None, &self.domain, profile));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reregister_on_recovery_per_engine_and_per_trunk() {
        let mut engine = EngineConfig::default();
        let mut trunk = TrunkConfig::new("t");
        assert!(trunk.reregisters_on_recovery(&engine));
        engine.set("reregister_on_recovery", "off").unwrap();
        assert!(!engine.reregister_on_recovery);
        assert!(!trunk.reregisters_on_recovery(&engine));
        trunk.set("reregister_on_recovery", "yes").unwrap();
        assert_eq!(trunk.reregister_on_recovery, Some(true));
        assert!(trunk.reregisters_on_recovery(&engine));
        engine.set("reregister_on_recovery", "on").unwrap();
        trunk.set("reregister_on_recovery", "no").unwrap();
        assert!(!trunk.reregisters_on_recovery(&engine));
        trunk.set("reregister_on_recovery", "").unwrap();
        assert_eq!(trunk.reregister_on_recovery, None);
        assert!(trunk.set("reregister_on_recovery", "sometimes").is_err());
        assert!(engine.set("reregister_on_recovery", "sometimes").is_err());
        assert!(TrunkConfig::KEYS.contains(&"reregister_on_recovery"));
    }
}
