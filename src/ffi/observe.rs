//! Observations: what the host tells an engine about a trunk (REGISTER
//! sent, its response, timeouts, transport errors, probe results, host
//! states, raw SIP).
use super::boundary::{opt_str, try_ffi};
use super::engine::{engine_err, regwatch_engine, trunk_id, with_engine};
use super::enums::*;
use super::regwatch_status;
use crate::core::{
    Challenge, Direction, HostState, Observation, ProbeResult, RegisterResponse, RegisterSent,
    TransportErrorKind, TwilioError,
};
use std::ffi::c_char;
use std::ptr;

/// A response to a REGISTER, as the host saw it. Initialise with
/// `regwatch_register_response_init` (which sets `struct_size` and marks
/// every optional field absent), then fill what is known. Strings are
/// borrowed for the call only; NULL means absent.
#[repr(C)]
pub struct regwatch_register_response {
    /// `sizeof(regwatch_register_response)`, so fields can be added later.
    pub struct_size: u32,
    /// The status code (100..699). Provisional codes are ignored.
    pub code: u16,
    /// The reason phrase, or NULL.
    pub reason: *const c_char,
    /// Granted expiry in seconds (our Contact's `expires`, else the Expires
    /// header); negative when absent.
    pub granted_expires: i64,
    /// Whether our Contact is listed in a 2xx: 1 yes, 0 no, -1 unknown.
    pub contact_bound: i32,
    /// The challenge realm of a 401/407, or NULL when there was none.
    pub challenge_realm: *const c_char,
    /// The challenge algorithm, or NULL (MD5).
    pub challenge_algorithm: *const c_char,
    /// The challenge qop options, or NULL.
    pub challenge_qop: *const c_char,
    /// Whether the challenge said `stale=true`.
    pub challenge_stale: bool,
    /// `Min-Expires` of a 423; negative when absent.
    pub min_expires: i64,
    /// `Retry-After` in seconds; negative when absent.
    pub retry_after: i64,
    /// The `X-Twilio-Error` code; 0 when absent.
    pub twilio_error_code: u32,
    /// The `X-Twilio-Error` text, or NULL.
    pub twilio_error_text: *const c_char,
    /// The `Server` header, or NULL.
    pub server: *const c_char,
    /// The transport it arrived on (`REGWATCH_TRANSPORT_*`).
    pub transport: regwatch_transport,
}

/// Fills `resp` with defaults: `struct_size` set, code 0, every optional
/// field absent. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn regwatch_register_response_init(resp: *mut regwatch_register_response) {
    if resp.is_null() {
        return;
    }
    // SAFETY: `resp` is valid for one write per the contract.
    unsafe {
        resp.write(regwatch_register_response {
            struct_size: std::mem::size_of::<regwatch_register_response>() as u32,
            code: 0,
            reason: ptr::null(),
            granted_expires: -1,
            contact_bound: -1,
            challenge_realm: ptr::null(),
            challenge_algorithm: ptr::null(),
            challenge_qop: ptr::null(),
            challenge_stale: false,
            min_expires: -1,
            retry_after: -1,
            twilio_error_code: 0,
            twilio_error_text: ptr::null(),
            server: ptr::null(),
            transport: REGWATCH_TRANSPORT_UNKNOWN,
        })
    };
}

fn expiry_arg(v: i64) -> Result<Option<u32>, regwatch_status> {
    if v < 0 {
        Ok(None)
    } else {
        u32::try_from(v)
            .map(Some)
            .map_err(|_| regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT)
    }
}

/// The status of a probe result handed to the engine: OK when it was
/// awaited, DONE when it no longer was.
pub(crate) fn probe_status(r: Result<bool, crate::core::Error>) -> regwatch_status {
    match r {
        Ok(true) => regwatch_status::REGWATCH_STATUS_OK,
        Ok(false) => regwatch_status::REGWATCH_STATUS_DONE,
        Err(e) => engine_err(e),
    }
}

fn observe(
    h: &mut regwatch_engine,
    now_ms: u64,
    trunk: *const c_char,
    obs: Observation<'_>,
) -> regwatch_status {
    let id = try_ffi!(trunk_id(h, trunk));
    match h.engine.handle_observation(now_ms, id, obs) {
        Ok(()) => regwatch_status::REGWATCH_STATUS_OK,
        Err(e) => engine_err(e),
    }
}

/// Observation: the host sent a REGISTER for `trunk`. `expires` is the
/// requested expiry in seconds (0 = deregistration; negative = unknown);
/// `with_credentials` whether it carried Authorization/Proxy-Authorization.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_register_sent(
    engine: *mut regwatch_engine,
    now_ms: u64,
    trunk: *const c_char,
    expires: i64,
    with_credentials: bool,
    transport: regwatch_transport,
) -> regwatch_status {
    with_engine(engine, |h| {
        let transport = try_ffi!(TransportArg::try_from(transport)).0;
        let expires = try_ffi!(expiry_arg(expires));
        observe(
            h,
            now_ms,
            trunk,
            Observation::RegisterSent(RegisterSent {
                expires,
                with_credentials,
                transport,
                credentials_unknown: false,
            }),
        )
    })
}

