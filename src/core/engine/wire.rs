//! Raw-SIP observation: a REGISTER the host sent, or a response it got,
//! as bytes, matched to its trunk and turned into observations.
//!
//! Matching: a response goes to the trunk whose last REGISTER has the
//! same Call-ID and CSeq; a REGISTER goes to the trunk that owns its
//! Call-ID (registration dialogs keep theirs across refreshes), else to the
//! trunk whose username and domain match the To URI (then the From URI,
//! then the Request-URI host). Retransmissions — the same Call-ID, CSeq
//! and branch again, or a second final response to the same CSeq — are
//! counted once.
//!
//! Every lookup is a hash probe (the Call-ID map, the AOR and host maps of
//! `index`), never a walk over the trunks, so a message costs the same
//! with ten trunks or a hundred thousand. Only the Call-ID of each trunk's
//! last REGISTER is remembered: a peer sending REGISTERs with ever new
//! Call-IDs replaces its trunk's entry, and a REGISTER no trunk matches
//! leaves nothing behind.
use super::index::Query;
use super::{Engine, TrunkId};
use crate::core::config::TrunkConfig;
use crate::core::observation::{
    Challenge, Observation, RegisterResponse, RegisterSent, TwilioError,
};
use crate::sip::uri::{same_binding, uri_binding, uri_port_or_default};
use crate::sip::{self, Message, ParseError, StartLine};
use crate::validate::{DomainParts, Transport};
use serde::Serialize;
use std::borrow::Cow;

/// Whether the host sent or received the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The host sent it (a REGISTER going out).
    Sent,
    /// The host received it (a response coming in).
    Received,
}

/// What [`Engine::observe_sip`] did with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SipObserved {
    /// A REGISTER, recorded for this trunk.
    Register(TrunkId),
    /// A final response to a REGISTER, recorded for this trunk.
    Response(TrunkId),
    /// A provisional response (1xx) for this trunk: nothing to record.
    Provisional(TrunkId),
    /// A retransmission of something already recorded for this trunk.
    Retransmission(TrunkId),
    /// A response to an older REGISTER of this trunk than the last one.
    Stale(TrunkId),
    /// Not about registration (another method, or a response to one).
    NotRegistration,
    /// About registration, but no trunk matches it.
    Unmatched,
    /// The final answer to one of this engine's keep-alive probes (matched
    /// by its Via branch), recorded for this trunk.
    KeepAlive(TrunkId),
}

/// The last REGISTER of a trunk seen on the wire.
#[derive(Clone, Debug, Default)]
pub(super) struct WireTx {
    call_id: String,
    cseq: u32,
    branch: String,
    /// Our Contact URI, to find our binding among those a 2xx lists.
    contact: String,
    /// Whether a final response was recorded for it.
    answered: bool,
    /// Retransmitted REGISTERs and answers seen (each counted once).
    retransmissions: u32,
}

impl WireTx {
    pub(super) fn call_id(&self) -> &str {
        &self.call_id
    }
}

fn set(dst: &mut String, src: &str) {
    if dst != src {
        dst.clear();
        dst.push_str(src);
    }
}

/// A host as the index keys it: lower case, no trailing dot (borrowed when
/// it is so already, the usual case).
fn host_key(h: &str) -> Cow<'_, str> {
    let h = h.trim_end_matches('.');
    if h.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(h.to_ascii_lowercase())
    } else {
        Cow::Borrowed(h)
    }
}

impl Engine {
    /// Observes one SIP message the host sent or received (UDP datagram, or
    /// one message framed from a stream with [`crate::sip::StreamFramer`]).
    /// `transport` is the transport it travelled on, if known.
    ///
    /// A sent REGISTER becomes [`Observation::RegisterSent`], a received
    /// final response to it [`Observation::RegisterResponse`] with the
    /// granted expiry of *our* binding and whether the registrar lists it.
    /// A received final answer to one of the engine's own OPTIONS probes
    /// (built with [`crate::core::Probe::request`], recognised by its Via
    /// branch) is the probe's result, as
    /// [`Engine::handle_probe_result`] would record it.
    /// Malformed input is an error and changes nothing.
    pub fn observe_sip(
        &mut self,
        now_ms: u64,
        direction: Direction,
        transport: Option<Transport>,
        bytes: &[u8],
    ) -> Result<SipObserved, ParseError> {
        let msg = sip::parse(bytes)?;
        Ok(self.observe_message(now_ms, direction, transport, &msg))
    }

