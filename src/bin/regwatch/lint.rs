//! `regwatch lint FILE...`.
use super::files::{self, Kind};
use super::term::Style;
use super::ProfileArg;
use regwatch::core::terminal_safe;
use regwatch::{Finding, Severity, Transport};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::cell::Cell;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Files to read: pjsip.conf (with its #includes), sofia gateway XML,
    /// regwatch trunk files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Whose rules apply (default: detected from each domain).
    #[arg(long, value_enum)]
    profile: Option<ProfileArg>,
    /// Print JSON: {"files": [{"path", "kind", "notes": [...], "trunks": [{"name", "findings": [...]}]}]}
    /// (notes: what #include expansion skipped).
    #[arg(long)]
    json: bool,
    /// Print the runbook table instead: per trunk the SIP domain, registrar
    /// host/port/transport, username, auth user, requested expiry and, when
    /// $REGWATCH_FINGERPRINT_KEY holds a secret key, a password fingerprint
    /// (HMAC-SHA-256 under that key, first 8 hex digits), so two PBXes'
    /// passwords can be compared without showing either. Without the key
    /// (or with an empty one) fingerprints are left out, and the output
    /// says so: an unkeyed fingerprint of a weak password is reversed
    /// offline in seconds.
    #[arg(long)]
    inventory: bool,
    /// Asterisk's configuration directory (astetcdir), which relative
    /// #include names are taken from, as Asterisk does (default: the
    /// directory of each FILE, right for /etc/asterisk/pjsip.conf and for
    /// a copy of that directory).
    #[arg(long, value_name = "DIR")]
    config_dir: Option<PathBuf>,
}

/// HMAC-SHA-256 (RFC 2104) of `msg` under `key`, hex.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> String {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key fingerprints are made with: `$REGWATCH_FINGERPRINT_KEY`, or
/// why there is none.
pub fn fingerprint_key() -> Result<Vec<u8>, &'static str> {
    use std::os::unix::ffi::OsStringExt;
    match std::env::var_os("REGWATCH_FINGERPRINT_KEY") {
        None => Err("REGWATCH_FINGERPRINT_KEY is not set"),
        Some(k) if k.to_string_lossy().trim().is_empty() => {
            Err("REGWATCH_FINGERPRINT_KEY is empty")
        }
        Some(k) => Ok(k.into_vec()),
    }
}

/// Why the inventory has no fingerprints, in a sentence.
fn omitted_because(why: &str) -> String {
    format!(
        "Password fingerprints omitted: {why}. Without a secret key a fingerprint is reversed offline by trying likely passwords; set REGWATCH_FINGERPRINT_KEY to the same secret wherever inventories are compared."
    )
}

/// The password fingerprint shown by `--inventory`.
pub fn fingerprint(key: &[u8], password: &str) -> String {
    hmac_sha256(key, password.as_bytes())[..8].to_owned()
}

/// What a run found, across files.
#[derive(Default)]
struct Tally {
    errors: Cell<usize>,
    unreadable: Cell<bool>,
}

impl Tally {
    fn count(&self, findings: &[Finding]) {
        let e = findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count();
        self.errors.set(self.errors.get() + e);
    }

    /// Loads one file, or says why not.
    fn load(&self, a: &Args, path: &Path) -> Option<files::Loaded> {
        match files::load(path, a.config_dir.as_deref()) {
            Ok(l) => Some(l),
            Err(e) => {
                self.failed(&e);
                None
            }
        }
    }

    fn failed(&self, e: &str) {
        eprintln!("regwatch lint: {}", terminal_safe(e));
        self.unreadable.set(true);
    }
}

