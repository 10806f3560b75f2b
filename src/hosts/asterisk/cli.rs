//! The console output of `pjsip show registrations`: the only place
//! Asterisk tells a module the state of every outbound registration at
//! once, so a module loaded (or reloaded) while registrations already run
//! starts from what Asterisk knows instead of "nothing observed yet".
//!
//! A body line is (res_pjsip_outbound_registration.c, `cli_print_body`):
//!
//! ```text
//!  <name>/<server_uri, cut to fit>  <first outbound_auth or n/a>  <status> (exp. 535s)
//! ```
//!
//! with status `Registered`, `Unregistered`, `Rejected` (temporary and
//! permanent alike) or `Stopped`-as-`Unregistered`, and the expiry either
//! `(exp. Ns)` or `(exp. Ns ago)`.
use super::super::{Fact, FactKind};
use crate::core::HostState;
use crate::hosts::text::strip_ansi;

/// One registration as `pjsip show registrations` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CliRegistration {
    /// The registration's section name.
    pub name: String,
    /// What Asterisk says of it.
    pub state: HostState,
    /// Seconds until Asterisk's view of the binding lapses (negative: it
    /// lapsed that long ago), when shown.
    pub expires_in: Option<i64>,
}

/// Parses the output of `pjsip show registrations`; header, separator,
/// empty and unrecognised lines are skipped.
pub fn parse_show_registrations(text: &str) -> Vec<CliRegistration> {
    let text = strip_ansi(text);
    let mut out = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        let Some((name, uri)) = first.split_once('/') else {
            continue;
        };
        if name.is_empty() || name.starts_with('<') || !uri.starts_with("sip") {
            continue;
        }
        let rest: Vec<&str> = words.collect();
        let Some(pos) = rest
            .iter()
            .position(|w| matches!(*w, "Registered" | "Unregistered" | "Rejected"))
        else {
            continue;
        };
        let state = match rest[pos] {
            "Registered" => HostState::Registered,
            "Rejected" => HostState::Rejected,
            _ => HostState::Unregistered,
        };
        let mut expires_in = None;
        if rest.get(pos + 1) == Some(&"(exp.") {
            let n = rest.get(pos + 2).map(|w| w.trim_end_matches([')', 's']));
            if let Some(Ok(v)) = n.map(str::parse::<i64>) {
                let ago = rest.get(pos + 3).is_some_and(|w| w.starts_with("ago"));
                expires_in = Some(if ago { -v } else { v });
            }
        }
        out.push(CliRegistration {
            name: name.to_owned(),
            state,
            expires_in,
        });
    }
    out
}

impl CliRegistration {
    /// The engine input: the host's own state for the trunk of the same
    /// name.
    pub fn fact(&self) -> Fact {
        Fact {
            trunk: self.name.clone(),
            kind: FactKind::HostState {
                state: self.state,
                detail: self
                    .expires_in
                    .map(|e| format!("pjsip show registrations: expiry in {e} s")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "
 <Registration/ServerURI..............................>  <Auth....................>  <Status.......>
==========================================================================================

 good/sip:acme.sip.twilio.com                            alice-auth                  Registered       (exp. 535s)
 wrongpw/sip:acme.sip.twilio.com                         wrong-auth                  Rejected         (exp. 12s ago)
 idle/sip:acme.sip.twilio.com                            n/a                         Unregistered     (exp. 0s)
 a-very-long-registration-name-indeed/sip:acme.sip.twilio.  x-auth                    Registered       (exp. 3s)

Objects found: 4
";

    #[test]
    fn parses_every_line() {
        let r = parse_show_registrations(OUT);
        assert_eq!(r.len(), 4, "{r:?}");
        assert_eq!(r[0].name, "good");
        assert_eq!(r[0].state, HostState::Registered);
        assert_eq!(r[0].expires_in, Some(535));
        assert_eq!(r[1].state, HostState::Rejected);
        assert_eq!(r[1].expires_in, Some(-12));
        assert_eq!(r[2].state, HostState::Unregistered);
        assert_eq!(r[3].name, "a-very-long-registration-name-indeed");
        assert_eq!(r[0].fact().trunk, "good");
    }

    #[test]
    fn ignores_noise() {
        assert!(parse_show_registrations("").is_empty());
        assert!(parse_show_registrations("No objects found.\n").is_empty());
        assert!(parse_show_registrations(" x/sip:h  auth  Bogus\n").is_empty());
        assert!(parse_show_registrations("\u{1b}[1;31m\u{0}/////\n").is_empty());
    }
}
