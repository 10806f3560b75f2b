//! When a host refreshes a binding: each PBX has its own schedule, and
//! `refresh_late` means "past the host's own point", never "past a rule
//! the host does not follow".
//!
//! The schedules of the PBXes regwatch runs inside were read in their
//! sources and measured in the real PBX (see the README's soak figures):
//!
//! * Asterisk 22 (`res_pjsip_outbound_registration.c`,
//!   `handle_registration_response`): on a 2xx it schedules the next
//!   REGISTER at the **granted** expiry minus `REREGISTER_BUFFER_TIME`
//!   (10 s), at once when the grant is 10 s or less. There is no setting.
//! * FreeSWITCH 1.11: whichever of two timers comes first, each restarted
//!   by every 200 OK:
//!   - mod_sofia's own (`sofia_reg.c`, `sofia_reg_check_gateway`, state
//!     `REG_STATE_REGISTER`): the gateway's **requested** `expire-seconds`
//!     minus 15 s when that is over 30 s, else half of it, at least 1 s,
//!     plus up to one gateway tick (1 s);
//!   - sofia-sip's refresh of the registration (`nua_register.c`,
//!     `nua_dialog.c`), from the **granted** expiry: a random point
//!     between grant − 60 s and grant − 30 s for a grant of 90 to 300 s,
//!     between grant / 4 and 3 × grant / 4 otherwise.
//!
//!   The host's point is the latest either may take. Measured in
//!   FreeSWITCH 1.11.1 (`scripts/freeswitch-e2e.sh`, the registrar's save
//!   times): 120 s granted, every 74–86 s; `expire-seconds` 600 granted
//!   120, every 64–89 s; 600 granted 600, 155 s then 228 s.
//! * Anything else: a fraction of the granted expiry (`refresh_ratio`,
//!   default 50 %), the guide's advice and the rule for a host whose
//!   schedule is a setting or unknown.
use std::fmt;

/// Whose refresh schedule a trunk follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RefreshPolicy {
    /// At `refresh_ratio` of the granted expiry (the default, for hosts
    /// whose schedule is a setting or unknown).
    #[default]
    Ratio,
    /// Asterisk's PJSIP outbound registration: 10 s before the granted
    /// expiry.
    Asterisk,
    /// FreeSWITCH's sofia gateway: the earlier of mod_sofia's timer (15 s
    /// before the requested expiry) and sofia-sip's (at most 30 s before a
    /// grant of 90–300 s, else at most 3/4 of it).
    Freeswitch,
}

/// Asterisk's `REREGISTER_BUFFER_TIME`, in seconds.
const ASTERISK_BUFFER_S: u64 = 10;
/// FreeSWITCH's margin before `expire-seconds`, in seconds.
const FREESWITCH_MARGIN_S: u64 = 15;

impl RefreshPolicy {
    /// `ratio`, `asterisk` or `freeswitch`, in any case.
    pub fn parse(s: &str) -> Option<RefreshPolicy> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "ratio" => RefreshPolicy::Ratio,
            "asterisk" => RefreshPolicy::Asterisk,
            "freeswitch" => RefreshPolicy::Freeswitch,
            _ => return None,
        })
    }

    /// The name [`parse`](Self::parse) reads.
    pub fn as_str(self) -> &'static str {
        match self {
            RefreshPolicy::Ratio => "ratio",
            RefreshPolicy::Asterisk => "asterisk",
            RefreshPolicy::Freeswitch => "freeswitch",
        }
    }

    /// Milliseconds from a 2xx to the host's next REGISTER, for a binding
    /// granted `granted` s after `requested` s were asked.
    pub fn refresh_after_ms(self, ratio: f64, requested: Option<u32>, granted: u32) -> u64 {
        let granted = u64::from(granted);
        match self {
            RefreshPolicy::Ratio => (granted as f64 * 1000.0 * ratio) as u64,
            RefreshPolicy::Asterisk => granted.saturating_sub(ASTERISK_BUFFER_S) * 1000,
            RefreshPolicy::Freeswitch => {
                let asked = requested.map_or(granted, u64::from);
                let sofia = if asked > 2 * FREESWITCH_MARGIN_S {
                    asked - FREESWITCH_MARGIN_S
                } else {
                    asked / 2
                };
                // sofia-sip's latest point, in ms.
                let nua = if (90..=300).contains(&granted) {
                    (granted - 30) * 1000
                } else {
                    granted * 750
                };
                (sofia.max(1) * 1000).min(nua)
            }
        }
    }

    /// The refresh point in words, for evidence and summaries.
    pub fn point(self, ratio: f64) -> String {
        match self {
            RefreshPolicy::Ratio => {
                format!(
                    "the refresh point ({} % of the granted expiry)",
                    Percent(ratio)
                )
            }
            RefreshPolicy::Asterisk => {
                "Asterisk's own refresh point (10 s before the granted expiry)".to_owned()
            }
            RefreshPolicy::Freeswitch => {
                "FreeSWITCH's own refresh point (the later of sofia-sip's and mod_sofia's)"
                    .to_owned()
            }
        }
    }
}

