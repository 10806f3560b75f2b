//! Domain and Request-URI checks.
use super::codes::*;
use super::text::edit_distance;
use super::{Finding, Profile, Severity};

/// Twilio's public edges, Interconnect edges and legacy region ids.
const EDGES: &[&str] = &[
    "ashburn",
    "umatilla",
    "dublin",
    "frankfurt",
    "singapore",
    "tokyo",
    "sao-paulo",
    "sydney",
    "ashburn-ix",
    "san-jose-ix",
    "sao-paulo-ix",
    "london-ix",
    "frankfurt-ix",
    "singapore-ix",
    "tokyo-ix",
    "sydney-ix",
    "us1",
    "us2",
    "ie1",
    "de1",
    "sg1",
    "jp1",
    "br1",
    "au1",
];

/// The parts of a configured domain after the tolerated decorations
/// (scheme, user part, port, path, white space, trailing dot) are removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DomainParts {
    /// The bare host, lower-case, no trailing dot (IPv6 without brackets).
    pub host: String,
    /// An explicit port, if one was given and valid.
    pub port: Option<u16>,
}

/// What was found while taking a configured domain apart. This is not
/// `sip::uri::split` (validate sits below sip, and this must see every
/// mistake a person can type: `https://`, paths, white space, empty or
/// non-numeric ports) but it agrees with it on well-formed input.
#[derive(Debug, Default)]
struct Dissected<'a> {
    scheme: Option<&'a str>,
    user: Option<&'a str>,
    /// The host as written (case kept, trailing dot kept).
    host: &'a str,
    port: Option<&'a str>,
    rest: Option<&'a str>,
    outer_ws: bool,
    inner_ws: bool,
    ipv6: bool,
}

fn dissect(input: &str) -> Dissected<'_> {
    let trimmed = input.trim();
    let mut d = Dissected {
        outer_ws: trimmed.len() != input.len(),
        ..Dissected::default()
    };
    let mut s = trimmed;
    // scheme://  or  sip: / sips:
    if let Some(i) = s.find("://") {
        let scheme = &s[..i];
        if !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            d.scheme = Some(scheme);
            s = &s[i + 3..];
        }
    } else {
        for p in ["sips:", "sip:", "SIPS:", "SIP:", "Sip:", "Sips:"] {
            if let Some(rest) = s.strip_prefix(p) {
                d.scheme = Some(&p[..p.len() - 1]);
                s = rest;
                break;
            }
        }
    }
    // user@ (the last '@' before any path)
    let path_at = s.find(['/', '?', ';', '#']).unwrap_or(s.len());
    if let Some(i) = s[..path_at].rfind('@') {
        d.user = Some(&s[..i]);
        s = &s[i + 1..];
    }
    // path / query / params
    if let Some(i) = s.find(['/', '?', ';', '#']) {
        d.rest = Some(&s[i..]);
        s = &s[..i];
    }
    // [v6]:port | host:port
    if let Some(inner) = s.strip_prefix('[') {
        d.ipv6 = true;
        match inner.find(']') {
            Some(i) => {
                d.host = &inner[..i];
                let after = &inner[i + 1..];
                if let Some(p) = after.strip_prefix(':') {
                    d.port = Some(p);
                } else if !after.is_empty() {
                    d.rest = Some(after);
                }
            }
            None => d.host = s,
        }
    } else if s.matches(':').count() > 1 {
        // A bare IPv6 literal.
        d.ipv6 = true;
        d.host = s;
    } else if let Some(i) = s.rfind(':') {
        d.host = &s[..i];
        d.port = Some(&s[i + 1..]);
    } else {
        d.host = s;
    }
    d.inner_ws =
        d.host.chars().any(char::is_whitespace) || trimmed.chars().any(char::is_whitespace);
    d
}

impl DomainParts {
    /// Extracts host and port from a configured domain or SIP URI.
    pub fn parse(domain: &str) -> DomainParts {
        let d = dissect(domain);
        DomainParts {
            host: d.host.trim_end_matches('.').to_ascii_lowercase(),
            port: d.port.and_then(|p| p.parse().ok()).filter(|p| *p != 0),
        }
    }
}

fn is_ipv4(h: &str) -> bool {
    h.parse::<core::net::Ipv4Addr>().is_ok()
}

fn is_ip(h: &str) -> bool {
    is_ipv4(h) || h.parse::<core::net::Ipv6Addr>().is_ok()
}

fn near(label: &str, target: &str, max: usize) -> bool {
    // The distance is at least the difference in length: most labels are
    // told apart without computing it.
    let (a, b) = (label.chars().count(), target.chars().count());
    label != target && a.abs_diff(b) <= max && edit_distance(label, target) <= max
}

