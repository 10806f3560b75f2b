//! `regwatch analyze`'s exchanges on synthetic SIPp logs: a REGISTER never
//! answered (Timer F within the capture, or the capture ending first), a
//! client giving up on a transaction, two dialogs of one AOR interleaved,
//! retransmissions, an answer without its REGISTER, a message that is not
//! SIP (counted with its line), the authorization user of a lone exchange,
//! and a long run of alternating failures folded and bounded.
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_regwatch");
const DOMAIN: &str = "acme.sip.twilio.com";

/// One line of SIPp's log: (milliseconds, sent?, message).
type Entry = (u64, bool, String);

fn register(
    user: &str,
    auth: Option<&str>,
    call: &str,
    cseq: u32,
    branch: &str,
    exp: u32,
) -> String {
    let auth = auth.map_or(String::new(), |a| {
        format!(
            "Proxy-Authorization: Digest username=\"{a}\", realm=\"sip.twilio.com\", \
             nonce=\"n\", uri=\"sip:{DOMAIN}\", response=\"00000000000000000000000000000000\"\r\n"
        )
    });
    format!(
        "REGISTER sip:{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK{branch}\r\n\
         From: <sip:{user}@{DOMAIN}>;tag=f{call}\r\nTo: <sip:{user}@{DOMAIN}>\r\nCall-ID: {call}\r\n\
         CSeq: {cseq} REGISTER\r\nContact: <sip:{user}@127.0.0.1:5060>\r\n{auth}Expires: {exp}\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

fn answer(user: &str, call: &str, cseq: u32, branch: &str, code: u16, reason: &str) -> String {
    let extra = match code {
        407 => "Proxy-Authenticate: Digest realm=\"sip.twilio.com\", nonce=\"n\", qop=\"auth\"\r\n"
            .to_owned(),
        200 => format!("Contact: <sip:{user}@127.0.0.1:5060>;expires=600\r\n"),
        423 => "Min-Expires: 600\r\n".to_owned(),
        _ => String::new(),
    };
    format!(
        "SIP/2.0 {code} {reason}\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK{branch}\r\n\
         From: <sip:{user}@{DOMAIN}>;tag=f{call}\r\nTo: <sip:{user}@{DOMAIN}>;tag=t\r\n\
         Call-ID: {call}\r\nCSeq: {cseq} REGISTER\r\n{extra}Server: Twilio\r\nContent-Length: 0\r\n\r\n"
    )
}

/// A full exchange: REGISTER, 407, REGISTER with credentials, `code`.
fn exchange(at: u64, user: &str, auth: &str, call: &str, code: u16, reason: &str) -> Vec<Entry> {
    vec![
        (
            at,
            true,
            register(user, None, call, 1, &format!("{call}a"), 600),
        ),
        (
            at + 1,
            false,
            answer(
                user,
                call,
                1,
                &format!("{call}a"),
                407,
                "Proxy Authentication Required",
            ),
        ),
        (
            at + 2,
            true,
            register(user, Some(auth), call, 2, &format!("{call}b"), 600),
        ),
        (
            at + 3,
            false,
            answer(user, call, 2, &format!("{call}b"), code, reason),
        ),
    ]
}

fn sipp_log(entries: &[Entry]) -> String {
    let mut s = String::new();
    for (ms, sent, msg) in entries {
        let (h, m, sec, frac) = (10, ms / 60_000, ms / 1000 % 60, ms % 1000);
        s.push_str(&format!(
            "----------------------------------------------- 2026-12-04 {h:02}:{m:02}:{sec:02}.{frac:03}000\n"
        ));
        if *sent {
            s.push_str(&format!("UDP message sent ({} bytes):\n\n", msg.len()));
        } else {
            s.push_str(&format!("UDP message received [{}] bytes :\n\n", msg.len()));
        }
        s.push_str(msg);
        s.push('\n');
    }
    s
}

/// The line (from 1) of the separator that starts entry `i` of a log.
fn entry_line(entries: &[Entry], i: usize) -> u64 {
    let log = sipp_log(entries);
    let lines: Vec<u64> = log
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("-----------------------------------------------"))
        .map(|(n, _)| n as u64 + 1)
        .collect();
    lines[i]
}

fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("regwatch-cli-exchanges-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn analyze(name: &str, entries: &[Entry]) -> (Value, String) {
    let p = scratch(name, sipp_log(entries).as_bytes());
    let path = p.to_str().unwrap();
    let o = run(&["analyze", "--json", path]);
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)));
    let t = run(&["analyze", path]);
    (
        v["files"][0].clone(),
        String::from_utf8_lossy(&t.stdout).into_owned(),
    )
}

