//! OPTIONS keep-alives: what the engine asks the host to send, what the
//! host reports back, and how a result is classified.
//!
//! The engine schedules one probe per trunk and interval (the first round
//! one trunk per 10 ms, wrapping around the interval for large fleets;
//! each later interval jittered from the seed), emits it as
//! [`Output::Transmit`](super::Output::Transmit), and waits `timeout_ms`
//! for [`Engine::handle_probe_result`](super::Engine::handle_probe_result).
//! After `failures_to_alert` failures in a row the trunk's cause becomes the
//! network cause (with an alert); `successes_to_clear` answers in a row
//! clear it and emit [`Action::ReRegister`](super::Action::ReRegister).
use crate::core::observation::TransportErrorKind;
use crate::core::state::Cause;
use crate::validate::Transport;
use serde::Serialize;
use std::sync::Arc;

/// Why a probe is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbePurpose {
    /// The regular keep-alive.
    KeepAlive,
    /// The fast re-probe after a first failure.
    Confirm,
    /// The same registrar over another transport, after a UDP failure.
    Alternate,
    /// A REGISTER without Contact and without credentials (a query that
    /// changes no binding), after a 403 whose cause the host's report
    /// leaves open: its answer tells a refused password from an account
    /// that may not register (see [`Probe::request`]).
    AccountQuery,
    /// The credential query: a REGISTER without Contact (it adds and
    /// changes no binding) at the trunk's `register_interval`, answered
    /// with the trunk's credentials when challenged (the second request
    /// carries them, see [`Probe::query`]); its 200 lists the AOR's
    /// bindings.
    CredentialQuery,
}

impl ProbePurpose {
    /// `keep_alive`, `confirm`, `alternate`, `account_query`,
    /// `credential_query`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbePurpose::KeepAlive => "keep_alive",
            ProbePurpose::Confirm => "confirm",
            ProbePurpose::Alternate => "alternate",
            ProbePurpose::AccountQuery => "account_query",
            ProbePurpose::CredentialQuery => "credential_query",
        }
    }
}

/// Which trunk, where its probes go and as whom: one allocation per trunk,
/// shared by all its probes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProbeTarget {
    /// The trunk's name.
    pub name: Arc<str>,
    /// A host name or address literal (outbound proxy if configured, else
    /// the SIP domain).
    pub host: String,
    /// The SIP domain, for the Request-URI (`sip:<domain>`) and the TLS
    /// certificate check.
    pub domain: String,
    /// The AOR user, for the From header.
    pub username: String,
    /// Whether no port was configured (neither on the domain, the proxy,
    /// nor the trunk), so the sender should locate the server by SRV
    /// (RFC 3263) rather than use the transport's default port.
    pub srv: bool,
}

/// An OPTIONS probe for the host (or the driver) to send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Probe {
    /// The trunk.
    #[serde(skip)]
    pub trunk: super::TrunkId,
    /// The probe's id: pass it back with the result. Unique per engine.
    pub id: u64,
    /// The trunk's name, host, domain and user.
    #[serde(flatten)]
    pub target: Arc<ProbeTarget>,
    /// The port.
    pub port: u16,
    /// Over what.
    pub transport: Transport,
    /// Why this probe.
    pub purpose: ProbePurpose,
    /// When the engine emitted it.
    pub at_ms: u64,
    /// When it times out if the host reports nothing.
    pub deadline_ms: u64,
    /// A credential query's dialog (Call-ID, CSeq) and, for the request
    /// that answers a challenge, its Authorization header.
    #[serde(skip)]
    pub query: Option<Arc<QueryRequest>>,
}

