//! `#include` and `#tryinclude` as Asterisk's configuration loader
//! (`main/config.c`) follows them, without IO: the files come from a
//! [`ConfSource`] (the real file system in the `regwatch` command, a
//! [`MemSource`] in tests and fuzzing).
//!
//! What Asterisk does, and what [`expand_includes`] does with it:
//!
//! * A directive is a line that starts with `#` once comments are removed:
//!   `#include NAME`, `#tryinclude NAME` (a missing file is no error) and
//!   `#exec CMD`, case-insensitive. `"NAME"` and `<NAME>` are unquoted.
//! * A relative NAME is taken from the configuration directory
//!   (`astetcdir`, `/etc/asterisk`), not from the including file's
//!   directory, also for a file included from a subdirectory. The caller
//!   says which directory that is. An absolute NAME is followed, with an
//!   information note (it is read from the machine running the check).
//! * NAME is a glob(3) pattern with braces (`pjsip.d/*.conf`,
//!   `{a,b}.conf`); matches are read in sorted order. A NAME without
//!   wildcards stands for itself. A name that is not a regular file (a
//!   directory, a FIFO, a device, a socket) is skipped, never opened.
//! * An `#include` that ends up reading no file makes Asterisk refuse the
//!   whole file (error note); a `#tryinclude` is skipped (information).
//! * Asterisk follows 10 levels of nested includes (`MAX_INCLUDE_LEVEL`);
//!   it has no cycle check and loops until that limit. Here a file that
//!   includes itself or any file that (transitively) includes it is not
//!   followed, with a note; a file included twice elsewhere (a diamond) is
//!   read twice, as Asterisk does, with a warning.
//! * The whole expansion is bounded ([`IncludeLimits`]): files read, bytes
//!   read, directory entries listed, brace alternatives, notes. Past a
//!   limit the rest is not read and one note says so.
//!
//! `#exec` is never run. Every directive that is not followed leaves a
//! note: nothing is skipped silently.
use super::conf::strip_comments;
use crate::hosts::codes;
use crate::validate::{Finding, Severity};
use std::collections::{BTreeMap, HashSet};

/// Asterisk's `MAX_INCLUDE_LEVEL`: how many nested includes it follows
/// below the file it was asked to load.
pub const ASTERISK_MAX_INCLUDE_LEVEL: usize = 10;

/// The identity of a file, to recognise it under another name (a symlink,
/// `./a.conf` and `sub/../a.conf`): device and inode on a real file system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileId(pub u64, pub u64);

/// What kind of file a name is, as `stat(2)` says (symlinks followed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file: the only kind that is read.
    Regular,
    /// A directory.
    Directory,
    /// A FIFO (named pipe): reading it may block for ever.
    Fifo,
    /// A character device (`/dev/zero` never ends).
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A Unix socket.
    Socket,
    /// Anything else.
    Other,
}

impl FileKind {
    fn words(self) -> &'static str {
        match self {
            FileKind::Regular => "a regular file",
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a FIFO",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Socket => "a socket",
            FileKind::Other => "not a regular file",
        }
    }
}

/// What [`ConfSource::stat`] tells about a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileMeta {
    /// The kind of file.
    pub kind: FileKind,
    /// Its size in bytes (regular files).
    pub len: u64,
    /// Its identity.
    pub id: FileId,
}

/// Why a [`ConfSource`] could not answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceError {
    /// There is no such file or directory.
    NotFound,
    /// Anything else (permissions, IO error, not a regular file), in words.
    Other(String),
}

/// Where the configuration files come from. Paths are `/`-separated.
pub trait ConfSource {
    /// The kind, size and identity of `path` (symlinks followed), without
    /// opening it.
    fn stat(&mut self, path: &str) -> Result<FileMeta, SourceError>;
    /// At most `cap` bytes of the regular file `path`. An implementation
    /// must refuse anything that is not a regular file once opened (the
    /// name may have changed since [`stat`](ConfSource::stat)) and must
    /// not read more than `cap` bytes, even from a file that grows.
    fn read(&mut self, path: &str, cap: u64) -> Result<Vec<u8>, SourceError>;
    /// At most `limit` names of the entries of directory `dir` (without
    /// `.` and `..`), in any order.
    fn list(&mut self, dir: &str, limit: usize) -> Result<Vec<String>, SourceError>;
}

/// The budget of one expansion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IncludeLimits {
    /// Nested include levels below the first file (Asterisk: 10).
    pub max_depth: usize,
    /// Files read in all, the first one and repeats included.
    pub max_files: usize,
    /// Bytes read in all, the first file included.
    pub max_bytes: u64,
    /// Directory entries listed in all while matching wildcards.
    pub max_dir_entries: usize,
    /// Alternatives one `{a,b}` pattern may expand to.
    pub max_patterns: usize,
    /// Notes kept; the rest are counted in one last note.
    pub max_notes: usize,
}

