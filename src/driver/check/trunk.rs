//! The live check of one configured trunk, as a PBX console runs it:
//! locate, one OPTIONS, the test REGISTER, one diagnosis.
use super::probe::{options, OptionsOutcome};
use super::register::{test_register, RegisterCheck};
use super::target::{dns_failure, locate, CheckOptions};
use crate::core::{Cause, Diagnosis, TrunkConfig};
use serde::Serialize;

/// A live check of one configured trunk, as a PBX console runs it on
/// request: where its requests go (RFC 3263 or the outbound proxy), one
/// OPTIONS there, and the test REGISTER with its credentials (ended with
/// Expires: 0), summed up in one diagnosis.
#[derive(Clone, Debug, Serialize)]
pub struct TrunkCheck {
    /// The trunk's name.
    pub trunk: String,
    /// Where the requests went (`host:port/transport`), when located.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Why it could not be located.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_error: Option<String>,
    /// The OPTIONS probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<OptionsOutcome>,
    /// The test REGISTER.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub register: Option<RegisterCheck>,
    /// The verdict.
    pub diagnosis: Diagnosis,
}

/// Runs [`TrunkCheck`] for `cfg` (blocking: DNS, then at most two
/// exchanges of `opts.timeout` each, the REGISTER with its challenge).
pub fn trunk_check(cfg: &TrunkConfig, opts: &CheckOptions) -> TrunkCheck {
    let mut out = TrunkCheck {
        trunk: cfg.name.to_string(),
        endpoint: None,
        dns_error: None,
        options: None,
        register: None,
        diagnosis: crate::core::diagnosis::explain(Cause::Unknown, cfg.effective_profile()),
    };
    let ep = match locate(cfg, opts) {
        Ok(eps) => eps.into_iter().next(),
        Err(e) => {
            out.dns_error = Some(e.to_string());
            out.diagnosis = dns_failure(&e, cfg.effective_profile());
            return out;
        }
    };
    let Some(ep) = ep else {
        out.dns_error = Some("no server found".into());
        out.diagnosis = crate::core::diagnosis::explain(Cause::DnsFailure, cfg.effective_profile());
        return out;
    };
    out.endpoint = Some(ep.to_string());
    out.options = Some(options(&ep, cfg.domain.trim(), &cfg.username, opts));
    let r = test_register(cfg, &ep, opts);
    out.diagnosis = r.diagnosis.clone();
    out.register = Some(r);
    out
}

impl TrunkCheck {
    /// The check as console text: each step, then the diagnosis with its
    /// evidence and, unless healthy, what to do. Safe for a terminal: what
    /// the registrar sent (reason phrases, `Server`, `X-Twilio-Error`)
    /// loses its control characters.
    pub fn text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "Live check of trunk {}", self.trunk);
        match (&self.endpoint, &self.dns_error) {
            (Some(e), _) => {
                let _ = writeln!(s, "  Target: {e}");
            }
            (None, Some(e)) => {
                let _ = writeln!(s, "  Target: not found ({e})");
            }
            (None, None) => {}
        }
        if let Some(o) = &self.options {
            let _ = writeln!(s, "  OPTIONS: {}", o.summary());
        }
        if let Some(r) = &self.register {
            s.push_str(if r.mode == "query" {
                "  Query REGISTER:\n"
            } else {
                "  Test REGISTER:\n"
            });
            for st in &r.steps {
                let code = st.code.map_or_else(|| "-".to_owned(), |c| c.to_string());
                let _ = writeln!(s, "    {} -> {code} {} {}", st.request, st.reason, st.note);
            }
            if let Some(o) = r.outcome() {
                let _ = writeln!(s, "    {o}");
            }
        }
        let d = &self.diagnosis;
        let _ = writeln!(s, "  Diagnosis: {}", d.cause);
        let _ = writeln!(s, "  {}", d.summary);
        for e in &d.evidence {
            let _ = writeln!(s, "    - {e}");
        }
        if !matches!(d.cause, Cause::Healthy | Cause::ExpiryDrift) {
            s.push_str("  What to do:\n");
            for (i, r) in d.remediation.iter().enumerate() {
                let _ = writeln!(s, "    {}. {r}", i + 1);
            }
        }
        crate::core::terminal_safe_block(&s).into_owned()
    }
}