/// What a credential query's request carries besides the probe's own
/// fields: the same Call-ID for the whole exchange, CSeq + 1 for the
/// request answering the challenge, and its `Authorization` or
/// `Proxy-Authorization` header (a digest response, never the password).
#[derive(Clone, PartialEq, Eq)]
pub struct QueryRequest {
    /// The Call-ID of the exchange.
    pub call_id: String,
    /// The From tag of the exchange.
    pub from_tag: String,
    /// This request's CSeq.
    pub cseq: u32,
    /// The header name and value answering the challenge, if any.
    pub authorization: Option<(&'static str, String)>,
}

impl std::fmt::Debug for QueryRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryRequest")
            .field("call_id", &self.call_id)
            .field("cseq", &self.cseq)
            .field("authorization", &self.authorization.as_ref().map(|a| a.0))
            .finish()
    }
}

/// The Via branch (without the `z9hG4bK` cookie) of the OPTIONS for
/// probe `id`; see [`Probe::request`].
pub fn probe_branch(id: u64) -> String {
    format!("-rwka-{id:x}")
}

/// The probe id in a Via branch made by [`probe_branch`].
pub fn probe_of_branch(branch: &str) -> Option<u64> {
    u64::from_str_radix(branch.strip_prefix("z9hG4bK-rwka-")?, 16).ok()
}

impl Probe {
    /// The OPTIONS request for this probe, as sent from `local`
    /// (`host:port`, for Via): Request-URI `sip:<domain>`, a Via branch
    /// that carries the probe's id, so that the answer, handed to
    /// [`Engine::observe_sip`](super::Engine::observe_sip), is matched to
    /// the probe.
    ///
    /// An [`AccountQuery`](ProbePurpose::AccountQuery) is a REGISTER for
    /// the trunk's AOR without Contact and without credentials instead; a
    /// [`CredentialQuery`](ProbePurpose::CredentialQuery) a REGISTER
    /// without Contact in the exchange's dialog, with the Authorization
    /// of [`Probe::query`] when it answers a challenge.
    pub fn request(&self, local: &str, user_agent: &str) -> String {
        let id = format!("{:x}", self.id);
        let call_id = format!("rwka-{id}");
        let q = self.query.as_deref();
        let ctx = crate::sip::build::RequestContext {
            domain: &self.target.domain,
            user: &self.target.username,
            transport: self.transport,
            local,
            call_id: q.map_or(&call_id, |q| &q.call_id),
            from_tag: q.map_or(&id, |q| &q.from_tag),
            branch: &probe_branch(self.id),
            cseq: q.map_or(1, |q| q.cseq),
            user_agent,
        };
        match self.purpose {
            ProbePurpose::AccountQuery => crate::sip::build::register_query(&ctx),
            ProbePurpose::CredentialQuery => crate::sip::build::register_query_authorized(
                &ctx,
                q.and_then(|q| q.authorization.as_ref())
                    .map(|(n, v)| (*n, v.as_str())),
            ),
            _ => crate::sip::build::options(&ctx),
        }
    }
}

/// What became of a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum ProbeResult {
    /// A final response from the peer.
    Response {
        /// Its status code.
        code: u16,
    },
    /// A final response the sender's own stack made up (Asterisk and
    /// FreeSWITCH report timeouts as local 408 or 503).
    LocalResponse {
        /// Its status code.
        code: u16,
    },
    /// No answer in time.
    Timeout,
    /// The transport failed.
    TransportError {
        /// How.
        kind: TransportErrorKind,
    },
}

/// How a probe result counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeClass {
    /// 2xx.
    Ok,
    /// 401/407: reachable; the registrar challenges OPTIONS too.
    Challenged,
    /// Another 4xx/6xx (403, 404...): reachable, refusing OPTIONS.
    Refusing,
    /// 5xx from the peer: reachable but out of service.
    ServerError,
    /// No answer, a locally made 408/503, or a transport failure.
    Unreachable,
}

impl ProbeClass {
    /// Whether the registrar answered (the network path works).
    pub fn reachable(self) -> bool {
        matches!(
            self,
            ProbeClass::Ok | ProbeClass::Challenged | ProbeClass::Refusing
        )
    }

