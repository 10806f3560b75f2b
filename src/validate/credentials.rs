//! Username and password checks. A password is described, never quoted.
use super::codes::*;
use super::{Finding, Profile, Severity};

/// Twilio's longest credential username.
const TWILIO_USERNAME_MAX: usize = 32;

/// Characters RFC 3261 allows unescaped in a user part (besides
/// alphanumerics): unreserved marks and user-unreserved.
const USER_EXTRA: &str = "-_.!~*'()&=+$,;?/%";

const PLACEHOLDERS: &[&str] = &[
    "changeme",
    "change_me",
    "change-me",
    "password",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "secret",
    "mysecret",
    "yourpassword",
    "your_password",
    "your-password",
    "sippassword",
    "sip_password",
    "todo",
    "fixme",
    "replace_me",
    "replaceme",
    "example",
    "test",
    "default",
    "admin",
    "letmein",
    "qwerty",
    "none",
    "null",
];

fn username_problem(u: &str) -> Option<String> {
    for c in u.chars() {
        if c.is_ascii_alphanumeric() || USER_EXTRA.contains(c) {
            continue;
        }
        return Some(if c.is_whitespace() {
            "a space or other white space".to_owned()
        } else if !c.is_ascii() {
            format!(
                "the non-ASCII character `{c}` (U+{:04X}), perhaps a look-alike of a Latin letter",
                c as u32
            )
        } else if c.is_ascii_control() {
            format!("a control character (0x{:02X})", c as u32)
        } else {
            format!("the character `{c}`")
        });
    }
    None
}

fn check_user(field: &'static str, u: &str, profile: Profile, out: &mut Vec<Finding>) {
    if u.is_empty() {
        out.push(Finding::new(
            CREDENTIALS_USERNAME_EMPTY,
            Severity::Error,
            field,
            format!("The {} is empty.", if field == "username" { "username" } else { "authorization username" }),
            "Set it to the username of the credential list entry, exactly as in the provider's console.",
        ));
        return;
    }
    if profile == Profile::Twilio && u.chars().count() > TWILIO_USERNAME_MAX {
        out.push(Finding::new(
            CREDENTIALS_USERNAME_TOO_LONG,
            Severity::Error,
            field,
            format!(
                "`{u}` has {} characters; Twilio credential usernames have at most {TWILIO_USERNAME_MAX}, so no credential list can hold it.",
                u.chars().count()
            ),
            "Use the username exactly as listed in Voice > Manage > Credential lists.",
        ));
    }
    if let Some(what) = username_problem(u) {
        out.push(Finding::new(
            CREDENTIALS_USERNAME_CHARS,
            Severity::Error,
            field,
            format!("`{}` contains {what}, which a SIP user part cannot carry as is.", u.escape_debug()),
            "Retype the username by hand using letters, digits and `-_.`; match the provider's console exactly.",
        ));
    }
}

