use super::*;
use crate::core::{EngineConfig, Observation, RegisterResponse, RegisterSent, TrunkConfig};

fn engine_with_rejection() -> (Engine, Vec<Output>) {
    let mut e = Engine::new(EngineConfig::default(), 0, 7);
    let mut cfg = TrunkConfig::new("office");
    cfg.domain = "acme.sip.twilio.com".into();
    cfg.username = "alice".into();
    cfg.password = Some(crate::core::Secret::new("secret"));
    let id = e.add_trunk(0, cfg).unwrap();
    let sent = |with_credentials| {
        Observation::RegisterSent(RegisterSent {
            expires: Some(3600),
            with_credentials,
            transport: None,
            credentials_unknown: false,
        })
    };
    e.handle_observation(10, id, sent(true)).unwrap();
    let resp = RegisterResponse {
        code: 403,
        reason: "Forbidden\r\nInjected: yes",
        ..RegisterResponse::default()
    };
    e.handle_observation(20, id, Observation::RegisterResponse(resp))
        .unwrap();
    let mut out = Vec::new();
    while let Some(o) = e.poll_output() {
        out.push(o);
    }
    (e, out)
}

#[test]
fn every_output_has_a_summary_and_events_their_host_renderings() {
    let (e, outputs) = engine_with_rejection();
    assert!(outputs
        .iter()
        .any(|o| matches!(o, Output::Event(Event::Finding { .. }))));
    assert!(outputs
        .iter()
        .any(|o| matches!(o, Output::Event(Event::StateChanged { .. }))));
    assert!(outputs
        .iter()
        .any(|o| matches!(o, Output::Event(Event::AlertRaised { .. }))));
    let mut rejected_seen = false;
    for o in &outputs {
        let s = summary(&e, o, None);
        assert!(!s.is_empty(), "{o:?}");
        assert!(!s.contains(['\r', '\n']), "{s}");
        let ami = ami_event(o, &s);
        let fs = freeswitch_event(o, &s);
        match o {
            Output::Event(Event::StateChanged { to, from, .. }) => {
                let (name, fields) = ami.unwrap();
                assert!(fields.contains(&format!(
                    "\r\nState: {}\r\nPreviousState: {}\r\n",
                    to.as_str(),
                    from.as_str()
                )));
                if *to != crate::core::RegState::Rejected {
                    continue;
                }
                rejected_seen = true;
                assert_eq!(name, "RegwatchState");
                assert!(fields.starts_with("Trunk: office\r\nState: rejected\r\nPreviousState: "));
                assert!(
                    fields.contains("\r\nCause: credentials_rejected\r\nCode: 403\r\nSummary: ")
                );
                assert!(fields.ends_with(&format!("Summary: {s}\r\n")));
                assert_eq!(fields.matches("\r\n").count(), 6, "{fields}");
                let (sub, h) = fs.unwrap();
                assert_eq!(sub, "regwatch::state");
                assert_eq!(h[0], ("Gateway", "office".to_owned()));
                assert!(h.contains(&("Cause", "credentials_rejected".to_owned())));
                assert!(h.contains(&("Code", "403".to_owned())));
                assert!(h.contains(&("Summary", s.clone())));
                assert!(log_line(o, &s, Origin::Asterisk, None).is_none());
            }
            Output::Event(Event::AlertRaised { .. }) => {
                let (name, fields) = ami.unwrap();
                assert_eq!(name, "RegwatchAlert");
                assert!(fields.contains("Alert: raised\r\n"));
                assert!(fields.contains("Severity: error\r\n"));
                let (sub, h) = fs.unwrap();
                assert_eq!(sub, "regwatch::alert");
                assert!(h.contains(&("Alert", "raised".to_owned())));
                assert!(!h.iter().any(|(k, _)| *k == "Previous-State"));
            }
            Output::Event(Event::Finding { finding, .. }) => {
                assert!(ami.is_none() && fs.is_none());
                let (level, line) = log_line(o, &s, Origin::Asterisk, None).unwrap();
                assert_eq!(
                    level,
                    if finding.severity == Severity::Info {
                        LogLevel::Info
                    } else {
                        LogLevel::Warn
                    }
                );
                assert!(line.starts_with("registration 'office': ["), "{line}");
                assert!(line.contains(finding.code));
                let (_, fs_line) = log_line(o, &s, Origin::Freeswitch, None).unwrap();
                assert!(fs_line.starts_with("gateway office: ["), "{fs_line}");
            }
            _ => {}
        }
    }
    assert!(rejected_seen);
}

#[test]
fn the_trunk_list_for_ami_rounds_up_and_repeats_the_action_id() {
    let (e, _) = engine_with_rejection();
    let (text, n) = ami_trunks(&e, Some("42\r\nEvil: 1"));
    assert_eq!(n, 1);
    assert!(text.starts_with("Event: RegwatchTrunk\r\nActionID: 42  Evil: 1\r\nTrunk: office\r\n"));
    assert!(text.contains("State: rejected\r\nCause: credentials_rejected\r\nCode: 403\r\n"));
    assert!(text.contains("Alerting: yes\r\nExpiresIn: -1\r\n"));
    assert!(text.ends_with("\r\n\r\n"));
    let (text, _) = ami_trunks(&e, None);
    assert!(!text.contains("ActionID"));
    let empty = Engine::new(EngineConfig::default(), 0, 1);
    assert_eq!(ami_trunks(&empty, Some("1")), (String::new(), 0));
}

#[test]
fn reregister_lines_say_what_is_done() {
    let (e, _) = engine_with_rejection();
    let id = e.find_trunk("office").unwrap();
    let o = Output::Action(Action::ReRegister {
        trunk: id,
        name: "office".into(),
    });
    let run = Reregister::Run("pjsip send register office".into());
    let s = summary(&e, &o, Some(&run));
    let (l, line) = log_line(&o, &s, Origin::Asterisk, Some(&run)).unwrap();
    assert_eq!(l, LogLevel::Info);
    assert!(
        line.contains("re-registering now (pjsip send register office)"),
        "{line}"
    );
    let (_, line) = log_line(&o, &s, Origin::Freeswitch, Some(&Reregister::Declined)).unwrap();
    assert!(
        line.contains("re-registration on recovery is off"),
        "{line}"
    );
    let (l, _) = log_line(&o, &s, Origin::Freeswitch, Some(&Reregister::NoProfile)).unwrap();
    assert_eq!(l, LogLevel::Warn);
    assert!(ami_event(&o, &s).is_none() && freeswitch_event(&o, &s).is_none());
    assert!(summary(&e, &o, Some(&Reregister::Declined)).contains("off"));
}
