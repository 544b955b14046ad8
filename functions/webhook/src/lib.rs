//! `webhook`: signed provider deliveries (no user token), `/webhooks/{source}[/{connection}]`.
//! Each one is size-checked, verified by the source's connector (with the secret registered
//! for the connection in its path, or the app's own secret, then matched to a connection by
//! the account the delivery names), claimed once by its delivery id, stored, queued for
//! import and answered 202 in milliseconds; a retry of an accepted delivery answers 200 and
//! changes nothing. Validation challenges are answered at once, and a deauthorization
//! disconnects the account's connections (their recordings stay). Verified attempts go to the delivery log; refused ones
//! are logged under the connection they name (or the app) up to `REFUSED_LOGGED_PER_MINUTE`
//! a minute, and a request for an unknown connection is never written anywhere, so an
//! unauthenticated flood costs no storage.
//!
//! | answer | when |
//! |---|---|
//! | 202 `accepted` | taken in (a paused connection's is imported on resume) |
//! | 200 (the challenge's answer) | an endpoint validation challenge |
//! | 200 `disconnected` | the account removed the app |
//! | 202 `unmatched` | app-level, verified, but no connection is the account it names yet: kept |
//! | 200 `duplicate` | its `webhook-id` was taken in before at this endpoint |
//! | 409 `in_progress` | another copy is being taken in right now: retry shortly |
//! | 400 | verified, but not JSON (`invalid_json`) or not a meeting (`invalid_payload`) |
//! | 401 | signature headers missing or malformed, no signature matches, or the timestamp is more than 300 s off (`stale_timestamp`, `future_timestamp`) |
//! | 404 | unknown connection, or no webhook secret to verify with (not logged) |
//! | 410 | the connection was disconnected: the sender should stop |
//! | 413 | body over `MAX_BODY_BYTES` (checked before anything else) |
//! | 503 | the payload could not be stored or queued: the claim is released, the sender retries |

use bytes::Bytes;
use lambda_http::http::StatusCode;
use pipeline::connectors::{Connector, WebhookEvent};
use pipeline::crypto::SecretString;
use pipeline::domain::{Connection, ConnectionId, ConnectionStatus, Source, Tenant};
use pipeline::http::{self, ApiError, Body, Request, Response, Route};
use pipeline::pipeline::connect::disconnect;
use pipeline::pipeline::credentials::{self, SecretField};
use pipeline::pipeline::deliveries::{
    self, header_names, Destination, Endpoint, Intake, LOG_RETENTION, MAX_WEBHOOK_ID_LEN,
};
use pipeline::ports::{DeliveryRecord, DeliveryStatus};
use pipeline::services::Services;
use pipeline::webhook as standard_webhooks;
use serde_json::json;

pub const ROUTES: &[Route] = &[
    Route::public("POST", "/webhooks/{source}/{connection_id}"),
    Route::public("POST", "/webhooks/{source}"),
];

/// Refused (unverified) attempts logged per connection, or for the app endpoint, per minute.
pub const REFUSED_LOGGED_PER_MINUTE: u64 = 20;

/// Largest delivery taken in: hours of transcript, where deliveries of long meetings pass
/// 200 KB. Anything larger still arrives with the scheduled sync.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

