use super::*;

#[test]
fn defaults_turn_keepalive_on_and_nothing_else() {
    let s = HostSettings::new();
    assert_eq!(s.check_timeout_ms, 8000);
    assert_eq!(s.ca_file, None);
    assert_eq!(s.log_level, LogLevel::Info);
    let cfg = s.engine_config(&EngineConfig::default());
    assert!(cfg.keepalive.enabled);
    assert_eq!(
        EngineConfig {
            keepalive: EngineConfig::default().keepalive,
            ..cfg.clone()
        },
        EngineConfig::default()
    );
}

#[test]
fn both_spellings_and_sections_are_read() {
    let mut s = HostSettings::new();
    s.set(Some("general"), "check_timeout", "3").unwrap();
    s.set(Some("settings"), "Log-Level", "TRACE").unwrap();
    s.set(None, "ca-file", "/etc/ca.pem").unwrap();
    s.set(None, "keepalive", "off").unwrap();
    s.set(None, "reregister-on-recovery", "no").unwrap();
    s.set(None, "keepalive-interval-ms", "30000").unwrap();
    assert_eq!(s.check_timeout_ms, 3000);
    assert_eq!(s.log_level, LogLevel::Trace);
    assert_eq!(s.ca_file.as_deref(), Some("/etc/ca.pem"));
    let cfg = s.engine_config(&EngineConfig::default());
    assert!(!cfg.keepalive.enabled);
    assert!(!cfg.reregister_on_recovery);
    assert_eq!(cfg.keepalive.interval_ms, 30_000);
}

#[test]
fn bad_values_and_keys_are_refused_where_read() {
    let mut s = HostSettings::new();
    assert!(matches!(
        s.set(None, "log_level", "loud"),
        Err(ConfigError::InvalidValue { .. })
    ));
    assert!(s.set(None, "check_timeout", "0").is_err());
    assert!(s.set(None, "check_timeout", "ten").is_err());
    assert!(matches!(
        s.set(None, "no_such_key", "1"),
        Err(ConfigError::UnknownKey(_))
    ));
    assert!(matches!(
        s.set(Some("trunk-a"), "bogus", "1"),
        Err(ConfigError::UnknownKey(_))
    ));
    assert!(s.set(Some("trunk-a"), "keepalive", "maybe").is_err());
    assert_eq!(s, HostSettings::new());
}

#[test]
fn trunk_sections_and_the_exclude_list_reach_the_trunk() {
    let mut s = HostSettings::new();
    s.set(Some("office"), "reregister_on_recovery", "no")
        .unwrap();
    s.set(Some("office"), "keepalive_interval", "20").unwrap();
    s.set(None, "reregister-exclude", "gw_a, gw_b,,").unwrap();
    let office = s.trunk_config(TrunkConfig::new("office"));
    assert_eq!(office.reregister_on_recovery, Some(false));
    assert_eq!(office.keepalive_interval, Some(20));
    for gw in ["gw_a", "gw_b"] {
        assert_eq!(
            s.trunk_config(TrunkConfig::new(gw)).reregister_on_recovery,
            Some(false)
        );
    }
    assert_eq!(
        s.trunk_config(TrunkConfig::new("other")),
        TrunkConfig::new("other")
    );
}

#[test]
fn log_levels_parse_the_same_for_both_hosts() {
    for (t, l) in [
        ("error", LogLevel::Error),
        ("WARNING", LogLevel::Warn),
        ("warn", LogLevel::Warn),
        ("notice", LogLevel::Info),
        ("info", LogLevel::Info),
        ("debug", LogLevel::Debug),
        ("trace", LogLevel::Trace),
    ] {
        assert_eq!(LogLevel::parse(t), Some(l), "{t}");
    }
    assert_eq!(LogLevel::parse("verbose"), None);
}

/// FreeSWITCH's section: `read` with the note.
fn fs(s: &mut HostSettings, key: &str, value: &str) -> Reading {
    s.read(Some("settings"), key, value)
}

/// What one engine option is, as text.
type Get = fn(&EngineConfig) -> String;

