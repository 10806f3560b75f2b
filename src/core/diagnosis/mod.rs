//! Diagnoses: a cause id turned into plain words, evidence and a fix.
use super::observation::{HostState, TransportErrorKind};
use super::refresh::RefreshPolicy;
use super::state::{Cause, RegState};
use crate::validate::{Finding, Profile, Severity, Transport};
use serde::Serialize;

mod catalog;
pub mod codes;

pub(crate) use catalog::{render, summary};

/// The catalog's text for a cause, with no trunk behind it: what the cause
/// means and what to do, for `regwatch explain` and documentation. The
/// trunk is called "`<trunk>`" and the registrar "the registrar".
pub fn explain(cause: Cause, profile: Profile) -> Diagnosis {
    let f = Facts {
        trunk: "<trunk>",
        profile,
        domain: if profile == Profile::Twilio {
            "<name>.sip.twilio.com"
        } else {
            "the registrar"
        },
        username: "<user>",
        ..Facts::default()
    };
    let mut d = render(cause, &f);
    // Evidence describes a trunk's history; there is none here.
    d.evidence.clear();
    d
}

/// How sure the diagnosis is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// The evidence fits, but other causes fit too.
    Low,
    /// The evidence points here; one detail is missing.
    Medium,
    /// The evidence leaves no other reading.
    High,
}

/// A pointer to provider documentation or a standard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reference {
    /// `twilio-debugger`, `rfc`, `asterisk`, `freeswitch`.
    pub source: &'static str,
    /// The code or section: `32202`, `RFC 3261 §10.2.8`.
    pub id: String,
    /// What it means, as its owner defines it.
    pub title: String,
    /// How it relates to this diagnosis (honest about uncertain links).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The full explanation of a trunk's current condition.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diagnosis {
    /// The stable cause id.
    pub cause: Cause,
    /// How serious.
    pub severity: Severity,
    /// One line, plain words.
    pub summary: String,
    /// What was seen that supports it (messages, codes, times).
    pub evidence: Vec<String>,
    /// What to do, in order.
    pub remediation: Vec<String>,
    /// Provider codes and standards that apply.
    pub references: Vec<Reference>,
    /// How sure.
    pub confidence: Confidence,
}

/// The challenge the registrar sent last.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChallengeFacts<'a> {
    /// 407 (`Proxy-Authenticate`) rather than 401 (`WWW-Authenticate`).
    pub proxy: bool,
    /// Its realm.
    pub realm: &'a str,
    /// Its algorithm (None: MD5).
    pub algorithm: Option<&'a str>,
    /// Its qop options.
    pub qop: Option<&'a str>,
    /// Whether it said `stale=true`.
    pub stale: bool,
}

/// Everything the catalog may use to explain a trunk. A read-only view of
/// the engine's per-trunk record; no secrets.
#[derive(Clone, Debug, Default)]
pub struct Facts<'a> {
    /// The trunk's name.
    pub trunk: &'a str,
    /// The profile in force.
    pub profile: Profile,
    /// The configured domain, as written.
    pub domain: &'a str,
    /// The AOR user.
    pub username: &'a str,
    /// The authorization user, when configured apart from `username`.
    pub auth_username: Option<&'a str>,
    /// The realm the host is configured with, if pinned.
    pub configured_realm: Option<&'a str>,
    /// The outbound proxy requests go to instead of the domain's servers.
    pub proxy: Option<&'a str>,
    /// The configured transport.
    pub transport: Option<Transport>,
    /// The current state.
    pub state: RegState,
    /// The engine's current time.
    pub now_ms: u64,
    /// Last final response: code.
    pub last_code: Option<u16>,
    /// Last final response: reason phrase.
    pub last_reason: Option<&'a str>,
    /// Last final response: when.
    pub last_response_at_ms: Option<u64>,
    /// Last final response: `Server`.
    pub server: Option<&'a str>,
    /// Last final response: `X-Twilio-Error` code and text.
    pub twilio_error: Option<(u32, &'a str)>,
    /// Last challenge seen.
    pub challenge: Option<ChallengeFacts<'a>>,
    /// Whether the last REGISTER carried credentials (None: not observed).
    pub sent_credentials: Option<bool>,
    /// 401/407 answers in the current attempt.
    pub challenges_in_attempt: u8,
    /// `Min-Expires` of the last 423.
    pub min_expires: Option<u32>,
    /// `Retry-After` of the last response that had one.
    pub retry_after: Option<u32>,
    /// Expiry the host asked for last.
    pub requested_expires: Option<u32>,
    /// Expiry the registrar granted last.
    pub granted_expires: Option<u32>,
    /// When the current binding was made.
    pub registered_at_ms: Option<u64>,
    /// When its refresh is due (policy point).
    pub refresh_due_at_ms: Option<u64>,
    /// When it lapses.
    pub expires_at_ms: Option<u64>,
    /// How late the last refresh was, past the policy point.
    pub refresh_late_by_ms: Option<u64>,
    /// The refresh fraction of [`RefreshPolicy::Ratio`].
    pub refresh_ratio: f64,
    /// Whose refresh schedule the host follows.
    pub refresh_policy: RefreshPolicy,
    /// The code that answered the account query (a REGISTER without
    /// Contact and without credentials), if one was sent after an
    /// unexplained 403.
    pub query_answer: Option<u16>,
    /// The Contact the PBX is expected to hold at the registrar (the
    /// trunk's `contact`), if configured.
    pub expected_contact: Option<&'a str>,
    /// The bindings the last credential query's 200 listed for the AOR
    /// (a REGISTER without Contact, with the trunk's credentials), and
    /// whether the expected Contact was among them (None: none expected).
    pub query_bindings: Option<(u32, Option<bool>)>,
    /// The last response (`last_code`...) is the answer to regwatch's
    /// credential query, not to a REGISTER of the host's.
    pub from_credential_query: bool,
    /// Per transport (index = [`Transport::index`]): REGISTERs and OPTIONS
    /// unanswered in a row.
    pub timeouts: [u32; 3],
    /// Per transport: whether it answered anything since its last timeout.
    pub answered: [bool; 3],
    /// The last transport error: kind, host detail, transport.
    pub transport_error: Option<(TransportErrorKind, Option<&'a str>, Option<Transport>)>,
    /// The last state the host reported.
    pub host_state: Option<HostState>,
    /// Failed attempts in a row.
    pub failures_in_row: u32,
    /// The trunk's validation findings.
    pub findings: &'a [Finding],
    /// The closest valid registrar name, when the domain looks mistyped.
    pub suggested_domain: Option<String>,
    /// OPTIONS keep-alive health, when the trunk is probed.
    pub keepalive: Option<&'a crate::core::keepalive::KeepAliveStatus>,
}
