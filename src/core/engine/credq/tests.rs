//! The credential query on a fake clock: the challenge answered in the
//! same dialog, the verdicts of 200 (with and without the trunk's
//! Contact), 403 before and after credentials, 404, and no answer.
use super::super::{Engine, TrunkId};
use crate::core::config::{EngineConfig, TrunkConfig};
use crate::core::event::{Event, Output};
use crate::core::keepalive::{Probe, ProbePurpose, ProbeResult};
use crate::core::state::{Cause, RegState};
use crate::sip::digest::{check_authorization, CredentialCheck};
use crate::sip::{self, Message};

const CONTACT: &str = "sip:alice@192.0.2.5:5062";
const RIGHT: &str = "Right-Passw0rd-1";
const WRONG: &str = "Wrong-Passw0rd-2";

struct Sim {
    e: Engine,
    now: u64,
    id: TrunkId,
    events: Vec<Event>,
}

fn engine(interval: &str) -> Engine {
    let mut c = EngineConfig::default();
    c.set("keepalive", "on").unwrap();
    c.set("register_interval", interval).unwrap();
    Engine::new(c, 0, 7)
}

fn trunk(password: &str) -> TrunkConfig {
    let mut t = TrunkConfig::new("office");
    t.set("domain", "acme.sip.twilio.com").unwrap();
    t.set("username", "alice").unwrap();
    t.set("password", password).unwrap();
    t.set("contact", "alice@192.0.2.5:5062").unwrap();
    t
}

impl Sim {
    fn new(password: &str) -> Sim {
        let mut e = engine("60");
        let id = e.add_trunk(0, trunk(password)).unwrap();
        let mut s = Sim {
            e,
            now: 0,
            id,
            events: Vec::new(),
        };
        s.drain();
        s
    }

    /// Drains the outputs: events kept, probes returned.
    fn drain(&mut self) -> Vec<Probe> {
        let mut probes = Vec::new();
        while let Some(o) = self.e.poll_output() {
            match o {
                Output::Transmit(p) => probes.push(p),
                Output::Event(e) => self.events.push(e),
                Output::Action(_) => {}
            }
        }
        probes
    }

    /// Runs the clock to `until`: OPTIONS answered 200, queries returned.
    fn run_to(&mut self, until: u64) -> Vec<Probe> {
        let mut queries = Vec::new();
        while let Some(t) = self.e.poll_timeout().filter(|t| *t <= until) {
            self.now = t;
            self.e.handle_timeout(t);
            for p in self.drain() {
                if p.purpose == ProbePurpose::CredentialQuery {
                    queries.push(p);
                } else {
                    let r = ProbeResult::Response { code: 200 };
                    self.e
                        .handle_probe_result(t, self.id, p.id, r, None)
                        .unwrap();
                }
            }
            if !queries.is_empty() {
                break;
            }
        }
        queries
    }

    /// The next credential query due (at most 61 s from now).
    fn next_query(&mut self) -> Probe {
        let until = self.now + 61_000;
        let mut q = self.run_to(until);
        assert_eq!(q.len(), 1, "one query by {until}");
        q.remove(0)
    }

    /// Answers `p` with `response` (its Via branch filled in) and returns
    /// the probes that follow.
    fn answer(&mut self, p: &Probe, head: &str, extra: &str) -> Vec<Probe> {
        let req = request(p);
        let m = sip::parse(req.as_bytes()).unwrap();
        let text = format!(
            "SIP/2.0 {head}\r\nVia: SIP/2.0/UDP 192.0.2.9:5070;branch={}\r\nFrom: <sip:alice@acme.sip.twilio.com>;tag=x\r\nTo: <sip:alice@acme.sip.twilio.com>;tag=y\r\nCall-ID: {}\r\nCSeq: {} REGISTER\r\n{extra}Content-Length: 0\r\n\r\n",
            m.branch().unwrap(),
            m.call_id().unwrap(),
            m.cseq().unwrap().0,
        );
        let r = sip::parse(text.as_bytes()).unwrap();
        self.now += 20;
        let took = self
            .e
            .handle_probe_response(self.now, self.id, p.id, &r, None)
            .unwrap();
        assert!(took, "the query's answer is awaited");
        self.drain()
    }

