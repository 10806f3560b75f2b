//! The stable ids (DESIGN.md's catalogs) as numbered C enums: registration
//! state, cause, severity and probe purpose. Numbers are explicit and
//! never reused; 0 means "none". `regwatch_state_str`,
//! `regwatch_cause_str` and `regwatch_severity_str` give the id as text.
use crate::core::{Cause, ProbePurpose, RegState};
use crate::validate::Severity;
use std::ffi::c_char;

/// A registration state (`REGWATCH_STATE_*`; 0: none).
pub type regwatch_state = u32;
/// No state (findings, actions, transmits).
pub const REGWATCH_STATE_NONE: regwatch_state = 0;
/// `unknown`.
pub const REGWATCH_STATE_UNKNOWN: regwatch_state = 1;
/// `registering`.
pub const REGWATCH_STATE_REGISTERING: regwatch_state = 2;
/// `registered`.
pub const REGWATCH_STATE_REGISTERED: regwatch_state = 3;
/// `refresh_late`.
pub const REGWATCH_STATE_REFRESH_LATE: regwatch_state = 4;
/// `expired`.
pub const REGWATCH_STATE_EXPIRED: regwatch_state = 5;
/// `rejected`.
pub const REGWATCH_STATE_REJECTED: regwatch_state = 6;
/// `unreachable`.
pub const REGWATCH_STATE_UNREACHABLE: regwatch_state = 7;
/// `deregistered`.
pub const REGWATCH_STATE_DEREGISTERED: regwatch_state = 8;
/// `stopped`.
pub const REGWATCH_STATE_STOPPED: regwatch_state = 9;

/// A cause (`REGWATCH_CAUSE_*`; 0: none).
pub type regwatch_cause = u32;
/// No cause (findings, actions, transmits).
pub const REGWATCH_CAUSE_NONE: regwatch_cause = 0;
/// `healthy`.
pub const REGWATCH_CAUSE_HEALTHY: regwatch_cause = 1;
/// `credentials_rejected`.
pub const REGWATCH_CAUSE_CREDENTIALS_REJECTED: regwatch_cause = 2;
/// `account_forbidden`.
pub const REGWATCH_CAUSE_ACCOUNT_FORBIDDEN: regwatch_cause = 3;
/// `auth_username_mismatch`.
pub const REGWATCH_CAUSE_AUTH_USERNAME_MISMATCH: regwatch_cause = 4;
/// `domain_not_found`.
pub const REGWATCH_CAUSE_DOMAIN_NOT_FOUND: regwatch_cause = 5;
/// `interval_too_brief`.
pub const REGWATCH_CAUSE_INTERVAL_TOO_BRIEF: regwatch_cause = 6;
/// `registrar_unreachable`.
pub const REGWATCH_CAUSE_REGISTRAR_UNREACHABLE: regwatch_cause = 7;
/// `transport_blocked`.
pub const REGWATCH_CAUSE_TRANSPORT_BLOCKED: regwatch_cause = 8;
/// `connection_refused`.
pub const REGWATCH_CAUSE_CONNECTION_REFUSED: regwatch_cause = 9;
/// `dns_failure`.
pub const REGWATCH_CAUSE_DNS_FAILURE: regwatch_cause = 10;
/// `tls_failure`.
pub const REGWATCH_CAUSE_TLS_FAILURE: regwatch_cause = 11;
/// `server_error`.
pub const REGWATCH_CAUSE_SERVER_ERROR: regwatch_cause = 12;
/// `rate_limited`.
pub const REGWATCH_CAUSE_RATE_LIMITED: regwatch_cause = 13;
/// `registration_expired`.
pub const REGWATCH_CAUSE_REGISTRATION_EXPIRED: regwatch_cause = 14;
/// `refresh_late`.
pub const REGWATCH_CAUSE_REFRESH_LATE: regwatch_cause = 15;
/// `expiry_drift`.
pub const REGWATCH_CAUSE_EXPIRY_DRIFT: regwatch_cause = 16;
/// `deregistered`.
pub const REGWATCH_CAUSE_DEREGISTERED: regwatch_cause = 17;
/// `config_invalid`.
pub const REGWATCH_CAUSE_CONFIG_INVALID: regwatch_cause = 18;
/// `unknown`.
pub const REGWATCH_CAUSE_UNKNOWN: regwatch_cause = 19;
/// `contact_not_bound`.
pub const REGWATCH_CAUSE_CONTACT_NOT_BOUND: regwatch_cause = 20;
/// `protocol_error`.
pub const REGWATCH_CAUSE_PROTOCOL_ERROR: regwatch_cause = 21;
/// `binding_missing`.
pub const REGWATCH_CAUSE_BINDING_MISSING: regwatch_cause = 22;

