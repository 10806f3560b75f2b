//! The runner's name cache: where each probe goes (RFC 3263 SRV, or
//! A/AAAA), remembered for [`DNS_TTL`], failures too.
use crate::core::{Probe, ProbePurpose};
use crate::driver::dns::Resolver;
use crate::validate::Transport;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long an answer (or a failure) is kept.
pub(super) const DNS_TTL: Duration = Duration::from_secs(300);

/// A cached lookup: host, port (0 for an SRV lookup), transport.
type DnsKey = (String, u16, Transport);

/// Lookups made, by what was asked.
pub(super) struct DnsCache {
    resolver: Resolver,
    entries: HashMap<DnsKey, (Result<SocketAddr, String>, Instant)>,
}

impl DnsCache {
    pub(super) fn new(resolver: Resolver) -> DnsCache {
        DnsCache {
            resolver,
            entries: HashMap::new(),
        }
    }

    /// Where a probe goes: SRV (RFC 3263) when its trunk has no port
    /// configured, else A/AAAA. Cached for five minutes; a cache miss
    /// blocks this thread for the lookup. The error is the name that did
    /// not resolve.
    pub(super) fn resolve(&mut self, p: &Probe) -> Result<SocketAddr, String> {
        let srv = p.target.srv && p.purpose != ProbePurpose::Alternate;
        let key = (
            p.target.host.clone(),
            if srv { 0 } else { p.port },
            p.transport,
        );
        if let Some((r, at)) = self.entries.get(&key) {
            if at.elapsed() < DNS_TTL {
                return r.clone();
            }
        }
        let r = if srv {
            self.resolver
                .locate(&p.target.host, Some(p.transport), None)
                .map_err(|e| {
                    tracing::warn!(trunk = %p.target.name, "keep-alive: {e}");
                    e.name
                })
                .and_then(|l| {
                    l.into_iter()
                        .find(|l| l.transport == p.transport)
                        .map(|l| l.addr)
                        .ok_or_else(|| p.target.host.clone())
                })
        } else {
            self.resolver
                .addresses(&p.target.host, p.port)
                .map_err(|e| {
                    tracing::warn!(trunk = %p.target.name, "keep-alive: {e}");
                    e.name
                })
                .map(|a| a[0])
        };
        self.entries.insert(key, (r.clone(), Instant::now()));
        r
    }
}
