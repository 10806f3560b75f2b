//! `regwatch analyze` on damaged and hostile captures, as a user runs it:
//! a bad pcap record skipped and the rest read, a truncated pcap read up
//! to where it ends, a pcapng block with a wrong trailer, a trace across
//! midnight, a time stamp that overflows any clock, and control
//! characters from the wire kept off the terminal. Each says what it
//! skipped, in text and in JSON.
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_regwatch");
const EX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/analyze");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
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

/// `analyze --json` of `bytes` written to a file named `name`: the file's
/// object.
fn analyze_json(name: &str, bytes: &[u8]) -> (Value, Output) {
    let path = scratch(name, bytes);
    let o = run(&["analyze", "--json", path.to_str().unwrap()]);
    let v: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    (v["files"][0].clone(), o)
}

fn analyze_text(name: &str, bytes: &[u8]) -> Output {
    let path = scratch(name, bytes);
    run(&["analyze", path.to_str().unwrap()])
}

fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("regwatch-cli-analyze-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn events(file: &Value) -> Vec<String> {
    file["registrations"][0]["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect()
}

fn at_ms(file: &Value) -> Vec<u64> {
    file["registrations"][0]["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["at_ms"].as_u64().unwrap())
        .collect()
}

fn note<'a>(file: &'a Value, code: &str) -> Option<&'a Value> {
    file["notes"].as_array()?.iter().find(|n| n["code"] == code)
}

/// The classic pcap shipped: (offset, length) of each record (OPTIONS,
/// its 200, REGISTER, 407, REGISTER with credentials, 403).
fn pcap_records(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut p = 24;
    while p + 16 <= b.len() {
        let incl = u32::from_le_bytes(b[p + 8..p + 12].try_into().unwrap()) as usize;
        out.push((p, 16 + incl));
        p += 16 + incl;
    }
    out
}

fn shipped(name: &str) -> Vec<u8> {
    std::fs::read(format!("{EX}/{name}")).unwrap()
}

#[test]
fn a_bad_pcap_record_is_skipped_and_the_rest_read() {
    let good = shipped("register-403.pcap");
    let recs = pcap_records(&good);
    assert_eq!(recs.len(), 6);

    // The OPTIONS answer's header claims 16 MiB: that record cannot be
    // trusted; the reader finds the REGISTER after it.
    let mut bad = good.clone();
    let (p, _) = recs[1];
    bad[p + 8..p + 12].copy_from_slice(&(16u32 << 20).to_le_bytes());
    let (f, o) = analyze_json("bad-header.pcap", &bad);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(f["messages"], 4);
    assert_eq!(f["registrations"][0]["cause"], "credentials_rejected");
    let n = note(&f, "pcap.bad_record").unwrap_or_else(|| panic!("{f}"));
    assert_eq!(n["count"], 1);
    assert!(
        n["text"].as_str().unwrap().contains("longer than 256 KiB"),
        "{n}"
    );

    // 40 bytes of garbage between the 407 and the REGISTER that answers
    // it: every SIP message is still there.
    let (p, _) = recs[4];
    let mut bad = good[..p].to_vec();
    bad.extend_from_slice(&[0xff; 40]);
    bad.extend_from_slice(&good[p..]);
    let (f, _) = analyze_json("garbage.pcap", &bad);
    assert_eq!(f["messages"], 4);
    assert_eq!(
        events(&f),
        ["REGISTER sent", "response", "REGISTER sent", "response"]
    );
    assert_eq!(f["registrations"][0]["cause"], "credentials_rejected");
    let n = note(&f, "pcap.bad_record").unwrap_or_else(|| panic!("{f}"));
    assert_eq!(n["count"], 1);
    assert!(
        n["text"].as_str().unwrap().contains("40 bytes passed over"),
        "{n}"
    );

    // The same in the console text.
    let o = analyze_text("garbage.pcap", &bad);
    let t = text(&o);
    assert!(t.contains("1 bad record skipped"), "{t}");
    assert!(t.contains("alice@acme.sip.twilio.com"), "{t}");
}

/// A pcap is read once when the registering side can be learnt as the
/// REGISTERs come; here the registrar's 407 comes before the REGISTER of
/// the address it answers, so one pass cannot be sure of it and the file
/// is read again in two passes: the 407 still counts (a single pass that
/// did not check would have skipped it: 3 messages).
#[test]
fn a_pcap_one_pass_cannot_place_is_read_in_two() {
    let good = shipped("register-403.pcap");
    let recs = pcap_records(&good);
    let rec = |i: usize| &good[recs[i].0..recs[i].0 + recs[i].1];
    let mut moved = good[..24].to_vec();
    for i in [0, 1, 3, 2, 4, 5] {
        moved.extend_from_slice(rec(i));
    }
    let (f, o) = analyze_json("answer-first.pcap", &moved);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(f["messages"], 4, "{f}");
    assert_eq!(f["observed"], 4, "{f}");
    // In order, the same capture is read in one pass, with the same count.
    let (f, _) = analyze_json("in-order.pcap", &good);
    assert_eq!(f["messages"], 4, "{f}");
}

