//! One-shot checks: an OPTIONS probe per transport, and the test REGISTER
//! (challenge answered, 423 retried with Min-Expires, granted expiry and
//! our binding read from the 200 OK, then Expires: 0). Every message sent
//! and received goes through an [`Engine`]'s raw-SIP observation, so the
//! verdict is the engine's diagnosis, the same one a PBX module would get.
use super::dns::{DnsError, Resolver};
use super::exchange::{exchange, tls_config, Endpoint, ExchangeError, TlsTarget};
use crate::core::{
    Cause, Diagnosis, Direction, Engine, EngineConfig, Observation, ProbeResult, RegState,
    TransportErrorKind, TrunkConfig,
};
use crate::sip::build::{self, RequestContext};
use crate::sip::digest::DigestSession;
use crate::sip::uri::split_host_port;
use crate::sip::{self, Message};
use serde::Serialize;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

/// How a check runs.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// How long one request may wait for its final response (default 8 s).
    pub timeout: Duration,
    /// Stay registered after a successful test REGISTER instead of ending
    /// with Expires: 0 (default false).
    pub stay_registered: bool,
    /// The User-Agent header.
    pub user_agent: String,
    /// CA certificates (PEM) to trust for TLS instead of the system's
    /// store, for private registrars.
    pub ca_file: Option<std::path::PathBuf>,
    /// The DNS server to ask; none: the system's (`/etc/resolv.conf`).
    pub nameserver: Option<std::net::SocketAddr>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            timeout: Duration::from_secs(8),
            stay_registered: false,
            user_agent: format!("regwatch/{}", env!("CARGO_PKG_VERSION")),
            ca_file: None,
            nameserver: None,
        }
    }
}

impl CheckOptions {
    /// Whether `ca_file` (if any) can be used: an error naming the file
    /// when it is missing, unreadable, not a regular file or holds no
    /// certificate. Callers report it as a configuration error before
    /// any check; a check run anyway reports it as a TLS failure.
    pub fn check_ca_file(&self) -> Result<(), String> {
        match &self.ca_file {
            Some(p) => tls_config(Some(p)).map(|_| ()),
            None => Ok(()),
        }
    }

    fn resolver(&self) -> Resolver {
        match self.nameserver {
            Some(ns) => Resolver::with_nameserver(ns),
            None => Resolver::system(),
        }
    }

    fn address(&self, ep: &Endpoint) -> Result<std::net::SocketAddr, ExchangeError> {
        self.resolver()
            .addresses(&ep.host, ep.port)
            .map(|a| a[0])
            .map_err(|e| ExchangeError::Transport(TransportErrorKind::Dns, e.to_string()))
    }
}

/// Where a trunk's requests go, RFC 3263: the outbound proxy if it has
/// one, else its SIP domain; SRV (and NAPTR when no transport is
/// configured) when no port is configured, else A/AAAA. In the order to
/// try; the first is what the checks use.
pub fn locate(cfg: &TrunkConfig, opts: &CheckOptions) -> Result<Vec<Endpoint>, DnsError> {
    let (host, port) = match cfg.proxy.as_deref() {
        Some(p) => split_host_port(p),
        None => {
            let (h, p) = split_host_port(cfg.domain.trim());
            (h, p.or(cfg.port))
        }
    };
    let found = opts.resolver().locate(host, cfg.transport, port)?;
    Ok(found
        .into_iter()
        .map(|l| Endpoint {
            host: l.addr.ip().to_string(),
            port: l.addr.port(),
            transport: l.transport,
        })
        .collect())
}

/// The TLS target for `domain`, when the endpoint is TLS.
fn tls_for(
    ep: &Endpoint,
    domain: &str,
    opts: &CheckOptions,
) -> Result<Option<TlsTarget>, ExchangeError> {
    if ep.transport != crate::validate::Transport::Tls {
        return Ok(None);
    }
    let config = tls_config(opts.ca_file.as_deref())
        .map_err(|e| ExchangeError::Transport(TransportErrorKind::Tls, e))?;
    Ok(Some(TlsTarget {
        server_name: domain.to_owned(),
        config,
    }))
}

