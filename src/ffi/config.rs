//! `regwatch_trunk_config`: a mutable trunk configuration built key by key.
use super::boundary::{
    free_box, opt_str, put_box, req_str, try_ffi, with_handle, with_ref, write_out, Handle,
};
use super::regwatch_status;
use crate::core::{ConfigError, EngineConfig, TrunkConfig};
use crate::validate::findings_to_json;
use std::ffi::c_char;

/// A trunk configuration (a Box). Not thread-safe: one thread at a time.
/// Create with `regwatch_trunk_config_new`, fill with
/// `regwatch_trunk_config_set`, pass to `regwatch_engine_add_trunk` (which
/// copies it), free with `regwatch_trunk_config_free`.
pub struct regwatch_trunk_config {
    pub(crate) inner: TrunkConfig,
    poisoned: bool,
}

impl regwatch_trunk_config {
    pub(crate) fn new(inner: TrunkConfig) -> regwatch_trunk_config {
        regwatch_trunk_config {
            inner,
            poisoned: false,
        }
    }
}

impl Handle for regwatch_trunk_config {
    fn poisoned(&self) -> bool {
        self.poisoned
    }
    fn poison(&mut self) {
        self.poisoned = true;
    }
}

pub(crate) fn config_status(e: ConfigError) -> regwatch_status {
    match e {
        ConfigError::UnknownKey(_) => regwatch_status::REGWATCH_STATUS_UNKNOWN_KEY,
        ConfigError::InvalidValue { .. } => regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT,
    }
}

/// Creates an empty trunk configuration. On OK, `*out` owns it.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_trunk_config_new(
    out: *mut *mut regwatch_trunk_config,
) -> regwatch_status {
    super::boundary::guard(|| {
        if out.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        // SAFETY: `out` is valid for one write per the contract.
        unsafe { put_box(out, regwatch_trunk_config::new(TrunkConfig::default())) }
    })
}

/// Sets one field. Keys: `name` (required before adding to an engine),
/// `domain`, `username`, `auth_username`, `password`, `realm`, `transport`
/// (`udp`/`tcp`/`tls`), `port`, `proxy` (`host[:port]`), `expires`
/// (seconds), `profile` (`twilio`/`generic`/`auto`). `value` NULL or `""`
/// clears an optional field. Returns `REGWATCH_STATUS_UNKNOWN_KEY` for an
/// unknown key and `REGWATCH_STATUS_INVALID_ARGUMENT` for a value that
/// cannot be stored (a port that is not a number). Content problems (a
/// mistyped domain, a weak password) are not errors here: see
/// `regwatch_trunk_config_findings`. The password is copied and never logged.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_trunk_config_set(
    cfg: *mut regwatch_trunk_config,
    key: *const c_char,
    value: *const c_char,
) -> regwatch_status {
    with_handle(cfg, |cfg| {
        // SAFETY: C strings per the contract.
        let key = try_ffi!(unsafe { req_str(key) });
        let value = try_ffi!(unsafe { opt_str(value) }).unwrap_or("");
        match cfg.inner.set(key, value) {
            Ok(()) => regwatch_status::REGWATCH_STATUS_OK,
            Err(e) => config_status(e),
        }
    })
}

/// Validates the whole configuration (domain, credentials, expiry,
/// transport/port, realm) and writes the findings as a JSON array, as
/// `regwatch_validate_domain` does. No secret appears in the output.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_trunk_config_findings(
    cfg: *const regwatch_trunk_config,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> regwatch_status {
    with_ref(cfg, |cfg| {
        let json = findings_to_json(
            &cfg.inner
                .findings(Some(EngineConfig::default().refresh_ratio)),
        );
        // SAFETY: buffer per the contract.
        unsafe { write_out(&json, buf, len, out_len) }
    })
}

/// Frees a configuration. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn regwatch_trunk_config_free(cfg: *mut regwatch_trunk_config) {
    // SAFETY: `cfg` is NULL or came from regwatch_trunk_config_new.
    unsafe { free_box(cfg) };
}