pub async fn handle(services: &Services, mut req: Request) -> Response<Body> {
    // The body is taken out, not copied: it is stored as received.
    let body = match std::mem::take(req.body_mut()) {
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    let mut attempt = Attempt::start(services, &req, body.len());
    let outcome = receive(services, &req, &body, &mut attempt).await;
    attempt.finish(services, outcome).await
}

/// What the delivery log will say about a request, filled in as it is learned.
struct Attempt {
    received_at: chrono::DateTime<chrono::Utc>,
    /// `None` for a path naming no known source: such a request is not logged.
    source: Option<Source>,
    /// The member whose log it goes in.
    owner: Option<Tenant>,
    connection_id: Option<ConnectionId>,
    webhook_id: Option<String>,
    signature_valid: bool,
    /// The path names a connection (known or not), rather than the app endpoint.
    names_connection: bool,
    header_names: Vec<String>,
    body_bytes: u64,
}

/// A request that was not taken in: how the log files it and what the sender is told.
struct Refusal {
    status: DeliveryStatus,
    error: ApiError,
}

fn refuse(status: DeliveryStatus, error: ApiError) -> Refusal {
    Refusal { status, error }
}

/// The store, the blob store or the queue failed: the sender is told to retry.
impl From<anyhow::Error> for Refusal {
    fn from(err: anyhow::Error) -> Self {
        tracing::error!(error = format!("{err:#}"), "webhook delivery not taken in");
        refuse(
            DeliveryStatus::Failed,
            ApiError::unavailable("the delivery could not be stored; send it again"),
        )
    }
}

/// What became of a delivery that was verified.
#[derive(Debug, Clone, PartialEq)]
enum Taken {
    Accepted,
    Duplicate,
    InProgress,
    Unmatched,
    /// Answered at once with this body (an endpoint validation challenge).
    Answered(serde_json::Value),
    /// The account removed the app: this many connections were disconnected.
    Deauthorized(usize),
    /// Verified, but nothing callsync acts on.
    Ignored,
}

impl Attempt {
    fn start(services: &Services, req: &Request, body_bytes: usize) -> Self {
        let segments = http::segments(req);
        let webhook_id = req
            .headers()
            .get(standard_webhooks::ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|id| !id.is_empty())
            .map(|id| id.chars().take(MAX_WEBHOOK_ID_LEN).collect());
        Attempt {
            received_at: services.clock.now(),
            source: segments.get(1).and_then(|s| Source::parse(s).ok()),
            owner: None,
            connection_id: segments.get(2).and_then(|id| ConnectionId::parse(id).ok()),
            webhook_id,
            signature_valid: false,
            names_connection: segments.len() > 2,
            header_names: header_names(req.headers()),
            body_bytes: body_bytes as u64,
        }
    }

    /// Files the attempt under the owner of the connection its path names.
    async fn attribute_to_connection_owner(&mut self, services: &Services) {
        if let Some(id) = &self.connection_id {
            if let Ok(Some(connection)) = services.connections.get(id).await {
                self.owner = Some(connection.owner());
            }
        }
    }

    fn found(&mut self, connection: &Connection) {
        self.owner = Some(connection.owner());
        self.connection_id = Some(connection.id.clone());
    }

    /// Logs the attempt (within bounds) and answers it.
    async fn finish(self, services: &Services, outcome: Result<Taken, Refusal>) -> Response<Body> {
        let (status, response, error) = match outcome {
            Ok(Taken::InProgress) => {
                let refusal = refuse(
                    DeliveryStatus::InProgress,
                    ApiError::conflict(
                        "in_progress",
                        "another copy of this delivery is being taken in; send it again shortly",
                    ),
                );
                let response =
                    http::with_header(http::error_response(&refusal.error), "retry-after", "5");
                (refusal.status, response, Some(refusal.error.message))
            }
            Ok(Taken::Answered(body)) => (
                DeliveryStatus::Answered,
                http::json(StatusCode::OK, &body),
                None,
            ),
            Ok(Taken::Deauthorized(disconnected)) => (
                DeliveryStatus::Answered,
                http::json(
                    StatusCode::OK,
                    &json!({ "status": "disconnected", "connections": disconnected }),
                ),
                None,
            ),
            Ok(taken) => {
                let (status, code, label) = match taken {
                    Taken::Accepted => (DeliveryStatus::Accepted, StatusCode::ACCEPTED, "accepted"),
                    Taken::Unmatched => {
                        (DeliveryStatus::Unmatched, StatusCode::ACCEPTED, "unmatched")
                    }
                    Taken::Ignored => (DeliveryStatus::Answered, StatusCode::OK, "ignored"),
                    _ => (DeliveryStatus::Duplicate, StatusCode::OK, "duplicate"),
                };
                (status, http::json(code, &json!({ "status": label })), None)
            }
            Err(refusal) => (
                refusal.status,
                http::error_response(&refusal.error),
                Some(refusal.error.message),
            ),
        };
        tracing::info!(
            webhook = self.webhook_id.as_deref().unwrap_or(""),
            connection = self.connection_id.as_ref().map(|c| c.as_str()).unwrap_or(""),
            status = ?status,
            http_status = response.status().as_u16(),
            "webhook delivery"
        );
        if let Some(source) = self.source {
            if self.worth_logging(services, source).await {
                let record = DeliveryRecord {
                    // Later than every id before it: attempts of one millisecond are listed
                    // in the order they came, and a store's index on ids grows at its end.
                    id: uuid::Uuid::now_v7().simple().to_string(),
                    source,
                    owner: self.owner,
                    connection_id: self.connection_id,
                    webhook_id: self.webhook_id,
                    received_at: self.received_at,
                    status,
                    http_status: response.status().as_u16(),
                    signature_valid: self.signature_valid,
                    error,
                    header_names: self.header_names,
                    body_bytes: self.body_bytes,
                    expires_at: self.received_at + LOG_RETENTION,
                };
                deliveries::log_attempt(services, &record).await;
            }
        }
        response
    }

    /// Verified attempts are always logged. Unverified ones cost the sender nothing, so they
    /// are logged only for a known connection (or the app endpoint), at most
    /// `REFUSED_LOGGED_PER_MINUTE` a minute each; a request naming no known connection is
    /// never written anywhere.
    async fn worth_logging(&self, services: &Services, source: Source) -> bool {
        if self.signature_valid {
            return true;
        }
        let scope = match (&self.owner, &self.connection_id, self.names_connection) {
            (Some(_), Some(connection), _) => connection.to_string(),
            (None, _, false) => format!("app:{source}"),
            _ => return false,
        };
        let minute = self.received_at.format("%Y-%m-%dT%H:%M");
        let counter = format!("refused_log:{scope}:{minute}");
        let expires = self.received_at + chrono::Duration::minutes(2);
        match services
            .counters
            .increment_below(&counter, REFUSED_LOGGED_PER_MINUTE, expires)
            .await
        {
            Ok(below) => below.is_some(),
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "refused-delivery log cap unreadable"
                );
                false
            }
        }
    }
}

