//! Sorcery object sets (`type=registration`, `type=auth`,
//! `type=transport`) and the trunk configurations they describe.
use super::conf::parse_conf;
use super::index::{IndexEntry, RegistrationIndex};
use super::object::ObjectSet;
use crate::core::{RefreshPolicy, Secret, TrunkConfig};
use crate::hosts::codes;
use crate::hosts::text::{ast_false, ast_true};
use crate::hosts::uri::SipUri;
use crate::validate::{Finding, Severity, Transport};
use std::collections::{HashMap, HashSet};

/// A `type=registration` object. Defaults are Asterisk 22's
/// (`res_pjsip_outbound_registration.c`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// The section name: the trunk's name.
    pub name: String,
    /// The registrar URI (REGISTER Request-URI).
    pub server_uri: String,
    /// The AOR (To/From).
    pub client_uri: String,
    /// Auth sections used to answer challenges (a comma list, or one
    /// object-set entry each).
    pub outbound_auth: Vec<String>,
    /// Requested expiry, seconds (default 3600).
    pub expiration: u32,
    /// The transport section name.
    pub transport: Option<String>,
    /// Outbound proxy URI.
    pub outbound_proxy: Option<String>,
    /// Contact user (default `s`).
    pub contact_user: Option<String>,
    /// Retries of temporary failures before stopping for good (default 10).
    pub max_retries: u32,
    /// Seconds between retries of temporary failures (default 60).
    pub retry_interval: u32,
    /// Seconds before retrying after a 403; 0 = never (default).
    pub forbidden_retry_interval: u32,
    /// Seconds before retrying after other permanent failures; 0 = never (default).
    pub fatal_retry_interval: u32,
    /// Whether rejected credentials stop the registration (default yes).
    pub auth_rejection_permanent: bool,
    /// `line` support.
    pub line: bool,
    /// The endpoint for `line` support.
    pub endpoint: Option<String>,
    /// `(key, value)` pairs Asterisk could not parse (it refuses the object).
    pub invalid: Vec<(String, String)>,
}

impl Default for Registration {
    fn default() -> Self {
        Registration {
            name: String::new(),
            server_uri: String::new(),
            client_uri: String::new(),
            outbound_auth: Vec::new(),
            expiration: 3600,
            transport: None,
            outbound_proxy: None,
            contact_user: None,
            max_retries: 10,
            retry_interval: 60,
            forbidden_retry_interval: 0,
            fatal_retry_interval: 0,
            auth_rejection_permanent: true,
            line: false,
            endpoint: None,
            invalid: Vec::new(),
        }
    }
}

fn non_empty(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

impl Registration {
    /// Reads a registration object set. Unparsable numbers and booleans
    /// keep the default and are listed in [`Registration::invalid`].
    pub fn from_objectset(set: &ObjectSet) -> Registration {
        let mut r = Registration {
            name: set.id.clone(),
            server_uri: set.get("server_uri").unwrap_or("").trim().to_owned(),
            client_uri: set.get("client_uri").unwrap_or("").trim().to_owned(),
            transport: non_empty(set.get("transport")),
            outbound_proxy: non_empty(set.get("outbound_proxy")),
            contact_user: non_empty(set.get("contact_user")),
            endpoint: non_empty(set.get("endpoint")),
            ..Registration::default()
        };
        for v in set.get_all("outbound_auth") {
            for a in v.split(',').map(str::trim).filter(|a| !a.is_empty()) {
                if !r.outbound_auth.iter().any(|x| x == a) {
                    r.outbound_auth.push(a.to_owned());
                }
            }
        }
        let mut invalid = Vec::new();
        let mut num = |key: &str, dst: &mut u32| {
            if let Some(v) = set.get(key) {
                match v.trim().parse() {
                    Ok(n) => *dst = n,
                    Err(_) => invalid.push((key.to_owned(), v.to_owned())),
                }
            }
        };
        num("expiration", &mut r.expiration);
        num("max_retries", &mut r.max_retries);
        num("retry_interval", &mut r.retry_interval);
        num("forbidden_retry_interval", &mut r.forbidden_retry_interval);
        num("fatal_retry_interval", &mut r.fatal_retry_interval);
        let mut flag = |key: &str, dst: &mut bool| {
            if let Some(v) = set.get(key) {
                if ast_true(v) {
                    *dst = true;
                } else if ast_false(v) {
                    *dst = false;
                } else {
                    invalid.push((key.to_owned(), v.to_owned()));
                }
            }
        };
        flag("auth_rejection_permanent", &mut r.auth_rejection_permanent);
        flag("line", &mut r.line);
        r.invalid = invalid;
        r
    }
}

/// A `type=auth` object. `Debug` never shows the password.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Auth {
    /// The section name.
    pub name: String,
    /// `userpass` (default), `md5`, `google_oauth`...
    pub auth_type: String,
    /// The authorization user.
    pub username: String,
    /// The clear-text password (`userpass`).
    pub password: Option<Secret>,
    /// The realm the credentials are for; empty means any.
    pub realm: Option<String>,
}

