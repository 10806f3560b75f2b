//! SIP on the wire: our own zero-copy parser for the headers registration
//! needs, stream framing, the requests regwatch sends, and digest auth.
//! Pure: no IO, no clock.
#![forbid(unsafe_code)]
#![deny(clippy::disallowed_methods, clippy::disallowed_types)]

pub mod build;
pub mod digest;
mod framing;
mod parse;

pub use framing::{Frame, FrameError, StreamFramer};
pub use parse::{
    name_is, parse, uri_host, uri_user, ChallengeParams, Contact, CredentialParams, Header,
    Message, NameAddr, ParseError, StartLine, MAX_MESSAGE,
};
