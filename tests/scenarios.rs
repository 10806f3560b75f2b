//! Scenario tests: observation sequences on a fake clock, one or more per
//! cause id. No sleeps: time jumps straight to the engine's next deadline.
use regwatch::{
    Cause, Challenge, Engine, EngineConfig, Event, HostState, Observation, Output, RegState,
    RegisterResponse, RegisterSent, TransportErrorKind, TrunkConfig, TrunkId, TwilioError,
};
use regwatch::{HistoryKind, Transport};
use std::collections::BTreeSet;

const S: u64 = 1000;

struct Sim {
    engine: Engine,
    trunk: TrunkId,
    now: u64,
    outputs: Vec<Output>,
}

fn twilio_cfg() -> TrunkConfig {
    let mut c = TrunkConfig::new("office");
    c.set("domain", "acme.sip.twilio.com").unwrap();
    c.set("username", "office").unwrap();
    c.set("password", "Str0ngPassw0rdX").unwrap();
    c.set("transport", "tls").unwrap();
    c.set("port", "5061").unwrap();
    c.set("expires", "3600").unwrap();
    c
}

fn generic_cfg() -> TrunkConfig {
    let mut c = TrunkConfig::new("lab");
    c.set("domain", "pbx.example.net").unwrap();
    c.set("profile", "generic").unwrap();
    c.set("username", "1001").unwrap();
    c.set("password", "Str0ngPassw0rdX").unwrap();
    c.set("transport", "udp").unwrap();
    c.set("expires", "600").unwrap();
    c
}

impl Sim {
    fn new(cfg: TrunkConfig) -> Sim {
        Sim::with(EngineConfig::default(), cfg)
    }

    fn with(ec: EngineConfig, cfg: TrunkConfig) -> Sim {
        let mut engine = Engine::new(ec, 0, 7);
        let trunk = engine.add_trunk(0, cfg).unwrap();
        let mut s = Sim {
            engine,
            trunk,
            now: 0,
            outputs: Vec::new(),
        };
        s.drain();
        s
    }

    fn drain(&mut self) {
        while let Some(o) = self.engine.poll_output() {
            self.outputs.push(o);
        }
    }

    fn obs(&mut self, o: Observation<'_>) {
        self.engine
            .handle_observation(self.now, self.trunk, o)
            .unwrap();
        self.drain();
    }

    fn sent(&mut self, expires: u32, creds: bool) {
        self.sent_on(expires, creds, None);
    }

    fn sent_on(&mut self, expires: u32, creds: bool, transport: Option<Transport>) {
        self.obs(Observation::RegisterSent(RegisterSent {
            expires: Some(expires),
            with_credentials: creds,
            transport,
            credentials_unknown: false,
        }));
    }

    fn resp(&mut self, r: RegisterResponse<'_>) {
        self.obs(Observation::RegisterResponse(r));
    }

    fn code(&mut self, code: u16, reason: &str) {
        self.resp(RegisterResponse {
            code,
            reason,
            ..Default::default()
        });
    }

    fn ok(&mut self, granted: u32) {
        self.resp(RegisterResponse {
            code: 200,
            reason: "OK",
            granted_expires: Some(granted),
            contact_bound: Some(true),
            server: Some("Twilio"),
            ..Default::default()
        });
    }

    fn challenge(&mut self, code: u16, realm: &str) {
        self.resp(RegisterResponse {
            code,
            reason: if code == 407 {
                "Proxy Authentication Required"
            } else {
                "Unauthorized"
            },
            challenge: Some(Challenge {
                realm,
                algorithm: None,
                qop: Some("auth"),
                stale: false,
            }),
            ..Default::default()
        });
    }

    /// Advances the fake clock to `t`, firing every deadline on the way
    /// (the run-loop contract, as a host would do it).
    fn advance_to(&mut self, t: u64) {
        while let Some(d) = self.engine.poll_timeout() {
            if d > t {
                break;
            }
            assert!(
                d >= self.now,
                "deadline {d} is in the past (now {})",
                self.now
            );
            self.now = d;
            self.engine.handle_timeout(d);
            self.drain();
        }
        self.now = t;
    }

    fn advance(&mut self, ms: u64) {
        self.advance_to(self.now + ms);
    }

    fn state(&self) -> (RegState, Cause) {
        self.engine.trunk_state(self.trunk).unwrap()
    }

