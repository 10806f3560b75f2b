//! Starts the project's Twilio-like Kamailio registrar
//! (tests/registrar/kamailio.cfg) on loopback for one test, and stops it
//! (by its pid) when dropped.
#![allow(dead_code)]
use std::io::Write;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const DOMAIN: &str = "acme.sip.twilio.com";
pub const GENERIC_DOMAIN: &str = "pbx.example.test";
/// (user, password) pairs the registrar knows.
pub const USERS: &[(&str, &str)] = &[("alice", "Alice-Passw0rd-1"), ("bob", "Bob-Passw0rd-22")];

pub struct Registrar {
    child: Child,
    pub port: u16,
    /// TLS with a certificate for DOMAIN signed by `ca_file` (when started
    /// with TLS).
    pub tls_port: Option<u16>,
    /// TLS with a certificate for another name (wrong.example.net).
    pub wrong_tls_port: Option<u16>,
    /// The test CA (PEM).
    pub ca_file: PathBuf,
    dir: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test CA and two server certificates: one for DOMAIN, one for
/// wrong.example.net, both signed by it.
fn make_certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut a = vec!["req", "-x509"];
    a.extend(ec);
    a.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=regwatch test CA",
    ]);
    openssl(dir, &a);
    for (name, file) in [(DOMAIN, "server"), ("wrong.example.net", "wrong")] {
        let key = format!("{file}.key");
        let csr = format!("{file}.csr");
        let pem = format!("{file}.pem");
        let ext = format!("{file}.ext");
        std::fs::write(dir.join(&ext), format!("subjectAltName=DNS:{name}\n")).unwrap();
        let mut a = vec!["req"];
        a.extend(ec);
        let subj = format!("/CN={name}");
        a.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
        openssl(dir, &a);
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        );
    }
}

/// Whether Kamailio is installed; when it is not, a test prints why it is
/// skipped, unless REGWATCH_REQUIRE_PEERS=1 (set by scripts/test.sh),
/// which makes a missing peer a failure.
pub fn available() -> bool {
    let ok = Path::new("/usr/sbin/kamailio").exists();
    if !ok {
        if std::env::var("REGWATCH_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("kamailio is not installed (scripts/install-deps.sh installs it)");
        }
        eprintln!("skipped: kamailio is not installed (scripts/install-deps.sh installs it)");
    }
    ok
}

