//! Text that reaches a terminal. A registrar's reason phrase, its `Server`
//! and `X-Twilio-Error` headers, a capture or a config file can carry
//! control characters: an ANSI escape (`ESC[2J` clears the screen, OSC
//! sequences set the window title), a bell, a carriage return that
//! overwrites the line before it. Whatever the network or a file supplied
//! goes through [`terminal_safe`] before it is printed as text; JSON keeps
//! escaping them as it does.
use std::borrow::Cow;

/// Whether `c` is a control character a terminal may act on: C0 (U+0000 to
/// U+001F, so ESC too), DEL (U+007F) and C1 (U+0080 to U+009F, whose CSI
/// U+009B starts an escape sequence on its own).
fn is_control(c: char) -> bool {
    c.is_control()
}

/// `s` with every control character dropped, except the line feed and the
/// tab when `keep_layout` says so. Borrowed when there is nothing to drop.
fn strip(s: &str, keep_layout: bool) -> Cow<'_, str> {
    let drop = |c: char| is_control(c) && !(keep_layout && (c == '\n' || c == '\t'));
    if !s.chars().any(drop) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().filter(|c| !drop(*c)).collect())
}

/// One field of text (a reason phrase, a header value, a name) made safe
/// for a terminal: every control character dropped, line feeds and tabs
/// too, so a field stays on its line.
pub fn terminal_safe(s: &str) -> Cow<'_, str> {
    strip(s, false)
}

/// A whole block of text made safe for a terminal: control characters
/// dropped, but its own line feeds and tabs kept.
pub fn terminal_safe_block(s: &str) -> Cow<'_, str> {
    strip(s, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(terminal_safe("Forbidden"), Cow::Borrowed(_)));
        assert!(matches!(
            terminal_safe_block("a\n\tb"),
            Cow::Borrowed("a\n\tb")
        ));
    }

    #[test]
    fn escapes_and_controls_are_dropped() {
        assert_eq!(terminal_safe("Bad\x1b[2J\x1b[31mRed"), "Bad[2J[31mRed");
        assert_eq!(terminal_safe("\x1b]0;owned\x07title"), "]0;ownedtitle");
        assert_eq!(terminal_safe("over\rwrite"), "overwrite");
        assert_eq!(terminal_safe("c1\u{9b}31m"), "c131m");
        assert_eq!(terminal_safe("del\u{7f}"), "del");
        assert_eq!(terminal_safe("two\nlines\tx"), "twolinesx");
        assert_eq!(terminal_safe_block("two\nlines\tx\x1b"), "two\nlines\tx");
    }

    #[test]
    fn other_text_is_kept() {
        assert_eq!(terminal_safe("Réponse — 403 ✓"), "Réponse — 403 ✓");
    }
}