    fn alerts(&self) -> Vec<Cause> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Event(Event::AlertRaised { cause, .. }) => Some(*cause),
                _ => None,
            })
            .collect()
    }

    fn cleared(&self) -> usize {
        self.outputs
            .iter()
            .filter(|o| matches!(o, Output::Event(Event::AlertCleared { .. })))
            .count()
    }

    /// A normal first registration against Twilio: 407, then 200.
    fn register_twilio(&mut self, granted: u32) {
        self.sent(granted, false);
        self.now += 40;
        self.challenge(407, "sip.twilio.com");
        self.now += 5;
        self.sent(granted, true);
        self.now += 40;
        self.ok(granted);
    }
}

#[test]
fn healthy_after_twilio_407_challenge() {
    let mut s = Sim::new(twilio_cfg());
    s.sent(3600, false);
    assert_eq!(s.state(), (RegState::Registering, Cause::Unknown));
    s.challenge(407, "sip.twilio.com");
    // A first 407 is a challenge, not a failure.
    assert_eq!(s.state().0, RegState::Registering);
    assert!(s.alerts().is_empty());
    s.sent(3600, true);
    s.ok(3600);
    assert_eq!(s.state(), (RegState::Registered, Cause::Healthy));
    assert!(s.alerts().is_empty());
    let snap = s.engine.snapshot(s.trunk).unwrap();
    assert_eq!(snap.granted_expires, Some(3600));
    assert_eq!(snap.expires_in_ms, Some(3600 * S));
    // Refresh check at 50 % + 30 s grace.
    assert_eq!(s.engine.poll_timeout(), Some(s.now + 1800 * S + 30 * S));
}

#[test]
fn twilio_407_then_403_is_credentials_rejected() {
    let mut s = Sim::new(twilio_cfg());
    s.sent(3600, false);
    s.challenge(407, "sip.twilio.com");
    s.sent(3600, true);
    s.code(403, "Forbidden");
    assert_eq!(s.state(), (RegState::Rejected, Cause::CredentialsRejected));
    assert_eq!(s.alerts(), vec![Cause::CredentialsRejected]);
    let d = s.engine.diagnose(s.trunk).unwrap();
    assert_eq!(d.cause, Cause::CredentialsRejected);
}

#[test]
fn generic_401_then_401_is_credentials_rejected() {
    let mut s = Sim::new(generic_cfg());
    s.sent(600, false);
    s.challenge(401, "pbx.example.net");
    assert_eq!(s.state().0, RegState::Registering);
    s.sent(600, true);
    s.challenge(401, "pbx.example.net");
    assert_eq!(s.state(), (RegState::Rejected, Cause::CredentialsRejected));
}

#[test]
fn repeated_challenge_without_sent_observations_is_rejection() {
    // A host that reports only responses: the second 401 in a row means
    // the credentials were refused.
    let mut s = Sim::new(generic_cfg());
    s.challenge(401, "pbx.example.net");
    assert!(s.alerts().is_empty());
    s.challenge(401, "pbx.example.net");
    assert_eq!(s.state(), (RegState::Rejected, Cause::CredentialsRejected));
}

#[test]
fn stale_nonce_is_not_a_failure() {
    let mut s = Sim::new(generic_cfg());
    s.sent(600, false);
    s.challenge(401, "pbx.example.net");
    s.sent(600, true);
    s.resp(RegisterResponse {
        code: 401,
        reason: "Unauthorized",
        challenge: Some(Challenge {
            realm: "pbx.example.net",
            stale: true,
            ..Default::default()
        }),
        ..Default::default()
    });
    assert_eq!(s.state().0, RegState::Registering);
    assert!(s.alerts().is_empty());
    s.sent(600, true);
    s.ok(600);
    assert_eq!(s.state(), (RegState::Registered, Cause::Healthy));
}

#[test]
fn unauthenticated_403_is_account_forbidden() {
    let mut s = Sim::new(twilio_cfg());
    s.sent(3600, false);
    s.code(403, "Forbidden");
    assert_eq!(s.state(), (RegState::Rejected, Cause::AccountForbidden));
}

