//! Host adapters: what a PBX says, turned into engine inputs.
//!
//! Pure functions and small state machines, text in, [`Fact`]s out. No IO,
//! no clock (the caller passes `now_ms` to [`apply`]), no unsafe code, and
//! no panics on any input: every parser here accepts truncated, garbled,
//! huge or non-ASCII text and answers with an error or an empty result.
//!
//! * [`asterisk`]: the stasis/AMI `Registry` event, `ContactStatus`, the
//!   sorcery `registration`/`auth` object sets and a `pjsip.conf` reader,
//!   and the WARNING lines of `res_pjsip_outbound_registration` (the only
//!   place Asterisk names the status code).
//! * [`freeswitch`]: `sofia::gateway_*` events (header maps, the raw
//!   `Key: Value` text and the one-line compact form) through a
//!   [`freeswitch::GatewayTracker`] that remembers what each gateway did
//!   last, and the sofia gateway XML.
//!
//! A [`Fact`] is an owned [`Observation`] plus the name of the trunk it is
//! about; [`apply`] looks the trunk up in an [`Engine`] and feeds it. The
//! same failure gives the same cause whichever way it arrives: a 403 after
//! credentials reported by an Asterisk log line, by a FreeSWITCH
//! `Status: 403` or by raw SIP all end as `credentials_rejected`.
#![forbid(unsafe_code)]
#![deny(clippy::disallowed_methods, clippy::disallowed_types)]

pub mod asterisk;
pub mod codes;
pub mod freeswitch;
pub mod metrics;
pub mod render;
pub mod session;
pub mod settings;
mod text;
pub mod uri;

use crate::core::{
    Challenge, Engine, Error, HostState, Observation, RegisterResponse, RegisterSent,
    TransportErrorKind, TwilioError,
};
use crate::validate::Transport;
use std::fmt;

pub use text::{reason_phrase, strip_ansi};

/// One thing a host said about one trunk, owned, ready for the engine.
#[derive(Clone, Debug, PartialEq)]
pub struct Fact {
    /// The trunk's name as the engine knows it (the Asterisk registration
    /// section name, the FreeSWITCH gateway name).
    pub trunk: String,
    /// What happened.
    pub kind: FactKind,
}

/// An owned [`Observation`].
#[derive(Clone, Debug, PartialEq)]
pub enum FactKind {
    /// The host sent a REGISTER.
    RegisterSent(RegisterSent),
    /// A response to the last REGISTER.
    RegisterResponse(OwnedResponse),
    /// The last REGISTER got no answer.
    RegisterTimeout {
        /// The transport it was sent over, if known.
        transport: Option<Transport>,
    },
    /// The last REGISTER could not be delivered.
    TransportError {
        /// The transport it was sent over, if known.
        transport: Option<Transport>,
        /// What failed.
        kind: TransportErrorKind,
        /// Free text from the host.
        detail: Option<String>,
    },
    /// The binding was removed on purpose.
    Deregistered,
    /// The host reports a state without SIP detail.
    HostState {
        /// What the host says.
        state: HostState,
        /// Free text from the host.
        detail: Option<String>,
    },
}

/// An owned [`RegisterResponse`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnedResponse {
    /// The status code.
    pub code: u16,
    /// The reason phrase.
    pub reason: String,
    /// The expiry granted for our binding.
    pub granted_expires: Option<u32>,
    /// Whether our Contact is among the bindings a 2xx lists.
    pub contact_bound: Option<bool>,
    /// The digest challenge of a 401/407.
    pub challenge: Option<OwnedChallenge>,
    /// `Min-Expires` of a 423.
    pub min_expires: Option<u32>,
    /// `Retry-After`, seconds.
    pub retry_after: Option<u32>,
    /// `X-Twilio-Error`.
    pub twilio_error: Option<OwnedTwilioError>,
    /// The `Server` header.
    pub server: Option<String>,
    /// The transport it came over, if known.
    pub transport: Option<Transport>,
}

/// An owned [`Challenge`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnedChallenge {
    /// `realm`.
    pub realm: String,
    /// `algorithm` (absent means MD5).
    pub algorithm: Option<String>,
    /// `qop` options as sent.
    pub qop: Option<String>,
    /// `stale=true`.
    pub stale: bool,
}

/// An owned [`TwilioError`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnedTwilioError {
    /// The Debugger code.
    pub code: u32,
    /// The text after it.
    pub text: String,
}

impl OwnedResponse {
    /// A response with only a code and a reason phrase.
    pub fn new(code: u16, reason: impl Into<String>) -> OwnedResponse {
        OwnedResponse {
            code,
            reason: reason.into(),
            ..OwnedResponse::default()
        }
    }

