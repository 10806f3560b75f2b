//! The test REGISTER and the query REGISTER, over one flow: one socket
//! (or connection), one Contact, one Call-ID for the whole exchange, so
//! that the final `Expires: 0` removes exactly the binding the first
//! REGISTER made (RFC 3261 §10.2.2 matches bindings by Contact URI); every
//! message observed by an [`Engine`], whose verdict the check reports.
//!
//! The registrar's own 200 OK is the proof of what it holds: the
//! bindings it lists are kept, the test binding is "removed" only when
//! the 200 to `Expires: 0` no longer lists it. The query REGISTER (no
//! Contact, RFC 3261 §10.2.3) answers a challenge like the test REGISTER
//! and lists the AOR's bindings without adding or removing any.
use super::target::{random_hex, tls_for, CheckOptions};
use crate::core::{
    Cause, Diagnosis, Direction, Engine, EngineConfig, Observation, RegState, TransportErrorKind,
    TrunkConfig, TrunkId,
};
use crate::driver::exchange::{Endpoint, ExchangeError, Session, TlsTarget};
use crate::sip::build::{self, RequestContext};
use crate::sip::digest::DigestSession;
use crate::sip::uri::{same_binding, uri_binding};
use crate::sip::{self, Message};
use serde::Serialize;
use std::net::SocketAddr;
use std::time::Instant;

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

/// A binding a registrar listed in a 200 OK to REGISTER.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Binding {
    /// The Contact URI.
    pub uri: String,
    /// Its remaining lifetime (`;expires=`, else the answer's `Expires`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<u32>,
    /// Whether it is the check's own test binding.
    pub ours: bool,
}

/// The result of a test REGISTER or a query REGISTER.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RegisterCheck {
    /// Where it went.
    pub endpoint: String,
    /// `register` (the test REGISTER) or `query` (no Contact: a list of
    /// the bindings, none added).
    pub mode: &'static str,
    /// The Contact the test REGISTER bound (for every request of it:
    /// the same socket, hence the same address). None for a query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// Every request and answer, in order.
    pub steps: Vec<RegisterStep>,
    /// The registration state the test reached (before deregistering);
    /// for a query, `unknown` unless it failed.
    pub state: RegState,
    /// The cause (before deregistering).
    pub cause: Cause,
    /// The expiry granted, when registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub granted_expires: Option<u32>,
    /// The expiry the registrar's 423 made the test ask for, when it
    /// registered only after raising it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raised_expires: Option<u32>,
    /// Whether the 200 OK listed our Contact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_bound: Option<bool>,
    /// The bindings the registrar's 200 OK listed for the AOR (to the
    /// test REGISTER, or to the query), ours marked.
    pub bindings: Vec<Binding>,
    /// The bindings the 200 OK to `Expires: 0` still listed, when it was
    /// answered so (ours must not be among them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bindings_after: Option<Vec<Binding>>,
    /// Whether the test binding is gone: the 200 to `Expires: 0` no
    /// longer lists it.
    pub deregistered: bool,
    /// The engine's diagnosis of the registration.
    pub diagnosis: Diagnosis,
}

