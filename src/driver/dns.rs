//! Locating a SIP server, RFC 3263 §4 (client side): for a SIP domain
//! without an explicit port, NAPTR (when the transport is not fixed) then
//! SRV (`_sip._udp`, `_sip._tcp`, `_sips._tcp`), then A/AAAA of the SRV
//! targets; with an explicit port or an address literal, A/AAAA only.
//!
//! Queries go over UDP to the system's nameservers (`/etc/resolv.conf`) or
//! to a given one; a name the nameservers do not answer for falls back to
//! the system resolver (`/etc/hosts`). A failure names the name that
//! failed, for the `dns_failure` diagnosis.
use crate::validate::Transport;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::str::FromStr;
use std::time::Duration;

/// Where the names resolve.
#[derive(Clone, Debug)]
pub struct Resolver {
    nameservers: Vec<SocketAddr>,
    timeout: Duration,
}

/// A name that did not resolve, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsError {
    /// The name that failed (the domain, an SRV target...).
    pub name: String,
    /// Why, in words.
    pub why: String,
}

impl std::fmt::Display for DnsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name, self.why)
    }
}

/// One place to send requests to, in the order to try them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    /// The address.
    pub addr: SocketAddr,
    /// The transport.
    pub transport: Transport,
    /// How it was found (`SRV _sip._udp.example.com`, `A`...), for
    /// evidence.
    pub via: String,
}

enum Answer {
    Records(Vec<RData>),
    NoSuchName,
    NoData,
}

impl Resolver {
    /// The system's nameservers (`/etc/resolv.conf`; none when it cannot
    /// be read, and then only the system resolver is asked).
    pub fn system() -> Resolver {
        let nameservers = std::fs::read("/etc/resolv.conf")
            .ok()
            .and_then(|b| resolv_conf::Config::parse(&b).ok())
            .map(|c| {
                c.nameservers
                    .iter()
                    .map(|n| SocketAddr::new(IpAddr::from(n), 53))
                    .collect()
            })
            .unwrap_or_default();
        Resolver {
            nameservers,
            timeout: Duration::from_secs(2),
        }
    }

    /// One given nameserver (a private DNS, or a test's).
    pub fn with_nameserver(addr: SocketAddr) -> Resolver {
        Resolver {
            nameservers: vec![addr],
            timeout: Duration::from_secs(2),
        }
    }

    fn query(&self, name: &str, rtype: RecordType) -> Result<Answer, String> {
        let qname = Name::from_str(name).map_err(|e| e.to_string())?;
        let mut last = String::from("no nameserver configured");
        for ns in &self.nameservers {
            let mut m = Message::new();
            let id = (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
                & 0xffff) as u16;
            m.set_id(id)
                .set_message_type(MessageType::Query)
                .set_op_code(OpCode::Query)
                .set_recursion_desired(true)
                .add_query(Query::query(qname.clone(), rtype));
            let bytes = m.to_vec().map_err(|e| e.to_string())?;
            let bind: SocketAddr = if ns.is_ipv4() {
                SocketAddr::from(([0, 0, 0, 0], 0))
            } else {
                SocketAddr::from(([0u16; 8], 0))
            };
            let sock = match UdpSocket::bind(bind).and_then(|s| s.connect(ns).map(|_| s)) {
                Ok(s) => s,
                Err(e) => {
                    last = format!("{ns}: {e}");
                    continue;
                }
            };
            let _ = sock.set_read_timeout(Some(self.timeout));
            if let Err(e) = sock.send(&bytes) {
                last = format!("{ns}: {e}");
                continue;
            }
            let mut buf = [0u8; 4096];
            let n = match sock.recv(&mut buf) {
                Ok(n) => n,
                Err(e) => {
                    last = format!("{ns}: {e}");
                    continue;
                }
            };
            let Ok(resp) = Message::from_vec(&buf[..n]) else {
                last = format!("{ns}: malformed answer");
                continue;
            };
            if resp.id() != id {
                last = format!("{ns}: answer to another query");
                continue;
            }
            return Ok(match resp.response_code() {
                ResponseCode::NXDomain => Answer::NoSuchName,
                ResponseCode::NoError => {
                    let records: Vec<RData> = resp
                        .answers()
                        .iter()
                        .filter(|r| r.record_type() == rtype)
                        .map(|r| r.data().clone())
                        .collect();
                    if records.is_empty() {
                        Answer::NoData
                    } else {
                        Answer::Records(records)
                    }
                }
                code => {
                    last = format!("{ns}: {code}");
                    continue;
                }
            });
        }
        Err(last)
    }