impl Default for IncludeLimits {
    fn default() -> Self {
        IncludeLimits {
            max_depth: ASTERISK_MAX_INCLUDE_LEVEL,
            max_files: 1000,
            max_bytes: 32 << 20,
            max_dir_entries: 100_000,
            max_patterns: 64,
            max_notes: 50,
        }
    }
}

/// The result of [`expand_includes`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Expansion {
    /// The text with every followed include inlined where its directive
    /// was (directive lines themselves are left out), ready for
    /// [`parse_conf`](super::parse_conf).
    pub text: String,
    /// What was skipped or is worth knowing, in the order met (codes
    /// `asterisk.include_*`, `asterisk.directive_ignored`,
    /// `asterisk.comment_unterminated`). Field `#include`.
    pub notes: Vec<Finding>,
    /// Files read, the first one included.
    pub files_read: usize,
    /// Bytes read, the first file included.
    pub bytes_read: u64,
    /// `#include`/`#tryinclude` directives met (followed or not). A file
    /// with any is Asterisk configuration even when it has nothing else.
    pub include_directives: usize,
}

impl Expansion {
    /// Whether some note is an error (Asterisk would refuse the file, or
    /// the expansion is incomplete).
    pub fn has_errors(&self) -> bool {
        self.notes.iter().any(|n| n.severity == Severity::Error)
    }
}

/// Expands the includes of `text`, the content of the file `path` (already
/// read by the caller, counted in the budget). Relative names are taken
/// from `config_dir`. Never fails: what cannot be followed leaves a note.
pub fn expand_includes<S: ConfSource + ?Sized>(
    src: &mut S,
    path: &str,
    text: &str,
    config_dir: &str,
    limits: &IncludeLimits,
) -> Expansion {
    let root_id = src.stat(path).ok().map(|m| m.id);
    let mut x = Expander {
        src,
        limits,
        config_dir,
        out: String::with_capacity(text.len() + 1),
        notes: Vec::new(),
        noted: HashSet::new(),
        omitted: 0,
        stack: vec![root_id],
        seen: root_id.into_iter().collect(),
        files: 1,
        bytes: text.len() as u64,
        listed: 0,
        stopped: None,
        not_followed: 0,
        directives: 0,
    };
    x.file(path, text, 0);
    x.finish()
}

struct Expander<'a, S: ?Sized> {
    src: &'a mut S,
    limits: &'a IncludeLimits,
    config_dir: &'a str,
    out: String,
    notes: Vec<Finding>,
    noted: HashSet<(&'static str, String)>,
    omitted: usize,
    /// The files being read, outermost first.
    stack: Vec<Option<FileId>>,
    seen: HashSet<FileId>,
    files: usize,
    bytes: u64,
    listed: usize,
    /// Why the budget stopped the expansion.
    stopped: Option<String>,
    /// Include directives not followed after the stop.
    not_followed: usize,
    directives: usize,
}