fn random_hex() -> String {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    format!("{:016x}", h.finish())
}

/// What one OPTIONS probe found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OptionsOutcome {
    /// Where it went.
    pub endpoint: String,
    /// What came of it.
    pub result: ProbeResult,
    /// The reason phrase of the answer, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The `Server` or `User-Agent` of the answer, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Round trip in milliseconds, when answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// What went wrong, in words, when unanswered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl OptionsOutcome {
    /// In a few words: `200 OK in 0.3 ms`, the error, or `no answer`.
    /// Safe for a terminal: control characters the registrar put in its
    /// reason phrase are dropped ([`crate::core::terminal_safe`]).
    pub fn summary(&self) -> String {
        let s = match (self.result.code(), &self.error) {
            (Some(c), _) => format!(
                "{c} {} in {:.1} ms",
                self.reason.as_deref().unwrap_or(""),
                self.rtt_ms.unwrap_or(0.0)
            ),
            (None, Some(e)) => e.clone(),
            (None, None) => "no answer".to_owned(),
        };
        crate::core::terminal_safe(&s).into_owned()
    }
}

/// The diagnosis of a trunk whose registrar's name does not resolve.
pub fn dns_failure(e: &DnsError, profile: crate::validate::Profile) -> Diagnosis {
    let mut d = crate::core::diagnosis::explain(Cause::DnsFailure, profile);
    d.summary = format!("the name {} does not resolve.", e.name);
    d.evidence = vec![format!("DNS: {e}")];
    d
}

fn error_result(e: &ExchangeError) -> ProbeResult {
    match e {
        ExchangeError::Timeout => ProbeResult::Timeout,
        ExchangeError::Transport(kind, _) => ProbeResult::TransportError { kind: *kind },
        ExchangeError::Unsupported(_) => ProbeResult::TransportError {
            kind: TransportErrorKind::Unreachable,
        },
    }
}

/// Sends one OPTIONS for `domain` (as `user`) to `ep` and waits for the
/// final answer.
pub fn options(ep: &Endpoint, domain: &str, user: &str, opts: &CheckOptions) -> OptionsOutcome {
    let mut out = OptionsOutcome {
        endpoint: ep.to_string(),
        result: ProbeResult::Timeout,
        reason: None,
        server: None,
        rtt_ms: None,
        error: None,
    };
    let addr = match opts.address(ep) {
        Ok(a) => a,
        Err(e) => {
            out.result = error_result(&e);
            out.error = Some(e.to_string());
            return out;
        }
    };
    let tls = match tls_for(ep, domain, opts) {
        Ok(t) => t,
        Err(e) => {
            out.result = error_result(&e);
            out.error = Some(e.to_string());
            return out;
        }
    };
    let id = random_hex();
    let branch = format!("z9hG4bK-rw{id}");
    let build = |local: &str| {
        build::options(&RequestContext {
            domain,
            user,
            transport: ep.transport,
            local,
            call_id: &format!("rw-{id}"),
            from_tag: &id[..8],
            branch: &branch["z9hG4bK".len()..],
            cseq: 1,
            user_agent: &opts.user_agent,
        })
    };
    match exchange(ep, addr, opts.timeout, &branch, tls.as_ref(), &build) {
        Ok((_, x)) => {
            out.rtt_ms = Some(x.rtt.as_secs_f64() * 1000.0);
            if let Ok(m) = sip::parse(&x.response) {
                let code = m.status().unwrap_or(0);
                out.result = ProbeResult::Response { code };
                if let sip::StartLine::Response { reason, .. } = m.start {
                    out.reason = Some(reason.to_owned());
                }
                out.server = m.server().or(m.user_agent()).map(str::to_owned);
            }
        }
        Err(e) => {
            out.result = error_result(&e);
            out.error = Some(e.to_string());
        }
    }
    out
}

