//! Provider codes (Twilio Debugger) and SIP status codes, as their owners
//! define them, with the cause each points to for registration.
use crate::core::state::Cause;

/// A Twilio Debugger / error dictionary code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TwilioCode {
    /// The code.
    pub code: u32,
    /// Its title in Twilio's error dictionary.
    pub title: &'static str,
    /// What it means for a SIP registration.
    pub meaning: &'static str,
    /// The cause it points to, if any.
    pub cause: Option<Cause>,
    /// An honest note, for codes tied to registration by hearsay.
    pub note: Option<&'static str>,
}

const NOTE_VOICE_SDK: &str = "Some SIP registration guides cite this code for registration failures, but in Twilio's \
     error dictionary it is a Voice SDK / Twilio Client code; nothing ties it to SIP Domain registration. \
     Look in the Debugger for 32202 (bad credentials), 32210/32212 (registration not enabled / no credential \
     list) and 32106 (auth user differs) instead.";

/// Twilio codes regwatch knows, with their dictionary titles.
pub const TWILIO_CODES: &[TwilioCode] = &[
    TwilioCode {
        code: 32202,
        title: "SIP: Bad user credentials",
        meaning: "A REGISTER (or call) answered the digest challenge with a username/password that does not \
                  match the credential list mapped to the SIP Domain. Twilio answers 403 Forbidden.",
        cause: Some(Cause::CredentialsRejected),
        note: None,
    },
    TwilioCode {
        code: 32106,
        title: "SIP: Authorization name and username differ",
        meaning: "The digest username (authorization user) is not the user in the From/To URI. Twilio \
                  requires them to be the same credential list username.",
        cause: Some(Cause::AuthUsernameMismatch),
        note: None,
    },
    TwilioCode {
        code: 32210,
        title: "SIP: Registration not enabled on the SIP domain",
        meaning: "The SIP Domain exists, but SIP Registration is switched off for it, so every REGISTER is \
                  refused whatever the credentials.",
        cause: Some(Cause::AccountForbidden),
        note: None,
    },
    TwilioCode {
        code: 32212,
        title: "SIP: No credential list mapped for registration",
        meaning: "SIP Registration is enabled but no credential list is mapped to it, so no username can \
                  register.",
        cause: Some(Cause::AccountForbidden),
        note: None,
    },
    TwilioCode {
        code: 32201,
        title: "SIP: Source IP address not in ACL",
        meaning: "The request came from an address the SIP Domain's IP access control list does not allow.",
        cause: Some(Cause::AccountForbidden),
        note: None,
    },
    TwilioCode {
        code: 32008,
        title: "SIP: REGISTER rate limit exceeded",
        meaning: "More than 5 REGISTER requests per second came from one address; Twilio throttles them.",
        cause: Some(Cause::RateLimited),
        note: None,
    },
    TwilioCode {
        code: 32009,
        title: "SIP: Endpoint not registered",
        meaning: "An inbound call went to a SIP Domain user that has no live registration: the symptom of a \
                  lapsed or failed registration (callers hear a failure; Twilio returns 480/404).",
        cause: Some(Cause::RegistrationExpired),
        note: None,
    },
    TwilioCode {
        code: 32209,
        title: "SIP: Secure transport required",
        meaning: "The SIP Domain requires TLS (and SRTP) for secure calls and the request came over UDP or TCP.",
        cause: None,
        note: None,
    },
    TwilioCode {
        code: 31201,
        title: "Authentication failed (Voice SDK)",
        meaning: "A Voice SDK (Twilio Client) device could not authenticate its access token.",
        cause: None,
        note: Some(NOTE_VOICE_SDK),
    },
    TwilioCode {
        code: 31203,
        title: "No valid account (Voice SDK)",
        meaning: "A Voice SDK (Twilio Client) request named no valid account.",
        cause: None,
        note: Some(NOTE_VOICE_SDK),
    },
];

/// Looks up a Twilio code.
pub fn twilio_code(code: u32) -> Option<&'static TwilioCode> {
    TWILIO_CODES.iter().find(|c| c.code == code)
}

/// The cause a Twilio code carried in `X-Twilio-Error` points to.
pub fn cause_for_twilio_code(code: u32) -> Option<Cause> {
    twilio_code(code)
        .and_then(|c| c.cause)
        .filter(|c| *c != Cause::RegistrationExpired)
}

