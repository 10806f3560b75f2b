//! What the engine is told: observations of the host's registration traffic.
use crate::validate::Transport;
use serde::Serialize;

/// One fact about a trunk's registration, from any source: the host's own
/// events, raw SIP seen on the wire, or regwatch's own probes.
///
/// Borrowed strings are copied where the engine keeps them.
#[derive(Clone, Debug, PartialEq)]
pub enum Observation<'a> {
    /// The host sent a REGISTER.
    RegisterSent(RegisterSent),
    /// A final (or provisional, which is ignored) response to the last REGISTER.
    RegisterResponse(RegisterResponse<'a>),
    /// The last REGISTER got no answer (Timer F, or the host's own timeout).
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
        /// Free text from the host (`ECONNREFUSED`, the name that did not resolve...).
        detail: Option<&'a str>,
    },
    /// The binding was removed on purpose (a 2xx to `Expires: 0`, or the
    /// host unregistered the trunk).
    Deregistered,
    /// The host reports a state without the SIP detail (Asterisk's Registry
    /// event, FreeSWITCH's gateway state).
    HostState {
        /// What the host says.
        state: HostState,
        /// Free text from the host.
        detail: Option<&'a str>,
    },
}

/// A REGISTER the host sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegisterSent {
    /// The expiry it asked for (Expires header or Contact `;expires=`).
    /// `Some(0)` is a deregistration.
    pub expires: Option<u32>,
    /// Whether it carried `Authorization`/`Proxy-Authorization`.
    pub with_credentials: bool,
    /// The host cannot tell whether the REGISTER that got the answer
    /// carried credentials (sofia answers a challenge without an event, so
    /// FreeSWITCH's FAILED 403 may follow either): `with_credentials` is
    /// then ignored, and a 403 is not blamed on the credentials without
    /// other evidence.
    pub credentials_unknown: bool,
    /// The transport it went over, if known.
    pub transport: Option<Transport>,
}

/// A response to a REGISTER.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegisterResponse<'a> {
    /// The status code (100..=699).
    pub code: u16,
    /// The reason phrase.
    pub reason: &'a str,
    /// The expiry granted for our binding (its Contact `;expires=`, else the
    /// `Expires` header).
    pub granted_expires: Option<u32>,
    /// Whether our Contact is among the bindings a 2xx lists (`None`: unknown).
    pub contact_bound: Option<bool>,
    /// The digest challenge of a 401/407.
    pub challenge: Option<Challenge<'a>>,
    /// `Min-Expires` of a 423.
    pub min_expires: Option<u32>,
    /// `Retry-After`, seconds.
    pub retry_after: Option<u32>,
    /// `X-Twilio-Error: <code> <text>`.
    pub twilio_error: Option<TwilioError<'a>>,
    /// The `Server` header.
    pub server: Option<&'a str>,
    /// The transport it came over, if known.
    pub transport: Option<Transport>,
}

/// A digest challenge (`WWW-Authenticate` on 401, `Proxy-Authenticate` on 407).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Challenge<'a> {
    /// `realm`.
    pub realm: &'a str,
    /// `algorithm` (absent means MD5).
    pub algorithm: Option<&'a str>,
    /// `qop` options as sent (`auth`, `auth,auth-int`).
    pub qop: Option<&'a str>,
    /// `stale=true`: the nonce expired, the credentials were fine.
    pub stale: bool,
}

/// `X-Twilio-Error: 32202 Bad user credentials`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TwilioError<'a> {
    /// The Debugger code.
    pub code: u32,
    /// The text after it.
    pub text: &'a str,
}

/// A delivery failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportErrorKind {
    /// ICMP port unreachable or TCP RST: nothing listens there.
    Refused,
    /// No route, host unreachable, network down.
    Unreachable,
    /// The name did not resolve.
    Dns,
    /// TLS handshake or certificate failure.
    Tls,
    /// The peer's bytes are not SIP: more than the 64 KiB limit without a
    /// complete message, or a message that does not parse. The connection
    /// was dropped.
    Protocol,
}

impl TransportErrorKind {
    /// `refused`, `unreachable`, `dns`, `tls`, `protocol`.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportErrorKind::Refused => "refused",
            TransportErrorKind::Unreachable => "unreachable",
            TransportErrorKind::Dns => "dns",
            TransportErrorKind::Tls => "tls",
            TransportErrorKind::Protocol => "protocol",
        }
    }
    /// Parses the names [`as_str`](Self::as_str) gives.
    pub fn parse(s: &str) -> Option<TransportErrorKind> {
        Some(match s {
            "refused" => TransportErrorKind::Refused,
            "unreachable" => TransportErrorKind::Unreachable,
            "dns" => TransportErrorKind::Dns,
            "tls" => TransportErrorKind::Tls,
            "protocol" => TransportErrorKind::Protocol,
            _ => return None,
        })
    }
}

/// What a host reports without SIP detail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    /// The host says it is registered.
    Registered,
    /// The host says it is not registered (and will retry).
    Unregistered,
    /// The host says the registrar rejected it (no code).
    Rejected,
    /// The host stopped trying (Asterisk after `max_retries` or a
    /// permanent rejection, a FreeSWITCH gateway in NOREG/DOWN).
    GaveUp,
}

impl HostState {
    /// `registered`, `unregistered`, `rejected`, `gave_up`.
    pub fn as_str(self) -> &'static str {
        match self {
            HostState::Registered => "registered",
            HostState::Unregistered => "unregistered",
            HostState::Rejected => "rejected",
            HostState::GaveUp => "gave_up",
        }
    }
    /// Parses the names [`as_str`](Self::as_str) gives.
    pub fn parse(s: &str) -> Option<HostState> {
        Some(match s {
            "registered" => HostState::Registered,
            "unregistered" => HostState::Unregistered,
            "rejected" => HostState::Rejected,
            "gave_up" => HostState::GaveUp,
            _ => return None,
        })
    }
}