    /// The borrowed form the engine takes.
    pub fn as_response(&self) -> RegisterResponse<'_> {
        RegisterResponse {
            code: self.code,
            reason: &self.reason,
            granted_expires: self.granted_expires,
            contact_bound: self.contact_bound,
            challenge: self.challenge.as_ref().map(|c| Challenge {
                realm: &c.realm,
                algorithm: c.algorithm.as_deref(),
                qop: c.qop.as_deref(),
                stale: c.stale,
            }),
            min_expires: self.min_expires,
            retry_after: self.retry_after,
            twilio_error: self.twilio_error.as_ref().map(|e| TwilioError {
                code: e.code,
                text: &e.text,
            }),
            server: self.server.as_deref(),
            transport: self.transport,
        }
    }

    /// Copies a borrowed response.
    pub fn from_response(r: &RegisterResponse<'_>) -> OwnedResponse {
        OwnedResponse {
            code: r.code,
            reason: r.reason.to_owned(),
            granted_expires: r.granted_expires,
            contact_bound: r.contact_bound,
            challenge: r.challenge.map(|c| OwnedChallenge {
                realm: c.realm.to_owned(),
                algorithm: c.algorithm.map(str::to_owned),
                qop: c.qop.map(str::to_owned),
                stale: c.stale,
            }),
            min_expires: r.min_expires,
            retry_after: r.retry_after,
            twilio_error: r.twilio_error.map(|e| OwnedTwilioError {
                code: e.code,
                text: e.text.to_owned(),
            }),
            server: r.server.map(str::to_owned),
            transport: r.transport,
        }
    }
}

impl FactKind {
    /// The borrowed form the engine takes.
    pub fn observation(&self) -> Observation<'_> {
        match self {
            FactKind::RegisterSent(s) => Observation::RegisterSent(*s),
            FactKind::RegisterResponse(r) => Observation::RegisterResponse(r.as_response()),
            FactKind::RegisterTimeout { transport } => Observation::RegisterTimeout {
                transport: *transport,
            },
            FactKind::TransportError {
                transport,
                kind,
                detail,
            } => Observation::TransportError {
                transport: *transport,
                kind: *kind,
                detail: detail.as_deref(),
            },
            FactKind::Deregistered => Observation::Deregistered,
            FactKind::HostState { state, detail } => Observation::HostState {
                state: *state,
                detail: detail.as_deref(),
            },
        }
    }

    /// Copies a borrowed observation.
    pub fn from_observation(o: &Observation<'_>) -> FactKind {
        match o {
            Observation::RegisterSent(s) => FactKind::RegisterSent(*s),
            Observation::RegisterResponse(r) => {
                FactKind::RegisterResponse(OwnedResponse::from_response(r))
            }
            Observation::RegisterTimeout { transport } => FactKind::RegisterTimeout {
                transport: *transport,
            },
            Observation::TransportError {
                transport,
                kind,
                detail,
            } => FactKind::TransportError {
                transport: *transport,
                kind: *kind,
                detail: detail.map(str::to_owned),
            },
            Observation::Deregistered => FactKind::Deregistered,
            Observation::HostState { state, detail } => FactKind::HostState {
                state: *state,
                detail: detail.map(str::to_owned),
            },
        }
    }
}

impl Fact {
    /// A fact about `trunk`.
    pub fn new(trunk: impl Into<String>, kind: FactKind) -> Fact {
        Fact {
            trunk: trunk.into(),
            kind,
        }
    }

    /// The borrowed form [`Engine::handle_observation`] takes.
    pub fn observation(&self) -> Observation<'_> {
        self.kind.observation()
    }
}

/// Feeds facts to an engine, in order, looking each trunk up by name.
///
/// Returns one entry per fact: the trunk name and what the engine said. A
/// fact about a trunk the engine does not know is not fed; its entry is
/// `Err(Error::UnknownTrunk)` and the facts after it are still applied.
///
/// The run-loop contract still holds: drain [`Engine::poll_output`]
/// afterwards and re-arm the timer.
pub fn apply(engine: &mut Engine, now_ms: u64, facts: &[Fact]) -> Vec<(String, Result<(), Error>)> {
    facts
        .iter()
        .map(|f| {
            let r = match engine.find_trunk(&f.trunk) {
                Some(id) => engine.handle_observation(now_ms, id, f.observation()),
                None => Err(Error::UnknownTrunk),
            };
            (f.trunk.clone(), r)
        })
        .collect()
}

/// Why an adapter could not turn its input into facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostError {
    /// The input is not in the expected format (missing field, bad JSON,
    /// unknown status).
    Malformed(String),
    /// Well formed, but not something this adapter handles (another AMI
    /// event, another event subclass, an IAX2 registration). Not an error
    /// for a caller that feeds every event it sees.
    Ignored(String),
    /// The event names a registration (by client and server URI) that the
    /// [`asterisk::RegistrationIndex`] does not know.
    UnknownRegistration {
        /// The client URI (AOR) as the host gave it.
        client_uri: String,
        /// The server URI (registrar) as the host gave it.
        server_uri: String,
    },
}

/// Quotes what the host sent (an event name, a status, a URI) without its
/// control characters: the message ends up on the PBX console.
impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::core::terminal_safe as safe;
        match self {
            HostError::Malformed(m) => write!(f, "malformed input: {}", safe(m)),
            HostError::Ignored(m) => write!(f, "ignored: {}", safe(m)),
            HostError::UnknownRegistration {
                client_uri,
                server_uri,
            } => write!(
                f,
                "no configured registration with client_uri `{}` and server_uri `{}`",
                safe(client_uri),
                safe(server_uri)
            ),
        }
    }
}

impl std::error::Error for HostError {}
