//! FreeSWITCH (mod_sofia) adapters.
//!
//! * `sofia::gateway_state`, `gateway_add`, `gateway_delete` and
//!   `gateway_invalid_digest_req` events ([`GatewayEvent`]) from a header
//!   list (what a module copies out of `switch_event_t`), from the raw
//!   `Name: value` text ([`parse_raw_events`]) or from the one-line compact
//!   form ([`parse_compact_line`]). A [`GatewayTracker`] turns them into
//!   facts, and into [`GatewayChange`]s when gateways come and go; its
//!   table says what each state and `Status` means.
//! * the sofia gateway XML ([`parse_gateways`]): one
//!   [`TrunkConfig`](crate::TrunkConfig) per gateway with findings and
//!   mod_sofia-specific notes, and the [`GatewayInfo`] the tracker uses.
//!
//! The XML is read by a small hand-written, lenient tag reader rather than
//! an XML crate: FreeSWITCH's own `switch_xml` accepts what strict XML
//! parsers refuse (a bare `&` in a password), and the lint must read the
//! file the way FreeSWITCH does. Only tags and attributes are needed.
//!
//! ```
//! use regwatch::hosts::freeswitch::{parse_compact_line, GatewayEvent, GatewayTracker};
//!
//! let mut tracker = GatewayTracker::new();
//! let line = "06:03:18 sofia::gateway_state Gateway=gw_404 State=FAILED Ping-Status=DOWN \
//!             Register-Network-IP=127.0.0.1 Register-Network-Port=5093 Phrase=Not Found Status=404";
//! let ev = GatewayEvent::from_raw(&parse_compact_line(line).unwrap()).unwrap();
//! let m = tracker.handle(&ev);
//! assert_eq!(m.facts[0].trunk, "gw_404");
//! ```

mod events;
mod gateway;
mod session;
mod status;
mod tracker;
mod xml;

pub use events::{
    parse_compact, parse_compact_line, parse_raw_events, GatewayEvent, GatewayState,
    GatewayStateEvent, PingStatus, RawEvent,
};
pub use gateway::{parse_gateways, FreeswitchTrunk, SofiaGateway};
pub use session::FreeswitchSession;
pub use status::{parse_status_xml, GatewayStatus};
pub use tracker::{GatewayChange, GatewayInfo, GatewayTracker, Mapping};
