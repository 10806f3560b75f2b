//! The enum-like arguments of the C ABI (`uint32_t` typedefs with
//! explicit `#define`d values, appended to, never renumbered) and their
//! conversion into Rust types with `TryFrom<u32>`: an unknown value is
//! `REGWATCH_STATUS_INVALID_ARGUMENT`.
use super::regwatch_status;
use crate::core::{Direction, HostState, TransportErrorKind};
use crate::validate::Transport;

/// A transport, as passed to observation functions.
pub type regwatch_transport = u32;
/// Not known.
pub const REGWATCH_TRANSPORT_UNKNOWN: regwatch_transport = 0;
/// UDP.
pub const REGWATCH_TRANSPORT_UDP: regwatch_transport = 1;
/// TCP.
pub const REGWATCH_TRANSPORT_TCP: regwatch_transport = 2;
/// TLS.
pub const REGWATCH_TRANSPORT_TLS: regwatch_transport = 3;

/// What kind of delivery failure `regwatch_engine_transport_error` reports.
pub type regwatch_transport_error = u32;
/// ICMP port unreachable or TCP RST: nothing listens.
pub const REGWATCH_TRANSPORT_ERROR_REFUSED: regwatch_transport_error = 1;
/// No route to host, network unreachable.
pub const REGWATCH_TRANSPORT_ERROR_UNREACHABLE: regwatch_transport_error = 2;
/// The name did not resolve.
pub const REGWATCH_TRANSPORT_ERROR_DNS: regwatch_transport_error = 3;
/// TLS handshake or certificate failure.
pub const REGWATCH_TRANSPORT_ERROR_TLS: regwatch_transport_error = 4;
/// The peer's bytes are not SIP (more than 64 KiB without a complete
/// message, or a message that does not parse); the connection was dropped.
pub const REGWATCH_TRANSPORT_ERROR_PROTOCOL: regwatch_transport_error = 5;

/// A state reported by the host itself, without SIP detail.
pub type regwatch_host_state = u32;
/// The host says the trunk is registered.
pub const REGWATCH_HOST_REGISTERED: regwatch_host_state = 1;
/// The host says it is not registered (and will retry).
pub const REGWATCH_HOST_UNREGISTERED: regwatch_host_state = 2;
/// The host says the registrar rejected it (no code).
pub const REGWATCH_HOST_REJECTED: regwatch_host_state = 3;
/// The host stopped retrying.
pub const REGWATCH_HOST_GAVE_UP: regwatch_host_state = 4;

/// What became of a keep-alive probe.
pub type regwatch_probe_outcome = u32;
/// A final response from the peer (`code`).
pub const REGWATCH_PROBE_RESPONSE: regwatch_probe_outcome = 1;
/// A final response made up by the host's own SIP stack (a local 408/503).
pub const REGWATCH_PROBE_LOCAL_RESPONSE: regwatch_probe_outcome = 2;
/// No answer in time.
pub const REGWATCH_PROBE_TIMEOUT: regwatch_probe_outcome = 3;
/// The transport failed (`transport_error` = `REGWATCH_TRANSPORT_ERROR_*`).
pub const REGWATCH_PROBE_TRANSPORT_ERROR: regwatch_probe_outcome = 4;

/// Whether the host sent or received a message.
pub type regwatch_direction = u32;
/// The host sent it (a REGISTER going out).
pub const REGWATCH_DIRECTION_SENT: regwatch_direction = 1;
/// The host received it (a response coming in).
pub const REGWATCH_DIRECTION_RECEIVED: regwatch_direction = 2;

const INVALID: regwatch_status = regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT;

/// A transport argument: `REGWATCH_TRANSPORT_UNKNOWN` is `None`.
pub(crate) struct TransportArg(pub(crate) Option<Transport>);

impl TryFrom<u32> for TransportArg {
    type Error = regwatch_status;
    fn try_from(v: u32) -> Result<Self, regwatch_status> {
        Ok(TransportArg(match v {
            REGWATCH_TRANSPORT_UNKNOWN => None,
            REGWATCH_TRANSPORT_UDP => Some(Transport::Udp),
            REGWATCH_TRANSPORT_TCP => Some(Transport::Tcp),
            REGWATCH_TRANSPORT_TLS => Some(Transport::Tls),
            _ => return Err(INVALID),
        }))
    }
}