/// A note held back until it is known whether its `#include` read any file.
struct Pending {
    code: &'static str,
    key: String,
    message: String,
    fix: &'static str,
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// `"name"` and `<name>` lose their quotes, as Asterisk strips them.
fn dequote(a: &str) -> &str {
    let close = match a.as_bytes().first() {
        Some(b'"') => '"',
        Some(b'<') => '>',
        _ => return a,
    };
    if a.len() >= 2 && a.ends_with(close) {
        &a[1..a.len() - 1]
    } else {
        a
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

impl<S: ConfSource + ?Sized> Expander<'_, S> {
    fn note(
        &mut self,
        code: &'static str,
        severity: Severity,
        key: String,
        message: String,
        fix: &str,
    ) {
        if !self.noted.insert((code, key)) {
            return;
        }
        if self.notes.len() >= self.limits.max_notes {
            self.omitted += 1;
            return;
        }
        self.notes.push(Finding {
            code,
            severity,
            field: "#include",
            message,
            fix: fix.to_owned(),
        });
    }

    fn stop(&mut self, why: String) {
        if self.stopped.is_none() {
            self.stopped = Some(why);
        }
    }

    fn finish(mut self) -> Expansion {
        if let Some(why) = self.stopped.take() {
            let more = match self.not_followed {
                0 => String::new(),
                n => format!(" ({n} more include directive{} not followed)", plural(n)),
            };
            self.notes.push(Finding {
                code: codes::ASTERISK_INCLUDE_LIMIT,
                severity: Severity::Error,
                field: "#include",
                message: format!(
                    "Stopped following includes: {why}{more}. What is beyond that was not read, so this check is incomplete."
                ),
                fix: "Look for files that include each other over and over, or a wildcard that matches far too much; split the configuration otherwise".to_owned(),
            });
        }
        if self.omitted > 0 {
            self.notes.push(Finding {
                code: codes::ASTERISK_INCLUDE_LIMIT,
                severity: Severity::Info,
                field: "#include",
                message: format!(
                    "{} more include note{} not listed",
                    self.omitted,
                    plural(self.omitted)
                ),
                fix: "Fix the notes above first".to_owned(),
            });
        }
        Expansion {
            text: self.out,
            notes: self.notes,
            files_read: self.files,
            bytes_read: self.bytes,
            include_directives: self.directives,
        }
    }

    /// Copies one file's lines, following its directives.
    fn file(&mut self, path: &str, text: &str, depth: usize) {
        let body = text.strip_suffix('\n').unwrap_or(text);
        let mut in_block = false;
        for (i, raw) in body.split('\n').enumerate() {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            let was_block = in_block;
            let stripped = strip_comments(line, &mut in_block);
            if let Some(d) = stripped.trim().strip_prefix('#') {
                self.directive(path, i + 1, d, depth);
                // Keep the block-comment state the line changed for the
                // parser that reads the result.
                if was_block {
                    self.out.push_str("--;");
                }
                if in_block {
                    self.out.push_str(";--");
                }
                self.out.push('\n');
                continue;
            }
            self.out.push_str(line);
            self.out.push('\n');
        }
        if in_block {
            self.out.push_str("--;\n");
            self.note(
                codes::ASTERISK_COMMENT_UNTERMINATED,
                Severity::Warning,
                path.to_owned(),
                format!("{path}: a `;--` block comment is still open at the end of the file; Asterisk ends it there"),
                "Close the comment with `--;`",
            );
        }
    }

    fn directive(&mut self, path: &str, line: usize, d: &str, depth: usize) {
        let end = d.find(|c: char| c as u32 <= 32).unwrap_or(d.len());
        let (word, arg) = d.split_at(end);
        let arg = arg.trim();
        let at = format!("{path}:{line}");
        let tryinclude = if word.eq_ignore_ascii_case("include") {
            false
        } else if word.eq_ignore_ascii_case("tryinclude") {
            true
        } else if word.eq_ignore_ascii_case("exec") {
            self.note(
                codes::ASTERISK_DIRECTIVE_IGNORED,
                Severity::Warning,
                at.clone(),
                format!("{at}: `#exec` is not run here, so what its command prints is not checked (Asterisk runs it only with execincludes=yes)"),
                "Check the command's output separately, or write it to a file and #include that",
            );
            return;
        } else {
            let shown: String = word.chars().take(40).collect();
            self.note(
                codes::ASTERISK_DIRECTIVE_IGNORED,
                Severity::Info,
                at.clone(),
                format!("{at}: unknown directive `#{shown}`; Asterisk ignores it"),
                "Use #include, #tryinclude or #exec, or remove the line",
            );
            return;
        };
        self.directives += 1;
        if arg.is_empty() {
            self.note(
                codes::ASTERISK_DIRECTIVE_IGNORED,
                Severity::Warning,
                at.clone(),
                format!("{at}: `#{word}` without a file name; Asterisk ignores it"),
                "Name the file to include",
            );
            return;
        }
        self.include(&at, dequote(arg), tryinclude, depth);
    }

    fn include(&mut self, at: &str, name: &str, tryinclude: bool, depth: usize) {
        let what = if tryinclude {
            "#tryinclude"
        } else {
            "#include"
        };
        if self.stopped.is_some() {
            self.not_followed += 1;
            return;
        }
        if depth >= self.limits.max_depth {
            let (severity, then) = if tryinclude {
                (Severity::Warning, "skips it")
            } else {
                (Severity::Error, "refuses to load the whole file")
            };
            self.note(
                codes::ASTERISK_INCLUDE_TOO_DEEP,
                severity,
                at.to_owned(),
                format!(
                    "{at}: `{what} {name}` would be include level {}; Asterisk follows {} levels and {then}",
                    depth + 1,
                    self.limits.max_depth
                ),
                "Include the file from a shallower level",
            );
            return;
        }
        let absolute = name.starts_with('/');
        if absolute {
            self.note(
                codes::ASTERISK_INCLUDE_ABSOLUTE,
                Severity::Info,
                name.to_owned(),
                format!("{at}: `{what} {name}` is an absolute path, read from this machine, which may not be the PBX's"),
                "Nothing to do if this check runs on the PBX; a relative name follows a copied configuration",
            );
        }
        let (patterns, cut) = expand_braces(name, self.limits.max_patterns);
        if cut {
            self.note(
                codes::ASTERISK_INCLUDE_LIMIT,
                Severity::Warning,
                at.to_owned(),
                format!(
                    "{at}: `{what} {name}` expands to more than {} brace alternatives; only the first were followed",
                    self.limits.max_patterns
                ),
                "Use fewer {a,b} alternatives",
            );
        }
        let mut loaded = 0usize;
        let mut missing: Vec<String> = Vec::new();
        let mut pending: Vec<Pending> = Vec::new();
        'patterns: for pat in &patterns {
            let Some(paths) = self.glob(pat) else {
                break;
            };
            if paths.is_empty() {
                missing.push(if absolute {
                    pat.clone()
                } else {
                    join(self.config_dir, pat)
                });
                continue;
            }
            for p in paths {
                let meta = match self.src.stat(&p) {
                    Ok(m) => m,
                    Err(SourceError::NotFound) => {
                        missing.push(p);
                        continue;
                    }
                    Err(SourceError::Other(e)) => {
                        pending.push(Pending {
                            code: codes::ASTERISK_INCLUDE_UNREADABLE,
                            message: format!("{at}: `{what} {name}`: cannot read {p}: {e}"),
                            key: p,
                            fix: "Make the file readable, or remove the directive",
                        });
                        continue;
                    }
                };
                if meta.kind != FileKind::Regular {
                    pending.push(Pending {
                        code: codes::ASTERISK_INCLUDE_NOT_REGULAR,
                        message: format!(
                            "{at}: `{what} {name}`: {p} is {}, not a regular file; not opened (Asterisk ignores it too)",
                            meta.kind.words()
                        ),
                        key: p,
                        fix: "Include regular files only",
                    });
                    continue;
                }
                if self.stack.contains(&Some(meta.id)) {
                    pending.push(Pending {
                        code: codes::ASTERISK_INCLUDE_CYCLE,
                        message: format!(
                            "{at}: `{what} {name}`: {p} is already being read (a file that includes itself, directly or through other files); not followed again. Asterisk loops until its include limit"
                        ),
                        key: format!("{at} {p}"),
                        fix: "Remove the include that leads back to a file that includes it",
                    });
                    continue;
                }
                if self.files >= self.limits.max_files {
                    self.stop(format!("more than {} files read", self.limits.max_files));
                    break 'patterns;
                }
                let room = self.limits.max_bytes.saturating_sub(self.bytes);
                if meta.len > room {
                    self.stop(format!(
                        "{p} would take the configuration past {} bytes",
                        self.limits.max_bytes
                    ));
                    break 'patterns;
                }
                let data = match self.src.read(&p, room.saturating_add(1)) {
                    Ok(d) => d,
                    Err(e) => {
                        let e = match e {
                            SourceError::NotFound => "it disappeared".to_owned(),
                            SourceError::Other(e) => e,
                        };
                        pending.push(Pending {
                            code: codes::ASTERISK_INCLUDE_UNREADABLE,
                            message: format!("{at}: `{what} {name}`: cannot read {p}: {e}"),
                            key: p,
                            fix: "Make the file readable, or remove the directive",
                        });
                        continue;
                    }
                };
                if data.len() as u64 > room {
                    self.stop(format!(
                        "{p} grew past {} bytes of configuration while it was read",
                        self.limits.max_bytes
                    ));
                    break 'patterns;
                }
                self.files += 1;
                self.bytes += data.len() as u64;
                loaded += 1;
                if !self.seen.insert(meta.id) {
                    self.note(
                        codes::ASTERISK_INCLUDE_REPEATED,
                        Severity::Warning,
                        p.clone(),
                        format!("{at}: {p} is included more than once; its sections are defined again each time (Asterisk warns too)"),
                        "Include each file once",
                    );
                }
                let text = String::from_utf8_lossy(&data).into_owned();
                drop(data);
                self.stack.push(Some(meta.id));
                self.file(&p, &text, depth + 1);
                self.stack.pop();
                if self.stopped.is_some() {
                    break 'patterns;
                }
            }
        }
        if self.stopped.is_some() && loaded == 0 {
            return;
        }
        // An #include that read no file makes Asterisk refuse the file.
        let failed = loaded == 0 && !tryinclude;
        let severity = if failed {
            Severity::Error
        } else {
            Severity::Warning
        };
        let pending_any = !pending.is_empty();
        for n in pending {
            let message = if failed {
                format!(
                    "{}; the #include reads no file, so Asterisk refuses to load the whole file",
                    n.message
                )
            } else {
                n.message
            };
            self.note(n.code, severity, n.key, message, n.fix);
        }
        if missing.is_empty() || (loaded == 0 && pending_any) {
            return;
        }
        let shown = missing
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let (severity, outcome) = if loaded > 0 {
            (
                Severity::Info,
                "skipped, as Asterisk skips it; the other files were read",
            )
        } else if tryinclude {
            (Severity::Info, "skipped, as #tryinclude allows")
        } else {
            (
                Severity::Error,
                "Asterisk refuses to load the whole file (\"listed as a #include but it does not exist\")",
            )
        };
        let besides = if loaded == 0 && !absolute {
            self.beside_hint(at, name)
        } else {
            String::new()
        };
        self.note(
            codes::ASTERISK_INCLUDE_MISSING,
            severity,
            at.to_owned(),
            format!("{at}: `{what} {name}`: no such file ({shown}): {outcome}{besides}"),
            if tryinclude {
                "Nothing to do if the file is optional"
            } else {
                "Create the file, fix the name, or use #tryinclude for an optional file"
            },
        );
    }

    /// When a relative name is missing from the configuration directory but
    /// exists beside the including file, says so: Asterisk does not look
    /// there.
    fn beside_hint(&mut self, at: &str, name: &str) -> String {
        let from = at.rsplit_once(':').map_or(at, |(f, _)| f);
        let Some((dir, _)) = from.rsplit_once('/') else {
            return String::new();
        };
        if dir == self.config_dir.trim_end_matches('/') || has_magic(name) {
            return String::new();
        }
        let p = join(dir, name);
        match self.src.stat(&p) {
            Ok(_) => format!(". {p} exists, but Asterisk takes relative names from its configuration directory ({}), not from the including file's", self.config_dir),
            Err(_) => String::new(),
        }
    }

    /// The names a pattern (braces already expanded) stands for, sorted.
    /// `None` when the listing budget ran out.
    fn glob(&mut self, pat: &str) -> Option<Vec<String>> {
        let (base, rest) = match pat.strip_prefix('/') {
            Some(r) => ("/", r),
            None => (self.config_dir, pat),
        };
        if !has_magic(rest) {
            // GLOB_NOMAGIC: the name stands for itself.
            return Some(vec![join(base, rest)]);
        }
        let mut cur = vec![base.to_owned()];
        for comp in rest.split('/').filter(|c| !c.is_empty()) {
            let mut next = Vec::new();
            if !has_magic(comp) {
                let lit = unescape(comp);
                next.extend(cur.iter().map(|d| join(d, &lit)));
            } else {
                let pattern = Pattern::new(comp);
                for d in &cur {
                    let room = self.limits.max_dir_entries.saturating_sub(self.listed);
                    let Ok(names) = self.src.list(d, room.saturating_add(1)) else {
                        continue;
                    };
                    if names.len() > room {
                        self.stop(format!(
                            "more than {} directory entries listed for wildcards",
                            self.limits.max_dir_entries
                        ));
                        return None;
                    }
                    self.listed += names.len();
                    let mut m: Vec<String> = names
                        .iter()
                        .filter(|n| pattern.matches(n))
                        .map(|n| join(d, n))
                        .collect();
                    m.sort();
                    next.append(&mut m);
                }
            }
            cur = next;
            if cur.is_empty() {
                break;
            }
        }
        cur.sort();
        cur.dedup();
        Some(cur)
    }
}

/// Whether a pattern has a glob wildcard (`*`, `?`, or `[` with a `]`
/// after it), backslash escapes respected.
fn has_magic(p: &str) -> bool {
    let b = p.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'*' | b'?' => return true,
            b'[' if b[i + 1..].contains(&b']') => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

fn unescape(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Expands `{a,b}` alternatives (GLOB_BRACE), depth first, in order; at
/// most `max` patterns (the second value says whether some were cut).
fn expand_braces(p: &str, max: usize) -> (Vec<String>, bool) {
    let mut out = Vec::new();
    let mut stack = vec![p.to_owned()];
    let mut cut = false;
    while let Some(s) = stack.pop() {
        match brace(&s) {
            None => {
                if out.len() >= max {
                    cut = true;
                    break;
                }
                out.push(s);
            }
            Some((open, close, commas)) => {
                let (pre, post) = (&s[..open], &s[close + 1..]);
                let mut alts = Vec::with_capacity(commas.len() + 1);
                let mut from = open + 1;
                for c in commas.iter().copied().chain([close]) {
                    alts.push(format!("{pre}{}{post}", &s[from..c]));
                    from = c + 1;
                }
                if stack.len() + alts.len() + out.len() > max {
                    cut = true;
                    let keep = max.saturating_sub(stack.len() + out.len());
                    alts.truncate(keep);
                }
                stack.extend(alts.into_iter().rev());
            }
        }
    }
    (out, cut || !stack.is_empty())
}

/// The first `{` with its matching `}` and the top-level commas between.
fn brace(s: &str) -> Option<(usize, usize, Vec<usize>)> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'{' => {
                let mut depth = 0usize;
                let mut commas = Vec::new();
                let mut j = i + 1;
                while j < b.len() {
                    match b[j] {
                        b'\\' => j += 1,
                        b'{' => depth += 1,
                        b'}' if depth == 0 => return Some((i, j, commas)),
                        b'}' => depth -= 1,
                        b',' if depth == 0 => commas.push(j),
                        _ => {}
                    }
                    j += 1;
                }
                // No closing brace: a literal `{`.
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[derive(Debug)]
enum Tok {
    Star,
    Any,
    Lit(char),
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// One path component of a glob pattern, as fnmatch(3) reads it.
#[derive(Debug)]
struct Pattern {
    toks: Vec<Tok>,
}

impl Pattern {
    fn new(p: &str) -> Pattern {
        let chars: Vec<char> = p.chars().collect();
        let mut toks = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '*' => {
                    if !matches!(toks.last(), Some(Tok::Star)) {
                        toks.push(Tok::Star);
                    }
                }
                '?' => toks.push(Tok::Any),
                '\\' if i + 1 < chars.len() => {
                    i += 1;
                    toks.push(Tok::Lit(chars[i]));
                }
                '[' => match Self::class(&chars, i) {
                    Some((tok, end)) => {
                        toks.push(tok);
                        i = end;
                    }
                    None => toks.push(Tok::Lit('[')),
                },
                c => toks.push(Tok::Lit(c)),
            }
            i += 1;
        }
        Pattern { toks }
    }

    /// A `[...]` class starting at `start`; the index of its `]`.
    fn class(chars: &[char], start: usize) -> Option<(Tok, usize)> {
        let mut i = start + 1;
        let negated = matches!(chars.get(i), Some('!') | Some('^'));
        if negated {
            i += 1;
        }
        let mut ranges = Vec::new();
        let mut first = true;
        while i < chars.len() {
            let mut c = chars[i];
            if c == ']' && !first {
                return Some((Tok::Class { negated, ranges }, i));
            }
            first = false;
            if c == '\\' && i + 1 < chars.len() {
                i += 1;
                c = chars[i];
            }
            if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|&e| e != ']') {
                let mut e = chars[i + 2];
                i += 2;
                if e == '\\' && i + 1 < chars.len() {
                    i += 1;
                    e = chars[i];
                }
                ranges.push((c, e));
            } else {
                ranges.push((c, c));
            }
            i += 1;
        }
        None
    }

    fn one(tok: &Tok, c: char) -> bool {
        match tok {
            Tok::Star => false,
            Tok::Any => true,
            Tok::Lit(l) => *l == c,
            Tok::Class { negated, ranges } => {
                ranges.iter().any(|&(a, b)| a <= c && c <= b) != *negated
            }
        }
    }

    /// Whether a file name matches. A leading `.` must be matched by a
    /// literal `.` (glob(3) without GLOB_PERIOD).
    fn matches(&self, name: &str) -> bool {
        let s: Vec<char> = name.chars().collect();
        if s.first() == Some(&'.') && !matches!(self.toks.first(), Some(Tok::Lit('.'))) {
            return false;
        }
        let p = &self.toks;
        let (mut pi, mut si) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while si < s.len() {
            if pi < p.len() {
                if matches!(p[pi], Tok::Star) {
                    star = Some((pi + 1, si));
                    pi += 1;
                    continue;
                }
                if Self::one(&p[pi], s[si]) {
                    pi += 1;
                    si += 1;
                    continue;
                }
            }
            match star {
                Some((sp, ss)) => {
                    pi = sp;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            }
        }
        p[pi..].iter().all(|t| matches!(t, Tok::Star))
    }
}

/// A file system in memory, for tests and fuzzing: regular files with
/// their bytes, and special files (FIFOs, devices) that have none.
/// Directories exist implicitly, as the parents of what was inserted.
#[derive(Clone, Debug, Default)]
pub struct MemSource {
    entries: BTreeMap<String, (MemEntry, u64)>,
    next_id: u64,
}

#[derive(Clone, Debug)]
enum MemEntry {
    File(Vec<u8>),
    Special(FileKind),
}

/// `path` with `.`, `..` and repeated `/` resolved lexically.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    if path.starts_with('/') {
        format!("/{joined}")
    } else {
        joined
    }
}

impl MemSource {
    /// An empty file system.
    pub fn new() -> MemSource {
        MemSource::default()
    }

