//! What a REGISTER attempt's outcome means, as pure functions of what was
//! seen: [`classify`] turns a final response (its code, the challenge,
//! `X-Twilio-Error`, the Contact the registrar bound...), a timeout or a
//! transport error, together with what the attempt had done so far
//! (credentials sent, challenges answered, a deregistration), into a
//! [`Verdict`]; [`reachability_only`] says which failures are about reaching
//! the registrar and nothing else. `Retry-After` and `Min-Expires` are
//! recorded for the diagnosis but never change the verdict.
use crate::core::diagnosis::codes;
use crate::core::observation::{RegisterResponse, TransportErrorKind};
use crate::core::state::{Cause, RegState};

/// How long an answer on one transport counts as proof that it works, when
/// another transport times out (`transport_blocked` vs `registrar_unreachable`).
pub(super) const ANSWER_FRESH_MS: u64 = 10 * 60 * 1000;

/// How a REGISTER attempt ended.
#[derive(Clone, Copy, Debug)]
pub(super) enum Outcome<'a> {
    /// A final response (1xx are not final and never come here).
    Response(&'a RegisterResponse<'a>),
    /// No final response in time.
    Timeout {
        /// Another transport answered recently (within `ANSWER_FRESH_MS`).
        other_transport_answers: bool,
    },
    /// The host could not send or connect.
    TransportError(TransportErrorKind),
}

/// What the attempt had done when its outcome came.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct AttemptSoFar {
    /// The REGISTER was a deregistration (`Expires: 0`).
    pub(super) dereg: bool,
    /// The expiry asked for (the attempt's, else the configured one).
    pub(super) requested: Option<u32>,
    /// Whether the answered REGISTER carried credentials (None: not observed).
    pub(super) sent_credentials: Option<bool>,
    /// 401/407 answers earlier in this attempt.
    pub(super) challenges: u8,
    /// Policy: challenges to credential-less REGISTERs before the attempt
    /// counts as rejected (`EngineConfig::challenges_before_rejection`).
    pub(super) challenges_before_rejection: u8,
    /// The Twilio profile, with an authorization user other than the AOR user.
    pub(super) twilio_auth_user_differs: bool,
}

/// What an outcome means for the trunk: the engine's classification of
/// one answer (or timeout, or transport error) to a REGISTER, as
/// [`Engine::last_outcome`](super::Engine::last_outcome) shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A 2xx to a deregistration.
    Deregistered,
    /// A 2xx that holds our binding, for `granted` seconds (None: unknown).
    Bound {
        /// The seconds granted.
        granted: Option<u32>,
    },
    /// A 2xx that does not list our Contact, or grants 0 s.
    NotBound {
        /// The seconds granted.
        granted: Option<u32>,
    },
    /// A 401/407 with `stale=true`: the nonce expired, the credentials
    /// were fine; the attempt goes on.
    StaleNonce,
    /// A 401/407 that is the attempt's normal challenge.
    Challenged,
    /// The attempt failed: the cause, and the state the trunk takes when
    /// nothing is bound.
    Failed {
        /// Why.
        cause: Cause,
        /// The state the trunk takes when nothing is bound.
        state: RegState,
    },
}

/// The last outcome of a trunk's REGISTER exchange, as the engine
/// classified it (see [`Engine::last_outcome`](super::Engine::last_outcome)):
/// what a tool reporting every exchange (`regwatch analyze`) shows, so
/// that its cause is the engine's and no one else's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExchangeOutcome {
    /// The final response's code (`None`: a timeout or a transport error).
    pub code: Option<u16>,
    /// The classification.
    pub verdict: Verdict,
    /// The cause the trunk took from it: the failure's for
    /// [`Verdict::Failed`] (after the engine's refinements), `healthy`,
    /// `expiry_drift` or `refresh_late` for a binding, `contact_not_bound`,
    /// `deregistered`; `None` for a challenge or a stale nonce (the
    /// exchange goes on).
    pub cause: Option<Cause>,
}