#[test]
fn twilio_error_header_decides_the_403() {
    let mut s = Sim::new(twilio_cfg());
    s.sent(3600, true);
    s.resp(RegisterResponse {
        code: 403,
        reason: "Forbidden",
        twilio_error: Some(TwilioError {
            code: 32210,
            text: "Registration not enabled",
        }),
        ..Default::default()
    });
    assert_eq!(s.state(), (RegState::Rejected, Cause::AccountForbidden));
}

#[test]
fn auth_user_differing_from_aor_user_on_twilio() {
    let mut cfg = twilio_cfg();
    cfg.set("auth_username", "someone-else").unwrap();
    let mut s = Sim::new(cfg);
    s.register_attempt_rejected();
    assert_eq!(s.state(), (RegState::Rejected, Cause::AuthUsernameMismatch));
}

impl Sim {
    fn register_attempt_rejected(&mut self) {
        self.sent(3600, false);
        self.challenge(407, "sip.twilio.com");
        self.sent(3600, true);
        self.code(403, "Forbidden");
    }
}

#[test]
fn not_found_is_domain_not_found() {
    let mut s = Sim::new(twilio_cfg());
    s.sent(3600, false);
    s.code(404, "Not Found");
    assert_eq!(s.state(), (RegState::Rejected, Cause::DomainNotFound));
}

#[test]
fn interval_too_brief_then_retry_with_min_expires() {
    let mut s = Sim::new(twilio_cfg());
    s.sent(60, false);
    s.resp(RegisterResponse {
        code: 423,
        reason: "Interval Too Brief",
        min_expires: Some(600),
        ..Default::default()
    });
    assert_eq!(s.state(), (RegState::Rejected, Cause::IntervalTooBrief));
    let j = regwatch::core::render_trunk_json(&s.engine, s.trunk).unwrap();
    assert!(j.contains("\"cause\":\"interval_too_brief\""));
    s.sent(600, false);
    s.challenge(407, "sip.twilio.com");
    s.sent(600, true);
    s.ok(600);
    assert_eq!(s.state(), (RegState::Registered, Cause::Healthy));
    assert_eq!(s.cleared(), 1);
}

#[test]
fn timeout_on_every_transport_is_registrar_unreachable() {
    for t in Transport::ALL {
        let mut s = Sim::new(generic_cfg());
        s.sent_on(600, false, Some(t));
        s.advance(32 * S);
        s.obs(Observation::RegisterTimeout { transport: Some(t) });
        assert_eq!(
            s.state(),
            (RegState::Unreachable, Cause::RegistrarUnreachable),
            "{t}"
        );
    }
    // All three in turn, none answering.
    let mut s = Sim::new(generic_cfg());
    for t in Transport::ALL {
        s.sent_on(600, false, Some(t));
        s.obs(Observation::RegisterTimeout { transport: Some(t) });
    }
    assert_eq!(
        s.state(),
        (RegState::Unreachable, Cause::RegistrarUnreachable)
    );
    let snap = s.engine.snapshot(s.trunk).unwrap();
    assert_eq!(snap.failures_in_row, 3);
}

#[test]
fn udp_timeout_while_tls_answers_is_transport_blocked() {
    let mut s = Sim::new(generic_cfg());
    s.sent_on(600, false, Some(Transport::Tls));
    s.resp(RegisterResponse {
        code: 401,
        reason: "Unauthorized",
        challenge: Some(Challenge {
            realm: "pbx.example.net",
            ..Default::default()
        }),
        transport: Some(Transport::Tls),
        ..Default::default()
    });
    s.sent_on(600, false, Some(Transport::Udp));
    s.obs(Observation::RegisterTimeout {
        transport: Some(Transport::Udp),
    });
    assert_eq!(s.state(), (RegState::Unreachable, Cause::TransportBlocked));
}

#[test]
fn transport_errors_map_to_their_causes() {
    let cases = [
        (TransportErrorKind::Refused, Cause::ConnectionRefused),
        (TransportErrorKind::Dns, Cause::DnsFailure),
        (TransportErrorKind::Tls, Cause::TlsFailure),
        (TransportErrorKind::Unreachable, Cause::RegistrarUnreachable),
        (TransportErrorKind::Protocol, Cause::ProtocolError),
    ];
    for (kind, cause) in cases {
        let mut s = Sim::new(twilio_cfg());
        s.sent(3600, false);
        s.obs(Observation::TransportError {
            transport: Some(Transport::Tls),
            kind,
            detail: Some("acme.sip.twilio.com"),
        });
        assert_eq!(s.state(), (RegState::Unreachable, cause), "{kind:?}");
        assert_eq!(s.alerts(), vec![cause]);
    }
}

