//! Registration states and diagnosis cause ids.
use crate::validate::Severity;
use serde::Serialize;
use std::fmt;

/// A trunk's registration state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RegState {
    /// Nothing observed yet.
    #[default]
    Unknown,
    /// A REGISTER is under way (first attempt, or after a failure).
    Registering,
    /// Bound, with a known or unknown expiry.
    Registered,
    /// Past the policy's refresh point (plus grace) without a successful
    /// refresh; the binding has not lapsed yet.
    RefreshLate,
    /// The binding lapsed: no successful refresh before expiry.
    Expired,
    /// The registrar refused (403, 404, 423, repeated 401/407, 5xx...).
    Rejected,
    /// No answer, or the registrar could not be reached.
    Unreachable,
    /// Removed on purpose (`Expires: 0`).
    Deregistered,
    /// The host gave up retrying.
    Stopped,
}

impl RegState {
    /// Every state, in declaration order.
    pub const ALL: [RegState; 9] = [
        RegState::Unknown,
        RegState::Registering,
        RegState::Registered,
        RegState::RefreshLate,
        RegState::Expired,
        RegState::Rejected,
        RegState::Unreachable,
        RegState::Deregistered,
        RegState::Stopped,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RegState::Unknown => "unknown",
            RegState::Registering => "registering",
            RegState::Registered => "registered",
            RegState::RefreshLate => "refresh_late",
            RegState::Expired => "expired",
            RegState::Rejected => "rejected",
            RegState::Unreachable => "unreachable",
            RegState::Deregistered => "deregistered",
            RegState::Stopped => "stopped",
        }
    }

    /// Whether a binding is (believed to be) in place.
    pub fn is_bound(self) -> bool {
        matches!(self, RegState::Registered | RegState::RefreshLate)
    }
}

impl fmt::Display for RegState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! causes {
    ($($(#[$m:meta])* $v:ident = $s:literal, $sev:ident;)*) => {
        /// A diagnosis cause id. Stable: extend, never rename.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Cause {
            $($(#[$m])* $v,)*
        }
        impl Cause {
            /// Every cause, in catalog order.
            pub const ALL: &'static [Cause] = &[$(Cause::$v),*];
            /// The stable id.
            pub fn as_str(self) -> &'static str {
                match self { $(Cause::$v => $s,)* }
            }
            /// Parses a stable id.
            pub fn parse(s: &str) -> Option<Cause> {
                match s { $($s => Some(Cause::$v),)* _ => None }
            }
            /// How serious the cause is; `warning` and `error` raise an alert.
            pub fn severity(self) -> Severity {
                match self { $(Cause::$v => Severity::$sev,)* }
            }
        }
    };
}

causes! {
    /// 200 OK, our binding present, refresh on time.
    Healthy = "healthy", Info;
    /// 401/407 again after credentials were sent; 403 after an authenticated REGISTER.
    CredentialsRejected = "credentials_rejected", Error;
    /// 403 without a credential problem: registration not enabled, no credential list, IP ACL.
    AccountForbidden = "account_forbidden", Error;
    /// The authorization user differs from the AOR user (Twilio 32106).
    AuthUsernameMismatch = "auth_username_mismatch", Error;
    /// 404 to REGISTER: the domain does not exist.
    DomainNotFound = "domain_not_found", Error;
    /// 423 Interval Too Brief.
    IntervalTooBrief = "interval_too_brief", Error;
    /// No answer on any transport tried.
    RegistrarUnreachable = "registrar_unreachable", Error;
    /// One transport times out while another answers.
    TransportBlocked = "transport_blocked", Error;
    /// ICMP port unreachable or TCP RST.
    ConnectionRefused = "connection_refused", Error;
    /// The domain does not resolve.
    DnsFailure = "dns_failure", Error;
    /// TLS handshake or certificate failure.
    TlsFailure = "tls_failure", Error;
    /// 5xx from the registrar.
    ServerError = "server_error", Error;
    /// Too many REGISTERs (Twilio 32008, 429).
    RateLimited = "rate_limited", Error;
    /// The binding lapsed without a refresh.
    RegistrationExpired = "registration_expired", Error;
    /// The refresh came (or is coming) later than the policy point.
    RefreshLate = "refresh_late", Warning;
    /// Granted expiry much shorter than requested.
    ExpiryDrift = "expiry_drift", Info;
    /// Removed on purpose with Expires: 0.
    Deregistered = "deregistered", Info;
    /// Validation found an error that guarantees failure.
    ConfigInvalid = "config_invalid", Error;
    /// The evidence fits no known cause.
    Unknown = "unknown", Warning;
    /// A 2xx to REGISTER that does not list our Contact (or grants 0 s).
    ContactNotBound = "contact_not_bound", Error;
    /// The registrar's side of a TCP/TLS connection sends what is not SIP
    /// (64 KiB without a complete message, or bytes that do not parse).
    ProtocolError = "protocol_error", Error;
    /// The registrar holds no binding for the trunk's Contact (a query
    /// REGISTER's 200 lists the AOR's bindings without it).
    BindingMissing = "binding_missing", Error;
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
