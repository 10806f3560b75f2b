//! The C ABI: the only module with `extern "C"` and raw pointers.
//!
//! One file per C type, as rustls-ffi does: `engine.rs` (the handle, its
//! lifecycle and run loop), `observe.rs` (observations), `event.rs` (the
//! event), `report.rs` (renderings), `asterisk.rs` and `freeswitch.rs` (the host
//! adapters), `settings.rs` (a module's own settings), `config.rs` (`regwatch_trunk_config`), `check.rs`
//! (`regwatch_check`), `runner.rs` (`regwatch_runner`), `validate.rs`,
//! `log.rs`, `status.rs`, `version.rs`; `enums.rs` holds the enum-like
//! arguments with their `TryFrom<u32>`, `boundary.rs` the one helper
//! every export goes through (panic, NULL, poison) and the string and
//! buffer helpers.
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

pub mod asterisk;
mod boundary;
pub mod carry;
#[cfg(feature = "driver")]
pub mod check;
pub mod config;
pub mod engine;
pub mod enums;
pub mod event;
pub mod freeswitch;
pub mod ids;
#[cfg(feature = "driver")]
pub mod job;
mod log;
pub mod observe;
pub mod report;
#[cfg(feature = "driver")]
pub mod runner;
pub mod settings;
pub mod status;
pub mod validate;
pub mod version;

pub use status::regwatch_status;

pub use asterisk::*;
pub use carry::*;
#[cfg(feature = "driver")]
pub use check::*;
pub use config::*;
pub use engine::*;
pub use enums::*;
pub use event::*;
pub use freeswitch::*;
pub use ids::*;
#[cfg(feature = "driver")]
pub use job::*;
pub use log::*;
pub use observe::*;
pub use report::*;
#[cfg(feature = "driver")]
pub use runner::*;
pub use settings::*;
pub use status::regwatch_status_str;
pub use validate::*;
pub use version::*;