/// A registrar whose TCP/TLS side sends what is not SIP: the driver drops
/// the connection and says how much came without a complete message. The
/// diagnosis says so in plain words, from a REGISTER and from keep-alives.
#[test]
fn a_peer_that_is_not_sip_is_a_protocol_error() {
    let said = "the peer sent 65540 bytes without a complete SIP message";
    let mut s = Sim::new(generic_cfg());
    s.sent_on(600, false, Some(Transport::Tcp));
    s.obs(Observation::TransportError {
        transport: Some(Transport::Tcp),
        kind: TransportErrorKind::Protocol,
        detail: Some(said),
    });
    assert_eq!(s.state(), (RegState::Unreachable, Cause::ProtocolError));
    let d = s.engine.diagnose(s.trunk).unwrap();
    assert_eq!(
        d.summary,
        format!("lab: what pbx.example.net sends over TCP is not SIP: {said}; the connection was dropped.")
    );
    assert!(d
        .evidence
        .iter()
        .any(|e| e.contains("not SIP") && e.contains(said)));

    // Keep-alives over TLS, failing the same way twice in a row.
    let mut ec = EngineConfig::default();
    ec.set("keepalive", "on").unwrap();
    let mut cfg = generic_cfg();
    cfg.set("transport", "tls").unwrap();
    let mut s = Sim::with(ec, cfg);
    for _ in 0..2 {
        let at = s.engine.poll_timeout().unwrap();
        s.now = at;
        s.engine.handle_timeout(at);
        let mut probe = None;
        while let Some(o) = s.engine.poll_output() {
            if let Output::Transmit(p) = o {
                probe = Some(p.id);
            } else {
                s.outputs.push(o);
            }
        }
        let id = probe.expect("a probe");
        s.engine
            .handle_probe_error(s.now, s.trunk, id, TransportErrorKind::Protocol, Some(said))
            .unwrap();
        s.drain();
    }
    assert_eq!(s.alerts(), vec![Cause::ProtocolError]);
    let d = s.engine.diagnose(s.trunk).unwrap();
    assert_eq!(d.cause, Cause::ProtocolError);
    assert!(
        d.summary.contains(&format!("over TLS is not SIP: {said}")),
        "{}",
        d.summary
    );
}

#[test]
fn server_error_and_rate_limit() {
    let mut s = Sim::new(twilio_cfg());
    s.sent(3600, false);
    s.resp(RegisterResponse {
        code: 503,
        reason: "Service Unavailable",
        retry_after: Some(120),
        ..Default::default()
    });
    assert_eq!(s.state(), (RegState::Rejected, Cause::ServerError));

    let mut s = Sim::new(twilio_cfg());
    s.sent(3600, false);
    s.code(429, "Too Many Requests");
    assert_eq!(s.state(), (RegState::Rejected, Cause::RateLimited));

    let mut s = Sim::new(twilio_cfg());
    s.sent(3600, false);
    s.resp(RegisterResponse {
        code: 503,
        reason: "Service Unavailable",
        twilio_error: Some(TwilioError {
            code: 32008,
            text: "REGISTER rate limit exceeded",
        }),
        ..Default::default()
    });
    assert_eq!(s.state(), (RegState::Rejected, Cause::RateLimited));
}

#[test]
fn silent_lapse_is_noticed_at_the_second_it_lapses() {
    let mut s = Sim::new(twilio_cfg());
    s.register_twilio(600);
    let registered_at = s.now;
    // Nothing more from the host. At 50 % + 30 s: refresh late.
    s.advance_to(registered_at + 329 * S);
    assert_eq!(s.state(), (RegState::Registered, Cause::Healthy));
    s.advance_to(registered_at + 330 * S);
    assert_eq!(s.state(), (RegState::RefreshLate, Cause::RefreshLate));
    assert_eq!(s.alerts(), vec![Cause::RefreshLate]);
    // At the granted 600 s exactly: expired.
    s.advance_to(registered_at + 600 * S - 1);
    assert_eq!(s.state().0, RegState::RefreshLate);
    s.advance_to(registered_at + 600 * S);
    assert_eq!(s.state(), (RegState::Expired, Cause::RegistrationExpired));
    assert_eq!(
        s.alerts(),
        vec![Cause::RefreshLate, Cause::RegistrationExpired]
    );
    let lapsed_at = s
        .outputs
        .iter()
        .find_map(|o| match o {
            Output::Event(Event::StateChanged {
                to: RegState::Expired,
                at_ms,
                ..
            }) => Some(*at_ms),
            _ => None,
        })
        .unwrap();
    assert_eq!(lapsed_at, registered_at + 600 * S);
    assert_eq!(s.engine.poll_timeout(), None);
}

