//! The sans-IO core: no clock reads, no sockets, no threads, no unsafe.
//!
//! Time comes in as `now_ms` (monotonic milliseconds, any origin); the
//! engine's outputs are drained with [`Engine::poll_output`] and its next
//! deadline read with [`Engine::poll_timeout`]. See the crate docs for the
//! run-loop contract.
#![forbid(unsafe_code)]
#![deny(clippy::disallowed_methods, clippy::disallowed_types)]

mod config;
pub mod diagnosis;
mod engine;
mod event;
mod history;
pub mod keepalive;
mod observation;
mod refresh;
mod report;
mod state;
mod text;

pub use crate::validate::Severity;
pub use config::{ConfigError, EngineConfig, KeepAlivePolicy, Secret, TrunkConfig};
pub use diagnosis::{Confidence, Diagnosis, Reference};
pub use engine::{
    Direction, Engine, Error, SipObserved, TrunkCounters, TrunkId, TrunkSnapshot, DELAY_BUCKETS_MS,
};
pub use engine::{ExchangeOutcome, Verdict, JOB_QUEUE_GRACE_MS};
pub use event::{Action, Event, Output};
pub use history::{HistoryEntry, HistoryKind};
pub use keepalive::{
    KeepAliveStatus, Probe, ProbeClass, ProbePurpose, ProbeResult, ProbeTarget, QueryRequest,
    RttStats,
};
pub use observation::{
    Challenge, HostState, Observation, RegisterResponse, RegisterSent, TransportErrorKind,
    TwilioError,
};
pub use refresh::RefreshPolicy;
pub use report::{render_findings_text, render_trunk_json, render_trunk_text, render_trunks_text};
pub use state::{Cause, RegState};
pub use text::{terminal_safe, terminal_safe_block};
