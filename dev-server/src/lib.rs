//! The local host for every callsync function: serves the HTTP functions on one port as the
//! API Gateway requests they get in AWS, drains the queues into the queue-driven functions as
//! SQS events (honouring partial-batch failures), and runs the scheduled functions with an
//! EventBridge scheduled event on an interval.
//!
//! It runs on the embedded backend, or (`BACKEND=aws`) on the AWS backend, against AWS or an
//! AWS-compatible endpoint such as moto: the same functions, the AWS adapters underneath.

pub mod app;
pub mod auth;
mod connection;
mod cors;
mod dev_routes;
mod gateway;
mod uploads;
mod web;

use auth::JwtSecret;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use axum::extract::Request as AxumRequest;
use axum::response::{IntoResponse, Response as AxumResponse};
use futures::future::BoxFuture;
use lambda_http::{Body, Response};
use pipeline::adapters::local::{LocalBackend, LocalQueue, UPLOAD_ROUTE};
use pipeline::http::{error_response, ApiError, Route};
use pipeline::ports::{Queue, QueueMessage};
use pipeline::services::Services;
use serde_json::json;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tracing::Instrument;

pub type HttpHandler =
    Arc<dyn Fn(Services, lambda_http::Request) -> BoxFuture<'static, Response<Body>> + Send + Sync>;
pub type QueueHandler =
    Arc<dyn Fn(Services, SqsEvent) -> BoxFuture<'static, SqsBatchResponse> + Send + Sync>;
pub type ScheduledHandler =
    Arc<dyn Fn(Services, EventBridgeEvent) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// Largest request body the dev server passes on (API Gateway's payload limit).
pub const MAX_REQUEST_BODY: usize = 10 * 1024 * 1024;

#[derive(Clone)]
pub struct HttpFunction {
    pub name: &'static str,
    pub routes: &'static [Route],
    pub handler: HttpHandler,
}

/// What a dev server runs on.
#[derive(Clone)]
pub enum Backend {
    /// SQLite, files and the local queue in one data directory.
    Local(Box<LocalBackend>),
    /// The AWS adapters (DynamoDB, S3, SQS, Secrets Manager), as `pipeline::adapters::aws`
    /// builds them. Its queues are polled as Lambda's SQS event source polls them. Uploads go
    /// to the bucket's presigned URLs; nothing here stands in for the bucket's event
    /// notification, so an upload is not announced on this backend.
    Aws(Box<Services>),
}

impl Backend {
    pub fn services(&self) -> &Services {
        match self {
            Backend::Local(local) => &local.services,
            Backend::Aws(services) => services,
        }
    }

    /// A queue to drain: the local one (`local` picks it), with its arrivals, which wake an
    /// idle consumer at once; or the AWS backend's (`port` picks it), which is polled.
    fn drained(
        &self,
        local: fn(&LocalBackend) -> &LocalQueue,
        port: fn(&Services) -> &Arc<dyn Queue>,
    ) -> (Arc<dyn Queue>, Option<LocalQueue>) {
        match self {
            Backend::Local(backend) => {
                let queue = local(backend).clone();
                (Arc::new(queue.clone()), Some(queue))
            }
            Backend::Aws(services) => (port(services).clone(), None),
        }
    }
}

impl From<LocalBackend> for Backend {
    fn from(local: LocalBackend) -> Self {
        Backend::Local(Box::new(local))
    }
}

#[derive(Clone)]
struct QueueConsumer {
    name: &'static str,
    queue: Arc<dyn Queue>,
    /// The local queue's arrivals, which wake an idle consumer at once; SQS is polled.
    arrivals: Option<LocalQueue>,
    mapping: EventSourceMapping,
    handler: QueueHandler,
}

struct Scheduled {
    name: &'static str,
    handler: ScheduledHandler,
}

pub struct DevServer {
    backend: Backend,
    jwt: JwtSecret,
    http: Vec<HttpFunction>,
    consumers: Vec<QueueConsumer>,
    scheduled: Vec<Scheduled>,
    cron_interval: Duration,
    visibility: Duration,
    web_root: Option<PathBuf>,
    demo: Option<Arc<fakes::demo::Demo>>,
    cors: Option<String>,
}