fn is_placeholder(p: &str) -> bool {
    let t = p.trim();
    let lower = t.to_ascii_lowercase();
    if PLACEHOLDERS.contains(&lower.as_str()) {
        return true;
    }
    let wrapped = |a: char, b: char| t.len() >= 2 && t.starts_with(a) && t.ends_with(b);
    if wrapped('<', '>')
        || wrapped('{', '}')
        || wrapped('[', ']')
        || t.starts_with("${")
        || t.starts_with("%(")
    {
        return true;
    }
    // $VAR, %VAR%: an environment variable that was never expanded.
    if (t.starts_with('$')
        && t.len() > 1
        && t[1..]
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        || (wrapped('%', '%') && t.len() > 2)
    {
        return true;
    }
    // One repeated character (xxxx, ****, 0000) or a run of digits 1234...
    let first = t.chars().next();
    if t.chars().count() >= 3 && t.chars().all(|c| Some(c) == first) {
        return true;
    }
    let digits = "1234567890";
    t.len() >= 4 && digits.starts_with(t)
}

fn check_password(password: Option<&str>, profile: Profile, out: &mut Vec<Finding>) {
    let Some(p) = password.filter(|p| !p.is_empty()) else {
        out.push(Finding::new(
            CREDENTIALS_PASSWORD_EMPTY,
            Severity::Error,
            "password",
            "No password is configured, so the digest challenge cannot be answered.",
            "Set the password of the credential list entry (case-sensitive).",
        ));
        return;
    };
    if p.trim() != p {
        out.push(Finding::new(
            CREDENTIALS_PASSWORD_WHITESPACE,
            Severity::Error,
            "password",
            "The password starts or ends with white space: almost always a copy-paste slip, and the registrar will refuse it.",
            "Paste the password again without leading or trailing spaces or line breaks.",
        ));
    } else if p.chars().any(char::is_whitespace) {
        out.push(Finding::new(
            CREDENTIALS_PASSWORD_WHITESPACE,
            Severity::Warning,
            "password",
            "The password contains white space; some PBX configuration formats cut the value there.",
            "Check the stored password is complete, or choose one without spaces.",
        ));
    }
    if let Some((i, c)) = p.char_indices().find(|(_, c)| !c.is_ascii()) {
        let pos = p[..i].chars().count() + 1;
        let class = if c.is_whitespace() {
            "a non-breaking or other non-ASCII space"
        } else if matches!(
            c,
            '\u{2018}' | '\u{2019}' | '\u{201C}' | '\u{201D}' | '\u{00AB}' | '\u{00BB}'
        ) {
            "a typographic quote"
        } else if c.is_alphabetic() {
            "a non-ASCII letter (possibly a look-alike such as a Cyrillic or Greek letter)"
        } else {
            "a non-ASCII symbol"
        };
        out.push(Finding::new(
            CREDENTIALS_PASSWORD_NONASCII,
            Severity::Error,
            "password",
            format!("Character {pos} of the password is {class}; digest hashes it as different bytes than the plain ASCII the provider stored."),
            "Type the password by hand instead of pasting it from a document or chat.",
        ));
    }
    if is_placeholder(p) {
        out.push(Finding::new(
            CREDENTIALS_PASSWORD_PLACEHOLDER,
            Severity::Error,
            "password",
            "The password is a placeholder or an unexpanded variable, not a real secret.",
            "Set the real password of the credential list entry (and check the variable is expanded where it is used).",
        ));
        return;
    }
    let len = p.chars().count();
    match profile {
        Profile::Twilio => {
            let mut broken = Vec::new();
            if len < 12 {
                broken.push(format!("it has {len} characters, fewer than 12"));
            }
            if !p.chars().any(|c| c.is_ascii_digit()) {
                broken.push("it has no digit".to_owned());
            }
            if !(p.chars().any(|c| c.is_lowercase()) && p.chars().any(|c| c.is_uppercase())) {
                broken.push("it does not mix upper- and lower-case letters".to_owned());
            }
            if !broken.is_empty() {
                out.push(Finding::new(
                    CREDENTIALS_PASSWORD_WEAK,
                    Severity::Error,
                    "password",
                    format!(
                        "Twilio refuses credentials whose password breaks its rules, so this cannot be the password in your credential list: {}.",
                        broken.join("; ")
                    ),
                    "Copy the password of the credential list entry again (at least 12 characters, a digit, upper and lower case), or reset it in the Console and update the PBX.",
                ));
            }
        }
        Profile::Generic => {
            if len < 8 {
                out.push(Finding::new(
                    CREDENTIALS_PASSWORD_WEAK,
                    Severity::Warning,
                    "password",
                    format!("The password has only {len} characters; SIP digest passwords are brute-forced from captured REGISTERs."),
                    "Use at least 12 characters with digits and mixed case.",
                ));
            }
        }
    }
}

/// Checks a username, optional authorization username and optional password.
pub fn validate_credentials(
    username: &str,
    auth_username: Option<&str>,
    password: Option<&str>,
    profile: Profile,
) -> Vec<Finding> {
    let mut out = Vec::new();
    check_user("username", username, profile, &mut out);
    if let Some(a) = auth_username.filter(|a| !a.is_empty()) {
        if a != username {
            check_user("auth_username", a, profile, &mut out);
            match profile {
                Profile::Twilio => out.push(Finding::new(
                    CREDENTIALS_AUTH_USER_MISMATCH,
                    Severity::Error,
                    "auth_username",
                    format!(
                        "The authorization user `{a}` differs from the username `{username}`; Twilio requires them to be equal (Debugger 32106)."
                    ),
                    format!("Set the authorization user to `{username}` (or leave it empty), and use that same name in the credential list."),
                )),
                Profile::Generic => out.push(Finding::new(
                    CREDENTIALS_AUTH_USER_MISMATCH,
                    Severity::Info,
                    "auth_username",
                    format!("The authorization user `{a}` differs from the username `{username}`."),
                    "Fine if the registrar expects it; it must know the authorization user, not the AOR user.",
                )),
            }
        }
    }
    check_password(password, profile, &mut out);
    out
}