    fn raised(&self) -> Vec<Cause> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::AlertRaised { cause, .. } => Some(*cause),
                _ => None,
            })
            .collect()
    }

    fn cleared(&self) -> Vec<Cause> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::AlertCleared { cause, .. } => Some(*cause),
                _ => None,
            })
            .collect()
    }
}

fn request(p: &Probe) -> String {
    p.request("192.0.2.9:5070", "regwatch-test")
}

const CHALLENGE: &str = "Proxy-Authenticate: Digest realm=\"sip.twilio.com\", nonce=\"n0nce1\", algorithm=MD5, qop=\"auth\"\r\n";

/// Answers the first request with a 407 and checks the second: same
/// dialog, CSeq + 1, a Proxy-Authorization made from the password, no
/// Contact in either.
fn challenge(s: &mut Sim, p: &Probe, password: &str) -> Probe {
    let first = request(p);
    let m1 = sip::parse(first.as_bytes()).unwrap();
    assert_eq!(m1.method(), Some("REGISTER"));
    assert!(m1.contacts().is_empty(), "a query carries no Contact");
    assert!(m1.any_authorization().is_none());
    let mut next = s.answer(p, "407 Proxy Authentication Required", CHALLENGE);
    assert_eq!(next.len(), 1, "the challenge is answered");
    let p2 = next.remove(0);
    assert_eq!(p2.purpose, ProbePurpose::CredentialQuery);
    let second = request(&p2);
    let m2: Message<'_> = sip::parse(second.as_bytes()).unwrap();
    assert!(m2.contacts().is_empty(), "a query carries no Contact");
    assert_eq!(m2.call_id(), m1.call_id(), "one Call-ID for the exchange");
    assert_eq!(m2.cseq().unwrap().0, m1.cseq().unwrap().0 + 1);
    assert_ne!(m2.branch(), m1.branch());
    assert_eq!(check_authorization(&m2, password), CredentialCheck::Matches);
    assert!(!second.contains(password), "the password never goes out");
    p2
}

fn ok_with(contacts: &[&str]) -> String {
    contacts
        .iter()
        .map(|c| format!("Contact: <{c}>;expires=300\r\n"))
        .collect()
}

#[test]
fn a_challenged_query_proves_the_credentials_and_finds_the_binding() {
    let mut s = Sim::new(RIGHT);
    let p = s.next_query();
    assert!(s.now < 1_000, "the first query goes out at once: {}", s.now);
    let p2 = challenge(&mut s, &p, RIGHT);
    let after = s.answer(&p2, "200 OK", &ok_with(&["sip:bob@192.0.2.7", CONTACT]));
    assert!(after.is_empty());
    assert!(s.raised().is_empty(), "{:?}", s.events);
    let snap = s.e.snapshot(s.id).unwrap();
    assert_eq!(snap.credentials_ok, Some(true));
    assert_eq!(snap.binding_present, Some(true));
    assert_eq!(snap.query_code, Some(200));
    // The next one an interval after the first began, not before.
    let started = p.at_ms;
    let p = s.next_query();
    assert!(p.at_ms >= started + 60_000, "{} then {}", started, p.at_ms);
}

#[test]
fn binding_missing_is_raised_when_the_contact_goes_and_cleared_when_back() {
    let mut s = Sim::new(RIGHT);
    for (round, contacts, raised, cleared) in [
        (1, vec![CONTACT], 0, 0),
        // The registrar restarted: the PBX's binding is gone.
        (2, vec!["sip:bob@192.0.2.7"], 1, 0),
        (3, vec![], 1, 0),
        // The PBX registered again.
        (4, vec!["sip:ALICE@192.0.2.5:5062"], 1, 0),
        (5, vec!["sip:alice@192.0.2.5:5062;transport=udp"], 1, 1),
    ] {
        let p = s.next_query();
        let p2 = challenge(&mut s, &p, RIGHT);
        s.answer(&p2, "200 OK", &ok_with(&contacts));
        assert_eq!(s.raised().len(), raised, "round {round}: {:?}", s.events);
        assert_eq!(s.cleared().len(), cleared, "round {round}: {:?}", s.events);
    }
    // The user part is exact (RFC 3261 §19.1.4): ALICE is not alice.
    assert_eq!(s.raised(), vec![Cause::BindingMissing]);
    assert_eq!(s.cleared(), vec![Cause::BindingMissing]);
    // Back to the registration's own cause (no REGISTER seen: unknown).
    assert_eq!(
        s.e.trunk_state(s.id).unwrap(),
        (RegState::Unknown, Cause::Unknown)
    );
}

