//! The expansion itself: directives found line by line, names resolved
//! against the configuration directory, wildcards matched, cycles cut,
//! everything within the [`IncludeLimits`] budget.
use super::glob::{expand_braces, has_magic, unescape, Pattern};
use super::source::{ConfSource, FileId, FileKind, SourceError};
use crate::hosts::asterisk::conf::strip_comments;
use crate::hosts::codes;
use crate::validate::{Finding, Severity};
use std::collections::HashSet;

/// Asterisk's `MAX_INCLUDE_LEVEL`: how many nested includes it follows
/// below the file it was asked to load.
pub const ASTERISK_MAX_INCLUDE_LEVEL: usize = 10;

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
    /// [`parse_conf`](crate::hosts::asterisk::parse_conf).
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
