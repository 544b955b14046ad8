//! The function binaries: which functions there are, which exist yet, and their release
//! builds (the workspace's Lambda profile: size-optimised, LTO, stripped, with the Lambda
//! compiler flags of `.cargo/lambda.toml`).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace this crate belongs to.
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// Every function, named by its sample event (`events/<function>.json`), sorted.
pub fn functions(root: &Path) -> Result<Vec<String>> {
    let events = root.join("events");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&events).with_context(|| events.display().to_string())? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                names.push(stem.to_owned());
            }
        }
    }
    names.sort();
    Ok(names)
}

/// Whether the function's crate exists (`functions/<name>/Cargo.toml`).
pub fn has_crate(root: &Path, function: &str) -> bool {
    root.join("functions")
        .join(function)
        .join("Cargo.toml")
        .is_file()
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// An optimised build of the functions: what ships to Lambda (the release profile), or one with
/// the embedded backend linked in, in the perf profile (optimised, without the release
/// profile's size-focused LTO, and kept apart from the Lambda binaries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    Lambda,
    Local,
}

/// The compiler flags every Lambda build uses (`make build`, `make deploy`), relative to the
/// workspace root.
const LAMBDA_CONFIG: &str = ".cargo/lambda.toml";

impl Build {
    fn profile(self) -> &'static str {
        match self {
            Build::Lambda => "release",
            Build::Local => "perf",
        }
    }
}

/// This host's target triple (`rustc -vV`). A Lambda build names it with `--target`, as
/// cargo-lambda does, so the flags of `.cargo/lambda.toml` reach the binaries and not the build
/// scripts and proc macros, which cargo then builds apart (under `target/<triple>/`).
fn host_triple() -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc)
        .arg("-vV")
        .output()
        .context("running rustc -vV")?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .context("rustc -vV names no host")
}

/// Builds the functions' binaries; cargo skips what is up to date.
///
/// Cargo unifies features across the packages of one invocation, so a capability one function
/// needs (S3, the audio engine) would be linked into all of them. Each function therefore gets
/// its own invocation, as `make build` and `make invoke` build them, which reuses every
/// dependency built with the same features.
pub fn build_release(root: &Path, functions: &[String], build: Build) -> Result<()> {
    let host = host_triple()?;
    functions
        .iter()
        .try_for_each(|function| cargo_build(root, function, build, &host))
}

fn cargo_build(root: &Path, function: &str, build: Build, host: &str) -> Result<()> {
    let mut command = cargo();
    command
        .current_dir(root)
        .args(["build", "--profile", build.profile()]);
    match build {
        Build::Lambda => command.args(["--config", LAMBDA_CONFIG, "--target", host]),
        Build::Local => command.args(["--features", "pipeline/local"]),
    };
    command.args(["-p", function, "--bin", function]);
    let status = command.status().context("running cargo build")?;
    if !status.success() {
        bail!(
            "cargo build --profile {} failed ({status})",
            build.profile()
        );
    }
    Ok(())
}

/// Where cargo puts the binaries of `build` (honours `CARGO_TARGET_DIR` and config files).
pub fn release_dir(root: &Path, build: Build) -> Result<PathBuf> {
    let target = target_dir(root)?;
    Ok(match build {
        Build::Lambda => target.join(host_triple()?).join(build.profile()),
        Build::Local => target.join(build.profile()),
    })
}

fn target_dir(root: &Path) -> Result<PathBuf> {
    let output = cargo()
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        bail!("cargo metadata failed ({})", output.status);
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let target = metadata["target_directory"]
        .as_str()
        .context("cargo metadata names no target directory")?;
    Ok(PathBuf::from(target))
}