    /// `ok`, `challenged`, `refusing`, `server_error`, `unreachable`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeClass::Ok => "ok",
            ProbeClass::Challenged => "challenged",
            ProbeClass::Refusing => "refusing",
            ProbeClass::ServerError => "server_error",
            ProbeClass::Unreachable => "unreachable",
        }
    }
}

impl ProbeResult {
    /// Classifies the result. Provisional (1xx) codes are not final and
    /// classify as unreachable only if passed here by mistake; hosts report
    /// final responses.
    pub fn class(self) -> ProbeClass {
        match self {
            ProbeResult::Response { code } => match code {
                200..=299 => ProbeClass::Ok,
                401 | 407 => ProbeClass::Challenged,
                // A 408 or 503 from the peer itself is still an answer, but
                // one saying it cannot serve: the same as other 5xx.
                408 | 500..=599 => ProbeClass::ServerError,
                300..=499 | 600..=699 => ProbeClass::Refusing,
                _ => ProbeClass::Unreachable,
            },
            ProbeResult::LocalResponse { code } => match code {
                200..=299 => ProbeClass::Ok,
                _ => ProbeClass::Unreachable,
            },
            ProbeResult::Timeout | ProbeResult::TransportError { .. } => ProbeClass::Unreachable,
        }
    }

    /// The network cause a failed result points to (before the alternate
    /// transports are taken into account). `None` for reachable results.
    pub fn cause(self) -> Option<Cause> {
        match self {
            ProbeResult::TransportError { kind } => Some(match kind {
                TransportErrorKind::Refused => Cause::ConnectionRefused,
                TransportErrorKind::Unreachable => Cause::RegistrarUnreachable,
                TransportErrorKind::Dns => Cause::DnsFailure,
                TransportErrorKind::Tls => Cause::TlsFailure,
                TransportErrorKind::Protocol => Cause::ProtocolError,
            }),
            r => match r.class() {
                ProbeClass::ServerError => Some(Cause::ServerError),
                ProbeClass::Unreachable => Some(Cause::RegistrarUnreachable),
                _ => None,
            },
        }
    }

    /// The status code, if the result has one.
    pub fn code(self) -> Option<u16> {
        match self {
            ProbeResult::Response { code } | ProbeResult::LocalResponse { code } => Some(code),
            _ => None,
        }
    }
}

/// Round-trip statistics of answered probes, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RttStats {
    /// Answers measured.
    pub count: u64,
    /// Smallest.
    pub min_us: u64,
    /// Largest.
    pub max_us: u64,
    /// Mean of all.
    pub avg_us: u64,
    /// Exponentially weighted (α = 1/8, as TCP's SRTT).
    pub ewma_us: u64,
    /// The last one.
    pub last_us: u64,
    /// The sum of all (saturated: at 2^64 µs, some 584,000 years, the
    /// mean stops being exact; a u64 keeps the trunk's record 8-aligned).
    #[serde(skip)]
    sum_us: u64,
}

impl RttStats {
    /// Adds one measurement.
    pub fn add(&mut self, rtt_us: u64) {
        if self.count == 0 {
            self.min_us = rtt_us;
            self.max_us = rtt_us;
            self.ewma_us = rtt_us;
        } else {
            self.min_us = self.min_us.min(rtt_us);
            self.max_us = self.max_us.max(rtt_us);
            // ewma += (rtt - ewma) / 8, in integers (wide: a host may
            // report any u64).
            let ewma = (u128::from(self.ewma_us) * 7 + u128::from(rtt_us)) / 8;
            self.ewma_us = u64::try_from(ewma).unwrap_or(u64::MAX);
        }
        self.count = self.count.saturating_add(1);
        self.last_us = rtt_us;
        self.sum_us = self.sum_us.saturating_add(rtt_us);
        self.avg_us = self.sum_us / self.count.max(1);
    }
}

