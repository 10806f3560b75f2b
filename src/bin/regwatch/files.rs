//! Reading configuration files: kind detection, Asterisk `#include`, the
//! regwatch trunk file.
use regwatch::hosts::asterisk::{
    expand_includes, AsteriskConfig, ConfSource, FileId, FileKind, FileMeta, IncludeLimits,
    SourceError,
};
use regwatch::hosts::freeswitch::parse_gateways;
use regwatch::{Finding, Profile, TrunkConfig};
use std::io::Read;
use std::path::Path;

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

/// The budget of one configuration file with its includes: the byte cap
/// also bounds a trunk file or a gateway XML.
pub fn limits() -> IncludeLimits {
    IncludeLimits::default()
}

/// A configuration file read whole, includes inlined.
pub struct Loaded {
    pub kind: Kind,
    /// The text (for a pjsip.conf, with its `#include`s inlined).
    pub text: String,
    /// What the include expansion skipped or wants known.
    pub notes: Vec<Finding>,
}

/// The real file system for the include expander. Names are only
/// `stat`ed before they are opened; opening never blocks (O_NONBLOCK, so
/// a FIFO swapped in after the `stat` does not hang us), the open file is
/// checked again to be a regular file, and at most `cap` bytes are read.
pub struct Disk;

fn source_error(e: std::io::Error) -> SourceError {
    match e.kind() {
        std::io::ErrorKind::NotFound => SourceError::NotFound,
        _ => SourceError::Other(e.to_string()),
    }
}

fn file_kind(t: std::fs::FileType) -> FileKind {
    use std::os::unix::fs::FileTypeExt;
    if t.is_file() {
        FileKind::Regular
    } else if t.is_dir() {
        FileKind::Directory
    } else if t.is_fifo() {
        FileKind::Fifo
    } else if t.is_char_device() {
        FileKind::CharDevice
    } else if t.is_block_device() {
        FileKind::BlockDevice
    } else if t.is_socket() {
        FileKind::Socket
    } else {
        FileKind::Other
    }
}

impl ConfSource for Disk {
    fn stat(&mut self, path: &str) -> Result<FileMeta, SourceError> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).map_err(source_error)?;
        Ok(FileMeta {
            kind: file_kind(m.file_type()),
            len: m.len(),
            id: FileId(m.dev(), m.ino()),
        })
    }

    fn read(&mut self, path: &str, cap: u64) -> Result<Vec<u8>, SourceError> {
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
            .map_err(source_error)?;
        let m = f.metadata().map_err(source_error)?;
        if !m.is_file() {
            return Err(SourceError::Other(format!(
                "it became {} after it was checked",
                match file_kind(m.file_type()) {
                    FileKind::Directory => "a directory",
                    FileKind::Fifo => "a FIFO",
                    FileKind::CharDevice => "a character device",
                    _ => "something other than a regular file",
                }
            )));
        }
        read_capped(f, cap).map_err(source_error)
    }

    fn list(&mut self, dir: &str, limit: usize) -> Result<Vec<String>, SourceError> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).map_err(source_error)? {
            if out.len() >= limit {
                break;
            }
            let e = e.map_err(source_error)?;
            out.push(e.file_name().to_string_lossy().into_owned());
        }
        Ok(out)
    }
}

/// At most `cap` bytes of `r`, read in pieces (a file that grows while it
/// is read cannot take more).
fn read_capped(r: impl Read, cap: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(cap).read_to_end(&mut buf)?;
    Ok(buf)
}

fn mib(n: u64) -> String {
    format!("{} MiB", n >> 20)
}

