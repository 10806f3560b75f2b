//! The layering rules, checked mechanically: `core/`, `validate/`, `sip/` and
//! `capture/` never read a clock, touch the network or the file system,
//! spawn threads or
//! print; only `ffi/` has `extern "C"`.
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

/// Lines of code, with comments and `#[cfg(test)]` modules left out.
fn code_lines(p: &Path) -> Vec<(usize, String)> {
    let text = fs::read_to_string(p).unwrap();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push((i + 1, line.to_owned()));
    }
    out
}

#[test]
fn sans_io_layers_do_no_io() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
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
        "rand::",
    ];
    let mut files = Vec::new();
    rust_files(&root.join("core"), &mut files);
    rust_files(&root.join("validate"), &mut files);
    rust_files(&root.join("sip"), &mut files);
    rust_files(&root.join("capture"), &mut files);
    assert!(files.len() > 8);
    let mut bad = Vec::new();
    for f in &files {
        for (n, line) in code_lines(f) {
            for pat in forbidden {
                if line.contains(pat) {
                    bad.push(format!("{}:{n}: `{pat}` in {}", f.display(), line.trim()));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "IO or clock use in a sans-IO layer:\n{}",
        bad.join("\n")
    );
}

#[test]
fn only_ffi_has_extern_c() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    for f in files {
        if f.starts_with(root.join("ffi")) {
            continue;
        }
        for (n, line) in code_lines(&f) {
            assert!(
                !line.contains("extern \"C\"") && !line.contains("no_mangle"),
                "{}:{n}: C ABI outside src/ffi",
                f.display()
            );
        }
    }
}

#[test]
fn sans_io_layers_forbid_unsafe() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for m in [
        "core/mod.rs",
        "validate/mod.rs",
        "sip/mod.rs",
        "capture/mod.rs",
    ] {
        let text = fs::read_to_string(root.join(m)).unwrap();
        assert!(
            text.contains("#![forbid(unsafe_code)]"),
            "{m} must forbid unsafe code"
        );
    }
}
