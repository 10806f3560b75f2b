//! Status codes.
use std::ffi::{c_char, CStr};

/// The result of every fallible call. Values are explicit and never
/// renumbered; retired values stay reserved.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum regwatch_status {
    /// Success; outputs were written.
    REGWATCH_STATUS_OK = 0,
    /// Nothing (more) to report: no event pending, no deadline armed.
    REGWATCH_STATUS_DONE = 1,
    /// A required pointer argument was NULL.
    REGWATCH_STATUS_NULL_ARGUMENT = 100,
    /// An argument's value is out of range or malformed.
    REGWATCH_STATUS_INVALID_ARGUMENT = 101,
    /// A string argument is not valid UTF-8.
    REGWATCH_STATUS_INVALID_UTF8 = 102,
    /// The output buffer is too small; `*out_len` holds the size needed.
    REGWATCH_STATUS_BUFFER_TOO_SMALL = 103,
    /// No trunk with that name.
    REGWATCH_STATUS_NOT_FOUND = 104,
    /// A trunk with that name exists already.
    REGWATCH_STATUS_ALREADY_EXISTS = 105,
    /// A configuration key that does not exist.
    REGWATCH_STATUS_UNKNOWN_KEY = 106,
    /// A SIP message could not be parsed (malformed, truncated, > 64 KiB).
    REGWATCH_STATUS_SIP_PARSE = 202,
    /// The operating system refused a resource (a thread, a socket, a poller).
    REGWATCH_STATUS_IO = 300,
    /// A previous call on this handle panicked; only `_free` is allowed.
    REGWATCH_STATUS_POISONED = 900,
    /// This call panicked (a bug in regwatch); the handle is now poisoned.
    REGWATCH_STATUS_PANIC = 901,
}

impl regwatch_status {
    fn name(code: u32) -> &'static CStr {
        use regwatch_status::*;
        const ALL: [regwatch_status; 13] = [
            REGWATCH_STATUS_OK,
            REGWATCH_STATUS_DONE,
            REGWATCH_STATUS_NULL_ARGUMENT,
            REGWATCH_STATUS_INVALID_ARGUMENT,
            REGWATCH_STATUS_INVALID_UTF8,
            REGWATCH_STATUS_BUFFER_TOO_SMALL,
            REGWATCH_STATUS_NOT_FOUND,
            REGWATCH_STATUS_ALREADY_EXISTS,
            REGWATCH_STATUS_UNKNOWN_KEY,
            REGWATCH_STATUS_SIP_PARSE,
            REGWATCH_STATUS_IO,
            REGWATCH_STATUS_POISONED,
            REGWATCH_STATUS_PANIC,
        ];
        match ALL.iter().find(|s| **s as u32 == code) {
            Some(REGWATCH_STATUS_OK) => c"ok",
            Some(REGWATCH_STATUS_DONE) => c"done: nothing more to report",
            Some(REGWATCH_STATUS_NULL_ARGUMENT) => c"a required argument was NULL",
            Some(REGWATCH_STATUS_INVALID_ARGUMENT) => c"invalid argument",
            Some(REGWATCH_STATUS_INVALID_UTF8) => c"a string argument is not valid UTF-8",
            Some(REGWATCH_STATUS_BUFFER_TOO_SMALL) => c"the output buffer is too small",
            Some(REGWATCH_STATUS_NOT_FOUND) => c"no such trunk",
            Some(REGWATCH_STATUS_ALREADY_EXISTS) => c"a trunk with that name exists already",
            Some(REGWATCH_STATUS_UNKNOWN_KEY) => c"unknown configuration key",
            Some(REGWATCH_STATUS_SIP_PARSE) => c"the SIP message could not be parsed",
            Some(REGWATCH_STATUS_IO) => c"the operating system refused a resource (thread, socket)",
            Some(REGWATCH_STATUS_POISONED) => {
                c"the handle is poisoned by an earlier internal error"
            }
            Some(REGWATCH_STATUS_PANIC) => c"internal error (panic caught); the handle is poisoned",
            None => c"unknown status",
        }
    }
}

/// A static, NUL-terminated description of a status value (never NULL;
/// unknown values give "unknown status"). Thread-safe.
#[no_mangle]
pub extern "C" fn regwatch_status_str(status: u32) -> *const c_char {
    regwatch_status::name(status).as_ptr()
}