#[test]
fn every_engine_option_has_a_freeswitch_name_and_its_old_name_still_works() {
    // (new name, value, old name, value, what the engine gets)
    let cases: &[(&str, &str, &str, &str, Get)] = &[
        ("keepalive", "off", "keepalive", "off", |c| {
            c.keepalive.enabled.to_string()
        }),
        (
            "keepalive-interval",
            "30",
            "keepalive_interval_ms",
            "30000",
            |c| c.keepalive.interval_ms.to_string(),
        ),
        (
            "keepalive-timeout",
            "1.5",
            "keepalive_timeout_ms",
            "1500",
            |c| c.keepalive.timeout_ms.to_string(),
        ),
        (
            "keepalive-confirm",
            "0.25",
            "keepalive_confirm_ms",
            "250",
            |c| c.keepalive.confirm_ms.to_string(),
        ),
        (
            "keepalive-failures-to-alert",
            "4",
            "keepalive_failures_to_alert",
            "4",
            |c| c.keepalive.failures_to_alert.to_string(),
        ),
        (
            "keepalive-successes-to-clear",
            "3",
            "keepalive_successes_to_clear",
            "3",
            |c| c.keepalive.successes_to_clear.to_string(),
        ),
        ("keepalive-jitter", "0.2", "keepalive_jitter", "0.2", |c| {
            c.keepalive.jitter.to_string()
        }),
        (
            "keepalive-alternates",
            "off",
            "keepalive_alternates",
            "no",
            |c| c.keepalive.alternates.to_string(),
        ),
        (
            "reregister-on-recovery",
            "false",
            "reregister_on_recovery",
            "no",
            |c| c.reregister_on_recovery.to_string(),
        ),
        ("profile", "generic", "profile", "generic", |c| {
            format!("{:?}", c.host_profile)
        }),
        (
            "register-interval",
            "300",
            "register_interval",
            "300",
            |c| c.register_interval.to_string(),
        ),
        ("history-len", "64", "history_len", "64", |c| {
            c.history_len.to_string()
        }),
        (
            "challenges-before-rejection",
            "3",
            "challenges_before_rejection",
            "3",
            |c| c.challenges_before_rejection.to_string(),
        ),
    ];
    assert_eq!(cases.len(), PARAMS.len(), "a case per parameter");
    let default = EngineConfig::default();
    for (new, new_v, old, old_v, get) in cases {
        let mut a = HostSettings::new();
        let r = fs(&mut a, new, new_v);
        assert_eq!(
            r,
            Reading {
                result: Ok(()),
                note: None
            },
            "{new}"
        );
        let mut b = HostSettings::new();
        let r = fs(&mut b, old, old_v);
        assert_eq!(r.result, Ok(()), "{old}");
        let (ca, cb) = (a.engine_config(&default), b.engine_config(&default));
        assert_eq!(get(&ca), get(&cb), "{new} and {old} set the same");
        let base = HostSettings::new().engine_config(&default);
        assert_ne!(get(&ca), get(&base), "{new} changed something");
        if new != old {
            let note = r
                .note
                .unwrap_or_else(|| panic!("{old}: no deprecation note"));
            assert!(note.contains("deprecated"), "{note}");
            assert!(note.contains(&format!("write {new}")), "{note}");
        } else {
            assert_eq!(r.note, None, "{old}");
        }
        // Asterisk's section and none: every spelling, silently.
        for section in [Some("general"), None] {
            let mut c = HostSettings::new();
            let r = c.read(section, old, old_v);
            assert_eq!(
                r,
                Reading {
                    result: Ok(()),
                    note: None
                },
                "{old}"
            );
            assert_eq!(get(&c.engine_config(&default)), get(&ca));
            let r = c.read(section, &new.replace('-', "_"), new_v);
            assert_eq!(
                r,
                Reading {
                    result: Ok(()),
                    note: None
                },
                "{new}"
            );
        }
    }
}

#[test]
fn milliseconds_notes_give_the_value_in_seconds() {
    let mut s = HostSettings::new();
    let r = fs(&mut s, "keepalive_timeout_ms", "1500");
    assert_eq!(
        r.note.as_deref(),
        Some("keepalive_timeout_ms (milliseconds) is deprecated: write keepalive-timeout = 1.5 (seconds)")
    );
    let r = fs(&mut s, "keepalive-interval-ms", "60000");
    assert_eq!(
        r.note.as_deref(),
        Some("keepalive-interval-ms (milliseconds) is deprecated: write keepalive-interval = 60 (seconds)")
    );
    assert_eq!(
        s.engine_config(&EngineConfig::default())
            .keepalive
            .interval_ms,
        60_000
    );
}

