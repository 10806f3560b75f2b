//! What `sofia xmlstatus` says of each gateway: its registration state as
//! sofia holds it. A module that loads while FreeSWITCH runs (or after a
//! reload) seeds its gateways from it, so a registered gateway is
//! `registered` at once instead of `unknown` until its next refresh.
//!
//! The output (mod_sofia.c, `cmd_xml_status` without arguments) lists each
//! profile and, per gateway,
//! `<gateway>\n<name>N</name>\n<type>gateway</type>\n<data>URI</data>\n<state>S</state>\n</gateway>`,
//! sometimes followed by ` (retry: Ns)`. No credentials appear in it.
use super::xml::decode_entities;
use crate::core::HostState;

/// Gateways read at most (as the tracker's own bound).
const MAX_GATEWAYS: usize = 65_536;

/// One gateway's name and sofia state (`REGED`, `FAIL_WAIT`...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayStatus {
    /// The gateway's name.
    pub name: String,
    /// sofia's state name.
    pub state: String,
}

impl GatewayStatus {
    /// What the state says of the registration, when it says something
    /// final: `REGED` registered; `FAILED` and `FAIL_WAIT` rejected (a
    /// failure, cause unknown: waiting to retry). `TRYING`, `REGISTER`,
    /// `UNREGED`, `NOREG`, `DOWN`... say nothing yet.
    pub fn host_state(&self) -> Option<HostState> {
        match self.state.as_str() {
            "REGED" => Some(HostState::Registered),
            "FAILED" | "FAIL_WAIT" => Some(HostState::Rejected),
            _ => None,
        }
    }
}

fn between<'a>(block: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let s = block.find(&open)? + open.len();
    let e = block[s..].find(&close)? + s;
    Some(block[s..e].trim())
}

/// Every `<gateway>` of a `sofia xmlstatus` output, in order.
pub fn parse_status_xml(text: &str) -> Vec<GatewayStatus> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("<gateway>") {
        let after = &rest[start + "<gateway>".len()..];
        let Some(end) = after.find("</gateway>") else {
            break;
        };
        let block = &after[..end];
        if between(block, "type").is_none_or(|t| t == "gateway") {
            if let (Some(name), Some(state)) = (between(block, "name"), between(block, "state")) {
                if !name.is_empty() {
                    out.push(GatewayStatus {
                        name: decode_entities(name),
                        state: state.to_ascii_uppercase(),
                    });
                }
            }
        }
        if out.len() >= MAX_GATEWAYS {
            break;
        }
        rest = &after[end + "</gateway>".len()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of FreeSWITCH 1.11's `sofia xmlstatus`.
    const STATUS: &str = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<profiles>\n\
        <profile>\n<name>external</name>\n<type>profile</type>\n<data>sip:mod_sofia@127.0.0.1:5090</data>\n<state>RUNNING (0)</state>\n</profile>\n\
        <gateway>\n<name>gw_ok</name>\n<type>gateway</type>\n<data>sip:alice@acme.sip.twilio.com</data>\n<state>REGED</state>\n</gateway>\n\n\
        <gateway>\n<name>gw_bad&amp;1</name>\n<type>gateway</type>\n<data>sip:frank@acme.sip.twilio.com</data>\n<state>FAIL_WAIT</state>\n</gateway>\n (retry: 27s)\n\
        <gateway>\n<name>gw_try</name>\n<type>gateway</type>\n<data>sip:x@y</data>\n<state>TRYING</state>\n</gateway>\n\
        <gateway>\n<name>gw_cut</name>\n<type>gateway</type>\n<data>sip:x@y</data>\n<state>REGED</state>\n";

    #[test]
    fn reads_each_gateway_and_its_state() {
        let s = parse_status_xml(STATUS);
        let got: Vec<(&str, Option<HostState>)> = s
            .iter()
            .map(|g| (g.name.as_str(), g.host_state()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("gw_ok", Some(HostState::Registered)),
                ("gw_bad&1", Some(HostState::Rejected)),
                ("gw_try", None),
            ]
        );
        assert!(parse_status_xml("").is_empty());
        assert!(
            parse_status_xml("<gateway><name></name><state>REGED</state></gateway>").is_empty()
        );
        assert!(parse_status_xml("garbage <gateway> no end").is_empty());
    }
}