/// A port free for both UDP and TCP on 127.0.0.1.
pub fn free_port() -> u16 {
    loop {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let p = u.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}

impl Registrar {
    /// Starts a Twilio-like registrar, or a generic one (401, realm = domain).
    pub fn start(generic: bool) -> Registrar {
        Registrar::start_on(free_port(), generic)
    }

    /// Starts a Twilio-like registrar that also listens for TLS: one port
    /// with a certificate for DOMAIN, one with a certificate for another
    /// name.
    pub fn start_tls() -> Registrar {
        Registrar::launch(free_port(), false, true)
    }

    /// Starts one on a given port (to restart a stopped registrar where
    /// its clients expect it).
    pub fn start_on(port: u16, generic: bool) -> Registrar {
        Registrar::launch(port, generic, false)
    }

    /// Starts a Twilio-like registrar that holds at most `max` bindings
    /// per AOR (more: 503, as a provider's limit answers).
    pub fn start_max_contacts(max: u32) -> Registrar {
        Registrar::launch_with(free_port(), false, false, &[format!("MAX_CONTACTS {max}")])
    }

    fn launch(port: u16, generic: bool, tls: bool) -> Registrar {
        Registrar::launch_with(port, generic, tls, &[])
    }

    fn launch_with(port: u16, generic: bool, tls: bool, defines: &[String]) -> Registrar {
        let dir =
            std::env::temp_dir().join(format!("regwatch-kamailio-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/registrar/kamailio.cfg");
        std::fs::copy(&src, dir.join("kamailio.cfg")).unwrap();
        let mut local = std::fs::File::create(dir.join("local.cfg")).unwrap();
        writeln!(
            local,
            "listen=udp:127.0.0.1:{port}\nlisten=tcp:127.0.0.1:{port}"
        )
        .unwrap();
        if generic {
            writeln!(local, "#!define GENERIC").unwrap();
        }
        writeln!(
            local,
            "#!define CTL_SOCKET \"unix:{}/ctl.sock\"",
            dir.display()
        )
        .unwrap();
        for d in defines {
            writeln!(local, "#!define {d}").unwrap();
        }
        let (mut tls_port, mut wrong_tls_port) = (None, None);
        if tls {
            make_certificates(&dir);
            let (good, wrong) = (free_port(), free_port());
            let d = dir.display();
            writeln!(
                local,
                "enable_tls=yes\nlisten=tls:127.0.0.1:{good}\nlisten=tls:127.0.0.1:{wrong}\n\
                 #!define WITH_TLS\n#!define TLS_CONFIG \"{d}/tls.cfg\""
            )
            .unwrap();
            std::fs::write(
                dir.join("tls.cfg"),
                format!(
                    "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\n\
                     require_certificate = no\nprivate_key = {d}/server.key\n\
                     certificate = {d}/server.pem\n\n\
                     [server:127.0.0.1:{wrong}]\nmethod = TLSv1.2+\nverify_certificate = no\n\
                     require_certificate = no\nprivate_key = {d}/wrong.key\n\
                     certificate = {d}/wrong.pem\n\n\
                     [client:default]\nverify_certificate = no\nrequire_certificate = no\n"
                ),
            )
            .unwrap();
            tls_port = Some(good);
            wrong_tls_port = Some(wrong);
        }
        let mut users = std::fs::File::create(dir.join("users.cfg")).unwrap();
        writeln!(users, "event_route[htable:mod-init] {{").unwrap();
        for (u, p) in USERS {
            writeln!(users, "    $sht(users=>{u}) = \"{p}\";").unwrap();
        }
        writeln!(
            users,
            "    $sht(domains=>{DOMAIN}) = 1;\n    $sht(domains=>{GENERIC_DOMAIN}) = 1;\n}}"
        )
        .unwrap();
        drop((local, users));
        let log = std::fs::File::create(dir.join("kamailio.log")).unwrap();
        let child = Command::new("/usr/sbin/kamailio")
            .args(["-f", "kamailio.cfg", "-DD", "-E", "-w"])
            .arg(&dir)
            .args(["-P", "kamailio.pid", "-m", "64", "-M", "8"])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("kamailio starts");
        let ca_file = dir.join("ca.pem");
        let r = Registrar {
            child,
            port,
            tls_port,
            wrong_tls_port,
            ca_file,
            dir,
        };
        r.wait_ready();
        r
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpListener::bind(("127.0.0.1", self.port)).is_err() {
                // TCP is bound: give the workers a moment, then go.
                std::thread::sleep(Duration::from_millis(200));
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("kamailio did not start; log:\n{}", self.log());
    }

    /// The Contacts the registrar's location table holds for `user` (read
    /// with kamcmd over the control socket, not through any SIP client).
    pub fn bindings(&self, user: &str) -> Vec<String> {
        let out = Command::new("kamcmd")
            .arg("-s")
            .arg(format!("unix:{}/ctl.sock", self.dir.display()))
            .args(["ul.lookup", "location", user])
            .output()
            .expect("kamcmd runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() || text.contains("error") {
            // No AOR at all: "AOR not found" (kamcmd's error 404).
            assert!(
                format!("{text}{err}").contains("not found"),
                "kamcmd ul.lookup {user}: {text}{err}"
            );
            return Vec::new();
        }
        text.lines()
            .filter_map(|l| l.trim().strip_prefix("Address:"))
            .map(|a| a.trim().to_owned())
            .collect()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kamailio.log")).unwrap_or_default()
    }
}

impl Drop for Registrar {
    fn drop(&mut self) {
        // SIGTERM to the main process: Kamailio stops its children itself.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_dir_all(&self.dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
