//! `make bench`: the size of each function's release binary and its cold start, measured the
//! way Lambda starts a function (spawn the process, serve one event from the Runtime API, time
//! the answer), on the embedded backend (a perf-profile build with it linked in, which Lambda
//! builds leave out) and on the AWS backend against a moto server (the binary Lambda gets).
//! It prints figures and their targets; it never fails on a figure.

mod binaries;
mod cold_start;
mod runtime_api;

use anyhow::{Context, Result};
use axum::body::Bytes;
use binaries::Build;
use cold_start::{Answer, Launch};
use pipeline::testing::moto::MotoServer;
use std::path::Path;

/// Starts per function and backend; the median is reported.
const RUNS: usize = 7;
/// Issue 15's targets: stripped size per function (file-transcribe carries the audio decoders)
/// and cold start on each backend.
const SIZE_TARGET_MB: f64 = 6.0;
const TRANSCRIBE_SIZE_TARGET_MB: f64 = 8.0;
const LOCAL_COLD_START_TARGET_MS: f64 = 5.0;
const AWS_COLD_START_TARGET_MS: f64 = 12.0;

fn size_target_mb(function: &str) -> f64 {
    if function == "file-transcribe" {
        TRANSCRIBE_SIZE_TARGET_MB
    } else {
        SIZE_TARGET_MB
    }
}
/// Receives before dead-lettering on the benchmark's queues, as in the template.
const MAX_RECEIVE_COUNT: u32 = 5;

/// Settings of every start, whatever the backend: quiet logs, and an OAuth client id so
/// `oauth-initiate` takes its normal path.
fn common_env() -> impl Iterator<Item = (String, String)> {
    [("RUST_LOG", "warn"), ("FATHOM_CLIENT_ID", "bench-client")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
}

/// One backend the functions are started on: its name and the environment that selects it.
struct Backend {
    name: &'static str,
    env: Vec<(String, String)>,
}

impl Backend {
    /// The embedded backend; each function gets its own data directory under `scratch`, kept
    /// across its starts as a deployed function keeps its table.
    fn local(scratch: &Path, function: &str) -> Backend {
        let data_dir = scratch.join(function).to_string_lossy().into_owned();
        Backend {
            name: "local",
            env: vec![
                ("BACKEND".into(), "local".into()),
                ("LOCAL_DATA_DIR".into(), data_dir),
            ]
            .into_iter()
            .chain(common_env())
            .collect(),
        }
    }

    /// The AWS backend on fresh resources of a moto server, with fixed test credentials.
    async fn aws(server: &MotoServer) -> Result<Backend> {
        let created = server
            .create_backend(MAX_RECEIVE_COUNT)
            .await
            .context("creating the table, bucket, queues and secret on moto")?;
        let resources = created.resources;
        let env = resources.variables().into_iter().chain([
            ("BACKEND", "aws"),
            ("SECRETS_ARN", created.secrets_arn.as_str()),
            ("AWS_ENDPOINT_URL", server.endpoint()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]);
        Ok(Backend {
            name: "aws",
            env: env
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .chain(common_env())
                .collect(),
        })
    }
}

/// One function's binary and event.
struct Target<'a> {
    function: &'a str,
    binary: &'a Path,
    event: &'a Bytes,
    scratch: &'a Path,
}

impl Target<'_> {
    /// The median cold start on `backend`; `None`, with the reason on stderr, when a start
    /// failed.
    async fn measure(&self, backend: &Backend) -> Option<Answer> {
        let log = self
            .scratch
            .join(format!("{}-{}.log", self.function, backend.name));
        let launch = Launch {
            binary: self.binary,
            function: self.function,
            event: self.event,
            env: &backend.env,
            log: &log,
        };
        match cold_start::median_start(&launch, RUNS).await {
            Ok(answer) => Some(answer),
            Err(e) => {
                eprintln!(
                    "bench: {} on the {} backend: {e:#}",
                    self.function, backend.name
                );
                None
            }
        }
    }
}

