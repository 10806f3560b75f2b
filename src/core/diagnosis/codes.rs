//! Provider codes (Twilio Debugger) and SIP status codes, as their owners
//! define them, with the cause each points to for registration.
use crate::core::state::Cause;

/// A Twilio Debugger / error dictionary code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TwilioCode {
    /// The code.
    pub code: u32,
    /// Its title in Twilio's dictionary.
    pub title: &'static str,
    /// What it means for a SIP registration.
    pub meaning: &'static str,
    /// The cause it points to, if any.
    pub cause: Option<Cause>,
    /// An honest note (for codes tied to registration by hearsay).
    pub note: Option<&'static str>,
}

/// Twilio codes regwatch knows.
pub const TWILIO_CODES: &[TwilioCode] = &[
    TwilioCode {
        code: 32202,
        title: "Bad user credentials",
        meaning: "",
        cause: Some(Cause::CredentialsRejected),
        note: None,
    },
    TwilioCode {
        code: 32106,
        title: "Authorization name and username differ",
        meaning: "",
        cause: Some(Cause::AuthUsernameMismatch),
        note: None,
    },
    TwilioCode {
        code: 32210,
        title: "Registration not enabled on the SIP domain",
        meaning: "",
        cause: Some(Cause::AccountForbidden),
        note: None,
    },
    TwilioCode {
        code: 32212,
        title: "No credential list mapped for registration",
        meaning: "",
        cause: Some(Cause::AccountForbidden),
        note: None,
    },
    TwilioCode {
        code: 32201,
        title: "Source IP address not in ACL",
        meaning: "",
        cause: Some(Cause::AccountForbidden),
        note: None,
    },
    TwilioCode {
        code: 32008,
        title: "REGISTER rate limit exceeded",
        meaning: "",
        cause: Some(Cause::RateLimited),
        note: None,
    },
];

/// Looks up a Twilio code.
pub fn twilio_code(code: u32) -> Option<&'static TwilioCode> {
    TWILIO_CODES.iter().find(|c| c.code == code)
}

/// The cause a Twilio code carried in `X-Twilio-Error` points to.
pub fn cause_for_twilio_code(code: u32) -> Option<Cause> {
    twilio_code(code).and_then(|c| c.cause)
}
