//! Tests of the include expansion (an in-memory file system).
use super::glob::{expand_braces, has_magic, Pattern};
use super::*;
use crate::hosts::codes;
use crate::validate::Severity;

fn fs(files: &[(&str, &str)]) -> MemSource {
    let mut m = MemSource::new();
    for (p, t) in files {
        m.insert(p, t.as_bytes());
    }
    m
}

fn run(m: &mut MemSource, root: &str) -> Expansion {
    let text = String::from_utf8(m.read(root, u64::MAX).unwrap()).unwrap();
    expand_includes(m, root, &text, "/etc/asterisk", &IncludeLimits::default())
}

fn codes_of(x: &Expansion) -> Vec<&'static str> {
    x.notes.iter().map(|n| n.code).collect()
}

#[test]
fn patterns() {
    let m = |p: &str, s: &str| Pattern::new(p).matches(s);
    assert!(m("*.conf", "a.conf"));
    assert!(!m("*.conf", ".hidden.conf"));
    assert!(m(".*", ".hidden"));
    assert!(m("a?c", "abc"));
    assert!(!m("a?c", "ac"));
    assert!(m("[a-c]x", "bx"));
    assert!(!m("[!a-c]x", "bx"));
    assert!(m("[]]", "]"));
    assert!(m("\\*", "*"));
    assert!(!m("\\*", "a"));
    assert!(m("*a*b*c*", "xxaxxbxxcxx"));
    assert!(!m("*a*b*c*", "xxaxxcxxbxx"));
    assert!(m("[abc", "[abc"));
    assert!(has_magic("*.conf") && has_magic("a[bc]") && !has_magic("a[bc") && !has_magic("a\\*"));
}

#[test]
fn braces() {
    assert_eq!(expand_braces("{a,b}.conf", 64).0, ["a.conf", "b.conf"]);
    assert_eq!(
        expand_braces("x{a,{b,c}}y{1,2}", 64).0,
        ["xay1", "xay2", "xby1", "xby2", "xcy1", "xcy2"]
    );
    assert_eq!(expand_braces("{a", 64).0, ["{a"]);
    let (v, cut) = expand_braces(&"{a,b}".repeat(20), 64);
    assert!(cut && v.len() <= 64);
}

#[test]
fn relative_to_the_config_dir_with_wildcards_and_quotes() {
    let mut m = fs(&[
        (
            "/etc/asterisk/pjsip.conf",
            "#include \"pjsip.d/*.conf\"\n#tryinclude <none.conf>\n[x]\ntype=y\n",
        ),
        (
            "/etc/asterisk/pjsip.d/b.conf",
            "[b]\n#include pjsip.d/sub/c.inc\n",
        ),
        ("/etc/asterisk/pjsip.d/a.conf", "[a]\n"),
        ("/etc/asterisk/pjsip.d/.hidden.conf", "[hidden]\n"),
        ("/etc/asterisk/pjsip.d/sub/c.inc", "[c]\n"),
    ]);
    let x = run(&mut m, "/etc/asterisk/pjsip.conf");
    let sections: Vec<&str> = x.text.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(sections, ["[a]", "[b]", "[c]", "[x]"]);
    assert_eq!(codes_of(&x), [codes::ASTERISK_INCLUDE_MISSING]);
    assert_eq!(x.notes[0].severity, Severity::Info);
    assert_eq!(x.files_read, 4);
    assert_eq!(x.include_directives, 3);
}

#[test]
fn cycles_are_cut_and_diamonds_kept() {
    let mut m = fs(&[
        ("/c/a.conf", "[a]\n#include b.conf\n#include c.conf\n"),
        ("/c/b.conf", "[b]\n#include d.conf\n"),
        ("/c/c.conf", "[c]\n#include d.conf\n"),
        ("/c/d.conf", "[d]\n#include ./sub/../a.conf\n"),
    ]);
    let text = "[a]\n#include b.conf\n#include c.conf\n";
    let x = expand_includes(&mut m, "/c/a.conf", text, "/c", &IncludeLimits::default());
    let sections: Vec<&str> = x.text.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(sections, ["[a]", "[b]", "[d]", "[c]", "[d]"]);
    let c = codes_of(&x);
    assert!(c.contains(&codes::ASTERISK_INCLUDE_CYCLE), "{c:?}");
    assert!(c.contains(&codes::ASTERISK_INCLUDE_REPEATED), "{c:?}");
    assert!(x.has_errors());
}

