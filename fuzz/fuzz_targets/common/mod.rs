//! Shared by the host-adapter targets: an engine behind the C ABI, as a
//! PBX module drives it. The C ABI catches panics (and, since regwatch's
//! panic hook keeps them quiet, nothing would abort), so every status is
//! checked here: `REGWATCH_STATUS_PANIC` or `_POISONED` is a crash.
#![allow(dead_code)]

use regwatch::ffi::*;
use regwatch::ffi::regwatch_status::{self, *};
use std::ffi::{c_char, c_void, CString};
use std::mem::MaybeUninit;
use std::ptr;

/// A C string of `s` (a NUL inside becomes a space: C callers cannot
/// pass one).
pub fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).expect("no NUL left")
}

/// The input as text, as a module would get it (invalid UTF-8 replaced:
/// the C ABI refuses it before any parser runs).
pub fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// Fails on a caught panic; otherwise the status.
#[track_caller]
pub fn checked(s: regwatch_status) -> regwatch_status {
    assert!(
        s != REGWATCH_STATUS_PANIC && s != REGWATCH_STATUS_POISONED,
        "regwatch panicked behind the C ABI ({s:?})"
    );
    s
}

/// Fails on a caught panic; any other status is an answer.
#[track_caller]
pub fn ok(s: regwatch_status) {
    let _ = checked(s);
}

unsafe extern "C" fn discard(_: *mut c_void, _: u32, _: *const c_char) {}

/// An engine behind the C ABI, logging at TRACE into nowhere (so every
/// log line is still formatted).
pub struct Host {
    pub e: *mut regwatch_engine,
    pub now: u64,
    buf: Vec<u8>,
}

impl Host {
    pub fn new() -> Host {
        let mut e = ptr::null_mut();
        unsafe {
            ok(regwatch_engine_new(0, 7, &mut e));
            ok(regwatch_engine_set_log_callback(
                e,
                Some(discard),
                ptr::null_mut(),
                5,
            ));
        }
        Host {
            e,
            now: 0,
            buf: vec![0; 1 << 16],
        }
    }

    /// Advances the clock a little, as between two host callbacks.
    pub fn tick(&mut self) -> u64 {
        self.now += 250;
        self.now
    }

    /// Drains every event, then runs the engine's timer once.
    pub fn drain(&mut self) {
        let mut ev = MaybeUninit::<regwatch_event>::uninit();
        for _ in 0..2 {
            while checked(unsafe { regwatch_engine_poll_event(self.e, ev.as_mut_ptr()) })
                == REGWATCH_STATUS_OK
            {}
            let mut at = 0u64;
            if checked(unsafe { regwatch_engine_poll_timeout(self.e, &mut at) })
                == REGWATCH_STATUS_OK
            {
                self.now = self.now.max(at);
                ok(unsafe { regwatch_engine_handle_timeout(self.e, self.now) });
            }
        }
    }

    /// Renders what a console shows: every trunk, the findings, and each
    /// named trunk as text and JSON.
    pub fn render(&mut self, trunks: &[&str]) {
        let (b, n) = (self.buf.as_mut_ptr().cast::<c_char>(), self.buf.len());
        let mut len = 0usize;
        unsafe {
            ok(regwatch_engine_trunks_text(self.e, b, n, &mut len));
            ok(regwatch_engine_trunks_json(self.e, b, n, &mut len));
            ok(regwatch_engine_findings_text(self.e, b, n, &mut len));
            for t in trunks {
                let t = cstring(t);
                ok(regwatch_engine_trunk_text(
                    self.e,
                    t.as_ptr(),
                    b,
                    n,
                    &mut len,
                ));
                ok(regwatch_engine_trunk_json(
                    self.e,
                    t.as_ptr(),
                    b,
                    n,
                    &mut len,
                ));
            }
        }
    }
}

thread_local! {
    static KEPT: std::cell::RefCell<Option<Host>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` on an engine made by `setup`, kept for the next input when `f`
/// says (returns `false`) that the input left it as `setup` made it (only
/// the clock moved on): building one costs more than most inputs, and an
/// engine that nothing changed is the same as a new one.
pub fn with_host(setup: fn(&mut Host), f: impl FnOnce(&mut Host) -> bool) {
    let mut h = KEPT.with(|k| k.borrow_mut().take()).unwrap_or_else(|| {
        let mut h = Host::new();
        setup(&mut h);
        h.drain();
        h
    });
    if !f(&mut h) {
        KEPT.with(|k| *k.borrow_mut() = Some(h));
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        unsafe { regwatch_engine_free(self.e) };
    }
}
