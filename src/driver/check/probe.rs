//! One OPTIONS probe to an endpoint, and what it found.
use super::target::{error_result, random_hex, tls_for, CheckOptions};
use crate::core::ProbeResult;
use crate::driver::exchange::{exchange, Endpoint};
use crate::sip;
use crate::sip::build::{self, RequestContext};
use serde::Serialize;

/// What one OPTIONS probe found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OptionsOutcome {
    /// Where it went.
    pub endpoint: String,
    /// What came of it.
    pub result: ProbeResult,
    /// The reason phrase of the answer, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The `Server` or `User-Agent` of the answer, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Round trip in milliseconds, when answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// What went wrong, in words, when unanswered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl OptionsOutcome {
    /// In a few words: `200 OK in 0.3 ms`, the error, or `no answer`.
    /// Safe for a terminal: control characters the registrar put in its
    /// reason phrase are dropped ([`crate::core::terminal_safe`]).
    pub fn summary(&self) -> String {
        let s = match (self.result.code(), &self.error) {
            (Some(c), _) => format!(
                "{c} {} in {:.1} ms",
                self.reason.as_deref().unwrap_or(""),
                self.rtt_ms.unwrap_or(0.0)
            ),
            (None, Some(e)) => e.clone(),
            (None, None) => "no answer".to_owned(),
        };
        crate::core::terminal_safe(&s).into_owned()
    }
}

/// Sends one OPTIONS for `domain` (as `user`) to `ep` and waits for the
/// final answer.
pub fn options(ep: &Endpoint, domain: &str, user: &str, opts: &CheckOptions) -> OptionsOutcome {
    probe_with(ep, domain, user, opts, build::options)
}

/// The account query: a REGISTER for `user@domain` without Contact and
/// without credentials (RFC 3261 §10.2.3, it changes no binding), sent
/// and answered like [`options`]: a challenge says the account takes
/// registrations, a 403 that it may not register.
pub fn account_query(
    ep: &Endpoint,
    domain: &str,
    user: &str,
    opts: &CheckOptions,
) -> OptionsOutcome {
    probe_with(ep, domain, user, opts, build::register_query)
}

fn probe_with(
    ep: &Endpoint,
    domain: &str,
    user: &str,
    opts: &CheckOptions,
    request: fn(&RequestContext<'_>) -> String,
) -> OptionsOutcome {
    let mut out = OptionsOutcome {
        endpoint: ep.to_string(),
        result: ProbeResult::Timeout,
        reason: None,
        server: None,
        rtt_ms: None,
        error: None,
    };
    let addr = match opts.address(ep) {
        Ok(a) => a,
        Err(e) => {
            out.result = error_result(&e);
            out.error = Some(e.to_string());
            return out;
        }
    };
    let tls = match tls_for(ep, domain, opts) {
        Ok(t) => t,
        Err(e) => {
            out.result = error_result(&e);
            out.error = Some(e.to_string());
            return out;
        }
    };
    let id = random_hex();
    let branch = format!("z9hG4bK-rw{id}");
    let build = |local: &str| {
        request(&RequestContext {
            domain,
            user,
            transport: ep.transport,
            local,
            call_id: &format!("rw-{id}"),
            from_tag: &id[..8],
            branch: &branch["z9hG4bK".len()..],
            cseq: 1,
            user_agent: &opts.user_agent,
        })
    };
    match exchange(ep, addr, opts.timeout, &branch, tls.as_ref(), &build) {
        Ok((_, x)) => {
            out.rtt_ms = Some(x.rtt.as_secs_f64() * 1000.0);
            if let Ok(m) = sip::parse(&x.response) {
                let code = m.status().unwrap_or(0);
                out.result = ProbeResult::Response { code };
                if let sip::StartLine::Response { reason, .. } = m.start {
                    out.reason = Some(reason.to_owned());
                }
                out.server = m.server().or(m.user_agent()).map(str::to_owned);
            }
        }
        Err(e) => {
            out.result = error_result(&e);
            out.error = Some(e.to_string());
        }
    }
    out
}
