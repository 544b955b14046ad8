//! A Lambda Runtime API on loopback serving one invocation, as the Lambda service serves a
//! freshly started function: `next` hands out the event once, and the time the function posts
//! its answer is noted.

use anyhow::{Context, Result};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

const REQUEST_ID: &str = "5f0c1a5e-7b1d-4c2e-9d3f-bench0000001";

/// How long the function may take, as the deadline header tells it.
const DEADLINE: Duration = Duration::from_secs(900);

/// What the function did with its invocation.
#[derive(Debug)]
pub enum Outcome {
    /// It posted a response.
    Response { at: Instant, body: Bytes },
    /// It reported an invocation or initialisation error.
    Error { at: Instant, body: Bytes },
}

struct Invocation {
    event: Bytes,
    function_arn: String,
    handed_out: AtomicBool,
    outcome: Mutex<Option<oneshot::Sender<Outcome>>>,
    /// Set when the benchmark is done with the function.
    closed: watch::Sender<bool>,
}

impl Invocation {
    fn finish(&self, outcome: Outcome) {
        let sender = self
            .outcome
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(sender) = sender {
            let _ = sender.send(outcome);
        }
    }
}

/// A running Runtime API; stopped when dropped.
pub struct RuntimeApi {
    pub address: SocketAddr,
    pub outcome: oneshot::Receiver<Outcome>,
    invocation: Arc<Invocation>,
    server: JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start(function: &str, event: Bytes) -> Result<RuntimeApi> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the Runtime API to a loopback port")?;
        let address = listener.local_addr()?;
        let (sender, outcome) = oneshot::channel();
        let invocation = Arc::new(Invocation {
            event,
            function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function}"),
            handed_out: AtomicBool::new(false),
            outcome: Mutex::new(Some(sender)),
            closed: watch::Sender::new(false),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(error))
            .with_state(invocation.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(RuntimeApi {
            address,
            outcome,
            invocation,
            server,
        })
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.invocation.closed.send_replace(true);
        self.server.abort();
    }
}

async fn next(State(invocation): State<Arc<Invocation>>) -> Response {
    if invocation.handed_out.swap(true, Ordering::SeqCst) {
        // One event per process: the function's next poll waits until the benchmark is done
        // with it, as a frozen Lambda sandbox would.
        let _ = invocation
            .closed
            .subscribe()
            .wait_for(|closed| *closed)
            .await;
        return status(StatusCode::GONE);
    }
    let deadline = SystemTime::now()
        .checked_add(DEADLINE)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis())
        .unwrap_or_default();
    Response::builder()
        .header("Lambda-Runtime-Aws-Request-Id", REQUEST_ID)
        .header("Lambda-Runtime-Deadline-Ms", deadline.to_string())
        .header(
            "Lambda-Runtime-Invoked-Function-Arn",
            invocation.function_arn.as_str(),
        )
        .header(
            "Lambda-Runtime-Trace-Id",
            "Root=1-6790a1b2-0123456789abcdef01234567;Sampled=0",
        )
        .header("Content-Type", "application/json")
        .body(Body::from(invocation.event.clone()))
        .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR))
}

async fn response(State(invocation): State<Arc<Invocation>>, body: Bytes) -> StatusCode {
    let at = Instant::now();
    invocation.finish(Outcome::Response { at, body });
    StatusCode::ACCEPTED
}

async fn error(State(invocation): State<Arc<Invocation>>, body: Bytes) -> StatusCode {
    let at = Instant::now();
    invocation.finish(Outcome::Error { at, body });
    StatusCode::ACCEPTED
}

fn status(code: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = code;
    response
}