/// A SIP status code as an answer to REGISTER.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SipStatus {
    /// The code.
    pub code: u16,
    /// Its reason phrase in RFC 3261 (or the RFC that defines it).
    pub reason: &'static str,
    /// What it means when it answers a REGISTER, and what to do.
    pub for_register: &'static str,
    /// The cause it points to (for 401/407: only when it answers credentials).
    pub cause: Option<Cause>,
}

macro_rules! statuses {
    ($($code:literal, $reason:literal, $cause:expr, $text:literal;)*) => {
        /// SIP status codes a REGISTER can get, with their meaning for registration.
        pub const SIP_STATUSES: &[SipStatus] = &[
            $(SipStatus { code: $code, reason: $reason, for_register: $text, cause: $cause },)*
        ];
    };
}

statuses! {
    100, "Trying", None, "Provisional: the registrar (or a proxy) got the REGISTER. Nothing to do.";
    200, "OK", Some(Cause::Healthy), "Registered. The Contact header lists the bindings the registrar holds, each with its granted expiry; check yours is among them.";
    202, "Accepted", Some(Cause::Healthy), "Accepted for processing; treat as registered, but check the next refresh.";
    301, "Moved Permanently", Some(Cause::Unknown), "The registrar says the domain lives elsewhere; few PBXes follow redirects for REGISTER. Point the trunk at the address in the Contact header.";
    302, "Moved Temporarily", Some(Cause::Unknown), "The registrar redirects the REGISTER; configure the trunk with the target it names, or use the provider's documented registrar.";
    305, "Use Proxy", Some(Cause::Unknown), "The registrar wants the REGISTER sent through a proxy: set the outbound proxy it names.";
    400, "Bad Request", Some(Cause::Unknown), "The registrar could not parse the REGISTER: a malformed header (often a Contact or From built from a bad setting). Capture the REGISTER and check its headers.";
    401, "Unauthorized", Some(Cause::CredentialsRejected), "A challenge (WWW-Authenticate). The first one is normal; a second one after credentials were sent means the registrar refused the username or password.";
    403, "Forbidden", Some(Cause::CredentialsRejected), "Refused. After an authenticated REGISTER this is Twilio's answer to a wrong password; without credentials it means registration is not allowed (not enabled, no credential list, IP not allowed).";
    404, "Not Found", Some(Cause::DomainNotFound), "The registrar does not know the domain in the Request-URI: a deleted, renamed or mistyped SIP domain. It is not about dialled numbers.";
    405, "Method Not Allowed", Some(Cause::Unknown), "The server does not accept REGISTER: it is not a registrar (for example a trunk termination URI such as *.pstn.twilio.com).";
    407, "Proxy Authentication Required", Some(Cause::CredentialsRejected), "A challenge (Proxy-Authenticate), Twilio's normal first answer with realm sip.twilio.com. A second one after credentials were sent means they were refused; a client that answers only 401 never gets past it.";
    408, "Request Timeout", Some(Cause::RegistrarUnreachable), "No final answer in time; often generated locally by the PBX's own stack when nothing came back. Check the network path and transport.";
    420, "Bad Extension", Some(Cause::Unknown), "The REGISTER required an extension the registrar lacks (Require header): remove the option that adds it (e.g. outbound/path settings).";
    423, "Interval Too Brief", Some(Cause::IntervalTooBrief), "The requested expiry is below the registrar's minimum, given in Min-Expires. Raise the expiry to at least that value.";
    429, "Too Many Requests", Some(Cause::RateLimited), "Rate limited: too many REGISTERs. Slow the retries; stagger trunks.";
    480, "Temporarily Unavailable", Some(Cause::ServerError), "The registrar cannot take the registration now. Retry later, honouring Retry-After.";
    481, "Call/Transaction Does Not Exist", Some(Cause::Unknown), "The registrar lost track of the transaction; usually a proxy or NAT problem between the PBX and the registrar.";
    482, "Loop Detected", Some(Cause::Unknown), "The REGISTER looped between proxies: check outbound proxy and DNS settings.";
    483, "Too Many Hops", Some(Cause::Unknown), "Max-Forwards ran out: a proxy loop or a very long proxy chain.";
    488, "Not Acceptable Here", Some(Cause::Unknown), "Unusual for REGISTER: some parameter of the request is refused. Capture it and compare with the provider's examples.";
    489, "Bad Event", Some(Cause::Unknown), "Unusual for REGISTER: an Event header the registrar does not support.";
    491, "Request Pending", Some(Cause::Unknown), "Another REGISTER for the same binding is still being processed; retry after a short delay.";
    494, "Security Agreement Required", Some(Cause::Unknown), "The registrar requires a security mechanism agreement (RFC 3329) the PBX did not offer.";
    500, "Server Internal Error", Some(Cause::ServerError), "The registrar failed. Retry later, honouring Retry-After; if it persists, check the provider's status page.";
    501, "Not Implemented", Some(Cause::Unknown), "The server does not implement REGISTER: it is not a registrar.";
    502, "Bad Gateway", Some(Cause::ServerError), "A proxy in front of the registrar got a bad answer from it. Retry later.";
    503, "Service Unavailable", Some(Cause::ServerError), "The registrar is overloaded or in maintenance (honour Retry-After). A 503 that the PBX generated itself usually means the connection failed.";
    504, "Server Time-out", Some(Cause::ServerError), "A proxy timed out waiting for the registrar. Retry later.";
    505, "Version Not Supported", Some(Cause::Unknown), "The SIP version in the request is not supported: a broken client.";
    513, "Message Too Large", Some(Cause::Unknown), "The REGISTER is too large for the transport (UDP): use TCP/TLS, or trim headers.";
    600, "Busy Everywhere", Some(Cause::Unknown), "Unusual for REGISTER; capture the exchange.";
    603, "Decline", Some(Cause::AccountForbidden), "The registrar declines the registration outright: check the account and the SIP domain's registration settings.";
    604, "Does Not Exist Anywhere", Some(Cause::DomainNotFound), "The user or domain does not exist anywhere: check the SIP domain and the username.";
    606, "Not Acceptable", Some(Cause::Unknown), "Unusual for REGISTER; capture the exchange.";
    904, "No matching challenge (FreeSWITCH)", Some(Cause::CredentialsRejected), "Not a wire code: FreeSWITCH reports 904 when its credentials were refused (a challenge it could not satisfy). Check the gateway's username, password and realm.";
}