pub fn run(a: &Args) -> u8 {
    let tally = Tally::default();
    if a.inventory {
        inventory(a, &tally);
    } else if a.json {
        // Written as it is made: a file with many trunks is never held
        // whole, with all its findings, as a JSON tree or a string.
        let mut w = std::io::BufWriter::new(std::io::stdout().lock());
        let doc = JsonDoc { a, tally: &tally };
        let _ = serde_json::to_writer_pretty(&mut w, &doc)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(w))
            .and_then(|()| w.flush());
    } else {
        text(a, &tally);
    }
    if tally.unreadable.get() {
        2
    } else if tally.errors.get() > 0 && !a.inventory {
        1
    } else {
        0
    }
}

fn text(a: &Args, tally: &Tally) {
    let profile = a.profile.map(ProfileArg::profile);
    let st = Style::stdout();
    let safe = |s: &str| terminal_safe(s).into_owned();
    for path in &a.files {
        let Some(loaded) = tally.load(a, path) else {
            continue;
        };
        println!(
            "{} {}",
            st.bold(&safe(&path.display().to_string())),
            st.dim(&format!("({})", kind_words(loaded.kind)))
        );
        tally.count(&loaded.notes);
        for f in &loaded.notes {
            println!(
                "  {} {} {}",
                st.severity(f.severity),
                f.code,
                safe(&f.message)
            );
            println!("    {} {}", st.dim("fix:"), safe(&f.fix));
        }
        let mut n = 0usize;
        let done = files::for_each_trunk(&loaded, path, profile, |t| {
            n += 1;
            tally.count(&t.findings);
            let count = |s: Severity| t.findings.iter().filter(|f| f.severity == s).count();
            let (e, w) = (count(Severity::Error), count(Severity::Warning));
            let head = if t.findings.is_empty() {
                st.good("ok")
            } else {
                format!("{e} error{}, {w} warning{}", plural(e), plural(w))
            };
            println!("  trunk {}: {head}", st.bold(&safe(&t.config.name)));
            for f in &t.findings {
                println!(
                    "    {} {} [{}] {}",
                    st.severity(f.severity),
                    f.code,
                    f.field,
                    safe(&f.message)
                );
                println!("      {} {}", st.dim("fix:"), safe(&f.fix));
            }
        });
        match done {
            Err(e) => tally.failed(&e),
            Ok(()) if n == 0 => println!("  no registering trunk found"),
            Ok(()) => {}
        }
    }
}

/// The `--json` document:
/// {"files":[{"path","kind","notes","trunks":[{"name","findings"}]}]}.
struct JsonDoc<'a> {
    a: &'a Args,
    tally: &'a Tally,
}

impl Serialize for JsonDoc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("files", &JsonFiles(self))?;
        m.end()
    }
}

struct JsonFiles<'a, 'b>(&'b JsonDoc<'a>);

impl Serialize for JsonFiles<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let JsonDoc { a, tally } = *self.0;
        let mut seq = s.serialize_seq(None)?;
        for path in &a.files {
            let Some(loaded) = tally.load(a, path) else {
                continue;
            };
            tally.count(&loaded.notes);
            seq.serialize_element(&JsonFile {
                a,
                tally,
                path,
                loaded: &loaded,
            })?;
        }
        seq.end()
    }
}

struct JsonFile<'a> {
    a: &'a Args,
    tally: &'a Tally,
    path: &'a Path,
    loaded: &'a files::Loaded,
}

impl Serialize for JsonFile<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("path", &self.path.display().to_string())?;
        m.serialize_entry("kind", self.loaded.kind.as_str())?;
        m.serialize_entry("notes", &self.loaded.notes)?;
        m.serialize_entry("trunks", &JsonTrunks(self))?;
        m.end()
    }
}

struct JsonTrunks<'a, 'b>(&'b JsonFile<'a>);

impl Serialize for JsonTrunks<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let f = self.0;
        let mut seq = s.serialize_seq(None)?;
        let mut failed = None;
        let done = files::for_each_trunk(
            f.loaded,
            f.path,
            f.a.profile.map(ProfileArg::profile),
            |t| {
                if failed.is_some() {
                    return;
                }
                f.tally.count(&t.findings);
                let one = json!({"name": &*t.config.name, "findings": t.findings});
                if let Err(e) = seq.serialize_element(&one) {
                    failed = Some(e);
                }
            },
        );
        if let Some(e) = failed {
            return Err(e);
        }
        if let Err(e) = done {
            f.tally.failed(&e);
        }
        seq.end()
    }
}