#[test]
fn registering_again_after_a_lapse_is_healthy() {
    let mut s = Sim::new(twilio_cfg());
    s.register_twilio(600);
    s.advance(700 * S);
    assert_eq!(s.state(), (RegState::Expired, Cause::RegistrationExpired));
    s.register_twilio(600);
    assert_eq!(s.state(), (RegState::Registered, Cause::Healthy));
    assert_eq!(s.cleared(), 1);
}

#[test]
fn an_old_answer_on_another_transport_is_not_proof() {
    let mut s = Sim::new(generic_cfg());
    s.sent_on(600, false, Some(Transport::Tls));
    s.resp(RegisterResponse {
        code: 503,
        reason: "Service Unavailable",
        transport: Some(Transport::Tls),
        ..Default::default()
    });
    // An hour later UDP times out: TLS's answer is too old to tell.
    s.advance(3600 * S);
    s.sent_on(600, false, Some(Transport::Udp));
    s.obs(Observation::RegisterTimeout {
        transport: Some(Transport::Udp),
    });
    assert_eq!(
        s.state(),
        (RegState::Unreachable, Cause::RegistrarUnreachable)
    );
}

#[test]
fn late_tick_fires_at_deadline_times() {
    // A host that calls handle_timeout only much later still gets the
    // events stamped with their own deadlines.
    let mut s = Sim::new(twilio_cfg());
    s.register_twilio(600);
    let t0 = s.now;
    s.now = t0 + 10_000 * S;
    s.engine.handle_timeout(s.now);
    s.drain();
    assert_eq!(s.state().0, RegState::Expired);
    let snap = s.engine.snapshot(s.trunk).unwrap();
    let kinds: Vec<_> = snap.history.iter().map(|h| (h.kind, h.at_ms)).collect();
    assert!(kinds.contains(&(HistoryKind::RefreshMissed, t0 + 330 * S)));
    assert!(kinds.contains(&(HistoryKind::BindingLapsed, t0 + 600 * S)));
}

#[test]
fn late_refresh_is_reported_then_clears_when_on_time() {
    let mut s = Sim::new(twilio_cfg());
    s.register_twilio(3600);
    let t0 = s.now;
    // The host refreshes 10 s before expiry (Asterisk's habit): late.
    s.advance_to(t0 + 3590 * S);
    assert_eq!(s.state().0, RegState::RefreshLate);
    s.sent(3600, true);
    s.ok(3600);
    assert_eq!(s.state(), (RegState::Registered, Cause::RefreshLate));
    // Next refresh on time (at 50 %): healthy again, alert cleared.
    let t1 = s.now;
    s.advance_to(t1 + 1800 * S);
    s.sent(3600, true);
    s.ok(3600);
    assert_eq!(s.state(), (RegState::Registered, Cause::Healthy));
    assert_eq!(s.alerts(), vec![Cause::RefreshLate]);
    assert_eq!(s.cleared(), 1);
}

#[test]
fn refresh_policy_is_configurable() {
    let mut ec = EngineConfig::default();
    ec.set("refresh_ratio", "0.9").unwrap();
    ec.set("refresh_grace_ms", "5000").unwrap();
    let mut s = Sim::with(ec, twilio_cfg());
    s.register_twilio(3600);
    let t0 = s.now;
    assert_eq!(s.engine.poll_timeout(), Some(t0 + 3240 * S + 5 * S));
    s.advance_to(t0 + 3240 * S);
    s.sent(3600, true);
    s.ok(3600);
    assert_eq!(s.state(), (RegState::Registered, Cause::Healthy));
}

