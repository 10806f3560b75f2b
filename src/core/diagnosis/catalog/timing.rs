//! Timing: the expiry asked for, granted and refreshed.
//!
//! Each cause's summary and remedy together; the evidence is the
//! catalog's (it depends on the facts, not on the cause).
use super::*;

/// `interval_too_brief`: 423, the expiry asked for is too short.
pub(super) const INTERVAL_TOO_BRIEF: Words = Words {
    summary: |f| {
        let t = f.trunk;
        let reg = registrar(f);
        match f.min_expires {
            Some(m) => format!(
                "{t}: the requested expiry{} is too short; {reg} wants at least {m} s (423).",
                f.requested_expires
                    .map(|e| format!(" of {e} s"))
                    .unwrap_or_default()
            ),
            None => format!("{t}: the requested expiry is too short for {reg} (423)."),
        }
    },
    remedy: |f, d| {
        let tw = twilio(f);
        let r = &mut d.remediation;
        let refs = &mut d.references;
        let min = f.min_expires.unwrap_or(if tw { 600 } else { 60 });
        r.push(format!(
            "Raise the registration expiry to at least {min} s{} ({}).",
            if tw { " and at most 3600 s" } else { "" },
            on_pbx(f, "`expiration`", "`expire-seconds`")
        ));
        r.push("A PBX that honours Min-Expires retries by itself; if it does not, the setting is the fix.".to_owned());
        refs.push(rfc(
            "RFC 3261 §10.2.8",
            "Error Responses (423 Interval Too Brief)",
        ));
        r.push(verify(f));
    },
};

/// `registration_expired`: the binding lapsed without a refresh.
pub(super) const REGISTRATION_EXPIRED: Words = Words {
    summary: |f| {
        let t = f.trunk;
        let reg = registrar(f);
        format!(
            "{t}: the registration lapsed: no refresh reached {reg} before the binding expired, so inbound calls fail."
        )
    },
    remedy: |f, d| {
        let tw = twilio(f);
        let r = &mut d.remediation;
        let refs = &mut d.references;
        r.push(format!("Find why the PBX stopped refreshing: is it running, is the trunk still configured, did it give up after failures ({})?", on_pbx(f, "`max_retries`", "`retry-seconds`, `expire-seconds`")));
        r.push(format!("Register again now ({}).", verify(f)));
        r.push(match f.refresh_policy {
            RefreshPolicy::Ratio => "Keep the expiry at most 3600 s with a refresh at half of it, and watch with OPTIONS keep-alives so a lapse is seen in seconds.".to_owned(),
            _ => "Keep the expiry at most 3600 s and the keep-alives on, so a lapse is seen in seconds.".to_owned(),
        });
        if tw {
            refs.push(twilio_ref(32009));
        }
        refs.push(rfc("RFC 3261 §10.2.4", "Refreshing Bindings"));
    },
};

/// `refresh_late`: the refresh is past the policy point.
pub(super) const REFRESH_LATE: Words = Words {
    summary: |f| {
        let t = f.trunk;
        match f.refresh_late_by_ms {
            Some(l) => format!(
                "{t}: the refresh is {} s past {}.",
                l / 1000,
                f.refresh_policy.point(f.refresh_ratio)
            ),
            None => format!("{t}: the refresh is overdue."),
        }
    },
    remedy: |f, d| {
        let r = &mut d.remediation;
        match f.refresh_policy {
            RefreshPolicy::Ratio => {
                r.push(format!(
                    "Refresh earlier: at {} % of the granted expiry, or set regwatch's `refresh_policy` (or `refresh_ratio`) to the host's own schedule.",
                    crate::core::refresh::Percent(f.refresh_ratio)
                ));
                r.push("Lower the expiry (e.g. 600–1800 s) so that a lost refresh is retried before the binding lapses.".to_owned());
            }
            RefreshPolicy::Asterisk => {
                r.push(format!("Asterisk did not re-register at its own point: see `pjsip show registrations` and the log for `{}`; a busy or stuck PJSIP task processor (`core show taskprocessors`) delays it.", f.trunk));
                r.push(format!(
                    "Register again now: `pjsip send register {}`.",
                    f.trunk
                ));
            }
            RefreshPolicy::Freeswitch => {
                r.push(format!("FreeSWITCH did not re-register at its own point: see `sofia status gateway {}` and the log; a stuck sofia profile delays every gateway on it.", f.trunk));
                r.push(format!(
                    "Register again now: `sofia profile <profile> register {}`.",
                    f.trunk
                ));
            }
        }
        d.confidence = Confidence::Medium;
    },
};

/// `expiry_drift`: the registrar grants much less than asked.
pub(super) const EXPIRY_DRIFT: Words = Words {
    summary: |f| {
        let t = f.trunk;
        let reg = registrar(f);
        format!(
            "{t}: registered, but {reg} granted {} s where {} s was asked.",
            f.granted_expires.unwrap_or(0),
            f.requested_expires.unwrap_or(0)
        )
    },
    remedy: |f, d| {
        let r = &mut d.remediation;
        r.push(format!(
            "Set the requested expiry to what the registrar grants ({} s): {}.",
            f.granted_expires.unwrap_or(0),
            on_pbx(f, "`expiration`", "`expire-seconds`")
        ));
        r.push("Make sure the host schedules its refresh from the granted expiry, not from the requested one.".to_owned());
    },
};
