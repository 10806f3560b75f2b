//! Reachability: the registrar could not be reached, or not over one
//! transport, or did not speak SIP.
//!
//! Each cause's summary and remedy together; the evidence is the
//! catalog's (it depends on the facts, not on the cause).
use super::*;

/// `registrar_unreachable`: no answer on any transport tried.
pub(super) const REGISTRAR_UNREACHABLE: Words = Words {
    summary: |f| {
        let t = f.trunk;
        let reg = target(f);
        format!(
            "{t}: {reg} does not answer{}.",
            match transports(f).0.as_slice() {
                [] => String::new(),
                ts => format!(" over {}", list(ts)),
            }
        )
    },
    remedy: |f, d| {
        let tw = twilio(f);
        let r = &mut d.remediation;
        let refs = &mut d.references;
        r.push(format!("Check the PBX reaches {} at all: DNS, routing, and outbound firewall rules for the SIP port.", registrar(f)));
        r.push("Probe each transport: `regwatch check` (or `sipsak -s sip:<domain>`) over UDP 5060, TCP 5060 and TLS 5061. If one answers, switch the trunk to it.".to_owned());
        if tw {
            r.push("Twilio answers on UDP/TCP 5060 and TLS 5061; allow outbound traffic to Twilio's published signalling IP ranges.".to_owned());
        }
        let (out, _) = transports(f);
        if out.len() < 2 {
            d.confidence = Confidence::Medium;
        }
        refs.push(rfc(
            "RFC 3261 §17.1.2.2",
            "Timer F: non-INVITE transaction timeout",
        ));
    },
};

/// `transport_blocked`: one transport times out while another answers.
pub(super) const TRANSPORT_BLOCKED: Words = Words {
    summary: |f| {
        let t = f.trunk;
        let reg = target(f);
        let (out, ok) = transports(f);
        match (out.as_slice(), ok.as_slice()) {
            // The keep-alive recovered (the cause stays until the host's
            // REGISTER is answered): nothing times out any more.
            ([], []) => format!(
                "{t}: one transport to {reg} was blocked while another answered."
            ),
            ([], _) => format!(
                "{t}: {reg} answers again over {} (one transport was blocked while another answered).",
                list(&ok)
            ),
            _ => format!(
                "{t}: {} to {reg} gets no answer while {} {}: something blocks {}.",
                list(&out),
                list(&ok),
                if ok.len() > 1 { "do" } else { "does" },
                list(&out)
            ),
        }
    },
    remedy: |f, d| {
        let r = &mut d.remediation;
        let (out, ok) = transports(f);
        r.push(format!(
            "Switch the trunk to {} ({}).",
            if ok.is_empty() {
                "a transport that answers".to_owned()
            } else {
                list(&ok)
            },
            on_pbx(
                f,
                "a `transport=` of that type on the registration",
                "the gateway's `register-transport`"
            )
        ));
        r.push(format!(
            "Or open outbound {} to the registrar in the firewall (and the replies: SIP over UDP needs the firewall to keep the return path).",
            if out.is_empty() {
                "the transport that was blocked".to_owned()
            } else {
                list(&out)
            }
        ));
        if ok.contains(&Transport::Tls) {
            r.push("TLS also protects the digest exchange; use port 5061.".to_owned());
        }
        d.confidence = Confidence::Medium;
    },
};