async fn receive(
    services: &Services,
    req: &Request,
    body: &Bytes,
    attempt: &mut Attempt,
) -> Result<Taken, Refusal> {
    if body.len() > MAX_BODY_BYTES {
        attempt.attribute_to_connection_owner(services).await;
        let limit = MAX_BODY_BYTES / (1024 * 1024);
        return Err(refuse(
            DeliveryStatus::Rejected,
            ApiError::payload_too_large(format!("the delivery is over {limit} MiB")),
        ));
    }
    let providers = services.providers().await?;
    let connector = attempt
        .source
        .and_then(|source| providers.connector(source))
        .filter(|connector| connector.receives_webhooks())
        .ok_or_else(|| {
            refuse(
                DeliveryStatus::Rejected,
                ApiError::not_found("no deliveries are received from this source"),
            )
        })?;
    match http::segments(req).as_slice() {
        [_, _, connection_id] => {
            for_connection(services, connector, req, body, connection_id, attempt).await
        }
        _ => for_app(services, connector, req, body, attempt).await,
    }
}

/// `POST /webhooks/{source}/{connection_id}`: verified with the secret registered for it.
async fn for_connection(
    services: &Services,
    connector: &dyn Connector,
    req: &Request,
    body: &Bytes,
    raw_id: &str,
    attempt: &mut Attempt,
) -> Result<Taken, Refusal> {
    let unknown = || {
        refuse(
            DeliveryStatus::Rejected,
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_connection",
                "no connection receives deliveries here",
            ),
        )
    };
    let id = ConnectionId::parse(raw_id).map_err(|_| unknown())?;
    let connection = services
        .connections
        .get(&id)
        .await?
        .filter(|c| c.source == connector.source())
        .ok_or_else(unknown)?;
    attempt.found(&connection);
    if connection.status == ConnectionStatus::Disconnected {
        return Err(refuse(
            DeliveryStatus::Rejected,
            ApiError::new(
                StatusCode::GONE,
                "disconnected",
                "this connection was disconnected; stop sending to it",
            ),
        ));
    }
    let Some(registration) = &connection.webhook else {
        return Err(refuse(
            DeliveryStatus::Rejected,
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no_webhook",
                "no webhook is registered for this connection",
            ),
        ));
    };
    let secret = credentials::open(
        &services.secrets().await?.sealing_key,
        &connection.id,
        SecretField::WebhookSecret,
        &registration.secret,
    )
    .map_err(|e| stored_secret_unreadable(e.into(), &connection.id))?;
    let webhook_id = verify(connector, Some(&secret), req, body, attempt)?;
    match parse(connector, body)? {
        WebhookEvent::Meeting { .. } => {
            let targets = [connection.id.clone()];
            take_in(
                services,
                connector.source(),
                Endpoint::Connection(&connection.id),
                &webhook_id,
                body,
                Destination::Connections(&targets),
            )
            .await
        }
        WebhookEvent::Challenge(answer) => Ok(Taken::Answered(answer)),
        WebhookEvent::Deauthorized { .. } => {
            disconnect(services, &connection, &deauthorized(connector)).await?;
            Ok(Taken::Deauthorized(1))
        }
        WebhookEvent::Ignored { .. } => Ok(Taken::Ignored),
    }
}

