//! The grammar of header values (RFC 3261 §25.1): linear white space,
//! lists split outside quotes and angle brackets, `;name=value`
//! parameters, name-addr / addr-spec (From, To, Contact) and Contact
//! bindings. Zero-copy: everything borrows the message.
use super::uri::uri_user;

/// White space including the CR/LF of folded lines.
pub(crate) fn is_lws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

pub(crate) fn trim_lws(s: &str) -> &str {
    let b = s.as_bytes();
    let lws = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let start = b.iter().position(|c| !lws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !lws(c)).map_or(start, |i| i + 1);
    // Both ends sit next to ASCII bytes, so they are character boundaries.
    s.get(start..end).unwrap_or("")
}

/// Splits at `sep` outside double quotes and angle brackets, trimming
/// white space and skipping empty parts. Allocates nothing.
pub(crate) fn split_outside(s: &str, sep: char) -> SplitOutside<'_> {
    debug_assert!(sep.is_ascii());
    SplitOutside { s, pos: 0, sep }
}

/// The iterator of [`split_outside`].
pub(crate) struct SplitOutside<'a> {
    s: &'a str,
    pos: usize,
    sep: char,
}

impl<'a> Iterator for SplitOutside<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        // Separators, quotes and brackets are ASCII, and no byte of a
        // multi-byte UTF-8 character is ASCII: scanning bytes is exact.
        // Each jump to the next byte that matters is a vectorised search
        // (memchr), so a value is scanned in strides, not byte by byte.
        let sep = self.sep as u8;
        let bytes = self.s.as_bytes();
        let len = bytes.len();
        let from = |i: usize| &bytes[i.min(len)..];
        while self.pos <= len {
            let mut i = self.pos;
            loop {
                let Some(k) = memchr::memchr3(sep, b'"', b'<', from(i)) else {
                    i = len;
                    break;
                };
                i += k;
                match bytes[i] {
                    b if b == sep => break,
                    b'"' => {
                        // A quoted string, with backslash escapes: to its
                        // closing quote (the end when unterminated).
                        i += 1;
                        loop {
                            match memchr::memchr2(b'"', b'\\', from(i)) {
                                Some(q) if bytes[i + q] == b'"' => {
                                    i += q;
                                    break;
                                }
                                Some(q) => i += q + 2,
                                None => {
                                    i = len;
                                    break;
                                }
                            }
                        }
                    }
                    // `<`: to the closing `>` (the end when unterminated).
                    _ => i = memchr::memchr(b'>', from(i)).map_or(len, |g| i + g),
                }
                if i >= len {
                    break;
                }
                i += 1;
            }
            let end = i.min(len);
            let part = trim_lws(&self.s[self.pos..end]);
            self.pos = end + 1;
            if !part.is_empty() {
                return Some(part);
            }
        }
        None
    }
}

/// The value of a `name=value` parameter in `;`-separated params (case-insensitive name).
pub(crate) fn param<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    split_outside(params, ';').find_map(|p| {
        let eq = p.as_bytes().iter().position(|&b| b == b'=');
        let (k, v) = eq.map_or((p, ""), |i| (&p[..i], &p[i + 1..]));
        trim_lws(k)
            .eq_ignore_ascii_case(name)
            .then(|| unquote(trim_lws(v)))
    })
}

pub(super) fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(s)
}

/// `Display Name <uri>;params` or `uri;params`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The display name, unquoted (may be empty).
    pub display: &'a str,
    /// The URI.
    pub uri: &'a str,
    /// Header parameters after the URI (`;tag=...;expires=...`), without
    /// the leading `;`.
    pub params: &'a str,
}

impl<'a> NameAddr<'a> {
    /// Parses a name-addr or addr-spec.
    pub fn parse(s: &'a str) -> Option<NameAddr<'a>> {
        let s = trim_lws(s);
        if s.is_empty() {
            return None;
        }
        if let Some(lt) = find_outside_quotes(s, b'<') {
            let gt = lt + s.as_bytes()[lt..].iter().position(|&b| b == b'>')?;
            let rest = trim_lws(&s[gt + 1..]);
            Some(NameAddr {
                display: unquote(trim_lws(&s[..lt])),
                uri: trim_lws(&s[lt + 1..gt]),
                params: trim_lws(rest.strip_prefix(';').unwrap_or(rest)),
            })
        } else {
            // addr-spec: parameters after the first ';' belong to the header.
            let semi = s.as_bytes().iter().position(|&b| b == b';');
            let (uri, params) = semi.map_or((s, ""), |i| (&s[..i], &s[i + 1..]));
            Some(NameAddr {
                display: "",
                uri: trim_lws(uri),
                params: trim_lws(params),
            })
        }
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&'a str> {
        param(self.params, "tag")
    }

    /// The user part of the URI (`office` in `sip:office@acme.sip.twilio.com`).
    pub fn user(&self) -> Option<&'a str> {
        uri_user(self.uri)
    }
}

fn find_outside_quotes(s: &str, needle: u8) -> Option<usize> {
    let mut quoted = false;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            _ if b == needle && !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// One Contact binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Contact<'a> {
    /// The address.
    pub addr: NameAddr<'a>,
    /// Its `expires` parameter.
    pub expires: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The split as first written (byte by byte), kept as the reference.
    fn reference(s: &str, sep: u8) -> Vec<&str> {
        let bytes = s.as_bytes();
        let (mut pos, mut out) = (0, Vec::new());
        while pos <= bytes.len() {
            let mut i = pos;
            while i < bytes.len() {
                match bytes[i] {
                    b if b == sep => break,
                    b'"' => {
                        i += 1;
                        while i < bytes.len() && bytes[i] != b'"' {
                            i += if bytes[i] == b'\\' { 2 } else { 1 };
                        }
                    }
                    b'<' => {
                        while i < bytes.len() && bytes[i] != b'>' {
                            i += 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            let end = i.min(bytes.len());
            let part = trim_lws(&s[pos..end]);
            pos = end + 1;
            if !part.is_empty() {
                out.push(part);
            }
        }
        out
    }

    #[test]
    fn quotes_and_brackets_hide_the_separator() {
        let v = r#""A, \"B\"" <sip:a@b;x=1,2>;tag=3 , <sip:c@d>, "unterminated, x"#;
        assert_eq!(
            split_outside(v, ',').collect::<Vec<_>>(),
            [
                r#""A, \"B\"" <sip:a@b;x=1,2>;tag=3"#,
                "<sip:c@d>",
                r#""unterminated, x"#
            ]
        );
        assert_eq!(
            split_outside("a;b=1;;c", ';').collect::<Vec<_>>(),
            ["a", "b=1", "c"]
        );
        assert_eq!(
            split_outside("<sip:x;y", ';').collect::<Vec<_>>(),
            ["<sip:x;y"]
        );
        assert_eq!(
            split_outside(r#"a="\"#, ';').collect::<Vec<_>>(),
            [r#"a="\"#]
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// The vectorised split gives exactly the reference's parts, on
        /// strings made of the bytes that matter (and a multi-byte one).
        #[test]
        fn the_split_matches_the_reference(
            picks in proptest::collection::vec(0usize..10, 0..80),
            sep in proptest::sample::select(vec![b',', b';']),
        ) {
            let alphabet = [",", ";", "\"", "<", ">", "\\", "a", " ", "é", "="];
            let s: String = picks.iter().map(|&i| alphabet[i]).collect();
            let got: Vec<_> = split_outside(&s, char::from(sep)).collect();
            proptest::prop_assert_eq!(got, reference(&s, sep));
        }
    }
}
