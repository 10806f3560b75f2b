//! SIP on the wire: our own zero-copy parser for the headers registration
//! needs, stream framing, the requests regwatch sends, digest auth and URI
//! splitting ([`uri`]).
//! Pure: no IO, no clock.
#![forbid(unsafe_code)]

pub mod build;
pub mod digest;
mod framing;
mod parse;
pub mod uri;

pub use framing::{Frame, FrameError, StreamFramer};
pub use parse::{
    name_is, parse, ChallengeParams, Contact, CredentialParams, Header, Message, NameAddr,
    ParseError, StartLine, MAX_MESSAGE,
};
pub use uri::{uri_host, uri_user};
