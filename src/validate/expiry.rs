//! Expiry and refresh-ratio checks.
use super::codes::*;
use super::{Finding, Profile, Severity};

/// Checks a requested expiry (seconds) and the refresh ratio (0..1 of the
/// granted expiry at which the host refreshes), if known.
pub fn validate_expiry(expires: u32, refresh_ratio: Option<f64>, profile: Profile) -> Vec<Finding> {
    let mut out = Vec::new();
    let (min, max) = match profile {
        Profile::Twilio => (600, 3600),
        Profile::Generic => (60, 86_400),
    };
    if expires == 0 {
        out.push(Finding::new(
            EXPIRY_TOO_SHORT,
            Severity::Error,
            "expires",
            "An expiry of 0 means \"remove my registration\": every REGISTER would deregister.",
            "Set the expiry to 3600 s (Twilio) or what the registrar recommends.",
        ));
    } else if expires > max {
        out.push(Finding::new(
            EXPIRY_TOO_LONG,
            Severity::Warning,
            "expires",
            match profile {
                Profile::Twilio => format!("Twilio grants at most 3600 s; the 200 OK will say 3600, not {expires}, and a PBX that trusts its own value refreshes too late."),
                Profile::Generic => format!("An expiry of {expires} s keeps a dead binding alive for a long time after the PBX disappears."),
            },
            format!("Set the expiry to {max} s or less."),
        ));
    } else if expires < min {
        out.push(Finding::new(
            EXPIRY_TOO_SHORT,
            Severity::Warning,
            "expires",
            match profile {
                Profile::Twilio => format!("Twilio asks for no refresh more often than every 600 s; {expires} s may get 423 Interval Too Brief or be raised."),
                Profile::Generic => format!("{expires} s is below the 60 s RFC 3261 suggests; registrars answer 423 Interval Too Brief."),
            },
            format!("Set the expiry to at least {min} s (3600 s is a good value)."),
        ));
    }
    if let Some(r) = refresh_ratio {
        if r > 0.9 {
            out.push(Finding::new(
                EXPIRY_REFRESH_RATIO,
                Severity::Warning,
                "refresh_ratio",
                format!("Refreshing at {:.0} % of the expiry leaves too little time: one lost REGISTER and the binding lapses.", r * 100.0),
                "Refresh at about half of the granted expiry.",
            ));
        } else if r < 0.2 {
            out.push(Finding::new(
                EXPIRY_REFRESH_RATIO,
                Severity::Warning,
                "refresh_ratio",
                format!("Refreshing at {:.0} % of the expiry sends REGISTERs needlessly often (Twilio rate-limits REGISTERs: 32008).", r * 100.0),
                "Refresh at about half of the granted expiry.",
            ));
        } else if profile == Profile::Twilio
            && expires > 0
            && (f64::from(expires) * r) < 600.0
            && expires >= 600
        {
            out.push(Finding::new(
                EXPIRY_REFRESH_RATIO,
                Severity::Info,
                "refresh_ratio",
                format!("With {expires} s and a refresh at {:.0} %, REGISTERs go out more often than every 600 s, which Twilio asks you not to do.", r * 100.0),
                "Use a 3600 s expiry with a refresh at half of it.",
            ));
        }
    }
    out
}