/// Looks up a SIP status code.
pub fn sip_status(code: u16) -> Option<&'static SipStatus> {
    SIP_STATUSES.iter().find(|s| s.code == code)
}

/// The class of a status code, for codes not in the table.
pub fn sip_status_class(code: u16) -> &'static str {
    match code {
        100..=199 => "provisional: the request is being processed",
        200..=299 => "success",
        300..=399 => "redirection: the registrar points elsewhere",
        400..=499 => "client error: the registrar refuses this request as sent",
        500..=599 => "server error: the registrar failed; retry later",
        600..=699 => "global failure: refused everywhere",
        _ => "not a SIP status code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_codes_map_to_causes() {
        assert_eq!(
            cause_for_twilio_code(32202),
            Some(Cause::CredentialsRejected)
        );
        assert_eq!(
            cause_for_twilio_code(32106),
            Some(Cause::AuthUsernameMismatch)
        );
        assert_eq!(cause_for_twilio_code(32210), Some(Cause::AccountForbidden));
        assert_eq!(cause_for_twilio_code(32212), Some(Cause::AccountForbidden));
        assert_eq!(cause_for_twilio_code(32008), Some(Cause::RateLimited));
        assert_eq!(cause_for_twilio_code(99999), None);
    }

    #[test]
    fn voice_sdk_codes_carry_the_honest_note() {
        for c in [31201, 31203] {
            let t = twilio_code(c).unwrap();
            assert_eq!(t.cause, None);
            let note = t.note.unwrap();
            assert!(
                note.contains("Voice SDK") && note.contains("32202"),
                "{note}"
            );
        }
    }

    #[test]
    fn status_table_is_sorted_and_unique() {
        assert!(SIP_STATUSES.windows(2).all(|w| w[0].code < w[1].code));
        assert_eq!(sip_status(404).unwrap().cause, Some(Cause::DomainNotFound));
        assert!(sip_status(404)
            .unwrap()
            .for_register
            .contains("not about dialled numbers"));
        assert_eq!(
            sip_status_class(499),
            "client error: the registrar refuses this request as sent"
        );
    }
}