impl Auth {
    /// Reads an auth object set.
    pub fn from_objectset(set: &ObjectSet) -> Auth {
        Auth {
            name: set.id.clone(),
            auth_type: set
                .get("auth_type")
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "userpass".to_owned()),
            username: set.get("username").unwrap_or("").trim().to_owned(),
            password: set
                .get("password")
                .filter(|p| !p.is_empty())
                .map(Secret::new),
            realm: non_empty(set.get("realm")),
        }
    }

    /// Whether the password is readable in clear (`userpass`).
    pub fn is_userpass(&self) -> bool {
        self.auth_type == "userpass"
    }
}

/// A `type=transport` object: only what the trunk needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransportObject {
    /// The section name (what a registration's `transport=` names).
    pub name: String,
    /// `protocol` (udp, tcp, tls, ws, wss; default udp).
    pub protocol: String,
}

impl TransportObject {
    /// Reads a transport object set.
    pub fn from_objectset(set: &ObjectSet) -> TransportObject {
        TransportObject {
            name: set.id.clone(),
            protocol: set
                .get("protocol")
                .map(|p| p.trim().to_ascii_lowercase())
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "udp".to_owned()),
        }
    }
}

/// One registration turned into a trunk: its configuration, the validation
/// findings, and Asterisk-specific notes.
#[derive(Clone, Debug, PartialEq)]
pub struct AsteriskTrunk {
    /// The trunk configuration for [`Engine::add_trunk`](crate::Engine::add_trunk).
    pub config: TrunkConfig,
    /// [`TrunkConfig::findings`] (password checks left out for non-userpass auths).
    pub findings: Vec<Finding>,
    /// What Asterisk will do with this configuration (codes in
    /// [`codes`](crate::hosts::codes), `asterisk.*`).
    pub notes: Vec<Finding>,
}

/// Name lookups for one pass over an [`AsteriskConfig`].
#[derive(Default)]
struct Names<'a> {
    /// The first auth of each name.
    auths: HashMap<&'a str, &'a Auth>,
    /// The first transport of each name.
    transports: HashMap<&'a str, &'a TransportObject>,
    duplicate_registrations: HashSet<&'a str>,
    duplicate_auths: HashSet<&'a str>,
    duplicate_transports: HashSet<&'a str>,
    /// Registrations sharing their URIs with another: their note.
    shared: HashMap<&'a str, Finding>,
}

/// The registrations, auths and transports of one Asterisk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AsteriskConfig {
    /// `type=registration` objects.
    pub registrations: Vec<Registration>,
    /// `type=auth` objects.
    pub auths: Vec<Auth>,
    /// `type=transport` objects.
    pub transports: Vec<TransportObject>,
}

fn note(
    code: &'static str,
    severity: Severity,
    field: &'static str,
    message: String,
    fix: &str,
) -> Finding {
    Finding {
        code,
        severity,
        field,
        message,
        fix: fix.to_owned(),
    }
}

/// The transport a transport section name suggests (`transport-tls`,
/// `udp_5060`), when no `type=transport` object says.
fn transport_from_name(name: &str) -> Option<Transport> {
    let n = name.to_ascii_lowercase();
    if n.contains("tls") || n.contains("sips") {
        Some(Transport::Tls)
    } else if n.contains("tcp") {
        Some(Transport::Tcp)
    } else if n.contains("udp") {
        Some(Transport::Udp)
    } else {
        None
    }
}