/// How Lambda hands a queue to its consumer function: the event source mapping's `BatchSize`
/// and `ScalingConfig.MaximumConcurrency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventSourceMapping {
    /// Messages per invocation.
    pub batch_size: usize,
    /// Invocations at once.
    pub max_concurrency: usize,
}

/// Each queue consumer's event source mapping, as the template declares it: the dev server
/// runs as many invocations at once, each with as many messages, so imports run as many at
/// once locally as in AWS (a sync or an upload is one invocation's work).
pub const EVENT_SOURCE_MAPPINGS: [(&str, EventSourceMapping); 3] = [
    (
        "sync-meetings",
        EventSourceMapping {
            batch_size: 1,
            max_concurrency: 10,
        },
    ),
    (
        "file-transcribe",
        EventSourceMapping {
            batch_size: 1,
            max_concurrency: 5,
        },
    ),
    (
        "deliver-events",
        EventSourceMapping {
            batch_size: 10,
            max_concurrency: 20,
        },
    ),
];

/// A started dev server; dropping it stops every task it runs.
pub struct Running {
    pub addr: SocketAddr,
    pub services: Services,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl DevServer {
    pub fn new(backend: impl Into<Backend>, jwt: JwtSecret) -> Self {
        DevServer {
            backend: backend.into(),
            jwt,
            http: Vec::new(),
            consumers: Vec::new(),
            scheduled: Vec::new(),
            cron_interval: Duration::from_secs(3600),
            visibility: Duration::from_secs(60),
            web_root: None,
            demo: None,
            cors: None,
        }
    }

    /// Serves the built Import Hub (web/dist) at `/` for requests no API route takes.
    pub fn web_root(mut self, dist: impl Into<PathBuf>) -> Self {
        self.web_root = Some(dist.into());
        self
    }

    /// Lets a web app on `origin` (or any, for `*`) call the API and PUT uploads, as the
    /// template's API and bucket CORS rules do (`CORS_ALLOWED_ORIGIN`). Without it only the
    /// server's own origin can.
    pub fn cors(mut self, origin: Option<String>) -> Self {
        self.cors = origin;
        self
    }

    /// The demo providers this server's configuration points at, described at `/dev/demo`.
    pub fn demo(mut self, demo: Arc<fakes::demo::Demo>) -> Self {
        self.demo = Some(demo);
        self
    }

    pub fn http(mut self, function: HttpFunction) -> Self {
        self.http.push(function);
        self
    }

    /// Drains the sync queue into `handler`, as the SQS event source mapping of
    /// `sync-meetings` does.
    pub fn consume_sync(self, handler: QueueHandler) -> Self {
        let queue = self.backend.drained(|b| &b.sync_queue, |s| &s.sync_queue);
        self.consume("sync-meetings", queue, handler)
    }

    /// Drains the transcribe queue into `handler` (`file-transcribe`).
    pub fn consume_transcribe(self, handler: QueueHandler) -> Self {
        let queue = self
            .backend
            .drained(|b| &b.transcribe_queue, |s| &s.transcribe_queue);
        self.consume("file-transcribe", queue, handler)
    }

    /// Drains the events queue into `handler` (`deliver-events`).
    pub fn consume_events(self, handler: QueueHandler) -> Self {
        let queue = self
            .backend
            .drained(|b| &b.events_queue, |s| &s.events_queue);
        self.consume("deliver-events", queue, handler)
    }

    fn consume(
        mut self,
        name: &'static str,
        (queue, arrivals): (Arc<dyn Queue>, Option<LocalQueue>),
        handler: QueueHandler,
    ) -> Self {
        // A consumer the table does not name: SQS's default batch, and the lowest maximum
        // concurrency Lambda allows.
        let mapping = EVENT_SOURCE_MAPPINGS
            .iter()
            .find_map(|&(function, mapping)| (function == name).then_some(mapping))
            .unwrap_or(EventSourceMapping {
                batch_size: 10,
                max_concurrency: 2,
            });
        self.consumers.push(QueueConsumer {
            name,
            queue,
            arrivals,
            mapping,
            handler,
        });
        self
    }

    pub fn schedule(mut self, name: &'static str, handler: ScheduledHandler) -> Self {
        self.scheduled.push(Scheduled { name, handler });
        self
    }

    pub fn cron_interval(mut self, interval: Duration) -> Self {
        self.cron_interval = interval;
        self
    }

    /// How long a delivered message stays hidden (the queue's visibility timeout): a failed
    /// message is retried after it.
    pub fn visibility(mut self, visibility: Duration) -> Self {
        self.visibility = visibility;
        self
    }

    pub async fn start(self, listener: TcpListener) -> anyhow::Result<Running> {
        let addr = listener.local_addr()?;
        let services = self.backend.services().clone();
        let state = Arc::new(HttpState {
            backend: self.backend.clone(),
            jwt: self.jwt,
            functions: self.http,
            web_root: self.web_root,
            demo: self.demo,
        });
        let mut router = axum::Router::new().fallback(move |req: AxumRequest| {
            let state = state.clone();
            async move { state.serve(req).await }
        });
        if let Some(origin) = &self.cors {
            router = router.layer(cors::layer(origin)?);
        }
        let mut tasks = vec![tokio::spawn(async move {
            let listener = connection::JsonRefusals(listener);
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "dev server stopped");
            }
        })];
        for consumer in self.consumers {
            for _ in 0..consumer.mapping.max_concurrency.max(1) {
                tasks.push(tokio::spawn(drain(
                    consumer.clone(),
                    services.clone(),
                    self.visibility,
                )));
            }
        }
        for job in self.scheduled {
            tasks.push(tokio::spawn(tick(
                job,
                services.clone(),
                self.cron_interval,
            )));
        }
        Ok(Running {
            addr,
            services,
            tasks,
        })
    }
}