/// One request of the test REGISTER and its answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RegisterStep {
    /// What was sent, in one line (`REGISTER Expires: 600`, with
    /// `+ Proxy-Authorization` when it carried credentials). Never the
    /// credentials themselves.
    pub request: String,
    /// The final status code, or None when none came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// The reason phrase, or what went wrong.
    pub reason: String,
    /// Round trip in milliseconds, when answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// What the answer meant for the test.
    pub note: String,
}

/// The result of a test REGISTER.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RegisterCheck {
    /// Where it went.
    pub endpoint: String,
    /// Every request and answer, in order.
    pub steps: Vec<RegisterStep>,
    /// The registration state the test reached (before deregistering).
    pub state: RegState,
    /// The cause (before deregistering).
    pub cause: Cause,
    /// The expiry granted, when registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub granted_expires: Option<u32>,
    /// Whether the 200 OK listed our Contact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_bound: Option<bool>,
    /// Whether the test binding was removed again (Expires: 0 answered 2xx).
    pub deregistered: bool,
    /// The engine's diagnosis of the registration.
    pub diagnosis: Diagnosis,
}

/// Runs the test REGISTER for `cfg` against `ep` (the registrar, or the
/// outbound proxy): REGISTER without credentials, the digest answer to a
/// 401/407 (once more on `stale=true`), one retry with Min-Expires after a
/// 423, then, unless asked to stay, Expires: 0 to leave nothing behind.
pub fn test_register(cfg: &TrunkConfig, ep: &Endpoint, opts: &CheckOptions) -> RegisterCheck {
    let start = Instant::now();
    let now = || start.elapsed().as_millis() as u64;
    let mut engine = Engine::new(EngineConfig::default(), 0, 0);
    let mut tcfg = cfg.clone();
    tcfg.transport = Some(ep.transport);
    let trunk = engine.add_trunk(0, tcfg);
    let domain = cfg.domain.trim().trim_end_matches('.').to_owned();
    let user = cfg.username.clone();
    let auth_user = cfg.auth_user().to_owned();
    let password = cfg.password.as_ref().map(|p| p.expose().to_owned());
    let requested = cfg.expires.unwrap_or(3600);
    let mut steps: Vec<RegisterStep> = Vec::new();
    let finish = |engine: &Engine, steps: Vec<RegisterStep>, dereg: bool| {
        let id = engine.find_trunk(&cfg.name);
        let (state, cause) = id
            .and_then(|id| engine.trunk_state(id).ok())
            .unwrap_or((RegState::Unknown, Cause::Unknown));
        let snap = id.and_then(|id| engine.snapshot(id).ok());
        let diagnosis = id
            .and_then(|id| engine.diagnose(id).ok())
            .unwrap_or_else(|| crate::core::diagnosis::render(cause, &Default::default()));
        RegisterCheck {
            endpoint: ep.to_string(),
            steps,
            state,
            cause,
            granted_expires: snap.as_ref().and_then(|s| s.granted_expires),
            contact_bound: None,
            deregistered: dereg,
            diagnosis,
        }
    };
    let Ok(trunk) = trunk else {
        return finish(&engine, steps, false);
    };
    let addr = match opts.address(ep) {
        Ok(a) => a,
        Err(e) => {
            let detail = e.to_string();
            let _ = engine.handle_observation(
                now(),
                trunk,
                Observation::TransportError {
                    transport: Some(ep.transport),
                    kind: TransportErrorKind::Dns,
                    detail: Some(&ep.host),
                },
            );
            steps.push(RegisterStep {
                request: "resolve".to_owned(),
                code: None,
                reason: detail,
                rtt_ms: None,
                note: format!("{} does not resolve", ep.host),
            });
            return finish(&engine, steps, false);
        }
    };

    let tls = tls_for(ep, &domain, opts);
    let id = random_hex();
    let call_id = format!("rw-{id}");
    let tag = id[..8].to_owned();
    let mut cseq = 0u32;
    let mut session: Option<(DigestSession, &'static str)> = None;
    let mut expires = requested;
    let mut retried_423 = false;
    let mut stale_retries = 0;
    let mut bound_at_200 = None;
    let mut registered = false;

    // Sends one REGISTER; feeds both messages to the engine; returns the
    // parsed answer (owned bytes) or the error.
    let mut send = |engine: &mut Engine,
                    steps: &mut Vec<RegisterStep>,
                    session: &mut Option<(DigestSession, &'static str)>,
                    expires: u32|
     -> Option<Vec<u8>> {
        cseq += 1;
        let branch_id = format!("-rw{}-{cseq}", &id[..10]);
        let branch = format!("z9hG4bK{branch_id}");
        let uri = format!("sip:{domain}");
        let auth = session.as_mut().map(|(s, h)| {
            let cnonce = random_hex();
            (*h, s.authorize("REGISTER", &uri, &cnonce))
        });
        let build = |local: &str| {
            build::register(
                &RequestContext {
                    domain: &domain,
                    user: &user,
                    transport: ep.transport,
                    local,
                    call_id: &call_id,
                    from_tag: &tag,
                    branch: &branch_id,
                    cseq,
                    user_agent: &opts.user_agent,
                },
                expires,
                auth.as_ref().map(|(h, v)| (*h, v.as_str())),
            )
        };
        let what = match &auth {
            Some((h, _)) => format!("REGISTER Expires: {expires} + {h}"),
            None => format!("REGISTER Expires: {expires}"),
        };
        let result = match &tls {
            Ok(t) => exchange(ep, addr, opts.timeout, &branch, t.as_ref(), &build),
            Err(e) => Err(e.clone()),
        };
        match result {
            Ok((request, x)) => {
                let _ = engine.observe_sip(
                    now(),
                    Direction::Sent,
                    Some(ep.transport),
                    request.as_bytes(),
                );
                let _ =
                    engine.observe_sip(now(), Direction::Received, Some(ep.transport), &x.response);
                let (code, reason) = match sip::parse(&x.response) {
                    Ok(Message {
                        start: sip::StartLine::Response { code, reason },
                        ..
                    }) => (Some(code), reason.to_owned()),
                    _ => (None, "unreadable answer".to_owned()),
                };
                steps.push(RegisterStep {
                    request: what,
                    code,
                    reason,
                    rtt_ms: Some(x.rtt.as_secs_f64() * 1000.0),
                    note: String::new(),
                });
                Some(x.response)
            }
            Err(e) => {
                // The engine learns of the attempt and its failure.
                let sent = build("0.0.0.0:0");
                let _ =
                    engine.observe_sip(now(), Direction::Sent, Some(ep.transport), sent.as_bytes());
                let obs = match &e {
                    ExchangeError::Timeout => Observation::RegisterTimeout {
                        transport: Some(ep.transport),
                    },
                    ExchangeError::Transport(kind, d) => Observation::TransportError {
                        transport: Some(ep.transport),
                        kind: *kind,
                        detail: Some(d),
                    },
                    ExchangeError::Unsupported(_) => Observation::TransportError {
                        transport: Some(ep.transport),
                        kind: TransportErrorKind::Unreachable,
                        detail: Some("transport not supported by this build"),
                    },
                };
                let _ = engine.handle_observation(now(), trunk, obs);
                steps.push(RegisterStep {
                    request: what,
                    code: None,
                    reason: e.to_string(),
                    rtt_ms: None,
                    note: String::new(),
                });
                None
            }
        }
    };

    for _ in 0..8 {
        let Some(resp) = send(&mut engine, &mut steps, &mut session, expires) else {
            break;
        };
        let Ok(m) = sip::parse(&resp) else { break };
        let code = m.status().unwrap_or(0);
        let note = |steps: &mut Vec<RegisterStep>, n: String| {
            if let Some(s) = steps.last_mut() {
                s.note = n;
            }
        };
        match code {
            401 | 407 => {
                let (challenge, header) = if code == 407 {
                    (m.proxy_authenticate(), "Proxy-Authorization")
                } else {
                    (m.www_authenticate(), "Authorization")
                };
                let Some(ch) = challenge else {
                    note(
                        &mut steps,
                        "a challenge without a usable digest header".to_owned(),
                    );
                    break;
                };
                let Some(pw) = password.as_deref() else {
                    note(
                        &mut steps,
                        "challenged, but no password is configured".to_owned(),
                    );
                    break;
                };
                match &mut session {
                    Some((s, _)) if ch.stale && stale_retries == 0 => {
                        stale_retries += 1;
                        if s.update(&ch).is_err() {
                            break;
                        }
                        note(&mut steps, "stale nonce: answering the new one".to_owned());
                    }
                    Some(_) => {
                        note(
                            &mut steps,
                            "challenged again after credentials: refused".to_owned(),
                        );
                        break;
                    }
                    None => match DigestSession::new(&auth_user, pw, &ch) {
                        Ok(s) => {
                            note(
                                &mut steps,
                                format!(
                                    "challenge, realm \"{}\": answering with digest",
                                    ch.realm.unwrap_or("")
                                ),
                            );
                            session = Some((s, header));
                        }
                        Err(e) => {
                            note(&mut steps, format!("cannot answer the challenge: {e}"));
                            break;
                        }
                    },
                }
            }
            423 if !retried_423 => {
                retried_423 = true;
                match m.min_expires() {
                    Some(min) if min > expires => {
                        note(
                            &mut steps,
                            format!("interval too brief: retrying with Min-Expires {min}"),
                        );
                        expires = min;
                    }
                    _ => {
                        note(&mut steps, "423 without a usable Min-Expires".to_owned());
                        break;
                    }
                }
            }
            200..=299 => {
                let bound = engine
                    .snapshot(trunk)
                    .map(|s| s.state == RegState::Registered && s.cause != Cause::ContactNotBound)
                    .unwrap_or(false);
                bound_at_200 = Some(bound);
                registered = true;
                let granted = engine.snapshot(trunk).ok().and_then(|s| s.granted_expires);
                note(
                    &mut steps,
                    match granted {
                        Some(g) if g != expires => {
                            format!("registered: asked {expires} s, granted {g} s")
                        }
                        Some(g) => format!("registered for {g} s"),
                        None => "registered".to_owned(),
                    },
                );
                break;
            }
            _ => {
                note(&mut steps, "refused".to_owned());
                break;
            }
        }
    }

    let mut check = finish(&engine, steps.clone(), false);
    check.contact_bound = bound_at_200;
    if registered && !opts.stay_registered {
        // Leave nothing behind: Expires: 0 (answering a challenge again if
        // the registrar wants one).
        let mut dereg_steps = Vec::new();
        let mut done = false;
        for _ in 0..3 {
            let Some(resp) = send(&mut engine, &mut dereg_steps, &mut session, 0) else {
                break;
            };
            let Ok(m) = sip::parse(&resp) else { break };
            match m.status() {
                Some(200..=299) => {
                    done = true;
                    if let Some(s) = dereg_steps.last_mut() {
                        s.note = "deregistered: the test binding is gone".to_owned();
                    }
                    break;
                }
                Some(401 | 407) => {
                    let ch = if m.status() == Some(407) {
                        m.proxy_authenticate()
                    } else {
                        m.www_authenticate()
                    };
                    let updated = match (ch, session.as_mut()) {
                        (Some(ch), Some((s, _))) => s.update(&ch).is_ok(),
                        _ => false,
                    };
                    if !updated {
                        break;
                    }
                }
                _ => break,
            }
        }
        check.steps.extend(dereg_steps);
        check.deregistered = done;
    }
    check
}

/// A live check of one configured trunk, as a PBX console runs it on
/// request: where its requests go (RFC 3263 or the outbound proxy), one
/// OPTIONS there, and the test REGISTER with its credentials (ended with
/// Expires: 0), summed up in one diagnosis.
#[derive(Clone, Debug, Serialize)]
pub struct TrunkCheck {
    /// The trunk's name.
    pub trunk: String,
    /// Where the requests went (`host:port/transport`), when located.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Why it could not be located.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_error: Option<String>,
    /// The OPTIONS probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<OptionsOutcome>,
    /// The test REGISTER.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub register: Option<RegisterCheck>,
    /// The verdict.
    pub diagnosis: Diagnosis,
}

/// Runs [`TrunkCheck`] for `cfg` (blocking: DNS, then at most two
/// exchanges of `opts.timeout` each, the REGISTER with its challenge).
pub fn trunk_check(cfg: &TrunkConfig, opts: &CheckOptions) -> TrunkCheck {
    let mut out = TrunkCheck {
        trunk: cfg.name.to_string(),
        endpoint: None,
        dns_error: None,
        options: None,
        register: None,
        diagnosis: crate::core::diagnosis::explain(Cause::Unknown, cfg.effective_profile()),
    };
    let ep = match locate(cfg, opts) {
        Ok(eps) => eps.into_iter().next(),
        Err(e) => {
            out.dns_error = Some(e.to_string());
            out.diagnosis = dns_failure(&e, cfg.effective_profile());
            return out;
        }
    };
    let Some(ep) = ep else {
        out.dns_error = Some("no server found".into());
        out.diagnosis = crate::core::diagnosis::explain(Cause::DnsFailure, cfg.effective_profile());
        return out;
    };
    out.endpoint = Some(ep.to_string());
    out.options = Some(options(&ep, cfg.domain.trim(), &cfg.username, opts));
    let r = test_register(cfg, &ep, opts);
    out.diagnosis = r.diagnosis.clone();
    out.register = Some(r);
    out
}

impl TrunkCheck {
    /// The check as console text: each step, then the diagnosis with its
    /// evidence and, unless healthy, what to do. Safe for a terminal: what
    /// the registrar sent (reason phrases, `Server`, `X-Twilio-Error`)
    /// loses its control characters.
    pub fn text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "Live check of trunk {}", self.trunk);
        match (&self.endpoint, &self.dns_error) {
            (Some(e), _) => {
                let _ = writeln!(s, "  Target: {e}");
            }
            (None, Some(e)) => {
                let _ = writeln!(s, "  Target: not found ({e})");
            }
            (None, None) => {}
        }
        if let Some(o) = &self.options {
            let _ = writeln!(s, "  OPTIONS: {}", o.summary());
        }
        if let Some(r) = &self.register {
            s.push_str("  Test REGISTER:\n");
            for st in &r.steps {
                let code = st.code.map_or_else(|| "-".to_owned(), |c| c.to_string());
                let _ = writeln!(s, "    {} -> {code} {} {}", st.request, st.reason, st.note);
            }
        }
        let d = &self.diagnosis;
        let _ = writeln!(s, "  Diagnosis: {}", d.cause);
        let _ = writeln!(s, "  {}", d.summary);
        for e in &d.evidence {
            let _ = writeln!(s, "    - {e}");
        }
        if !matches!(d.cause, Cause::Healthy | Cause::ExpiryDrift) {
            s.push_str("  What to do:\n");
            for (i, r) in d.remediation.iter().enumerate() {
                let _ = writeln!(s, "    {}. {r}", i + 1);
            }
        }
        crate::core::terminal_safe_block(&s).into_owned()
    }
}