fn exchanges(f: &Value) -> &Vec<Value> {
    f["exchanges"].as_array().unwrap()
}

#[test]
fn an_unanswered_register_is_diagnosed_with_its_retransmissions() {
    // A REGISTER sent at 0 and again 4 times, never answered; 40 s later
    // (past Timer F) another exchange answered.
    let mut e: Vec<Entry> = Vec::new();
    for at in [0u64, 500, 1500, 3500, 7500] {
        e.push((at, true, register("alice", None, "lost", 1, "lost1", 600)));
    }
    e.extend(exchange(40_000, "alice", "alice", "ok", 200, "OK"));
    let (f, t) = analyze("unanswered.log", &e);
    let ex = exchanges(&f);
    assert_eq!(ex.len(), 2, "{f:#}");
    let u = &ex[0];
    assert_eq!(u["ending"], "unanswered");
    assert_eq!(u["cause"], "registrar_unreachable");
    assert_eq!(u["retransmissions"], 4);
    // Timer F passed inside the capture: nothing about its end.
    assert!(u["capture_ended_after_ms"].is_null(), "{u}");
    assert_eq!(u["end_ms"], 32_000);
    assert_eq!(ex[1]["status"], "healthy");
    assert!(t.contains("registrar_unreachable: no answer"), "{t}");
    assert!(t.contains("4 retransmissions"), "{t}");
    // The timeout is in the registration's timeline, as the engine took it.
    let events: Vec<&str> = f["registrations"][0]["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["event"].as_str().unwrap())
        .collect();
    assert_eq!(events[..2], ["REGISTER sent", "timeout"], "{events:?}");

    // Cut 3 s after the REGISTER: unanswered, and the capture may have
    // ended early; the registration's timeline has no timeout it did not see.
    let (f, t) = analyze("cut.log", &e[..3]);
    let u = &exchanges(&f)[0];
    assert_eq!(u["cause"], "registrar_unreachable", "{u}");
    assert_eq!(u["capture_ended_after_ms"], 1500);
    assert!(t.contains("it may have ended early"), "{t}");
    let n = f["registrations"][0]["timeline"].as_array().unwrap().len();
    assert_eq!(n, 1);
}

#[test]
fn a_client_giving_up_and_interleaved_dialogs_keep_their_causes() {
    // Call a: REGISTER cseq 1 unanswered, cseq 2 a second later (the
    // client gave up on the first), answered 403 with credentials.
    let mut e: Vec<Entry> = vec![(0, true, register("alice", None, "a", 1, "a1", 600))];
    e.push((
        1000,
        true,
        register("alice", Some("alice"), "a", 2, "a2", 600),
    ));
    e.push((1001, false, answer("alice", "a", 2, "a2", 403, "Forbidden")));
    // Calls b and c of the same AOR interleaved: b's challenge, c's
    // challenge, b's credentials (bob: the mismatch), c's credentials
    // (423), then c's answer before b's.
    e.push((2000, true, register("alice", None, "b", 1, "b1", 600)));
    e.push((2001, true, register("alice", None, "c", 1, "c1", 60)));
    e.push((
        2002,
        false,
        answer("alice", "b", 1, "b1", 407, "Proxy Authentication Required"),
    ));
    e.push((
        2003,
        false,
        answer("alice", "c", 1, "c1", 407, "Proxy Authentication Required"),
    ));
    e.push((
        2004,
        true,
        register("alice", Some("bob"), "b", 2, "b2", 600),
    ));
    e.push((
        2005,
        true,
        register("alice", Some("alice"), "c", 2, "c2", 60),
    ));
    e.push((
        2006,
        false,
        answer("alice", "c", 2, "c2", 423, "Interval Too Brief"),
    ));
    e.push((2007, false, answer("alice", "b", 2, "b2", 403, "Forbidden")));
    // The 403 again (a retransmission), and an answer to a REGISTER the
    // capture does not hold.
    e.push((2008, false, answer("alice", "b", 2, "b2", 403, "Forbidden")));
    e.push((2009, false, answer("alice", "zz", 7, "zz", 200, "OK")));
    let (f, _) = analyze("interleaved.log", &e);
    let ex = exchanges(&f);
    let got: Vec<(&str, &str)> = ex
        .iter()
        .map(|x| {
            (
                x["call_id"].as_str().unwrap(),
                x["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("a", "registrar_unreachable"),
            ("a", "credentials_rejected"),
            ("b", "auth_username_mismatch"),
            ("c", "interval_too_brief"),
        ],
        "{f:#}"
    );
    assert_eq!(ex[0]["ending"], "abandoned");
    assert_eq!(ex[2]["auth_user"], "bob");
    // The repeated 403 and the answer without its REGISTER: left out of
    // the exchanges, each with its reason and line.
    let u = &f["unmatched"];
    assert_eq!(u["count"], 2, "{f:#}");
    let reasons = u["reasons"].as_array().unwrap();
    assert!(
        reasons[0]["reason"].as_str().unwrap().contains("repeated"),
        "{u}"
    );
    assert_eq!(reasons[0]["offsets"][0]["line"], entry_line(&e, 11), "{u}");
    assert!(
        reasons[1]["reason"]
            .as_str()
            .unwrap()
            .contains("not in the capture"),
        "{u}"
    );
    assert_eq!(reasons[1]["offsets"][0]["line"], entry_line(&e, 12), "{u}");
}

#[test]
fn a_lone_mismatch_names_the_authorization_user() {
    let e = exchange(0, "alice", "bob", "m", 403, "Forbidden");
    let (f, t) = analyze("mismatch.log", &e);
    let r = &f["registrations"][0];
    assert_eq!(r["cause"], "auth_username_mismatch", "{f:#}");
    let summary = r["diagnosis"]["summary"].as_str().unwrap();
    assert!(summary.contains("authorization user `bob`"), "{summary}");
    assert!(!t.contains("`?`"), "{t}");
    assert!(t.contains("authorization user `bob`"), "{t}");
}

#[test]
fn what_is_not_sip_is_counted_with_its_line() {
    let mut e = exchange(0, "alice", "alice", "x", 200, "OK");
    e.insert(
        2,
        (
            1,
            false,
            "SIP/2.0 200 OK\r\nVia SIP/2.0/UDP nowhere\r\n\r\n".to_owned(),
        ),
    );
    let (f, t) = analyze("garbage.log", &e);
    assert_eq!(f["messages"], 5);
    let n = &f["not_understood"];
    assert_eq!(n["count"], 1, "{f:#}");
    assert_eq!(
        n["reasons"][0]["offsets"][0]["line"],
        entry_line(&e, 2),
        "{n}"
    );
    assert!(n["reasons"][0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("not a SIP message"));
    assert!(t.contains("not understood: 1 message"), "{t}");
    assert_eq!(exchanges(&f)[0]["status"], "healthy");
}

#[test]
fn a_long_run_is_folded_and_bounded_and_json_keeps_every_exchange() {
    // 300 exchanges alternating two causes: 300 episodes; the text lists
    // 80 of them and says how many are not listed; JSON has all 300.
    let mut e: Vec<Entry> = Vec::new();
    for i in 0..300u64 {
        let (code, reason) = if i % 2 == 0 {
            (403, "Forbidden")
        } else {
            (423, "Interval Too Brief")
        };
        e.extend(exchange(
            i * 10,
            "alice",
            "alice",
            &format!("r{i}"),
            code,
            reason,
        ));
    }
    // Then 15 similar ones: one episode.
    for i in 300..315u64 {
        e.extend(exchange(
            i * 10,
            "alice",
            "alice",
            &format!("r{i}"),
            403,
            "Forbidden",
        ));
    }
    let (f, t) = analyze("long.log", &e);
    assert_eq!(exchanges(&f).len(), 315);
    let x = &f["registrations"][0]["exchanges"];
    assert_eq!(x["count"], 315);
    assert_eq!(x["causes"]["credentials_rejected"], 165);
    assert_eq!(x["causes"]["interval_too_brief"], 150);
    assert!(t.contains("×15 similar"), "{t}");
    // 301 episodes: the first and last 40 listed, 221 (of 221 exchanges)
    // between them counted.
    let listed = t
        .lines()
        .filter(|l| l.contains("): 407 →") || l.contains(": 407 →"))
        .count();
    assert_eq!(listed, 80, "{t}");
    assert!(
        t.contains("221 episodes (221 exchanges) not listed here"),
        "{t}"
    );
    assert!(t.contains("--json lists every exchange"), "{t}");
}