#[test]
fn refresh_in_flight_at_the_check_is_not_late() {
    let mut s = Sim::new(twilio_cfg());
    s.register_twilio(600);
    let t0 = s.now;
    s.advance_to(t0 + 300 * S);
    s.sent(600, true); // the refresh, on time, unanswered for a while
    s.advance_to(t0 + 400 * S);
    assert_eq!(s.state(), (RegState::Registered, Cause::Healthy));
    // ...and never answered: at expiry the binding lapses.
    s.advance_to(t0 + 600 * S);
    assert_eq!(s.state(), (RegState::Expired, Cause::RegistrationExpired));
}

#[test]
fn drift_granted_much_shorter_than_requested() {
    let mut cfg = twilio_cfg();
    cfg.set("expires", "7200").unwrap();
    let mut s = Sim::new(cfg);
    s.sent(7200, false);
    s.challenge(407, "sip.twilio.com");
    s.sent(7200, true);
    s.ok(3600);
    assert_eq!(s.state(), (RegState::Registered, Cause::ExpiryDrift));
    // Drift is worth knowing, not an alert.
    assert!(s.alerts().is_empty());
    let snap = s.engine.snapshot(s.trunk).unwrap();
    assert_eq!(snap.granted_expires, Some(3600));
}

#[test]
fn failed_refresh_keeps_binding_until_it_lapses() {
    let mut s = Sim::new(twilio_cfg());
    s.register_twilio(600);
    let t0 = s.now;
    s.advance_to(t0 + 300 * S);
    s.sent(600, true);
    s.code(403, "Forbidden");
    // Rejected at once, as the PBX says; the binding made before still
    // holds at the registrar until it lapses, which the diagnosis says.
    assert_eq!(s.state(), (RegState::Rejected, Cause::CredentialsRejected));
    assert_eq!(s.alerts(), vec![Cause::CredentialsRejected]);
    let d = s.engine.diagnose(s.trunk).unwrap();
    assert!(
        d.evidence
            .iter()
            .any(|e| e.contains("still holds until it lapses in")),
        "{:?}",
        d.evidence
    );
    s.advance_to(t0 + 600 * S);
    assert_eq!(s.state(), (RegState::Rejected, Cause::CredentialsRejected));
    // No second alert for the same cause.
    assert_eq!(s.alerts(), vec![Cause::CredentialsRejected]);
}

#[test]
fn expires_zero_deregisters() {
    let mut s = Sim::new(twilio_cfg());
    s.register_twilio(3600);
    s.sent(0, true);
    s.ok(0);
    assert_eq!(s.state(), (RegState::Deregistered, Cause::Deregistered));
    assert_eq!(s.engine.poll_timeout(), None);
    assert!(s.alerts().is_empty());
    // And through the explicit observation.
    let mut s = Sim::new(twilio_cfg());
    s.register_twilio(3600);
    s.obs(Observation::Deregistered);
    assert_eq!(s.state(), (RegState::Deregistered, Cause::Deregistered));
}

#[test]
fn contact_missing_from_200_is_not_bound() {
    let mut s = Sim::new(twilio_cfg());
    s.sent(3600, true);
    s.resp(RegisterResponse {
        code: 200,
        reason: "OK",
        granted_expires: Some(3600),
        contact_bound: Some(false),
        ..Default::default()
    });
    assert_eq!(s.state(), (RegState::Rejected, Cause::ContactNotBound));
}

