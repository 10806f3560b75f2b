//! The catalog's words for typical facts, per cause and profile.
use super::*;
use crate::core::diagnosis::ChallengeFacts;
use crate::core::RefreshPolicy;
use crate::validate::Finding;

fn base(profile: Profile) -> Facts<'static> {
    Facts {
        trunk: "office",
        profile,
        domain: if profile == Profile::Twilio {
            "acme.sip.twilio.com"
        } else {
            "pbx.example.net"
        },
        username: "office",
        now_ms: 100_000,
        refresh_ratio: 0.5,
        refresh_policy: RefreshPolicy::Ratio,
        query_answer: None,
        ..Facts::default()
    }
}

#[test]
fn every_cause_renders_for_both_profiles() {
    for &c in Cause::ALL {
        for p in [Profile::Twilio, Profile::Generic] {
            let d = render(c, &base(p));
            assert!(d.summary.starts_with("office: "), "{c}: {}", d.summary);
            assert!(!d.remediation.is_empty(), "{c} ({p:?}) has no remediation");
            assert_eq!(d.cause, c);
        }
    }
}

#[test]
fn every_cause_has_summary_evidence_and_remedy() {
    for &c in Cause::ALL {
        for p in [Profile::Twilio, Profile::Generic] {
            let mut f = base(p);
            f.last_code = Some(500);
            f.last_reason = Some("Server Internal Error");
            f.last_response_at_ms = Some(90_000);
            let d = render(c, &f);
            let text = d.summary.strip_prefix("office: ").unwrap_or("");
            assert!(
                text.trim().len() > 3,
                "{c} ({p:?}): summary {:?}",
                d.summary
            );
            assert_eq!(d.summary, summary(c, &f));
            assert!(!d.evidence.is_empty(), "{c} ({p:?}) has no evidence");
            assert!(!d.remediation.is_empty(), "{c} ({p:?}) has no remediation");
            for line in d.evidence.iter().chain(&d.remediation) {
                assert!(!line.trim().is_empty(), "{c} ({p:?}): an empty line");
            }
            // With no trunk behind it, the words stay; the evidence goes.
            let e = crate::core::diagnosis::explain(c, p);
            assert!(e.summary.starts_with("<trunk>: "), "{c}: {}", e.summary);
            assert!(!e.remediation.is_empty(), "{c} ({p:?}) explains no remedy");
        }
    }
}

#[test]
fn twilio_wrong_password() {
    let mut f = base(Profile::Twilio);
    f.last_code = Some(403);
    f.last_reason = Some("Forbidden");
    f.last_response_at_ms = Some(90_000);
    f.sent_credentials = Some(true);
    f.server = Some("Twilio");
    f.challenge = Some(ChallengeFacts {
        proxy: true,
        realm: "sip.twilio.com",
        qop: Some("auth"),
        ..Default::default()
    });
    let d = render(Cause::CredentialsRejected, &f);
    assert!(
        d.summary.contains("403") && d.summary.contains("password"),
        "{}",
        d.summary
    );
    assert!(d.references.iter().any(|r| r.id == "32202"));
    let n31201 = d.references.iter().find(|r| r.id == "31201").unwrap();
    assert!(n31201.note.as_deref().unwrap().contains("Voice SDK"));
    assert!(
        d.evidence
            .iter()
            .any(|e| e.contains("realm \"sip.twilio.com\"")),
        "{:?}",
        d.evidence
    );
    assert!(
        d.evidence.iter().any(|e| e.contains("10 s ago")),
        "{:?}",
        d.evidence
    );
    assert!(d.remediation.iter().any(|r| r.contains("Credential lists")));
    assert_eq!(d.confidence, Confidence::High);
}

#[test]
fn generic_repeated_401() {
    let mut f = base(Profile::Generic);
    f.last_code = Some(401);
    f.last_reason = Some("Unauthorized");
    f.sent_credentials = Some(true);
    f.challenges_in_attempt = 2;
    f.challenge = Some(ChallengeFacts {
        realm: "pbx.example.net",
        ..Default::default()
    });
    let d = render(Cause::CredentialsRejected, &f);
    assert!(d.summary.contains("401"), "{}", d.summary);
    assert!(!d.references.iter().any(|r| r.source == "twilio-debugger"));
}

#[test]
fn challenge_never_answered() {
    let mut f = base(Profile::Twilio);
    f.last_code = Some(407);
    f.sent_credentials = Some(false);
    f.challenges_in_attempt = 2;
    f.challenge = Some(ChallengeFacts {
        proxy: true,
        realm: "sip.twilio.com",
        ..Default::default()
    });
    let d = render(Cause::CredentialsRejected, &f);
    assert!(d.summary.contains("without credentials"), "{}", d.summary);
    assert!(d.remediation.iter().any(|r| r.contains("407")));
}

