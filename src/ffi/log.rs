//! Per-engine logging: a `tracing` subscriber that forwards to the host's
//! callback. Nothing process-global is installed.
use std::ffi::{c_char, c_void, CString};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Log levels, most severe first.
pub type regwatch_log_level = u32;
/// Errors: something regwatch could not do.
pub const REGWATCH_LOG_ERROR: regwatch_log_level = 1;
/// Alerts raised and other conditions that need attention.
pub const REGWATCH_LOG_WARN: regwatch_log_level = 2;
/// Alerts cleared, notable changes.
pub const REGWATCH_LOG_INFO: regwatch_log_level = 3;
/// State changes and trunk management.
pub const REGWATCH_LOG_DEBUG: regwatch_log_level = 4;
/// Every observation.
pub const REGWATCH_LOG_TRACE: regwatch_log_level = 5;

/// Receives one log line. `message` is NUL-terminated UTF-8, borrowed for
/// the duration of the callback only. Called synchronously, on the thread
/// that made the `regwatch_engine_*` call, during that call; it must not
/// call back into the same engine. Passwords never appear in messages.
pub type regwatch_log_callback = Option<
    unsafe extern "C" fn(userdata: *mut c_void, level: regwatch_log_level, message: *const c_char),
>;

fn level_num(l: &Level) -> regwatch_log_level {
    match *l {
        Level::ERROR => REGWATCH_LOG_ERROR,
        Level::WARN => REGWATCH_LOG_WARN,
        Level::INFO => REGWATCH_LOG_INFO,
        Level::DEBUG => REGWATCH_LOG_DEBUG,
        _ => REGWATCH_LOG_TRACE,
    }
}

pub(crate) struct CallbackLogger {
    cb: unsafe extern "C" fn(*mut c_void, regwatch_log_level, *const c_char),
    userdata: *mut c_void,
    max: regwatch_log_level,
    next_span: AtomicU64,
}

// SAFETY: the callback and userdata are only used on the thread that is
// making a call into the engine (the engine serialises its callers), as
// documented on `regwatch_engine_set_log_callback`.
unsafe impl Send for CallbackLogger {}
// SAFETY: as above; the logger holds no interior state but an atomic.
unsafe impl Sync for CallbackLogger {}

impl CallbackLogger {
    pub(crate) fn new(
        cb: unsafe extern "C" fn(*mut c_void, regwatch_log_level, *const c_char),
        userdata: *mut c_void,
        max: regwatch_log_level,
    ) -> CallbackLogger {
        CallbackLogger {
            cb,
            userdata,
            max,
            next_span: AtomicU64::new(1),
        }
    }
}

struct Line(String);

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            if !self.0.is_empty() {
                self.0.insert(0, ' ');
            }
            self.0.insert_str(0, value);
        } else {
            let _ = write!(self.0, " {}={}", field.name(), value);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let msg = format!("{value:?}");
            if !self.0.is_empty() {
                self.0.insert(0, ' ');
            }
            self.0.insert_str(0, &msg);
        } else {
            let _ = write!(self.0, " {}={:?}", field.name(), value);
        }
    }
}

impl Subscriber for CallbackLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        level_num(metadata.level()) <= self.max
    }
    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed).max(1))
    }
    fn record(&self, _span: &Id, _values: &Record<'_>) {}
    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = Line(String::new());
        event.record(&mut line);
        let msg = CString::new(line.0.replace('\0', " ")).unwrap_or_default();
        // SAFETY: the host gave us this callback and userdata for this purpose;
        // `msg` lives until after the call.
        unsafe {
            (self.cb)(
                self.userdata,
                level_num(event.metadata().level()),
                msg.as_ptr(),
            )
        };
    }
    fn enter(&self, _span: &Id) {}
    fn exit(&self, _span: &Id) {}
}

/// The C level of a module's `log_level` setting.
pub(crate) fn level_code(l: crate::hosts::settings::LogLevel) -> regwatch_log_level {
    use crate::hosts::settings::LogLevel;
    match l {
        LogLevel::Error => REGWATCH_LOG_ERROR,
        LogLevel::Warn => REGWATCH_LOG_WARN,
        LogLevel::Info => REGWATCH_LOG_INFO,
        LogLevel::Debug => REGWATCH_LOG_DEBUG,
        LogLevel::Trace => REGWATCH_LOG_TRACE,
    }
}
