//! Small text helpers shared by the adapters.
use std::borrow::Cow;
use std::fmt;

/// Whether a configuration key holds a secret (`password`, `md5_cred`,
/// `oauth_secret`, `refresh_token`, `auth-password`...).
pub(crate) fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password")
        || k.contains("secret")
        || k.contains("md5_cred")
        || k.contains("token")
        || k.contains("passwd")
}

/// `(key, value)` pairs for `Debug`, with secret values shown as `<redacted>`.
pub(crate) struct Redacted<'a>(pub(crate) &'a [(String, String)]);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, v)| {
                if is_secret_key(k) {
                    (k.as_str(), "<redacted>")
                } else {
                    (k.as_str(), v.as_str())
                }
            }))
            .finish()
    }
}

/// Removes ANSI escape sequences (the colours of Asterisk's console and
/// `fs_cli`): CSI sequences (`ESC [ ... final`, or the one-character C1
/// CSI U+009B), OSC sequences (`ESC ]` or C1 OSC U+009D, up to `BEL`,
/// `ESC \` or C1 ST U+009C), and two-character escapes.
pub fn strip_ansi(s: &str) -> Cow<'_, str> {
    if !s.contains(['\u{1b}', '\u{9b}', '\u{9d}']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let kind = match c {
            '\u{9b}' => '[',
            '\u{9d}' => ']',
            '\u{1b}' => match chars.peek().copied() {
                Some(k) => {
                    chars.next();
                    k
                }
                None => continue,
            },
            _ => {
                out.push(c);
                continue;
            }
        };
        match kind {
            '[' => {
                // Parameters and intermediates, then one final byte 0x40..=0x7e.
                for c in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&c) {
                        break;
                    }
                }
            }
            ']' => {
                while let Some(c) = chars.next() {
                    if c == '\u{7}' || c == '\u{9c}' {
                        break;
                    }
                    if c == '\u{1b}' {
                        if chars.peek() == Some(&'\\') {
                            chars.next();
                        }
                        break;
                    }
                }
            }
            // A two-character escape: both dropped.
            _ => {}
        }
    }
    Cow::Owned(out)
}

/// The standard reason phrase of a SIP status code (RFC 3261 and the
/// common extensions), or `""` when there is none.
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        305 => "Use Proxy",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        423 => "Interval Too Brief",
        429 => "Too Many Requests",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        485 => "Ambiguous",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        493 => "Undecipherable",
        494 => "Security Agreement Required",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => "",
    }
}

/// Asterisk's `ast_true`.
pub(crate) fn ast_true(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "yes" | "true" | "y" | "t" | "1" | "on"
    )
}

/// Asterisk's `ast_false`.
pub(crate) fn ast_false(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "no" | "false" | "n" | "f" | "0" | "off"
    )
}

/// FreeSWITCH's `switch_true`: yes/on/true/t/enabled/active/allow, or a
/// non-zero number.
pub(crate) fn switch_true(s: &str) -> bool {
    let v = s.trim().to_ascii_lowercase();
    match v.as_str() {
        "yes" | "on" | "true" | "t" | "enabled" | "active" | "allow" => true,
        _ => v.parse::<i64>().is_ok_and(|n| n != 0),
    }
}

/// A 3-digit SIP status code.
pub(crate) fn parse_code(s: &str) -> Option<u16> {
    let c: u16 = s.trim().parse().ok()?;
    (100..=999).contains(&c).then_some(c)
}

/// `HH:MM:SS` anywhere at the start of `s` (after an optional `[Mon DD `
/// prefix) as seconds since midnight.
pub(crate) fn clock_seconds(s: &str) -> Option<u32> {
    let b = s.as_bytes();
    if b.len() < 8 {
        return None;
    }
    let d = |i: usize| -> Option<u32> {
        let c = *b.get(i)?;
        c.is_ascii_digit().then(|| u32::from(c - b'0'))
    };
    if b.get(2) != Some(&b':') || b.get(5) != Some(&b':') {
        return None;
    }
    let h = d(0)? * 10 + d(1)?;
    let m = d(3)? * 10 + d(4)?;
    let sec = d(6)? * 10 + d(7)?;
    (h < 24 && m < 60 && sec < 61).then_some(h * 3600 + m * 60 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi() {
        assert_eq!(strip_ansi("plain"), "plain");
        assert_eq!(
            strip_ansi("\u{1b}[0;33mWARNING\u{1b}[0m[1]: x"),
            "WARNING[1]: x"
        );
        assert_eq!(strip_ansi("a\u{1b}]0;title\u{7}b"), "ab");
        assert_eq!(strip_ansi("tail\u{1b}"), "tail");
        assert_eq!(strip_ansi("\u{1b}[1;"), "");
        // The C1 forms of CSI and OSC.
        assert_eq!(strip_ansi("a\u{9b}31mred\u{9b}0m b"), "ared b");
        assert_eq!(strip_ansi("a\u{9d}0;title\u{9c}b"), "ab");
        assert_eq!(strip_ansi("a\u{1b}]0;t\u{1b}\\b\u{1b}Mc"), "abc");
    }

    #[test]
    fn clock() {
        assert_eq!(clock_seconds("06:01:09 Event"), Some(6 * 3600 + 69));
        assert_eq!(clock_seconds("6:01:09"), None);
        assert_eq!(clock_seconds("é6:01:09xx"), None);
    }

    #[test]
    fn booleans() {
        assert!(ast_true("Yes") && ast_false("off") && !ast_true("maybe"));
        assert!(switch_true("true") && switch_true("2") && !switch_true("false"));
    }
}