#[test]
fn binding_missing_names_the_contact_and_the_evidence() {
    let mut s = Sim::new(RIGHT);
    let p = s.next_query();
    let p2 = challenge(&mut s, &p, RIGHT);
    s.answer(&p2, "200 OK", &ok_with(&["sip:bob@192.0.2.7"]));
    assert_eq!(s.e.trunk_state(s.id).unwrap().1, Cause::BindingMissing);
    let d = s.e.diagnose(s.id).unwrap();
    assert!(d.summary.contains("alice@192.0.2.5:5062"), "{}", d.summary);
    assert!(
        d.evidence
            .iter()
            .any(|e| e.contains("listing 1 binding") && e.contains("not among them")),
        "{:?}",
        d.evidence
    );
}

#[test]
fn a_403_after_the_credentials_is_credentials_rejected_while_options_answer() {
    let mut s = Sim::new(WRONG);
    let p = s.next_query();
    let p2 = challenge(&mut s, &p, WRONG);
    s.answer(&p2, "403 Forbidden", "");
    assert_eq!(s.raised(), vec![Cause::CredentialsRejected]);
    // The diagnosis shows the query's answer as its evidence.
    let d = s.e.diagnose(s.id).unwrap();
    assert!(
        d.summary.contains("rejected the password") && d.summary.contains("403"),
        "{}",
        d.summary
    );
    assert!(
        d.evidence.iter().any(|e| e.contains("credential query")),
        "{:?}",
        d.evidence
    );
    assert!(
        d.evidence.iter().any(|e| e.contains("carried credentials")),
        "{:?}",
        d.evidence
    );
    let (state, cause) = s.e.trunk_state(s.id).unwrap();
    assert_eq!(
        (state, cause),
        (RegState::Unknown, Cause::CredentialsRejected)
    );
    let q = s.run_to(s.now + 2_000);
    assert!(q.is_empty());
    let snap = s.e.snapshot(s.id).unwrap();
    assert_eq!(snap.credentials_ok, Some(false));
    assert_eq!(snap.keepalive.last_code, Some(200), "OPTIONS answered");
    assert!(snap.keepalive.down.is_none());
    assert!(!snap.history.is_empty());
    // Further rounds with the same answer: no new alert, no clear; and
    // nothing but queries goes out as REGISTER.
    for _ in 0..3 {
        let p = s.next_query();
        let p2 = challenge(&mut s, &p, WRONG);
        s.answer(&p2, "403 Forbidden", "");
    }
    assert_eq!(s.raised(), vec![Cause::CredentialsRejected]);
    assert!(s.cleared().is_empty());
    // The password fixed at the provider: the next 200 clears it.
    let p = s.next_query();
    let p2 = challenge(&mut s, &p, WRONG);
    s.answer(&p2, "200 OK", &ok_with(&[CONTACT]));
    assert_eq!(s.cleared(), vec![Cause::CredentialsRejected]);
}

#[test]
fn a_403_before_any_credentials_is_account_forbidden_and_404_domain_not_found() {
    let mut s = Sim::new(RIGHT);
    let p = s.next_query();
    s.answer(&p, "403 Forbidden", "");
    assert_eq!(s.raised(), vec![Cause::AccountForbidden]);
    let p = s.next_query();
    s.answer(&p, "404 Not Found", "");
    assert_eq!(s.e.trunk_state(s.id).unwrap().1, Cause::DomainNotFound);
    assert_eq!(
        s.raised(),
        vec![Cause::AccountForbidden, Cause::DomainNotFound]
    );
}

