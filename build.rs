//! Embeds the scenario suite (`scenarios/*.toml`) in the library, so `Scenario::suite()` works from any crate
//! that depends on echo-harness, where no `scenarios/` directory exists.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&root).join("scenarios");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the scenarios directory ships with the crate")
        .map(|e| e.expect("a readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let mut out = String::from("/// The embedded suite: (path as shipped, text), in file-name order.\npub(super) const SUITE: &[(&str, &str)] = &[\n");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let name = file.file_name().expect("a file name").to_string_lossy();
        writeln!(out, "    ({:?}, include_str!({:?})),", format!("scenarios/{name}"), file.display().to_string())
            .expect("writing to a string");
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("suite.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}
