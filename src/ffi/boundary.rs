//! The boundary helpers every export goes through: panic capture, NULL
//! checks, poisoning, C strings in and caller-owned buffers out.
use super::regwatch_status;
use std::ffi::{c_char, CStr};

/// A handle that a panic poisons (every `regwatch_*` handle with `_free`).
pub(crate) trait Handle {
    /// Whether an earlier call on this handle panicked.
    fn poisoned(&self) -> bool;
    /// Marks the handle poisoned.
    fn poison(&mut self);
    /// Where the handle's logs go, for the call and for a caught panic.
    fn logger(&self) -> Option<tracing::Dispatch> {
        None
    }
}

/// Runs `f` without a handle, turning a panic into `REGWATCH_STATUS_PANIC`.
/// The panic's message goes nowhere (these exports have no log callback):
/// the status says it all.
pub(crate) fn guard(f: impl FnOnce() -> regwatch_status) -> regwatch_status {
    crate::quiet_panic::catch(f).unwrap_or(regwatch_status::REGWATCH_STATUS_PANIC)
}

/// Runs `f` on the handle behind `p`: `NULL_ARGUMENT` for NULL, `POISONED`
/// after an earlier panic, the handle's log dispatcher for the call, and a
/// panic caught, logged through that dispatcher (never on stderr) and
/// turned into `REGWATCH_STATUS_PANIC`, poisoning the handle. Always
/// inlined: every export passes through it, and out of line it copies the
/// export's closure once more.
#[inline(always)]
pub(crate) fn with_handle<H: Handle>(
    p: *mut H,
    f: impl FnOnce(&mut H) -> regwatch_status,
) -> regwatch_status {
    if p.is_null() {
        return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: `p` came from the handle's `_new` and the caller serialises
    // calls on it, so this is the only reference for the call's duration.
    let h = unsafe { &mut *p };
    if h.poisoned() {
        return regwatch_status::REGWATCH_STATUS_POISONED;
    }
    let logger = h.logger();
    let result = crate::quiet_panic::catch(|| match &logger {
        Some(d) => tracing::dispatcher::with_default(d, || f(h)),
        None => f(h),
    });
    match result {
        Ok(s) => s,
        Err(panic) => {
            // SAFETY: as above; the closure's borrow ended with the panic.
            unsafe { (*p).poison() };
            if let Some(d) = &logger {
                // Caught too: nothing may unwind out of an export.
                let _ = crate::quiet_panic::catch(|| {
                    tracing::dispatcher::with_default(d, || {
                        tracing::error!(
                            "internal error, the handle is now poisoned: panicked: {panic}"
                        )
                    })
                });
            }
            regwatch_status::REGWATCH_STATUS_PANIC
        }
    }
}

/// Runs `f` on an immutable object behind `p` (NULL and panic checked).
pub(crate) fn with_ref<T>(p: *const T, f: impl FnOnce(&T) -> regwatch_status) -> regwatch_status {
    guard(|| {
        if p.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        // SAFETY: a live object per the contract of the calling export,
        // only read.
        f(unsafe { &*p })
    })
}

/// Frees a boxed handle (poisoned or not); NULL is ignored.
///
/// # Safety
/// `p` is NULL or came from `Box::into_raw` and is freed once.
pub(crate) unsafe fn free_box<T>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: per the contract.
        let _ = crate::quiet_panic::catch(|| drop(unsafe { Box::from_raw(p) }));
    }
}

/// Writes a new boxed handle to `*out`.
///
/// # Safety
/// `out` is valid for one write.
pub(crate) unsafe fn put_box<T>(out: *mut *mut T, v: T) -> regwatch_status {
    // SAFETY: per the contract.
    unsafe { out.write(Box::into_raw(Box::new(v))) };
    regwatch_status::REGWATCH_STATUS_OK
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

/// Borrows `n` (name, value) pairs from two parallel C arrays (a NULL
/// value reads as "").
///
/// # Safety
/// `names` and `values` are NULL (with `n == 0`) or point to `n` valid
/// NUL-terminated strings each.
pub(crate) unsafe fn pairs<'a>(
    names: *const *const c_char,
    values: *const *const c_char,
    n: usize,
) -> Result<Vec<(&'a str, &'a str)>, regwatch_status> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if names.is_null() || values.is_null() {
        return Err(regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT);
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        // SAFETY: both arrays hold `n` entries per the contract.
        let (k, v) = unsafe { (*names.add(i), *values.add(i)) };
        // SAFETY: each entry is a NUL-terminated string or NULL.
        let k = unsafe { req_str(k) }?;
        let v = unsafe { opt_str(v) }?.unwrap_or("");
        out.push((k, v));
    }
    Ok(out)
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

/// Returns the status of a `Result<_, regwatch_status>` that failed.
macro_rules! try_ffi {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(status) => return status,
        }
    };
}
pub(crate) use try_ffi;
