//! The stasis `Registry` and `ContactStatus` messages, as JSON or AMI.
use super::ami::AmiMessage;
use super::index::RegistrationIndex;
use crate::core::HostState;
use crate::hosts::{Fact, FactKind, HostError};
use serde_json::Value;

/// The `status` of a PJSIP Registry event. Asterisk collapses its six
/// internal states into these three (`sip_outbound_registration_status_str`):
/// STOPPING and STOPPED read `Unregistered`, temporary and permanent
/// rejections both read `Rejected`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegistryStatus {
    /// A 2xx to a REGISTER with a non-zero expiration.
    Registered,
    /// A 2xx to an unregister, or a registration being stopped.
    Unregistered,
    /// Any failure, temporary (will retry) or permanent (stopped).
    Rejected,
}

impl RegistryStatus {
    /// Parses `Registered`, `Unregistered`, `Rejected` (any case).
    pub fn parse(s: &str) -> Option<RegistryStatus> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("registered") {
            Some(RegistryStatus::Registered)
        } else if s.eq_ignore_ascii_case("unregistered") {
            Some(RegistryStatus::Unregistered)
        } else if s.eq_ignore_ascii_case("rejected") {
            Some(RegistryStatus::Rejected)
        } else {
            None
        }
    }

    /// The name Asterisk uses.
    pub fn as_str(self) -> &'static str {
        match self {
            RegistryStatus::Registered => "Registered",
            RegistryStatus::Unregistered => "Unregistered",
            RegistryStatus::Rejected => "Rejected",
        }
    }

    /// The engine's view: registered, unregistered, rejected (no code).
    pub fn host_state(self) -> HostState {
        match self {
            RegistryStatus::Registered => HostState::Registered,
            RegistryStatus::Unregistered => HostState::Unregistered,
            RegistryStatus::Rejected => HostState::Rejected,
        }
    }
}

/// One Registry message (`ast_system_publish_registry`).
///
/// Asterisk publishes it for every processed final response (not only on
/// changes), but not for a 401/407 that it answers with credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryEvent {
    /// `PJSIP` (or `IAX2`, which this adapter ignores).
    pub channel_type: String,
    /// The registration's `client_uri` (the JSON's `username`).
    pub client_uri: String,
    /// The registration's `server_uri` (the JSON's `domain`).
    pub server_uri: String,
    /// What Asterisk says.
    pub status: RegistryStatus,
    /// Always empty for PJSIP.
    pub cause: String,
}

fn json_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn required<'a>(v: Option<&'a str>, what: &str) -> Result<&'a str, HostError> {
    v.ok_or_else(|| HostError::Malformed(format!("no `{what}`")))
}

impl RegistryEvent {
    /// Parses the stasis payload a module receives:
    /// `{"type":"registry","channeltype":"PJSIP","username":"<client_uri>",
    /// "domain":"<server_uri>","status":"Registered","cause":""}`.
    pub fn from_json(json: &str) -> Result<RegistryEvent, HostError> {
        let v: Value =
            serde_json::from_str(json).map_err(|e| HostError::Malformed(format!("JSON: {e}")))?;
        if !v.is_object() {
            return Err(HostError::Malformed("not a JSON object".into()));
        }
        if let Some(t) = json_str(&v, "type") {
            if !t.eq_ignore_ascii_case("registry") {
                return Err(HostError::Ignored(format!("stasis message type `{t}`")));
            }
        }
        RegistryEvent::build(
            json_str(&v, "channeltype"),
            json_str(&v, "username"),
            json_str(&v, "domain"),
            json_str(&v, "status"),
            json_str(&v, "cause"),
        )
    }

