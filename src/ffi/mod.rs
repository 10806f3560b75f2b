//! The C ABI: the only module with `extern "C"` and raw pointers.
//!
//! Conventions (stated once here, and on every function in the header):
//!
//! * Functions that can fail return [`regwatch_status`] and write their
//!   outputs only on `REGWATCH_STATUS_OK`. The one exception: on
//!   `REGWATCH_STATUS_BUFFER_TOO_SMALL`, `*out_len` receives the size needed.
//! * Text inputs are NUL-terminated UTF-8, borrowed for the call only.
//!   Invalid UTF-8 gives `REGWATCH_STATUS_INVALID_UTF8`; a NULL where a value
//!   is required gives `REGWATCH_STATUS_NULL_ARGUMENT`.
//! * Text outputs go into caller-owned buffers and are always NUL-terminated;
//!   `*out_len` is the length including the NUL.
//! * Every export catches panics. A handle whose call panicked is poisoned:
//!   every later call on it returns `REGWATCH_STATUS_POISONED`, except `_free`.
//!   A caught panic never reaches the host's stderr: its message goes to the
//!   engine's log callback (engine calls), the runner's `on_log` (the runner
//!   thread), or nowhere but the returned status (exports without either).
//!   Panics outside regwatch calls still reach the process's panic hook
//!   (see `crate::quiet_panic`).
#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]
// `#[must_use]` on each export makes cbindgen emit REGWATCH_MUST_USE.
#![allow(clippy::double_must_use)]

pub mod config;
#[cfg(feature = "driver")]
pub mod driver;
pub mod engine;
pub mod hosts;
mod log;
pub mod status;
pub mod validate;
pub mod version;

pub use status::regwatch_status;

use std::ffi::{c_char, CStr};

/// Runs `f`, turning a panic into `REGWATCH_STATUS_PANIC`. The panic's
/// message goes nowhere (these exports have no log callback): the status
/// says it all.
pub(crate) fn guard(f: impl FnOnce() -> regwatch_status) -> regwatch_status {
    crate::quiet_panic::catch(f).unwrap_or(regwatch_status::REGWATCH_STATUS_PANIC)
}

/// Borrows a required C string as UTF-8.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string valid for `'a`.
pub(crate) unsafe fn req_str<'a>(p: *const c_char) -> Result<&'a str, regwatch_status> {
    if p.is_null() {
        return Err(regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT);
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str()
        .map_err(|_| regwatch_status::REGWATCH_STATUS_INVALID_UTF8)
}

/// Borrows an optional C string (NULL means `None`).
///
/// # Safety
/// As for [`req_str`].
pub(crate) unsafe fn opt_str<'a>(p: *const c_char) -> Result<Option<&'a str>, regwatch_status> {
    if p.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded contract.
        unsafe { req_str(p) }.map(Some)
    }
}

/// Copies `s` and a NUL into the caller's buffer.
///
/// # Safety
/// `buf` is NULL or valid for `len` bytes of writes; `out_len` is NULL or
/// valid for one write.
pub(crate) unsafe fn write_out(
    s: &str,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> regwatch_status {
    let needed = s.len() + 1;
    if !out_len.is_null() {
        // SAFETY: valid per the contract.
        unsafe { *out_len = needed };
    }
    if buf.is_null() || len < needed {
        return regwatch_status::REGWATCH_STATUS_BUFFER_TOO_SMALL;
    }
    // SAFETY: `buf` holds at least `needed` bytes; the regions cannot
    // overlap since `s` is Rust-owned.
    unsafe {
        std::ptr::copy_nonoverlapping(s.as_ptr(), buf.cast::<u8>(), s.len());
        *buf.add(s.len()) = 0;
    }
    regwatch_status::REGWATCH_STATUS_OK
}

macro_rules! try_ffi {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(status) => return status,
        }
    };
}
pub(crate) use try_ffi;