    fn put(&mut self, path: &str, e: MemEntry) {
        self.next_id += 1;
        self.entries.insert(normalize(path), (e, self.next_id));
    }

    /// Adds (or replaces) a regular file.
    pub fn insert(&mut self, path: &str, data: impl Into<Vec<u8>>) {
        self.put(path, MemEntry::File(data.into()));
    }

    /// Adds a file of another kind (a FIFO, a device): it has a name and
    /// no content. `FileKind::Regular` adds an empty regular file.
    pub fn insert_special(&mut self, path: &str, kind: FileKind) {
        match kind {
            FileKind::Regular => self.insert(path, Vec::new()),
            k => self.put(path, MemEntry::Special(k)),
        }
    }

    fn children<'a>(&'a self, dir: &str) -> impl Iterator<Item = &'a str> + 'a {
        let prefix = if dir.ends_with('/') || dir.is_empty() {
            dir.to_owned()
        } else {
            format!("{dir}/")
        };
        let n = prefix.len();
        self.entries
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .filter_map(move |(k, _)| k[n..].split('/').next())
            .filter(|c| !c.is_empty())
    }

    fn is_dir(&self, p: &str) -> bool {
        self.children(p).next().is_some()
    }
}

impl ConfSource for MemSource {
    fn stat(&mut self, path: &str) -> Result<FileMeta, SourceError> {
        let p = normalize(path);
        match self.entries.get(&p) {
            Some((MemEntry::File(d), id)) => Ok(FileMeta {
                kind: FileKind::Regular,
                len: d.len() as u64,
                id: FileId(0, *id),
            }),
            Some((MemEntry::Special(k), id)) => Ok(FileMeta {
                kind: *k,
                len: 0,
                id: FileId(0, *id),
            }),
            None if self.is_dir(&p) => Ok(FileMeta {
                kind: FileKind::Directory,
                len: 0,
                id: FileId(1, p.len() as u64),
            }),
            None => Err(SourceError::NotFound),
        }
    }

