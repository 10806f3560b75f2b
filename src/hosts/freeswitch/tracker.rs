//! Gateway events → facts, with the little memory the mapping needs.
use super::events::{GatewayEvent, GatewayState, GatewayStateEvent};
use crate::core::{HostState, RegisterSent, TransportErrorKind};
use crate::hosts::text::reason_phrase;
use crate::hosts::{Fact, FactKind, OwnedChallenge, OwnedResponse};
use crate::validate::Transport;
use std::collections::HashMap;

/// What the tracker knows about a gateway's configuration (from the sofia
/// XML, see [`SofiaGateway::info`](super::SofiaGateway::info)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GatewayInfo {
    /// Whether a password is configured, i.e. whether sofia answers a
    /// challenge with credentials. Unknown gateways count as `true`:
    /// mod_sofia needs a username to register and nearly every registering
    /// gateway has a password.
    pub has_credentials: bool,
    /// `expire-seconds`, the expiry requested.
    pub expires: Option<u32>,
    /// `register-transport`.
    pub transport: Option<Transport>,
    /// `register` (false: NOREG, OPTIONS only).
    pub registers: bool,
}

impl Default for GatewayInfo {
    fn default() -> Self {
        GatewayInfo {
            has_credentials: true,
            expires: None,
            transport: None,
            registers: true,
        }
    }
}

/// A gateway appeared or went away: add or remove the trunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GatewayChange {
    /// `sofia::gateway_add`.
    Added {
        /// The gateway (trunk) name.
        gateway: String,
        /// The sofia profile.
        profile: Option<String>,
    },
    /// `sofia::gateway_delete`.
    Removed {
        /// The gateway (trunk) name.
        gateway: String,
        /// The sofia profile.
        profile: Option<String>,
    },
}

/// What one event means.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mapping {
    /// Engine inputs, in order.
    pub facts: Vec<Fact>,
    /// A trunk to add or remove.
    pub change: Option<GatewayChange>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Memory {
    last: Option<GatewayState>,
    /// Bound (REGISTER 200 / REGED seen, no failure or stop since).
    registered: bool,
    /// A failure since the last success.
    failed: bool,
}

/// Beyond this many gateways, new names are mapped without memory.
const MAX_GATEWAYS: usize = 65_536;

/// Turns `sofia::gateway_*` events into [`Fact`]s.
///
/// sofia's events say what happened to the gateway's state machine, not
/// what went over the wire, and some meanings depend on the state before
/// (FREESWITCH.md §1.5). The mapping:
///
/// | event | facts |
/// |---|---|
/// | `TRYING` | REGISTER sent (no credentials: the first REGISTER of an attempt has none); `Status: 100` ("Request Authorized by Cache") is ignored |
/// | `REGISTER` + `Status: 200` | 200 OK (the granted expiry is not in the event: the engine uses the requested one, `expire-seconds`); a REGISTER-sent fact first when no `TRYING` opened the attempt (a refresh) |
/// | `REGED` | nothing after `REGISTER`; else host says registered |
/// | `FAILED` + `Status: 904` | REGISTER with credentials, then 401: sofia's "Operation has no matching challenge" means the registrar challenged again after the credentials (`credentials_rejected`) |
/// | `FAILED` + `Status: 401/407` | REGISTER with credentials, then the response |
/// | `FAILED` + `Status: 403` | REGISTER whose credentials are unknown (sofia answers challenges silently, only the final 403 is reported: a 403 before the challenge and one after the credentials look alike), then 403 |
/// | `FAILED` + local `Status: 503` | transport error `refused`: sofia-sip generates 503 on ICMP port unreachable or a transport error, with no `Register-Network-IP` (or port 0) |
/// | `FAILED` + local `Status: 408` | REGISTER timeout: sofia-sip's transaction timer, `Register-Network-Port: 0` |
/// | `FAILED` + other `Status` (404, 423, a 5xx received from the registrar...) | the response |
/// | `FAILED` without `Status` | nothing after `TIMEOUT` (already counted); else host says rejected |
/// | `TIMEOUT` | REGISTER timeout |
/// | `FAIL_WAIT`, `UNREGED` | nothing (waiting to retry); `UNREGED` after `UNREGISTER` is a deregistration |
/// | `DOWN` | deregistered when the gateway was registered (sofia unregisters it); else host gave up (the gateway stopped) |
/// | `NOREG` | nothing (`register=false`: OPTIONS-only gateway, its ping results are not registration facts); host gave up when it follows failures |
/// | `EXPIRED` | host says unregistered (never sent for gateways) |
/// | `gateway_add` / `gateway_delete` | a [`GatewayChange`], memory reset |
/// | `gateway_invalid_digest_req` | a 401 with the challenge's realm, not answered (a normal first challenge for the engine) |
///
/// A FAILED that comes from an OPTIONS failure while REGED
/// (`ping` configured) carries the OPTIONS code and cannot be told from a
/// failed refresh; it is mapped as a REGISTER result.
#[derive(Clone, Debug, Default)]
pub struct GatewayTracker {
    info: HashMap<String, GatewayInfo>,
    memory: HashMap<String, Memory>,
}

