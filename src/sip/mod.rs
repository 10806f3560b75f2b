//! SIP on the wire: our own zero-copy parser for the headers registration
//! needs, stream framing, the requests regwatch sends, digest auth, URI
//! splitting ([`uri`]) and the UDP retransmission schedule ([`timer`]).
//! Pure: no IO, no clock.
#![forbid(unsafe_code)]
#![deny(clippy::disallowed_methods, clippy::disallowed_types)]

pub mod build;
mod challenge;
pub mod digest;
mod framing;
mod parse;
pub mod timer;
pub mod uri;
mod values;

pub use challenge::{ChallengeParams, CredentialParams};
pub use framing::{Frame, FrameError, StreamFramer};
pub use parse::{name_is, parse, Header, Message, ParseError, StartLine, MAX_MESSAGE};
pub use uri::{uri_host, uri_user};
pub use values::{Contact, NameAddr};
