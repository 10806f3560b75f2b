//! The stable finding codes. Extend, never rename.

macro_rules! codes {
    ($($(#[$m:meta])* $name:ident = $s:literal;)*) => {
        $($(#[$m])* pub const $name: &str = $s;)*
        /// Every finding code, in catalog order.
        pub const ALL: &[&str] = &[$($s),*];
    };
}

codes! {
    /// The domain is empty.
    DOMAIN_EMPTY = "domain.empty";
    /// `https://`, `http://` (or another scheme) in front of the domain.
    DOMAIN_SCHEME_PREFIX = "domain.scheme_prefix";
    /// `user@` in front of the domain.
    DOMAIN_USER_PART = "domain.user_part";
    /// A `/path`, `?query` or `;params` after the host.
    DOMAIN_PATH = "domain.path";
    /// Leading, trailing or inner white space.
    DOMAIN_WHITESPACE = "domain.whitespace";
    /// A trailing dot (`acme.sip.twilio.com.`).
    DOMAIN_TRAILING_DOT = "domain.trailing_dot";
    /// Upper-case letters in the host.
    DOMAIN_UPPERCASE = "domain.uppercase";
    /// Characters that cannot appear in a host name, or an empty label.
    DOMAIN_INVALID_CHARS = "domain.invalid_chars";
    /// A host name longer than DNS allows: over 253 octets, or a label
    /// over 63.
    DOMAIN_TOO_LONG = "domain.too_long";
    /// An IP address where a domain name is needed.
    DOMAIN_IP_LITERAL = "domain.ip_literal";
    /// A misspelling of the provider's name (`twillio`, `twilo`, `sip.twiilio`).
    DOMAIN_TYPO = "domain.typo";
    /// `<name>.twilio.com` without the `.sip.` label.
    DOMAIN_MISSING_SIP_LABEL = "domain.missing_sip_label";
    /// Labels beyond `<name>.sip[.<edge>].twilio.com`.
    DOMAIN_EXTRA_LABEL = "domain.extra_label";
    /// An edge name Twilio does not have (or `roaming`).
    DOMAIN_UNKNOWN_EDGE = "domain.unknown_edge";
    /// A `*.pstn.twilio.com` Elastic SIP Trunking URI used as a registrar.
    DOMAIN_PSTN_TERMINATION_URI = "domain.pstn_termination_uri";
    /// Profile `twilio`, but the host is not Twilio's.
    DOMAIN_NOT_PROVIDER = "domain.not_provider";
    /// The REGISTER Request-URI names another host than the configured domain.
    DOMAIN_REQUEST_URI_MISMATCH = "domain.request_uri_mismatch";
    /// The username is empty.
    CREDENTIALS_USERNAME_EMPTY = "credentials.username_empty";
    /// The username is longer than the provider allows.
    CREDENTIALS_USERNAME_TOO_LONG = "credentials.username_too_long";
    /// The username has characters a SIP user part cannot carry unescaped.
    CREDENTIALS_USERNAME_CHARS = "credentials.username_chars";
    /// The authorization user differs from the AOR user.
    CREDENTIALS_AUTH_USER_MISMATCH = "credentials.auth_user_mismatch";
    /// The password is empty or missing.
    CREDENTIALS_PASSWORD_EMPTY = "credentials.password_empty";
    /// The password breaks the provider's strength rules.
    CREDENTIALS_PASSWORD_WEAK = "credentials.password_weak";
    /// The password starts or ends with (or contains) white space.
    CREDENTIALS_PASSWORD_WHITESPACE = "credentials.password_whitespace";
    /// The password has non-ASCII characters (look-alikes, smart quotes).
    CREDENTIALS_PASSWORD_NONASCII = "credentials.password_nonascii";
    /// The password is a placeholder (`changeme`, `password`, `<secret>`).
    CREDENTIALS_PASSWORD_PLACEHOLDER = "credentials.password_placeholder";
    /// The requested expiry is above what the registrar grants.
    EXPIRY_TOO_LONG = "expiry.too_long";
    /// The requested expiry is below what the registrar accepts.
    EXPIRY_TOO_SHORT = "expiry.too_short";
    /// The refresh point is too close to expiry, or so early it floods.
    EXPIRY_REFRESH_RATIO = "expiry.refresh_ratio";
    /// The port does not fit the transport (TLS on 5060, UDP on 5061).
    TRANSPORT_PORT_MISMATCH = "transport.port_mismatch";
    /// UDP/TCP where the provider recommends TLS.
    TRANSPORT_INSECURE = "transport.insecure";
    /// The configured realm differs from the one the registrar challenges with.
    REALM_MISMATCH = "realm.mismatch";
}