impl GatewayTracker {
    /// A tracker that knows no gateway yet.
    pub fn new() -> GatewayTracker {
        GatewayTracker::default()
    }

    /// Records what the configuration says about a gateway.
    pub fn set_info(&mut self, gateway: &str, info: GatewayInfo) {
        if self.info.len() < MAX_GATEWAYS || self.info.contains_key(gateway) {
            self.info.insert(gateway.to_owned(), info);
        }
    }

    /// What is known about a gateway's configuration (defaults if nothing).
    pub fn info(&self, gateway: &str) -> GatewayInfo {
        self.info.get(gateway).copied().unwrap_or_default()
    }

    /// The last state seen for a gateway.
    pub fn last_state(&self, gateway: &str) -> Option<GatewayState> {
        self.memory.get(gateway).and_then(|m| m.last)
    }

    /// Forgets what the gateway did (its configuration stays).
    pub fn forget(&mut self, gateway: &str) {
        self.memory.remove(gateway);
    }

    /// Maps one event.
    pub fn handle(&mut self, ev: &GatewayEvent) -> Mapping {
        match ev {
            GatewayEvent::State(s) => Mapping {
                facts: self.on_state(s),
                change: None,
            },
            GatewayEvent::Added { gateway, profile } => {
                self.forget(gateway);
                Mapping {
                    facts: Vec::new(),
                    change: Some(GatewayChange::Added {
                        gateway: gateway.clone(),
                        profile: profile.clone(),
                    }),
                }
            }
            GatewayEvent::Deleted { gateway, profile } => {
                self.forget(gateway);
                Mapping {
                    facts: Vec::new(),
                    change: Some(GatewayChange::Removed {
                        gateway: gateway.clone(),
                        profile: profile.clone(),
                    }),
                }
            }
            GatewayEvent::InvalidDigest { gateway, realm, .. } => {
                let mut r = OwnedResponse::new(
                    401,
                    "challenge from an unexpected host (gateway_invalid_digest_req)",
                );
                r.challenge = Some(OwnedChallenge {
                    realm: realm.clone().unwrap_or_default(),
                    ..OwnedChallenge::default()
                });
                r.transport = self.info(gateway).transport;
                Mapping {
                    facts: vec![Fact::new(gateway.clone(), FactKind::RegisterResponse(r))],
                    change: None,
                }
            }
        }
    }

    fn on_state(&mut self, ev: &GatewayStateEvent) -> Vec<Fact> {
        let info = self.info(&ev.gateway);
        let mut m = self.memory.get(&ev.gateway).copied().unwrap_or_default();
        let kinds = map_state(ev, info, &mut m);
        if self.memory.len() < MAX_GATEWAYS || self.memory.contains_key(&ev.gateway) {
            m.last = Some(ev.state);
            self.memory.insert(ev.gateway.clone(), m);
        }
        kinds
            .into_iter()
            .map(|k| Fact::new(ev.gateway.clone(), k))
            .collect()
    }
}

fn sent(info: GatewayInfo, with_credentials: bool) -> FactKind {
    FactKind::RegisterSent(RegisterSent {
        expires: info.expires,
        with_credentials,
        transport: info.transport,
        credentials_unknown: false,
    })
}

/// A REGISTER whose credentials the events do not show.
fn sent_unknown(info: GatewayInfo) -> FactKind {
    FactKind::RegisterSent(RegisterSent {
        expires: info.expires,
        with_credentials: false,
        transport: info.transport,
        credentials_unknown: true,
    })
}

fn response(code: u16, phrase: Option<&str>, info: GatewayInfo) -> FactKind {
    let reason = phrase.unwrap_or_else(|| reason_phrase(code));
    let mut r = OwnedResponse::new(code, reason);
    r.transport = info.transport;
    FactKind::RegisterResponse(r)
}

