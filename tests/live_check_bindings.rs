//! `regwatch check` leaves nothing behind at the registrar, and
//! `check --query` lists bindings without adding one: the CLI run as a
//! user runs it, against the project's Twilio-like Kamailio with a limit
//! of bindings per AOR, and the registrar's own location table read after
//! every run (kamcmd over its control socket, not through regwatch).
mod support;

use serde_json::Value;
use std::path::Path;
use std::process::Command;
use support::registrar::{self, Registrar, DOMAIN, USERS};

/// One `regwatch check` run; its exit code and JSON.
fn check(
    r: &Registrar,
    user: &str,
    password: &str,
    transport: &str,
    extra: &[&str],
) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_regwatch"))
        .args(["check", "--domain", DOMAIN, "--user", user])
        .args([
            "--password-env",
            "RW_TEST_PASSWORD",
            "--transport",
            transport,
        ])
        .arg("--proxy")
        .arg(format!("127.0.0.1:{}", r.port))
        .args(["--expires", "600", "--timeout", "4", "--json"])
        .args(extra)
        .env("RW_TEST_PASSWORD", password)
        .output()
        .expect("regwatch runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains(password), "the password in check's output");
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "check's JSON: {e}\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

/// The REGISTER (or query) step's result.
fn register_step(v: &Value) -> &Value {
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "register" || s["step"] == "query")
        .map(|s| &s["result"])
        .unwrap_or_else(|| panic!("no register step: {v:#}"))
}

fn codes(result: &Value) -> Vec<u64> {
    result["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["code"].as_u64())
        .collect()
}

#[test]
fn twenty_checks_leave_no_binding_and_never_meet_the_contact_limit() {
    if !registrar::available() {
        return;
    }
    // Three bindings per AOR at most: a check that left its binding behind
    // would meet the limit (503) by the fourth run.
    let r = Registrar::start_max_contacts(3);
    let (user, password) = USERS[0];
    assert!(r.bindings(user).is_empty());
    for run in 0..20 {
        let transport = if run % 2 == 0 { "udp" } else { "tcp" };
        let (code, v) = check(&r, user, password, transport, &[]);
        let reg = register_step(&v);
        assert_eq!(code, 0, "run {run}: {v:#}");
        assert!(!codes(reg).contains(&503), "run {run}: {reg:#}");
        // Registered, our Contact listed by the 200, then removed: the
        // 200 to Expires: 0 no longer lists it.
        assert_eq!(reg["contact_bound"], true, "run {run}: {reg:#}");
        assert_eq!(reg["deregistered"], true, "run {run}: {reg:#}");
        let contact = reg["contact"].as_str().unwrap();
        assert!(
            reg["bindings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|b| b["uri"] == contact && b["ours"] == true),
            "run {run}: {reg:#}"
        );
        assert_eq!(
            reg["bindings_after"],
            Value::Array(vec![]),
            "run {run}: {reg:#}"
        );
        // Every request of the run came from the one socket the Contact names.
        let sent_from = registrar_sources(&r, user);
        assert!(
            contact.contains(sent_from.last().map(String::as_str).unwrap_or("-")),
            "run {run}: contact {contact}, REGISTERs from {sent_from:?}"
        );
        let held = r.bindings(user);
        assert!(held.is_empty(), "run {run} left {held:?} at the registrar");
    }
}

/// `ip:port` of each REGISTER the registrar received for `user`, in order
/// (its own log line).
fn registrar_sources(r: &Registrar, user: &str) -> Vec<String> {
    r.log()
        .lines()
        .filter(|l| l.contains("REGISTER from ") && l.contains(&format!(" for {user}@")))
        .filter_map(|l| {
            l.split("REGISTER from ")
                .nth(1)?
                .split(' ')
                .next()
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn one_check_uses_one_socket_and_stay_leaves_exactly_its_binding() {
    if !registrar::available() {
        return;
    }
    let r = Registrar::start_max_contacts(3);
    let (user, password) = USERS[1];
    let before = registrar_sources(&r, user).len();
    let (code, v) = check(&r, user, password, "udp", &["--stay"]);
    assert_eq!(code, 0, "{v:#}");
    let reg = register_step(&v);
    // REGISTER, 407, REGISTER with credentials, 200: both from one port.
    let sources = registrar_sources(&r, user);
    let ours = &sources[before..];
    assert_eq!(ours.len(), 2, "{ours:?}");
    assert_eq!(ours[0], ours[1], "two sockets: {ours:?}");
    // The registrar holds exactly the Contact the check reported.
    let held = r.bindings(user);
    let contact = reg["contact"].as_str().unwrap();
    assert_eq!(held, vec![contact.to_owned()], "{reg:#}");
    assert_eq!(reg["deregistered"], false);
}

#[test]
fn query_lists_a_binding_made_by_sipp_and_adds_none() {
    if !registrar::available() {
        return;
    }
    if Command::new("sipp").arg("-v").output().is_err() {
        assert_ne!(
            std::env::var("REGWATCH_REQUIRE_PEERS").as_deref(),
            Ok("1"),
            "sipp is not installed (scripts/install-deps.sh installs it)"
        );
        eprintln!("skipped: sipp is not installed (scripts/install-deps.sh installs it)");
        return;
    }
    let r = Registrar::start_max_contacts(3);
    let (user, password) = USERS[0];
    let dir = std::env::temp_dir().join(format!("regwatch-query-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    sipp_register(&r, user, password, &dir);
    let held = r.bindings(user);
    assert_eq!(held.len(), 1, "SIPp's binding: {held:?}");

    let (code, v) = check(&r, user, password, "udp", &["--query"]);
    assert_eq!(code, 0, "{v:#}");
    let q = register_step(&v);
    assert_eq!(q["mode"], "query");
    assert_eq!(codes(q), vec![407, 200], "{q:#}");
    let listed: Vec<&str> = q["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["uri"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![held[0].as_str()], "{q:#}");
    assert!(q.get("contact").is_none(), "a query has no Contact: {q:#}");
    // Nothing added, nothing removed.
    assert_eq!(r.bindings(user), held);
    assert_eq!(v["diagnosis"]["cause"], "healthy");

    // A wrong password: the query proves it, still adding nothing.
    let (code, v) = check(&r, user, "not-the-password", "udp", &["--query"]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["diagnosis"]["cause"], "credentials_rejected", "{v:#}");
    assert_eq!(r.bindings(user), held);
    let _ = std::fs::remove_dir_all(&dir);
}

fn sipp_register(r: &Registrar, user: &str, password: &str, dir: &Path) {
    let inf = dir.join("inf.csv");
    std::fs::write(&inf, format!("SEQUENTIAL\n{DOMAIN};{user};600\n")).unwrap();
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/register.xml");
    let out = Command::new("sipp")
        .arg(format!("127.0.0.1:{}", r.port))
        .arg("-sf")
        .arg(&scenario)
        .arg("-inf")
        .arg(&inf)
        .args(["-au", user, "-ap", password])
        .args([
            "-m",
            "1",
            "-i",
            "127.0.0.1",
            "-p",
            "0",
            "-nostdin",
            "-timeout",
            "10",
        ])
        .current_dir(dir)
        .output()
        .expect("sipp runs");
    assert!(
        out.status.success(),
        "sipp: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}
