//! Asterisk (res_pjsip) adapters.
//!
//! What Asterisk tells a module about outbound registrations, and what each
//! piece becomes:
//!
//! * the stasis/AMI **Registry** event ([`RegistryEvent`]): `Registered`,
//!   `Unregistered` or `Rejected`, never a status code (Cause is always
//!   empty). It becomes a [`HostState`](crate::HostState) fact. Alone it
//!   can only say "rejected, cause unknown".
//! * the **WARNING log lines** of `res_pjsip_outbound_registration`
//!   ([`parse_log_line`]), which carry the code: a 403, 404, 401 or a
//!   timeout becomes the same facts raw SIP would give, so the engine finds
//!   `credentials_rejected`, `domain_not_found` or `registrar_unreachable`.
//! * **ContactStatus** ([`ContactStatusEvent`]): Asterisk's own qualify
//!   result, parsed for display; not an engine input.
//! * the console output of **`pjsip show registrations`**
//!   ([`parse_show_registrations`]): each registration's state as Asterisk
//!   holds it, for a module that starts while registrations already run.
//! * the sorcery **registration/auth/transport** objects
//!   ([`ObjectSet`], [`AsteriskConfig`]) or `pjsip.conf` text
//!   ([`parse_conf`], after [`expand_includes`] has inlined its
//!   `#include`s from a [`ConfSource`]): one [`TrunkConfig`](crate::TrunkConfig) per
//!   registration with validation findings and Asterisk-specific notes, and
//!   the [`RegistrationIndex`] that maps the `(client_uri, server_uri)` pair
//!   Asterisk uses in events back to the registration's name.
//!
//! ```
//! use regwatch::hosts::asterisk::{AsteriskConfig, RegistryEvent, parse_log_line};
//!
//! let conf = AsteriskConfig::from_pjsip_conf(
//!     "[acme]\ntype=registration\nserver_uri=sip:acme.sip.twilio.com\n\
//!      client_uri=sip:office@acme.sip.twilio.com\noutbound_auth=acme-auth\n\
//!      [acme-auth]\ntype=auth\nusername=office\npassword=Str0ngPassw0rdX\n");
//! let index = conf.index();
//! let ev = RegistryEvent::from_json(r#"{"type":"registry","channeltype":"PJSIP",
//!     "username":"sip:office@acme.sip.twilio.com","domain":"sip:acme.sip.twilio.com",
//!     "status":"Rejected","cause":""}"#).unwrap();
//! assert_eq!(ev.facts(&index).unwrap()[0].trunk, "acme");
//! let line = parse_log_line("Fatal response '403' received from 'sip:acme.sip.twilio.com' \
//!     on registration attempt to 'sip:office@acme.sip.twilio.com', stopping outbound registration").unwrap();
//! assert_eq!(line.event.facts(&index).unwrap().len(), 3);
//! ```

mod ami;
mod cli;
mod conf;
mod events;
mod include;
mod index;
mod log;
mod object;
mod session;
mod shared;
mod sorcery;

pub use ami::{ami_messages, AmiMessage};
pub use cli::{parse_show_registrations, CliRegistration};
pub use conf::{parse_conf, ConfFile, ConfSection};
pub use events::{ContactState, ContactStatusEvent, RegistryEvent, RegistryStatus};
pub use include::{
    expand_includes, ConfSource, Expansion, FileId, FileKind, FileMeta, IncludeLimits, MemSource,
    SourceError, ASTERISK_MAX_INCLUDE_LEVEL,
};
pub use index::{IndexEntry, RegistrationIndex};
pub use log::{parse_log_line, LogEvent, LogLine};
pub use object::ObjectSet;
pub use session::AsteriskSession;
pub use sorcery::{AsteriskConfig, AsteriskTrunk, Auth, Registration, TransportObject};
