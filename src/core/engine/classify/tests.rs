//! One row per case: what the response (or the failure) and the attempt
//! were, and the verdict.
use super::*;
use crate::core::observation::{Challenge, TwilioError};

/// A response row: code, then what it carries.
#[derive(Clone, Copy, Default)]
struct Resp {
    code: u16,
    granted: Option<u32>,
    contact_bound: Option<bool>,
    stale: Option<bool>,
    twilio: Option<u32>,
    min_expires: Option<u32>,
    retry_after: Option<u32>,
}

fn resp(code: u16) -> Resp {
    Resp {
        code,
        ..Resp::default()
    }
}

impl Resp {
    fn granted(mut self, g: u32) -> Resp {
        self.granted = Some(g);
        self
    }
    fn bound(mut self, b: bool) -> Resp {
        self.contact_bound = Some(b);
        self
    }
    /// A challenge header, `stale=true` or not.
    fn challenge(mut self, stale: bool) -> Resp {
        self.stale = Some(stale);
        self
    }
    fn twilio(mut self, code: u32) -> Resp {
        self.twilio = Some(code);
        self
    }
    fn min_expires(mut self, m: u32) -> Resp {
        self.min_expires = Some(m);
        self
    }
    fn retry_after(mut self, r: u32) -> Resp {
        self.retry_after = Some(r);
        self
    }
}

/// The attempt: a fresh REGISTER with no credentials observed yet, the
/// default policy (2 challenges before rejection).
fn fresh() -> AttemptSoFar {
    AttemptSoFar {
        challenges_before_rejection: 2,
        ..AttemptSoFar::default()
    }
}

fn with_credentials() -> AttemptSoFar {
    AttemptSoFar {
        sent_credentials: Some(true),
        challenges: 1,
        ..fresh()
    }
}

fn without_credentials(challenges: u8) -> AttemptSoFar {
    AttemptSoFar {
        sent_credentials: Some(false),
        challenges,
        ..fresh()
    }
}

fn dereg() -> AttemptSoFar {
    AttemptSoFar {
        dereg: true,
        requested: Some(0),
        ..fresh()
    }
}

fn requested(e: u32) -> AttemptSoFar {
    AttemptSoFar {
        requested: Some(e),
        ..fresh()
    }
}

/// Twilio, with an authorization user other than the AOR user.
fn twilio_other_auth_user(mut a: AttemptSoFar) -> AttemptSoFar {
    a.twilio_auth_user_differs = true;
    a
}

fn rejected(cause: Cause) -> Verdict {
    Verdict::Failed {
        cause,
        state: RegState::Rejected,
    }
}

fn unreachable(cause: Cause) -> Verdict {
    Verdict::Failed {
        cause,
        state: RegState::Unreachable,
    }
}

fn verdict(r: Resp, a: AttemptSoFar) -> Verdict {
    let response = RegisterResponse {
        code: r.code,
        reason: "reason",
        granted_expires: r.granted,
        contact_bound: r.contact_bound,
        challenge: r.stale.map(|stale| Challenge {
            realm: "sip.twilio.com",
            stale,
            ..Challenge::default()
        }),
        min_expires: r.min_expires,
        retry_after: r.retry_after,
        twilio_error: r.twilio.map(|code| TwilioError { code, text: "text" }),
        server: Some("registrar"),
        transport: None,
    };
    classify(Outcome::Response(&response), &a)
}