/// How serious (`REGWATCH_SEVERITY_*`; 0: none).
pub type regwatch_severity = u32;
/// No severity.
pub const REGWATCH_SEVERITY_NONE: regwatch_severity = 0;
/// `info`.
pub const REGWATCH_SEVERITY_INFO: regwatch_severity = 1;
/// `warning`.
pub const REGWATCH_SEVERITY_WARNING: regwatch_severity = 2;
/// `error`.
pub const REGWATCH_SEVERITY_ERROR: regwatch_severity = 3;

/// Why a keep-alive probe is sent (`REGWATCH_PURPOSE_*`; 0: not a probe).
pub type regwatch_probe_purpose = u32;
/// Not a probe.
pub const REGWATCH_PURPOSE_NONE: regwatch_probe_purpose = 0;
/// The regular keep-alive (`keep_alive`).
pub const REGWATCH_PURPOSE_KEEPALIVE: regwatch_probe_purpose = 1;
/// The fast re-probe after a first failure (`confirm`).
pub const REGWATCH_PURPOSE_CONFIRM: regwatch_probe_purpose = 2;
/// The same registrar over another transport (`alternate`).
pub const REGWATCH_PURPOSE_ALTERNATE: regwatch_probe_purpose = 3;
/// A REGISTER without Contact and without credentials (changes no
/// binding), after a 403 the host's report leaves unexplained.
pub const REGWATCH_PURPOSE_ACCOUNT_QUERY: regwatch_probe_purpose = 4;
/// A REGISTER without Contact (changes no binding) at the trunk's
/// `register_interval`, answering a challenge with the trunk's
/// credentials (`credential_query`): sent with the driver
/// (`via_driver`, `regwatch_engine_probe_job`), the whole answer goes
/// back to the engine.
pub const REGWATCH_PURPOSE_CREDENTIAL_QUERY: regwatch_probe_purpose = 5;

/// The C value of a state.
pub(crate) fn state_code(s: RegState) -> regwatch_state {
    match s {
        RegState::Unknown => REGWATCH_STATE_UNKNOWN,
        RegState::Registering => REGWATCH_STATE_REGISTERING,
        RegState::Registered => REGWATCH_STATE_REGISTERED,
        RegState::RefreshLate => REGWATCH_STATE_REFRESH_LATE,
        RegState::Expired => REGWATCH_STATE_EXPIRED,
        RegState::Rejected => REGWATCH_STATE_REJECTED,
        RegState::Unreachable => REGWATCH_STATE_UNREACHABLE,
        RegState::Deregistered => REGWATCH_STATE_DEREGISTERED,
        RegState::Stopped => REGWATCH_STATE_STOPPED,
    }
}

/// The C value of a cause.
pub(crate) fn cause_code(c: Cause) -> regwatch_cause {
    match c {
        Cause::Healthy => REGWATCH_CAUSE_HEALTHY,
        Cause::CredentialsRejected => REGWATCH_CAUSE_CREDENTIALS_REJECTED,
        Cause::AccountForbidden => REGWATCH_CAUSE_ACCOUNT_FORBIDDEN,
        Cause::AuthUsernameMismatch => REGWATCH_CAUSE_AUTH_USERNAME_MISMATCH,
        Cause::DomainNotFound => REGWATCH_CAUSE_DOMAIN_NOT_FOUND,
        Cause::IntervalTooBrief => REGWATCH_CAUSE_INTERVAL_TOO_BRIEF,
        Cause::RegistrarUnreachable => REGWATCH_CAUSE_REGISTRAR_UNREACHABLE,
        Cause::TransportBlocked => REGWATCH_CAUSE_TRANSPORT_BLOCKED,
        Cause::ConnectionRefused => REGWATCH_CAUSE_CONNECTION_REFUSED,
        Cause::DnsFailure => REGWATCH_CAUSE_DNS_FAILURE,
        Cause::TlsFailure => REGWATCH_CAUSE_TLS_FAILURE,
        Cause::ServerError => REGWATCH_CAUSE_SERVER_ERROR,
        Cause::RateLimited => REGWATCH_CAUSE_RATE_LIMITED,
        Cause::RegistrationExpired => REGWATCH_CAUSE_REGISTRATION_EXPIRED,
        Cause::RefreshLate => REGWATCH_CAUSE_REFRESH_LATE,
        Cause::ExpiryDrift => REGWATCH_CAUSE_EXPIRY_DRIFT,
        Cause::Deregistered => REGWATCH_CAUSE_DEREGISTERED,
        Cause::ConfigInvalid => REGWATCH_CAUSE_CONFIG_INVALID,
        Cause::Unknown => REGWATCH_CAUSE_UNKNOWN,
        Cause::ContactNotBound => REGWATCH_CAUSE_CONTACT_NOT_BOUND,
        Cause::ProtocolError => REGWATCH_CAUSE_PROTOCOL_ERROR,
        Cause::BindingMissing => REGWATCH_CAUSE_BINDING_MISSING,
    }
}

/// The C value of a severity.
pub(crate) fn severity_code(s: Severity) -> regwatch_severity {
    match s {
        Severity::Info => REGWATCH_SEVERITY_INFO,
        Severity::Warning => REGWATCH_SEVERITY_WARNING,
        Severity::Error => REGWATCH_SEVERITY_ERROR,
    }
}

