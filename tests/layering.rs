//! The layering rules, checked on the syntax tree of every file under `src/`
//! (whole files, test modules included; comments and strings cannot fool it):
//!
//! * each top-level module imports only the modules below it in
//!   [`ALLOWED`] (`validate` ← `sip` ← `core` ← `hosts`/`capture`/`driver` ←
//!   `ffi`), whether by `use crate::…`, `super::…` climbing out of it, or a
//!   path written inline;
//! * the sans-IO layers (`core`, `sip`, `validate`, `capture`, `hosts`) read
//!   no clock, touch no socket, file, thread, process or environment, print
//!   nothing, hold no `unsafe` and no C ABI;
//! * only `ffi/` has `extern "C"` or `#[no_mangle]`;
//! * no circle between files: leaving aside a module's own parent and
//!   children, no file imports a file that imports it back, directly or
//!   through others.
//!
//! The clippy half of the guard is in `clippy.toml` (`disallowed-methods`,
//! `disallowed-types`), denied in each sans-IO module root.
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// Who may import whom: a top-level module and the top-level modules it
/// may name. A module may always name itself.
const ALLOWED: &[(&str, &[&str])] = &[
    ("validate", &[]),
    ("sip", &["validate"]),
    ("core", &["sip", "validate"]),
    ("capture", &["core", "sip", "validate"]),
    ("hosts", &["core", "sip", "validate"]),
    ("driver", &["core", "sip", "validate", "quiet_panic"]),
    ("quiet_panic", &[]),
    (
        "ffi",
        &["core", "sip", "validate", "hosts", "driver", "quiet_panic"],
    ),
];

/// The layers that do no IO of any kind.
const SANS_IO: &[&str] = &["core", "sip", "validate", "capture", "hosts"];

/// Paths (as prefixes) a sans-IO layer must not name.
const FORBIDDEN_PATHS: &[&str] = &[
    "std::net",
    "std::thread",
    "std::fs",
    "std::process",
    "std::env",
    "std::io::stdout",
    "std::io::stderr",
    "std::io::stdin",
    "std::time::Instant",
    "std::time::SystemTime",
    "std::os",
    "rand",
    "mio",
    "rustls",
    "libc",
];

/// Path segments a sans-IO layer must not name anywhere (a clock read
/// after `use std::time::*`, say).
const FORBIDDEN_SEGMENTS: &[&str] = &["Instant", "SystemTime", "UdpSocket", "TcpStream"];

const FORBIDDEN_MACROS: &[&str] = &["println", "eprintln", "print", "eprint", "dbg"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

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

/// The library's files (the CLI under `src/bin` is a crate of its own) and
/// the module path of each: `src/core/engine/mod.rs` → `core::engine`.
fn library_files() -> Vec<(PathBuf, Vec<String>)> {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut out = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&root).unwrap();
        if rel.starts_with("bin") {
            continue;
        }
        let mut module: Vec<String> = rel
            .iter()
            .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_owned())
            .collect();
        if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
            module.pop();
        }
        out.push((f, module));
    }
    out.sort();
    assert!(out.len() > 60, "found only {} files under src/", out.len());
    out
}

/// One path named in a file, resolved to the crate (`crate::…` form) when
/// it names this crate, with the line it is on.
#[derive(Debug)]
struct Named {
    line: usize,
    /// Segments as written, after `use` trees are flattened.
    written: Vec<String>,
    /// Resolved within this crate (`crate`, `super`, `self` paths), without
    /// the leading `crate`.
    in_crate: Option<Vec<String>>,
}

#[derive(Default)]
struct Collect {
    /// The module the visitor is in (inline `mod x { … }` included).
    module: Vec<String>,
    named: Vec<Named>,
    macros: Vec<(usize, String)>,
    extern_c: Vec<usize>,
    unsafe_code: Vec<usize>,
}

