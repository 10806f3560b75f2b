//! sofia gateway definitions (`<gateway name="..."><param .../></gateway>`)
//! and the trunk configurations they describe.
use super::tracker::GatewayInfo;
use super::xml::{tags, Tag};
use crate::core::{RefreshPolicy, Secret, TrunkConfig};
use crate::hosts::codes;
use crate::hosts::text::{switch_true, Redacted};
use crate::hosts::uri::SipUri;
use crate::validate::{Finding, Severity, Transport};
use std::fmt;

/// One `<gateway>` as written. `Debug` never shows a password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SofiaGateway {
    /// The `name` attribute (`anonymous` when empty, as mod_sofia does).
    pub name: String,
    /// The enclosing `<profile name="...">`, if any (directory gateways
    /// under `<user><gateways>` have none).
    pub profile: Option<String>,
    /// `<param name=".." value=".."/>` pairs in order (entities decoded).
    pub params: Vec<(String, String)>,
}

impl fmt::Debug for SofiaGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SofiaGateway")
            .field("name", &self.name)
            .field("profile", &self.profile)
            .field("params", &Redacted(&self.params))
            .finish()
    }
}

/// One gateway turned into a trunk.
#[derive(Clone, Debug, PartialEq)]
pub struct FreeswitchTrunk {
    /// The trunk configuration.
    pub config: TrunkConfig,
    /// [`TrunkConfig::findings`].
    pub findings: Vec<Finding>,
    /// What mod_sofia will do with this configuration (`freeswitch.*`).
    pub notes: Vec<Finding>,
    /// Whether the gateway registers at all (`register`, default true).
    pub registers: bool,
}

/// Deepest element nesting followed; deeper tags are read but not tracked.
const MAX_DEPTH: usize = 256;

