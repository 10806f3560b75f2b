//! The IO layer (feature `driver`): sockets, name resolution, and the
//! one-shot checks built on them. What a trunk's state is, and why, is
//! always the [`Engine`](crate::Engine)'s verdict: every message sent and
//! received is fed to one.
//!
//! What the driver does decide is how an exchange is carried out: the
//! test REGISTER's next request (answer a 401/407 once, once more after
//! `stale=true`; retry a 423 once with a larger Min-Expires; stop at a
//! second challenge after credentials; end with Expires: 0, at most three
//! tries), the UDP retransmission schedule ([`crate::sip::timer`]), which
//! located server is used (the first), how long a name lookup is cached
//! (five minutes) and when a misbehaving peer's connection is dropped (the
//! runner's read and write limits).
//!
//! * [`check::options`]: one OPTIONS probe to an endpoint.
//! * [`check::test_register`]: the test REGISTER with digest auth, 423
//!   handling and a final Expires: 0.
//! * [`probe_send::send_probe`]: one engine probe sent as the engine
//!   built it, its answer returned whole (`regwatch_job`).
//! * [`runner::Runner`]: a thread that owns an engine with keep-alives on
//!   and its sockets, and calls the host back with every output.
//!
//! Transports: UDP (RFC 3261 Timer E retransmissions), TCP and TLS (framed
//! by Content-Length, CRLF keep-alives answered).
pub mod check;
pub mod dns;
pub mod exchange;
pub mod probe_send;
pub mod runner;

pub use check::{
    account_query, dns_failure, options, query_register, test_register, trunk_check, Binding,
    CheckOptions, OptionsOutcome, RegisterCheck, RegisterStep, TrunkCheck,
};
pub use exchange::{Endpoint, ExchangeError};
pub use probe_send::{send_probe, ProbeAnswer};
pub use runner::{OutputCallback, Runner, RunnerConfig, RunnerError};
