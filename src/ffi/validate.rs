//! Stateless validation. Every function here is thread-safe.
use super::boundary::{guard, opt_str, req_str, try_ffi, write_out};
use super::regwatch_status;
use crate::validate::{self, findings_to_json, Profile};
use std::ffi::c_char;

/// `NULL`, `""` or `"auto"`: detect from the domain.
unsafe fn profile_arg(p: *const c_char, domain: &str) -> Result<Profile, regwatch_status> {
    // SAFETY: forwarded contract.
    match unsafe { opt_str(p) }? {
        None | Some("") | Some("auto") => Ok(Profile::detect(domain)),
        Some(s) => Profile::parse(s).ok_or(regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT),
    }
}

/// Validates a registrar domain. Writes the findings as a JSON array
/// (`[{"code","severity","field","message","fix"}]`, `[]` when clean) into
/// `buf`, NUL-terminated.
///
/// `profile`: `"twilio"`, `"generic"`, or NULL / `"auto"` to detect from
/// the domain. `*out_len` (if not NULL) receives the bytes needed,
/// including the NUL, on OK and on `REGWATCH_STATUS_BUFFER_TOO_SMALL`.
/// Thread-safe; calls no callback.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_validate_domain(
    domain: *const c_char,
    profile: *const c_char,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> regwatch_status {
    guard(|| {
        // SAFETY: C strings per the documented contract.
        let domain = try_ffi!(unsafe { req_str(domain) });
        let profile = try_ffi!(unsafe { profile_arg(profile, domain) });
        let json = findings_to_json(&validate::validate_domain(domain, profile));
        // SAFETY: buffer per the documented contract.
        unsafe { write_out(&json, buf, len, out_len) }
    })
}

/// Validates credentials. `auth_username` and `password` may be NULL (not
/// configured). The password is never copied into the output: findings
/// describe it without quoting it. Output as for
/// `regwatch_validate_domain`. `profile`: `"twilio"` or `"generic"`
/// (NULL or `"auto"` means generic: there is no domain to detect from).
/// Thread-safe; calls no callback.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_validate_credentials(
    username: *const c_char,
    auth_username: *const c_char,
    password: *const c_char,
    profile: *const c_char,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> regwatch_status {
    guard(|| {
        // SAFETY: C strings per the documented contract.
        let username = try_ffi!(unsafe { req_str(username) });
        let auth = try_ffi!(unsafe { opt_str(auth_username) });
        let password = try_ffi!(unsafe { opt_str(password) });
        let profile = try_ffi!(unsafe { profile_arg(profile, "") });
        let json = findings_to_json(&validate::validate_credentials(
            username, auth, password, profile,
        ));
        // SAFETY: buffer per the documented contract.
        unsafe { write_out(&json, buf, len, out_len) }
    })
}

/// Checks a REGISTER Request-URI (`sip:acme.sip.twilio.com`) against the
/// configured domain. Output as for `regwatch_validate_domain`.
/// Thread-safe; calls no callback.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_validate_request_uri(
    request_uri: *const c_char,
    domain: *const c_char,
    profile: *const c_char,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> regwatch_status {
    guard(|| {
        // SAFETY: C strings per the documented contract.
        let uri = try_ffi!(unsafe { req_str(request_uri) });
        let domain = try_ffi!(unsafe { req_str(domain) });
        let profile = try_ffi!(unsafe { profile_arg(profile, domain) });
        let json = findings_to_json(&validate::validate_request_uri(uri, domain, profile));
        // SAFETY: buffer per the documented contract.
        unsafe { write_out(&json, buf, len, out_len) }
    })
}

/// What `regwatch_check_credentials` found.
pub type regwatch_credential_check = u32;
/// The REGISTER's digest response was computed with this password.
pub const REGWATCH_CREDENTIALS_MATCH: regwatch_credential_check = 1;
/// It was not: the PBX sends a different password (or hashed another
/// username/realm than it shows).
pub const REGWATCH_CREDENTIALS_MISMATCH: regwatch_credential_check = 2;
/// The message carries no Authorization / Proxy-Authorization.
pub const REGWATCH_CREDENTIALS_NO_AUTHORIZATION: regwatch_credential_check = 3;
/// It cannot be checked (auth-int, unknown algorithm, missing fields).
pub const REGWATCH_CREDENTIALS_UNSUPPORTED: regwatch_credential_check = 4;

/// Checks a captured REGISTER (with Authorization or Proxy-Authorization)
/// against the configured password: tells "the PBX sends a different
/// password" from "the password is right, the registrar does not know this
/// user". Writes `*out_result` (`REGWATCH_CREDENTIALS_*`) on OK; returns
/// `REGWATCH_STATUS_SIP_PARSE` for a malformed message. The password is
/// used for the computation only, never copied or logged. Thread-safe.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_check_credentials(
    register: *const u8,
    len: usize,
    password: *const c_char,
    out_result: *mut regwatch_credential_check,
) -> regwatch_status {
    guard(|| {
        if register.is_null() || out_result.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        // SAFETY: C string per the contract.
        let password = try_ffi!(unsafe { req_str(password) });
        // SAFETY: `register` is valid for `len` bytes per the contract.
        let bytes = unsafe { std::slice::from_raw_parts(register, len) };
        let Ok(msg) = crate::sip::parse(bytes) else {
            return regwatch_status::REGWATCH_STATUS_SIP_PARSE;
        };
        use crate::sip::digest::{check_authorization, CredentialCheck::*};
        let r = match check_authorization(&msg, password) {
            Matches => REGWATCH_CREDENTIALS_MATCH,
            Mismatch => REGWATCH_CREDENTIALS_MISMATCH,
            NoAuthorization => REGWATCH_CREDENTIALS_NO_AUTHORIZATION,
            Unsupported(_) => REGWATCH_CREDENTIALS_UNSUPPORTED,
        };
        // SAFETY: valid for one write per the contract.
        unsafe { *out_result = r };
        regwatch_status::REGWATCH_STATUS_OK
    })
}
