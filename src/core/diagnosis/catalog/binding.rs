//! The binding itself: in place, removed on purpose, not held by the
//! registrar despite a 200, or missing from the bindings a query lists.
//!
//! Each cause's summary and remedy together; the evidence is the
//! catalog's (it depends on the facts, not on the cause).
use super::*;

/// `healthy`: registered, refresh on time.
pub(super) const HEALTHY: Words = Words {
    summary: |f| {
        let t = f.trunk;
        let reg = registrar(f);
        match (f.state, f.expires_at_ms) {
            (RegState::Registered, Some(e)) => format!(
                "{t}: registered to {reg}; the binding lapses in {} s unless refreshed.",
                secs(e.saturating_sub(f.now_ms))
            ),
            (RegState::Registered, None) => {
                format!("{t}: registered to {reg} (as the host reports it).")
            }
            _ => format!("{t}: no problem seen."),
        }
    },
    remedy: |f, d| {
        let r = &mut d.remediation;
        r.push("Nothing to fix. Keep the refresh at about half of the granted expiry.".to_owned());
        if f.host_state.is_some() && f.expires_at_ms.is_none() {
            d.confidence = Confidence::Medium;
            r.push("Feed regwatch the SIP messages (or the host's log lines) to track the granted expiry and catch a silent lapse.".to_owned());
        }
    },
};

/// `deregistered`: removed on purpose with Expires: 0.
pub(super) const DEREGISTERED: Words = Words {
    summary: |f| {
        let t = f.trunk;
        format!("{t}: deregistered on purpose (Expires: 0); inbound calls will not reach it.")
    },
    remedy: |f, d| {
        let r = &mut d.remediation;
        r.push("If this was not intended, register again and find what sent Expires: 0 (a reload, a shutdown, an admin command).".to_owned());
        r.push(verify(f));
    },
};

/// `contact_not_bound`: a 2xx that does not hold our Contact.
pub(super) const CONTACT_NOT_BOUND: Words = Words {
    summary: |f| {
        let t = f.trunk;
        let reg = registrar(f);
        format!(
            "{t}: {reg} answered 200 OK but does not hold our binding (our Contact is missing or granted 0 s)."
        )
    },
    remedy: |f, d| {
        let r = &mut d.remediation;
        let refs = &mut d.references;
        r.push(format!(
            "Check the Contact the PBX sends is reachable from the registrar (NAT: {}).",
            on_pbx(
                f,
                "`rewrite_contact`, `external_signaling_address`",
                "`ext-sip-ip`"
            )
        ));
        r.push("Check no other device registered the same user with a different Contact and replaced the binding.".to_owned());
        refs.push(rfc("RFC 3261 §10.3", "Processing REGISTER Requests"));
        d.confidence = Confidence::Medium;
    },
};

/// `binding_missing`: the registrar holds no binding for the trunk's
/// Contact (seen by a query REGISTER without Contact, RFC 3261 §10.2.3).
pub(super) const BINDING_MISSING: Words = Words {
    summary: |f| {
        let t = f.trunk;
        let reg = registrar(f);
        match f.expected_contact {
            Some(c) => format!(
                "{t}: {reg} holds no binding for {c}: inbound calls to this trunk cannot reach the PBX until it registers again."
            ),
            None => format!(
                "{t}: {reg} holds no binding for the PBX's Contact: inbound calls cannot reach it until it registers again."
            ),
        }
    },
    remedy: |f, d| {
        let t = f.trunk;
        let r = &mut d.remediation;
        let refs = &mut d.references;
        r.push(format!(
            "Make the PBX register again now: {}.",
            on_pbx(
                f,
                &format!("`pjsip send register {t}`"),
                &format!("`sofia profile <profile> register {t}`")
            )
        ));
        r.push("If the PBX believes it is registered, the registrar lost the binding (a restart, a failover, a flush): lower the PBX's registration expiry so that it refreshes sooner, and watch for the registrar's restarts.".to_owned());
        r.push("Check that the trunk's `contact` in regwatch is the Contact the PBX really registers (user, host and port as the registrar lists them).".to_owned());
        refs.push(rfc("RFC 3261 §10.2.3", "Queries for current bindings"));
        if f.expected_contact.is_none() {
            d.confidence = Confidence::Medium;
        }
    },
};