#[test]
fn special_files_missing_files_and_depth() {
    let mut m = fs(&[(
        "/c/a.conf",
        "#include zero\n#include nothing.conf\n#include deep0.conf\n",
    )]);
    m.insert_special("/c/zero", FileKind::CharDevice);
    for i in 0..15 {
        m.insert(
            &format!("/c/deep{i}.conf"),
            format!("[d{i}]\n#include deep{}.conf\n", i + 1),
        );
    }
    let x = run_dir(&mut m, "/c/a.conf", "/c");
    let c = codes_of(&x);
    assert!(c.contains(&codes::ASTERISK_INCLUDE_NOT_REGULAR));
    assert!(c.contains(&codes::ASTERISK_INCLUDE_MISSING));
    assert!(c.contains(&codes::ASTERISK_INCLUDE_TOO_DEEP));
    assert!(
        x.text.contains("[d9]") && !x.text.contains("[d10]"),
        "{}",
        x.text
    );
    assert!(x.notes.iter().all(|n| n.severity == Severity::Error));
}

fn run_dir(m: &mut MemSource, root: &str, dir: &str) -> Expansion {
    let text = String::from_utf8(m.read(root, u64::MAX).unwrap()).unwrap();
    expand_includes(m, root, &text, dir, &IncludeLimits::default())
}

#[test]
fn the_budget_stops_an_explosion() {
    // Eight files, each including every file many times: exponential
    // without a budget.
    let mut m = MemSource::new();
    let body: String = (0..8)
        .flat_map(|j| std::iter::repeat_n(format!("#include f{j}.conf\n"), 4))
        .collect();
    for i in 0..8 {
        m.insert(&format!("/c/f{i}.conf"), format!("[s{i}]\nk=v\n{body}"));
    }
    let x = run_dir(&mut m, "/c/f0.conf", "/c");
    assert!(x.files_read <= 1000);
    assert!(x.notes.len() <= 52);
    assert!(x
        .notes
        .iter()
        .any(|n| n.code == codes::ASTERISK_INCLUDE_LIMIT && n.severity == Severity::Error));
}

#[test]
fn comments_and_directives() {
    let mut m = fs(&[
        ("/c/a.conf", "; #include x.conf\n;-- #include y.conf --;\n#exec /bin/true\n#bogus\n#include\n#INCLUDE b.conf ; c\n[a]\nk=v\\;w\n"),
        ("/c/b.conf", "[b]\n;-- open\n"),
    ]);
    let x = run_dir(&mut m, "/c/a.conf", "/c");
    let c = codes_of(&x);
    assert_eq!(
        c,
        [
            codes::ASTERISK_DIRECTIVE_IGNORED,
            codes::ASTERISK_DIRECTIVE_IGNORED,
            codes::ASTERISK_DIRECTIVE_IGNORED,
            codes::ASTERISK_COMMENT_UNTERMINATED
        ]
    );
    let f = super::super::parse_conf(&x.text);
    let names: Vec<&str> = f.sections.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["b", "a"]);
    assert_eq!(f.sections[1].fields, [("k".to_owned(), "v;w".to_owned())]);
}

#[test]
fn a_hint_when_the_file_is_beside_the_including_one() {
    let mut m = fs(&[
        ("/c/a.conf", "#include sub/b.conf\n"),
        ("/c/sub/b.conf", "#include c.conf\n"),
        ("/c/sub/c.conf", "[c]\n"),
    ]);
    let x = run_dir(&mut m, "/c/a.conf", "/c");
    assert_eq!(codes_of(&x), [codes::ASTERISK_INCLUDE_MISSING]);
    assert!(
        x.notes[0].message.contains("/c/sub/c.conf exists"),
        "{}",
        x.notes[0].message
    );
}
