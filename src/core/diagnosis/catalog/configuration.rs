//! Configuration: a domain the registrar does not serve, or a
//! configuration validation already knows cannot work.
//!
//! Each cause's summary and remedy together; the evidence is the
//! catalog's (it depends on the facts, not on the cause).
use super::*;

/// `domain_not_found`: 404, the domain does not exist.
pub(super) const DOMAIN_NOT_FOUND: Words = Words {
    summary: |f| {
        let t = f.trunk;
        let reg = registrar(f);
        match &f.suggested_domain {
            Some(s) => format!("{t}: {reg} does not exist at the registrar (404); did you mean {s}?"),
            None => format!("{t}: the registrar does not know the domain {reg} (404): deleted, renamed or mistyped."),
        }
    },
    remedy: |f, d| {
        let tw = twilio(f);
        let r = &mut d.remediation;
        let refs = &mut d.references;
        if let Some(s) = &f.suggested_domain {
            r.push(format!(
                "Register to `{s}`: the configured `{}` is not a valid registrar name.",
                registrar(f)
            ));
        }
        if tw {
            r.push("Compare the domain with Voice > Manage > SIP domains in the Twilio Console: it must be exactly `<name>.sip.twilio.com` (or `<name>.sip.<edge>.twilio.com`), with no https://, no user part and no extra labels.".to_owned());
            r.push("If the SIP domain was deleted or renamed, create it again or point the PBX at the new name.".to_owned());
        } else {
            r.push("Check the domain (Request-URI of the REGISTER) against the provider's documentation; a 404 means the registrar does not serve that domain.".to_owned());
        }
        r.push(format!(
            "{}.",
            on_pbx(
                f,
                "`server_uri=sip:<domain>` and `client_uri=sip:<user>@<domain>`",
                "the gateway's `realm`, `proxy` and `from-domain`"
            )
        ));
        refs.push(rfc("RFC 3261 §10.2", "Constructing the REGISTER Request"));
        r.push(verify(f));
    },
};

/// `config_invalid`: validation found an error that guarantees failure.
pub(super) const CONFIG_INVALID: Words = Words {
    summary: |f| {
        let t = f.trunk;
        let n = f
            .findings
            .iter()
            .filter(|x| x.severity == Severity::Error)
            .count();
        format!(
            "{t}: the configuration has {n} error{} that will make registration fail.",
            if n == 1 { "" } else { "s" }
        )
    },
    remedy: |f, d| {
        let r = &mut d.remediation;
        for x in f.findings.iter().filter(|x| x.severity == Severity::Error) {
            r.push(format!("{} ({}): {}", x.code, x.field, x.fix));
        }
        r.push(verify(f));
    },
};