/// What the activity log says when the provider tells us the account removed our access.
fn deauthorized(connector: &dyn Connector) -> String {
    let name = connector.name();
    format!("the {name} account removed callsync's access, so {name} was disconnected")
}

/// `POST /webhooks/{source}`: the app's own deliveries, verified with the app's secret and
/// matched to connections by the account they name.
async fn for_app(
    services: &Services,
    connector: &dyn Connector,
    req: &Request,
    body: &Bytes,
    attempt: &mut Attempt,
) -> Result<Taken, Refusal> {
    let webhook_id = verify(connector, None, req, body, attempt)?;
    let source = connector.source();
    let route = match parse(connector, body)? {
        WebhookEvent::Challenge(answer) => return Ok(Taken::Answered(answer)),
        WebhookEvent::Ignored { .. } => return Ok(Taken::Ignored),
        WebhookEvent::Deauthorized { route } => {
            let mut disconnected = 0;
            for connection in live_connections(services, source, &route).await? {
                attempt.found(&connection);
                disconnect(services, &connection, &deauthorized(connector)).await?;
                disconnected += 1;
            }
            return Ok(Taken::Deauthorized(disconnected));
        }
        WebhookEvent::Meeting {
            route: Some(route), ..
        } => route,
        WebhookEvent::Meeting { route: None, .. } => {
            return Err(refuse(
                DeliveryStatus::Rejected,
                ApiError::bad_request(
                    "no_recorder",
                    "the delivery names no account, so it cannot be matched to a user",
                ),
            ))
        }
    };
    let connections = live_connections(services, source, &route).await?;
    let Some(first) = connections.first() else {
        let taken = take_in(
            services,
            source,
            Endpoint::App,
            &webhook_id,
            body,
            Destination::Unmatched { route: &route },
        )
        .await?;
        return Ok(if taken == Taken::Accepted {
            Taken::Unmatched
        } else {
            taken
        });
    };
    attempt.found(first);
    let targets: Vec<ConnectionId> = connections.iter().map(|c| c.id.clone()).collect();
    take_in(
        services,
        source,
        Endpoint::App,
        &webhook_id,
        body,
        Destination::Connections(&targets),
    )
    .await
}

/// The connections, not disconnected, of the account `route` names.
async fn live_connections(
    services: &Services,
    source: Source,
    route: &str,
) -> Result<Vec<Connection>, Refusal> {
    Ok(services
        .connections
        .find_by_route_key(source, route)
        .await?
        .into_iter()
        .filter(|c| c.status != ConnectionStatus::Disconnected)
        .collect())
}

fn stored_secret_unreadable(err: anyhow::Error, connection: &ConnectionId) -> Refusal {
    refuse(
        DeliveryStatus::Failed,
        ApiError::from(err.context(format!(
            "opening the webhook secret of connection {connection}"
        ))),
    )
}

