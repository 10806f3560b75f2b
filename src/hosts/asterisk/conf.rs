//! A reader for Asterisk's `.conf` syntax as `pjsip.conf` uses it.
//!
//! Sections (`[name]`), `key = value` and `key => value` lines, `;`
//! comments (`\;` is a literal semicolon), `;-- block comments --;`,
//! templates (`[name](!)`), inheritance (`[name](tmpl1,tmpl2)`, also
//! `[name](!,tmpl)`) and additions to an earlier section (`[name](+)`).
//! `#include`/`#exec` lines are skipped here (their files are not read: no
//! IO here); the lines that were skipped are reported. Run the text
//! through [`expand_includes`](super::expand_includes) first to follow
//! them as Asterisk does.
use super::object::ObjectSet;
use crate::hosts::text::Redacted;
use std::collections::HashMap;
use std::fmt;

/// One `[section]` as written, before inheritance. `Debug` never shows a
/// password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ConfSection {
    /// The name between the brackets.
    pub name: String,
    /// `(!)`: a template, not an object.
    pub is_template: bool,
    /// The sections it inherits from, in order.
    pub templates: Vec<String>,
    /// `(key, value)` pairs, in order (keys may repeat).
    pub fields: Vec<(String, String)>,
    /// The 1-based line of the `[name]` header.
    pub line: usize,
}

impl fmt::Debug for ConfSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfSection")
            .field("name", &self.name)
            .field("is_template", &self.is_template)
            .field("templates", &self.templates)
            .field("fields", &Redacted(&self.fields))
            .field("line", &self.line)
            .finish()
    }
}

/// A parsed configuration file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfFile {
    /// The sections, in file order.
    pub sections: Vec<ConfSection>,
    /// 1-based lines of `#include`/`#exec` directives that were not followed.
    pub skipped_directives: Vec<usize>,
}

/// Removes comments from one line; `in_block` carries a `;-- ... --;`
/// comment across lines.
pub(crate) fn strip_comments(line: &str, in_block: &mut bool) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    loop {
        if *in_block {
            match rest.find("--;") {
                Some(i) => {
                    *in_block = false;
                    rest = &rest[i + 3..];
                }
                None => return out,
            }
        }
        let mut chars = rest.char_indices().peekable();
        let mut next_rest = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' if chars.peek().map(|&(_, n)| n) == Some(';') => {
                    chars.next();
                    out.push(';');
                }
                ';' => {
                    if rest[i..].starts_with(";--") {
                        *in_block = true;
                        next_rest = Some(&rest[i + 3..]);
                    }
                    break;
                }
                _ => out.push(c),
            }
        }
        match next_rest {
            Some(r) => rest = r,
            None => return out,
        }
    }
}

/// Parses the text of a `.conf` file. Never fails: lines it cannot read
/// are skipped.
pub fn parse_conf(text: &str) -> ConfFile {
    let mut file = ConfFile::default();
    let mut in_block = false;
    let mut current: Option<usize> = None;
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for (n, raw) in text.split('\n').enumerate() {
        let line_no = n + 1;
        let line = strip_comments(raw.trim_end_matches('\r'), &mut in_block);
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('#') {
            file.skipped_directives.push(line_no);
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let Some(close) = rest.find(']') else {
                continue;
            };
            let name = rest[..close].trim().to_owned();
            let after = rest[close + 1..].trim();
            let mut sec = ConfSection {
                name,
                line: line_no,
                ..ConfSection::default()
            };
            let mut append = false;
            if let Some(opts) = after.strip_prefix('(') {
                let opts = opts.split(')').next().unwrap_or("");
                for o in opts.split(',').map(str::trim).filter(|o| !o.is_empty()) {
                    match o {
                        "!" => sec.is_template = true,
                        "+" => append = true,
                        t if sec.templates.len() < MAX_TEMPLATES => {
                            sec.templates.push(t.to_owned())
                        }
                        _ => {}
                    }
                }
            }
            if append {
                if let Some(&i) = by_name.get(&sec.name) {
                    current = Some(i);
                    continue;
                }
            }
            by_name.insert(sec.name.clone(), file.sections.len());
            current = Some(file.sections.len());
            file.sections.push(sec);
            continue;
        }
        let Some(eq) = line.find('=') else {
            continue;
        };
        let key = line[..eq].trim();
        let value = line[eq + 1..].strip_prefix('>').unwrap_or(&line[eq + 1..]);
        if key.is_empty() {
            continue;
        }
        if let Some(sec) = current.and_then(|i| file.sections.get_mut(i)) {
            sec.fields.push((key.to_owned(), value.trim().to_owned()));
        }
    }
    file
}

