//! `regwatch lint FILE...`.
use super::files::{self, Kind};
use super::term::Style;
use super::ProfileArg;
use regwatch::core::{terminal_safe, terminal_safe_block};
use regwatch::{Severity, Transport};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Files to read: pjsip.conf (with its #includes), sofia gateway XML,
    /// regwatch trunk files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Whose rules apply (default: detected from each domain).
    #[arg(long, value_enum)]
    profile: Option<ProfileArg>,
    /// Print JSON: {"files":[{"path","kind","trunks":[{"name","findings":[...]}]}]}.
    #[arg(long)]
    json: bool,
    /// Print the runbook table instead: per trunk the SIP domain, registrar
    /// host/port/transport, username, auth user, requested expiry and a
    /// password fingerprint (HMAC-SHA-256 keyed with
    /// $REGWATCH_FINGERPRINT_KEY, first 8 hex digits), so two PBXes'
    /// passwords can be compared without showing either.
    #[arg(long)]
    inventory: bool,
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

/// The password fingerprint shown by `--inventory`.
pub fn fingerprint(password: &str) -> String {
    let key = std::env::var("REGWATCH_FINGERPRINT_KEY").unwrap_or_else(|_| "regwatch".to_owned());
    hmac_sha256(key.as_bytes(), password.as_bytes())[..8].to_owned()
}

pub fn run(a: &Args) -> u8 {
    let profile = a.profile.map(ProfileArg::profile);
    let st = Style::stdout();
    let mut errors = 0usize;
    let mut unreadable = false;
    let mut out_files = Vec::new();
    let mut inventory = Vec::new();
    for path in &a.files {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!(
                    "regwatch lint: {}: {e}",
                    terminal_safe(&path.display().to_string())
                );
                unreadable = true;
                continue;
            }
        };
        let Some(kind) = files::detect(&text) else {
            eprintln!(
                "regwatch lint: {}: not a pjsip.conf, a sofia gateway XML or a regwatch trunk file",
                terminal_safe(&path.display().to_string())
            );
            unreadable = true;
            continue;
        };
        let trunks = match files::trunks(kind, path, profile) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("regwatch lint: {}", terminal_safe_block(&e));
                unreadable = true;
                continue;
            }
        };
        errors += trunks
            .iter()
            .flat_map(|t| &t.findings)
            .filter(|f| f.severity == Severity::Error)
            .count();
        if a.inventory {
            for t in &trunks {
                let c = &t.config;
                let transport = c.transport.unwrap_or(Transport::Udp);
                let host = c.proxy.clone().unwrap_or_else(|| c.domain.clone());
                let port = c.port.unwrap_or(if transport == Transport::Tls {
                    5061
                } else {
                    5060
                });
                inventory.push(json!({
                    "file": path.display().to_string(),
                    "trunk": &*c.name,
                    "domain": c.domain,
                    "registrar": format!("{host}:{port}"),
                    "transport": transport.as_str(),
                    "username": c.username,
                    "auth_username": c.auth_user(),
                    "expires": c.expires,
                    "password_fingerprint": c.password.as_ref().map(|p| fingerprint(p.expose())),
                }));
            }
            continue;
        }
        if !a.json {
            println!(
                "{} {}",
                st.bold(&terminal_safe(&path.display().to_string())),
                st.dim(&format!("({})", kind_words(kind)))
            );
            if trunks.is_empty() {
                println!("  no registering trunk found");
            }
            for t in &trunks {
                let e = t
                    .findings
                    .iter()
                    .filter(|f| f.severity == Severity::Error)
                    .count();
                let w = t
                    .findings
                    .iter()
                    .filter(|f| f.severity == Severity::Warning)
                    .count();
                let head = if t.findings.is_empty() {
                    st.good("ok")
                } else {
                    format!("{e} error{}, {w} warning{}", plural(e), plural(w))
                };
                // Names, messages and fixes quote the file: shown
                // without control characters.
                println!(
                    "  trunk {}: {head}",
                    st.bold(&terminal_safe(&t.config.name))
                );
                for f in &t.findings {
                    println!(
                        "    {} {} [{}] {}",
                        st.severity(f.severity),
                        f.code,
                        f.field,
                        terminal_safe(&f.message)
                    );
                    println!("      {} {}", st.dim("fix:"), terminal_safe(&f.fix));
                }
            }
        }
        out_files.push(json!({
            "path": path.display().to_string(),
            "kind": kind.as_str(),
            "trunks": trunks.iter().map(|t| json!({
                "name": &*t.config.name,
                "findings": t.findings,
            })).collect::<Vec<_>>(),
        }));
    }
    if a.inventory {
        if a.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({"trunks": inventory})).unwrap_or_default()
            );
        } else {
            print_inventory(&inventory);
        }
    } else if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"files": out_files})).unwrap_or_default()
        );
    }
    if unreadable {
        2
    } else if errors > 0 && !a.inventory {
        1
    } else {
        0
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

fn print_inventory(rows: &[serde_json::Value]) {
    let cols = [
        ("trunk", "TRUNK"),
        ("domain", "SIP DOMAIN"),
        ("registrar", "REGISTRAR"),
        ("transport", "TRANSPORT"),
        ("username", "USERNAME"),
        ("auth_username", "AUTH USER"),
        ("expires", "EXPIRES"),
        ("password_fingerprint", "PASSWORD"),
    ];
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