impl RegisterCheck {
    /// In one line, what the registrar holds now and whether the check
    /// left anything there: the line a console prints after the steps.
    pub fn outcome(&self) -> Option<String> {
        let list = |b: &[Binding]| {
            b.iter()
                .map(|b| match b.expires {
                    Some(e) => format!("{} ({e} s)", b.uri),
                    None => b.uri.clone(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        if self.mode == "query" {
            let ok = self.steps.last().and_then(|s| s.code) == Some(200);
            return ok.then(|| match self.bindings.len() {
                0 => "the registrar holds no binding for this AOR".to_owned(),
                n => format!(
                    "the registrar holds {n} binding{} for this AOR: {}",
                    if n == 1 { "" } else { "s" },
                    list(&self.bindings)
                ),
            });
        }
        let contact = self.contact.as_deref()?;
        self.contact_bound?;
        let mut s = String::new();
        if let Some(e) = self.raised_expires {
            s.push_str(&format!(
                "registered only after raising Expires to {e} (423 Interval Too Brief); "
            ));
        }
        match (&self.bindings_after, self.deregistered) {
            (Some(after), true) => s.push_str(&format!(
                "test binding {contact} removed: the registrar's answer to Expires: 0 no longer lists it{}",
                if after.is_empty() {
                    String::new()
                } else {
                    format!(" (it still holds {})", list(after))
                }
            )),
            (Some(_), false) => s.push_str(&format!(
                "test binding {contact} NOT removed: the registrar still lists it after Expires: 0"
            )),
            (None, _) if self.steps.iter().any(|s| s.request.contains("Expires: 0")) => s.push_str(
                &format!("test binding {contact} may remain: Expires: 0 was not answered 200"),
            ),
            (None, _) => s.push_str(&format!("test binding {contact} left registered")),
        }
        Some(s)
    }
}

/// The bindings a 2xx to REGISTER lists, ours (`contact`) marked.
fn bindings_of(m: &Message<'_>, contact: Option<&str>) -> Vec<Binding> {
    let key = contact.map(uri_binding);
    let default = m.expires();
    m.contacts_iter()
        .filter(|c| c.addr.uri != "*")
        .map(|c| Binding {
            uri: c.addr.uri.to_owned(),
            expires: c.expires.or(default),
            ours: key.is_some_and(|k| same_binding(c.addr.uri, k)),
        })
        .collect()
}

/// What a request of the flow asks: a binding for so many seconds (0
/// removes it), or the query.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ask {
    Bind(u32),
    Query,
}

/// One flow's state: the session, its ids, the engine that observes it.
struct Flow<'a> {
    ep: &'a Endpoint,
    opts: &'a CheckOptions,
    domain: String,
    user: String,
    engine: Engine,
    trunk: TrunkId,
    start: Instant,
    session: Option<Session>,
    addr: SocketAddr,
    tls: Result<Option<TlsTarget>, ExchangeError>,
    id: String,
    call_id: String,
    cseq: u32,
    auth: Option<(DigestSession, &'static str)>,
}

impl Flow<'_> {
    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// The session, opened on first use (its connect and handshake count
    /// against the first request's deadline).
    fn session(&mut self, deadline: Instant) -> Result<&mut Session, ExchangeError> {
        if self.session.is_none() {
            let tls = self.tls.clone()?;
            self.session = Some(Session::open(self.ep, self.addr, deadline, tls.as_ref())?);
        }
        self.session
            .as_mut()
            .ok_or(ExchangeError::Unsupported("no session"))
    }

    /// Sends one request, feeds both messages to the engine, records the
    /// step; the answer's bytes, or None when none came.
    fn send(&mut self, steps: &mut Vec<RegisterStep>, ask: Ask) -> Option<Vec<u8>> {
        self.cseq += 1;
        let branch_id = format!("-rw{}-{}", &self.id[..10], self.cseq);
        let branch = format!("z9hG4bK{branch_id}");
        let uri = format!("sip:{}", self.domain);
        let auth = self.auth.as_mut().map(|(s, h)| {
            let cnonce = random_hex();
            (*h, s.authorize("REGISTER", &uri, &cnonce))
        });
        let what = match (ask, &auth) {
            (Ask::Bind(e), Some((h, _))) => format!("REGISTER Expires: {e} + {h}"),
            (Ask::Bind(e), None) => format!("REGISTER Expires: {e}"),
            (Ask::Query, Some((h, _))) => format!("REGISTER (query, no Contact) + {h}"),
            (Ask::Query, None) => "REGISTER (query, no Contact)".to_owned(),
        };
        let (domain, user, call_id, tag) = (
            self.domain.clone(),
            self.user.clone(),
            self.call_id.clone(),
            self.id[..8].to_owned(),
        );
        let (transport, cseq, ua) = (self.ep.transport, self.cseq, self.opts.user_agent.clone());
        let build = |local: &str| {
            let c = RequestContext {
                domain: &domain,
                user: &user,
                transport,
                local,
                call_id: &call_id,
                from_tag: &tag,
                branch: &branch_id,
                cseq,
                user_agent: &ua,
            };
            let a = auth.as_ref().map(|(h, v)| (*h, v.as_str()));
            match ask {
                Ask::Bind(e) => build::register(&c, e, a),
                Ask::Query => build::register_query_with(&c, a),
            }
        };
        let deadline = Instant::now() + self.opts.timeout;
        let result = self.session(deadline).and_then(|s| {
            let request = build(s.local());
            s.transact(&request, &branch, deadline)
                .map(|x| (request, x))
        });
        let now = self.now();
        match result {
            Ok((request, x)) => {
                let _ = self.engine.observe_sip(
                    now,
                    Direction::Sent,
                    Some(transport),
                    request.as_bytes(),
                );
                let _ =
                    self.engine
                        .observe_sip(now, Direction::Received, Some(transport), &x.response);
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
                    note: if x.retransmissions > 0 {
                        format!("answered after {} retransmissions", x.retransmissions)
                    } else {
                        String::new()
                    },
                });
                Some(x.response)
            }
            Err(e) => {
                // The engine learns of the attempt and its failure.
                let local = self
                    .session
                    .as_ref()
                    .map_or_else(|| "0.0.0.0:0".to_owned(), |s| s.local().to_owned());
                let sent = build(&local);
                let _ =
                    self.engine
                        .observe_sip(now, Direction::Sent, Some(transport), sent.as_bytes());
                let detail = format!("{}: {e}", self.ep);
                let obs = match &e {
                    ExchangeError::Timeout => Observation::RegisterTimeout {
                        transport: Some(transport),
                    },
                    ExchangeError::Transport(kind, _) => Observation::TransportError {
                        transport: Some(transport),
                        kind: *kind,
                        detail: Some(&detail),
                    },
                    ExchangeError::Unsupported(_) => Observation::TransportError {
                        transport: Some(transport),
                        kind: TransportErrorKind::Unreachable,
                        detail: Some("transport not supported by this build"),
                    },
                };
                let _ = self.engine.handle_observation(now, self.trunk, obs);
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
    }
}

fn note(steps: &mut [RegisterStep], n: String) {
    if let Some(s) = steps.last_mut() {
        s.note = if s.note.is_empty() {
            n
        } else {
            format!("{n}; {}", s.note)
        };
    }
}

/// Runs the test REGISTER for `cfg` against `ep` (the registrar, or the
/// outbound proxy): REGISTER without credentials, the digest answer to a
/// 401/407 (once more on `stale=true`), one retry with Min-Expires after a
/// 423, then, unless asked to stay, Expires: 0 to leave nothing behind;
/// all from one socket with one Contact and one Call-ID.
pub fn test_register(cfg: &TrunkConfig, ep: &Endpoint, opts: &CheckOptions) -> RegisterCheck {
    run(cfg, ep, opts, Ask::Bind(cfg.expires.unwrap_or(3600)))
}

/// Runs the query REGISTER for `cfg` against `ep`: a REGISTER without
/// Contact (RFC 3261 §10.2.3), its challenge answered with the trunk's
/// credentials, which proves them and lists the bindings the registrar
/// holds for the AOR without adding, changing or removing any.
pub fn query_register(cfg: &TrunkConfig, ep: &Endpoint, opts: &CheckOptions) -> RegisterCheck {
    run(cfg, ep, opts, Ask::Query)
}

fn run(cfg: &TrunkConfig, ep: &Endpoint, opts: &CheckOptions, first: Ask) -> RegisterCheck {
    let mut engine = Engine::new(EngineConfig::default(), 0, 0);
    let mut tcfg = cfg.clone();
    tcfg.transport = Some(ep.transport);
    let trunk = engine.add_trunk(0, tcfg);
    let domain = cfg.domain.trim().trim_end_matches('.').to_owned();
    let password = cfg.password.as_ref().map(|p| p.expose().to_owned());
    let mode = if first == Ask::Query {
        "query"
    } else {
        "register"
    };
    let mut out = RegisterCheck {
        endpoint: ep.to_string(),
        mode,
        contact: None,
        steps: Vec::new(),
        state: RegState::Unknown,
        cause: Cause::Unknown,
        granted_expires: None,
        raised_expires: None,
        contact_bound: None,
        bindings: Vec::new(),
        bindings_after: None,
        deregistered: false,
        diagnosis: crate::core::diagnosis::render(Cause::Unknown, &Default::default()),
    };
    let Ok(trunk) = trunk else {
        return out;
    };
    let start = Instant::now();
    let addr = match opts.address(ep) {
        Ok(a) => a,
        Err(e) => {
            let _ = engine.handle_observation(
                0,
                trunk,
                Observation::TransportError {
                    transport: Some(ep.transport),
                    kind: TransportErrorKind::Dns,
                    detail: Some(&ep.host),
                },
            );
            out.steps.push(RegisterStep {
                request: "resolve".to_owned(),
                code: None,
                reason: e.to_string(),
                rtt_ms: None,
                note: format!("{} does not resolve", ep.host),
            });
            verdict(&engine, trunk, &mut out);
            return out;
        }
    };
    let id = random_hex();
    let mut flow = Flow {
        ep,
        opts,
        domain: domain.clone(),
        user: cfg.username.clone(),
        engine,
        trunk,
        start,
        session: None,
        addr,
        tls: tls_for(ep, &domain, opts),
        call_id: format!("rw-{id}"),
        id,
        cseq: 0,
        auth: None,
    };
    let mut ask = first;
    let mut stale_retries = 0;
    let mut steps = Vec::new();
    let mut ok_response: Option<Vec<u8>> = None;
    for _ in 0..8 {
        let Some(resp) = flow.send(&mut steps, ask) else {
            break;
        };
        if out.contact.is_none() && first != Ask::Query {
            out.contact = flow.session.as_ref().map(|s| {
                format!(
                    "sip:{}@{}{}",
                    cfg.username,
                    s.local(),
                    match ep.transport {
                        crate::validate::Transport::Udp => "",
                        crate::validate::Transport::Tcp => ";transport=tcp",
                        crate::validate::Transport::Tls => ";transport=tls",
                    }
                )
            });
        }
        let Ok(m) = sip::parse(&resp) else { break };
        match m.status().unwrap_or(0) {
            code @ (401 | 407) => {
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
                match &mut flow.auth {
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
                    None => match DigestSession::new(cfg.auth_user(), pw, &ch) {
                        Ok(s) => {
                            note(
                                &mut steps,
                                format!(
                                    "challenge, realm \"{}\": answering with digest",
                                    ch.realm.unwrap_or("")
                                ),
                            );
                            flow.auth = Some((s, header));
                        }
                        Err(e) => {
                            note(&mut steps, format!("cannot answer the challenge: {e}"));
                            break;
                        }
                    },
                }
            }
            423 if out.raised_expires.is_none() && matches!(ask, Ask::Bind(_)) => {
                let Ask::Bind(asked) = ask else { break };
                match m.min_expires() {
                    Some(min) if min > asked => {
                        note(
                            &mut steps,
                            format!("interval too brief: retrying with Min-Expires {min}"),
                        );
                        out.raised_expires = Some(min);
                        ask = Ask::Bind(min);
                    }
                    _ => {
                        note(&mut steps, "423 without a usable Min-Expires".to_owned());
                        break;
                    }
                }
            }
            200..=299 => {
                ok_response = Some(resp.clone());
                break;
            }
            _ if ask == Ask::Query && !matches!(m.status(), Some(403 | 404 | 604)) => {
                note(
                    &mut steps,
                    "the registrar refuses the query REGISTER (a REGISTER without Contact, RFC 3261 §10.2.3): it lists no bindings this way".to_owned(),
                );
                break;
            }
            _ => {
                note(&mut steps, "refused".to_owned());
                break;
            }
        }
    }

    // What the 200 says the registrar holds.
    if let Some(resp) = &ok_response {
        if let Ok(m) = sip::parse(resp) {
            out.bindings = bindings_of(&m, out.contact.as_deref());
        }
        match first {
            Ask::Query => note(
                &mut steps,
                format!(
                    "credentials accepted; {} binding{} listed, none added",
                    out.bindings.len(),
                    if out.bindings.len() == 1 { "" } else { "s" }
                ),
            ),
            Ask::Bind(_) => {
                let bound = out.bindings.iter().any(|b| b.ours);
                out.contact_bound = Some(bound);
                let asked = match ask {
                    Ask::Bind(e) => e,
                    Ask::Query => 0,
                };
                let granted = flow
                    .engine
                    .snapshot(trunk)
                    .ok()
                    .and_then(|s| s.granted_expires);
                note(
                    &mut steps,
                    match (granted, bound) {
                        (_, false) => "answered 200, but our Contact is not listed".to_owned(),
                        (Some(g), true) if g != asked => {
                            format!("registered: asked {asked} s, granted {g} s")
                        }
                        (Some(g), true) => format!("registered for {g} s"),
                        (None, true) => "registered".to_owned(),
                    },
                );
            }
        }
    }
    verdict(&flow.engine, trunk, &mut out);
    out.steps = steps;
    if first == Ask::Query {
        // A query binds nothing: what it proved is the credentials (the
        // engine saw a 200), not a registration.
        out.state = if out.cause == Cause::Healthy {
            RegState::Unknown
        } else {
            out.state
        };
        out.granted_expires = None;
        if out.cause == Cause::Healthy {
            out.diagnosis.summary = format!(
                "{}: the registrar accepted the credentials of {}@{} (a query REGISTER, which adds no binding).",
                cfg.name, cfg.username, domain
            );
            out.diagnosis.evidence = out.outcome().into_iter().collect();
        }
    }
    if let (Some(e), Cause::Healthy | Cause::ExpiryDrift) = (out.raised_expires, out.cause) {
        out.diagnosis.summary.push_str(&format!(
            " Registered only after raising Expires to {e} (423 Interval Too Brief): configure at least {e} s."
        ));
    }

    // Leave nothing behind: Expires: 0 for the same Contact, from the same
    // socket, in the same Call-ID (answering a challenge again if the
    // registrar wants one).
    if ok_response.is_some() && first != Ask::Query && !opts.stay_registered {
        let mut dereg = Vec::new();
        for _ in 0..3 {
            let Some(resp) = flow.send(&mut dereg, Ask::Bind(0)) else {
                break;
            };
            let Ok(m) = sip::parse(&resp) else { break };
            match m.status() {
                Some(200..=299) => {
                    let after = bindings_of(&m, out.contact.as_deref());
                    out.deregistered = !after.iter().any(|b| b.ours);
                    note(
                        &mut dereg,
                        if out.deregistered {
                            "deregistered: the registrar no longer lists the test binding"
                                .to_owned()
                        } else {
                            "the registrar still lists the test binding".to_owned()
                        },
                    );
                    out.bindings_after = Some(after);
                    break;
                }
                Some(401 | 407) => {
                    let ch = if m.status() == Some(407) {
                        m.proxy_authenticate()
                    } else {
                        m.www_authenticate()
                    };
                    let updated = match (ch, flow.auth.as_mut()) {
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
        out.steps.extend(dereg);
    }
    if let Some(line) = out.outcome() {
        if first != Ask::Query {
            out.diagnosis.evidence.push(line);
        }
    }
    out
}

/// The engine's verdict on the trunk, into `out`.
fn verdict(engine: &Engine, trunk: TrunkId, out: &mut RegisterCheck) {
    let (state, cause) = engine
        .trunk_state(trunk)
        .unwrap_or((RegState::Unknown, Cause::Unknown));
    out.state = state;
    out.cause = cause;
    out.granted_expires = engine.snapshot(trunk).ok().and_then(|s| s.granted_expires);
    out.diagnosis = engine
        .diagnose(trunk)
        .unwrap_or_else(|_| crate::core::diagnosis::render(cause, &Default::default()));
}
