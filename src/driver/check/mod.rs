//! One-shot checks: an OPTIONS probe per transport, and the test REGISTER
//! (challenge answered, 423 retried with Min-Expires, granted expiry and
//! our binding read from the 200 OK, then Expires: 0). Every message sent
//! and received goes through an [`Engine`](crate::core::Engine)'s raw-SIP
//! observation, so the verdict is the engine's diagnosis, the same one a
//! PBX module would get.
//!
//! Files: `target.rs` (options, [`locate`], what every check shares),
//! `probe.rs` ([`options`]), `register.rs` ([`test_register`]),
//! `trunk.rs` ([`trunk_check`]: the three together).
mod probe;
mod register;
mod target;
mod trunk;

pub use probe::{account_query, options, OptionsOutcome};
pub use register::{query_register, test_register, Binding, RegisterCheck, RegisterStep};
pub use target::{dns_failure, locate, CheckOptions};
pub use trunk::{trunk_check, TrunkCheck};