/// The host believes the trunk registered (its REGISTER got a 200 that
/// bound its Contact), but the registrar lost the binding: the credential
/// query's 200 lists another binding only. `binding_missing` while the
/// state stays what the host's REGISTER made it; cleared when the query
/// finds the Contact again.
#[test]
fn a_query_that_misses_the_registered_contact_is_binding_missing() {
    let mut ec = EngineConfig::default();
    ec.set("keepalive", "on").unwrap();
    ec.set("register_interval", "60").unwrap();
    let mut cfg = twilio_cfg();
    cfg.set("contact", "office@192.0.2.10:5061").unwrap();
    let mut s = Sim::with(ec, cfg);
    s.register_twilio(3600);
    assert_eq!(s.state(), (RegState::Registered, Cause::Healthy));
    for (contact, want) in [
        ("sip:office@198.51.100.7:5061", Cause::BindingMissing),
        ("sip:office@192.0.2.10:5061;transport=tls", Cause::Healthy),
    ] {
        // Every OPTIONS answered, until the query goes out.
        let query = loop {
            let seen = s.outputs.len();
            // (register_twilio moved the clock past the first probe's time.)
            s.now = s.engine.poll_timeout().unwrap().max(s.now);
            s.engine.handle_timeout(s.now);
            s.drain();
            let mut q = None;
            for o in s.outputs[seen..].iter().cloned() {
                if let Output::Transmit(p) = o {
                    if p.purpose == regwatch::ProbePurpose::CredentialQuery {
                        q = Some(p);
                    } else {
                        let r = regwatch::ProbeResult::Response { code: 200 };
                        s.engine
                            .handle_probe_result(s.now, s.trunk, p.id, r, None)
                            .unwrap();
                    }
                }
            }
            s.drain();
            if let Some(q) = q {
                break q;
            }
        };
        let req = query.request("192.0.2.10:5061", "test");
        let m = regwatch::sip::parse(req.as_bytes()).unwrap();
        assert!(m.contacts().is_empty(), "a query carries no Contact");
        let answer = format!(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/TLS 192.0.2.10:5061;branch={}\r\nCall-ID: {}\r\nCSeq: 1 REGISTER\r\nContact: <{contact}>;expires=1800\r\nContent-Length: 0\r\n\r\n",
            m.branch().unwrap(),
            m.call_id().unwrap()
        );
        let a = regwatch::sip::parse(answer.as_bytes()).unwrap();
        s.now += 30;
        assert_eq!(
            s.engine
                .handle_probe_response(s.now, s.trunk, query.id, &a, None),
            Ok(true)
        );
        s.drain();
        assert_eq!(s.state(), (RegState::Registered, want));
    }
    assert_eq!(s.alerts(), vec![Cause::BindingMissing]);
    assert_eq!(s.cleared(), 1);
}

#[test]
fn invalid_config_is_config_invalid_until_evidence() {
    let mut cfg = TrunkConfig::new("broken");
    cfg.set("domain", "https://acme.sip.twillio.com").unwrap();
    cfg.set("username", "office").unwrap();
    cfg.set("password", "changeme").unwrap();
    let mut s = Sim::new(cfg);
    assert_eq!(s.state(), (RegState::Unknown, Cause::ConfigInvalid));
    assert_eq!(s.alerts(), vec![Cause::ConfigInvalid]);
    let findings: Vec<_> = s
        .outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(Event::Finding { finding, .. }) => Some(finding.code),
            _ => None,
        })
        .collect();
    assert!(findings.contains(&"domain.scheme_prefix"), "{findings:?}");
    assert!(
        findings.contains(&"credentials.password_placeholder"),
        "{findings:?}"
    );
    // Evidence from the wire takes over.
    s.sent(3600, false);
    s.code(404, "Not Found");
    assert_eq!(s.state(), (RegState::Rejected, Cause::DomainNotFound));
}

#[test]
fn host_state_alone_gives_rejected_cause_unknown() {
    let mut s = Sim::new(twilio_cfg());
    s.obs(Observation::HostState {
        state: HostState::Rejected,
        detail: None,
    });
    assert_eq!(s.state(), (RegState::Rejected, Cause::Unknown));
    assert_eq!(s.alerts(), vec![Cause::Unknown]);
    s.obs(Observation::HostState {
        state: HostState::GaveUp,
        detail: None,
    });
    assert_eq!(s.state(), (RegState::Stopped, Cause::Unknown));
}

#[test]
fn host_state_after_sip_detail_keeps_the_exact_cause() {
    let mut s = Sim::new(twilio_cfg());
    s.register_attempt_rejected();
    s.obs(Observation::HostState {
        state: HostState::Rejected,
        detail: None,
    });
    assert_eq!(s.state(), (RegState::Rejected, Cause::CredentialsRejected));
    s.obs(Observation::HostState {
        state: HostState::GaveUp,
        detail: None,
    });
    assert_eq!(s.state(), (RegState::Stopped, Cause::CredentialsRejected));
    s.obs(Observation::HostState {
        state: HostState::Registered,
        detail: None,
    });
    assert_eq!(s.state(), (RegState::Registered, Cause::Healthy));
}

#[test]
fn unknown_code_is_unknown_cause() {
    let mut s = Sim::new(generic_cfg());
    s.sent(600, false);
    s.code(488, "Not Acceptable Here");
    assert_eq!(s.state(), (RegState::Rejected, Cause::Unknown));
}

