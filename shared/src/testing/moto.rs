//! A moto server (an AWS-compatible endpoint on loopback) for testing the AWS backend.
//!
//! `MotoServer::shared()` starts one server per test binary; each backend made with
//! `create_backend` gets its own table, bucket, queues and secret, so tests sharing the
//! server do not see each other's data and need no reset. The server process is killed when
//! its `MotoServer` is dropped and, through a parent-death signal, when the test binary exits
//! (even on a panic or a kill).
//!
//! moto comes from the project's virtualenv (`make venv`, `scripts/venv.sh`).

use super::{epoch, TestBackend};
use crate::adapters::aws::{
    build_with, create_resources, sdk_config, Clients, ResourceSpec, Resources,
};
use crate::config::Config;
use crate::crypto::SealingKey;
use crate::ports::ManualClock;
use crate::services::Services;
use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::config::Region;
use aws_types::SdkConfig;
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// Receives after which the queues of a `moto_backend` dead-letter a message.
pub const MAX_RECEIVES: u32 = 3;

/// How long moto may take to import and bind.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Lines of moto's output kept to explain a failed start.
const LOG_TAIL: usize = 40;

/// moto's request handling is pure Python between reading a request and writing the answer,
/// so with thread switches only at I/O each request runs alone, as DynamoDB's conditional
/// writes do. With the default 5 ms switch interval two racing conditional writes can both
/// pass their check (moto keeps no lock), and a cancelled transaction restores a snapshot
/// of the whole table over concurrent writes.
const LAUNCHER: &str =
    "import sys; sys.setswitchinterval(30); from moto.server import main; main()";

/// A running moto server.
pub struct MotoServer {
    endpoint: String,
    /// Dropping it tells the keeper thread to kill the server.
    stop: Option<mpsc::Sender<()>>,
    keeper: Option<thread::JoinHandle<()>>,
}

fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a loopback port")?;
    Ok(listener.local_addr()?.port())
}

