//! The names an include directive matches: glob(3) patterns (`*`, `?`,
//! `[...]`, backslash escapes) with `{a,b}` braces, matched one path
//! component at a time.

/// Whether a pattern has a glob wildcard (`*`, `?`, or `[` with a `]`
/// after it), backslash escapes respected.
pub(super) fn has_magic(p: &str) -> bool {
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

pub(super) fn unescape(p: &str) -> String {
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
pub(super) fn expand_braces(p: &str, max: usize) -> (Vec<String>, bool) {
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
pub(super) struct Pattern {
    toks: Vec<Tok>,
}

impl Pattern {
    pub(super) fn new(p: &str) -> Pattern {
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
    pub(super) fn matches(&self, name: &str) -> bool {
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