#[test]
fn not_found_suggests_the_domain() {
    let mut f = base(Profile::Twilio);
    f.domain = "acme.sip.twillio.com";
    f.last_code = Some(404);
    f.suggested_domain = Some("acme.sip.twilio.com".to_owned());
    let d = render(Cause::DomainNotFound, &f);
    assert!(
        d.summary.contains("did you mean acme.sip.twilio.com"),
        "{}",
        d.summary
    );
    assert!(!d.summary.contains("dialled"));
}

#[test]
fn interval_too_brief_names_min_expires() {
    let mut f = base(Profile::Twilio);
    f.last_code = Some(423);
    f.min_expires = Some(600);
    f.requested_expires = Some(60);
    let d = render(Cause::IntervalTooBrief, &f);
    assert!(
        d.summary.contains("600") && d.summary.contains("60 s"),
        "{}",
        d.summary
    );
    assert!(d.remediation[0].contains("600"));
}

#[test]
fn transport_blocked_names_the_transports() {
    let mut f = base(Profile::Twilio);
    f.timeouts = [2, 0, 0];
    f.answered = [false, false, true];
    let d = render(Cause::TransportBlocked, &f);
    assert!(
        d.summary.contains("UDP") && d.summary.contains("TLS"),
        "{}",
        d.summary
    );
    assert!(d.remediation[0].contains("TLS"));
}

/// After the keep-alive recovered nothing times out any more: the words
/// say what was and is true, never "none to ... gets no answer".
#[test]
fn transport_blocked_after_recovery_says_it_answers_again() {
    let mut f = base(Profile::Twilio);
    f.timeouts = [0, 0, 0];
    f.answered = [true, true, false];
    let d = render(Cause::TransportBlocked, &f);
    assert!(!d.summary.contains("none"), "{}", d.summary);
    assert!(
        d.summary.contains("answers again over UDP and TCP"),
        "{}",
        d.summary
    );
    f.answered = [false; 3];
    let d = render(Cause::TransportBlocked, &f);
    assert!(!d.summary.contains("none"), "{}", d.summary);
    assert!(
        d.remediation.iter().all(|r| !r.contains("none")),
        "{:?}",
        d.remediation
    );
    f.timeouts = [2, 0, 0];
    f.answered = [false, true, true];
    let d = render(Cause::TransportBlocked, &f);
    assert!(d.summary.contains("while TCP and TLS do:"), "{}", d.summary);
}

#[test]
fn host_state_only_is_honest() {
    let mut f = base(Profile::Twilio);
    f.state = RegState::Rejected;
    f.host_state = Some(HostState::Rejected);
    let d = render(Cause::Unknown, &f);
    assert!(d.summary.contains("no SIP code"), "{}", d.summary);
    assert_eq!(d.confidence, Confidence::Low);
    assert!(d.remediation[0].contains("pjsip set logger on"));
    let nothing = render(Cause::Unknown, &base(Profile::Generic));
    assert!(nothing.summary.contains("nothing observed yet"));
}

#[test]
fn config_invalid_lists_fixes() {
    let findings = [Finding {
        code: "domain.typo",
        severity: Severity::Error,
        field: "domain",
        message: "m".into(),
        fix: "Use `acme.sip.twilio.com`.".into(),
    }];
    let mut f = base(Profile::Twilio);
    f.findings = &findings;
    let d = render(Cause::ConfigInvalid, &f);
    assert!(d.summary.contains("1 error "), "{}", d.summary);
    assert!(d.remediation[0].contains("acme.sip.twilio.com"));
}

#[test]
fn reachability_names_the_outbound_proxy_that_failed() {
    let mut f = base(Profile::Twilio);
    for cause in [
        Cause::ConnectionRefused,
        Cause::RegistrarUnreachable,
        Cause::TransportBlocked,
    ] {
        let d = render(cause, &f);
        assert!(d.summary.contains("acme.sip.twilio.com"), "{}", d.summary);
        assert!(!d.summary.contains("proxy"), "{}", d.summary);
    }
    f.proxy = Some("10.0.0.7:5060");
    for cause in [
        Cause::ConnectionRefused,
        Cause::RegistrarUnreachable,
        Cause::TransportBlocked,
    ] {
        let d = render(cause, &f);
        assert!(
            d.summary
                .contains("10.0.0.7:5060 (the outbound proxy for acme.sip.twilio.com)"),
            "{cause}: {}",
            d.summary
        );
    }
}
