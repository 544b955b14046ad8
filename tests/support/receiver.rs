//! A receiver of outbound webhooks for the tests: `scripts/webhook_receiver.py` on a free
//! loopback port, which verifies every delivery with the reference Python `standardwebhooks`
//! package, answers with scripted responses, and reports what it received.
//!
//! The script runs in the project's `.venv` (`make venv` or `scripts/venv.sh`). It exits when
//! its standard input closes, so it never outlives the test process, and the `Receiver` kills
//! it when dropped.

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

const SCRIPT: &str = "scripts/webhook_receiver.py";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(50);

pub struct Receiver {
    /// Where deliveries go: `http://127.0.0.1:PORT/hook`.
    pub url: String,
    /// `http://127.0.0.1:PORT`, for the control API.
    base: String,
    child: Child,
    /// Kept open so a stray line from the script never meets a closed pipe.
    _stdout: Option<BufReader<ChildStdout>>,
    client: reqwest::Client,
}

fn workspace_root() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).to_path_buf()
}

impl Receiver {
    /// Starts the receiver and waits (up to 30 s) until it listens.
    pub async fn start() -> anyhow::Result<Receiver> {
        let root = workspace_root();
        let python = root.join(".venv/bin/python");
        if !python.exists() {
            bail!(
                "{} does not exist: run `make venv` (or scripts/venv.sh) to create the Python \
                 environment from requirements-dev.txt (it provides `standardwebhooks`)",
                python.display()
            );
        }
        let mut child = Command::new(&python)
            .current_dir(&root)
            .arg(SCRIPT)
            .env("PYTHONUTF8", "1")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("spawn {} {SCRIPT}", python.display()))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .context("build the control client")?;
        // From here on, dropping `receiver` (on any error below) kills the child.
        let mut receiver = Receiver {
            url: String::new(),
            base: String::new(),
            child,
            _stdout: None,
            client,
        };

        let first_line = tokio::task::spawn_blocking(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            reader.read_line(&mut line).map(|_| (line, reader))
        });
        let (line, reader) = tokio::time::timeout(STARTUP_TIMEOUT, first_line)
            .await
            .map_err(|_| {
                anyhow!(
                    "{SCRIPT} did not print `listening on <port>` within {}s",
                    STARTUP_TIMEOUT.as_secs()
                )
            })?
            .context("join the stdout reader")?
            .with_context(|| format!("read the first line of {SCRIPT}"))?;
        receiver._stdout = Some(reader);

        let port: u16 = match line.trim().strip_prefix("listening on ") {
            Some(port) => port
                .parse()
                .with_context(|| format!("{SCRIPT} printed {line:?}"))?,
            None => {
                let status = receiver.child.try_wait().ok().flatten();
                bail!(
                    "{SCRIPT} printed {line:?} instead of `listening on <port>` (exit status: \
                     {status:?}; its stderr is above; is `standardwebhooks` installed in .venv? \
                     run scripts/venv.sh)"
                );
            }
        };
        receiver.base = format!("http://127.0.0.1:{port}");
        receiver.url = format!("{}/hook", receiver.base);
        Ok(receiver)
    }

    /// The secrets deliveries are verified with (replaces the list); a delivery is
    /// `verified` when any of them verifies it, and `verified_by` lists their indices.
    pub async fn set_secrets(&self, secrets: &[&str]) -> anyhow::Result<()> {
        self.post_control("secrets", &json!({ "secrets": secrets }))
            .await
    }

    /// Scripts the answers: posts `responses` as given, e.g.
    /// `json!({"responses": [{"status": 500}, {"status": 429, "headers": {"Retry-After": "3"}}],
    /// "default": {"status": 200}})`. Each entry may also carry `delay_ms` and `body`.
    pub async fn respond_with(&self, responses: Value) -> anyhow::Result<()> {
        self.post_control("responses", &responses).await
    }

    /// Every delivery received so far, in arrival order: objects with `webhook_id`,
    /// `webhook_timestamp`, `signature_header`, `body`, `raw_body`, `verified`, `verified_by`,
    /// `answered`, `received_at_ms` and `path`.
    pub async fn received(&self) -> anyhow::Result<Vec<Value>> {
        let url = format!("{}/_control/received", self.base);
        let response = self
            .client
            .get(&url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = response.status();
        let text = response.text().await.context("read the deliveries")?;
        if !status.is_success() {
            bail!("GET {url}: {status}: {text}");
        }
        let mut answer: Value =
            serde_json::from_str(&text).with_context(|| format!("GET {url}: {text}"))?;
        match answer.get_mut("deliveries").map(Value::take) {
            Some(Value::Array(deliveries)) => Ok(deliveries),
            _ => bail!("GET {url}: no `deliveries` list in {text}"),
        }
    }

    /// Polls `received` every 50 ms until `pred` holds for the list or `timeout` passes;
    /// returns the last list either way (the caller asserts).
    pub async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&[Value]) -> bool,
    ) -> anyhow::Result<Vec<Value>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let deliveries = self.received().await?;
            if pred(&deliveries) || tokio::time::Instant::now() >= deadline {
                return Ok(deliveries);
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    async fn post_control(&self, control: &str, body: &Value) -> anyhow::Result<()> {
        let url = format!("{}/_control/{control}", self.base);
        let response = self
            .client
            .post(&url)
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            bail!("POST {url}: {status}: {text}");
        }
        Ok(())
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
