//! Generates `regwatch.h` with a pinned cbindgen into OUT_DIR; with
//! `REGWATCH_UPDATE_HEADER=1`, also refreshes the checked-in
//! `include/regwatch.h`. Sets the shared library's soname.
use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=REGWATCH_UPDATE_HEADER");

    let major: u32 = env::var("CARGO_PKG_VERSION_MAJOR")
        .unwrap()
        .parse()
        .unwrap();
    let minor: u32 = env::var("CARGO_PKG_VERSION_MINOR")
        .unwrap()
        .parse()
        .unwrap();
    let patch: u32 = env::var("CARGO_PKG_VERSION_PATCH")
        .unwrap()
        .parse()
        .unwrap();
    let version = env::var("CARGO_PKG_VERSION").unwrap();

    // Before 1.0 every minor release may break the ABI: the soname carries
    // major.minor (libregwatch.so.0.1); from 1.0 on, the major alone.
    let soname = if major == 0 {
        format!("libregwatch.so.{major}.{minor}")
    } else {
        format!("libregwatch.so.{major}")
    };
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    }

    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let mut config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let number = (major << 16) | (minor << 8) | patch;
    config.after_includes = Some(format!(
        "\n/* Generated from Cargo.toml by build.rs: do not edit. */\n\
         #define REGWATCH_VERSION_MAJOR {major}\n\
         #define REGWATCH_VERSION_MINOR {minor}\n\
         #define REGWATCH_VERSION_PATCH {patch}\n\
         /* (major << 16) | (minor << 8) | patch, as c-ares does. */\n\
         #define REGWATCH_VERSION_NUMBER 0x{number:06x}\n\
         #define REGWATCH_VERSION_STR \"{version}\"\n\
         #define REGWATCH_SONAME \"{soname}\"\n\n\
         #if defined(__GNUC__) || defined(__clang__)\n\
         #define REGWATCH_MUST_USE __attribute__((warn_unused_result))\n\
         #else\n\
         #define REGWATCH_MUST_USE\n\
         #endif\n"
    ));
    match cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
    {
        Ok(bindings) => {
            bindings.write_to_file(out_dir.join("regwatch.h"));
            if env::var("REGWATCH_UPDATE_HEADER").as_deref() == Ok("1") {
                bindings.write_to_file(crate_dir.join("include/regwatch.h"));
            }
        }
        // Let rustc report syntax errors itself.
        Err(cbindgen::Error::ParseSyntaxError { .. }) => {}
        Err(e) => panic!("cbindgen: {e}"),
    }
}