/// How many inherited fields may be copied in one call of
/// [`ConfFile::objects`]; beyond it inheritance is cut off. Keeps a
/// hostile file (templates inheriting each other many times over) linear.
const INHERIT_BUDGET: usize = 1_000_000;
/// How deep templates may inherit from templates.
const MAX_DEPTH: usize = 16;
/// How many templates one section may name (more are ignored).
const MAX_TEMPLATES: usize = 64;

impl ConfFile {
    /// The objects the file defines: every section that is not a template,
    /// with its templates' fields first (in order) and its own after, and
    /// its `type=` as the object type. A section inherits from the last
    /// section of that name defined before it; a template that does not
    /// exist is ignored, and so are inheritance cycles.
    pub fn objects(&self) -> Vec<ObjectSet> {
        let mut positions: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, s) in self.sections.iter().enumerate() {
            positions.entry(s.name.as_str()).or_default().push(i);
        }
        let mut budget = INHERIT_BUDGET;
        let mut out = Vec::new();
        for (i, sec) in self.sections.iter().enumerate() {
            if sec.is_template {
                continue;
            }
            let mut fields = Vec::new();
            self.inherit(i, 0, &positions, &mut fields, &mut budget);
            fields.extend(sec.fields.iter().cloned());
            out.push(ObjectSet::new(&sec.name, "", fields));
        }
        out
    }

    fn inherit(
        &self,
        i: usize,
        depth: usize,
        positions: &HashMap<&str, Vec<usize>>,
        fields: &mut Vec<(String, String)>,
        budget: &mut usize,
    ) {
        if depth >= MAX_DEPTH {
            return;
        }
        let Some(sec) = self.sections.get(i) else {
            return;
        };
        let mut seen: Vec<&str> = Vec::new();
        for t in &sec.templates {
            if seen.contains(&t.as_str()) {
                continue;
            }
            seen.push(t);
            // The last section of that name before this one.
            let Some(ti) = positions.get(t.as_str()).and_then(|v| {
                let k = v.partition_point(|&p| p < i);
                k.checked_sub(1).map(|k| v[k])
            }) else {
                continue;
            };
            let tf = &self.sections[ti].fields;
            // Every visit costs one, every copied field one more.
            if tf.len() >= *budget {
                *budget = 0;
                return;
            }
            *budget -= tf.len() + 1;
            self.inherit(ti, depth + 1, positions, fields, budget);
            fields.extend(tf.iter().cloned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_templates_comments() {
        let f = parse_conf(
            "; header\n[t](!)\ntype=registration\nexpiration=60 ; c\n\
             [r1](t)\nserver_uri=sip:h\\;lr\n;-- block\nhidden=1\n--;\nclient_uri => sip:a@h\n\
             [r1](+)\nretry_interval=20\n#include other.conf\n[cyc](cyc)\ntype=x\n",
        );
        assert_eq!(f.skipped_directives, vec![13]);
        let objs = f.objects();
        assert_eq!(objs.len(), 2);
        let r1 = &objs[0];
        assert_eq!(r1.id, "r1");
        assert_eq!(r1.kind, "registration");
        assert_eq!(r1.get("expiration"), Some("60"));
        assert_eq!(r1.get("server_uri"), Some("sip:h;lr"));
        assert_eq!(r1.get("client_uri"), Some("sip:a@h"));
        assert_eq!(r1.get("retry_interval"), Some("20"));
        assert_eq!(r1.get("hidden"), None);
        assert_eq!(objs[1].kind, "x");
    }
}