    /// Parses the AMI event (`Event: Registry`, `ChannelType`, `Username`,
    /// `Domain`, `Status`, `Cause`).
    pub fn from_ami(msg: &AmiMessage) -> Result<RegistryEvent, HostError> {
        match msg.event() {
            Some(e) if e.eq_ignore_ascii_case("Registry") => {}
            Some(e) => return Err(HostError::Ignored(format!("AMI event `{e}`"))),
            None => return Err(HostError::Ignored("AMI message without Event".into())),
        }
        RegistryEvent::build(
            msg.get("ChannelType"),
            msg.get("Username"),
            msg.get("Domain"),
            msg.get("Status"),
            msg.get("Cause"),
        )
    }

    fn build(
        channel_type: Option<&str>,
        username: Option<&str>,
        domain: Option<&str>,
        status: Option<&str>,
        cause: Option<&str>,
    ) -> Result<RegistryEvent, HostError> {
        let status_text = required(status, "status")?;
        let status = RegistryStatus::parse(status_text).ok_or_else(|| {
            HostError::Malformed(format!("unknown Registry status `{status_text}`"))
        })?;
        Ok(RegistryEvent {
            channel_type: channel_type.unwrap_or("PJSIP").to_owned(),
            client_uri: required(username, "username")?.to_owned(),
            server_uri: required(domain, "domain")?.to_owned(),
            status,
            cause: cause.unwrap_or("").to_owned(),
        })
    }

    /// The engine inputs: one [`FactKind::HostState`] for the registration
    /// the index finds for the two URIs. Registry events of other channel
    /// types (IAX2) are [`HostError::Ignored`].
    pub fn facts(&self, index: &RegistrationIndex) -> Result<Vec<Fact>, HostError> {
        if !self.channel_type.eq_ignore_ascii_case("PJSIP") {
            return Err(HostError::Ignored(format!(
                "Registry event of channel type `{}`",
                self.channel_type
            )));
        }
        let entry = index
            .find(&self.client_uri, &self.server_uri)
            .ok_or_else(|| HostError::UnknownRegistration {
                client_uri: self.client_uri.clone(),
                server_uri: self.server_uri.clone(),
            })?;
        let cause = self.cause.trim();
        Ok(vec![Fact::new(
            entry.name.clone(),
            FactKind::HostState {
                state: self.status.host_state(),
                detail: (!cause.is_empty()).then(|| cause.to_owned()),
            },
        )])
    }
}

/// A contact's qualify status (`ast_sip_get_contact_status_label`, plus the
/// `Created`/`Updated` of the AMI event).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ContactState {
    /// An OPTIONS got any response (or a 2xx with `qualify_2xx_only`).
    Reachable,
    /// An OPTIONS timed out or could not be sent. Asterisk says this after
    /// **one** lost OPTIONS: no threshold.
    Unreachable,
    /// Not qualified yet.
    Unknown,
    /// Qualify is off for this contact.
    NonQualified,
    /// The contact was removed.
    Removed,
    /// The contact was created.
    Created,
    /// The contact was updated.
    Updated,
    /// A label this adapter does not know.
    Other(String),
}

impl ContactState {
    /// Parses a label (any case).
    pub fn parse(s: &str) -> ContactState {
        let t = s.trim();
        match t.to_ascii_lowercase().as_str() {
            "reachable" => ContactState::Reachable,
            "unreachable" => ContactState::Unreachable,
            "unknown" => ContactState::Unknown,
            "nonqualified" => ContactState::NonQualified,
            "removed" => ContactState::Removed,
            "created" => ContactState::Created,
            "updated" => ContactState::Updated,
            _ => ContactState::Other(t.to_owned()),
        }
    }

    /// `Some(true)` for Reachable, `Some(false)` for Unreachable, `None`
    /// for the labels that say nothing about reachability.
    pub fn reachable(&self) -> Option<bool> {
        match self {
            ContactState::Reachable => Some(true),
            ContactState::Unreachable => Some(false),
            _ => None,
        }
    }
}

