//! The IO layer (feature `driver`): sockets, name resolution, and the
//! one-shot checks built on them. Everything here feeds an [`Engine`]
//! (crate::Engine) and reads its verdict; no decision is made here.
//!
//! * [`check::options`]: one OPTIONS probe to an endpoint.
//! * [`check::test_register`]: the test REGISTER with digest auth, 423
//!   handling and a final Expires: 0.
//! * [`runner::Runner`]: a thread that owns an engine with keep-alives on
//!   and its sockets, and calls the host back with every output.
//!
//! Transports: UDP (RFC 3261 Timer E retransmissions) and TCP (framed by
//! Content-Length, CRLF keep-alives answered).
pub mod check;
pub mod dns;
pub mod exchange;
pub mod runner;

pub use check::{
    dns_failure, options, test_register, trunk_check, CheckOptions, OptionsOutcome, RegisterCheck,
    RegisterStep, TrunkCheck,
};
pub use exchange::{Endpoint, ExchangeError};
pub use runner::{OutputCallback, Runner, RunnerConfig, RunnerError};
