//! Authentication: the registrar refused the credentials, the account
//! or the authorization user.
//!
//! Each cause's summary and remedy together; the evidence is the
//! catalog's (it depends on the facts, not on the cause).
use super::*;

/// `credentials_rejected`: 401/407 again after credentials, 403 after authenticating.
pub(super) const CREDENTIALS_REJECTED: Words = Words {
    summary: |f| {
        let t = f.trunk;
        let reg = registrar(f);
        if f.sent_credentials == Some(false) && f.challenges_in_attempt >= 2 {
            format!(
                "{t}: {reg} challenged the REGISTER and the host sent it again without credentials, so it never authenticated."
            )
        } else if f.last_code == Some(403) {
            if twilio(f) {
                format!("{t}: Twilio rejected the password for {} (403 after the 407 challenge was answered).", who(f))
            } else {
                format!(
                    "{t}: {reg} refused the credentials of {} (403 after authenticating).",
                    who(f)
                )
            }
        } else if f.last_code == Some(904) {
            format!("{t}: FreeSWITCH could not authenticate {} to {reg} (904: the credentials were refused).", who(f))
        } else {
            format!(
                "{t}: {reg} refused the username or password of {} ({} again after credentials were sent).",
                who(f),
                code_text(f)
            )
        }
    },
    remedy: |f, d| {
        let tw = twilio(f);
        let r = &mut d.remediation;
        let refs = &mut d.references;
        if f.sent_credentials == Some(false) && f.challenges_in_attempt >= 2 {
            r.push(format!(
                "Make the host answer the challenge: {}.",
                on_pbx(
                    f,
                    "set `outbound_auth=<auth section>` on the type=registration",
                    "set `username` and `password` on the gateway"
                )
            ));
            if f.challenge.is_some_and(|c| c.proxy) {
                r.push("The registrar challenges with 407 Proxy-Authenticate (Twilio always does). A client that only answers 401 never authenticates: update it or use one that answers 407.".to_owned());
            }
            d.confidence = Confidence::Medium;
        } else {
            if tw {
                r.push(console_credentials());
                r.push("Re-enter the password on the PBX exactly as stored in the credential list (case-sensitive, no leading/trailing spaces). If nobody knows it, set a new one in the Console and update the PBX at once.".to_owned());
            } else {
                r.push("Check the username and password against the registrar's account settings (case-sensitive).".to_owned());
            }
            r.push(format!("On the PBX: {}.", on_pbx(f, "the `type=auth` section referenced by `outbound_auth` (`username`, `password`; leave `realm` empty or matching the challenge)", "the gateway params `username`, `password`, `realm`")));
            if let (Some(c), Some(cr)) = (f.challenge, f.configured_realm) {
                if !cr.is_empty() && cr != c.realm {
                    r.push(format!("The configured realm \"{cr}\" does not match the challenge's \"{}\": clear it or set it to \"{}\".", c.realm, c.realm));
                }
            }
            // A generic registrar's 403 may also mean "not allowed at all".
            if !tw && f.last_code == Some(403) {
                d.confidence = Confidence::Medium;
            }
        }
        if f.last_code == Some(904) {
            refs.push(Reference {
                source: "freeswitch",
                id: "904".to_owned(),
                title: "Operation has no matching challenge".to_owned(),
                note: Some("mod_sofia's local code when its credentials fail".to_owned()),
            });
        }
        if tw {
            refs.push(twilio_ref(32202));
            refs.push(twilio_ref(31201));
        }
        refs.push(rfc("RFC 3261 §22", "Usage of HTTP Authentication"));
        r.push(verify(f));
        if tw && f.challenge.is_some_and(|c| c.realm != TWILIO_REALM) {
            r.push(format!(
            "The challenge realm is not \"{TWILIO_REALM}\": is this really Twilio's registrar (check for a proxy or SBC in between)?"
        ));
        }
    },
};

/// `account_forbidden`: 403 without a credential problem.
pub(super) const ACCOUNT_FORBIDDEN: Words = Words {
    summary: |f| {
        let t = f.trunk;
        let reg = registrar(f);
        if ambiguous_403(f) {
            return format!(
                "{t}: {reg} answered {}; the host does not say whether the REGISTER carried credentials, so either registration is not allowed for this account or the password was refused.",
                code_text(f)
            );
        }
        format!(
            "{t}: {reg} forbids registration for this account ({}), whatever the password.",
            code_text(f)
        )
    },
    remedy: |f, d| {
        let tw = twilio(f);
        let r = &mut d.remediation;
        let refs = &mut d.references;
        if tw {
            r.push("In the Twilio Console: Voice > Manage > SIP domains > your domain: under Voice Authentication, turn SIP Registration on (Debugger 32210).".to_owned());
            r.push("Map a credential list under SIP Registration (32212) and make sure it holds this trunk's username.".to_owned());
            r.push("If the domain uses an IP access control list, add the PBX's public address (32201).".to_owned());
            refs.push(twilio_ref(32210));
            refs.push(twilio_ref(32212));
            refs.push(twilio_ref(32201));
            if f.twilio_error.is_none() {
                d.confidence = Confidence::Medium;
            }
        } else {
            r.push("Ask the provider whether registration is enabled for this account and whether the PBX's address is allowed.".to_owned());
            d.confidence = Confidence::Medium;
        }
        if ambiguous_403(f) {
            r.push("If registration is allowed, the password is the other candidate: re-enter it on the PBX exactly as the provider stores it (case-sensitive).".to_owned());
            d.confidence = Confidence::Medium;
        }
        r.push(verify(f));
    },
};

/// A 403 that may have come before a challenge or after the credentials:
/// the host's report does not show which (FreeSWITCH's FAILED 403).
fn ambiguous_403(f: &Facts<'_>) -> bool {
    f.last_code == Some(403)
        && f.sent_credentials.is_none()
        && f.twilio_error.is_none()
        && !matches!(f.query_answer, Some(401 | 403 | 404 | 407 | 604))
}

/// `auth_username_mismatch`: the authorization user differs from the AOR user (Twilio).
pub(super) const AUTH_USERNAME_MISMATCH: Words = Words {
    summary: |f| {
        let t = f.trunk;
        format!(
            "{t}: the authorization user `{}` differs from the username `{}`; Twilio requires them to be the same.",
            f.auth_username.unwrap_or("?"),
            f.username
        )
    },
    remedy: |f, d| {
        let r = &mut d.remediation;
        let refs = &mut d.references;
        r.push(format!(
            "Set the authorization user equal to the username `{}` ({}).",
            f.username,
            on_pbx(
                f,
                "`username` in type=auth must equal the user of `client_uri`",
                "drop `auth-username` or set it to `username`"
            )
        ));
        r.push(
            "Make sure that same username is in the credential list mapped for SIP Registration."
                .to_owned(),
        );
        refs.push(twilio_ref(32106));
        if f.twilio_error.is_none() {
            d.confidence = Confidence::Medium;
        }
        r.push(verify(f));
    },
};
