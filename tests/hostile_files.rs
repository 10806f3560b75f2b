//! `regwatch lint` on hostile configuration files: include cycles,
//! `/dev/zero`, a FIFO, an include explosion, includes too deep, wildcards,
//! `#tryinclude`, a FreePBX pjsip.conf made of `#include` lines only, 100k
//! sections and a 200 MB input. Each run of the real binary is watched: it
//! must end (a FIFO must not make it hang), its peak memory is read from
//! the kernel (`wait4` rusage), and the note that says what was skipped
//! must be there, in text and in JSON, with the right exit status.
#![cfg(feature = "cli")]

use serde_json::Value;
use std::io::Read;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_regwatch");

/// A scratch directory, removed at the end.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d =
            std::env::temp_dir().join(format!("regwatch-hostile-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_owned()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// Peak resident memory of the process, bytes.
    max_rss: u64,
}

impl Run {
    fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
}

fn regwatch(args: &[&str]) -> Run {
    regwatch_fed(args, 0)
}

/// Runs `regwatch` with a watchdog (a process that has not ended after
/// 120 s is killed and the test fails: the point of some cases is that it
/// does not hang), and reads its peak memory. With `feed` > 0, that many
/// bytes of configuration-like lines are written to its standard input
/// (as much as it takes).
// The child is reaped by wait4 below (for its rusage), not by std.
#[allow(clippy::zombie_processes)]
fn regwatch_fed(args: &[&str], feed: usize) -> Run {
    let mut child = Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("REGWATCH_FINGERPRINT_KEY")
        .stdin(if feed > 0 {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let feeder = child.stdin.take().map(|mut stdin| {
        std::thread::spawn(move || {
            let line = b"; a comment line of configuration, again and again\n";
            let mut sent = 0;
            while sent < feed && stdin.write_all(line).is_ok() {
                sent += line.len();
            }
        })
    });
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let start = Instant::now();
    let (status, rusage) = loop {
        let mut status = 0;
        // SAFETY: rusage is plain data the kernel fills; pid is our child,
        // reaped here (std's Child is never waited on).
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == pid {
            break (status, ru);
        }
        assert!(r == 0, "wait4: {}", std::io::Error::last_os_error());
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("regwatch {args:?} still running after 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    if let Some(f) = feeder {
        f.join().unwrap();
    }
    Run {
        code,
        stdout: String::from_utf8_lossy(&t_out.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&t_err.join().unwrap()).into_owned(),
        max_rss: rusage.ru_maxrss as u64 * 1024,
    }
}

/// `lint` in text and in JSON: both exit with `code`, the text names each
/// of `codes`, the JSON lists them among the file's notes. The JSON file.
fn lint(root: &str, code: i32, codes: &[&str]) -> Value {
    let t = regwatch(&["lint", root]);
    assert_eq!(t.code, Some(code), "{}", t.text());
    for c in codes {
        assert!(
            t.stdout.contains(c),
            "{c} missing from the text:\n{}",
            t.text()
        );
    }
    let j = regwatch(&["lint", "--json", root]);
    assert_eq!(j.code, Some(code), "{}", j.text());
    let file = j.json()["files"][0].clone();
    let noted = note_codes(&file);
    for c in codes {
        assert!(noted.contains(&c.to_string()), "{c} missing from {noted:?}");
    }
    assert!(
        t.max_rss < 256 << 20 && j.max_rss < 256 << 20,
        "{} / {}",
        t.max_rss,
        j.max_rss
    );
    file
}

fn note_codes(file: &Value) -> Vec<String> {
    file["notes"]
        .as_array()
        .unwrap_or_else(|| panic!("no notes in {file}"))
        .iter()
        .map(|n| n["code"].as_str().unwrap().to_owned())
        .collect()
}

fn note<'a>(file: &'a Value, code: &str) -> &'a Value {
    file["notes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["code"] == code)
        .unwrap_or_else(|| panic!("no {code} in {file}"))
}

fn trunk_names(file: &Value) -> Vec<String> {
    file["trunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

/// A clean Twilio registration with its auth, named `name`.
fn trunk(name: &str) -> String {
    format!(
        "[{name}]\ntype=registration\ntransport=transport-tls\noutbound_auth={name}-auth\n\
         server_uri=sip:acme.sip.twilio.com:5061\nclient_uri=sip:{name}@acme.sip.twilio.com\n\
         expiration=600\nretry_interval=30\nmax_retries=10000\nforbidden_retry_interval=300\n\
         fatal_retry_interval=300\nauth_rejection_permanent=no\n\n\
         [{name}-auth]\ntype=auth\nusername={name}\npassword=Str0ng-Passw0rd-{name}-9x\n\n"
    )
}

const TLS: &str = "[transport-tls]\ntype=transport\nprotocol=tls\n\n";

#[test]
fn a_cycle_and_a_self_include_are_cut_with_an_error() {
    let d = Dir::new("cycle");
    let a = d.write("a.conf", &format!("{TLS}{}#include b.conf\n", trunk("one")));
    d.write("b.conf", &format!("{}#include a.conf\n", trunk("two")));
    let f = lint(a.to_str().unwrap(), 1, &["asterisk.include_cycle"]);
    assert_eq!(trunk_names(&f), ["one", "two"]);
    let n = note(&f, "asterisk.include_cycle");
    assert_eq!(n["severity"], "error");
    assert!(n["message"].as_str().unwrap().contains("b.conf:"), "{n}");

    let s = d.write(
        "self.conf",
        &format!("{TLS}{}#include self.conf\n", trunk("solo")),
    );
    let f = lint(s.to_str().unwrap(), 1, &["asterisk.include_cycle"]);
    assert_eq!(trunk_names(&f), ["solo"]);
}

#[test]
fn a_diamond_is_no_cycle() {
    // a includes b and c; both include the same settings fragment.
    let d = Dir::new("diamond");
    let a = d.write(
        "a.conf",
        &format!("{TLS}#include b.conf\n#include c.conf\n"),
    );
    d.write(
        "b.conf",
        &format!("{}[b](+)\n#include common.conf\n", trunk("b")),
    );
    d.write(
        "c.conf",
        &format!("{}[c](+)\n#include common.conf\n", trunk("c")),
    );
    d.write("common.conf", "expiration=900\n");
    let f = lint(a.to_str().unwrap(), 0, &["asterisk.include_repeated"]);
    assert!(!note_codes(&f).contains(&"asterisk.include_cycle".to_owned()));
    assert_eq!(trunk_names(&f), ["b", "c"]);
    let inv = regwatch(&["lint", "--inventory", "--json", a.to_str().unwrap()]);
    for row in inv.json()["trunks"].as_array().unwrap() {
        assert_eq!(row["expires"], 900, "{row}");
    }
}

#[test]
fn dev_zero_and_a_fifo_are_not_opened() {
    let d = Dir::new("special");
    let fifo = d.path("pipe.conf");
    let c = std::ffi::CString::new(fifo.clone()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let a = d.write(
        "pjsip.conf",
        &format!(
            "{TLS}{}#include /dev/zero\n#include pipe.conf\n",
            trunk("t")
        ),
    );
    let f = lint(
        a.to_str().unwrap(),
        1,
        &["asterisk.include_not_regular", "asterisk.include_absolute"],
    );
    let msgs: Vec<&str> = f["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["code"] == "asterisk.include_not_regular")
        .map(|n| n["message"].as_str().unwrap())
        .collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(
        msgs[0].contains("character device") && msgs[1].contains("FIFO"),
        "{msgs:?}"
    );
    assert_eq!(trunk_names(&f), ["t"]);
    // Named on the command line: a device is refused, unread.
    let r = regwatch(&["lint", "/dev/zero"]);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("character device"), "{}", r.text());
}

#[test]
fn eight_tiny_files_including_each_other_hit_the_budget() {
    let d = Dir::new("explosion");
    let body: String = (0..8)
        .flat_map(|j| std::iter::repeat_n(format!("#include f{j}.conf\n"), 8))
        .collect();
    for i in 0..8 {
        d.write(&format!("f{i}.conf"), &format!("[s{i}]\nk=v\n{body}"));
    }
    let t = Instant::now();
    let f = lint(
        &d.path("f0.conf"),
        1,
        &["asterisk.include_limit", "asterisk.include_cycle"],
    );
    let n = note(&f, "asterisk.include_limit");
    assert_eq!(n["severity"], "error");
    assert!(
        n["message"]
            .as_str()
            .unwrap()
            .contains("more than 1000 files"),
        "{n}"
    );
    assert!(f["notes"].as_array().unwrap().len() <= 52);
    eprintln!("8 files x 64 includes: {:?} for text and JSON", t.elapsed());
}

#[test]
fn includes_deeper_than_asterisk_follows() {
    let d = Dir::new("deep");
    d.write("l0.conf", &format!("{TLS}#include l1.conf\n"));
    for i in 1..14 {
        d.write(
            &format!("l{i}.conf"),
            &format!("{}#include l{}.conf\n", trunk(&format!("level{i}")), i + 1),
        );
    }
    let f = lint(&d.path("l0.conf"), 1, &["asterisk.include_too_deep"]);
    let names = trunk_names(&f);
    assert_eq!(names.len(), 10, "{names:?}");
    assert_eq!(names.last().unwrap(), "level10");
    assert!(note(&f, "asterisk.include_too_deep")["message"]
        .as_str()
        .unwrap()
        .contains("include level 11"));
}

#[test]
fn wildcards_braces_and_quotes() {
    let d = Dir::new("glob");
    let a = d.write(
        "pjsip.conf",
        &format!("{TLS}#include \"pjsip.d/*.conf\"\n#include <{{x,y}}.inc>\n"),
    );
    d.write("pjsip.d/b.conf", &trunk("b"));
    d.write("pjsip.d/a.conf", &trunk("a"));
    d.write("pjsip.d/.hidden.conf", &trunk("hidden"));
    d.write("pjsip.d/c.txt", &trunk("txt"));
    d.write("x.inc", &trunk("x"));
    let f = lint(a.to_str().unwrap(), 0, &["asterisk.include_missing"]);
    assert_eq!(trunk_names(&f), ["a", "b", "x"]);
    // y.inc is missing: skipped (x.inc was read), an information note.
    assert_eq!(note(&f, "asterisk.include_missing")["severity"], "info");

    // A wildcard that matches nothing, with #include: Asterisk refuses the file.
    let e = d.write(
        "empty.conf",
        &format!("{}#include none.d/*.conf\n", trunk("e")),
    );
    let f = lint(e.to_str().unwrap(), 1, &["asterisk.include_missing"]);
    let n = note(&f, "asterisk.include_missing");
    assert_eq!(n["severity"], "error");
    assert!(n["message"].as_str().unwrap().contains("refuses"), "{n}");
}

#[test]
fn tryinclude_of_a_missing_file_is_information() {
    let d = Dir::new("try");
    let a = d.write(
        "pjsip.conf",
        &format!("{TLS}{}#tryinclude pjsip_local.conf\n", trunk("t")),
    );
    let f = lint(a.to_str().unwrap(), 0, &["asterisk.include_missing"]);
    assert_eq!(note(&f, "asterisk.include_missing")["severity"], "info");
    assert_eq!(trunk_names(&f), ["t"]);
}

#[test]
fn freepbx_include_only_pjsip_conf_is_a_pjsip_conf() {
    let d = Dir::new("freepbx");
    let a = d.write(
        "pjsip.conf",
        ";--------------------------------------------------------------------------------;\n\
         ; Do NOT edit this file as it is auto-generated by FreePBX.                      ;\n\
         ;--------------------------------------------------------------------------------;\n\
         #include pjsip_custom.conf\n#include pjsip.transports.conf\n\
         #include pjsip.registration.conf\n#include pjsip.auth.conf\n\
         #tryinclude pjsip.endpoint_custom_post.conf\n",
    );
    d.write("pjsip_custom.conf", "");
    d.write("pjsip.transports.conf", TLS);
    d.write(
        "pjsip.registration.conf",
        "[twilio]\ntype=registration\ntransport=transport-tls\noutbound_auth=twilio\n\
         server_uri=sip:acme.sip.twilio.com:5061\nclient_uri=sip:office@acme.sip.twilio.com\n\
         expiration=600\n",
    );
    d.write(
        "pjsip.auth.conf",
        "[twilio]\ntype=auth\nusername=office\npassword=Str0ng-Passw0rd-Office-9x\n",
    );
    let r = regwatch(&["lint", "--json", a.to_str().unwrap()]);
    assert_eq!(r.code, Some(0), "{}", r.text());
    let f = &r.json()["files"][0];
    assert_eq!(f["kind"], "asterisk_pjsip");
    assert_eq!(trunk_names(f), ["twilio"]);
    assert!(!r.text().contains("Str0ng-Passw0rd"));
    // Include lines with nothing to include are still a pjsip.conf.
    let only = d.write("only.conf", "#tryinclude nothing-here.conf\n");
    let f = lint(only.to_str().unwrap(), 0, &["asterisk.include_missing"]);
    assert_eq!(f["kind"], "asterisk_pjsip");
}

/// 100k sections (50k registrations with their auths): it finishes, in
/// bounded memory. The time is reported, not asserted.
#[test]
fn one_hundred_thousand_sections() {
    let d = Dir::new("100k");
    let mut text = String::from(TLS);
    for i in 0..49_999 {
        text.push_str(&format!(
            "[t{i}]\ntype=registration\ntransport=transport-tls\noutbound_auth=t{i}-auth\n\
             server_uri=sip:acme{i}.sip.twilio.com\nclient_uri=sip:u{i}@acme{i}.sip.twilio.com\n\
             expiration=600\n\n[t{i}-auth]\ntype=auth\nusername=u{i}\npassword=Str0ng-Passw0rd-{i}x\n\n"
        ));
    }
    let p = d.write("pjsip.conf", &text);
    drop(text);
    let t = Instant::now();
    let r = regwatch(&["lint", "--json", p.to_str().unwrap()]);
    assert_eq!(r.code, Some(0), "{}", &r.stderr);
    let took = t.elapsed();
    let v = r.json();
    assert_eq!(v["files"][0]["trunks"].as_array().unwrap().len(), 49_999);
    eprintln!(
        "100k sections: {took:?}, peak RSS {} MiB, {} bytes of JSON",
        r.max_rss >> 20,
        r.stdout.len()
    );
    assert!(r.max_rss < 1 << 30, "peak RSS {} MiB", r.max_rss >> 20);
}

#[test]
fn a_200_mb_input_is_refused_unread() {
    let d = Dir::new("big");
    let p = d.0.join("huge.conf");
    let f = std::fs::File::create(&p).unwrap();
    f.set_len(200 << 20).unwrap(); // sparse: nothing written
    let r = regwatch(&["lint", p.to_str().unwrap()]);
    assert_eq!(r.code, Some(2), "{}", r.text());
    assert!(r.stderr.contains("more than the 32 MiB"), "{}", r.text());
    assert!(r.max_rss < 64 << 20, "peak RSS {} MiB", r.max_rss >> 20);
    // Through a pipe the size is not known beforehand: read up to the cap,
    // then refused.
    let r = regwatch_fed(&["lint", "/dev/stdin"], 200 << 20);
    assert_eq!(r.code, Some(2), "{}", r.text());
    assert!(
        r.stderr.contains("more than 32 MiB of input"),
        "{}",
        r.text()
    );
    assert!(r.max_rss < 256 << 20, "peak RSS {} MiB", r.max_rss >> 20);
    // A character device named on the command line is not read at all.
    let r = regwatch(&["lint", "/dev/zero"]);
    assert_eq!(r.code, Some(2), "{}", r.text());
}

#[test]
fn a_missing_include_is_an_error_that_names_the_config_dir() {
    let d = Dir::new("missing");
    let a = d.write(
        "pjsip.conf",
        &format!("{TLS}{}#include sub/a.conf\n", trunk("t")),
    );
    // sub/a.conf includes b.conf, which sits beside it: Asterisk looks in
    // the configuration directory, not there.
    d.write("sub/a.conf", "#include b.conf\n");
    d.write("sub/b.conf", &trunk("beside"));
    let f = lint(a.to_str().unwrap(), 1, &["asterisk.include_missing"]);
    let m = note(&f, "asterisk.include_missing")["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        m.contains("configuration directory") && m.contains("sub/b.conf exists"),
        "{m}"
    );
    assert_eq!(trunk_names(&f), ["t"]);
    // With --config-dir pointing at sub/, b.conf is found (and sub/a.conf is not).
    let r = regwatch(&[
        "lint",
        "--json",
        "--config-dir",
        &d.path("sub"),
        &d.path("sub/a.conf"),
    ]);
    assert_eq!(r.code, Some(0), "{}", r.text());
    assert_eq!(trunk_names(&r.json()["files"][0]), ["beside"]);
}