/// Classifies an attempt's outcome. Pure: the same inputs always give the
/// same verdict.
pub(super) fn classify(outcome: Outcome<'_>, a: &AttemptSoFar) -> Verdict {
    let r = match outcome {
        Outcome::Response(r) => r,
        Outcome::Timeout {
            other_transport_answers,
        } => {
            let cause = if other_transport_answers {
                Cause::TransportBlocked
            } else {
                Cause::RegistrarUnreachable
            };
            return failed(cause, RegState::Unreachable);
        }
        Outcome::TransportError(kind) => {
            let cause = match kind {
                TransportErrorKind::Refused => Cause::ConnectionRefused,
                TransportErrorKind::Unreachable => Cause::RegistrarUnreachable,
                TransportErrorKind::Dns => Cause::DnsFailure,
                TransportErrorKind::Tls => Cause::TlsFailure,
                TransportErrorKind::Protocol => Cause::ProtocolError,
            };
            return failed(cause, RegState::Unreachable);
        }
    };
    let code = r.code;
    if (200..300).contains(&code) {
        if a.dereg {
            return Verdict::Deregistered;
        }
        let granted = r.granted_expires.or(a.requested);
        return if r.contact_bound == Some(false) || granted == Some(0) {
            Verdict::NotBound { granted }
        } else {
            Verdict::Bound { granted }
        };
    }
    let twilio_cause = r
        .twilio_error
        .and_then(|e| codes::cause_for_twilio_code(e.code));
    let mut cause = match code {
        401 | 407 => {
            if r.challenge.unwrap_or_default().stale {
                return Verdict::StaleNonce;
            }
            let rejected = match a.sent_credentials {
                Some(true) => true,
                _ => a.challenges.saturating_add(1) >= a.challenges_before_rejection,
            };
            if !rejected {
                return Verdict::Challenged;
            }
            twilio_cause.unwrap_or(Cause::CredentialsRejected)
        }
        403 => twilio_cause.unwrap_or(if a.sent_credentials == Some(true) || a.challenges > 0 {
            Cause::CredentialsRejected
        } else {
            Cause::AccountForbidden
        }),
        404 | 604 => Cause::DomainNotFound,
        423 => Cause::IntervalTooBrief,
        429 => Cause::RateLimited,
        408 => Cause::RegistrarUnreachable,
        603 => Cause::AccountForbidden,
        500..=599 => twilio_cause
            .filter(|c| *c == Cause::RateLimited)
            .unwrap_or(Cause::ServerError),
        _ => twilio_cause.unwrap_or(Cause::Unknown),
    };
    // Twilio refuses an authorization user that differs from the AOR user.
    if cause == Cause::CredentialsRejected && a.twilio_auth_user_differs {
        cause = Cause::AuthUsernameMismatch;
    }
    let state = if cause == Cause::RegistrarUnreachable {
        RegState::Unreachable
    } else {
        RegState::Rejected
    };
    failed(cause, state)
}

fn failed(cause: Cause, state: RegState) -> Verdict {
    Verdict::Failed { cause, state }
}

/// Whether a failure is about reaching the registrar and nothing else:
/// no answer on any transport, one transport blocked, the connection
/// refused, the name not resolving, TLS failing, or a peer that does not
/// speak SIP. Such a failure says nothing against the account or the
/// configuration and is temporary as far as the registrar is concerned:
/// the trunk is `unreachable` (not `rejected`), an alert is due even before
/// anything registered, and once the registrar answers keep-alives again a
/// REGISTER is worth retrying at once.
pub(crate) fn reachability_only(cause: Cause) -> bool {
    matches!(
        cause,
        Cause::RegistrarUnreachable
            | Cause::TransportBlocked
            | Cause::ConnectionRefused
            | Cause::DnsFailure
            | Cause::TlsFailure
            | Cause::ProtocolError
    )
}

#[cfg(test)]
mod tests;