    /// [`observe_sip`](Self::observe_sip) for a message the caller has
    /// parsed already (with [`crate::sip::parse`]), so that it is not
    /// parsed twice.
    pub fn observe_message(
        &mut self,
        now_ms: u64,
        direction: Direction,
        transport: Option<Transport>,
        msg: &Message<'_>,
    ) -> SipObserved {
        match (direction, msg.start) {
            (Direction::Sent, StartLine::Request { method, .. })
                if method.eq_ignore_ascii_case("REGISTER") =>
            {
                self.sent_register(now_ms, transport, msg)
            }
            (Direction::Received, StartLine::Response { code, reason }) => match msg.cseq() {
                // The answer to the engine's own account query (a REGISTER
                // probe), not to the host's REGISTER.
                Some((_, m))
                    if m.eq_ignore_ascii_case("REGISTER")
                        && msg
                            .branch()
                            .and_then(crate::core::keepalive::probe_of_branch)
                            .is_some() =>
                {
                    self.probe_answer(now_ms, msg, code)
                }
                Some((cseq, m)) if m.eq_ignore_ascii_case("REGISTER") => {
                    self.received_response(now_ms, transport, msg, cseq, code, reason)
                }
                Some((_, m)) if m.eq_ignore_ascii_case("OPTIONS") => {
                    self.probe_answer(now_ms, msg, code)
                }
                _ => SipObserved::NotRegistration,
            },
            _ => SipObserved::NotRegistration,
        }
    }

    /// A final answer to an OPTIONS: one of our probes' results, if its
    /// branch names an outstanding probe.
    fn probe_answer(&mut self, now_ms: u64, msg: &Message<'_>, code: u16) -> SipObserved {
        let Some(pid) = msg
            .branch()
            .and_then(crate::core::keepalive::probe_of_branch)
        else {
            return SipObserved::NotRegistration;
        };
        if code < 200 {
            return SipObserved::NotRegistration;
        }
        let Some(id) = self.probe_trunk(pid) else {
            // Answered already, timed out, or not ours.
            return SipObserved::NotRegistration;
        };
        match self.handle_probe_response(now_ms, id, pid, msg, None) {
            Ok(true) => SipObserved::KeepAlive(id),
            _ => SipObserved::Retransmission(id),
        }
    }