impl Collect {
    fn resolve(&self, segs: &[String]) -> Option<Vec<String>> {
        let mut base: Vec<String> = match segs.first().map(String::as_str) {
            Some("crate") => return Some(segs[1..].to_vec()),
            Some("super") | Some("self") => self.module.clone(),
            _ => return None,
        };
        let mut rest = segs;
        while let Some(first) = rest.first() {
            match first.as_str() {
                "super" => {
                    base.pop();
                }
                "self" => {}
                _ => break,
            }
            rest = &rest[1..];
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }

    fn push(&mut self, line: usize, written: Vec<String>) {
        let in_crate = self.resolve(&written);
        self.named.push(Named {
            line,
            written,
            in_crate,
        });
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let mut segs = prefix.clone();
                if n.ident != "self" {
                    segs.push(n.ident.to_string());
                }
                self.push(n.ident.span().start().line, segs);
            }
            syn::UseTree::Rename(r) => {
                let mut segs = prefix.clone();
                if r.ident != "self" {
                    segs.push(r.ident.to_string());
                }
                self.push(r.ident.span().start().line, segs);
            }
            syn::UseTree::Glob(g) => {
                let line = g.star_token.spans[0].start().line;
                self.push(line, prefix.clone());
            }
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t);
                }
            }
        }
    }
}

fn segments(path: &syn::Path) -> Vec<String> {
    path.segments.iter().map(|s| s.ident.to_string()).collect()
}

fn is_extern_c(abi: &Option<syn::Abi>) -> bool {
    abi.as_ref()
        .is_some_and(|a| a.name.as_ref().is_none_or(|n| n.value() != "Rust"))
}

impl<'ast> Visit<'ast> for Collect {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        self.module.push(m.ident.to_string());
        syn::visit::visit_item_mod(self, m);
        self.module.pop();
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let mut prefix = Vec::new();
        if u.leading_colon.is_some() {
            prefix.push(String::new());
        }
        self.use_tree(&mut prefix, &u.tree);
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        if let Some(first) = p.segments.first() {
            self.push(first.ident.span().start().line, segments(p));
        }
        syn::visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        if let Some(last) = m.path.segments.last() {
            self.macros
                .push((last.ident.span().start().line, last.ident.to_string()));
        }
        // Paths inside a macro's tokens (format arguments, `matches!`
        // patterns) are read as an expression list where they parse.
        if let Ok(args) = m.parse_body_with(
            syn::punctuated::Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated,
        ) {
            for e in &args {
                self.visit_expr(e);
            }
        }
        syn::visit::visit_macro(self, m);
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if is_extern_c(&f.sig.abi) {
            self.extern_c.push(f.sig.fn_token.span.start().line);
        }
        if f.sig.unsafety.is_some() {
            self.unsafe_code.push(f.sig.fn_token.span.start().line);
        }
        syn::visit::visit_item_fn(self, f);
    }

    fn visit_item_foreign_mod(&mut self, f: &'ast syn::ItemForeignMod) {
        self.extern_c.push(f.abi.extern_token.span.start().line);
        syn::visit::visit_item_foreign_mod(self, f);
    }

    fn visit_attribute(&mut self, a: &'ast syn::Attribute) {
        let text = quote_attr(a);
        if text.contains("no_mangle") || text.contains("export_name") {
            self.extern_c.push(a.pound_token.span.start().line);
        }
        syn::visit::visit_attribute(self, a);
    }

    fn visit_expr_unsafe(&mut self, e: &'ast syn::ExprUnsafe) {
        self.unsafe_code.push(e.unsafe_token.span.start().line);
        syn::visit::visit_expr_unsafe(self, e);
    }

    fn visit_item_impl(&mut self, i: &'ast syn::ItemImpl) {
        if let Some(u) = &i.unsafety {
            self.unsafe_code.push(u.span.start().line);
        }
        syn::visit::visit_item_impl(self, i);
    }
}

fn quote_attr(a: &syn::Attribute) -> String {
    let path = segments(a.path()).join("::");
    match &a.meta {
        syn::Meta::List(l) => format!("{path}({})", l.tokens),
        _ => path,
    }
}

/// Every file parsed whole, with what it names.
fn parsed() -> Vec<(PathBuf, Vec<String>, Collect)> {
    library_files()
        .into_iter()
        .map(|(f, module)| {
            let text = fs::read_to_string(&f).unwrap();
            let ast = syn::parse_file(&text)
                .unwrap_or_else(|e| panic!("{}: does not parse: {e}", f.display()));
            let mut c = Collect {
                module: module.clone(),
                ..Collect::default()
            };
            c.visit_file(&ast);
            (f, module, c)
        })
        .collect()
}

fn top_of(module: &[String]) -> &str {
    module.first().map(String::as_str).unwrap_or("")
}