#[test]
fn provisional_responses_are_ignored() {
    let mut s = Sim::new(generic_cfg());
    s.sent(600, false);
    s.code(100, "Trying");
    assert_eq!(s.state(), (RegState::Registering, Cause::Unknown));
    assert_eq!(s.engine.snapshot(s.trunk).unwrap().last_code, None);
}

#[test]
fn history_ring_keeps_the_last_n() {
    let mut s = Sim::new(generic_cfg());
    for i in 0..40 {
        s.sent(600, false);
        // Grants that vary: identical refreshes would fold into one entry.
        s.ok(590 + i);
        s.advance(300 * S);
    }
    let snap = s.engine.snapshot(s.trunk).unwrap();
    assert_eq!(snap.history.len(), 32);
    let times: Vec<u64> = snap.history.iter().map(|h| h.at_ms).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(snap.registers_sent, 40);
}

#[test]
fn trunks_are_added_updated_and_removed_at_run_time() {
    let mut engine = Engine::new(EngineConfig::default(), 0, 1);
    let a = engine.add_trunk(0, twilio_cfg()).unwrap();
    assert!(matches!(
        engine.add_trunk(0, twilio_cfg()),
        Err(regwatch::Error::DuplicateName(_))
    ));
    let b = engine.add_trunk(0, generic_cfg()).unwrap();
    assert_eq!(engine.trunk_count(), 2);
    // Broken refresh on `a`, then remove it: its alert is cleared.
    engine
        .handle_observation(
            10,
            a,
            Observation::RegisterResponse(RegisterResponse {
                code: 404,
                reason: "Not Found",
                ..Default::default()
            }),
        )
        .unwrap();
    engine.remove_trunk(20, a).unwrap();
    let outs: Vec<_> = std::iter::from_fn(|| engine.poll_output()).collect();
    assert!(outs.iter().any(|o| matches!(
        o,
        Output::Event(Event::AlertCleared {
            cause: Cause::DomainNotFound,
            ..
        })
    )));
    // A stale id is refused, even after its slot is reused.
    let c = engine.add_trunk(30, twilio_cfg()).unwrap();
    assert_ne!(a, c);
    assert_eq!(engine.trunk_state(a), Err(regwatch::Error::UnknownTrunk));
    assert_eq!(engine.find_trunk("office"), Some(c));
    // Rename on update.
    let mut renamed = generic_cfg();
    renamed.set("name", "lab2").unwrap();
    engine.update_trunk(40, b, renamed).unwrap();
    assert_eq!(engine.find_trunk("lab"), None);
    assert_eq!(engine.find_trunk("lab2"), Some(b));
}

#[test]
fn every_cause_has_a_scenario() {
    // The causes reached by the scenarios above; kept next to them so that
    // a new cause without a scenario fails here.
    let covered: BTreeSet<Cause> = [
        Cause::Healthy,
        Cause::CredentialsRejected,
        Cause::AccountForbidden,
        Cause::AuthUsernameMismatch,
        Cause::DomainNotFound,
        Cause::IntervalTooBrief,
        Cause::RegistrarUnreachable,
        Cause::TransportBlocked,
        Cause::ConnectionRefused,
        Cause::DnsFailure,
        Cause::TlsFailure,
        Cause::ServerError,
        Cause::RateLimited,
        Cause::RegistrationExpired,
        Cause::RefreshLate,
        Cause::ExpiryDrift,
        Cause::Deregistered,
        Cause::ConfigInvalid,
        Cause::Unknown,
        Cause::ContactNotBound,
        Cause::ProtocolError,
        Cause::BindingMissing,
    ]
    .into_iter()
    .collect();
    let all: BTreeSet<Cause> = Cause::ALL.iter().copied().collect();
    assert_eq!(covered, all);
}

#[test]
fn now_never_goes_backwards() {
    let mut s = Sim::new(twilio_cfg());
    s.now = 5_000 * S;
    s.register_twilio(600);
    // A host clock that jumps back is treated as "no time passed".
    s.engine.handle_timeout(10);
    s.drain();
    assert_eq!(s.state(), (RegState::Registered, Cause::Healthy));
    assert_eq!(s.engine.now_ms(), s.now);
}
