//! The checked-in header must be what the code generates.
#[test]
fn checked_in_header_matches_generated() {
    let generated = std::fs::read_to_string(concat!(env!("OUT_DIR"), "/regwatch.h"))
        .expect("build.rs writes OUT_DIR/regwatch.h");
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/regwatch.h"))
            .expect("include/regwatch.h is checked in");
    assert!(
        generated == checked_in,
        "include/regwatch.h is out of date: run `REGWATCH_UPDATE_HEADER=1 cargo build` and commit it"
    );
}

#[test]
fn version_macros_match_cargo() {
    let h = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/regwatch.h"))
        .unwrap();
    let major: u32 = env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap();
    let minor: u32 = env!("CARGO_PKG_VERSION_MINOR").parse().unwrap();
    let patch: u32 = env!("CARGO_PKG_VERSION_PATCH").parse().unwrap();
    let packed = (major << 16) | (minor << 8) | patch;
    assert!(h.contains(&format!("#define REGWATCH_VERSION_NUMBER 0x{packed:06x}\n")));
    assert!(h.contains(&format!(
        "#define REGWATCH_VERSION_STR \"{}\"\n",
        env!("CARGO_PKG_VERSION")
    )));
    assert!(h.contains(&format!(
        "#define REGWATCH_ABI_VERSION {}\n",
        regwatch::ffi::version::REGWATCH_ABI_VERSION
    )));
}

/// The header exports only `regwatch_` / `REGWATCH_` names (C has one
/// namespace: a bare `MAX_LINE` collides with a host's own). ABI 2 removed
/// the last two (`MAX_MESSAGE`, `GatewayState`).
#[test]
fn header_exports_only_prefixed_names() {
    let h = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/regwatch.h"))
        .unwrap();
    let legacy: [&str; 0] = [];
    let mut bare = Vec::new();
    for line in h.lines() {
        let name = if let Some(rest) = line.strip_prefix("#define ") {
            rest.split_whitespace().next()
        } else if let Some(rest) = line.strip_prefix("typedef struct ") {
            rest.split_whitespace().next()
        } else {
            None
        };
        let Some(name) = name else { continue };
        let prefixed = name.starts_with("regwatch_") || name.starts_with("REGWATCH_");
        if !prefixed && !legacy.contains(&name) {
            bare.push(name.to_owned());
        }
    }
    assert!(
        bare.is_empty(),
        "unprefixed names in include/regwatch.h: {bare:?}"
    );
}