impl TryFrom<u32> for Transport {
    type Error = regwatch_status;
    /// A transport that must be known (`UNKNOWN` is refused).
    fn try_from(v: u32) -> Result<Self, regwatch_status> {
        TransportArg::try_from(v)?.0.ok_or(INVALID)
    }
}

/// The C value of a transport.
pub(crate) fn transport_code(t: Transport) -> regwatch_transport {
    match t {
        Transport::Udp => REGWATCH_TRANSPORT_UDP,
        Transport::Tcp => REGWATCH_TRANSPORT_TCP,
        Transport::Tls => REGWATCH_TRANSPORT_TLS,
    }
}

impl TryFrom<u32> for TransportErrorKind {
    type Error = regwatch_status;
    fn try_from(v: u32) -> Result<Self, regwatch_status> {
        Ok(match v {
            REGWATCH_TRANSPORT_ERROR_REFUSED => TransportErrorKind::Refused,
            REGWATCH_TRANSPORT_ERROR_UNREACHABLE => TransportErrorKind::Unreachable,
            REGWATCH_TRANSPORT_ERROR_DNS => TransportErrorKind::Dns,
            REGWATCH_TRANSPORT_ERROR_TLS => TransportErrorKind::Tls,
            REGWATCH_TRANSPORT_ERROR_PROTOCOL => TransportErrorKind::Protocol,
            _ => return Err(INVALID),
        })
    }
}

impl TryFrom<u32> for HostState {
    type Error = regwatch_status;
    fn try_from(v: u32) -> Result<Self, regwatch_status> {
        Ok(match v {
            REGWATCH_HOST_REGISTERED => HostState::Registered,
            REGWATCH_HOST_UNREGISTERED => HostState::Unregistered,
            REGWATCH_HOST_REJECTED => HostState::Rejected,
            REGWATCH_HOST_GAVE_UP => HostState::GaveUp,
            _ => return Err(INVALID),
        })
    }
}

impl TryFrom<u32> for Direction {
    type Error = regwatch_status;
    fn try_from(v: u32) -> Result<Self, regwatch_status> {
        Ok(match v {
            REGWATCH_DIRECTION_SENT => Direction::Sent,
            REGWATCH_DIRECTION_RECEIVED => Direction::Received,
            _ => return Err(INVALID),
        })
    }
}

/// What became of a probe, before its code and error are looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProbeOutcome {
    Response,
    LocalResponse,
    Timeout,
    TransportError,
}

impl TryFrom<u32> for ProbeOutcome {
    type Error = regwatch_status;
    fn try_from(v: u32) -> Result<Self, regwatch_status> {
        Ok(match v {
            REGWATCH_PROBE_RESPONSE => ProbeOutcome::Response,
            REGWATCH_PROBE_LOCAL_RESPONSE => ProbeOutcome::LocalResponse,
            REGWATCH_PROBE_TIMEOUT => ProbeOutcome::Timeout,
            REGWATCH_PROBE_TRANSPORT_ERROR => ProbeOutcome::TransportError,
            _ => return Err(INVALID),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_and_unknown_ones_are_refused() {
        for t in [Transport::Udp, Transport::Tcp, Transport::Tls] {
            assert_eq!(Transport::try_from(transport_code(t)), Ok(t));
        }
        assert!(TransportArg::try_from(REGWATCH_TRANSPORT_UNKNOWN).is_ok_and(|t| t.0.is_none()));
        assert_eq!(
            Transport::try_from(REGWATCH_TRANSPORT_UNKNOWN),
            Err(INVALID)
        );
        assert!(TransportArg::try_from(4).is_err());
        assert_eq!(TransportErrorKind::try_from(0), Err(INVALID));
        assert_eq!(TransportErrorKind::try_from(6), Err(INVALID));
        assert_eq!(HostState::try_from(0), Err(INVALID));
        assert_eq!(HostState::try_from(4), Ok(HostState::GaveUp));
        assert_eq!(Direction::try_from(3), Err(INVALID));
        assert_eq!(ProbeOutcome::try_from(5), Err(INVALID));
        assert_eq!(ProbeOutcome::try_from(3), Ok(ProbeOutcome::Timeout));
    }
}
