//! The `regwatch` command as a user runs it: every subcommand on the
//! shipped examples, text and JSON, exit codes, and no password in any
//! output. `check` runs against the project's Kamailio registrar.
mod support;

use serde_json::Value;
use std::process::{Command, Output};
use support::registrar::{self, Registrar, DOMAIN};

const BIN: &str = env!("CARGO_BIN_EXE_regwatch");
const EX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("REGWATCH_FINGERPRINT_KEY")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

/// Every password in the shipped examples; none may ever be printed.
const PASSWORDS: &[&str] = &[
    "Str0ng-Example-Passw0rd",
    "changeme",
    "Fax-Example-2024x",
    "Hq-Example-Passw0rd",
    "short1",
    "Tr1cky-Horse-Battery",
    "Br4nch-Office-2024",
    "Fax-Machine-2024x",
    "lab-Passw0rd-1001",
    "Alice-Passw0rd-1",
    "Wrong-Passw0rd-9",
];

fn no_password(o: &Output) {
    let t = text(o);
    for p in PASSWORDS {
        // "changeme" is named as a placeholder kind nowhere in messages.
        assert!(!t.contains(p), "password `{p}` in the output:\n{t}");
    }
}

#[test]
fn lint_broken_pjsip_conf_with_include() {
    let o = run(&["lint", &format!("{EX}/lint/pjsip-broken.conf")]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    for code in [
        "domain.scheme_prefix",
        "domain.typo",
        "credentials.password_placeholder", // from the #included file
        "expiry.too_long",
        "credentials.auth_user_mismatch",
        "asterisk.max_retries",
    ] {
        assert!(t.contains(code), "{code} missing:\n{t}");
    }
    assert!(t.contains("fix: Use `acme.sip.twilio.com`."), "{t}");
    no_password(&o);

    let o = run(&["lint", "--json", &format!("{EX}/lint/pjsip-broken.conf")]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    let f = &v["files"][0];
    assert_eq!(f["kind"], "asterisk_pjsip");
    let names: Vec<&str> = f["trunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["twilio-main", "twilio-fax"]);
    let first = &f["trunks"][0]["findings"][0];
    for k in ["code", "severity", "field", "message", "fix"] {
        assert!(first.get(k).is_some(), "{k} missing in {first}");
    }
    no_password(&o);
}

#[test]
fn lint_good_files_pass() {
    let o = run(&["lint", &format!("{EX}/lint/pjsip-good.conf")]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("trunk twilio: 0 errors, 0 warnings"));
    no_password(&o);
}

#[test]
fn lint_freeswitch_and_trunk_file() {
    let o = run(&[
        "lint",
        "--json",
        &format!("{EX}/lint/freeswitch-gateways.xml"),
        &format!("{EX}/sample/trunks.toml"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    assert_eq!(v["files"][0]["kind"], "freeswitch_xml");
    assert_eq!(v["files"][1]["kind"], "regwatch_toml");
    let codes: Vec<String> = v["files"][0]["trunks"][1]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        codes.contains(&"domain.pstn_termination_uri".to_owned()),
        "{codes:?}"
    );
    assert!(
        codes.contains(&"credentials.password_weak".to_owned()),
        "{codes:?}"
    );
    assert_eq!(v["files"][1]["trunks"].as_array().unwrap().len(), 5);
    no_password(&o);
    // --profile generic: no Twilio rules.
    let o = run(&[
        "lint",
        "--json",
        "--profile",
        "generic",
        &format!("{EX}/lint/freeswitch-gateways.xml"),
    ]);
    let v = json(&o);
    let all: Vec<String> = v["files"][0]["trunks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| {
            t["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["code"].as_str().unwrap().to_owned())
        })
        .collect();
    assert!(!all.iter().any(|c| c == "expiry.too_short"), "{all:?}");
}

fn run_keyed(args: &[&str], key: &str) -> Output {
    Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .env("REGWATCH_FINGERPRINT_KEY", key)
        .output()
        .unwrap()
}

#[test]
fn lint_inventory_compares_passwords_without_showing_them() {
    let args = [
        "lint",
        "--inventory",
        "--json",
        &format!("{EX}/lint/pjsip-broken.conf"),
        &format!("{EX}/sample/trunks.toml"),
    ];
    let o = run_keyed(&args, "site-a");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v = json(&o);
    assert!(v.get("fingerprints_omitted").is_none(), "{v}");
    let rows = v["trunks"].as_array().unwrap();
    let fp = |name: &str| {
        rows.iter().find(|r| r["trunk"] == name).unwrap()["password_fingerprint"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // Both use "changeme": same fingerprint; different passwords differ.
    assert_eq!(fp("twilio-main"), fp("warehouse"));
    assert_ne!(fp("twilio-main"), fp("hq"));
    assert_eq!(fp("hq").len(), 8);
    let main = rows.iter().find(|r| r["trunk"] == "twilio-fax").unwrap();
    assert_eq!(main["auth_username"], "fax-machine");
    assert_eq!(main["registrar"], "acme.sip.twilio.com:5060");
    no_password(&o);
    // Another key, other fingerprints.
    let v2 = json(&run_keyed(&args, "site-b"));
    let hq2 = v2["trunks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["trunk"] == "hq")
        .unwrap()["password_fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(hq2, fp("hq"));
    let table = run_keyed(
        &["lint", "--inventory", &format!("{EX}/sample/trunks.toml")],
        "site-a",
    );
    assert!(text(&table).starts_with("TRUNK "), "{}", text(&table));
    assert!(text(&table).lines().next().unwrap().contains("PASSWORD"));
    assert!(!text(&table).contains("omitted"), "{}", text(&table));
    no_password(&table);
}

#[test]
fn lint_inventory_without_a_key_omits_fingerprints_and_says_why() {
    let file = format!("{EX}/sample/trunks.toml");
    for (key, why) in [
        (None, "REGWATCH_FINGERPRINT_KEY is not set"),
        (Some(""), "REGWATCH_FINGERPRINT_KEY is empty"),
    ] {
        let cmd = |args: &[&str]| match key {
            None => run(args),
            Some(k) => run_keyed(args, k),
        };
        let o = cmd(&["lint", "--inventory", "--json", &file]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let v = json(&o);
        let omitted = v["fingerprints_omitted"].as_str().unwrap();
        assert!(omitted.contains(why), "{omitted}");
        for r in v["trunks"].as_array().unwrap() {
            assert!(r.get("password_fingerprint").is_none(), "{r}");
        }
        no_password(&o);
        let o = cmd(&["lint", "--inventory", &file]);
        assert_eq!(o.status.code(), Some(0));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.starts_with("TRUNK ") && !out.contains("PASSWORD"),
            "{out}"
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("Password fingerprints omitted") && err.contains(why),
            "{err}"
        );
        no_password(&o);
    }
}

#[test]
fn lint_unreadable_and_unknown_input() {
    let o = run(&["lint", "/nonexistent/pjsip.conf"]);
    assert_eq!(o.status.code(), Some(2));
    let junk = std::env::temp_dir().join(format!("regwatch-junk-{}", std::process::id()));
    std::fs::write(&junk, "hello world\n").unwrap();
    let o = run(&["lint", junk.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("not a pjsip.conf"), "{}", text(&o));
    let _ = std::fs::remove_file(junk);
    assert_eq!(run(&["lint"]).status.code(), Some(2));
}

#[test]
fn trunk_file_syntax_error_names_the_place_not_the_line() {
    // The line that does not parse holds a password whose closing quote
    // is missing: the error (on a terminal, in the service's journal)
    // says where, never what.
    let f = std::env::temp_dir().join(format!("regwatch-syntax-{}.toml", std::process::id()));
    std::fs::write(
        &f,
        "[[trunk]]\nname = \"hq\"\npassword = \"Tr1cky-Horse-Battery\ndomain = \"acme.sip.twilio.com\"\n",
    )
    .unwrap();
    let path = f.to_str().unwrap();
    for args in [&["lint", path][..], &["watch", "--config", path]] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(
            text(&o).contains("TOML syntax error at line 3, column 33"),
            "{args:?}: {}",
            text(&o)
        );
        no_password(&o);
    }
    let _ = std::fs::remove_file(f);
}

#[test]
fn explain_codes_and_causes() {
    let o = run(&["explain", "403"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o).contains("SIP 403 Forbidden") && text(&o).contains("credentials_rejected"));
    let o = run(&["explain", "31201"]);
    assert!(
        text(&o).contains("Voice SDK") && text(&o).contains("32202"),
        "{}",
        text(&o)
    );
    let v = json(&run(&["explain", "32202", "--json"]));
    assert_eq!(
        (v["kind"].as_str(), v["cause"].as_str()),
        (Some("twilio_debugger"), Some("credentials_rejected"))
    );
    let v = json(&run(&["explain", "transport_blocked", "--json"]));
    assert_eq!(v["diagnosis"]["cause"], "transport_blocked");
    assert!(!v["diagnosis"]["remediation"].as_array().unwrap().is_empty());
    let o = run(&["explain", "no_such_thing"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("cause ids:"));
}

#[test]
fn check_against_the_registrar() {
    if !registrar::available() {
        return;
    }
    let r = Registrar::start(false);
    let proxy = format!("127.0.0.1:{}", r.port);
    let check = |password: &str, extra: &[&str]| {
        let mut args = vec![
            "check",
            "--domain",
            DOMAIN,
            "--user",
            "alice",
            "--password-env",
            "RW_TEST_PW",
            "--proxy",
            &proxy,
            "--timeout",
            "3",
        ];
        args.extend_from_slice(extra);
        Command::new(BIN)
            .args(&args)
            .env("RW_TEST_PW", password)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let o = check("Alice-Passw0rd-1", &["--transport", "udp"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("options udp: 200 OK") && t.contains("Diagnosis: healthy"),
        "{t}"
    );
    assert!(
        t.contains("REGISTER Expires: 0 + Proxy-Authorization -> 200"),
        "{t}"
    );
    no_password(&o);

    let o = check("Wrong-Passw0rd-9", &["--transport", "udp", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v = json(&o);
    assert_eq!(v["diagnosis"]["cause"], "credentials_rejected");
    for k in ["summary", "evidence", "remediation", "references"] {
        assert!(v["diagnosis"].get(k).is_some(), "{k}");
    }
    let steps: Vec<&str> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["validate", "dns", "options", "register"]);
    no_password(&o);

    // Usage errors: an unset variable, no domain.
    let o = Command::new(BIN)
        .args([
            "check",
            "--domain",
            DOMAIN,
            "--user",
            "alice",
            "--password-env",
            "RW_UNSET_VAR",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(run(&["check", "--user", "alice"]).status.code(), Some(2));
}

#[test]
fn analyze_every_shipped_trace() {
    let cases = [
        ("register-403.pcap", "pcap", "credentials_rejected", 1),
        ("register-403.pcapng", "pcap", "credentials_rejected", 1),
        (
            "asterisk-pjsip-logger.txt",
            "asterisk_pjsip_logger",
            "credentials_rejected",
            1,
        ),
        (
            "freeswitch-siptrace.txt",
            "freeswitch_siptrace",
            "credentials_rejected",
            1,
        ),
        ("sipp-register-ok.log", "sipp_trace_msg", "healthy", 0),
    ];
    for (file, format, cause, status) in cases {
        let path = format!("{EX}/analyze/{file}");
        let o = run(&["analyze", &path]);
        assert_eq!(o.status.code(), Some(status), "{file}: {}", text(&o));
        assert!(
            text(&o).contains("alice@acme.sip.twilio.com"),
            "{file}: {}",
            text(&o)
        );
        let v = json(&run(&["analyze", "--json", &path]));
        let f = &v["files"][0];
        assert_eq!(f["format"], format, "{file}");
        assert_eq!(f["messages"], 4, "{file}");
        let r = &f["registrations"][0];
        assert_eq!(r["cause"], cause, "{file}");
        assert_eq!(r["diagnosis"]["cause"], cause, "{file}");
        let events: Vec<&str> = r["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"].as_str().unwrap())
            .collect();
        assert_eq!(
            events,
            ["REGISTER sent", "response", "REGISTER sent", "response"],
            "{file}"
        );
        assert_eq!(r["timeline"][1]["code"], 407, "{file}");
        no_password(&o);
    }
    let o = run(&["analyze", &format!("{EX}/lint/pjsip-good.conf")]);
    assert_eq!(o.status.code(), Some(2));
}

/// `regwatch check` across the live-probes cases, as a user runs it.
#[test]
fn check_every_live_case() {
    if !registrar::available() {
        return;
    }
    let r = Registrar::start_tls();
    let proxy = format!("127.0.0.1:{}", r.port);
    let dead = format!("127.0.0.1:{}", registrar::free_port());
    let tls_good = format!("127.0.0.1:{}", r.tls_port.unwrap());
    let tls_wrong = format!("127.0.0.1:{}", r.wrong_tls_port.unwrap());
    let ca = r.ca_file.display().to_string();
    let cases: Vec<(&str, Vec<&str>, &str, i32)> = vec![
        (
            "unknown user",
            vec![
                "--domain",
                DOMAIN,
                "--user",
                "carol",
                "--proxy",
                &proxy,
                "--transport",
                "udp",
            ],
            "credentials_rejected",
            1,
        ),
        (
            "auth user differs",
            vec![
                "--domain",
                DOMAIN,
                "--user",
                "alice",
                "--auth-user",
                "bob",
                "--proxy",
                &proxy,
                "--transport",
                "udp",
            ],
            "auth_username_mismatch",
            1,
        ),
        (
            "unknown domain",
            vec![
                "--domain",
                "acme-typo.sip.twilio.com",
                "--user",
                "alice",
                "--proxy",
                &proxy,
                "--transport",
                "udp",
            ],
            "domain_not_found",
            1,
        ),
        (
            "expires 60 retried with 600",
            vec![
                "--domain",
                DOMAIN,
                "--user",
                "alice",
                "--proxy",
                &proxy,
                "--transport",
                "tcp",
                "--expires",
                "60",
            ],
            "healthy",
            0,
        ),
        (
            "expires 7200 capped",
            vec![
                "--domain",
                DOMAIN,
                "--user",
                "alice",
                "--proxy",
                &proxy,
                "--transport",
                "udp",
                "--expires",
                "7200",
            ],
            "expiry_drift",
            0,
        ),
        (
            "nothing listening",
            vec![
                "--domain",
                DOMAIN,
                "--user",
                "alice",
                "--proxy",
                &dead,
                "--transport",
                "udp",
            ],
            "connection_refused",
            1,
        ),
        (
            "TLS",
            vec![
                "--domain",
                DOMAIN,
                "--user",
                "alice",
                "--proxy",
                &tls_good,
                "--transport",
                "tls",
                "--ca-file",
                &ca,
            ],
            "healthy",
            0,
        ),
        (
            "TLS, wrong certificate",
            vec![
                "--domain",
                DOMAIN,
                "--user",
                "alice",
                "--proxy",
                &tls_wrong,
                "--transport",
                "tls",
                "--ca-file",
                &ca,
            ],
            "tls_failure",
            1,
        ),
        (
            "unresolvable",
            vec![
                "--domain",
                "nosuch.invalid",
                "--user",
                "alice",
                "--transport",
                "udp",
            ],
            "dns_failure",
            1,
        ),
    ];
    for (label, args, cause, status) in cases {
        let password = if label == "auth user differs" {
            "Bob-Passw0rd-22"
        } else {
            "Alice-Passw0rd-1"
        };
        let mut all = vec![
            "check",
            "--json",
            "--timeout",
            "2",
            "--password-env",
            "RW_TEST_PW",
        ];
        all.extend(args);
        let o = Command::new(BIN)
            .args(&all)
            .env("RW_TEST_PW", password)
            .output()
            .unwrap();
        let v = json(&o);
        assert_eq!(v["diagnosis"]["cause"], cause, "{label}: {}", text(&o));
        assert_eq!(o.status.code(), Some(status), "{label}");
        assert!(!text(&o).contains(password), "{label}: password in output");
    }
}

#[test]
fn man_page_and_completions() {
    let o = run(&["man"]);
    assert_eq!(o.status.code(), Some(0));
    let man = String::from_utf8_lossy(&o.stdout);
    assert!(man.contains(".TH regwatch 1"), "{man}");
    for sub in [
        r"regwatch\-lint",
        r"regwatch\-check",
        r"regwatch\-watch",
        r"regwatch\-analyze",
        r"regwatch\-explain",
    ] {
        assert!(man.contains(sub), "{sub} missing from the manual");
    }
    // One page per command, as the package installs them.
    let dir = std::env::temp_dir().join(format!("regwatch-man-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let o = run(&["man", "--dir", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for cmd in ["", "-lint", "-check", "-watch", "-analyze", "-explain"] {
        let page = std::fs::read_to_string(dir.join(format!("regwatch{cmd}.1"))).unwrap();
        assert!(
            page.contains(&format!(".TH regwatch{cmd} 1 ")) && page.contains("\"regwatch 0."),
            "{cmd}: {page}"
        );
    }
    let watch = std::fs::read_to_string(dir.join("regwatch-watch.1")).unwrap();
    assert!(watch.contains(r"\fBregwatch watch\fR"), "{watch}");
    let _ = std::fs::remove_dir_all(&dir);
    let o = run(&["man", "--dir", "/nonexistent/regwatch-man"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    for shell in ["bash", "zsh", "fish"] {
        let o = run(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}");
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("regwatch"),
            "{shell}"
        );
    }
    // --help of every command carries examples and exit codes.
    for cmd in ["lint", "check", "explain", "analyze", "watch"] {
        let o = run(&[cmd, "--help"]);
        let h = String::from_utf8_lossy(&o.stdout);
        assert!(
            h.contains("Examples:") && h.contains("Exit status:"),
            "{cmd}: {h}"
        );
    }
}

#[test]
fn check_with_an_unusable_ca_file_is_a_usage_error() {
    let not_pem = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    for (path, why) in [
        ("/nonexistent/ca.pem", "cannot read it"),
        ("/", "not a regular file"),
        (not_pem, "no certificate in it"),
    ] {
        let o = run(&[
            "check",
            "--domain",
            "pbx.example.net",
            "--user",
            "1001",
            "--proxy",
            "127.0.0.1:9",
            "--transport",
            "tls",
            "--timeout",
            "1",
            "--ca-file",
            path,
        ]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{t}");
        assert!(t.contains(&format!("CA file {path}: {why}")), "{t}");
        // Nothing was checked.
        assert!(o.stdout.is_empty(), "{t}");
    }
}

/// A registrar on loopback TCP answering every request with a 403 whose
/// reason phrase, Server and X-Twilio-Error carry terminal escapes (clear
/// screen, a window title, colours).
fn escaping_registrar() -> u16 {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let end = loop {
                        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break p + 4;
                        }
                        match s.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let req = String::from_utf8_lossy(&buf[..end]).into_owned();
                    buf.drain(..end);
                    let copied: String = req
                        .lines()
                        .filter(|l| {
                            let l = l.to_ascii_lowercase();
                            ["via:", "from:", "to:", "call-id:", "cseq:"]
                                .iter()
                                .any(|h| l.starts_with(h))
                        })
                        .map(|l| format!("{l}\r\n"))
                        .collect();
                    let resp = format!(
                        "SIP/2.0 403 Forbidden\x1b[2J\x1b]0;owned\x07\r\n{copied}Server: evil\x1b[31m-sbc\r\nX-Twilio-Error: 32201 Bad\x1b[5m creds\r\nContent-Length: 0\r\n\r\n"
                    );
                    if s.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[test]
fn check_output_carries_no_escape_from_the_registrar() {
    let port = escaping_registrar().to_string();
    let proxy = format!("127.0.0.1:{port}");
    let args = [
        "check",
        "--domain",
        "pbx.example.net",
        "--user",
        "1001",
        "--proxy",
        &proxy,
        "--transport",
        "tcp",
        "--timeout",
        "3",
    ];
    let o = run(&args);
    let out = text(&o);
    assert!(out.contains("403 Forbidden[2J]0;owned"), "{out}");
    assert!(out.contains("evil[31m-sbc"), "{out}");
    assert!(
        !out.chars().any(|c| c.is_control() && c != '\n'),
        "a control character reached the terminal: {out:?}"
    );
    // JSON keeps the registrar's words, escaped.
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let o = run(&json_args);
    let raw = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(raw.contains("\\u001b[2J"), "{raw}");
    assert!(!raw.contains('\x1b'));
}