fn host(state: HostState, detail: &str) -> FactKind {
    FactKind::HostState {
        state,
        detail: Some(detail.to_owned()),
    }
}

fn map_state(ev: &GatewayStateEvent, info: GatewayInfo, m: &mut Memory) -> Vec<FactKind> {
    let status = ev.status.filter(|s| *s >= 200);
    let provisional = ev.status.is_some_and(|s| s < 200);
    let phrase = ev.phrase.as_deref();
    match ev.state {
        GatewayState::Trying => {
            if provisional {
                return Vec::new();
            }
            vec![sent(info, false)]
        }
        GatewayState::Register => match status {
            Some(code) if !(200..300).contains(&code) => failure(ev, code, info, m),
            _ if provisional => Vec::new(),
            code => {
                let mut out = Vec::new();
                if m.last != Some(GatewayState::Trying) {
                    out.push(sent(info, info.has_credentials));
                }
                out.push(response(code.unwrap_or(200), phrase, info));
                m.registered = true;
                m.failed = false;
                out
            }
        },
        GatewayState::Reged => {
            let confirmed = m.last == Some(GatewayState::Register) && m.registered;
            m.registered = true;
            m.failed = false;
            if confirmed {
                Vec::new()
            } else {
                vec![host(HostState::Registered, "gateway REGED")]
            }
        }
        GatewayState::Failed => match status {
            Some(code) => failure(ev, code, info, m),
            None if provisional => Vec::new(),
            None => {
                m.registered = false;
                let after_timeout = m.last == Some(GatewayState::Timeout);
                m.failed = true;
                if after_timeout {
                    Vec::new()
                } else {
                    vec![host(HostState::Rejected, "gateway FAILED without a status")]
                }
            }
        },
        GatewayState::Timeout => {
            m.registered = false;
            m.failed = true;
            vec![FactKind::RegisterTimeout {
                transport: info.transport,
            }]
        }
        GatewayState::FailWait => Vec::new(),
        GatewayState::Unreged => {
            if m.last == Some(GatewayState::Unregister) {
                m.registered = false;
                vec![FactKind::Deregistered]
            } else {
                Vec::new()
            }
        }
        GatewayState::Unregister => Vec::new(),
        GatewayState::Down => {
            let was_registered = m.registered;
            m.registered = false;
            if was_registered {
                vec![FactKind::Deregistered]
            } else {
                vec![host(
                    HostState::GaveUp,
                    "gateway DOWN: FreeSWITCH stopped registering it",
                )]
            }
        }
        GatewayState::Noreg => {
            if m.failed {
                m.failed = false;
                vec![host(
                    HostState::GaveUp,
                    "gateway NOREG: FreeSWITCH no longer registers it",
                )]
            } else {
                Vec::new()
            }
        }
        GatewayState::Expired => {
            m.registered = false;
            vec![host(HostState::Unregistered, "gateway EXPIRED")]
        }
    }
}

/// The facts of a final non-2xx `Status`.
fn failure(ev: &GatewayStateEvent, code: u16, info: GatewayInfo, m: &mut Memory) -> Vec<FactKind> {
    m.registered = false;
    m.failed = true;
    let phrase = ev.phrase.as_deref();
    let local = ev.is_local();
    match code {
        904 => vec![
            sent(info, true),
            response(
                401,
                Some(phrase.unwrap_or("Operation has no matching challenge")),
                info,
            ),
        ],
        401 | 407 => vec![sent(info, true), response(code, phrase, info)],
        // sofia answers a challenge without an event: whether the REGISTER
        // that got the 403 carried credentials is not known. A 403 before
        // any challenge (registration off on the domain) and one after
        // the credentials (a wrong password at Twilio) look the same here.
        403 => vec![sent_unknown(info), response(403, phrase, info)],
        408 if local => vec![FactKind::RegisterTimeout {
            transport: info.transport,
        }],
        503 if local => vec![FactKind::TransportError {
            transport: info.transport,
            kind: TransportErrorKind::Refused,
            detail: Some(format!(
                "sofia-sip generated '503 {}' locally: nothing answered (ICMP port unreachable or transport error)",
                phrase.unwrap_or("Service Unavailable")
            )),
        }],
        _ => vec![response(code, phrase, info)],
    }
}
