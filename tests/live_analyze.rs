//! `regwatch analyze` on a capture made here: SIPp, sipsak and baresip
//! register against the project's Twilio-like Kamailio on loopback (right
//! and wrong passwords, an authorization user that differs from the AOR,
//! 423s, `Expires: 0`, a REGISTER to a port that never answers, several
//! AORs, more than 32 events for one AOR), tcpdump records it on `lo`
//! (pcap), the test writes the same packets as pcapng, and SIPp keeps its
//! own message log. All three forms go through `analyze --json`: every
//! failed exchange is there with the cause the registrar's own log gives
//! it, the mismatch names its authorization user, the unanswered REGISTER
//! is diagnosed, and no message is left out without a reason.
//!
//! Needs kamailio, sipp, sipsak, baresip and tcpdump (with the right to
//! capture on `lo`); a missing one makes the test print "skipped: ..."
//! unless REGWATCH_REQUIRE_PEERS=1.
mod support;

use serde_json::Value;
use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::registrar::{self, Registrar, DOMAIN, GENERIC_DOMAIN, USERS};

const BIN: &str = env!("CARGO_BIN_EXE_regwatch");

fn password(user: &str) -> &'static str {
    USERS.iter().find(|(u, _)| *u == user).unwrap().1
}

/// Whether every peer is here (see the module docs).
fn peers() -> bool {
    if !registrar::available() {
        return false;
    }
    for (bin, pkg) in [
        ("/usr/bin/sipp", "sip-tester"),
        ("/usr/bin/sipsak", "sipsak"),
        ("/usr/bin/baresip", "baresip-core"),
        ("/usr/bin/tcpdump", "tcpdump"),
    ] {
        if !Path::new(bin).exists() {
            let why = format!("{bin} is not installed (scripts/install-deps.sh installs {pkg})");
            if std::env::var("REGWATCH_REQUIRE_PEERS").as_deref() == Ok("1") {
                panic!("{why}");
            }
            eprintln!("skipped: {why}");
            return false;
        }
    }
    true
}

/// tcpdump on `lo`, stopped (SIGINT, by its pid) when dropped.
struct Capture {
    child: Child,
    err: PathBuf,
    file: PathBuf,
    /// A port the filter takes, for the markers.
    port: u16,
}