/// The C value of a probe purpose.
pub(crate) fn purpose_code(p: ProbePurpose) -> regwatch_probe_purpose {
    match p {
        ProbePurpose::KeepAlive => REGWATCH_PURPOSE_KEEPALIVE,
        ProbePurpose::Confirm => REGWATCH_PURPOSE_CONFIRM,
        ProbePurpose::Alternate => REGWATCH_PURPOSE_ALTERNATE,
        ProbePurpose::AccountQuery => REGWATCH_PURPOSE_ACCOUNT_QUERY,
        ProbePurpose::CredentialQuery => REGWATCH_PURPOSE_CREDENTIAL_QUERY,
    }
}

/// A static NUL-terminated copy of a stable id ("" for `None`).
fn id_cstr(id: Option<&'static str>) -> *const c_char {
    use std::sync::OnceLock;
    static TABLE: OnceLock<Vec<(&'static str, std::ffi::CString)>> = OnceLock::new();
    let Some(id) = id else {
        return c"".as_ptr();
    };
    let table = TABLE.get_or_init(|| {
        RegState::ALL
            .iter()
            .map(|s| s.as_str())
            .chain(Cause::ALL.iter().map(|c| c.as_str()))
            .chain(
                [Severity::Info, Severity::Warning, Severity::Error]
                    .iter()
                    .map(|s| s.as_str()),
            )
            .map(|s| (s, std::ffi::CString::new(s).unwrap_or_default()))
            .collect()
    });
    table
        .iter()
        .find(|(k, _)| *k == id)
        .map_or(c"".as_ptr(), |(_, c)| c.as_ptr())
}

/// The state with this C value.
pub(crate) fn state_of(v: regwatch_state) -> Option<RegState> {
    RegState::ALL.iter().copied().find(|s| state_code(*s) == v)
}

/// The cause with this C value.
pub(crate) fn cause_of(v: regwatch_cause) -> Option<Cause> {
    Cause::ALL.iter().copied().find(|c| cause_code(*c) == v)
}

/// The state id (`registered`, ...) of a `REGWATCH_STATE_*` value: a
/// static NUL-terminated string, "" for NONE or an unknown value.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn regwatch_state_str(state: regwatch_state) -> *const c_char {
    id_cstr(state_of(state).map(RegState::as_str))
}

/// The cause id (`credentials_rejected`, ...) of a `REGWATCH_CAUSE_*`
/// value: a static NUL-terminated string, "" for NONE or an unknown value.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn regwatch_cause_str(cause: regwatch_cause) -> *const c_char {
    id_cstr(cause_of(cause).map(Cause::as_str))
}

/// `info`, `warning` or `error` for a `REGWATCH_SEVERITY_*` value (a
/// static string; "" for NONE or an unknown value). Thread-safe.
#[no_mangle]
pub extern "C" fn regwatch_severity_str(severity: regwatch_severity) -> *const c_char {
    let s = [Severity::Info, Severity::Warning, Severity::Error]
        .into_iter()
        .find(|s| severity_code(*s) == severity);
    id_cstr(s.map(Severity::as_str))
}

/// The static id text of a state (for the crate's own exports).
pub(crate) fn state_cstr(s: RegState) -> *const c_char {
    id_cstr(Some(s.as_str()))
}

/// The static id text of a cause.
pub(crate) fn cause_cstr(c: Cause) -> *const c_char {
    id_cstr(Some(c.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn text(p: *const c_char) -> &'static str {
        // SAFETY: static NUL-terminated strings.
        unsafe { CStr::from_ptr(p) }.to_str().unwrap()
    }

    #[test]
    fn every_id_has_its_own_number_and_its_text() {
        let mut seen = std::collections::BTreeSet::new();
        for s in RegState::ALL {
            assert!(state_code(s) != 0 && seen.insert(state_code(s)));
            assert_eq!(text(regwatch_state_str(state_code(s))), s.as_str());
        }
        let mut seen = std::collections::BTreeSet::new();
        for c in Cause::ALL {
            assert!(cause_code(*c) != 0 && seen.insert(cause_code(*c)));
            assert_eq!(text(regwatch_cause_str(cause_code(*c))), c.as_str());
        }
        assert_eq!(REGWATCH_CAUSE_HEALTHY, 1);
        assert_eq!(REGWATCH_CAUSE_PROTOCOL_ERROR, 21);
        assert_eq!(REGWATCH_CAUSE_BINDING_MISSING, 22);
        assert_eq!(REGWATCH_STATE_STOPPED, 9);
        assert_eq!(text(regwatch_state_str(0)), "");
        assert_eq!(text(regwatch_cause_str(999)), "");
        assert_eq!(
            text(regwatch_severity_str(REGWATCH_SEVERITY_WARNING)),
            "warning"
        );
        assert_eq!(text(regwatch_severity_str(4)), "");
    }
}