/// Checks the signature on the raw body; the verified delivery id.
fn verify(
    connector: &dyn Connector,
    secret: Option<&SecretString>,
    req: &Request,
    body: &[u8],
    attempt: &mut Attempt,
) -> Result<String, Refusal> {
    let webhook_id = connector
        .verify_delivery(secret, req.headers(), body, attempt.received_at)
        .map_err(|refusal| {
            let (status, http_status) = match (refusal.code, refusal.stale) {
                ("no_webhook", _) => (DeliveryStatus::Rejected, StatusCode::NOT_FOUND),
                (_, true) => (DeliveryStatus::Stale, StatusCode::UNAUTHORIZED),
                (_, false) => (DeliveryStatus::InvalidSignature, StatusCode::UNAUTHORIZED),
            };
            refuse(
                status,
                ApiError::new(http_status, refusal.code, refusal.message),
            )
        })?;
    attempt.signature_valid = true;
    attempt.webhook_id = Some(webhook_id.chars().take(MAX_WEBHOOK_ID_LEN).collect());
    if webhook_id.len() > MAX_WEBHOOK_ID_LEN {
        return Err(refuse(
            DeliveryStatus::Rejected,
            ApiError::bad_request(
                "invalid_webhook_id",
                format!("the delivery id is longer than {MAX_WEBHOOK_ID_LEN} characters"),
            ),
        ));
    }
    Ok(webhook_id)
}

/// What a verified delivery asks for; 400 when it cannot be read.
fn parse(connector: &dyn Connector, body: &[u8]) -> Result<WebhookEvent, Refusal> {
    connector.parse_delivery(body).map_err(|unreadable| {
        refuse(
            DeliveryStatus::Rejected,
            ApiError::bad_request(unreadable.code, unreadable.message),
        )
    })
}

