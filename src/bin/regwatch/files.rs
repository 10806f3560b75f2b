//! Reading configuration files: kind detection, Asterisk `#include`, the
//! regwatch trunk file.
use regwatch::hosts::asterisk::AsteriskConfig;
use regwatch::hosts::freeswitch::parse_gateways;
use regwatch::{Finding, Profile, TrunkConfig};
use std::path::{Path, PathBuf};

/// What a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    AsteriskPjsip,
    FreeswitchXml,
    RegwatchToml,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::AsteriskPjsip => "asterisk_pjsip",
            Kind::FreeswitchXml => "freeswitch_xml",
            Kind::RegwatchToml => "regwatch_toml",
        }
    }
}

/// Detects the kind from the content (not the name).
pub fn detect(text: &str) -> Option<Kind> {
    let t = text.trim_start_matches('\u{feff}').trim_start();
    if t.starts_with('<') || text.contains("<gateway") {
        return Some(Kind::FreeswitchXml);
    }
    if text.contains("[[trunk]]") {
        return Some(Kind::RegwatchToml);
    }
    let lower = text.to_ascii_lowercase();
    if lower.lines().any(|l| {
        let l: String = l
            .split(';')
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        l.starts_with("type=") || l.starts_with("server_uri=") || l.starts_with("outbound_auth=")
    }) || lower.lines().any(|l| l.trim_start().starts_with('['))
    {
        return Some(Kind::AsteriskPjsip);
    }
    None
}

/// Reads an Asterisk configuration file with its `#include`s inlined
/// (relative to the including file, as Asterisk resolves them; at most 16
/// deep; a file included twice on one path is a cycle and skipped).
pub fn read_asterisk(path: &Path) -> Result<String, String> {
    let mut out = String::new();
    let mut stack: Vec<PathBuf> = Vec::new();
    inline(path, &mut out, &mut stack)?;
    Ok(out)
}

fn inline(path: &Path, out: &mut String, stack: &mut Vec<PathBuf>) -> Result<(), String> {
    let canon = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    if stack.contains(&canon) || stack.len() > 16 {
        return Ok(());
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    stack.push(canon);
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("#include") {
            let name = rest
                .trim()
                .trim_matches(|c| c == '"' || c == '<' || c == '>');
            if !name.is_empty() {
                let base = path.parent().unwrap_or(Path::new("."));
                let inc = base.join(name);
                if inc.exists() {
                    inline(&inc, out, stack)?;
                    continue;
                }
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    stack.pop();
    Ok(())
}

/// One trunk read from a file.
pub struct FileTrunk {
    pub config: TrunkConfig,
    /// Validation findings and host notes, errors first.
    pub findings: Vec<Finding>,
}

fn sorted(mut f: Vec<Finding>) -> Vec<Finding> {
    f.sort_by_key(|x| std::cmp::Reverse(x.severity));
    f
}

/// The trunks of a file of `kind`. `profile` overrides the detected one.
pub fn trunks(kind: Kind, path: &Path, profile: Option<Profile>) -> Result<Vec<FileTrunk>, String> {
    let relint = |mut config: TrunkConfig, findings: Vec<Finding>, notes: Vec<Finding>| {
        let findings = match profile {
            Some(p) => {
                config.profile = Some(p);
                config.findings(Some(0.5))
            }
            None => findings,
        };
        FileTrunk {
            config,
            findings: sorted(findings.into_iter().chain(notes).collect()),
        }
    };
    match kind {
        Kind::AsteriskPjsip => {
            let text = read_asterisk(path)?;
            Ok(AsteriskConfig::from_pjsip_conf(&text)
                .trunks()
                .into_iter()
                .map(|t| relint(t.config, t.findings, t.notes))
                .collect())
        }
        Kind::FreeswitchXml => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(parse_gateways(&text)
                .iter()
                .map(|g| g.trunk())
                .filter(|t| t.registers)
                .map(|t| relint(t.config, t.findings, t.notes))
                .collect())
        }
        Kind::RegwatchToml => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            read_toml(&text)
                .map_err(|e| format!("{}: {e}", path.display()))
                .map(|cs| {
                    cs.into_iter()
                        .map(|c| {
                            let f = c.findings(Some(0.5));
                            relint(c, f, Vec::new())
                        })
                        .collect()
                })
        }
    }
}

/// The `[[trunk]]` tables of a regwatch trunk file. Keys are those of
/// `TrunkConfig::set`; other tables (`[[observe]]`) are ignored.
pub fn read_toml(text: &str) -> Result<Vec<TrunkConfig>, String> {
    let v: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
    let Some(list) = v.get("trunk").and_then(|t| t.as_array()) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let Some(t) = t.as_table() else {
            return Err(format!("trunk #{} is not a table", i + 1));
        };
        let mut c = TrunkConfig::new(&format!("trunk-{}", i + 1));
        for (k, val) in t {
            let s = match val {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => if *b { "on" } else { "off" }.to_owned(),
                _ => {
                    return Err(format!(
                        "trunk #{}: `{k}` must be a string or a number",
                        i + 1
                    ))
                }
            };
            c.set(k, &s).map_err(|e| format!("trunk #{}: {e}", i + 1))?;
        }
        out.push(c);
    }
    Ok(out)
}