#[test]
fn final_responses() {
    use Cause::*;
    #[rustfmt::skip]
    let rows: &[(&str, Resp, AttemptSoFar, Verdict)] = &[
        // 2xx
        ("200 with the granted expiry", resp(200).granted(600).bound(true), requested(3600), Verdict::Bound { granted: Some(600) }),
        ("200 without an expiry: the requested one", resp(200), requested(300), Verdict::Bound { granted: Some(300) }),
        ("200, nothing known of the expiry", resp(200), fresh(), Verdict::Bound { granted: None }),
        ("202 is a 2xx", resp(202).granted(120), fresh(), Verdict::Bound { granted: Some(120) }),
        ("200 without our Contact", resp(200).granted(600).bound(false), requested(600), Verdict::NotBound { granted: Some(600) }),
        ("200 granting 0 s", resp(200).granted(0).bound(true), requested(600), Verdict::NotBound { granted: Some(0) }),
        ("200 to a deregistration", resp(200), dereg(), Verdict::Deregistered),
        ("200 to a deregistration, no Contact listed", resp(200).bound(false), dereg(), Verdict::Deregistered),
        // 401/407
        ("401, the first challenge", resp(401).challenge(false), fresh(), Verdict::Challenged),
        ("407, the first challenge", resp(407).challenge(false), fresh(), Verdict::Challenged),
        ("407 without a challenge header", resp(407), fresh(), Verdict::Challenged),
        ("407 when credentials are not observed", resp(407).challenge(false), AttemptSoFar { sent_credentials: None, ..fresh() }, Verdict::Challenged),
        ("401 after credentials were sent", resp(401).challenge(false), with_credentials(), rejected(CredentialsRejected)),
        ("407 after credentials were sent", resp(407).challenge(false), with_credentials(), rejected(CredentialsRejected)),
        ("407 repeated, credentials never sent", resp(407).challenge(false), without_credentials(1), rejected(CredentialsRejected)),
        ("407 repeated, under a policy of 3", resp(407).challenge(false), AttemptSoFar { challenges_before_rejection: 3, ..without_credentials(1) }, Verdict::Challenged),
        ("401 stale=true after credentials", resp(401).challenge(true), with_credentials(), Verdict::StaleNonce),
        ("407 stale=true, repeated", resp(407).challenge(true), without_credentials(3), Verdict::StaleNonce),
        ("407 after credentials, Twilio 32202", resp(407).challenge(false).twilio(32202), with_credentials(), rejected(CredentialsRejected)),
        ("407 after credentials, Twilio 32106", resp(407).challenge(false).twilio(32106), with_credentials(), rejected(AuthUsernameMismatch)),
        ("407 after credentials, Twilio 32210", resp(407).challenge(false).twilio(32210), with_credentials(), rejected(AccountForbidden)),
        ("407 after credentials, another authorization user", resp(407).challenge(false), twilio_other_auth_user(with_credentials()), rejected(AuthUsernameMismatch)),
        ("401 first challenge, another authorization user", resp(401).challenge(false), twilio_other_auth_user(fresh()), Verdict::Challenged),
        // 403
        ("403 to a REGISTER without credentials", resp(403), fresh(), rejected(AccountForbidden)),
        ("403 after credentials", resp(403), with_credentials(), rejected(CredentialsRejected)),
        ("403 after a challenge, no credentials", resp(403), without_credentials(1), rejected(CredentialsRejected)),
        ("403 after credentials, another authorization user", resp(403), twilio_other_auth_user(with_credentials()), rejected(AuthUsernameMismatch)),
        ("403 without credentials, another authorization user", resp(403), twilio_other_auth_user(fresh()), rejected(AccountForbidden)),
        ("403 after credentials, Twilio 32210", resp(403).twilio(32210), with_credentials(), rejected(AccountForbidden)),
        ("403 after credentials, Twilio 32212", resp(403).twilio(32212), with_credentials(), rejected(AccountForbidden)),
        ("403 without credentials, Twilio 32201", resp(403).twilio(32201), fresh(), rejected(AccountForbidden)),
        ("403 without credentials, Twilio 32202", resp(403).twilio(32202), fresh(), rejected(CredentialsRejected)),
        ("403, Twilio 32009 (not a cause of its own)", resp(403).twilio(32009), with_credentials(), rejected(CredentialsRejected)),
        ("403, an unknown Twilio code", resp(403).twilio(39999), fresh(), rejected(AccountForbidden)),
        // other 4xx
        ("404", resp(404), with_credentials(), rejected(DomainNotFound)),
        ("404, whatever Twilio says", resp(404).twilio(32202), fresh(), rejected(DomainNotFound)),
        ("408 (made locally: a timeout)", resp(408), fresh(), unreachable(RegistrarUnreachable)),
        ("423 with Min-Expires", resp(423).min_expires(600), requested(60), rejected(IntervalTooBrief)),
        ("423 without Min-Expires", resp(423), requested(60), rejected(IntervalTooBrief)),
        ("429", resp(429), fresh(), rejected(RateLimited)),
        ("429 with Retry-After", resp(429).retry_after(30), fresh(), rejected(RateLimited)),
        ("480 with Retry-After", resp(480).retry_after(60), fresh(), rejected(Unknown)),
        ("400 with Twilio 32202", resp(400).twilio(32202), fresh(), rejected(CredentialsRejected)),
        ("400 with Twilio 32202, another authorization user", resp(400).twilio(32202), twilio_other_auth_user(fresh()), rejected(AuthUsernameMismatch)),
        ("488, nothing else", resp(488), fresh(), rejected(Unknown)),
        ("302", resp(302), fresh(), rejected(Unknown)),
        // 5xx
        ("500", resp(500), fresh(), rejected(ServerError)),
        ("503 with Retry-After", resp(503).retry_after(120), with_credentials(), rejected(ServerError)),
        ("503 with Twilio 32008", resp(503).twilio(32008), fresh(), rejected(RateLimited)),
        ("503 with Twilio 32202 (only 32008 counts)", resp(503).twilio(32202), fresh(), rejected(ServerError)),
        ("504", resp(504), fresh(), rejected(ServerError)),
        ("599", resp(599), fresh(), rejected(ServerError)),
        // 6xx
        ("600", resp(600), fresh(), rejected(Unknown)),
        ("603", resp(603), with_credentials(), rejected(AccountForbidden)),
        ("603 with Twilio 32202", resp(603).twilio(32202), fresh(), rejected(AccountForbidden)),
        ("604", resp(604), fresh(), rejected(DomainNotFound)),
        ("606 with Twilio 32210", resp(606).twilio(32210), fresh(), rejected(AccountForbidden)),
    ];
    let mut wrong = Vec::new();
    for (name, r, a, want) in rows {
        let got = verdict(*r, *a);
        if got != *want {
            wrong.push(format!("{name}: got {got:?}, want {want:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn failures_without_a_response() {
    use Cause::*;
    use TransportErrorKind::*;
    let rows = [
        (
            Outcome::Timeout {
                other_transport_answers: false,
            },
            unreachable(RegistrarUnreachable),
        ),
        (
            Outcome::Timeout {
                other_transport_answers: true,
            },
            unreachable(TransportBlocked),
        ),
        (
            Outcome::TransportError(Refused),
            unreachable(ConnectionRefused),
        ),
        (
            Outcome::TransportError(Unreachable),
            unreachable(RegistrarUnreachable),
        ),
        (Outcome::TransportError(Dns), unreachable(DnsFailure)),
        (Outcome::TransportError(Tls), unreachable(TlsFailure)),
        (
            Outcome::TransportError(Protocol),
            unreachable(ProtocolError),
        ),
    ];
    for (outcome, want) in rows {
        // What the attempt did does not matter without a response.
        for a in [fresh(), with_credentials(), dereg()] {
            assert_eq!(classify(outcome, &a), want, "{outcome:?}");
        }
    }
}

#[test]
fn reachability_only_causes() {
    let network: Vec<Cause> = Cause::ALL
        .iter()
        .copied()
        .filter(|c| reachability_only(*c))
        .collect();
    assert_eq!(
        network,
        [
            Cause::RegistrarUnreachable,
            Cause::TransportBlocked,
            Cause::ConnectionRefused,
            Cause::DnsFailure,
            Cause::TlsFailure,
            Cause::ProtocolError,
        ]
    );
    // Every failure without a response is about reaching the registrar,
    // so the trunk reads `unreachable` and the re-register applies.
    for kind in [
        TransportErrorKind::Refused,
        TransportErrorKind::Unreachable,
        TransportErrorKind::Dns,
        TransportErrorKind::Tls,
        TransportErrorKind::Protocol,
    ] {
        let Verdict::Failed { cause, .. } = classify(Outcome::TransportError(kind), &fresh())
        else {
            panic!("{kind:?} is not a failure");
        };
        assert!(reachability_only(cause), "{cause}");
    }
}
