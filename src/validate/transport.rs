//! Transport and port consistency.
use super::codes::*;
use super::{Finding, Profile, Severity, Transport};

/// Checks a transport and port combination.
pub fn validate_transport(
    transport: Transport,
    port: Option<u16>,
    profile: Profile,
) -> Vec<Finding> {
    let mut out = Vec::new();
    match (transport, port) {
        (Transport::Tls, Some(5060)) => out.push(Finding::new(
            TRANSPORT_PORT_MISMATCH,
            Severity::Warning,
            "port",
            "TLS on port 5060: registrars listen for TLS on 5061, and 5060 answers in plain text, so the handshake fails.",
            "Use port 5061 with TLS (or UDP/TCP with 5060).",
        )),
        (Transport::Udp | Transport::Tcp, Some(5061)) => out.push(Finding::new(
            TRANSPORT_PORT_MISMATCH,
            Severity::Warning,
            "port",
            format!("{} on port 5061: 5061 is the SIP over TLS port, where plain {} gets no answer.", transport.as_str().to_uppercase(), transport.as_str().to_uppercase()),
            "Use port 5060 with UDP/TCP, or switch the transport to TLS.",
        )),
        _ => {}
    }
    if profile == Profile::Twilio && transport != Transport::Tls {
        out.push(Finding::new(
            TRANSPORT_INSECURE,
            Severity::Info,
            "transport",
            format!("{} sends SIP (and the digest exchange) in clear; Twilio recommends TLS on 5061, and domains that require secure transport refuse calls otherwise (32209).", transport.as_str().to_uppercase()),
            "Register over TLS to `<name>.sip.twilio.com:5061`.",
        ));
    }
    out
}
