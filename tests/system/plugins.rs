//! A source is a folder: nothing outside `shared/src/connectors/` names a provider in the
//! pipeline, the functions or the dev server (their tests may).

use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

const PROVIDERS: [&str; 2] = ["fathom", "zoom"];

/// Every Rust file below `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
}

/// Rust files below `dir`, each with its code before any `#[cfg(test)]` module.
fn code_files(dir: &Path) -> Vec<(PathBuf, String)> {
    rust_files(dir)
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("").to_owned();
            (path, code)
        })
        .collect()
}

fn naming_a_provider(files: &[(PathBuf, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (path, code) in files {
        for (number, line) in code.lines().enumerate() {
            let lower = line.to_lowercase();
            if PROVIDERS.iter().any(|p| lower.contains(p)) {
                found.push(format!(
                    "{}:{}: {}",
                    path.display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    found
}

#[test]
fn no_file_under_the_pipeline_names_a_provider_even_in_its_tests() {
    let files: Vec<(PathBuf, String)> = rust_files(&workspace_root().join("shared/src/pipeline"))
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (path, text)
        })
        .collect();
    let found = naming_a_provider(&files);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn functions_and_the_dev_server_reach_providers_only_through_the_connectors() {
    let root = workspace_root();
    let mut files = code_files(&root.join("functions"));
    files.extend(code_files(&root.join("dev-server/src")));
    let found = naming_a_provider(&files);
    assert!(found.is_empty(), "{}", found.join("\n"));
}