impl AsteriskConfig {
    /// Collects the registration, auth and transport objects; other types
    /// (endpoint, aor...) are ignored.
    pub fn from_objectsets(sets: &[ObjectSet]) -> AsteriskConfig {
        let mut c = AsteriskConfig::default();
        for s in sets {
            match s.kind.to_ascii_lowercase().as_str() {
                "registration" => c.registrations.push(Registration::from_objectset(s)),
                "auth" => c.auths.push(Auth::from_objectset(s)),
                "transport" => c.transports.push(TransportObject::from_objectset(s)),
                _ => {}
            }
        }
        c
    }

    /// Reads `pjsip.conf` text (see [`parse_conf`]).
    ///
    /// In a configuration file a later `outbound_auth=` line replaces an
    /// earlier one (a section's own line overrides its template's:
    /// `ast_sip_auth_vector_init` starts the list afresh), whereas an
    /// object set lists one `outbound_auth` entry per auth; so only the
    /// last `outbound_auth` line of a section is kept here.
    pub fn from_pjsip_conf(text: &str) -> AsteriskConfig {
        let mut sets = parse_conf(text).objects();
        for s in &mut sets {
            if !s.kind.eq_ignore_ascii_case("registration") {
                continue;
            }
            let is_auth = |k: &str| k.eq_ignore_ascii_case("outbound_auth");
            if let Some(last) = s.fields.iter().rposition(|(k, _)| is_auth(k)) {
                let mut i = 0;
                s.fields.retain(|(k, _)| {
                    let keep = !is_auth(k) || i == last;
                    i += 1;
                    keep
                });
            }
        }
        AsteriskConfig::from_objectsets(&sets)
    }

    /// The auth section with this name (the first, when several have it).
    /// One scan of [`auths`](AsteriskConfig::auths); [`trunks`](AsteriskConfig::trunks)
    /// and [`index`](AsteriskConfig::index) look every name up in maps
    /// built once instead.
    pub fn auth(&self, name: &str) -> Option<&Auth> {
        self.auths.iter().find(|a| a.name == name)
    }

    /// The transport a registration uses: `;transport=` or `sips:` on the
    /// server URI, else the named transport object's protocol, else what
    /// the transport's name suggests.
    pub fn transport_of(&self, r: &Registration) -> Option<Transport> {
        self.transport_with(r, &self.names())
    }

    fn transport_with(&self, r: &Registration, names: &Names<'_>) -> Option<Transport> {
        if let Some(t) = SipUri::parse(&r.server_uri).and_then(|u| u.transport()) {
            return Some(t);
        }
        let name = r.transport.as_deref()?;
        match names.transports.get(name) {
            Some(t) => Transport::parse(&t.protocol),
            None => transport_from_name(name),
        }
    }

