//! The test REGISTER: challenge answered, 423 retried once with
//! Min-Expires, granted expiry and our binding read from the 200 OK, then
//! Expires: 0; every message observed by an [`Engine`].
use super::target::{random_hex, tls_for, CheckOptions};
use crate::core::{
    Cause, Diagnosis, Direction, Engine, EngineConfig, Observation, RegState, TransportErrorKind,
    TrunkConfig,
};
use crate::driver::exchange::{exchange, Endpoint, ExchangeError};
use crate::sip::build::{self, RequestContext};
use crate::sip::digest::DigestSession;
use crate::sip::{self, Message};
use serde::Serialize;
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