/// One ContactStatus message: the result of Asterisk's own OPTIONS qualify
/// of an AOR contact. Published only when the status changes.
///
/// It feeds no engine input yet: keep-alive health is tracked from
/// regwatch's own OPTIONS results, which this is not. Hosts can show it
/// next to the registration state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContactStatusEvent {
    /// The AOR name.
    pub aor: String,
    /// The contact URI that was qualified.
    pub uri: String,
    /// The new status.
    pub status: ContactState,
    /// Round-trip time of the last OPTIONS in microseconds (0 when Unreachable).
    pub roundtrip_usec: Option<u64>,
    /// The endpoint, when Asterisk names one.
    pub endpoint_name: Option<String>,
}

impl ContactStatusEvent {
    /// Parses the stasis blob (`contact_status`, `aor`, `uri`,
    /// `roundtrip_usec` as a string, `endpoint_name`), flat or under `blob`.
    pub fn from_json(json: &str) -> Result<ContactStatusEvent, HostError> {
        let v: Value =
            serde_json::from_str(json).map_err(|e| HostError::Malformed(format!("JSON: {e}")))?;
        let b = v.get("blob").filter(|b| b.is_object()).unwrap_or(&v);
        if !b.is_object() {
            return Err(HostError::Malformed("not a JSON object".into()));
        }
        let rtt = match b.get("roundtrip_usec") {
            Some(Value::String(s)) => s.trim().parse().ok(),
            Some(Value::Number(n)) => n.as_u64(),
            _ => None,
        };
        ContactStatusEvent::build(
            json_str(b, "aor"),
            json_str(b, "uri"),
            json_str(b, "contact_status"),
            rtt,
            json_str(b, "endpoint_name"),
        )
    }

    /// Parses the AMI event (`Event: ContactStatus`, `URI`, `ContactStatus`,
    /// `AOR`, `EndpointName`, `RoundtripUsec`).
    pub fn from_ami(msg: &AmiMessage) -> Result<ContactStatusEvent, HostError> {
        match msg.event() {
            Some(e) if e.eq_ignore_ascii_case("ContactStatus") => {}
            Some(e) => return Err(HostError::Ignored(format!("AMI event `{e}`"))),
            None => return Err(HostError::Ignored("AMI message without Event".into())),
        }
        ContactStatusEvent::build(
            msg.get("AOR"),
            msg.get("URI"),
            msg.get("ContactStatus"),
            msg.get("RoundtripUsec").and_then(|s| s.trim().parse().ok()),
            msg.get("EndpointName"),
        )
    }

    fn build(
        aor: Option<&str>,
        uri: Option<&str>,
        status: Option<&str>,
        roundtrip_usec: Option<u64>,
        endpoint: Option<&str>,
    ) -> Result<ContactStatusEvent, HostError> {
        Ok(ContactStatusEvent {
            aor: required(aor, "aor")?.to_owned(),
            uri: required(uri, "uri")?.to_owned(),
            status: ContactState::parse(required(status, "contact_status")?),
            roundtrip_usec,
            endpoint_name: endpoint.filter(|e| !e.is_empty()).map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_json() {
        let e = RegistryEvent::from_json(
            r#"{"type":"registry","channeltype":"PJSIP","username":"sip:acme@h","domain":"sip:h","status":"Rejected","cause":""}"#,
        )
        .unwrap();
        assert_eq!(e.status, RegistryStatus::Rejected);
        assert_eq!(e.client_uri, "sip:acme@h");
        assert!(matches!(
            RegistryEvent::from_json(r#"{"type":"other"}"#),
            Err(HostError::Ignored(_))
        ));
        assert!(RegistryEvent::from_json("[1]").is_err());
    }

    #[test]
    fn contact_json() {
        let c = ContactStatusEvent::from_json(
            r#"{"contact_status":"Unreachable","aor":"trunk","uri":"sip:h:1","roundtrip_usec":"0","endpoint_name":"trunk"}"#,
        )
        .unwrap();
        assert_eq!(c.status.reachable(), Some(false));
        assert_eq!(c.roundtrip_usec, Some(0));
    }
}
