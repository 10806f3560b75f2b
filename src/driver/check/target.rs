//! What every check shares: its options, where a trunk's requests go
//! (RFC 3263, [`locate`]), the TLS target, fresh ids, and how an exchange
//! that failed reads as a probe result.
use crate::core::{Cause, Diagnosis, ProbeResult, TransportErrorKind, TrunkConfig};
use crate::driver::dns::{DnsError, Resolver};
use crate::driver::exchange::{tls_config, Endpoint, ExchangeError, TlsTarget};
use crate::sip::uri::split_host_port;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

/// How a check runs.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// How long one request may wait for its final response (default 8 s).
    pub timeout: Duration,
    /// Stay registered after a successful test REGISTER instead of ending
    /// with Expires: 0 (default false).
    pub stay_registered: bool,
    /// The User-Agent header.
    pub user_agent: String,
    /// CA certificates (PEM) to trust for TLS instead of the system's
    /// store, for private registrars.
    pub ca_file: Option<std::path::PathBuf>,
    /// The DNS server to ask; none: the system's (`/etc/resolv.conf`).
    pub nameserver: Option<std::net::SocketAddr>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            timeout: Duration::from_secs(8),
            stay_registered: false,
            user_agent: format!("regwatch/{}", env!("CARGO_PKG_VERSION")),
            ca_file: None,
            nameserver: None,
        }
    }
}

impl CheckOptions {
    /// Whether `ca_file` (if any) can be used: an error naming the file
    /// when it is missing, unreadable, not a regular file or holds no
    /// certificate. Callers report it as a configuration error before
    /// any check; a check run anyway reports it as a TLS failure.
    pub fn check_ca_file(&self) -> Result<(), String> {
        match &self.ca_file {
            Some(p) => tls_config(Some(p)).map(|_| ()),
            None => Ok(()),
        }
    }

    fn resolver(&self) -> Resolver {
        match self.nameserver {
            Some(ns) => Resolver::with_nameserver(ns),
            None => Resolver::system(),
        }
    }

    pub(super) fn address(&self, ep: &Endpoint) -> Result<std::net::SocketAddr, ExchangeError> {
        self.resolver()
            .addresses(&ep.host, ep.port)
            .map(|a| a[0])
            .map_err(|e| ExchangeError::Transport(TransportErrorKind::Dns, e.to_string()))
    }
}

/// Where a trunk's requests go, RFC 3263: the outbound proxy if it has
/// one, else its SIP domain; SRV (and NAPTR when no transport is
/// configured) when no port is configured, else A/AAAA. In the order to
/// try; the first is what the checks use.
pub fn locate(cfg: &TrunkConfig, opts: &CheckOptions) -> Result<Vec<Endpoint>, DnsError> {
    let (host, port) = match cfg.proxy.as_deref() {
        Some(p) => split_host_port(p),
        None => {
            let (h, p) = split_host_port(cfg.domain.trim());
            (h, p.or(cfg.port))
        }
    };
    let found = opts.resolver().locate(host, cfg.transport, port)?;
    Ok(found
        .into_iter()
        .map(|l| Endpoint {
            host: l.addr.ip().to_string(),
            port: l.addr.port(),
            transport: l.transport,
        })
        .collect())
}

/// The TLS target for `domain`, when the endpoint is TLS.
pub(super) fn tls_for(
    ep: &Endpoint,
    domain: &str,
    opts: &CheckOptions,
) -> Result<Option<TlsTarget>, ExchangeError> {
    if ep.transport != crate::validate::Transport::Tls {
        return Ok(None);
    }
    let config = tls_config(opts.ca_file.as_deref())
        .map_err(|e| ExchangeError::Transport(TransportErrorKind::Tls, e))?;
    Ok(Some(TlsTarget {
        server_name: domain.to_owned(),
        config,
    }))
}

pub(super) fn random_hex() -> String {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    format!("{:016x}", h.finish())
}

/// The diagnosis of a trunk whose registrar's name does not resolve.
pub fn dns_failure(e: &DnsError, profile: crate::validate::Profile) -> Diagnosis {
    let mut d = crate::core::diagnosis::explain(Cause::DnsFailure, profile);
    d.summary = format!("the name {} does not resolve.", e.name);
    d.evidence = vec![format!("DNS: {e}")];
    d
}

pub(super) fn error_result(e: &ExchangeError) -> ProbeResult {
    match e {
        ExchangeError::Timeout => ProbeResult::Timeout,
        ExchangeError::Transport(kind, _) => ProbeResult::TransportError { kind: *kind },
        ExchangeError::Unsupported(_) => ProbeResult::TransportError {
            kind: TransportErrorKind::Unreachable,
        },
    }
}