    /// Addresses of `host` (A and AAAA), else the system resolver's.
    pub fn addresses(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, DnsError> {
        let host = host.trim_end_matches('.');
        if let Ok(ip) = host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<IpAddr>()
        {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let mut out = Vec::new();
        let mut nx = false;
        for rtype in [RecordType::A, RecordType::AAAA] {
            match self.query(&format!("{host}."), rtype) {
                Ok(Answer::Records(rs)) => {
                    for r in rs {
                        match r {
                            RData::A(a) => out.push(SocketAddr::new(IpAddr::V4(a.0), port)),
                            RData::AAAA(a) => out.push(SocketAddr::new(IpAddr::V6(a.0), port)),
                            _ => {}
                        }
                    }
                }
                Ok(Answer::NoSuchName) => nx = true,
                Ok(Answer::NoData) | Err(_) => {}
            }
        }
        if !out.is_empty() {
            return Ok(out);
        }
        // /etc/hosts and whatever else the system resolver knows.
        match (host, port).to_socket_addrs() {
            Ok(a) => {
                let v: Vec<SocketAddr> = a.collect();
                if v.is_empty() {
                    Err(DnsError {
                        name: host.to_owned(),
                        why: "no address".to_owned(),
                    })
                } else {
                    Ok(v)
                }
            }
            Err(e) => Err(DnsError {
                name: host.to_owned(),
                why: if nx {
                    "no such name (NXDOMAIN)".to_owned()
                } else {
                    e.to_string()
                },
            }),
        }
    }

    /// Where to send requests for SIP `domain` over `transport` (None: as
    /// the domain's NAPTR records say, else UDP), RFC 3263 §4. With
    /// `port` given, or an address literal, only A/AAAA are asked.
    pub fn locate(
        &self,
        domain: &str,
        transport: Option<Transport>,
        port: Option<u16>,
    ) -> Result<Vec<Located>, DnsError> {
        let domain = domain.trim_end_matches('.');
        let literal = domain
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<IpAddr>()
            .is_ok();
        if port.is_some() || literal {
            let t = transport.unwrap_or(Transport::Udp);
            let p = port.unwrap_or(t.default_port());
            return Ok(self
                .addresses(domain, p)?
                .into_iter()
                .map(|addr| Located {
                    addr,
                    transport: t,
                    via: "A/AAAA".to_owned(),
                })
                .collect());
        }
        // NAPTR: which transports the domain offers, and their SRV names.
        let mut srv_names: Vec<(Transport, String)> = Vec::new();
        if transport.is_none() {
            if let Ok(Answer::Records(rs)) = self.query(&format!("{domain}."), RecordType::NAPTR) {
                let mut naptrs: Vec<_> = rs
                    .into_iter()
                    .filter_map(|r| match r {
                        RData::NAPTR(n) => Some(n),
                        _ => None,
                    })
                    .collect();
                naptrs.sort_by_key(|n| (n.order(), n.preference()));
                for n in naptrs {
                    if !n.flags().eq_ignore_ascii_case(b"s") {
                        continue;
                    }
                    let t = match n.services().to_ascii_uppercase().as_slice() {
                        b"SIP+D2U" => Transport::Udp,
                        b"SIP+D2T" => Transport::Tcp,
                        b"SIPS+D2T" => Transport::Tls,
                        _ => continue,
                    };
                    srv_names.push((t, n.replacement().to_string()));
                }
            }
        }
        if srv_names.is_empty() {
            let ts = match transport {
                Some(t) => vec![t],
                None => vec![Transport::Udp],
            };
            for t in ts {
                let prefix = match t {
                    Transport::Udp => "_sip._udp",
                    Transport::Tcp => "_sip._tcp",
                    Transport::Tls => "_sips._tcp",
                };
                srv_names.push((t, format!("{prefix}.{domain}.")));
            }
        }
        let mut out = Vec::new();
        let mut failure: Option<DnsError> = None;
        let mut any_srv = false;
        for (t, name) in &srv_names {
            let Ok(Answer::Records(rs)) = self.query(name, RecordType::SRV) else {
                continue;
            };
            let mut srvs: Vec<_> = rs
                .into_iter()
                .filter_map(|r| match r {
                    RData::SRV(s) => Some(s),
                    _ => None,
                })
                .collect();
            // Lowest priority first; within one, the heaviest first.
            srvs.sort_by_key(|s| (s.priority(), std::cmp::Reverse(s.weight())));
            for s in srvs {
                any_srv = true;
                let target = s.target().to_string();
                if target == "." {
                    continue; // "decidedly not available" (RFC 2782)
                }
                match self.addresses(&target, s.port()) {
                    Ok(addrs) => out.extend(addrs.into_iter().map(|addr| Located {
                        addr,
                        transport: *t,
                        via: format!("SRV {}", name.trim_end_matches('.')),
                    })),
                    Err(e) => failure = Some(e),
                }
            }
        }
        if !out.is_empty() {
            return Ok(out);
        }
        if any_srv {
            return Err(failure.unwrap_or(DnsError {
                name: domain.to_owned(),
                why: "its SRV targets do not resolve".to_owned(),
            }));
        }
        // No SRV: A/AAAA of the domain itself, on the default port.
        let t = srv_names.first().map_or(Transport::Udp, |(t, _)| *t);
        Ok(self
            .addresses(domain, t.default_port())?
            .into_iter()
            .map(|addr| Located {
                addr,
                transport: t,
                via: "A/AAAA".to_owned(),
            })
            .collect())
    }
}
