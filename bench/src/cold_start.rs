//! Cold start as Lambda sees it: from spawning the binary to its answer to the first event
//! reaching the Runtime API.

use crate::runtime_api::{Outcome, RuntimeApi};
use anyhow::{bail, Context, Result};
use axum::body::Bytes;
use std::fs::File;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::Command;

/// How long one start may take before it counts as failed.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Lines of the function's output shown when a start fails.
const LOG_TAIL: usize = 15;

/// One function binary and how to start it.
pub struct Launch<'a> {
    pub binary: &'a Path,
    pub function: &'a str,
    pub event: &'a Bytes,
    /// The whole environment of the process, besides the Lambda runtime's variables.
    pub env: &'a [(String, String)],
    /// Where the function's output goes, read back when a start fails.
    pub log: &'a Path,
}

/// A start that answered.
#[derive(Debug, Clone)]
pub struct Answer {
    pub elapsed: Duration,
    /// The HTTP status of an API Gateway response, `ok` for any other response, `error` when
    /// the function reported an error.
    pub summary: String,
}

/// Starts the binary once against a fresh Runtime API, waits for its answer, then kills it.
pub async fn start_once(launch: &Launch<'_>) -> Result<Answer> {
    let mut api = RuntimeApi::start(launch.function, launch.event.clone()).await?;
    let log = File::create(launch.log).context("creating the function's log file")?;
    let mut command = Command::new(launch.binary);
    command
        .env_clear()
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .env("AWS_LAMBDA_RUNTIME_API", api.address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", launch.function)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", launch.binary.display()))?;
    let outcome = tokio::select! {
        outcome = &mut api.outcome => outcome.ok(),
        status = child.wait() => {
            let status = status.map(|s| s.to_string()).unwrap_or_default();
            bail!("exited before answering ({status}):\n{}", tail(launch.log));
        }
        () = tokio::time::sleep(RUN_TIMEOUT) => None,
    };
    let _ = child.start_kill();
    let _ = child.wait().await;
    match outcome {
        Some(Outcome::Response { at, body }) => Ok(Answer {
            elapsed: at.duration_since(started),
            summary: summarize(&body),
        }),
        Some(Outcome::Error { at, body }) => Ok(Answer {
            elapsed: at.duration_since(started),
            summary: format!("error {}", String::from_utf8_lossy(&body)),
        }),
        None => bail!("no answer within {RUN_TIMEOUT:?}:\n{}", tail(launch.log)),
    }
}

/// Starts the binary `runs` times; the median time and the last answer's summary.
pub async fn median_start(launch: &Launch<'_>, runs: usize) -> Result<Answer> {
    let mut times = Vec::with_capacity(runs);
    let mut summary = String::new();
    for _ in 0..runs {
        let answer = start_once(launch).await?;
        times.push(answer.elapsed);
        summary = answer.summary;
    }
    times.sort();
    Ok(Answer {
        elapsed: times.get(times.len() / 2).copied().unwrap_or_default(),
        summary,
    })
}

fn summarize(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|answer| answer.get("statusCode").and_then(|s| s.as_u64()))
        .map_or_else(|| "ok".to_owned(), |status| status.to_string())
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n")
}