#[test]
fn a_truncated_pcap_gives_what_it_holds() {
    let good = shipped("register-403.pcap");
    let recs = pcap_records(&good);
    // Cut inside the 403.
    let (p, len) = recs[5];
    let cut = &good[..p + len / 2];
    let (f, o) = analyze_json("truncated.pcap", cut);
    assert_ne!(
        o.status.code(),
        Some(2),
        "a truncated file is read: {}",
        text(&o)
    );
    assert_eq!(f["messages"], 3);
    assert_eq!(events(&f), ["REGISTER sent", "response", "REGISTER sent"]);
    let n = note(&f, "pcap.truncated").unwrap_or_else(|| panic!("{f}"));
    let t = n["text"].as_str().unwrap();
    assert!(
        t.contains(&format!("({} of its {len} bytes)", len / 2)),
        "{t}"
    );
    assert!(t.contains("the 5 frames before it were read"), "{t}");

    let o = analyze_text("truncated.pcap", cut);
    assert!(text(&o).contains("the file is truncated"), "{}", text(&o));

    // Cut inside a record header, and right after the file header.
    let (f, _) = analyze_json("truncated-header.pcap", &good[..p + 7]);
    assert_eq!(f["messages"], 3);
    assert!(note(&f, "pcap.truncated").is_some(), "{f}");
    let (f, o) = analyze_json("only-header.pcap", &good[..24]);
    assert_eq!(f["messages"], 0, "{}", text(&o));
    assert!(f["notes"].is_null(), "{f}");
}

#[test]
fn a_pcapng_block_with_a_wrong_trailer_is_skipped() {
    let good = shipped("register-403.pcapng");
    // Blocks: SHB (28), IDB (20), then six EPBs; the second EPB (the
    // OPTIONS answer) starts at 460 and is 404 bytes long.
    let (p, len) = (460usize, 404usize);
    assert_eq!(
        u32::from_le_bytes(good[p + 4..p + 8].try_into().unwrap()) as usize,
        len
    );
    let mut bad = good.clone();
    bad[p + len - 4..p + len].copy_from_slice(&999u32.to_le_bytes());
    let (f, o) = analyze_json("bad-trailer.pcapng", &bad);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(f["messages"], 4);
    assert_eq!(f["registrations"][0]["cause"], "credentials_rejected");
    assert_eq!(note(&f, "pcap.bad_record").unwrap()["count"], 1);

    // The same capture as the pcap: the same times (pcapng time stamps are
    // in the interface's resolution, microseconds by default).
    let (ng, _) = analyze_json("good.pcapng", &good);
    let (classic, _) = analyze_json("good.pcap", &shipped("register-403.pcap"));
    assert_eq!(at_ms(&ng), at_ms(&classic));
}

/// The SIPp log shipped, its four time stamps replaced.
fn sipp_with_times(times: [&str; 4]) -> Vec<u8> {
    let log = String::from_utf8(shipped("sipp-register-ok.log")).unwrap();
    let mut out = String::new();
    let mut i = 0;
    for line in log.split_inclusive('\n') {
        if line.starts_with("----------------------------------------------- 2026-11-24 ") {
            out.push_str(&format!(
                "----------------------------------------------- 2026-11-24 {}\n",
                times[i]
            ));
            i += 1;
        } else {
            out.push_str(line);
        }
    }
    assert_eq!(i, 4);
    out.into_bytes()
}

#[test]
fn a_trace_across_midnight_keeps_its_order() {
    let log = sipp_with_times([
        "23:59:59.990000",
        "23:59:59.995000",
        "00:00:00.002000",
        "00:00:00.010000",
    ]);
    let (f, o) = analyze_json("midnight.log", &log);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(at_ms(&f), [0, 5, 12, 20]);
    assert_eq!(f["registrations"][0]["cause"], "healthy");
    assert_eq!(note(&f, "time.midnight").unwrap()["count"], 1);
    let o = analyze_text("midnight.log", &log);
    assert!(text(&o).contains("crosses midnight"), "{}", text(&o));
    assert!(
        text(&o).contains("    0.020 s  response 200"),
        "{}",
        text(&o)
    );
}

#[test]
fn an_impossible_time_is_counted_not_trusted() {
    // Hours that overflow any clock, and a 25th hour.
    let log = sipp_with_times([
        "20:04:31.219438",
        "18446744073709551615:00:00.0",
        "25:00:00.000000",
        "20:04:31.220128",
    ]);
    let (f, o) = analyze_json("overflow.log", &log);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Each bad stamp takes the time of the message before it.
    assert_eq!(at_ms(&f), [0, 0, 0, 1]);
    assert_eq!(note(&f, "time.invalid").unwrap()["count"], 2);

    // The same in a FreeSWITCH trace.
    let fs = String::from_utf8(shipped("freeswitch-siptrace.txt"))
        .unwrap()
        .replace("at 20:04:31.328619:", "at 99999999999999999999:99:99.9:");
    let (f, o) = analyze_json("overflow-fs.txt", fs.as_bytes());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(f["messages"], 4);
    assert_eq!(note(&f, "time.invalid").unwrap()["count"], 1);
    let o = analyze_text("overflow-fs.txt", fs.as_bytes());
    assert!(
        text(&o).contains("1 time stamp is not a time of day"),
        "{}",
        text(&o)
    );
}

#[test]
fn control_characters_from_the_wire_stay_off_the_terminal() {
    let log = String::from_utf8(shipped("sipp-register-ok.log"))
        .unwrap()
        .replace(
            "SIP/2.0 200 OK",
            "SIP/2.0 480 Temporarily\x1b[2J\x1b]0;owned\x07\u{9b}31m Unavailable",
        )
        .replace("Server: Twilio", "Server: Evil\x1b[31m");
    let o = analyze_text("escapes.log", log.as_bytes());
    let t = text(&o);
    // The reason phrase is shown, without what a terminal would act on.
    assert!(t.contains("Temporarily[2J]0;owned31m Unavailable"), "{t}");
    for c in ['\x1b', '\x07', '\u{9b}'] {
        assert!(!t.contains(c), "{c:?} reached the terminal:\n{t:?}");
    }
    // JSON escapes them, as before.
    let (f, _) = analyze_json("escapes.log", log.as_bytes());
    assert!(f.to_string().contains("\\u001b"), "{f}");
}
