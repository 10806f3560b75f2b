//! regwatch keeps SIP trunk registrations alive and explains why they fail.
//!
//! A PBX or softphone registers to a SIP registrar (most often Twilio's
//! `<name>.sip.twilio.com`). regwatch follows what the host does and hears
//! (REGISTER sent, the final response, timeouts, transport errors, explicit
//! deregistration), tracks each trunk's registration state over time,
//! notices a binding that lapses silently at the second it lapses, and turns
//! every failure into a diagnosis with evidence and numbered remediation
//! steps. It also validates a trunk's domain and credentials before the first
//! REGISTER is sent.
//!
//! # Layers
//!
//! Each layer imports only those below it (`tests/layering.rs` checks every
//! file's imports against this order, and `clippy.toml` denies clocks,
//! sockets, threads and files in the sans-IO layers):
//!
//! * [`validate`]: pure functions that check a domain, credentials, expiry,
//!   transport and realm and return [`validate::Finding`]s. Never a secret.
//! * [`sip`]: SIP message parsing, building, digest auth, stream framing,
//!   URIs (`sip::uri`) and the retransmission schedule. Sans-IO.
//! * [`core`]: the sans-IO [`Engine`]. No clock reads, no sockets, no
//!   threads, no unsafe code. Time is passed in as monotonic milliseconds;
//!   jitter comes from a seed passed in. The registration state machine,
//!   the classification of a REGISTER's outcome, the alert policy and the
//!   diagnosis catalog live here, once.
//! * [`hosts`]: what Asterisk and FreeSWITCH say (events, log lines,
//!   configuration) turned into observations, the modules' sessions and
//!   settings, and everything a module shows (log lines, AMI blocks,
//!   FreeSWITCH headers). Sans-IO.
//! * `capture` (feature `capture`): pcap/pcapng and text captures read for
//!   `regwatch analyze`. Sans-IO.
//! * `driver` (feature `driver`): the IO: one-shot checks over UDP, TCP and
//!   TLS, DNS, and the keep-alive runner thread. The verdict is always an
//!   engine's.
//! * `ffi`: the stable C ABI (`include/regwatch.h`), the only module with
//!   `extern "C"` and raw pointers; it wraps the layers above and decides
//!   nothing.
//!
//! # The run-loop contract
//!
//! The engine never does IO and never reads a clock. The host (a PBX module,
//! a softphone, the CLI) drives it with one rule:
//!
//! > After **any** input — [`Engine::handle_observation`],
//! > [`Engine::handle_timeout`], [`Engine::add_trunk`],
//! > [`Engine::update_trunk`] or [`Engine::remove_trunk`] — drain
//! > [`Engine::poll_output`] until it returns `None`, then re-arm **one**
//! > timer at [`Engine::poll_timeout`] (an absolute deadline on the same
//! > monotonic clock as the `now_ms` you pass in). When that timer fires,
//! > call [`Engine::handle_timeout`] with the current time, and drain again.
//!
//! `now_ms` must never go backwards; a smaller value than the last one seen
//! is treated as the last one seen. Calling `handle_timeout` early is
//! harmless (nothing is due yet); calling it late is harmless too (everything
//! overdue fires, in deadline order, with its own deadline as the time it
//! happened, and the lateness is visible in the trunk's history).
//!
//! ```
//! use regwatch::{Engine, EngineConfig, TrunkConfig, Observation, RegisterSent,
//!                RegisterResponse, Output};
//!
//! let mut engine = Engine::new(EngineConfig::default(), 0, 42);
//! let mut cfg = TrunkConfig::new("office");
//! cfg.set("domain", "acme.sip.twilio.com").unwrap();
//! cfg.set("username", "office-pbx").unwrap();
//! let trunk = engine.add_trunk(0, cfg).unwrap();
//!
//! engine.handle_observation(1_000, trunk, Observation::RegisterSent(RegisterSent {
//!     expires: Some(3600), with_credentials: true, ..Default::default()
//! })).unwrap();
//! engine.handle_observation(1_080, trunk, Observation::RegisterResponse(RegisterResponse {
//!     code: 200, reason: "OK", granted_expires: Some(3600), contact_bound: Some(true),
//!     ..Default::default()
//! })).unwrap();
//! while let Some(out) = engine.poll_output() {
//!     if let Output::Event(ev) = out { println!("{ev:?}"); }
//! }
//! // Re-arm one timer: the refresh point is checked at 50 % of 3600 s (+ grace).
//! assert!(engine.poll_timeout().is_some());
//! ```
//!
//! A host that cannot run such a loop can call `handle_timeout` from any
//! periodic tick (for example once a second); deadlines are then observed
//! with that tick's resolution.
//!
//! # Threads
//!
//! [`Engine`] is `Send` but not `Sync`: move it between threads freely, but
//! serialise every call on one engine (one Asterisk serializer, one mutex,
//! or one runtime thread).
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[cfg(feature = "capture")]
pub mod capture;
pub mod core;
#[cfg(feature = "driver")]
pub mod driver;
pub mod hosts;
pub mod sip;
pub mod validate;

#[doc(hidden)]
pub mod ffi;
mod quiet_panic;

pub use crate::core::{
    Action, Cause, Challenge, Confidence, Diagnosis, Direction, Engine, EngineConfig, Error, Event,
    HistoryEntry, HistoryKind, HostState, KeepAlivePolicy, KeepAliveStatus, Observation, Output,
    Probe, ProbeClass, ProbePurpose, ProbeResult, ProbeTarget, Reference, RegState,
    RegisterResponse, RegisterSent, RttStats, Secret, Severity, SipObserved, TransportErrorKind,
    TrunkConfig, TrunkCounters, TrunkId, TrunkSnapshot, TwilioError, DELAY_BUCKETS_MS,
};
pub use crate::validate::{Finding, Profile, Transport};

/// The crate version, as in `Cargo.toml`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