impl MotoServer {
    /// Starts a server on a free loopback port and waits until it accepts connections.
    pub fn start() -> Result<MotoServer> {
        let venv = workspace_root().join(".venv");
        if !venv.join("bin").join("moto_server").exists() {
            bail!(
                "moto is not installed: run `make venv` (scripts/venv.sh) to create {}",
                venv.display()
            );
        }
        let port = free_port()?;
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let mut command = Command::new(venv.join("bin").join("python"));
        command
            .args(["-c", LAUNCHER, "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        kill_with_parent(&mut command);

        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        // The server is the child of this thread, which lives as long as the `MotoServer`:
        // the parent-death signal follows the spawning thread, not the process.
        let keeper = thread::Builder::new()
            .name(format!("moto-{port}"))
            .spawn(move || {
                let mut child = match command.spawn() {
                    Ok(child) => child,
                    Err(e) => {
                        let _ = ready_tx.send(Err(anyhow!("starting moto failed: {e}")));
                        return;
                    }
                };
                let log = drain_output(&mut child);
                let started = wait_until_listening(&mut child, address, &log);
                let failed = started.is_err();
                let _ = ready_tx.send(started);
                if !failed {
                    // Returns when the `MotoServer` is dropped (its sender goes away).
                    let _ = stop_rx.recv();
                }
                let _ = child.kill();
                let _ = child.wait();
            })
            .context("spawning the moto keeper thread")?;
        let server = MotoServer {
            endpoint: format!("http://{address}"),
            stop: Some(stop_tx),
            keeper: Some(keeper),
        };
        ready_rx
            .recv()
            .map_err(|_| anyhow!("the moto keeper thread ended early"))??;
        Ok(server)
    }

    /// The server shared by every test of this binary, started on first use.
    pub fn shared() -> &'static MotoServer {
        static SHARED: OnceLock<Result<MotoServer, String>> = OnceLock::new();
        match SHARED.get_or_init(|| MotoServer::start().map_err(|e| format!("{e:#}"))) {
            Ok(server) => server,
            Err(message) => panic!("{message}"),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// SDK configuration for this server with fixed test credentials and region, whatever
    /// the developer's environment holds.
    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.endpoint)
    }

    /// A complete AWS backend on fresh, uniquely named resources: table, bucket, queues whose
    /// dead-letter queues take a message after `max_receive_count` receives, and a secret
    /// holding a new sealing key.
    pub async fn create_backend(&self, max_receive_count: u32) -> Result<MotoBackend> {
        let sdk = self.sdk_config().await;
        let clients = Clients::new(&sdk);
        let prefix = format!("t{}", uuid::Uuid::new_v4().simple());
        let resources = create_resources(
            &sdk,
            &clients,
            &ResourceSpec::named(&prefix, max_receive_count),
        )
        .await?;
        let secret = serde_json::json!({ "TOKEN_SEALING_KEY": SealingKey::generate_base64() });
        let secrets_arn = clients
            .secrets
            .create_secret()
            .name(format!("{prefix}-secrets"))
            .secret_string(secret.to_string())
            .send()
            .await
            .context("creating the test secret")?
            .arn
            .context("CreateSecret returned no ARN")?;
        let mut variables: HashMap<&str, String> = resources
            .variables()
            .into_iter()
            .map(|(name, value)| (name, value.to_owned()))
            .collect();
        variables.extend([
            ("BACKEND", "aws".to_owned()),
            ("SECRETS_ARN", secrets_arn.clone()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
        ]);
        let config = Config::from_lookup(|name| variables.get(name).cloned())?;
        let services = build_with(Arc::new(config), &sdk).await?;
        Ok(MotoBackend {
            services,
            clients,
            resources,
            secrets_arn,
        })
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.join();
        }
    }
}

/// An AWS backend on a moto server, with direct clients for checks behind the ports.
pub struct MotoBackend {
    pub services: Services,
    pub clients: Clients,
    pub resources: Resources,
    pub secrets_arn: String,
}

impl MotoBackend {
    /// The services of this backend as another function would build them, reading their
    /// secrets from `secrets_arn` (which need not exist: nothing is read until needed).
    pub async fn services_with_secret(&self, secrets_arn: &str) -> Result<Services> {
        let mut config = (*self.services.config).clone();
        let aws = config
            .aws
            .as_mut()
            .context("the backend's configuration names AWS resources")?;
        aws.secrets_arn = Some(secrets_arn.to_owned());
        let endpoint = aws
            .endpoint_url
            .clone()
            .context("the backend's configuration names its endpoint")?;
        let sdk = sdk_config_for(&endpoint);
        build_with(Arc::new(config), &sdk).await
    }
}

fn sdk_config_for(endpoint: &str) -> SdkConfig {
    let credentials = Credentials::new("testing", "testing", None, None, "moto");
    sdk_config(Region::new("us-east-1"), credentials, Some(endpoint))
}

/// A fresh AWS backend on the shared server, as the contract suite wants it.
pub async fn moto_backend() -> TestBackend {
    let backend = MotoServer::shared()
        .create_backend(MAX_RECEIVES)
        .await
        .expect("AWS backend on moto");
    let clock = Arc::new(ManualClock::new(epoch()));
    let mut services = backend.services;
    services.clock = clock.clone();
    TestBackend {
        services,
        clock,
        max_receives: MAX_RECEIVES,
        guard: Box::new(()),
    }
}

#[cfg(target_os = "linux")]
fn kill_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only calls prctl, which
    // is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn kill_with_parent(_command: &mut Command) {}

type LogTail = Arc<Mutex<VecDeque<String>>>;

/// Reads the server's output so the pipe never fills, keeping the last lines.
fn drain_output(child: &mut Child) -> LogTail {
    let tail: LogTail = Arc::default();
    if let Some(stderr) = child.stderr.take() {
        let tail = tail.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
                if tail.len() == LOG_TAIL {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
    }
    tail
}

fn wait_until_listening(child: &mut Child, address: SocketAddr, log: &LogTail) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    let output = || {
        log.lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    };
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            thread::sleep(Duration::from_millis(100));
            bail!("moto exited at start ({status}):\n{}", output());
        }
        if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        thread::sleep(Duration::from_millis(50));
    }
    bail!(
        "moto did not listen on {address} within {START_TIMEOUT:?}:\n{}",
        output()
    )
}
