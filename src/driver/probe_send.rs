//! One engine probe sent as the engine built it ([`Probe::request`]) and
//! its final answer returned whole: for hosts that send a probe with the
//! driver instead of their own SIP stack (`regwatch_job` for a
//! `via_driver` transmit). A credential query's answer carries the
//! challenge and the bindings the engine reads, not only a code, so the
//! bytes go back to [`Engine::handle_probe_response`].
//!
//! [`Engine::handle_probe_response`]: crate::Engine::handle_probe_response
use crate::core::{Probe, ProbeResult, TransportErrorKind};
use crate::driver::check::CheckOptions;
use crate::driver::dns::Resolver;
use crate::driver::exchange::{exchange, tls_config, Endpoint, ExchangeError, TlsTarget};
use crate::validate::Transport;

/// What became of a probe sent with [`send_probe`].
#[derive(Clone, Debug)]
pub struct ProbeAnswer {
    /// The result as the engine counts it.
    pub result: ProbeResult,
    /// The final response as received, when there was one.
    pub response: Option<Vec<u8>>,
    /// The round trip, when answered.
    pub rtt_us: Option<u64>,
}

fn failed(kind: TransportErrorKind) -> ProbeAnswer {
    ProbeAnswer {
        result: ProbeResult::TransportError { kind },
        response: None,
        rtt_us: None,
    }
}

/// Sends `p`'s own request to its target (the host and port it names,
/// over its transport) and waits up to `opts.timeout` for the final
/// answer. Blocks; any thread.
pub fn send_probe(p: &Probe, opts: &CheckOptions) -> ProbeAnswer {
    let ep = Endpoint {
        host: p.target.host.clone(),
        port: p.port,
        transport: p.transport,
    };
    let resolver = match opts.nameserver {
        Some(ns) => Resolver::with_nameserver(ns),
        None => Resolver::system(),
    };
    let addr = match resolver.addresses(&ep.host, ep.port) {
        Ok(a) if !a.is_empty() => a[0],
        _ => return failed(TransportErrorKind::Dns),
    };
    let tls = if p.transport == Transport::Tls {
        match tls_config(opts.ca_file.as_deref()) {
            Ok(config) => Some(TlsTarget {
                server_name: if p.target.domain.is_empty() {
                    p.target.host.clone()
                } else {
                    p.target.domain.clone()
                },
                config,
            }),
            Err(_) => return failed(TransportErrorKind::Tls),
        }
    } else {
        None
    };
    let branch = format!("z9hG4bK{}", crate::core::keepalive::probe_branch(p.id));
    let build = |local: &str| p.request(local, &opts.user_agent);
    match exchange(&ep, addr, opts.timeout, &branch, tls.as_ref(), &build) {
        Ok((_, x)) => {
            let code = crate::sip::parse(&x.response)
                .ok()
                .and_then(|m| m.status())
                .unwrap_or(0);
            ProbeAnswer {
                result: ProbeResult::Response { code },
                response: Some(x.response),
                rtt_us: Some(x.rtt.as_micros() as u64),
            }
        }
        Err(ExchangeError::Timeout) => ProbeAnswer {
            result: ProbeResult::Timeout,
            response: None,
            rtt_us: None,
        },
        Err(ExchangeError::Transport(kind, _)) => failed(kind),
        Err(ExchangeError::Unsupported(_)) => failed(TransportErrorKind::Unreachable),
    }
}