    /// The trunk a REGISTER belongs to: the owner of its Call-ID, else the
    /// best match of To/From user and host, Request-URI host and port.
    fn match_register(&self, msg: &Message<'_>) -> Option<u32> {
        if let Some(&slot) = msg.call_id().and_then(|c| self.by_call_id.get(c)) {
            return Some(slot);
        }
        let (ruri_host, ruri_port) = match msg.start {
            StartLine::Request { uri, .. } => (
                sip::uri_host(uri).map(host_key),
                Some(uri_port_or_default(uri)),
            ),
            _ => (None, None),
        };
        fn aor(a: Option<sip::NameAddr<'_>>) -> Option<(&str, Cow<'_, str>)> {
            let a = a?;
            Some((a.user()?, host_key(sip::uri_host(a.uri)?)))
        }
        let q = Query {
            aors: [aor(msg.to()), aor(msg.from())],
            ruri_host,
            // A REGISTER that is no request has no Request-URI to match.
            ruri_port: ruri_port.unwrap_or(crate::sip::uri::SIP_PORT),
        };
        let slot = self.index.lookup(&q)?;
        if !self.index.may_tie(&q) {
            return Some(slot);
        }
        // The same AOR registered twice to one registrar (an admin testing
        // a right and a wrong password): only the Contact the host
        // registers can tell a new dialog's owner; when it cannot, the
        // REGISTER is filed under neither (DESIGN.md, "Field rules"). The
        // twins are the trunks tied with the winner that share its AOR
        // user, domain host and port (a trunk whose authorization user
        // is this AOR user is not one).
        let key = |c: &TrunkConfig| {
            let p = DomainParts::parse(&c.domain);
            let port = p
                .port
                .or(c.port)
                .unwrap_or_else(|| c.transport.unwrap_or(Transport::Udp).default_port());
            (p.host, port)
        };
        let winner = &self.slots.at(slot)?.config;
        let mine = key(winner);
        let twins: Vec<u32> = self
            .index
            .ties(&q)
            .into_iter()
            .filter(|s| {
                self.slots
                    .at(*s)
                    .is_some_and(|t| t.config.username == winner.username && key(&t.config) == mine)
            })
            .collect();
        if twins.len() <= 1 {
            return Some(slot);
        }
        let contact_user = msg
            .contacts()
            .first()
            .and_then(|c| c.addr.user())
            .map(str::to_owned);
        let mut owners = twins.into_iter().filter(|s| {
            self.slots
                .at(*s)
                .is_some_and(|t| contact_user.is_some() && t.config.contact_user == contact_user)
        });
        match (owners.next(), owners.next()) {
            (Some(s), None) => Some(s),
            _ => None,
        }
    }

    /// Drops `call_id` from the Call-ID map if `slot` owns it.
    pub(super) fn forget_call_id(&mut self, call_id: &str, slot: u32) {
        if self.by_call_id.get(call_id) == Some(&slot) {
            self.by_call_id.remove(call_id);
        }
    }

    fn sent_register(
        &mut self,
        now: u64,
        transport: Option<Transport>,
        msg: &Message<'_>,
    ) -> SipObserved {
        let Some(slot) = self.match_register(msg) else {
            return SipObserved::Unmatched;
        };
        let (Some(call_id), Some((cseq, _))) = (msg.call_id(), msg.cseq()) else {
            return SipObserved::Unmatched;
        };
        let branch = msg.branch().unwrap_or("");
        let contacts = msg.contacts();
        let contact = contacts.first().map(|c| c.addr.uri).unwrap_or("");
        let expires = msg
            .expires()
            .or_else(|| contacts.first().and_then(|c| c.expires))
            .or_else(|| (contact == "*").then_some(0));
        let with_credentials = msg.any_authorization().is_some();
        let Some(t) = self.slots.at_mut(slot) else {
            return SipObserved::Unmatched;
        };
        let id = t.id;
        if let Some(w) = &mut t.wire {
            if w.call_id == call_id && w.cseq == cseq && w.branch == branch {
                w.retransmissions = w.retransmissions.saturating_add(1);
                return SipObserved::Retransmission(id);
            }
        }
        let w = t.wire.get_or_insert_with(Box::default);
        if w.call_id != call_id || self.by_call_id.get(call_id) != Some(&slot) {
            // The trunk's dialog changed: its old Call-ID goes, so the map
            // never holds more than one entry per trunk.
            let old = std::mem::take(&mut w.call_id);
            self.forget_call_id(&old, slot);
            self.by_call_id.insert(call_id.into(), slot);
        }
        let Some(w) = self.slots.at_mut(slot).and_then(|t| t.wire.as_mut()) else {
            return SipObserved::Unmatched;
        };
        set(&mut w.call_id, call_id);
        w.cseq = cseq;

        set(&mut w.branch, branch);
        set(&mut w.contact, contact);
        w.answered = false;
        // The user the registrar is given, whatever the configuration says
        // (kept when the policy asks for it).
        let wire_user = msg
            .any_authorization()
            .and_then(|a| a.username)
            .filter(|_| self.cfg.wire_auth_user);
        if let Some(user) = wire_user {
            if let Some(t) = self.slots.at_mut(slot) {
                if t.wire_auth_user.as_deref() != Some(user) {
                    t.wire_auth_user = Some(user.into());
                }
            }
        }
        let obs = Observation::RegisterSent(RegisterSent {
            expires,
            with_credentials,
            transport,
            credentials_unknown: false,
        });
        let _ = self.handle_observation(now, id, obs);
        SipObserved::Register(id)
    }