/// A trunk's keep-alive health, for reports and diagnoses.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct KeepAliveStatus {
    /// Whether the trunk is probed.
    pub enabled: bool,
    /// Where probes go.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Over what.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<Transport>,
    /// Failed probes in a row.
    pub failures_in_row: u32,
    /// Answered probes in a row.
    pub successes_in_row: u32,
    /// Whether the keep-alive alert is up, and for what.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub down: Option<Cause>,
    /// Probes sent (all purposes but the credential query).
    pub sent: u64,
    /// Probes that failed.
    pub failed: u64,
    /// The last result's class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_class: Option<ProbeClass>,
    /// The last status code answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_code: Option<u16>,
    /// When the registrar last answered a probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_answer_at_ms: Option<u64>,
    /// Round-trip times of answers.
    pub rtt: RttStats,
}

/// A deterministic 64-bit mix (SplitMix64's finaliser), for jitter from
/// the engine's seed without a random-number crate.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A value in `[0, n)` from a hash (multiply-shift, no modulo bias worth
/// speaking of for n ≪ 2^64).
pub(crate) fn below(h: u64, n: u64) -> u64 {
    ((u128::from(h) * u128::from(n)) >> 64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let r = |code| ProbeResult::Response { code };
        assert_eq!(r(200).class(), ProbeClass::Ok);
        assert_eq!(r(407).class(), ProbeClass::Challenged);
        assert_eq!(r(401).class(), ProbeClass::Challenged);
        assert_eq!(r(403).class(), ProbeClass::Refusing);
        assert_eq!(r(404).class(), ProbeClass::Refusing);
        assert_eq!(r(503).class(), ProbeClass::ServerError);
        assert_eq!(r(503).cause(), Some(Cause::ServerError));
        assert_eq!(r(404).cause(), None);
        let local = ProbeResult::LocalResponse { code: 408 };
        assert_eq!(local.class(), ProbeClass::Unreachable);
        assert_eq!(local.cause(), Some(Cause::RegistrarUnreachable));
        assert_eq!(
            ProbeResult::TransportError {
                kind: TransportErrorKind::Refused
            }
            .cause(),
            Some(Cause::ConnectionRefused)
        );
        assert_eq!(
            ProbeResult::Timeout.cause(),
            Some(Cause::RegistrarUnreachable)
        );
        assert!(!ProbeClass::ServerError.reachable());
        assert!(ProbeClass::Refusing.reachable());
    }

    #[test]
    fn rtt_stats() {
        let mut s = RttStats::default();
        for v in [800, 1200, 1000] {
            s.add(v);
        }
        assert_eq!(
            (s.min_us, s.max_us, s.avg_us, s.last_us, s.count),
            (800, 1200, 1000, 1000, 3)
        );
        // 800 → (800·7+1200)/8 = 850 → (850·7+1000)/8 = 868
        assert_eq!(s.ewma_us, 868);
    }

    /// A host may report any round trip (the C ABI takes a u64): the
    /// largest neither overflows the average nor the smoothed value.
    #[test]
    fn rtt_stats_take_the_largest_values() {
        let mut s = RttStats::default();
        for _ in 0..3 {
            s.add(u64::MAX);
        }
        assert_eq!(
            (s.max_us, s.ewma_us, s.last_us, s.count),
            (u64::MAX, u64::MAX, u64::MAX, 3)
        );
        // The sum saturates: the mean is then an underestimate, never a wrap.
        assert_eq!(s.avg_us, u64::MAX / 3);
        s.add(1);
        assert_eq!((s.min_us, s.last_us), (1, 1));
        assert_eq!(s.ewma_us, ((u128::from(u64::MAX) * 7 + 1) / 8) as u64);
    }

    #[test]
    fn below_is_in_range_and_spread() {
        let mut buckets = [0u32; 10];
        for i in 0..10_000u64 {
            let v = below(mix(i), 10);
            buckets[v as usize] += 1;
        }
        assert!(
            buckets.iter().all(|&b| (900..1100).contains(&b)),
            "{buckets:?}"
        );
    }
}