async fn take_in(
    services: &Services,
    source: Source,
    endpoint: Endpoint<'_>,
    webhook_id: &str,
    body: &Bytes,
    destination: Destination<'_>,
) -> Result<Taken, Refusal> {
    let intake = deliveries::take_in(
        services,
        source,
        endpoint,
        webhook_id,
        body.clone(),
        destination,
    )
    .await?;
    Ok(match intake {
        Intake::Accepted => Taken::Accepted,
        Intake::Duplicate => Taken::Duplicate,
        Intake::InProgress => Taken::InProgress,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine;
    use lambda_http::request::LambdaRequest;
    use pipeline::domain::WebhookRegistration;
    use pipeline::pipeline::messages::{SyncMessage, WebhookDelivery};
    use pipeline::testing::{epoch, local_backend, member, TestBackend};
    use pipeline::webhook::WebhookSecret;
    use serde_json::Value;

    const SAMPLE: &str = include_str!("../../../events/webhook.json");

    /// The sample event, addressed to `connection`, carrying `body` signed with `secret` and
    /// base64-encoded as API Gateway sends binary bodies, with header names in mixed case.
    fn signed_event(
        connection: &ConnectionId,
        secret: &WebhookSecret,
        webhook_id: &str,
        body: &[u8],
    ) -> Request {
        let mut event: Value = serde_json::from_str(SAMPLE).unwrap();
        let path = format!("/webhooks/fathom/{connection}");
        event["rawPath"] = json!(path);
        event["requestContext"]["http"]["path"] = json!(path);
        event["pathParameters"]["connection_id"] = json!(connection.as_str());
        let timestamp = epoch().timestamp();
        let headers = event["headers"].as_object_mut().unwrap();
        for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            headers.remove(name);
        }
        headers.insert("Webhook-Id".into(), json!(webhook_id));
        headers.insert("WEBHOOK-TIMESTAMP".into(), json!(timestamp.to_string()));
        headers.insert(
            "Webhook-Signature".into(),
            json!(standard_webhooks::sign(secret, webhook_id, timestamp, body)),
        );
        event["body"] = json!(B64.encode(body));
        event["isBase64Encoded"] = json!(true);
        let event: LambdaRequest = serde_json::from_value(event).unwrap();
        Request::from(event)
    }

    async fn connected(backend: &TestBackend) -> (ConnectionId, WebhookSecret) {
        let secret = WebhookSecret::generate();
        let mut connection = Connection::new(member("alice"), Source::Fathom, epoch());
        connection.webhook = Some(WebhookRegistration {
            provider_webhook_id: "wh_1".into(),
            secret: credentials::seal(
                &backend.services.secrets().await.unwrap().sealing_key,
                &connection.id,
                SecretField::WebhookSecret,
                &SecretString::new(secret.expose_str()),
            ),
        });
        backend
            .services
            .connections
            .insert_if_absent(&connection)
            .await
            .unwrap();
        (connection.id, secret)
    }

    async fn log(backend: &TestBackend, owner: Option<&str>) -> Vec<DeliveryRecord> {
        let owner = owner.map(member);
        backend
            .services
            .deliveries
            .list(owner.as_ref(), Source::Fathom, 10, epoch())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_base64_body_is_verified_raw_stored_and_queued_once() {
        let backend = local_backend().await;
        let (connection, secret) = connected(&backend).await;
        // Sent base64-encoded: only the decoded bytes verify.
        let body = "{\"recording_id\": 42, \"title\": \"Caf\u{e9}\"}".as_bytes();
        let request = || signed_event(&connection, &secret, "msg_base64", body);

        let response = handle(&backend.services, request()).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let stored = backend
            .services
            .blobs
            .get_bytes(&format!("webhooks/fathom/{connection}/msg_base64.json"))
            .await
            .unwrap();
        assert_eq!(stored.as_deref(), Some(body), "the raw bytes are stored");
        let queued = backend
            .services
            .sync_queue
            .receive(10, std::time::Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(queued.len(), 1);
        assert_eq!(
            SyncMessage::parse(&queued[0].body).unwrap(),
            SyncMessage::Webhook(WebhookDelivery {
                connection_id: Some(connection.clone()),
                source: Source::Fathom,
                webhook_id: "msg_base64".into(),
                blob_key: format!("webhooks/fathom/{connection}/msg_base64.json"),
                round: 0,
            })
        );

        let again = handle(&backend.services, request()).await;
        assert_eq!(again.status(), StatusCode::OK, "a retry is a duplicate");
        assert!(backend
            .services
            .sync_queue
            .receive(10, std::time::Duration::from_secs(30))
            .await
            .unwrap()
            .is_empty());
        let statuses: Vec<DeliveryStatus> = log(&backend, Some("alice"))
            .await
            .iter()
            .map(|d| d.status)
            .collect();
        assert_eq!(statuses.len(), 2);
        assert!(
            statuses.contains(&DeliveryStatus::Accepted)
                && statuses.contains(&DeliveryStatus::Duplicate)
        );
    }

    #[tokio::test]
    async fn attempts_in_one_instant_are_listed_newest_first() {
        let backend = local_backend().await;
        let (connection, secret) = connected(&backend).await;
        // The test clock stands still: every attempt has the same time.
        let ids: Vec<String> = (0..5).map(|n| format!("msg_{n}")).collect();
        for id in &ids {
            let body = format!("{{\"recording_id\": \"{id}\"}}");
            let request = signed_event(&connection, &secret, id, body.as_bytes());
            assert_eq!(
                handle(&backend.services, request).await.status(),
                StatusCode::ACCEPTED
            );
        }
        let listed: Vec<String> = log(&backend, Some("alice"))
            .await
            .into_iter()
            .filter_map(|d| d.webhook_id)
            .collect();
        let newest_first: Vec<String> = ids.into_iter().rev().collect();
        assert_eq!(listed, newest_first);
    }

    #[tokio::test]
    async fn the_sample_event_for_an_unknown_connection_is_404_and_writes_nothing() {
        let backend = local_backend().await;
        let event: LambdaRequest = serde_json::from_str(SAMPLE).unwrap();
        let response = handle(&backend.services, Request::from(event)).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(body["error"]["code"], "unknown_connection");
        assert!(
            log(&backend, None).await.is_empty(),
            "an unauthenticated request naming no known connection is not logged"
        );
    }

    #[tokio::test]
    async fn a_delivery_signed_with_another_secret_is_401_and_logged_for_the_owner() {
        let backend = local_backend().await;
        let (connection, _) = connected(&backend).await;
        let forged = signed_event(
            &connection,
            &WebhookSecret::generate(),
            "msg_forged",
            br#"{"recording_id": 1}"#,
        );
        let response = handle(&backend.services, forged).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let logged = log(&backend, Some("alice")).await;
        assert_eq!(
            logged
                .iter()
                .map(|d| (d.status, d.signature_valid))
                .collect::<Vec<_>>(),
            [(DeliveryStatus::InvalidSignature, false)]
        );
        assert!(backend
            .services
            .blobs
            .get_bytes(&format!("webhooks/fathom/{connection}/msg_forged.json"))
            .await
            .unwrap()
            .is_none());
    }
}
