//! Stable codes of the host-specific notes the configuration readers add
//! next to the validation findings. Extend, never rename.
//!
//! Notes are [`Finding`](crate::Finding)s whose `field` is the host's own
//! configuration key (`auth_rejection_permanent`, `retry-seconds`...).

macro_rules! codes {
    ($($(#[$m:meta])* $name:ident = $s:literal;)*) => {
        $($(#[$m])* pub const $name: &str = $s;)*
        /// Every note code, in catalog order.
        pub const ALL: &[&str] = &[$($s),*];
    };
}

codes! {
    /// `server_uri` or `client_uri` is missing: Asterisk refuses to load the
    /// registration.
    ASTERISK_URI_MISSING = "asterisk.uri_missing";
    /// `server_uri`, `client_uri` or `outbound_proxy` is not a SIP URI.
    ASTERISK_URI_INVALID = "asterisk.uri_invalid";
    /// `server_uri` has a user part: the REGISTER Request-URI becomes
    /// `sip:user@domain` (RFC 3261 §10.2 wants the domain alone).
    ASTERISK_SERVER_URI_USER = "asterisk.server_uri_user";
    /// The AOR host (`client_uri`) differs from the registrar (`server_uri`).
    ASTERISK_AOR_DOMAIN_DIFFERS = "asterisk.aor_domain_differs";
    /// No `outbound_auth`: a challenge cannot be answered.
    ASTERISK_NO_OUTBOUND_AUTH = "asterisk.no_outbound_auth";
    /// `outbound_auth` names an auth section that does not exist.
    ASTERISK_AUTH_MISSING = "asterisk.auth_missing";
    /// The auth is not `userpass` (md5, oauth...): its password cannot be checked.
    ASTERISK_AUTH_NOT_USERPASS = "asterisk.auth_not_userpass";
    /// `auth_rejection_permanent=yes`: rejected credentials stop the
    /// registration until the configuration is reloaded.
    ASTERISK_STOPS_ON_AUTH_REJECTION = "asterisk.stops_on_auth_rejection";
    /// `forbidden_retry_interval=0`: a 403 stops the registration for good.
    ASTERISK_STOPS_ON_FORBIDDEN = "asterisk.stops_on_forbidden";
    /// `fatal_retry_interval=0`: a 404 or other permanent failure stops the
    /// registration for good.
    ASTERISK_STOPS_ON_FATAL = "asterisk.stops_on_fatal";
    /// `max_retries`: after that many temporary failures (timeouts, 5xx)
    /// the registration stops for good.
    ASTERISK_MAX_RETRIES = "asterisk.max_retries";
    /// `retry_interval=0`: temporary failures are not retried either.
    ASTERISK_RETRY_DISABLED = "asterisk.retry_disabled";
    /// `expiration` of 10 s or less: Asterisk re-registers 10 s before
    /// expiry, so it re-registers immediately after every success.
    ASTERISK_EXPIRATION_SHORT = "asterisk.expiration_short";
    /// `line`/`endpoint` set without the other: Asterisk refuses the registration.
    ASTERISK_LINE_ENDPOINT = "asterisk.line_endpoint";
    /// A value Asterisk cannot parse (a number or a yes/no): the object is
    /// not loaded.
    ASTERISK_INVALID_VALUE = "asterisk.invalid_value";
    /// Two sections of the same name and type (two `[acme]` of
    /// `type=registration`): Asterisk refuses every object of that type in
    /// the file ("configuration contains a duplicate object").
    ASTERISK_DUPLICATE_OBJECT = "asterisk.duplicate_object";
    /// `#include` names no file (or its wildcard matches none): Asterisk
    /// refuses the whole file. With `#tryinclude`, information only.
    ASTERISK_INCLUDE_MISSING = "asterisk.include_missing";
    /// An included name is a directory, a FIFO, a device or a socket: not
    /// opened (Asterisk ignores it too; an `#include` left with no file
    /// makes Asterisk refuse the whole file).
    ASTERISK_INCLUDE_NOT_REGULAR = "asterisk.include_not_regular";
    /// A file includes itself or one of the files that include it.
    ASTERISK_INCLUDE_CYCLE = "asterisk.include_cycle";
    /// More nested includes than Asterisk follows (10 levels).
    ASTERISK_INCLUDE_TOO_DEEP = "asterisk.include_too_deep";
    /// An absolute `#include` path, read from the machine the check runs on.
    ASTERISK_INCLUDE_ABSOLUTE = "asterisk.include_absolute";
    /// The same file included more than once: its sections are defined
    /// again (Asterisk warns).
    ASTERISK_INCLUDE_REPEATED = "asterisk.include_repeated";
    /// An included file exists but cannot be read (permissions, IO error).
    ASTERISK_INCLUDE_UNREADABLE = "asterisk.include_unreadable";
    /// The reader's own budget (files, bytes, directory entries, wildcard
    /// alternatives, notes) was reached: what is beyond it was not read.
    ASTERISK_INCLUDE_LIMIT = "asterisk.include_limit";
    /// `#exec` (not run), an unknown directive or one without an argument.
    ASTERISK_DIRECTIVE_IGNORED = "asterisk.directive_ignored";
    /// A `;--` block comment still open at the end of a file (Asterisk
    /// closes it there).
    ASTERISK_COMMENT_UNTERMINATED = "asterisk.comment_unterminated";
    /// Two registrations register the same AOR to the same registrar (the
    /// same `client_uri` and `server_uri`): told apart by their Contact
    /// user, else by nothing.
    ASTERISK_SHARED_AOR = "asterisk.shared_aor";
    /// `register=false`: the gateway does not register (OPTIONS only).
    FREESWITCH_NO_REGISTER = "freeswitch.no_register";
    /// `username` missing on a registering gateway: mod_sofia refuses it.
    FREESWITCH_USERNAME_MISSING = "freeswitch.username_missing";
    /// `register-transport` is not udp, tcp or tls.
    FREESWITCH_TRANSPORT_UNSUPPORTED = "freeswitch.transport_unsupported";
    /// `retry-seconds` below 5: mod_sofia uses 30 instead.
    FREESWITCH_RETRY_SECONDS_RESET = "freeswitch.retry_seconds_reset";
    /// Retries wait `retry-seconds × failures`, without a cap.
    FREESWITCH_RETRY_BACKOFF = "freeswitch.retry_backoff";
    /// `timeout-seconds` below 5: mod_sofia uses 60 instead.
    FREESWITCH_TIMEOUT_SECONDS_RESET = "freeswitch.timeout_seconds_reset";
    /// `ping` below 5: mod_sofia ignores it (no OPTIONS keep-alive).
    FREESWITCH_PING_IGNORED = "freeswitch.ping_ignored";
    /// `expire-seconds` is not a number of at least 5: mod_sofia uses 3600.
    FREESWITCH_EXPIRE_SECONDS_INVALID = "freeswitch.expire_seconds_invalid";
    /// `from-domain` (the AOR domain) differs from `proxy` (the REGISTER
    /// Request-URI host).
    FREESWITCH_FROM_DOMAIN_DIFFERS = "freeswitch.from_domain_differs";
}