    /// The name maps of this configuration: built once per
    /// [`trunks`](AsteriskConfig::trunks) or [`index`](AsteriskConfig::index)
    /// call, so a configuration with many sections costs linear time.
    fn names(&self) -> Names<'_> {
        let mut n = Names::default();
        let mut reg_names = HashSet::new();
        for r in &self.registrations {
            if !reg_names.insert(r.name.as_str()) {
                n.duplicate_registrations.insert(r.name.as_str());
            }
        }
        // Backwards, so that the first of a name is the one kept, as
        // `auth()` answers.
        for a in self.auths.iter().rev() {
            if n.auths.insert(a.name.as_str(), a).is_some() {
                n.duplicate_auths.insert(a.name.as_str());
            }
        }
        for t in self.transports.iter().rev() {
            if n.transports.insert(t.name.as_str(), t).is_some() {
                n.duplicate_transports.insert(t.name.as_str());
            }
        }
        n.shared = super::shared::notes(self.registrations.iter().map(|r| super::shared::Reg {
            name: &r.name,
            client_uri: &r.client_uri,
            server_uri: &r.server_uri,
            contact_user: r.contact_user.as_deref(),
        }));
        n
    }

    /// The index that maps Registry events and log lines to registration
    /// names.
    pub fn index(&self) -> RegistrationIndex {
        let names = self.names();
        let mut idx = RegistrationIndex::new();
        for r in &self.registrations {
            idx.insert(IndexEntry {
                name: r.name.clone(),
                client_uri: r.client_uri.clone(),
                server_uri: r.server_uri.clone(),
                has_credentials: !r.outbound_auth.is_empty(),
                transport: self.transport_with(r, &names),
                expires: Some(r.expiration),
            });
        }
        idx
    }

    /// One trunk per registration.
    pub fn trunks(&self) -> Vec<AsteriskTrunk> {
        self.trunks_iter().collect()
    }

    /// One trunk per registration, made as the iterator is advanced: a
    /// caller that prints or sends each one need not hold them all.
    pub fn trunks_iter(&self) -> impl Iterator<Item = AsteriskTrunk> + '_ {
        let names = self.names();
        self.registrations
            .iter()
            .map(move |r| self.trunk_with(r, &names))
    }

    /// The trunk a registration describes.
    ///
    /// `domain` and `port` come from `server_uri` (the registrar, also the
    /// REGISTER Request-URI), `username` from the user part of
    /// `client_uri`; `auth_username`, `password` and `realm` from the first
    /// `outbound_auth` that exists (`auth_username` only when it differs
    /// from the AOR user); `transport` from the URI or the transport
    /// object; `proxy` (`host[:port]`) from `outbound_proxy`; `expires` from
    /// `expiration`. A server URI that is not a SIP URI is kept as written
    /// in `domain`, for validation to explain.
    ///
    /// Two sections of the same name and type make Asterisk refuse every
    /// object of that type (`res_sorcery_config`: "configuration contains
    /// a duplicate object"): a registration so named, or one whose auth or
    /// transport is, gets an `asterisk.duplicate_object` error; the first
    /// section of a name is the one read.
    pub fn trunk(&self, r: &Registration) -> AsteriskTrunk {
        self.trunk_with(r, &self.names())
    }

    fn trunk_with(&self, r: &Registration, names: &Names<'_>) -> AsteriskTrunk {
        let mut cfg = TrunkConfig::new(&r.name);
        // Asterisk, not a setting, decides when this registration refreshes.
        cfg.refresh_policy = Some(RefreshPolicy::Asterisk);
        cfg.contact_user = Some(
            r.contact_user
                .clone()
                .unwrap_or_else(|| super::shared::DEFAULT_CONTACT_USER.to_owned()),
        );
        let mut notes: Vec<Finding> = names
            .shared
            .get(r.name.as_str())
            .cloned()
            .into_iter()
            .collect();
        let mut dup = |kind: &str, name: &str, field: &'static str| {
            notes.push(note(
                codes::ASTERISK_DUPLICATE_OBJECT,
                Severity::Error,
                field,
                format!("More than one [{name}] section has type={kind}: Asterisk refuses to load every {kind} in the file (\"configuration contains a duplicate object\")"),
                "Give each section of a type its own name, or use [name](+) to add to the first one",
            ))
        };
        if names.duplicate_registrations.contains(r.name.as_str()) {
            dup("registration", &r.name, "registration");
        }
        for a in &r.outbound_auth {
            if names.duplicate_auths.contains(a.as_str()) {
                dup("auth", a, "outbound_auth");
            }
        }
        if let Some(t) = r
            .transport
            .as_deref()
            .filter(|t| names.duplicate_transports.contains(t))
        {
            dup("transport", t, "transport");
        }
        for (key, value) in &r.invalid {
            notes.push(note(
                codes::ASTERISK_INVALID_VALUE,
                Severity::Error,
                field_name(key),
                format!("`{key}` has a value Asterisk cannot read (`{value}`): it refuses to load this registration"),
                "Use a whole number of seconds (or yes/no for flags)",
            ));
        }
        if r.server_uri.is_empty() || r.client_uri.is_empty() {
            notes.push(note(
                codes::ASTERISK_URI_MISSING,
                Severity::Error,
                if r.server_uri.is_empty() { "server_uri" } else { "client_uri" },
                "A registration needs both `server_uri` and `client_uri`: Asterisk refuses to load it".to_owned(),
                "Set server_uri=sip:<domain> and client_uri=sip:<user>@<domain>",
            ));
        }
        let server = SipUri::parse(&r.server_uri).filter(|u| u.scheme.is_some());
        let client = SipUri::parse(&r.client_uri).filter(|u| u.scheme.is_some());
        match &server {
            Some(u) => {
                cfg.domain = u.host.clone();
                cfg.port = u.port;
                if u.user.is_some() {
                    notes.push(note(
                        codes::ASTERISK_SERVER_URI_USER,
                        Severity::Warning,
                        "server_uri",
                        format!("server_uri `{}` has a user part, so the REGISTER Request-URI is `sip:user@domain`; RFC 3261 §10.2 and Twilio want the domain alone", r.server_uri),
                        "Set server_uri=sip:<domain> and keep the user in client_uri",
                    ));
                }
            }
            None if !r.server_uri.is_empty() => {
                cfg.domain = r.server_uri.clone();
                notes.push(uri_invalid("server_uri", &r.server_uri));
            }
            None => {}
        }
        match &client {
            Some(u) => {
                cfg.username = u.user.clone().unwrap_or_default();
                if let Some(s) = &server {
                    if !u.host.eq_ignore_ascii_case(&s.host) {
                        notes.push(note(
                            codes::ASTERISK_AOR_DOMAIN_DIFFERS,
                            Severity::Info,
                            "client_uri",
                            format!("The AOR host `{}` differs from the registrar `{}`; Twilio expects the AOR at the SIP domain itself", u.host, s.host),
                            "Use the same host in client_uri and server_uri unless the provider says otherwise",
                        ));
                    }
                }
            }
            None if !r.client_uri.is_empty() => {
                notes.push(uri_invalid("client_uri", &r.client_uri))
            }
            None => {}
        }
        let mut md5_auth = false;
        let mut auth = None;
        for name in &r.outbound_auth {
            match names.auths.get(name.as_str()).copied() {
                Some(a) => {
                    if auth.is_none() {
                        auth = Some(a);
                    }
                }
                None => notes.push(note(
                    codes::ASTERISK_AUTH_MISSING,
                    Severity::Error,
                    "outbound_auth",
                    format!("outbound_auth names `{name}`, but there is no [{name}] section of type=auth: Asterisk cannot answer the registrar's challenge"),
                    "Define the auth section or fix the name in outbound_auth",
                )),
            }
        }
        if r.outbound_auth.is_empty() {
            notes.push(note(
                codes::ASTERISK_NO_OUTBOUND_AUTH,
                Severity::Warning,
                "outbound_auth",
                "No outbound_auth: if the registrar challenges (Twilio always does, with 407), Asterisk cannot answer and the registration fails".to_owned(),
                "Add a type=auth section with username and password and name it in outbound_auth",
            ));
        }
        if let Some(a) = auth {
            if !a.username.is_empty() && a.username != cfg.username {
                cfg.auth_username = Some(a.username.clone());
            }
            if a.is_userpass() {
                cfg.password = a.password.clone();
            } else {
                md5_auth = true;
                notes.push(note(
                    codes::ASTERISK_AUTH_NOT_USERPASS,
                    Severity::Info,
                    "auth_type",
                    format!("Auth `{}` is auth_type={}: the password is not stored in clear, so it cannot be checked here", a.name, a.auth_type),
                    "Nothing to do if the registration works",
                ));
            }
            cfg.realm = a.realm.clone();
        }
        cfg.transport = self.transport_with(r, names);
        if let Some(p) = &r.outbound_proxy {
            match SipUri::parse(p) {
                Some(u) => cfg.proxy = Some(u.host_port()),
                None => notes.push(uri_invalid("outbound_proxy", p)),
            }
        }
        cfg.expires = Some(r.expiration);
        self.behaviour_notes(r, &mut notes);
        let findings = cfg
            .findings(None)
            .into_iter()
            .filter(|f| !(md5_auth && f.field == "password"))
            .collect();
        AsteriskTrunk {
            config: cfg,
            findings,
            notes,
        }
    }

    /// What Asterisk does after failures with this registration's retry
    /// settings (ASTERISK.md, "Mapping of outcomes").
    fn behaviour_notes(&self, r: &Registration, notes: &mut Vec<Finding>) {
        if r.auth_rejection_permanent {
            notes.push(note(
                codes::ASTERISK_STOPS_ON_AUTH_REJECTION,
                Severity::Info,
                "auth_rejection_permanent",
                "auth_rejection_permanent=yes: when the registrar rejects the credentials (401/407 again after they were sent), Asterisk stops registering until the configuration is reloaded".to_owned(),
                "Fix the credentials and reload; set auth_rejection_permanent=no to keep retrying",
            ));
        }
        if r.forbidden_retry_interval == 0 {
            notes.push(note(
                codes::ASTERISK_STOPS_ON_FORBIDDEN,
                Severity::Info,
                "forbidden_retry_interval",
                "forbidden_retry_interval=0: a 403 Forbidden (Twilio's answer to a wrong password) stops the registration for good".to_owned(),
                "Fix the cause and reload; forbidden_retry_interval=<seconds> retries instead",
            ));
        }
        if r.fatal_retry_interval == 0 {
            notes.push(note(
                codes::ASTERISK_STOPS_ON_FATAL,
                Severity::Info,
                "fatal_retry_interval",
                "fatal_retry_interval=0: a 404 or any other permanent failure stops the registration for good".to_owned(),
                "Fix the cause and reload; fatal_retry_interval=<seconds> retries instead",
            ));
        }
        if r.retry_interval == 0 {
            notes.push(note(
                codes::ASTERISK_RETRY_DISABLED,
                Severity::Warning,
                "retry_interval",
                "retry_interval=0: timeouts and 5xx answers are not retried either; the first one stops the registration".to_owned(),
                "Set retry_interval to a number of seconds (default 60)",
            ));
        } else {
            // Each failed attempt: up to 32 s of transaction timeout, then the wait.
            let span = u64::from(r.max_retries) * (32 + u64::from(r.retry_interval));
            notes.push(note(
                codes::ASTERISK_MAX_RETRIES,
                if r.max_retries == 0 { Severity::Warning } else { Severity::Info },
                "max_retries",
                format!(
                    "After {} temporary failures in a row (timeouts, 5xx; every {} s, about {} min in all when they time out) Asterisk stops registering until the configuration is reloaded",
                    r.max_retries,
                    r.retry_interval,
                    span.div_ceil(60)
                ),
                "Raise max_retries to ride out longer outages; regwatch raises an alert either way",
            ));
        }
        if r.expiration <= 10 {
            notes.push(note(
                codes::ASTERISK_EXPIRATION_SHORT,
                Severity::Warning,
                "expiration",
                format!("expiration={}: Asterisk re-registers 10 s before expiry, so it re-registers immediately after every success", r.expiration),
                "Use at least 60 (Twilio: 600 to 3600)",
            ));
        }
        if r.line != r.endpoint.is_some() {
            notes.push(note(
                codes::ASTERISK_LINE_ENDPOINT,
                Severity::Error,
                if r.line { "endpoint" } else { "line" },
                "line and endpoint go together: Asterisk refuses a registration with one and not the other".to_owned(),
                "Set both line=yes and endpoint=<endpoint>, or neither",
            ));
        }
    }
}

fn uri_invalid(field: &'static str, value: &str) -> Finding {
    note(
        codes::ASTERISK_URI_INVALID,
        Severity::Error,
        field,
        format!("`{value}` is not a sip: or sips: URI"),
        "Write it as sip:<host>[:port] (client_uri: sip:<user>@<host>)",
    )
}

/// The static field name for a registration key.
fn field_name(key: &str) -> &'static str {
    match key {
        "expiration" => "expiration",
        "max_retries" => "max_retries",
        "retry_interval" => "retry_interval",
        "forbidden_retry_interval" => "forbidden_retry_interval",
        "fatal_retry_interval" => "fatal_retry_interval",
        "auth_rejection_permanent" => "auth_rejection_permanent",
        "line" => "line",
        _ => "registration",
    }
}

#[cfg(test)]
mod tests;