#[test]
fn module_keys_old_spelling_is_noted_in_freeswitch_only() {
    for (old, new, v) in [
        ("check_timeout", "check-timeout", "5"),
        ("ca_file", "ca-file", "/etc/ca.pem"),
        ("log_level", "log-level", "debug"),
        ("reregister_exclude", "reregister-exclude", "gw_a"),
    ] {
        let mut a = HostSettings::new();
        assert_eq!(
            fs(&mut a, new, v),
            Reading {
                result: Ok(()),
                note: None
            }
        );
        let mut b = HostSettings::new();
        let r = fs(&mut b, old, v);
        assert_eq!(r.result, Ok(()));
        assert_eq!(r.note, Some(format!("{old} is deprecated: write {new}")));
        assert_eq!(a, b, "{old} and {new} set the same");
        assert_ne!(a, HostSettings::new(), "{new} changed something");
        let mut c = HostSettings::new();
        assert_eq!(
            c.read(Some("general"), old, v),
            Reading {
                result: Ok(()),
                note: None
            }
        );
    }
}

#[test]
fn refused_values_name_the_allowed_range_and_change_nothing() {
    for (key, v, says) in [
        (
            "keepalive-interval",
            "0",
            "must be seconds between 1 and 600",
        ),
        // Milliseconds under the seconds name.
        (
            "keepalive-interval",
            "60000",
            "must be seconds between 1 and 600",
        ),
        (
            "keepalive-interval",
            "ten",
            "must be seconds between 1 and 600",
        ),
        (
            "keepalive-timeout",
            "1.2345",
            "must be seconds between 0.1 and 60",
        ),
        (
            "keepalive-timeout",
            "-1",
            "must be seconds between 0.1 and 60",
        ),
        (
            "keepalive-confirm",
            "0.05",
            "must be seconds between 0.1 and 600",
        ),
        (
            "keepalive_interval_ms",
            "999",
            "must be milliseconds between 1000 and 600000",
        ),
        (
            "keepalive-failures-to-alert",
            "0",
            "must be a whole number between 1 and 1000",
        ),
        (
            "keepalive-successes-to-clear",
            "x",
            "must be a whole number between 1 and 1000",
        ),
        (
            "history-len",
            "5000",
            "must be a whole number between 1 and 4096",
        ),
        (
            "challenges-before-rejection",
            "1",
            "must be a whole number between 2 and 255",
        ),
        (
            "keepalive-jitter",
            "0.9",
            "must be a fraction between 0 and 0.5",
        ),
        (
            "keepalive",
            "maybe",
            "must be on or off (yes/no, true/false)",
        ),
        (
            "reregister-on-recovery",
            "2",
            "must be on or off (yes/no, true/false)",
        ),
        ("profile", "acme", "must be twilio, generic or auto"),
        ("check-timeout", "0", "must be seconds between 1 and 600"),
        (
            "log-level",
            "loud",
            "must be error, warning, info, debug or trace",
        ),
    ] {
        let mut s = HostSettings::new();
        let r = fs(&mut s, key, v);
        assert!(
            matches!(&r.result, Err(ConfigError::InvalidValue { key: k, reason }) if k == key && reason == says),
            "{key} = {v}: {:?}",
            r.result
        );
        let note = r.note.unwrap();
        assert!(
            note == format!("{key} = {v}: {says}; not applied"),
            "{note}"
        );
        assert_eq!(s, HostSettings::new(), "{key} = {v}");
    }
    let mut s = HostSettings::new();
    let r = fs(&mut s, "keepalive-intervall", "30");
    assert!(matches!(r.result, Err(ConfigError::UnknownKey(_))));
    assert!(r
        .note
        .unwrap()
        .starts_with("keepalive-intervall: unknown parameter, ignored"));
}

#[test]
fn seconds_are_read_to_the_millisecond() {
    for (v, ms) in [
        ("1", Some(1000)),
        ("1.5", Some(1500)),
        ("0.001", Some(1)),
        ("2.50", Some(2500)),
    ] {
        assert_eq!(seconds_as_ms(v), ms, "{v}");
    }
    for v in ["", ".5", "1.", "1.0001", "+1", "1e3", "1,5", "9999999999"] {
        assert_eq!(seconds_as_ms(v), None, "{v}");
    }
    assert_eq!(seconds_as_ms("1."), None);
    for (ms, s) in [
        (1000, "1"),
        (1500, "1.5"),
        (250, "0.25"),
        (100, "0.1"),
        (1, "0.001"),
    ] {
        assert_eq!(ms_as_seconds(ms), s);
    }
}