/// What the table shows for one function.
enum Row {
    Missing,
    Measured {
        size_bytes: u64,
        local: Option<Answer>,
        aws: Option<Answer>,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    let root = binaries::workspace_root();
    let functions = binaries::functions(&root)?;
    let functions = only_selected(functions);
    let present: Vec<String> = functions
        .iter()
        .filter(|f| binaries::has_crate(&root, f))
        .cloned()
        .collect();
    println!(
        "bench: building {} for {} (this host) as Lambda gets them (release profile, one cargo \
         invocation per function) and with the embedded backend (perf profile, one invocation \
         per function), which do nothing when they are up to date",
        present.join(", "),
        std::env::consts::ARCH
    );
    let started = std::time::Instant::now();
    binaries::build_release(&root, &present, Build::Lambda)?;
    binaries::build_release(&root, &present, Build::Local)?;
    println!(
        "bench: release binaries ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let release = binaries::release_dir(&root, Build::Lambda)?;
    let release_local = binaries::release_dir(&root, Build::Local)?;

    let scratch = tempfile::tempdir().context("creating a scratch directory")?;
    let moto = match tokio::task::spawn_blocking(MotoServer::start).await? {
        Ok(server) => Some(server),
        Err(e) => {
            eprintln!("bench: no AWS figures, moto did not start: {e:#}");
            None
        }
    };
    let aws = match &moto {
        Some(server) => match Backend::aws(server).await {
            Ok(backend) => Some(backend),
            Err(e) => {
                eprintln!("bench: no AWS figures: {e:#}");
                None
            }
        },
        None => None,
    };

    let mut rows = Vec::with_capacity(functions.len());
    for function in &functions {
        if !present.contains(function) {
            rows.push((function.as_str(), Row::Missing));
            continue;
        }
        let binary = release.join(function);
        let size_bytes = std::fs::metadata(&binary)
            .with_context(|| format!("{} was not built", binary.display()))?
            .len();
        let event_path = root.join("events").join(format!("{function}.json"));
        let event =
            Bytes::from(std::fs::read(&event_path).context(event_path.display().to_string())?);
        let local_binary = release_local.join(function);
        let target = |binary| Target {
            function,
            binary,
            event: &event,
            scratch: scratch.path(),
        };
        // The embedded backend's start from the build that links it; the AWS backend's from
        // the binary Lambda gets.
        let local = target(&local_binary)
            .measure(&Backend::local(scratch.path(), function))
            .await;
        let aws = match &aws {
            Some(backend) => target(&binary).measure(backend).await,
            None => None,
        };
        rows.push((
            function.as_str(),
            Row::Measured {
                size_bytes,
                local,
                aws,
            },
        ));
    }
    print_table(&rows);
    Ok(())
}

/// The functions `BENCH_FUNCTIONS` names (comma-separated), or all of them.
fn only_selected(functions: Vec<String>) -> Vec<String> {
    match std::env::var("BENCH_FUNCTIONS") {
        Ok(list) if !list.trim().is_empty() => {
            let wanted: Vec<&str> = list.split(',').map(str::trim).collect();
            functions
                .into_iter()
                .filter(|f| wanted.contains(&f.as_str()))
                .collect()
        }
        _ => functions,
    }
}

fn print_table(rows: &[(&str, Row)]) {
    println!();
    println!(
        "{:<16} {:>8} {:>7} {:>14} {:>12}  {:<12} targets",
        "function", "size MB", "target", "cold local ms", "cold aws ms", "answers"
    );
    for (function, row) in rows {
        match row {
            Row::Missing => println!("{function:<16} {:>8}", "missing"),
            Row::Measured {
                size_bytes,
                local,
                aws,
            } => {
                let size_mb = *size_bytes as f64 / 1e6;
                let size_target = size_target_mb(function);
                let local_ms = local.as_ref().map(millis);
                let aws_ms = aws.as_ref().map(millis);
                let mut misses = Vec::new();
                if size_mb > size_target {
                    misses.push("size");
                }
                if local_ms.is_none_or(|ms| ms > LOCAL_COLD_START_TARGET_MS) {
                    misses.push("cold local");
                }
                if aws_ms.is_none_or(|ms| ms > AWS_COLD_START_TARGET_MS) {
                    misses.push("cold aws");
                }
                let verdict = if misses.is_empty() {
                    "met".to_owned()
                } else {
                    format!("missed: {}", misses.join(", "))
                };
                println!(
                    "{function:<16} {size_mb:>8.2} {size_target:>7.1} {:>14} {:>12}  {:<12} \
                     {verdict}",
                    shown_ms(local),
                    shown_ms(aws),
                    format!("{} / {}", summary(local), summary(aws)),
                );
            }
        }
    }
    println!(
        "\ntargets: size <= {SIZE_TARGET_MB} MB per function, {TRANSCRIBE_SIZE_TARGET_MB} MB \
         for file-transcribe (10^6 bytes, stripped); cold start <= \
         {LOCAL_COLD_START_TARGET_MS} ms on the embedded backend, <= \
         {AWS_COLD_START_TARGET_MS} ms on the AWS backend against moto; median of {RUNS} \
         starts, from spawn to the answer reaching the Runtime API. Sizes and AWS starts are \
         of the Lambda builds, embedded-backend starts of perf-profile builds that link it \
         (Lambda builds leave it out). Binaries are built for this host's architecture; the \
         template deploys arm64 by default."
    );
}

fn millis(answer: &Answer) -> f64 {
    answer.elapsed.as_secs_f64() * 1000.0
}

fn shown_ms(answer: &Option<Answer>) -> String {
    answer
        .as_ref()
        .map_or_else(|| "-".to_owned(), |a| format!("{:.1}", millis(a)))
}

fn summary(answer: &Option<Answer>) -> &str {
    answer.as_ref().map_or("-", |a| a.summary.as_str())
}