/// A label that is a misspelling of `twilio` (`twillio`, `twilo`, `twiilio`).
fn twilio_typo(label: &str) -> bool {
    label.len() >= 4 && near(label, "twilio", 2)
}

fn is_sip_label(label: &str) -> bool {
    label == "sip"
}

/// `spi`, `sipp`, `sp`: one edit from `sip`, and not an edge.
fn sip_typo(label: &str) -> bool {
    !EDGES.contains(&label) && near(label, "sip", 1) && label.len() >= 2
}

fn closest_edge(label: &str) -> Option<&'static str> {
    EDGES
        .iter()
        .map(|e| (edit_distance(label, e), *e))
        .filter(|(d, e)| *d <= 2 && *d < e.len() / 2 + 1)
        .min_by_key(|(d, _)| *d)
        .map(|(_, e)| e)
}

/// The Twilio reading of a (decoration-free, lower-case) host.
#[derive(Debug, Default)]
struct TwilioShape {
    /// Corrected host, if anything needed correcting.
    fixed: Option<String>,
    findings: Vec<(&'static str, String, String)>,
}

/// Whether the host is Twilio's (or a misspelling of it).
pub(crate) fn looks_like_twilio(domain: &str) -> bool {
    let host = DomainParts::parse(domain).host;
    host.split('.').any(|l| l == "twilio" || twilio_typo(l))
}

/// Checks the label structure of a Twilio host.
fn twilio_shape(host: &str) -> TwilioShape {
    let mut out = TwilioShape::default();
    let mut labels: Vec<String> = host.split('.').map(str::to_owned).collect();
    // The provider's name and TLD.
    let Some(tw) = labels.iter().rposition(|l| l == "twilio" || twilio_typo(l)) else {
        return out;
    };
    if labels[tw] != "twilio" {
        out.findings.push((
            DOMAIN_TYPO,
            format!("`{}` is a misspelling of `twilio`.", labels[tw]),
            String::new(),
        ));
        labels[tw] = "twilio".to_owned();
    }
    let tld: Vec<String> = labels.split_off(tw + 1);
    if tld != ["com"] {
        let shown = if tld.is_empty() {
            "nothing".to_owned()
        } else {
            format!("`.{}`", tld.join("."))
        };
        out.findings.push((
            DOMAIN_TYPO,
            format!("Twilio's domain ends in `.twilio.com`, not {shown}."),
            String::new(),
        ));
    }
    labels.truncate(tw);
    let before: Vec<String> = labels; // labels before `twilio`
                                      // Termination URIs: <trunk>.pstn[.<edge>].twilio.com
    if let Some(p) = before.iter().position(|l| l == "pstn") {
        let name = before
            .get(p.wrapping_sub(1))
            .filter(|_| p > 0)
            .cloned()
            .unwrap_or_else(|| "<name>".to_owned());
        out.findings.push((
            DOMAIN_PSTN_TERMINATION_URI,
            "A `*.pstn.twilio.com` host is an Elastic SIP Trunking termination URI, used to send calls; it is not a registrar and answers no REGISTER.".to_owned(),
            format!(
                "Register to a SIP Domain instead (Console: Voice > Manage > SIP domains), for example `{name}.sip.twilio.com`, with a credential list mapped under SIP Registration."
            ),
        ));
        out.fixed = None;
        return out;
    }
    // Find the `sip` label (or a misspelling of it).
    let sip = before.iter().rposition(|l| is_sip_label(l)).or_else(|| {
        before.iter().rposition(|l| sip_typo(l)).inspect(|&i| {
            out.findings.push((
                DOMAIN_TYPO,
                format!("`{}` is a misspelling of the `sip` label.", before[i]),
                String::new(),
            ))
        })
    });
    let (name, edge_labels): (Option<String>, Vec<String>) = match sip {
        Some(i) => {
            if i == 0 {
                out.findings.push((
                    DOMAIN_MISSING_SIP_LABEL,
                    "The domain has no name of its own: a Twilio SIP Domain is `<name>.sip.twilio.com`.".to_owned(),
                    "Put your SIP Domain's name in front, as shown in the Console under Voice > Manage > SIP domains.".to_owned(),
                ));
                (None, before[i + 1..].to_vec())
            } else {
                if i > 1 {
                    let extra = before[..i - 1].join(".");
                    out.findings.push((
                        DOMAIN_EXTRA_LABEL,
                        format!("`{extra}.` in front of the SIP Domain's name is not part of a Twilio registrar name."),
                        String::new(),
                    ));
                }
                (Some(before[i - 1].clone()), before[i + 1..].to_vec())
            }
        }
        None => {
            // <name>[.<edge>].twilio.com without `sip`.
            let (name, edges) = match before.len() {
                0 => (None, Vec::new()),
                1 => (Some(before[0].clone()), Vec::new()),
                _ => {
                    let last = &before[before.len() - 1];
                    if EDGES.contains(&last.as_str()) || closest_edge(last).is_some() {
                        (Some(before[before.len() - 2].clone()), vec![last.clone()])
                    } else {
                        (Some(last.clone()), Vec::new())
                    }
                }
            };
            let msg = match &name {
                Some(n) => format!("The `.sip.` label is missing: Twilio registrars are `{n}.sip.twilio.com`."),
                None => "The domain has no name of its own: a Twilio SIP Domain is `<name>.sip.twilio.com`.".to_owned(),
            };
            out.findings
                .push((DOMAIN_MISSING_SIP_LABEL, msg, String::new()));
            if before.len() > 2 || (before.len() == 2 && edges.is_empty()) {
                let keep = if edges.is_empty() { 1 } else { 2 };
                let extra = before[..before.len() - keep].join(".");
                out.findings.push((
                    DOMAIN_EXTRA_LABEL,
                    format!("`{extra}.` is not part of a Twilio registrar name."),
                    String::new(),
                ));
            }
            (name, edges)
        }
    };
    // Edge labels between `sip` and `twilio`.
    let mut edge: Option<String> = None;
    match edge_labels.as_slice() {
        [] => {}
        [e] if EDGES.contains(&e.as_str()) => edge = Some(e.clone()),
        [e] if e == "roaming" => out.findings.push((
            DOMAIN_UNKNOWN_EDGE,
            "The `roaming` edge is not available for SIP Domains.".to_owned(),
            "Drop the edge (`<name>.sip.twilio.com`) or name a real one such as `ashburn` or `dublin`.".to_owned(),
        )),
        [e] => match closest_edge(e) {
            Some(c) => {
                out.findings.push((
                    DOMAIN_UNKNOWN_EDGE,
                    format!("`{e}` is not a Twilio edge; did you mean `{c}`?"),
                    String::new(),
                ));
                edge = Some(c.to_owned());
            }
            None => out.findings.push((
                DOMAIN_UNKNOWN_EDGE,
                format!(
                    "`{e}` is not a Twilio edge (edges: {}).",
                    EDGES.iter().take(8).copied().collect::<Vec<_>>().join(", ")
                ),
                "Drop the edge label, or use one of Twilio's edges.".to_owned(),
            )),
        },
        many => {
            let known: Vec<&String> = many.iter().filter(|e| EDGES.contains(&e.as_str())).collect();
            edge = known.first().map(|e| (*e).clone());
            out.findings.push((
                DOMAIN_EXTRA_LABEL,
                format!("`{}` between `sip` and `twilio` is more than one edge label.", many.join(".")),
                String::new(),
            ));
        }
    }
    if let Some(n) = name {
        let fixed = match edge {
            Some(e) => format!("{n}.sip.{e}.twilio.com"),
            None => format!("{n}.sip.twilio.com"),
        };
        if fixed != host {
            out.fixed = Some(fixed);
        }
    }
    out
}

/// Checks a configured registrar domain.
pub fn validate_domain(domain: &str, profile: Profile) -> Vec<Finding> {
    let mut out = Vec::new();
    let push = |out: &mut Vec<Finding>, code, sev, msg: String, fix: String| {
        out.push(Finding::new(code, sev, "domain", msg, fix));
    };
    if domain.trim().is_empty() {
        push(
            &mut out,
            DOMAIN_EMPTY,
            Severity::Error,
            "The domain is empty.".into(),
            match profile {
                Profile::Twilio => "Set it to your SIP Domain, e.g. `acme.sip.twilio.com`.".into(),
                Profile::Generic => "Set it to the registrar's domain name.".into(),
            },
        );
        return out;
    }
    let d = dissect(domain);
    let bare = DomainParts::parse(domain);
    // What to tell people to type: the corrected name when there is one.
    let best = suggest_domain(domain).unwrap_or_else(|| bare.host.clone());
    let clean = |h: &str| h.to_owned();
    if d.outer_ws {
        push(
            &mut out,
            DOMAIN_WHITESPACE,
            Severity::Warning,
            "The domain starts or ends with white space (often a copy-paste slip).".into(),
            format!("Remove it: `{}`.", domain.trim()),
        );
    }
    if d.inner_ws {
        push(
            &mut out,
            DOMAIN_WHITESPACE,
            Severity::Error,
            "The domain contains white space, which no host name can.".into(),
            "Remove the spaces; a domain is one word of letters, digits, dots and hyphens.".into(),
        );
        return out;
    }
    if let Some(scheme) = d.scheme {
        let lower = scheme.to_ascii_lowercase();
        if lower == "sip" || lower == "sips" {
            push(
                &mut out,
                DOMAIN_SCHEME_PREFIX,
                Severity::Info,
                format!(
                    "`{scheme}:` makes this a SIP URI; the domain field expects the bare domain."
                ),
                format!(
                    "Use `{}` here (a URI field such as Asterisk's server_uri may keep `sip:`).",
                    clean(d.host)
                ),
            );
        } else {
            push(
                &mut out,
                DOMAIN_SCHEME_PREFIX,
                Severity::Error,
                format!("`{scheme}://` is a web address prefix: SIP is not HTTP, and no registrar is reached that way."),
                format!("Use the bare domain: `{}`.", best),
            );
        }
    }
    if let Some(user) = d.user {
        push(
            &mut out,
            DOMAIN_USER_PART,
            Severity::Error,
            format!(
                "`{user}@` in front of the domain is a user part; the registrar domain has none."
            ),
            format!(
                "Put `{user}` in the username, and `{}` in the domain.",
                best
            ),
        );
    }
    if let Some(rest) = d.rest {
        push(
            &mut out,
            DOMAIN_PATH,
            Severity::Error,
            format!("`{rest}` after the host is not part of a domain."),
            format!("Remove it: `{}`.", best),
        );
    }
    if let Some(p) = d.port {
        if p.parse::<u16>().map_or(true, |n| n == 0) {
            push(
                &mut out,
                DOMAIN_INVALID_CHARS,
                Severity::Error,
                format!("`{p}` is not a valid port."),
                "Give a port between 1 and 65535 (5060 for UDP/TCP, 5061 for TLS), or none.".into(),
            );
        }
    }
    let host_raw = d.host;
    if host_raw.ends_with('.') && !host_raw.trim_end_matches('.').is_empty() {
        push(
            &mut out,
            DOMAIN_TRAILING_DOT,
            Severity::Warning,
            "The domain ends with a dot. DNS accepts it, but TLS name checks and registrars that compare the domain as text do not.".into(),
            format!("Remove the trailing dot: `{}`.", best),
        );
    }
    let host = host_raw.trim_end_matches('.');
    if d.ipv6 || is_ip(host) {
        push(
            &mut out,
            DOMAIN_IP_LITERAL,
            if profile == Profile::Twilio { Severity::Error } else { Severity::Info },
            format!("`{host}` is an IP address, not a domain name."),
            match profile {
                Profile::Twilio => "Twilio finds your SIP Domain by its name, and TLS checks the certificate against it: register to `<name>.sip.twilio.com`.".into(),
                Profile::Generic => "Fine for a private registrar; use its DNS name if it has one, so TLS and SRV work.".into(),
            },
        );
        return out;
    }
    if host.chars().any(|c| c.is_ascii_uppercase()) {
        push(
            &mut out,
            DOMAIN_UPPERCASE,
            if profile == Profile::Twilio { Severity::Warning } else { Severity::Info },
            "The domain has upper-case letters. DNS ignores case, but some registrars and certificate checks compare it as text.".into(),
            format!("Write it in lower case: `{}`.", host.to_ascii_lowercase()),
        );
    }
    let lower = host.to_ascii_lowercase();
    if host.is_empty() {
        push(
            &mut out,
            DOMAIN_EMPTY,
            Severity::Error,
            "There is no host name in the domain.".into(),
            "Set the registrar's domain name.".into(),
        );
        return out;
    }
    // RFC 1035 §2.3.4: 63 octets a label, 255 on the wire, so 253 in text
    // (without the trailing dot).
    let long_label = lower.split('.').find(|l| l.len() > 63);
    if host.len() > 253 || long_label.is_some() {
        let msg = match long_label {
            Some(l) if host.len() <= 253 => format!(
                "The label `{}...` is {} characters long; DNS allows 63 in a label.",
                l.chars().take(20).collect::<String>(),
                l.len()
            ),
            _ => format!(
                "The domain is {} characters long; DNS allows 253 in a host name.",
                host.len()
            ),
        };
        push(
            &mut out,
            DOMAIN_TOO_LONG,
            Severity::Error,
            msg,
            "No registrar has such a name: check that the right value went into the domain field."
                .into(),
        );
        return out;
    }
    let bad_label = lower.split('.').find(|l| {
        l.is_empty()
            || l.starts_with('-')
            || l.ends_with('-')
            || !l
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    });
    if let Some(l) = bad_label {
        let why = if l.is_empty() {
            "an empty label (two dots in a row, or a leading dot)".to_owned()
        } else if l.starts_with('-') || l.ends_with('-') {
            format!("the label `{l}` starts or ends with a hyphen")
        } else {
            let c = l
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
                .unwrap_or('?');
            if c.is_ascii() {
                format!("the character `{c}`")
            } else {
                format!(
                    "a non-ASCII character (U+{:04X}), perhaps a look-alike letter",
                    c as u32
                )
            }
        };
        push(
            &mut out,
            DOMAIN_INVALID_CHARS,
            Severity::Error,
            format!("The domain has {why}, which no host name can have."),
            "Retype the domain by hand: letters, digits, dots and hyphens only.".into(),
        );
        return out;
    }
    let twilio_like = looks_like_twilio(&lower);
    match (profile, twilio_like) {
        (Profile::Twilio, false) => push(
            &mut out,
            DOMAIN_NOT_PROVIDER,
            Severity::Warning,
            format!("`{lower}` is not a Twilio host, but the profile is `twilio`."),
            "Use your SIP Domain (`<name>.sip.twilio.com`), or the `generic` profile for another registrar.".into(),
        ),
        (_, true) => {
            let shape = twilio_shape(&lower);
            let fixed = shape.fixed.clone().unwrap_or_else(|| lower.clone());
            for (code, msg, fix) in shape.findings {
                let fix = if fix.is_empty() { format!("Use `{fixed}`.") } else { fix };
                push(&mut out, code, Severity::Error, msg, fix);
            }
        }
        (Profile::Generic, false) => {}
    }
    out
}

/// Checks a REGISTER Request-URI against the configured domain.
pub fn validate_request_uri(request_uri: &str, domain: &str, profile: Profile) -> Vec<Finding> {
    let mut out = Vec::new();
    let d = dissect(request_uri);
    let uri_host = d.host.trim_end_matches('.').to_ascii_lowercase();
    let want = DomainParts::parse(domain).host;
    if let Some(user) = d.user {
        out.push(Finding::new(
            DOMAIN_USER_PART,
            if profile == Profile::Twilio { Severity::Error } else { Severity::Warning },
            "request_uri",
            format!("The REGISTER Request-URI has a user part (`{user}@`); RFC 3261 §10.2 says it names the domain only."),
            format!("Send `REGISTER sip:{want}` (in Asterisk: server_uri = sip:{want}; the user goes in client_uri)."),
        ));
    }
    if !want.is_empty() && uri_host != want {
        out.push(Finding::new(
            DOMAIN_REQUEST_URI_MISMATCH,
            Severity::Error,
            "request_uri",
            format!("The REGISTER Request-URI names `{uri_host}`, but the configured domain is `{want}`."),
            format!("Make the Request-URI `sip:{want}`: the registrar finds the domain by it."),
        ));
    }
    out
}

/// The closest valid Twilio registrar name for a mistyped or decorated one.
/// `None` when the input is already exact, or not a Twilio host.
pub fn suggest_domain(domain: &str) -> Option<String> {
    let d = dissect(domain);
    let host = d.host.trim_end_matches('.').to_ascii_lowercase();
    let valid_labels = !host.is_empty()
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if !valid_labels || !looks_like_twilio(&host) {
        return None;
    }
    let shape = twilio_shape(&host);
    if shape
        .findings
        .iter()
        .any(|(c, _, _)| *c == DOMAIN_PSTN_TERMINATION_URI)
    {
        return None;
    }
    let decorated = d.scheme.is_some()
        || d.user.is_some()
        || d.rest.is_some()
        || d.outer_ws
        || d.host.ends_with('.')
        || d.host.chars().any(|c| c.is_ascii_uppercase());
    let fixed = shape.fixed.unwrap_or_else(|| host.clone());
    (decorated || fixed != host).then_some(fixed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dissects() {
        let d = dissect(" https://user@Acme.sip.twilio.com.:5061/path ");
        assert_eq!(d.scheme, Some("https"));
        assert_eq!(d.user, Some("user"));
        assert_eq!(d.host, "Acme.sip.twilio.com.");
        assert_eq!(d.port, Some("5061"));
        assert_eq!(d.rest, Some("/path"));
        assert!(d.outer_ws);
        let d = dissect("[2001:db8::1]:5060");
        assert!(d.ipv6);
        assert_eq!(d.host, "2001:db8::1");
        assert_eq!(d.port, Some("5060"));
    }
}
