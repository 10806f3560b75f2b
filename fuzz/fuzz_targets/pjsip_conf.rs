//! A pjsip.conf with its includes, over an in-memory file system: the
//! include expansion (directives, quotes, wildcards and braces, cycles,
//! depth, special files, the budget), then the `.conf` parser, the objects,
//! the trunks and the registration index. Never a panic; the budget holds
//! whatever the files say.
//!
//! Input: chunks separated by NUL bytes. The first is
//! `/etc/asterisk/pjsip.conf`; each other is `NAME\nCONTENT`, NAME relative
//! to `/etc/asterisk` unless it starts with `/`; a NAME starting with `@`
//! is a FIFO (no content) and one starting with `%` a character device.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regwatch::hosts::asterisk::{
    expand_includes, AsteriskConfig, FileKind, IncludeLimits, MemSource,
};

const DIR: &str = "/etc/asterisk";

fn path(name: &str) -> String {
    if name.starts_with('/') {
        name.to_owned()
    } else {
        format!("{DIR}/{name}")
    }
}

fuzz_target!(|data: &[u8]| {
    let mut chunks = data.split(|b| *b == 0);
    let root = chunks.next().unwrap_or_default();
    let mut fs = MemSource::new();
    let root_path = path("pjsip.conf");
    fs.insert(&root_path, root);
    for c in chunks.take(32) {
        let (name, content) = match c.iter().position(|b| *b == b'\n') {
            Some(i) => (&c[..i], &c[i + 1..]),
            None => (c, &c[c.len()..]),
        };
        let name = String::from_utf8_lossy(name);
        if let Some(n) = name.strip_prefix('@') {
            fs.insert_special(&path(n), FileKind::Fifo);
        } else if let Some(n) = name.strip_prefix('%') {
            fs.insert_special(&path(n), FileKind::CharDevice);
        } else if !name.is_empty() {
            fs.insert(&path(&name), content);
        }
    }
    // Budgets small enough that inputs of a few KiB cross them (a file
    // included many times, a deep chain): the same checks as the real
    // budgets, at a fraction of the work per input.
    let limits = IncludeLimits {
        max_depth: 10,
        max_files: 64,
        max_bytes: 64 << 10,
        max_dir_entries: 1000,
        max_patterns: 16,
        max_notes: 20,
    };
    let text = String::from_utf8_lossy(root).into_owned();
    let x = expand_includes(&mut fs, &root_path, &text, DIR, &limits);
    assert!(x.files_read <= limits.max_files, "{} files", x.files_read);
    assert!(x.bytes_read <= limits.max_bytes, "{} bytes", x.bytes_read);
    assert!(x.notes.len() <= limits.max_notes + 2, "{} notes", x.notes.len());
    // The inlined text is what was read: a line gains at most its newline,
    // a directive line becomes at most 7 bytes, a file at most 5 more.
    let bound = 7 * x.bytes_read as usize + 5 * x.files_read;
    assert!(x.text.len() <= bound, "{} bytes of text, {bound} at most", x.text.len());
    for n in &x.notes {
        assert!(!n.message.is_empty() && n.field == "#include");
    }

    // (The `.conf` parser and the objects: from_pjsip_conf starts with
    // `parse_conf(text).objects()`.)
    let ac = AsteriskConfig::from_pjsip_conf(&x.text);
    for t in ac.trunks() {
        let _ = t.config.findings(None);
    }
    let idx = ac.index();
    for r in &ac.registrations {
        let _ = idx.find(&r.client_uri, &r.server_uri);
        let _ = idx.by_name(&r.name);
    }
});