/// Reads a configuration file (at most the byte budget: a larger one is
/// refused, not read whole), detects its kind and, for Asterisk, inlines
/// its `#include`s (relative names from `config_dir`, default the file's
/// own directory, as `/etc/asterisk/pjsip.conf` has it). The kind is
/// detected after the expansion, so a pjsip.conf made of `#include` lines
/// only is one. The file named on the command line may be a pipe
/// (`<(...)`); included files must be regular.
pub fn load(path: &Path, config_dir: Option<&Path>) -> Result<Loaded, String> {
    let shown = path.display();
    let lim = limits();
    // What it is, before it is opened: opening a device can have effects.
    let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    match file_kind(meta.file_type()) {
        FileKind::Regular | FileKind::Fifo => {}
        FileKind::Directory => return Err(format!("{shown}: is a directory")),
        other => {
            return Err(format!(
                "{shown}: is {}, not a configuration file; not read",
                match other {
                    FileKind::CharDevice => "a character device",
                    FileKind::BlockDevice => "a block device",
                    FileKind::Socket => "a socket",
                    _ => "not a regular file",
                }
            ))
        }
    }
    if meta.is_file() && meta.len() > lim.max_bytes {
        return Err(format!(
            "{shown}: {} bytes is more than the {} a configuration may have here; not read",
            meta.len(),
            mib(lim.max_bytes)
        ));
    }
    let f = std::fs::File::open(path).map_err(|e| format!("{shown}: {e}"))?;
    let bytes = read_capped(f, lim.max_bytes + 1).map_err(|e| format!("{shown}: {e}"))?;
    if bytes.len() as u64 > lim.max_bytes {
        return Err(format!(
            "{shown}: more than {} of input; not read further",
            mib(lim.max_bytes)
        ));
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    drop(bytes);
    match detect(&text) {
        Some(kind @ (Kind::FreeswitchXml | Kind::RegwatchToml)) => {
            if kind == Kind::RegwatchToml {
                // A file that does not parse is unreadable, not empty.
                read_toml(&text).map_err(|e| format!("{shown}: {e}"))?;
            }
            return Ok(Loaded {
                kind,
                text,
                notes: Vec::new(),
            });
        }
        Some(Kind::AsteriskPjsip) | None => {}
    }
    let Some(p) = path.to_str() else {
        return Err(format!("{shown}: the path is not UTF-8"));
    };
    let dir = match config_dir {
        Some(d) => d.to_str().map(str::to_owned),
        None => Some(match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_string_lossy().into_owned(),
            _ => ".".to_owned(),
        }),
    };
    let Some(dir) = dir else {
        return Err("the configuration directory's path is not UTF-8".to_owned());
    };
    let x = expand_includes(&mut Disk, p, &text, &dir, &lim);
    drop(text);
    let kind = if x.include_directives > 0 {
        Some(Kind::AsteriskPjsip)
    } else {
        detect(&x.text).filter(|k| *k == Kind::AsteriskPjsip)
    };
    match kind {
        Some(kind) => Ok(Loaded {
            kind,
            text: x.text,
            notes: x.notes,
        }),
        None => Err(format!(
            "{shown}: not a pjsip.conf, a sofia gateway XML or a regwatch trunk file"
        )),
    }
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

/// The trunks of a loaded file. `profile` overrides the detected one.
pub fn trunks(
    loaded: &Loaded,
    path: &Path,
    profile: Option<Profile>,
) -> Result<Vec<FileTrunk>, String> {
    let mut out = Vec::new();
    for_each_trunk(loaded, path, profile, |t| out.push(t))?;
    Ok(out)
}

/// Hands each trunk of a loaded file to `f` as it is made, so that a
/// file with many trunks is not held whole with all its findings.
/// `profile` overrides the detected one.
pub fn for_each_trunk(
    loaded: &Loaded,
    path: &Path,
    profile: Option<Profile>,
    mut f: impl FnMut(FileTrunk),
) -> Result<(), String> {
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
    let text = &loaded.text;
    match loaded.kind {
        Kind::AsteriskPjsip => {
            let ac = AsteriskConfig::from_pjsip_conf(text);
            for t in ac.trunks_iter() {
                f(relint(t.config, t.findings, t.notes));
            }
        }
        Kind::FreeswitchXml => {
            for g in parse_gateways(text) {
                let t = g.trunk();
                if t.registers {
                    f(relint(t.config, t.findings, t.notes));
                }
            }
        }
        Kind::RegwatchToml => {
            let cs = read_toml(text).map_err(|e| format!("{}: {e}", path.display()))?;
            for c in cs {
                let findings = c.findings(Some(0.5));
                f(relint(c, findings, Vec::new()));
            }
        }
    }
    Ok(())
}

/// A TOML syntax error as its line, column and message, without the
/// line itself: that line may hold a password (`password = "...` with its
/// closing quote missing), and this text goes to the terminal or the
/// service's journal.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    match e.span() {
        Some(span) => {
            let before = &text.as_bytes()[..span.start.min(text.len())];
            let line = before.iter().filter(|b| **b == b'\n').count() + 1;
            let start = before
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
            let column = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
            format!("TOML syntax error at line {line}, column {column}: {message}")
        }
        None => format!("TOML syntax error: {message}"),
    }
}

/// The `[[trunk]]` tables of a regwatch trunk file. Keys are those of
/// `TrunkConfig::set`; other tables (`[[observe]]`) are ignored.
pub fn read_toml(text: &str) -> Result<Vec<TrunkConfig>, String> {
    let v: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| toml_error(text, &e))?;
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