#[test]
fn modules_import_only_layers_below_them() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let tops: BTreeSet<&str> = allowed.keys().copied().collect();
    let mut bad = Vec::new();
    for (f, module, c) in parsed() {
        let me = top_of(&module);
        if me.is_empty() {
            continue; // lib.rs re-exports the public API
        }
        let Some(ok) = allowed.get(me) else {
            panic!(
                "{}: module `{me}` has no row in ALLOWED; add one",
                f.display()
            );
        };
        for n in &c.named {
            let Some(target) = n.in_crate.as_ref() else {
                continue;
            };
            let Some(to) = target.first().map(String::as_str) else {
                continue;
            };
            if to == me || is_crate_root_item(to) {
                continue;
            }
            if !tops.contains(to) || !ok.contains(&to) {
                bad.push(format!(
                    "{}:{}: `{me}` names `{}` (allowed: {ok:?})",
                    f.display(),
                    n.line,
                    n.written.join("::")
                ));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "imports against the layering:\n{}",
        bad.join("\n")
    );
}

/// Items of the crate root itself (`crate::Engine`, `crate::VERSION`) are
/// the re-exported public API, not a layer.
fn is_crate_root_item(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
}

#[test]
fn sans_io_layers_do_no_io() {
    let mut bad = BTreeSet::new();
    let mut checked = 0;
    for (f, module, c) in parsed() {
        if !SANS_IO.contains(&top_of(&module)) {
            continue;
        }
        checked += 1;
        for n in &c.named {
            let written = n.written.join("::");
            for p in FORBIDDEN_PATHS {
                if written == *p || written.starts_with(&format!("{p}::")) {
                    bad.insert(format!("{}:{}: `{written}`", f.display(), n.line));
                }
            }
            for s in &n.written {
                if FORBIDDEN_SEGMENTS.contains(&s.as_str()) {
                    bad.insert(format!("{}:{}: `{written}`", f.display(), n.line));
                }
            }
        }
        for (line, m) in &c.macros {
            if FORBIDDEN_MACROS.contains(&m.as_str()) {
                bad.insert(format!("{}:{line}: `{m}!`", f.display()));
            }
        }
        for line in &c.extern_c {
            bad.insert(format!("{}:{line}: C ABI", f.display()));
        }
        for line in &c.unsafe_code {
            bad.insert(format!("{}:{line}: unsafe", f.display()));
        }
    }
    assert!(checked > 40, "only {checked} sans-IO files found");
    assert!(
        bad.is_empty(),
        "IO, clock, printing or unsafe code in a sans-IO layer:\n{}",
        bad.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn only_ffi_has_extern_c() {
    for (f, module, c) in parsed() {
        if top_of(&module) == "ffi" {
            continue;
        }
        assert!(
            c.extern_c.is_empty(),
            "{}:{:?}: C ABI outside src/ffi",
            f.display(),
            c.extern_c
        );
    }
}

#[test]
fn sans_io_layers_forbid_unsafe_and_deny_io_lints() {
    for m in SANS_IO {
        let text = fs::read_to_string(src().join(m).join("mod.rs")).unwrap();
        let ast = syn::parse_file(&text).unwrap();
        let attrs: Vec<String> = ast.attrs.iter().map(quote_attr).collect();
        let has = |want: &str| attrs.iter().any(|a| a.replace(' ', "") == want);
        assert!(has("forbid(unsafe_code)"), "{m}/mod.rs: {attrs:?}");
        assert!(
            has("deny(clippy::disallowed_methods,clippy::disallowed_types)"),
            "{m}/mod.rs must deny clippy's disallowed methods and types: {attrs:?}"
        );
    }
    let clippy = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("clippy.toml"))
        .expect("clippy.toml");
    for needed in [
        "std::time::Instant::now",
        "std::time::SystemTime::now",
        "std::thread::spawn",
        "std::net::UdpSocket",
        "std::net::TcpStream",
        "std::fs::File",
    ] {
        assert!(clippy.contains(needed), "clippy.toml lacks {needed}");
    }
}

/// The file that defines a module path, or the closest ancestor's file.
fn file_of(module: &[String], files: &BTreeMap<Vec<String>, PathBuf>) -> Option<PathBuf> {
    let mut m = module.to_vec();
    loop {
        if let Some(f) = files.get(&m) {
            return Some(f.clone());
        }
        m.pop()?;
    }
}

#[test]
fn no_circle_between_files() {
    let all = parsed();
    let files: BTreeMap<Vec<String>, PathBuf> =
        all.iter().map(|(f, m, _)| (m.clone(), f.clone())).collect();
    let module_of: BTreeMap<PathBuf, Vec<String>> =
        all.iter().map(|(f, m, _)| (f.clone(), m.clone())).collect();
    // Edges between files, leaving aside a file and its ancestors or
    // descendants (a parent re-exports its children; a child uses its
    // parent's types).
    let mut edges: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    for (f, module, c) in &all {
        for n in &c.named {
            let Some(target) = n.in_crate.as_ref() else {
                continue;
            };
            let Some(to) = file_of(target, &files) else {
                continue;
            };
            let to_mod = &module_of[&to];
            if to == *f || to_mod.is_empty() || module.is_empty() {
                continue;
            }
            if to_mod.starts_with(module) || module.starts_with(to_mod) {
                continue;
            }
            edges.entry(f.clone()).or_default().insert(to);
        }
    }
    // A circle is a strongly connected component of more than one file.
    let mut circles = Vec::new();
    let nodes: Vec<&PathBuf> = files.values().collect();
    let reach = |from: &PathBuf| -> BTreeSet<PathBuf> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(n) = todo.pop() {
            for m in edges.get(&n).into_iter().flatten() {
                if seen.insert(m.clone()) {
                    todo.push(m.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&PathBuf, BTreeSet<PathBuf>> =
        nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut done = BTreeSet::new();
    for n in &nodes {
        if done.contains(*n) || !reaches[n].contains(*n) {
            continue;
        }
        let ring: BTreeSet<PathBuf> = reaches[n]
            .iter()
            .filter(|m| reaches[m].contains(*n))
            .cloned()
            .collect();
        done.extend(ring.iter().cloned());
        circles.push(
            ring.iter()
                .map(|p| p.strip_prefix(src()).unwrap().display().to_string())
                .collect::<Vec<_>>()
                .join(" ↔ "),
        );
    }
    assert!(
        circles.is_empty(),
        "files that import each other:\n{}",
        circles.join("\n")
    );
}

/// The guard itself catches what the token search let through.
#[test]
fn the_guard_sees_what_tokens_missed() {
    let text = r#"
        //! use crate::driver; in a comment is fine
        use crate::core::Event;
        use crate::{driver, sip::parse};
        use std::{net::UdpSocket, time::Instant as Clock};
        fn f() { let _ = "std::fs::read"; let _ = super::super::driver::x(); }
        #[cfg(test)]
        mod tests { fn g() { std::thread::spawn(|| ()); } }
        fn after_tests() { let _ = Instant::now(); println!("{}", crate::ffi::X); }
    "#;
    let ast = syn::parse_file(text).unwrap();
    let mut c = Collect {
        module: vec!["core".into(), "event".into()],
        ..Collect::default()
    };
    c.visit_file(&ast);
    let in_crate: Vec<String> = c
        .named
        .iter()
        .filter_map(|n| n.in_crate.as_ref().map(|p| p.join("::")))
        .collect();
    let written: Vec<String> = c.named.iter().map(|n| n.written.join("::")).collect();
    assert!(in_crate.contains(&"driver".to_owned()), "{in_crate:?}");
    assert!(in_crate.contains(&"driver::x".to_owned()), "{in_crate:?}");
    assert!(in_crate.contains(&"ffi::X".to_owned()), "{in_crate:?}");
    assert!(written.contains(&"std::net::UdpSocket".to_owned()));
    assert!(written.contains(&"std::time::Instant".to_owned()));
    assert!(written.contains(&"std::thread::spawn".to_owned()));
    assert!(written.contains(&"Instant::now".to_owned()));
    assert!(!written.iter().any(|w| w.contains("fs")), "{written:?}");
    assert!(c.macros.iter().any(|(_, m)| m == "println"));
}

/// Rooms stay small enough to read: no file under src/ (the binaries
/// included) over 700 lines; a file that grows past it is split by
/// subject (tests go to a `tests.rs` beside it).
#[test]
fn no_file_over_700_lines() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|p| {
            let n = std::fs::read_to_string(p).ok()?.lines().count();
            (n > 700).then(|| format!("{} ({n} lines)", p.display()))
        })
        .collect();
    assert!(long.is_empty(), "over 700 lines: {long:?}");
}