impl fmt::Display for RefreshPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::RefreshPolicy::*;
    use super::*;

    #[test]
    fn each_host_refreshes_at_its_own_point() {
        // The soak registrar grants 120 s.
        assert_eq!(Ratio.refresh_after_ms(0.5, Some(120), 120), 60_000);
        assert_eq!(Asterisk.refresh_after_ms(0.5, Some(600), 120), 110_000);
        // sofia-sip's timer first: at most 30 s before a 120 s grant.
        assert_eq!(Freeswitch.refresh_after_ms(0.5, Some(120), 120), 90_000);
        // The field report: Asterisk expiration=600 refreshes at 590 s.
        assert_eq!(Asterisk.refresh_after_ms(0.5, Some(600), 600), 590_000);
        // expire-seconds 600 granted 120: sofia-sip refreshes from the
        // grant (measured every 64-89 s).
        assert_eq!(Freeswitch.refresh_after_ms(0.5, Some(600), 120), 90_000);
        // 600 granted 600: at most 3/4 of it (measured 155 s, 228 s).
        assert_eq!(Freeswitch.refresh_after_ms(0.5, Some(600), 600), 450_000);
        assert_eq!(Freeswitch.refresh_after_ms(0.5, None, 3600), 2_700_000);
        // expire-seconds 60 after a 423 raised the request to 600:
        // mod_sofia's timer from the configured 60 (measured 47 s).
        assert_eq!(Freeswitch.refresh_after_ms(0.5, Some(60), 600), 45_000);
    }

    #[test]
    fn short_grants_follow_each_hosts_floor() {
        assert_eq!(Asterisk.refresh_after_ms(0.5, None, 10), 0);
        assert_eq!(Asterisk.refresh_after_ms(0.5, None, 5), 0);
        assert_eq!(Freeswitch.refresh_after_ms(0.5, Some(30), 30), 15_000);
        assert_eq!(Freeswitch.refresh_after_ms(0.5, Some(31), 31), 16_000);
        assert_eq!(Freeswitch.refresh_after_ms(0.5, Some(1), 1), 750);
        assert_eq!(Ratio.refresh_after_ms(0.5, None, 0), 0);
    }

    #[test]
    fn names_round_trip() {
        for p in [Ratio, Asterisk, Freeswitch] {
            assert_eq!(RefreshPolicy::parse(p.as_str()), Some(p));
        }
        assert_eq!(RefreshPolicy::parse(" FreeSWITCH "), Some(Freeswitch));
        assert_eq!(RefreshPolicy::parse("50%"), None);
    }
}

/// A ratio as a whole percentage, as `{:.0}` of `ratio * 100` writes it
/// (ties to even), without the float formatter's exact-precision path,
/// which a fired refresh check's summary would pay on every alert.
pub(crate) struct Percent(pub(crate) f64);

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = (self.0 * 100.0).round_ties_even();
        if p.is_finite() && p.abs() < 1e15 {
            // Exact: an integer-valued float below 2^53.
            write!(f, "{}", p as i64)
        } else {
            write!(f, "{:.0}", self.0 * 100.0)
        }
    }
}

#[cfg(test)]
mod percent_tests {
    use super::Percent;

    #[test]
    fn percent_writes_as_the_float_formatter_does() {
        for r in [
            0.0, 0.5, 0.625, 0.635, 0.125, 0.8, 0.9999, 1.0, 0.005, 0.015, -0.5, 12.345,
        ] {
            assert_eq!(Percent(r).to_string(), format!("{:.0}", r * 100.0), "{r}");
        }
        assert_eq!(Percent(f64::NAN).to_string(), "NaN");
        assert_eq!(Percent(f64::INFINITY).to_string(), "inf");
    }
}
