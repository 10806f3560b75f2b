//! Version and ABI checks.
use std::ffi::c_char;

/// The ABI version. Bumped on every incompatible change of the C ABI;
/// hosts compare the header's `REGWATCH_ABI_VERSION` with
/// `regwatch_abi_version()` at load time and refuse to run on a mismatch.
pub const REGWATCH_ABI_VERSION: u32 = 2;

static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The library version as a static NUL-terminated string ("0.1.0").
/// Thread-safe.
#[no_mangle]
pub extern "C" fn regwatch_version() -> *const c_char {
    VERSION.as_ptr().cast()
}

/// The ABI version of the loaded library (compare with
/// `REGWATCH_ABI_VERSION` from the header). Thread-safe.
#[no_mangle]
pub extern "C" fn regwatch_abi_version() -> u32 {
    REGWATCH_ABI_VERSION
}