    fn read(&mut self, path: &str, cap: u64) -> Result<Vec<u8>, SourceError> {
        let p = normalize(path);
        match self.entries.get(&p) {
            Some((MemEntry::File(d), _)) => {
                let n = d.len().min(usize::try_from(cap).unwrap_or(usize::MAX));
                Ok(d[..n].to_vec())
            }
            Some((MemEntry::Special(k), _)) => Err(SourceError::Other(format!(
                "{} is not a regular file",
                k.words()
            ))),
            None if self.is_dir(&p) => Err(SourceError::Other("is a directory".to_owned())),
            None => Err(SourceError::NotFound),
        }
    }

    fn list(&mut self, dir: &str, limit: usize) -> Result<Vec<String>, SourceError> {
        let p = normalize(dir);
        if self.entries.contains_key(&p) {
            return Err(SourceError::Other("not a directory".to_owned()));
        }
        let mut out: Vec<String> = Vec::new();
        for c in self.children(&p) {
            if out.last().map(String::as_str) != Some(c) {
                if out.len() >= limit {
                    break;
                }
                out.push(c.to_owned());
            }
        }
        if out.is_empty() && !p.is_empty() && p != "/" {
            return Err(SourceError::NotFound);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fs(files: &[(&str, &str)]) -> MemSource {
        let mut m = MemSource::new();
        for (p, t) in files {
            m.insert(p, t.as_bytes());
        }
        m
    }

    fn run(m: &mut MemSource, root: &str) -> Expansion {
        let text = String::from_utf8(m.read(root, u64::MAX).unwrap()).unwrap();
        expand_includes(m, root, &text, "/etc/asterisk", &IncludeLimits::default())
    }

    fn codes_of(x: &Expansion) -> Vec<&'static str> {
        x.notes.iter().map(|n| n.code).collect()
    }

    #[test]
    fn patterns() {
        let m = |p: &str, s: &str| Pattern::new(p).matches(s);
        assert!(m("*.conf", "a.conf"));
        assert!(!m("*.conf", ".hidden.conf"));
        assert!(m(".*", ".hidden"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[!a-c]x", "bx"));
        assert!(m("[]]", "]"));
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!m("*a*b*c*", "xxaxxcxxbxx"));
        assert!(m("[abc", "[abc"));
        assert!(
            has_magic("*.conf") && has_magic("a[bc]") && !has_magic("a[bc") && !has_magic("a\\*")
        );
    }

    #[test]
    fn braces() {
        assert_eq!(expand_braces("{a,b}.conf", 64).0, ["a.conf", "b.conf"]);
        assert_eq!(
            expand_braces("x{a,{b,c}}y{1,2}", 64).0,
            ["xay1", "xay2", "xby1", "xby2", "xcy1", "xcy2"]
        );
        assert_eq!(expand_braces("{a", 64).0, ["{a"]);
        let (v, cut) = expand_braces(&"{a,b}".repeat(20), 64);
        assert!(cut && v.len() <= 64);
    }

    #[test]
    fn relative_to_the_config_dir_with_wildcards_and_quotes() {
        let mut m = fs(&[
            (
                "/etc/asterisk/pjsip.conf",
                "#include \"pjsip.d/*.conf\"\n#tryinclude <none.conf>\n[x]\ntype=y\n",
            ),
            (
                "/etc/asterisk/pjsip.d/b.conf",
                "[b]\n#include pjsip.d/sub/c.inc\n",
            ),
            ("/etc/asterisk/pjsip.d/a.conf", "[a]\n"),
            ("/etc/asterisk/pjsip.d/.hidden.conf", "[hidden]\n"),
            ("/etc/asterisk/pjsip.d/sub/c.inc", "[c]\n"),
        ]);
        let x = run(&mut m, "/etc/asterisk/pjsip.conf");
        let sections: Vec<&str> = x.text.lines().filter(|l| l.starts_with('[')).collect();
        assert_eq!(sections, ["[a]", "[b]", "[c]", "[x]"]);
        assert_eq!(codes_of(&x), [codes::ASTERISK_INCLUDE_MISSING]);
        assert_eq!(x.notes[0].severity, Severity::Info);
        assert_eq!(x.files_read, 4);
        assert_eq!(x.include_directives, 3);
    }

    #[test]
    fn cycles_are_cut_and_diamonds_kept() {
        let mut m = fs(&[
            ("/c/a.conf", "[a]\n#include b.conf\n#include c.conf\n"),
            ("/c/b.conf", "[b]\n#include d.conf\n"),
            ("/c/c.conf", "[c]\n#include d.conf\n"),
            ("/c/d.conf", "[d]\n#include ./sub/../a.conf\n"),
        ]);
        let text = "[a]\n#include b.conf\n#include c.conf\n";
        let x = expand_includes(&mut m, "/c/a.conf", text, "/c", &IncludeLimits::default());
        let sections: Vec<&str> = x.text.lines().filter(|l| l.starts_with('[')).collect();
        assert_eq!(sections, ["[a]", "[b]", "[d]", "[c]", "[d]"]);
        let c = codes_of(&x);
        assert!(c.contains(&codes::ASTERISK_INCLUDE_CYCLE), "{c:?}");
        assert!(c.contains(&codes::ASTERISK_INCLUDE_REPEATED), "{c:?}");
        assert!(x.has_errors());
    }

    #[test]
    fn special_files_missing_files_and_depth() {
        let mut m = fs(&[(
            "/c/a.conf",
            "#include zero\n#include nothing.conf\n#include deep0.conf\n",
        )]);
        m.insert_special("/c/zero", FileKind::CharDevice);
        for i in 0..15 {
            m.insert(
                &format!("/c/deep{i}.conf"),
                format!("[d{i}]\n#include deep{}.conf\n", i + 1),
            );
        }
        let x = run_dir(&mut m, "/c/a.conf", "/c");
        let c = codes_of(&x);
        assert!(c.contains(&codes::ASTERISK_INCLUDE_NOT_REGULAR));
        assert!(c.contains(&codes::ASTERISK_INCLUDE_MISSING));
        assert!(c.contains(&codes::ASTERISK_INCLUDE_TOO_DEEP));
        assert!(
            x.text.contains("[d9]") && !x.text.contains("[d10]"),
            "{}",
            x.text
        );
        assert!(x.notes.iter().all(|n| n.severity == Severity::Error));
    }

    fn run_dir(m: &mut MemSource, root: &str, dir: &str) -> Expansion {
        let text = String::from_utf8(m.read(root, u64::MAX).unwrap()).unwrap();
        expand_includes(m, root, &text, dir, &IncludeLimits::default())
    }

    #[test]
    fn the_budget_stops_an_explosion() {
        // Eight files, each including every file many times: exponential
        // without a budget.
        let mut m = MemSource::new();
        let body: String = (0..8)
            .flat_map(|j| std::iter::repeat_n(format!("#include f{j}.conf\n"), 4))
            .collect();
        for i in 0..8 {
            m.insert(&format!("/c/f{i}.conf"), format!("[s{i}]\nk=v\n{body}"));
        }
        let x = run_dir(&mut m, "/c/f0.conf", "/c");
        assert!(x.files_read <= 1000);
        assert!(x.notes.len() <= 52);
        assert!(x
            .notes
            .iter()
            .any(|n| n.code == codes::ASTERISK_INCLUDE_LIMIT && n.severity == Severity::Error));
    }

    #[test]
    fn comments_and_directives() {
        let mut m = fs(&[
            ("/c/a.conf", "; #include x.conf\n;-- #include y.conf --;\n#exec /bin/true\n#bogus\n#include\n#INCLUDE b.conf ; c\n[a]\nk=v\\;w\n"),
            ("/c/b.conf", "[b]\n;-- open\n"),
        ]);
        let x = run_dir(&mut m, "/c/a.conf", "/c");
        let c = codes_of(&x);
        assert_eq!(
            c,
            [
                codes::ASTERISK_DIRECTIVE_IGNORED,
                codes::ASTERISK_DIRECTIVE_IGNORED,
                codes::ASTERISK_DIRECTIVE_IGNORED,
                codes::ASTERISK_COMMENT_UNTERMINATED
            ]
        );
        let f = super::super::parse_conf(&x.text);
        let names: Vec<&str> = f.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(f.sections[1].fields, [("k".to_owned(), "v;w".to_owned())]);
    }

    #[test]
    fn a_hint_when_the_file_is_beside_the_including_one() {
        let mut m = fs(&[
            ("/c/a.conf", "#include sub/b.conf\n"),
            ("/c/sub/b.conf", "#include c.conf\n"),
            ("/c/sub/c.conf", "[c]\n"),
        ]);
        let x = run_dir(&mut m, "/c/a.conf", "/c");
        assert_eq!(codes_of(&x), [codes::ASTERISK_INCLUDE_MISSING]);
        assert!(
            x.notes[0].message.contains("/c/sub/c.conf exists"),
            "{}",
            x.notes[0].message
        );
    }
}
