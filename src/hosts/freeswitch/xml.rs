//! A small, lenient XML tag reader: enough for sofia gateway definitions.
//!
//! FreeSWITCH reads its configuration with `switch_xml` (derived from
//! ezxml), which is forgiving: a stray `&` in a password is kept as
//! written. A strict parser would refuse the whole file; this reader
//! returns every tag it can see, decodes the five named entities and
//! numeric character references, keeps anything else literally, skips
//! comments, processing instructions (`<?xml ...?>`,
//! `<X-PRE-PROCESS .../>` is an ordinary tag), DOCTYPE and CDATA, and
//! stops at the first unterminated construct.

/// A start or end tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tag<'a> {
    Start {
        name: &'a str,
        attrs: Vec<(&'a str, String)>,
        self_closing: bool,
    },
    End {
        name: &'a str,
    },
}

/// Decodes `&amp;` `&lt;` `&gt;` `&quot;` `&apos;` `&#NN;` `&#xHH;`;
/// anything else stays as written.
pub(crate) fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        // An entity is short; look for its ';' nearby only.
        let semi = after
            .char_indices()
            .take(12)
            .find(|&(_, c)| c == ';')
            .map(|(j, _)| j);
        let decoded = semi.and_then(|j| {
            let name = &after[1..j];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => {
                    let n = if let Some(h) = name.strip_prefix("#x").or(name.strip_prefix("#X")) {
                        u32::from_str_radix(h, 16).ok()
                    } else if let Some(d) = name.strip_prefix('#') {
                        d.parse().ok()
                    } else {
                        None
                    };
                    n.and_then(char::from_u32)
                }
            };
            c.map(|c| (c, j))
        });
        match decoded {
            Some((c, j)) => {
                out.push(c);
                rest = &after[j + 1..];
            }
            None => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The index of the `>` that ends the tag starting at `s[0] == '<'`,
/// skipping `>` inside quoted attribute values.
fn tag_end(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices().skip(1) {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '>' => return Some(i),
            None => {}
        }
    }
    None
}

fn parse_attrs(mut s: &str) -> Vec<(&str, String)> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start();
        if s.is_empty() {
            return out;
        }
        let name_end = s
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(s.len());
        let name = &s[..name_end];
        s = s[name_end..].trim_start();
        let Some(after_eq) = s.strip_prefix('=') else {
            if !name.is_empty() {
                out.push((name, String::new()));
            }
            if name_end == 0 {
                // A stray '=' or similar: skip one character.
                let mut chars = s.chars();
                chars.next();
                s = chars.as_str();
            }
            continue;
        };
        s = after_eq.trim_start();
        let value;
        match s.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let body = &s[1..];
                match body.find(q) {
                    Some(e) => {
                        value = &body[..e];
                        s = &body[e + 1..];
                    }
                    None => {
                        value = body;
                        s = "";
                    }
                }
            }
            _ => {
                let e = s.find(char::is_whitespace).unwrap_or(s.len());
                value = &s[..e];
                s = &s[e..];
            }
        }
        if !name.is_empty() {
            out.push((name, decode_entities(value)));
        }
    }
}

/// Every tag in document order.
pub(crate) fn tags(xml: &str) -> Vec<Tag<'_>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(off) = xml.get(pos..).and_then(|r| r.find('<')) {
        let start = pos + off;
        let rest = &xml[start..];
        let skip_to = |end: &str| rest.find(end).map(|e| start + e + end.len());
        let next = if rest.starts_with("<!--") {
            skip_to("-->")
        } else if rest.starts_with("<![CDATA[") {
            skip_to("]]>")
        } else if rest.starts_with("<?") {
            skip_to("?>")
        } else if rest.starts_with("<!") {
            skip_to(">")
        } else {
            match tag_end(rest) {
                Some(e) => {
                    let inner = &rest[1..e];
                    if let Some(name) = inner.strip_prefix('/') {
                        out.push(Tag::End { name: name.trim() });
                    } else {
                        let (inner, self_closing) = match inner.strip_suffix('/') {
                            Some(i) => (i, true),
                            None => (inner, false),
                        };
                        let name_end = inner.find(char::is_whitespace).unwrap_or(inner.len());
                        out.push(Tag::Start {
                            name: &inner[..name_end],
                            attrs: parse_attrs(&inner[name_end..]),
                            self_closing,
                        });
                    }
                    Some(start + e + 1)
                }
                None => None,
            }
        };
        match next {
            Some(n) => pos = n,
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient() {
        let t = tags(
            "<?xml version=\"1.0\"?><!-- c --><a x='1' y=\"a>b\" z=&amp; flag><b v=\"p&w&amp;&#65;&#x42;\"/></a>",
        );
        assert_eq!(t.len(), 3);
        let Tag::Start { name, attrs, .. } = &t[0] else {
            panic!()
        };
        assert_eq!(*name, "a");
        assert_eq!(attrs[1], ("y", "a>b".to_owned()));
        assert_eq!(attrs[2], ("z", "&".to_owned()));
        assert_eq!(attrs[3], ("flag", String::new()));
        let Tag::Start {
            attrs,
            self_closing,
            ..
        } = &t[1]
        else {
            panic!()
        };
        assert!(*self_closing);
        assert_eq!(attrs[0].1, "p&w&AB");
        assert_eq!(tags("<a b=\"unterminated>").len(), 0);
        assert_eq!(decode_entities("&#1114112;&#xD800;"), "&#1114112;&#xD800;");
    }
}