struct HttpState {
    backend: Backend,
    jwt: JwtSecret,
    functions: Vec<HttpFunction>,
    web_root: Option<PathBuf>,
    demo: Option<Arc<fakes::demo::Demo>>,
}

fn error(err: ApiError) -> AxumResponse {
    gateway::from_lambda_response(error_response(&err))
}

impl HttpState {
    /// One request as API Gateway and Lambda would serve it, with an id of its own on every log
    /// line it causes, in `x-request-id` and in an error body.
    async fn serve(&self, mut req: AxumRequest) -> AxumResponse {
        let started = Instant::now();
        let (method, path) = (req.method().clone(), req.uri().path().to_owned());
        let id = uuid::Uuid::new_v4().to_string();
        req.extensions_mut().insert(gateway::RequestId(id.clone()));
        let span = tracing::info_span!("request", request_id = %id, method = %method, path = %path);
        let response = async {
            let response = self.dispatch(req).await;
            tracing::info!(
                "{method} {path} {} {}ms",
                response.status().as_u16(),
                started.elapsed().as_millis()
            );
            response
        }
        .instrument(span)
        .await;
        gateway::with_request_id(response, &id).await
    }

    async fn dispatch(&self, req: AxumRequest) -> AxumResponse {
        let (parts, body) = req.into_parts();
        if let (Backend::Local(local), Some(key)) =
            (&self.backend, parts.uri.path().strip_prefix(UPLOAD_ROUTE))
        {
            return uploads::receive(local, &parts, key, body)
                .await
                .into_response();
        }
        // Read whole before anything can refuse: an answer sent over an unread body ends a
        // keep-alive connection, and the client's next request on it fails.
        let body = match axum::body::to_bytes(body, MAX_REQUEST_BODY).await {
            Ok(body) => body,
            Err(_) => {
                return error(ApiError::payload_too_large(
                    "the request body is over 10 MiB",
                ))
            }
        };
        let (method, path) = (parts.method.as_str(), parts.uri.path());
        let found = self.functions.iter().find_map(|f| {
            f.routes
                .iter()
                .find(|r| r.matches(method, path))
                .map(|r| (f, r))
        });
        let Some((function, route)) = found else {
            return self.unrouted(parts, body).await;
        };
        let claims = if route.public {
            None
        } else {
            let header = parts
                .headers
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            match auth::verify(&self.jwt, header) {
                Ok(claims) => Some(claims),
                Err(message) => return error(ApiError::unauthorized(message)),
            }
        };
        let route_key = format!("{} {}", route.method, route.path);
        let request = match gateway::to_lambda_request(&parts, body, &route_key, claims) {
            Ok(request) => request,
            Err(e) => {
                return error(ApiError::bad_request(
                    "bad_request",
                    format!("the request could not be read: {e}"),
                ))
            }
        };
        let handler = function.handler.clone();
        let services = self.backend.services().clone();
        // A panicking handler becomes a 500, as the Lambda runtime reports it.
        match tokio::spawn(async move { handler(services, request).await }).await {
            Ok(response) => gateway::from_lambda_response(response),
            Err(_) => error(ApiError::from(anyhow::anyhow!(
                "function {} panicked",
                function.name
            ))),
        }
    }