/// Observation: a response to the last REGISTER of `trunk` (see
/// `regwatch_register_response`). `resp->struct_size` must be at least
/// the size of the fields this library knows; initialise with
/// `regwatch_register_response_init`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_register_response(
    engine: *mut regwatch_engine,
    now_ms: u64,
    trunk: *const c_char,
    resp: *const regwatch_register_response,
) -> regwatch_status {
    with_engine(engine, |h| {
        if resp.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        // SAFETY: `resp` points to an initialised struct per the contract.
        let r = unsafe { &*resp };
        if (r.struct_size as usize) < std::mem::size_of::<regwatch_register_response>() {
            return regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT;
        }
        if !(100..=699).contains(&r.code) {
            return regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT;
        }
        // SAFETY (all strings below): NULL or NUL-terminated per the contract.
        let reason = try_ffi!(unsafe { opt_str(r.reason) }).unwrap_or("");
        let realm = try_ffi!(unsafe { opt_str(r.challenge_realm) });
        let algorithm = try_ffi!(unsafe { opt_str(r.challenge_algorithm) });
        let qop = try_ffi!(unsafe { opt_str(r.challenge_qop) });
        let twilio_text = try_ffi!(unsafe { opt_str(r.twilio_error_text) }).unwrap_or("");
        let server = try_ffi!(unsafe { opt_str(r.server) });
        let obs = RegisterResponse {
            code: r.code,
            reason,
            granted_expires: try_ffi!(expiry_arg(r.granted_expires)),
            contact_bound: match r.contact_bound {
                0 => Some(false),
                1 => Some(true),
                _ => None,
            },
            challenge: realm.map(|realm| Challenge {
                realm,
                algorithm,
                qop,
                stale: r.challenge_stale,
            }),
            min_expires: try_ffi!(expiry_arg(r.min_expires)),
            retry_after: try_ffi!(expiry_arg(r.retry_after)),
            twilio_error: (r.twilio_error_code != 0).then_some(TwilioError {
                code: r.twilio_error_code,
                text: twilio_text,
            }),
            server,
            transport: try_ffi!(TransportArg::try_from(r.transport)).0,
        };
        observe(h, now_ms, trunk, Observation::RegisterResponse(obs))
    })
}

/// Observation: the last REGISTER of `trunk` got no answer.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_register_timeout(
    engine: *mut regwatch_engine,
    now_ms: u64,
    trunk: *const c_char,
    transport: regwatch_transport,
) -> regwatch_status {
    with_engine(engine, |h| {
        let transport = try_ffi!(TransportArg::try_from(transport)).0;
        observe(h, now_ms, trunk, Observation::RegisterTimeout { transport })
    })
}

/// Observation: the last REGISTER of `trunk` could not be delivered
/// (`REGWATCH_TRANSPORT_ERROR_*`). `detail` (may be NULL) is free text such
/// as the name that failed to resolve.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_transport_error(
    engine: *mut regwatch_engine,
    now_ms: u64,
    trunk: *const c_char,
    transport: regwatch_transport,
    kind: regwatch_transport_error,
    detail: *const c_char,
) -> regwatch_status {
    with_engine(engine, |h| {
        let transport = try_ffi!(TransportArg::try_from(transport)).0;
        let kind = try_ffi!(TransportErrorKind::try_from(kind));
        // SAFETY: NULL or NUL-terminated per the contract.
        let detail = try_ffi!(unsafe { opt_str(detail) });
        observe(
            h,
            now_ms,
            trunk,
            Observation::TransportError {
                transport,
                kind,
                detail,
            },
        )
    })
}

/// Keep-alive: what became of the probe `probe_id` of `trunk` (from a
/// `REGWATCH_EVENT_TRANSMIT`). `code` is the status for
/// `REGWATCH_PROBE_RESPONSE` / `_LOCAL_RESPONSE`; `transport_error` is a
/// `REGWATCH_TRANSPORT_ERROR_*` for `REGWATCH_PROBE_TRANSPORT_ERROR`
/// (else ignored); `rtt_us` is the measured round trip, or negative to let
/// the engine compute it from `now_ms`. Returns `REGWATCH_STATUS_DONE` for
/// a probe no longer awaited (already timed out or answered).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_probe_result(
    engine: *mut regwatch_engine,
    now_ms: u64,
    trunk: *const c_char,
    probe_id: u64,
    outcome: regwatch_probe_outcome,
    code: u16,
    transport_error: regwatch_transport_error,
    rtt_us: i64,
) -> regwatch_status {
    with_engine(engine, |h| {
        let id = try_ffi!(trunk_id(h, trunk));
        let outcome = try_ffi!(ProbeOutcome::try_from(outcome));
        let result = match outcome {
            ProbeOutcome::Response | ProbeOutcome::LocalResponse
                if !(100..=699).contains(&code) =>
            {
                return regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT
            }
            ProbeOutcome::Response => ProbeResult::Response { code },
            ProbeOutcome::LocalResponse => ProbeResult::LocalResponse { code },
            ProbeOutcome::Timeout => ProbeResult::Timeout,
            ProbeOutcome::TransportError => ProbeResult::TransportError {
                kind: try_ffi!(TransportErrorKind::try_from(transport_error)),
            },
        };
        let rtt = u64::try_from(rtt_us).ok();
        probe_status(
            h.engine
                .handle_probe_result(now_ms, id, probe_id, result, rtt),
        )
    })
}