/// `connection_refused`: nothing listens at the address.
pub(super) const CONNECTION_REFUSED: Words = Words {
    summary: |f| {
        let t = f.trunk;
        let reg = registrar(f);
        let transport = transport_of_error(f);
        // The address that refused, when the keep-alive probed it: an
        // outbound proxy's, or the domain's with its port; else the
        // outbound proxy or the domain as configured.
        let at = match f
            .keepalive
            .and_then(|k| Some((k.target.as_deref()?, k.transport)))
        {
            Some((a, kt)) if transport.is_none() || transport == kt => {
                let host = crate::sip::uri::split_host_port(a).0;
                if f.proxy.is_some_and(|p| !p.trim().is_empty()) {
                    format!("{a} (the outbound proxy for {reg})")
                } else if host.eq_ignore_ascii_case(crate::sip::uri::split_host_port(&reg).0) {
                    a.to_owned()
                } else {
                    format!("{a} (the address used for {reg})")
                }
            }
            _ => target(f),
        };
        format!(
            "{t}: nothing listens at {at}{}: the connection was refused.",
            transport
                .map(|t| format!(" over {}", t.as_str().to_uppercase()))
                .unwrap_or_default()
        )
    },
    remedy: |_f, d| {
        let r = &mut d.remediation;
        r.push("Check host and port: the address answers, but nothing listens for SIP there (UDP/TCP 5060, TLS 5061).".to_owned());
        r.push("Check the transport matches the port (TLS on 5061, UDP/TCP on 5060) and that any outbound proxy setting points at a SIP server.".to_owned());
    },
};

/// `dns_failure`: the name does not resolve.
pub(super) const DNS_FAILURE: Words = Words {
    summary: |f| {
        let t = f.trunk;
        let reg = registrar(f);
        format!(
            "{t}: the name {} does not resolve.",
            f.transport_error
                .and_then(|(_, d, _)| d)
                .filter(|d| !d.is_empty())
                .unwrap_or(reg.as_str())
        )
    },
    remedy: |f, d| {
        let r = &mut d.remediation;
        let refs = &mut d.references;
        if let Some(s) = &f.suggested_domain {
            r.push(format!("The name looks mistyped: use `{s}`."));
        }
        r.push("Check the domain's spelling, then that the PBX's resolver works (`getent hosts <domain>`, `dig <domain>`); for SRV: `dig _sip._udp.<domain> SRV`.".to_owned());
        refs.push(rfc("RFC 3263", "Locating SIP Servers"));
    },
};

/// `tls_failure`: the TLS handshake or certificate failed.
pub(super) const TLS_FAILURE: Words = Words {
    summary: |f| {
        let t = f.trunk;
        let reg = registrar(f);
        format!("{t}: the TLS handshake with {reg} failed (certificate or TLS settings).")
    },
    remedy: |f, d| {
        let r = &mut d.remediation;
        let refs = &mut d.references;
        r.push(format!("The certificate must be valid for {} (RFC 5922): register to the SIP domain's name, not an IP address or an alias.", registrar(f)));
        r.push("Check the PBX's CA bundle is current and that TLS goes to port 5061; check the PBX clock (certificate validity).".to_owned());
        refs.push(rfc("RFC 5922", "Domain Certificates in SIP"));
        d.confidence = Confidence::Medium;
    },
};

/// `protocol_error`: what the peer sends is not SIP.
pub(super) const PROTOCOL_ERROR: Words = Words {
    summary: |f| {
        let t = f.trunk;
        let reg = registrar(f);
        format!(
            "{t}: what {reg} sends{} is not SIP{}; the connection was dropped.",
            transport_of_error(f)
                .map(|t| format!(" over {}", t.as_str().to_uppercase()))
                .unwrap_or_default(),
            f.transport_error
                .and_then(|(_, d, _)| d)
                .filter(|d| !d.is_empty())
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        )
    },
    remedy: |f, d| {
        let r = &mut d.remediation;
        let refs = &mut d.references;
        r.push(format!("Check that host, port and transport point at a SIP server for {}: a TLS port (5061) reached over TCP, or a port where another service listens, answers with what is not SIP.", registrar(f)));
        r.push("If the address is right, something on the path (a SIP ALG, a proxy, a load balancer) may be corrupting the stream: capture the traffic (`tcpdump -i any -w sip.pcap port <port>`) and read it with `regwatch analyze`; TLS keeps middleboxes out of the stream.".to_owned());
        r.push("regwatch drops a connection whose peer sends more than 64 KiB without a complete SIP message, or a message that does not parse: a stream cannot be resynchronised after that (RFC 3261 §18.3), and a registrar's answers are far smaller.".to_owned());
        refs.push(rfc("RFC 3261 §18.3", "Framing"));
        d.confidence = Confidence::Medium;
    },
};
