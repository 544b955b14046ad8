//! Converts the API's contract (`openapi/openapi.yaml`) to JSON when the function is built, so
//! `GET /openapi.json` serves it as it is, and the binary links no YAML parser. A contract that
//! is not valid YAML fails the build.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let source = manifest.join("../../openapi/openapi.yaml");
    println!("cargo:rerun-if-changed={}", source.display());
    let yaml = std::fs::read_to_string(&source)
        .unwrap_or_else(|e| panic!("reading {}: {e}", source.display()));
    let document: serde_json::Value = serde_yaml::from_str(&yaml)
        .unwrap_or_else(|e| panic!("openapi/openapi.yaml is not valid YAML: {e}"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    let json = serde_json::to_string(&document).expect("a JSON value serializes");
    std::fs::write(out.join("openapi.json"), json).expect("writing openapi.json");
}