/// Every `<gateway>` in a sofia configuration (a whole `sofia.conf.xml`, a
/// profile, a directory user, or a lone gateway). Never fails: what cannot
/// be read is skipped.
pub fn parse_gateways(xml: &str) -> Vec<SofiaGateway> {
    let mut out = Vec::new();
    // (element name, its `name` attribute)
    let mut stack: Vec<(String, Option<String>)> = Vec::new();
    let mut current: Option<(SofiaGateway, usize)> = None;
    for tag in tags(xml) {
        match tag {
            Tag::Start {
                name,
                attrs,
                self_closing,
            } => {
                let lname = name.to_ascii_lowercase();
                let name_attr = attrs
                    .iter()
                    .find(|(k, _)| *k == "name")
                    .map(|(_, v)| v.clone());
                if lname == "gateway" {
                    if let Some((g, _)) = current.take() {
                        out.push(g);
                    }
                    let profile = stack
                        .iter()
                        .rev()
                        .find(|(n, _)| n == "profile")
                        .and_then(|(_, p)| p.clone());
                    let gname = name_attr.clone().unwrap_or_default();
                    let g = SofiaGateway {
                        name: if gname.trim().is_empty() {
                            "anonymous".to_owned()
                        } else {
                            gname
                        },
                        profile,
                        params: Vec::new(),
                    };
                    if self_closing {
                        out.push(g);
                    } else {
                        current = Some((g, stack.len()));
                    }
                } else if lname == "param" {
                    if let Some((g, _)) = current.as_mut() {
                        let value = attrs
                            .iter()
                            .find(|(k, _)| *k == "value")
                            .map(|(_, v)| v.clone())
                            .unwrap_or_default();
                        if let Some(n) = name_attr.clone() {
                            g.params.push((n, value));
                        }
                    }
                }
                if !self_closing && stack.len() < MAX_DEPTH {
                    stack.push((lname, name_attr));
                }
            }
            Tag::End { name } => {
                let lname = name.to_ascii_lowercase();
                if let Some(i) = stack.iter().rposition(|(n, _)| *n == lname) {
                    stack.truncate(i);
                }
                if let Some((_, depth)) = &current {
                    if stack.len() <= *depth {
                        if let Some((g, _)) = current.take() {
                            out.push(g);
                        }
                    }
                }
            }
        }
    }
    if let Some((g, _)) = current.take() {
        out.push(g);
    }
    out
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

impl SofiaGateway {
    /// A parameter's value (the last one wins, as in mod_sofia's loop),
    /// trimmed; `None` when absent or empty.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// A parameter's value exactly as written (not trimmed); `None` when
    /// absent or empty.
    pub fn param_raw(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// `register` (default true).
    pub fn registers(&self) -> bool {
        self.param("register").is_none_or(switch_true)
    }

    /// The REGISTER Request-URI host: `proxy`, else `realm`, else the
    /// gateway name (mod_sofia's defaults).
    fn proxy_value(&self) -> &str {
        self.param("proxy")
            .or_else(|| self.param("realm"))
            .unwrap_or(&self.name)
    }

    /// `expire-seconds` as mod_sofia uses it: 3600 when absent, not a
    /// number, or below 5.
    pub fn expires(&self) -> u32 {
        self.param("expire-seconds")
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|&e| e >= 5)
            .unwrap_or(3600)
    }

    /// `register-transport` (default udp), or the proxy URI's transport.
    pub fn transport(&self) -> Option<Transport> {
        match self.param("register-transport") {
            Some(t) => Transport::parse(t),
            None => SipUri::parse(self.proxy_value())
                .and_then(|u| u.transport())
                .or(Some(Transport::Udp)),
        }
    }

    /// What a [`GatewayTracker`](super::GatewayTracker) needs to know.
    pub fn info(&self) -> GatewayInfo {
        GatewayInfo {
            has_credentials: self.param("password").is_some(),
            expires: Some(self.expires()),
            transport: self.transport(),
            registers: self.registers(),
        }
    }

    /// The trunk this gateway describes.
    ///
    /// `domain` and `port` come from `proxy` (else `realm`, else the
    /// name): the host FreeSWITCH puts in the REGISTER Request-URI.
    /// `username` is the AOR user (`from-user`, else `username`),
    /// `auth_username` the digest user (`auth-username`, else `username`)
    /// when it differs. `proxy` is where packets go (`register-proxy`, else
    /// `outbound-proxy`), as `host[:port]`. `realm` stays unset: sofia answers
    /// whatever realm the challenge names, and the `realm` param only
    /// supplies defaults for `proxy` and `from-domain`.
    pub fn trunk(&self) -> FreeswitchTrunk {
        let mut cfg = TrunkConfig::new(&self.name);
        // FreeSWITCH, not a setting, decides when this gateway refreshes.
        cfg.refresh_policy = Some(RefreshPolicy::Freeswitch);
        let registers = self.registers();
        let mut notes = Vec::new();
        let proxy = self.proxy_value();
        match SipUri::parse(proxy) {
            Some(u) => {
                cfg.domain = u.host.clone();
                cfg.port = u.port;
            }
            None => cfg.domain = proxy.to_owned(),
        }
        let username = self.param_raw("username");
        let aor_user = self.param_raw("from-user").or(username).unwrap_or("");
        let auth_user = self.param_raw("auth-username").or(username).unwrap_or("");
        cfg.username = aor_user.to_owned();
        if !auth_user.is_empty() && auth_user != aor_user {
            cfg.auth_username = Some(auth_user.to_owned());
        }
        cfg.password = self.param_raw("password").map(Secret::new);
        cfg.transport = self.transport();
        cfg.proxy = self
            .param("register-proxy")
            .or_else(|| self.param("outbound-proxy"))
            .and_then(SipUri::parse)
            .map(|u| u.host_port());
        if registers {
            cfg.expires = Some(self.expires());
        }
        // A gateway that pings on its own (`ping` of 5 s or more) needs no
        // second OPTIONS stream: its results arrive as gateway events.
        if self
            .param("ping")
            .and_then(|v| v.trim().parse::<u32>().ok())
            .is_some_and(|v| v >= 5)
        {
            cfg.keepalive = Some(false);
        }
        if !registers {
            notes.push(note(
                codes::FREESWITCH_NO_REGISTER,
                Severity::Info,
                "register",
                format!("Gateway `{}` has register=false: FreeSWITCH does not register it (state NOREG); only OPTIONS pings run, if `ping` is set", self.name),
                "Set register=true if the provider expects a registration",
            ));
        } else if username.is_none() {
            notes.push(note(
                codes::FREESWITCH_USERNAME_MISSING,
                Severity::Error,
                "username",
                "A registering gateway needs `username`: mod_sofia refuses the gateway without it"
                    .to_owned(),
                "Add <param name=\"username\" value=\"...\"/>",
            ));
        }
        if let Some(t) = self.param("register-transport") {
            if Transport::parse(t).is_none() {
                notes.push(note(
                    codes::FREESWITCH_TRANSPORT_UNSUPPORTED,
                    Severity::Warning,
                    "register-transport",
                    format!("register-transport `{t}` is not udp, tcp or tls: regwatch cannot check or probe it"),
                    "Use udp, tcp or tls",
                ));
            }
        }
        match self
            .param("retry-seconds")
            .or_else(|| self.param("retry_seconds"))
        {
            Some(v) if v.parse::<u32>().map_or(true, |n| n < 5) => notes.push(note(
                codes::FREESWITCH_RETRY_SECONDS_RESET,
                Severity::Warning,
                "retry-seconds",
                format!("retry-seconds `{v}` is below 5 or not a number: mod_sofia uses 30"),
                "Set retry-seconds to 5 or more",
            )),
            _ => {}
        }
        if registers {
            let retry = self
                .param("retry-seconds")
                .or_else(|| self.param("retry_seconds"))
                .and_then(|v| v.parse::<u32>().ok())
                .filter(|&n| n >= 5)
                .map_or(30, u64::from);
            // (u64: retry-seconds is any u32 the file says; its multiples
            // must not overflow.)
            notes.push(note(
                codes::FREESWITCH_RETRY_BACKOFF,
                Severity::Info,
                "retry-seconds",
                format!("After a failure FreeSWITCH waits retry-seconds × failures ({retry} s, {} s, {} s ...; after a 503 or a timeout always {retry} s), without a cap: after 10 rejections it retries every {} min", retry * 2, retry * 3, (retry * 10).div_ceil(60)),
                "Watch the alert rather than waiting for the next retry; fix the cause and `sofia profile <p> register <gw>`",
            ));
        }
        if let Some(v) = self.param("timeout-seconds") {
            if v.parse::<u32>().map_or(true, |n| n < 5) {
                notes.push(note(
                    codes::FREESWITCH_TIMEOUT_SECONDS_RESET,
                    Severity::Warning,
                    "timeout-seconds",
                    format!("timeout-seconds `{v}` is below 5 or not a number: mod_sofia uses 60"),
                    "Set timeout-seconds to 5 or more",
                ));
            }
        }
        if let Some(v) = self.param("ping") {
            if v.parse::<u32>().map_or(true, |n| n < 5) {
                notes.push(note(
                    codes::FREESWITCH_PING_IGNORED,
                    Severity::Warning,
                    "ping",
                    format!("ping `{v}` is below 5 seconds or not a number: mod_sofia ignores it, so no OPTIONS keep-alive runs"),
                    "Set ping to 5 or more (Twilio asks for no more than one OPTIONS every 10-15 s)",
                ));
            }
        }
        if let Some(v) = self.param("expire-seconds") {
            if v.parse::<u32>().map_or(true, |n| n < 5) {
                notes.push(note(
                    codes::FREESWITCH_EXPIRE_SECONDS_INVALID,
                    Severity::Warning,
                    "expire-seconds",
                    format!(
                        "expire-seconds `{v}` is below 5 or not a number: mod_sofia requests 3600"
                    ),
                    "Set expire-seconds to the expiry you want (Twilio: 600 to 3600)",
                ));
            }
        }
        let from_domain = self
            .param("from-domain")
            .or_else(|| self.param("realm"))
            .and_then(SipUri::parse);
        if let (Some(fd), Some(px)) = (from_domain, SipUri::parse(proxy)) {
            if registers && !fd.host.eq_ignore_ascii_case(&px.host) {
                notes.push(note(
                    codes::FREESWITCH_FROM_DOMAIN_DIFFERS,
                    Severity::Info,
                    "from-domain",
                    format!("The AOR domain `{}` (from-domain/realm) differs from the REGISTER Request-URI host `{}` (proxy); Twilio expects both to be the SIP domain", fd.host, px.host),
                    "Keep proxy (and from-domain) the SIP domain and send packets elsewhere with register-proxy/outbound-proxy",
                ));
            }
        }
        let findings = cfg.findings(None);
        FreeswitchTrunk {
            config: cfg,
            findings,
            notes,
            registers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateways_in_profiles() {
        let gws = parse_gateways(
            r#"<configuration name="sofia.conf"><profiles><profile name="external"><gateways>
               <gateway name="gw_ok">
                 <param name="username" value="acme"/>
                 <param name="password" value="s3cr&amp;t"/>
                 <param name="proxy" value="acme.sip.twilio.com"/>
                 <param name="register-proxy" value="127.0.0.1:5091"/>
                 <param name="expire-seconds" value="120"/>
                 <variables><variable name="x" value="y"/></variables>
               </gateway>
               <gateway name="gw_ping"><param name="register" value="false"/></gateway>
               </gateways></profile></profiles></configuration>"#,
        );
        assert_eq!(gws.len(), 2);
        assert_eq!(gws[0].profile.as_deref(), Some("external"));
        let t = gws[0].trunk();
        assert_eq!(t.config.domain, "acme.sip.twilio.com");
        assert_eq!(t.config.proxy.as_deref(), Some("127.0.0.1:5091"));
        assert_eq!(
            t.config.password.as_ref().map(|p| p.expose()),
            Some("s3cr&t")
        );
        assert_eq!(t.config.expires, Some(120));
        assert_eq!(t.config.transport, Some(Transport::Udp));
        assert!(!gws[1].registers());
        assert!(gws[1]
            .trunk()
            .notes
            .iter()
            .any(|n| n.code == codes::FREESWITCH_NO_REGISTER));
    }
}
