//! `src/hosts` is as pure as the core: no clock, no IO, no threads, no
//! printing, no unsafe code, no C ABI.
use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn hosts_is_sans_io() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/hosts");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() >= 10);
    let forbidden = [
        "Instant::now",
        "SystemTime",
        "std::time::Instant",
        "std::net",
        "std::thread",
        "std::fs",
        "std::process",
        "std::env",
        "println!",
        "eprintln!",
        "print!",
        "eprint!",
        "dbg!",
        "extern \"C\"",
        "no_mangle",
        "unsafe ",
    ];
    let mut bad = Vec::new();
    for f in &files {
        let text = fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let t = line.trim_start();
            if t.starts_with("#[cfg(test)]") {
                break;
            }
            if t.starts_with("//") {
                continue;
            }
            for pat in forbidden {
                if line.contains(pat) {
                    bad.push(format!("{}:{}: `{pat}`", f.display(), n + 1));
                }
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    let m = fs::read_to_string(root.join("mod.rs")).unwrap();
    assert!(m.contains("#![forbid(unsafe_code)]"));
}
