//! Registrations that register the same AOR to the same registrar (an
//! admin trying a right and a wrong password, a copied section): Asterisk
//! names a registration in its Registry events and log lines by the two
//! URIs only, so those cannot say which of them an event is about. Only
//! the Contact each registers (`contact_user`, default `s`) can tell them
//! apart on the wire. Each gets a note naming the others; its events are
//! never filed under another.
use crate::hosts::codes;
use crate::validate::{Finding, Severity};
use std::collections::HashMap;

/// Asterisk's Contact user when `contact_user` is not set.
pub(super) const DEFAULT_CONTACT_USER: &str = "s";

fn key(uri: &str) -> String {
    let t = uri.trim();
    t.strip_prefix('<')
        .and_then(|x| x.strip_suffix('>'))
        .unwrap_or(t)
        .trim()
        .to_ascii_lowercase()
}

/// What the notes need of a registration.
pub(super) struct Reg<'a> {
    pub(super) name: &'a str,
    pub(super) client_uri: &'a str,
    pub(super) server_uri: &'a str,
    pub(super) contact_user: Option<&'a str>,
}

/// The note of each registration that shares its URIs with another, by
/// registration name. Linear in the number of registrations.
pub(super) fn notes<'a>(regs: impl Iterator<Item = Reg<'a>>) -> HashMap<&'a str, Finding> {
    let mut by_pair: HashMap<(String, String), Vec<Reg<'a>>> = HashMap::new();
    for r in regs {
        by_pair
            .entry((key(r.client_uri), key(r.server_uri)))
            .or_default()
            .push(r);
    }
    let mut out = HashMap::new();
    for group in by_pair.values().filter(|g| g.len() > 1) {
        fn user<'a>(r: &Reg<'a>) -> &'a str {
            r.contact_user.unwrap_or(DEFAULT_CONTACT_USER)
        }
        // Linear even for a file with 100k copies of one registration.
        let mut per_user: HashMap<&str, usize> = HashMap::new();
        for r in group {
            *per_user.entry(user(r)).or_default() += 1;
        }
        for r in group {
            // Bounded: a config with thousands of copies names the first few.
            let others: Vec<String> = group
                .iter()
                .filter(|o| o.name != r.name)
                .take(5)
                .map(|o| format!("[{}]", o.name))
                .collect();
            let others = others.join(", ");
            let mine = user(r);
            let same_contact = per_user.get(mine).is_some_and(|n| *n > 1);
            let finding = if same_contact {
                Finding {
                    code: codes::ASTERISK_SHARED_AOR,
                    severity: Severity::Warning,
                    field: "contact_user",
                    message: format!(
                        "[{}] registers the same AOR to the same registrar as {others}, with the same Contact user `{mine}`: nothing Asterisk sends or reports tells their registrations apart, so regwatch files their events under neither.",
                        r.name
                    ),
                    fix: "Give each registration its own contact_user (e.g. contact_user=<section name>), or remove the copy.".to_owned(),
                }
            } else {
                Finding {
                    code: codes::ASTERISK_SHARED_AOR,
                    severity: Severity::Info,
                    field: "contact_user",
                    message: format!(
                        "[{}] registers the same AOR to the same registrar as {others}: regwatch tells them apart by the Contact user (`{mine}`); Asterisk's Registry events, which name only the URIs, are not used for them.",
                        r.name
                    ),
                    fix: "Nothing to do while each keeps its own contact_user.".to_owned(),
                }
            };
            out.insert(r.name, finding);
        }
    }
    out
}