/// Observation: the binding of `trunk` was removed on purpose (Expires: 0
/// answered 2xx, or the host unregistered).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_deregistered(
    engine: *mut regwatch_engine,
    now_ms: u64,
    trunk: *const c_char,
) -> regwatch_status {
    with_engine(engine, |h| {
        observe(h, now_ms, trunk, Observation::Deregistered)
    })
}

/// Observation: the host reports a state for `trunk` without SIP detail
/// (`REGWATCH_HOST_*`). `detail` may be NULL.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_host_state(
    engine: *mut regwatch_engine,
    now_ms: u64,
    trunk: *const c_char,
    state: regwatch_host_state,
    detail: *const c_char,
) -> regwatch_status {
    with_engine(engine, |h| {
        let state = try_ffi!(HostState::try_from(state));
        // SAFETY: NULL or NUL-terminated per the contract.
        let detail = try_ffi!(unsafe { opt_str(detail) });
        observe(h, now_ms, trunk, Observation::HostState { state, detail })
    })
}

/// Observation: one SIP message the host sent or received, as bytes (a UDP
/// datagram, or one message framed from a TCP/TLS stream). A sent REGISTER
/// and a received response to it update the trunk they belong to (matched
/// by Call-ID and CSeq, else by To/From user and domain and the
/// Request-URI); retransmissions count once; other methods are ignored.
/// `peer` (may be NULL) is the remote `host:port`, kept for logs.
///
/// Returns OK when the message was recorded for a trunk,
/// `REGWATCH_STATUS_DONE` when it is not about registration or is a
/// retransmission / provisional / stale response, `REGWATCH_STATUS_NOT_FOUND`
/// when no trunk matches, and `REGWATCH_STATUS_SIP_PARSE` for malformed or
/// oversized (> 64 KiB) input. `bytes` is borrowed for the call.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_observe_sip(
    engine: *mut regwatch_engine,
    now_ms: u64,
    direction: regwatch_direction,
    transport: regwatch_transport,
    peer: *const c_char,
    bytes: *const u8,
    len: usize,
) -> regwatch_status {
    with_engine(engine, |h| {
        let direction = try_ffi!(Direction::try_from(direction));
        let transport = try_ffi!(TransportArg::try_from(transport)).0;
        // SAFETY: NULL or NUL-terminated per the contract.
        let peer = try_ffi!(unsafe { opt_str(peer) });
        if bytes.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        // SAFETY: `bytes` is valid for `len` bytes per the contract.
        let data = unsafe { std::slice::from_raw_parts(bytes, len) };
        use crate::core::SipObserved::*;
        match h.engine.observe_sip(now_ms, direction, transport, data) {
            Ok(Register(_) | Response(_) | KeepAlive(_)) => regwatch_status::REGWATCH_STATUS_OK,
            Ok(Provisional(_) | Retransmission(_) | Stale(_) | NotRegistration) => {
                regwatch_status::REGWATCH_STATUS_DONE
            }
            Ok(Unmatched) => {
                tracing::debug!(peer = peer.unwrap_or("?"), "SIP message matches no trunk");
                regwatch_status::REGWATCH_STATUS_NOT_FOUND
            }
            Err(e) => {
                tracing::debug!(peer = peer.unwrap_or("?"), "unparsable SIP message: {e}");
                regwatch_status::REGWATCH_STATUS_SIP_PARSE
            }
        }
    })
}

/// Whether a host should hand a SIP message to
/// `regwatch_engine_observe_sip` at all: its CSeq method (`method`,
/// `method_len` bytes, not NUL-terminated, as a SIP stack keeps it) is one
/// the engine reads (REGISTER, OPTIONS) and the message (`message_len`
/// bytes) is not over the 64 KiB it accepts. Lets a host skip copying
/// every other message off its SIP threads. Thread-safe; false for NULL.
#[no_mangle]
pub unsafe extern "C" fn regwatch_sip_wanted(
    method: *const c_char,
    method_len: usize,
    message_len: usize,
) -> bool {
    if method.is_null() || message_len == 0 || message_len > crate::sip::MAX_MESSAGE {
        return false;
    }
    // SAFETY: `method` is valid for `method_len` bytes per the contract.
    let m = unsafe { std::slice::from_raw_parts(method.cast::<u8>(), method_len) };
    m.eq_ignore_ascii_case(b"REGISTER") || m.eq_ignore_ascii_case(b"OPTIONS")
}