fn inventory(a: &Args, tally: &Tally) {
    let profile = a.profile.map(ProfileArg::profile);
    let safe = |s: &str| terminal_safe(s).into_owned();
    let key = fingerprint_key();
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for path in &a.files {
        let Some(loaded) = tally.load(a, path) else {
            continue;
        };
        let shown = path.display().to_string();
        for n in &loaded.notes {
            notes.push(json!({
                "file": shown,
                "code": n.code,
                "severity": n.severity,
                "message": n.message,
                "fix": n.fix,
            }));
        }
        let done = files::for_each_trunk(&loaded, path, profile, |t| {
            let c = &t.config;
            let transport = c.transport.unwrap_or(Transport::Udp);
            let host = c.proxy.clone().unwrap_or_else(|| c.domain.clone());
            let port = c.port.unwrap_or(transport.default_port());
            let mut row = json!({
                "file": shown,
                "trunk": &*c.name,
                "domain": c.domain,
                "registrar": format!("{host}:{port}"),
                "transport": transport.as_str(),
                "username": c.username,
                "auth_username": c.auth_user(),
                "expires": c.expires,
            });
            if let Ok(k) = &key {
                row["password_fingerprint"] =
                    json!(c.password.as_ref().map(|p| fingerprint(k, p.expose())));
            }
            rows.push(row);
        });
        if let Err(e) = done {
            tally.failed(&e);
        }
    }
    if a.json {
        let mut v = json!({"trunks": rows, "notes": notes});
        if let Err(why) = key {
            v["fingerprints_omitted"] = json!(omitted_because(why));
        }
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        print_inventory(&rows, key.is_ok());
        for n in &notes {
            let s = |k: &str| safe(n[k].as_str().unwrap_or(""));
            eprintln!(
                "regwatch lint: {}: {} {} {}",
                s("file"),
                s("severity"),
                s("code"),
                s("message")
            );
        }
        if let Err(why) = key {
            eprintln!("{}", omitted_because(why));
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn kind_words(k: Kind) -> &'static str {
    match k {
        Kind::AsteriskPjsip => "Asterisk pjsip.conf",
        Kind::FreeswitchXml => "FreeSWITCH sofia gateways",
        Kind::RegwatchToml => "regwatch trunk file",
    }
}

fn print_inventory(rows: &[serde_json::Value], fingerprints: bool) {
    let all = [
        ("trunk", "TRUNK"),
        ("domain", "SIP DOMAIN"),
        ("registrar", "REGISTRAR"),
        ("transport", "TRANSPORT"),
        ("username", "USERNAME"),
        ("auth_username", "AUTH USER"),
        ("expires", "EXPIRES"),
        ("password_fingerprint", "PASSWORD"),
    ];
    let cols = &all[..if fingerprints {
        all.len()
    } else {
        all.len() - 1
    }];
    let cell = |r: &serde_json::Value, k: &str| match &r[k] {
        serde_json::Value::String(s) => terminal_safe(s).into_owned(),
        serde_json::Value::Null => "-".to_owned(),
        v => v.to_string(),
    };
    let widths: Vec<usize> = cols
        .iter()
        .map(|(k, h)| {
            rows.iter()
                .map(|r| cell(r, k).len())
                .max()
                .unwrap_or(0)
                .max(h.len())
        })
        .collect();
    let line = |vals: Vec<String>| {
        vals.iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    println!(
        "{}",
        line(cols.iter().map(|(_, h)| (*h).to_owned()).collect())
    );
    for r in rows {
        println!("{}", line(cols.iter().map(|(k, _)| cell(r, k)).collect()));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hmac_rfc4231_case_2() {
        // RFC 4231 §4.3: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            super::hmac_sha256(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
