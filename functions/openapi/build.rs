//! Converts `openapi.yaml` to JSON at build time, so the component serves
//! both without carrying a YAML parser.

use std::path::Path;

fn main() {
    // Read at run time, not compiled in: a build script copied with its
    // target directory from another checkout would read that one's file.
    let manifest_dir =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|e| panic!("CARGO_MANIFEST_DIR: {e}"));
    let source = Path::new(&manifest_dir).join("../../openapi.yaml");
    println!("cargo:rerun-if-changed={}", source.display());
    let yaml = std::fs::read_to_string(&source)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", source.display()));
    let document: serde_json::Value = serde_yaml::from_str(&yaml)
        .unwrap_or_else(|e| panic!("openapi.yaml is not valid YAML: {e}"));
    let out = Path::new(&std::env::var("OUT_DIR").unwrap_or_else(|e| panic!("OUT_DIR: {e}")))
        .join("openapi.json");
    std::fs::write(&out, document.to_string())
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