#[test]
fn twilio_32106_after_credentials_is_the_auth_user_mismatch() {
    let mut s = Sim::new(RIGHT);
    let p = s.next_query();
    let p2 = challenge(&mut s, &p, RIGHT);
    s.answer(
        &p2,
        "403 Forbidden",
        "X-Twilio-Error: 32106 Auth username mismatch\r\n",
    );
    assert_eq!(s.raised(), vec![Cause::AuthUsernameMismatch]);
}

#[test]
fn no_answer_changes_nothing_and_the_next_query_comes_an_interval_later() {
    let mut s = Sim::new(WRONG);
    let p = s.next_query();
    let p2 = challenge(&mut s, &p, WRONG);
    s.answer(&p2, "403 Forbidden", "");
    let p = s.next_query();
    // No answer: its deadline passes.
    let q = s.run_to(p.deadline_ms + 1);
    assert!(q.is_empty());
    assert_eq!(s.e.trunk_state(s.id).unwrap().1, Cause::CredentialsRejected);
    assert_eq!(s.e.snapshot(s.id).unwrap().query_code, Some(0));
    let n = s.next_query();
    assert!(n.at_ms >= p.at_ms + 60_000);
}

#[test]
fn a_second_challenge_after_the_credentials_is_a_rejection_not_a_loop() {
    let mut s = Sim::new(WRONG);
    let p = s.next_query();
    let p2 = challenge(&mut s, &p, WRONG);
    let after = s.answer(&p2, "407 Proxy Authentication Required", CHALLENGE);
    assert!(after.is_empty(), "no third request");
    assert_eq!(s.raised(), vec![Cause::CredentialsRejected]);
}

#[test]
fn off_by_default_and_with_zero() {
    for interval in [None, Some("0")] {
        let mut c = EngineConfig::default();
        c.set("keepalive", "on").unwrap();
        if let Some(i) = interval {
            c.set("register_interval", i).unwrap();
        }
        let mut e = Engine::new(c, 0, 7);
        let id = e.add_trunk(0, trunk(RIGHT)).unwrap();
        let mut t = 0;
        while let Some(at) = e.poll_timeout().filter(|t| *t < 3_600_000) {
            t = at;
            e.handle_timeout(at);
            while let Some(o) = e.poll_output() {
                if let Output::Transmit(p) = o {
                    assert_ne!(p.purpose, ProbePurpose::CredentialQuery);
                    let r = ProbeResult::Response { code: 200 };
                    e.handle_probe_result(at, id, p.id, r, None).unwrap();
                }
            }
        }
        assert!(t > 3_000_000, "the clock ran: {t}");
    }
    // A trunk's own setting wins over the engine's.
    let mut s = engine("0");
    let mut cfg = trunk(RIGHT);
    cfg.set("register_interval", "30").unwrap();
    let id = s.add_trunk(0, cfg).unwrap();
    s.handle_timeout(100);
    let mut seen = false;
    while let Some(o) = s.poll_output() {
        if let Output::Transmit(p) = o {
            seen |= p.purpose == ProbePurpose::CredentialQuery && p.trunk == id;
        }
    }
    assert!(seen, "the trunk's register_interval turns the query on");
}

#[test]
fn a_fixed_password_is_queried_again_soon() {
    let mut s = Sim::new(WRONG);
    let p = s.next_query();
    let p2 = challenge(&mut s, &p, WRONG);
    s.answer(&p2, "403 Forbidden", "");
    assert_eq!(s.raised(), vec![Cause::CredentialsRejected]);
    // The same configuration again: nothing sooner.
    s.e.update_trunk(s.now, s.id, trunk(WRONG)).unwrap();
    s.drain();
    assert!(s.run_to(s.now + 30_000).is_empty());
    // The password fixed: the next query within a second.
    let fixed_at = s.now;
    s.e.update_trunk(s.now, s.id, trunk(RIGHT)).unwrap();
    s.drain();
    let p = s.next_query();
    assert!(p.at_ms < fixed_at + 1_000, "{} vs {fixed_at}", p.at_ms);
    let p2 = challenge(&mut s, &p, RIGHT);
    s.answer(&p2, "200 OK", &ok_with(&[CONTACT]));
    assert_eq!(s.cleared(), vec![Cause::CredentialsRejected]);
}