impl Capture {
    /// `None` (said) when tcpdump may not capture here.
    fn start(file: &Path, filter: &str, port: u16) -> Option<Capture> {
        let err = file.with_extension("tcpdump.log");
        let child = Command::new("tcpdump")
            .args(["-i", "lo", "-U", "-n", "-s", "0", "-w"])
            .arg(file)
            .arg(filter)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .expect("tcpdump runs");
        let mut c = Capture {
            child,
            err,
            file: file.to_path_buf(),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = std::fs::read_to_string(&c.err).unwrap_or_default();
            if log.contains("listening on") {
                c.mark(b"regwatch-capture-start");
                return Some(c);
            }
            if let Ok(Some(_)) = c.child.try_wait() {
                let why = format!("tcpdump cannot capture on lo: {}", log.trim());
                if std::env::var("REGWATCH_REQUIRE_PEERS").as_deref() == Ok("1") {
                    panic!("{why}");
                }
                eprintln!("skipped: {why}");
                return None;
            }
            assert!(Instant::now() < deadline, "tcpdump did not start: {log}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends a datagram to the capture and waits until tcpdump has written
    /// it: everything sent before it is in the file (tcpdump -U writes
    /// each packet as it takes it).
    fn mark(&self, what: &[u8]) {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            s.send_to(what, ("127.0.0.1", self.port)).unwrap();
            std::thread::sleep(Duration::from_millis(100));
            let got = std::fs::read(&self.file).unwrap_or_default();
            if got.windows(what.len()).any(|w| w == what) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "tcpdump does not write what it sees"
            );
        }
    }

    fn stop(mut self) {
        self.mark(b"regwatch-capture-end");
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let _ = &self.err;
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One SIPp run of tests/sipp/register.xml: `lines` of (user, expires)
/// registered one after another with the digest user `auth` and its
/// password `pw`; SIPp's message log appended to `log`.
fn sipp(port: u16, dir: &Path, auth: &str, pw: &str, lines: &[(&str, u32)], log: &Path) {
    let inf = dir.join("inf.csv");
    let mut s = String::from("SEQUENTIAL\n");
    for (user, expires) in lines {
        s.push_str(&format!("{DOMAIN};{user};{expires}\n"));
    }
    std::fs::write(&inf, s).unwrap();
    let one = dir.join("sipp-one.log");
    let _ = std::fs::remove_file(&one);
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/register.xml");
    let o = Command::new("sipp")
        .arg(format!("127.0.0.1:{port}"))
        .arg("-sf")
        .arg(&scenario)
        .arg("-inf")
        .arg(&inf)
        .args(["-au", auth, "-ap", pw])
        .args(["-m", &lines.len().to_string(), "-l", "1", "-r", "50"])
        .args(["-i", "127.0.0.1", "-p", "0", "-nostdin", "-timeout", "10"])
        .args(["-trace_msg", "-message_file"])
        .arg(&one)
        .current_dir(dir)
        .output()
        .expect("sipp runs");
    assert!(
        o.status.success(),
        "sipp: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let mut all = std::fs::read(log).unwrap_or_default();
    all.extend(std::fs::read(&one).unwrap());
    std::fs::write(log, all).unwrap();
}

/// sipsak sends `REGISTER sip:{domain}` for `aor`'s user to 127.0.0.1:port
/// (a message file: sipsak would resolve the domain otherwise), answering
/// the challenge as `auth` (None: as sipsak derives it from the target,
/// `user@`) with `pw`.
#[allow(clippy::too_many_arguments)]
fn sipsak(
    dir: &Path,
    port: u16,
    domain: &str,
    user: &str,
    auth: Option<&str>,
    pw: &str,
    call_id: &str,
    extra: &[&str],
) {
    let msg = format!(
        "REGISTER sip:{domain} SIP/2.0\r\nFrom: <sip:{user}@{domain}>;tag={call_id}\r\n\
         To: <sip:{user}@{domain}>\r\nCall-ID: {call_id}@127.0.0.1\r\nCSeq: 1 REGISTER\r\n\
         Contact: <sip:{user}@127.0.0.1:5099>\r\nExpires: 600\r\nMax-Forwards: 70\r\n\
         User-Agent: sipsak\r\nContent-Length: 0\r\n\r\n"
    );
    let file = dir.join(format!("{call_id}.sip"));
    std::fs::write(&file, msg).unwrap();
    let mut c = Command::new("sipsak");
    c.arg("-f")
        .arg(&file)
        .arg("-s")
        .arg(format!("sip:{user}@127.0.0.1:{port}"))
        .args(["-a", pw])
        .args(extra);
    if let Some(a) = auth {
        c.arg(format!("--auth-username={a}"));
    }
    let o = c.output().expect("sipsak runs");
    // sipsak's exit status says what the registrar answered; the capture
    // is what counts here.
    let _ = o;
}

/// baresip, headless, registering `user` with `pw` to the registrar for
/// `secs` seconds (it unregisters as it quits).
fn baresip(dir: &Path, port: u16, user: &str, pw: &str, secs: u32) {
    let conf = dir.join(format!("baresip-{user}-{pw_len}", pw_len = pw.len()));
    std::fs::create_dir_all(&conf).unwrap();
    let listen = registrar::free_port();
    std::fs::write(
        conf.join("config"),
        format!(
            "sip_listen\t\t127.0.0.1:{listen}\nsip_transports\t\tudp\n\
             audio_player\t\tnil\naudio_source\t\tnil\naudio_alert\t\tnil\n\
             module_path\t\t/usr/lib/baresip/modules\nmodule_app\t\taccount.so\n"
        ),
    )
    .unwrap();
    std::fs::write(
        conf.join("accounts"),
        format!(
            "<sip:{user}@{DOMAIN}>;auth_pass={pw};outbound=\"sip:127.0.0.1:{port}\";regint=600\n"
        ),
    )
    .unwrap();
    let mut child = Command::new("baresip")
        .arg("-f")
        .arg(&conf)
        .args(["-t", &secs.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("baresip runs");
    let deadline = Instant::now() + Duration::from_secs(u64::from(secs) + 10);
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if Instant::now() > deadline {
            // Stopped by its pid.
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_dir_all(&conf);
}

/// A pcap (microsecond, little- or big-endian) rewritten as pcapng: a
/// section header, one interface with the pcap's link type, an enhanced
/// packet block per record.
fn pcap_to_pcapng(pcap: &[u8]) -> Vec<u8> {
    let le = match &pcap[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] => false,
        m => panic!("not a microsecond pcap: {m:?}"),
    };
    let u32_at = |b: &[u8], i: usize| {
        let x = [b[i], b[i + 1], b[i + 2], b[i + 3]];
        if le {
            u32::from_le_bytes(x)
        } else {
            u32::from_be_bytes(x)
        }
    };
    let linktype = u32_at(pcap, 20);
    let mut out = Vec::new();
    let block = |out: &mut Vec<u8>, kind: u32, body: &[u8]| {
        let pad = (4 - body.len() % 4) % 4;
        let len = (12 + body.len() + pad) as u32;
        out.extend(kind.to_le_bytes());
        out.extend(len.to_le_bytes());
        out.extend(body);
        out.extend(std::iter::repeat_n(0u8, pad));
        out.extend(len.to_le_bytes());
    };
    let mut shb = Vec::new();
    shb.extend(0x1a2b_3c4du32.to_le_bytes());
    shb.extend(1u16.to_le_bytes());
    shb.extend(0u16.to_le_bytes());
    shb.extend((-1i64).to_le_bytes());
    block(&mut out, 0x0a0d_0d0a, &shb);
    let mut idb = Vec::new();
    idb.extend((linktype as u16).to_le_bytes());
    idb.extend(0u16.to_le_bytes());
    idb.extend(262_144u32.to_le_bytes());
    block(&mut out, 1, &idb);
    let mut i = 24;
    while i + 16 <= pcap.len() {
        let (sec, usec, incl, orig) = (
            u64::from(u32_at(pcap, i)),
            u64::from(u32_at(pcap, i + 4)),
            u32_at(pcap, i + 8) as usize,
            u32_at(pcap, i + 12),
        );
        let data = &pcap[i + 16..(i + 16 + incl).min(pcap.len())];
        let ts = sec * 1_000_000 + usec;
        let mut epb = Vec::new();
        epb.extend(0u32.to_le_bytes());
        epb.extend(((ts >> 32) as u32).to_le_bytes());
        epb.extend((ts as u32).to_le_bytes());
        epb.extend((data.len() as u32).to_le_bytes());
        epb.extend(orig.to_le_bytes());
        epb.extend(data);
        let pad = (4 - data.len() % 4) % 4;
        epb.extend(std::iter::repeat_n(0u8, pad));
        block(&mut out, 6, &epb);
        i += 16 + incl;
    }
    out
}

fn analyze(path: &Path) -> Value {
    let o = Command::new(BIN)
        .args(["analyze", "--json"])
        .arg(path)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "failures found: exit 1\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["files"][0].clone()
}

fn text(path: &Path) -> String {
    let o = Command::new(BIN).arg("analyze").arg(path).output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// (AOR, status) → how many exchanges, of the failed ones.
fn failed(f: &Value) -> BTreeMap<(String, String), u64> {
    let mut m = BTreeMap::new();
    for e in f["exchanges"].as_array().unwrap() {
        if e["failed"] == true {
            let k = (
                e["aor"].as_str().unwrap().to_owned(),
                e["status"].as_str().unwrap().to_owned(),
            );
            *m.entry(k).or_insert(0) += 1;
        }
    }
    m
}

fn key(aor: &str, status: &str) -> (String, String) {
    (aor.to_owned(), status.to_owned())
}

/// Every message is part of an exchange, counted as about something
/// else, or left out with a reason: none silently.
fn accounted(f: &Value, form: &str) {
    assert_eq!(f["not_understood"]["count"], 0, "{form}: {f:#}");
    let in_exchanges: u64 = f["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let n = |k: &str| e[k].as_u64().unwrap_or(0);
            // Each REGISTER and its retransmissions, each answer (the
            // challenges, the final one and its retransmissions counted
            // with the REGISTERs'), 1xx.
            n("requests")
                + n("retransmissions")
                + e["challenges"].as_array().unwrap().len() as u64
                + u64::from(e["code"].is_u64() && e["ending"] != "challenge_unanswered")
                + n("provisional")
        })
        .sum();
    let other: u64 = f["other_messages"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    let skipped = f["not_understood"]["count"].as_u64().unwrap();
    let unmatched = f["unmatched"]["count"].as_u64().unwrap();
    assert_eq!(
        in_exchanges + other + skipped + unmatched,
        f["messages"].as_u64().unwrap(),
        "{form}: every message accounted for: {f:#}"
    );
}

#[test]
fn analyze_reports_every_exchange_of_a_live_capture() {
    if !peers() {
        return;
    }
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!("regwatch-live-analyze-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let reg = Registrar::start(false);
    // A port that takes REGISTERs and never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead = silent.local_addr().unwrap().port();
    let pcap = dir.join("capture.pcap");
    let filter = format!("udp and (port {} or port {dead})", reg.port);
    let Some(cap) = Capture::start(&pcap, &filter, dead) else {
        return;
    };
    let sipp_log = dir.join("sipp.log");
    let (alice, bob) = (password("alice"), password("bob"));
    // SIPp, AOR alice: registered, 4 × 423 (60 s asked), 4 × wrong
    // password, 3 × authorization user bob, then Expires: 0.
    sipp(
        reg.port,
        &dir,
        "alice",
        alice,
        &[
            ("alice", 600),
            ("alice", 60),
            ("alice", 60),
            ("alice", 60),
            ("alice", 60),
        ],
        &sipp_log,
    );
    let four = [("alice", 600); 4];
    sipp(
        reg.port,
        &dir,
        "alice",
        "Wrong-Passw0rd-9",
        &four,
        &sipp_log,
    );
    sipp(reg.port, &dir, "bob", bob, &four[..3], &sipp_log);
    // sipsak: bob registered (its own digest user `bob@`), a wrong
    // password, alice's AOR with bob's credentials, and bob at another
    // domain to the port that never answers (T1 50 ms: it gives up
    // within 3.2 s).
    sipsak(&dir, reg.port, DOMAIN, "bob", None, bob, "sipsak-ok", &[]);
    sipsak(
        &dir,
        reg.port,
        DOMAIN,
        "bob",
        Some("bob"),
        "Wrong-1-pass",
        "sipsak-bad",
        &[],
    );
    sipsak(
        &dir,
        reg.port,
        DOMAIN,
        "alice",
        Some("bob"),
        bob,
        "sipsak-mismatch",
        &[],
    );
    sipsak(
        &dir,
        dead,
        GENERIC_DOMAIN,
        "bob",
        Some("bob"),
        bob,
        "sipsak-silent",
        &["--timer-t1=50"],
    );
    // baresip: bob registered and unregistered as it quits; alice with a
    // wrong password.
    baresip(&dir, reg.port, "bob", bob, 3);
    baresip(&dir, reg.port, "alice", "Wrong-Passw0rd-7", 3);
    // SIPp again: alice's Expires: 0.
    sipp(reg.port, &dir, "alice", alice, &[("alice", 0)], &sipp_log);
    cap.stop();
    drop(silent);

    // The registrar's own account of each refusal.
    let log = reg.log();
    let wrong = log.matches("authentication of ").count() as u64;
    let mismatch = log.matches("differs from AOR user").count() as u64;
    assert!(wrong >= 6 && mismatch == 4, "registrar log:\n{log}");

    let pcap_bytes = std::fs::read(&pcap).unwrap();
    let pcapng = dir.join("capture.pcapng");
    std::fs::write(&pcapng, pcap_to_pcapng(&pcap_bytes)).unwrap();

    // REGWATCH_KEEP_CAPTURE=DIR keeps the three forms (to look at them).
    if let Ok(keep) = std::env::var("REGWATCH_KEEP_CAPTURE") {
        std::fs::create_dir_all(&keep).unwrap();
        for p in [&pcap, &pcapng, &sipp_log] {
            std::fs::copy(p, Path::new(&keep).join(p.file_name().unwrap())).unwrap();
        }
    }
    let a = format!("alice@{DOMAIN}");
    let b = format!("bob@{DOMAIN}");
    let silent_aor = format!("bob@{GENERIC_DOMAIN}");
    for path in [&pcap, &pcapng] {
        let t = text(path);
        let form = format!("{}\n{t}", path.display());
        let f = analyze(path);
        accounted(&f, &form);
        let got = failed(&f);
        // Every refusal the registrar made is there, with its cause.
        let rejected: u64 = got
            .iter()
            .filter(|((_, s), _)| s == "credentials_rejected")
            .map(|(_, n)| n)
            .sum();
        assert_eq!(rejected, wrong, "{form}: {got:?}");
        assert_eq!(
            got.get(&key(&a, "auth_username_mismatch")),
            Some(&mismatch),
            "{form}: {got:?}"
        );
        assert_eq!(
            got.get(&key(&a, "interval_too_brief")),
            Some(&4),
            "{form}: {got:?}"
        );
        assert_eq!(
            got.get(&key(&silent_aor, "registrar_unreachable")),
            Some(&1),
            "{form}: {got:?}"
        );
        let known = [
            "credentials_rejected",
            "auth_username_mismatch",
            "interval_too_brief",
            "registrar_unreachable",
        ];
        assert!(
            got.keys().all(|(_, s)| known.contains(&s.as_str())),
            "{form}: a failure nobody caused: {got:?}"
        );
        let ex = f["exchanges"].as_array().unwrap();
        for e in ex {
            if e["status"] == "auth_username_mismatch" {
                assert_eq!(e["auth_user"], "bob", "{form}: {e}");
            }
        }
        // The unanswered REGISTER: retransmitted, the capture's end said.
        let u = ex.iter().find(|e| e["aor"] == silent_aor.as_str()).unwrap();
        assert_eq!(u["ending"], "unanswered", "{u}");
        assert!(u["retransmissions"].as_u64().unwrap() >= 3, "{u}");
        assert!(u["capture_ended_after_ms"].is_u64(), "{u}");
        // Several AORs, and alice's registration has more than 32 events.
        let aors: Vec<&str> = f["registrations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["trunk"].as_str().unwrap())
            .collect();
        for want in [&a, &b, &silent_aor] {
            assert!(aors.contains(&want.as_str()), "{form}: {aors:?}");
        }
        let ra = f["registrations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["trunk"] == a.as_str())
            .unwrap();
        assert!(ra["timeline_note"].is_string(), "{form}: over 32 events");
        assert_eq!(ra["state"], "deregistered", "{form}");
        // Sipsak's `bob@` digest user is bob's: registered.
        let ok = ex
            .iter()
            .find(|e| e["call_id"] == "sipsak-ok@127.0.0.1")
            .unwrap();
        assert_eq!(ok["status"], "healthy", "{ok}");
        assert!(t.contains("×4 similar  interval_too_brief"), "{t}");
        assert!(t.contains("authorization user `bob`"), "{t}");
        assert!(t.contains("it may have ended early"), "{t}");
        assert!(
            !t.contains(alice) && !t.contains(bob),
            "a password in the output"
        );
    }

    // SIPp's own log: its 13 exchanges, exactly.
    let f = analyze(&sipp_log);
    accounted(&f, "sipp");
    let got = failed(&f);
    let want: BTreeMap<_, _> = [
        (key(&a, "credentials_rejected"), 4),
        (key(&a, "auth_username_mismatch"), 3),
        (key(&a, "interval_too_brief"), 4),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
    assert_eq!(f["exchange_count"], 13);
    assert_eq!(f["causes"]["healthy"], 1);
    assert_eq!(f["causes"]["deregistered"], 1);

    drop(reg);
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("live capture analysed in {:?}", started.elapsed());
}