    /// What no API route takes: the dev-only routes, then the built app, else 404.
    async fn unrouted(&self, parts: http::request::Parts, body: bytes::Bytes) -> AxumResponse {
        if parts.uri.path().starts_with("/dev/") {
            if let Some(response) = dev_routes::handle(
                &self.jwt,
                &self.backend.services().config.identity,
                self.demo.as_deref(),
                &parts,
                &body,
            )
            .await
            {
                return response;
            }
        }
        if let Some(root) = &self.web_root {
            if let Some(response) = web::serve(root, &parts).await {
                return response;
            }
        }
        error(ApiError::not_found(format!(
            "there is no route {} {}",
            parts.method,
            parts.uri.path()
        )))
    }
}

/// The SQS event a consumer receives for `messages`, as AWS builds it.
pub fn sqs_event(queue: &str, messages: &[QueueMessage]) -> SqsEvent {
    let records: Vec<_> = messages
        .iter()
        .map(|m| {
            json!({
                "messageId": m.message_id,
                "receiptHandle": m.receipt,
                "body": m.body,
                "attributes": {
                    "ApproximateReceiveCount": m.receive_count.to_string(),
                    "SentTimestamp": chrono::Utc::now().timestamp_millis().to_string(),
                },
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": format!("arn:aws:sqs:local:000000000000:{queue}"),
                "awsRegion": "local",
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap_or_default()
}

async fn drain(consumer: QueueConsumer, services: Services, visibility: Duration) {
    loop {
        let messages = match consumer
            .queue
            .receive(consumer.mapping.batch_size, visibility)
            .await
        {
            Ok(messages) => messages,
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    consumer = consumer.name,
                    "receive failed"
                );
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            // Wake on a new local message, or poll for ones whose visibility timeout ran out
            // (and for SQS's).
            let poll = tokio::time::sleep(Duration::from_millis(250));
            match &consumer.arrivals {
                Some(local) => tokio::select! {
                    _ = local.arrival() => {}
                    _ = poll => {}
                },
                None => poll.await,
            }
            continue;
        }
        let started = Instant::now();
        let event = sqs_event(consumer.name, &messages);
        let handler = consumer.handler.clone();
        let run = tokio::spawn({
            let services = services.clone();
            async move { handler(services, event).await }
        });
        // A panic fails the whole batch: every message comes back after its timeout.
        let failed: HashSet<String> = match run.await {
            Ok(response) => response
                .batch_item_failures
                .into_iter()
                .map(|f| f.item_identifier)
                .collect(),
            Err(_) => messages.iter().map(|m| m.message_id.clone()).collect(),
        };
        for message in messages.iter().filter(|m| !failed.contains(&m.message_id)) {
            if let Err(e) = consumer.queue.delete(&message.receipt).await {
                tracing::error!(error = format!("{e:#}"), "delete failed");
            }
        }
        tracing::info!(
            "{}: {} messages, {} failed, {}ms",
            consumer.name,
            messages.len(),
            failed.len(),
            started.elapsed().as_millis()
        );
    }
}

/// The event EventBridge sends for a schedule rule.
pub fn scheduled_event() -> EventBridgeEvent {
    let event = json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": "local",
        "resources": ["arn:aws:events:local:000000000000:rule/hourly-sync"],
        "detail": {},
    });
    serde_json::from_value(event).expect("the scheduled event literal is a valid EventBridge event")
}

async fn tick(job: Scheduled, services: Services, interval: Duration) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    loop {
        ticker.tick().await;
        let started = Instant::now();
        // Neither an error nor a panic stops the schedule.
        match tokio::spawn((job.handler)(services.clone(), scheduled_event())).await {
            Ok(Ok(())) => tracing::info!(
                "{}: scheduled run ok, {}ms",
                job.name,
                started.elapsed().as_millis()
            ),
            Ok(Err(e)) => tracing::error!(
                error = format!("{e:#}"),
                "{}: scheduled run failed",
                job.name
            ),
            Err(_) => tracing::error!("{}: scheduled run panicked", job.name),
        }
    }
}