    fn received_response(
        &mut self,
        now: u64,
        transport: Option<Transport>,
        msg: &Message<'_>,
        cseq: u32,
        code: u16,
        reason: &str,
    ) -> SipObserved {
        let Some(call_id) = msg.call_id() else {
            return SipObserved::Unmatched;
        };
        let Some(&slot) = self.by_call_id.get(call_id) else {
            return SipObserved::Unmatched;
        };
        let Some(t) = self.slots.at_mut(slot) else {
            return SipObserved::Unmatched;
        };
        let id = t.id;
        let Some(w) = t.wire.as_mut() else {
            return SipObserved::Unmatched;
        };
        if cseq < w.cseq {
            return SipObserved::Stale(id);
        }
        if code < 200 {
            return SipObserved::Provisional(id);
        }
        if w.answered {
            w.retransmissions = w.retransmissions.saturating_add(1);
            return SipObserved::Retransmission(id);
        }
        w.answered = true;
        let ours = (!w.contact.is_empty() && w.contact != "*").then_some(w.contact.as_str());
        let mine = ours.and_then(|o| {
            let key = uri_binding(o);
            msg.contacts_iter().find(|c| same_binding(c.addr.uri, key))
        });
        let mut resp = register_response(msg, code, reason, transport);
        resp.granted_expires = mine.and_then(|c| c.expires).or(resp.granted_expires);
        resp.contact_bound =
            ((200..300).contains(&code) && ours.is_some()).then_some(mine.is_some());
        let _ = self.handle_observation(now, id, Observation::RegisterResponse(resp));
        SipObserved::Response(id)
    }
}

/// What a final response to a REGISTER says, as the classification reads
/// it (the host's REGISTERs here, the engine's credential query in
/// `credq.rs`): its challenge, Min-Expires, Retry-After, X-Twilio-Error,
/// Server; the granted expiry from `Expires` (the caller finds its own
/// Contact's) and no binding verdict (the caller's).
pub(super) fn register_response<'a>(
    msg: &Message<'a>,
    code: u16,
    reason: &'a str,
    transport: Option<Transport>,
) -> RegisterResponse<'a> {
    let challenge = match code {
        401 => msg.www_authenticate(),
        407 => msg.proxy_authenticate(),
        _ => None,
    }
    .map(|c| Challenge {
        realm: c.realm.unwrap_or(""),
        algorithm: c.algorithm,
        qop: c.qop,
        stale: c.stale,
    });
    RegisterResponse {
        code,
        reason,
        granted_expires: msg.expires(),
        contact_bound: None,
        challenge,
        min_expires: msg.min_expires(),
        retry_after: msg.retry_after(),
        twilio_error: msg
            .x_twilio_error()
            .map(|(code, text)| TwilioError { code, text }),
        server: msg.server(),
        transport,
    }
}

/// Whether the Contacts a 2xx lists hold `contact` (a URI, `<URI>` or
/// `user@host:port`), matched as our own binding is (user exact, host and
/// port case-insensitive); and how many bindings it lists.
pub(super) fn holds_contact(msg: &Message<'_>, contact: &str) -> (u32, bool) {
    let c = contact.trim().trim_start_matches('<').trim_end_matches('>');
    let scheme = c.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("sip:"))
        || c.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("sips:"));
    let uri = if scheme {
        Cow::Borrowed(c)
    } else {
        Cow::Owned(format!("sip:{c}"))
    };
    let key = uri_binding(&uri);
    let (mut n, mut held) = (0u32, false);
    for b in msg.contacts_iter().filter(|b| b.addr.uri != "*") {
        n = n.saturating_add(1);
        held |= same_binding(b.addr.uri, key);
    }
    (n, held)
}

#[cfg(test)]
mod tests;
