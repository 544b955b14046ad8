//! Fake OpenAI-compatible Chat Completions API.
//!
//! `POST /v1/chat/completions` takes a JSON body like the real service (`model`, `messages`
//! of `{role, content}`, optional `response_format` and `temperature`), enforces the bearer
//! key, rejects what the real service rejects with its error JSON, and answers a
//! `chat.completion` whose assistant message is whatever the test's responder returns. Tests
//! can script failures (429 with `Retry-After`, 500, an answer that is not the JSON asked
//! for, a slow answer), consumed in order before normal answers, and read back every request
//! the fake received, failed ones included.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::task::JoinHandle;

/// What the fake answers until a test sets a responder.
pub const DEFAULT_REPLY: &str =
    r#"{"category": "other", "confidence": 0.5, "reason": "no rule matched"}"#;
/// The assistant text of a [`ChatFailure::Malformed`] answer: prose, not JSON.
pub const MALFORMED_REPLY: &str = "I think this is a follow-up.";

const ROLES: &[&str] = &[
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];
const RESPONSE_FORMATS: &[&str] = &["text", "json_object", "json_schema"];

/// A request as the fake received it. Fields the body lacks are empty.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    /// `(role, content)` per message; content given as parts is their text, joined by
    /// newlines.
    pub messages: Vec<(String, String)>,
    /// The whole JSON body (`Null` when it was not JSON).
    pub body: Value,
}

impl ChatRequest {
    fn from_body(body: Value) -> Self {
        let model = body["model"].as_str().unwrap_or_default().to_owned();
        let messages = body["messages"]
            .as_array()
            .map(|messages| {
                messages
                    .iter()
                    .map(|m| {
                        let role = m["role"].as_str().unwrap_or_default().to_owned();
                        (role, content_text(&m["content"]))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            model,
            messages,
            body,
        }
    }
}

/// A scripted failure, used up by one request that passed authentication and validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatFailure {
    /// 429 with `Retry-After` and an error whose `code` is `rate_limit_exceeded`.
    RateLimited { retry_after_secs: u64 },
    /// 500 with the service's error JSON.
    ServerError,
    /// 200 with a well-formed completion whose content is [`MALFORMED_REPLY`].
    Malformed,
    /// Waits this long, then answers normally.
    Timeout { secs: u64 },
}

type Responder = Arc<dyn Fn(&ChatRequest) -> String + Send + Sync>;

struct Shared {
    api_key: String,
    responder: Mutex<Responder>,
    failures: Mutex<VecDeque<ChatFailure>>,
    requests: Mutex<Vec<ChatRequest>>,
}

/// Locks a mutex even if a handler panicked while holding it: the data stays usable for a fake.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running fake; the server stops when this is dropped.
pub struct FakeChat {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Drop for FakeChat {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeChat {
    /// Binds a free loopback port and serves until dropped; requests must carry
    /// `Authorization: Bearer <api_key>`.
    pub async fn start(api_key: &str) -> anyhow::Result<FakeChat> {
        let responder: Responder = Arc::new(|_: &ChatRequest| DEFAULT_REPLY.to_owned());
        let shared = Arc::new(Shared {
            api_key: api_key.to_owned(),
            responder: Mutex::new(responder),
            failures: Mutex::new(VecDeque::new()),
            requests: Mutex::new(Vec::new()),
        });
        let router = Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::warn!(%error, "fake chat server stopped");
            }
        });
        Ok(FakeChat {
            addr,
            shared,
            server,
        })
    }

    /// Base URL including the API version; clients append `/chat/completions`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn api_key(&self) -> &str {
        &self.shared.api_key
    }

    /// Answers each valid request with the text `f` returns for it.
    pub fn reply_with(&self, f: impl Fn(&ChatRequest) -> String + Send + Sync + 'static) {
        *lock(&self.shared.responder) = Arc::new(f);
    }

    /// Queues failures (after any still pending), one per valid request, before normal
    /// answers resume.
    pub fn fail_next(&self, failures: Vec<ChatFailure>) {
        lock(&self.shared.failures).extend(failures);
    }

    /// Every request received, oldest first, failed ones included.
    pub fn requests(&self) -> Vec<ChatRequest> {
        lock(&self.shared.requests).clone()
    }

    pub fn request_count(&self) -> usize {
        lock(&self.shared.requests).len()
    }
}

/// The text of a message's `content`: a string, or the `text` of its parts.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn api_error(
    status: StatusCode,
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Response {
    let error = json!({"error": {"message": message, "type": kind, "param": param, "code": code}});
    (status, Json(error)).into_response()
}

/// Why a request is a 400.
struct Rejection {
    message: String,
    param: String,
    code: Option<&'static str>,
}

impl Rejection {
    fn new(param: impl Into<String>, code: Option<&'static str>, message: String) -> Self {
        Self {
            message,
            param: param.into(),
            code,
        }
    }

    fn missing(param: impl Into<String>) -> Self {
        let param = param.into();
        let message = format!("Missing required parameter: '{param}'.");
        Self::new(param, Some("missing_required_parameter"), message)
    }

    fn into_response(self) -> Response {
        api_error(
            StatusCode::BAD_REQUEST,
            &self.message,
            "invalid_request_error",
            Some(&self.param),
            self.code,
        )
    }
}

fn validate(body: &Value) -> Result<(), Rejection> {
    match &body["model"] {
        Value::Null => return Err(Rejection::missing("model")),
        Value::String(model) if model.is_empty() => {
            let message = "you must provide a model parameter".to_owned();
            return Err(Rejection::new("model", None, message));
        }
        Value::String(_) => {}
        other => {
            let message = format!("Invalid type for 'model': expected a string, but got {other}.");
            return Err(Rejection::new("model", Some("invalid_type"), message));
        }
    }
    let messages = match &body["messages"] {
        Value::Null => return Err(Rejection::missing("messages")),
        Value::Array(messages) => messages,
        other => {
            let message =
                format!("Invalid type for 'messages': expected an array, but got {other}.");
            return Err(Rejection::new("messages", Some("invalid_type"), message));
        }
    };
    if messages.is_empty() {
        let message = "Invalid 'messages': empty array. Expected an array with minimum length 1, \
                       but got an empty array instead."
            .to_owned();
        return Err(Rejection::new("messages", Some("empty_array"), message));
    }
    for (i, message) in messages.iter().enumerate() {
        let param = format!("messages[{i}].role");
        match message["role"].as_str() {
            None => return Err(Rejection::missing(param)),
            Some(role) if !ROLES.contains(&role) => {
                let text = format!("Invalid value: '{role}'. Supported values are: {ROLES:?}.");
                return Err(Rejection::new(param, Some("invalid_value"), text));
            }
            Some(_) => {}
        }
    }
    match &body["temperature"] {
        Value::Null => {}
        Value::Number(n) => {
            let t = n.as_f64().unwrap_or(f64::NAN);
            if t < 0.0 {
                let message = format!(
                    "Invalid 'temperature': decimal below minimum value. Expected a value >= 0, \
                     but got {n} instead."
                );
                return Err(Rejection::new(
                    "temperature",
                    Some("decimal_below_min_value"),
                    message,
                ));
            }
            if t > 2.0 {
                let message = format!(
                    "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, \
                     but got {n} instead."
                );
                return Err(Rejection::new(
                    "temperature",
                    Some("decimal_above_max_value"),
                    message,
                ));
            }
        }
        other => {
            let message =
                format!("Invalid type for 'temperature': expected a decimal, but got {other}.");
            return Err(Rejection::new("temperature", Some("invalid_type"), message));
        }
    }
    match &body["response_format"] {
        Value::Null => {}
        format => {
            let kind = format["type"].as_str().unwrap_or_default();
            if !RESPONSE_FORMATS.contains(&kind) {
                let message =
                    format!("Invalid value: '{kind}'. Supported values are: {RESPONSE_FORMATS:?}.");
                return Err(Rejection::new(
                    "response_format.type",
                    Some("invalid_value"),
                    message,
                ));
            }
            let mentions_json = messages.iter().any(|m| {
                content_text(&m["content"])
                    .to_ascii_lowercase()
                    .contains("json")
            });
            if kind == "json_object" && !mentions_json {
                let message = "'messages' must contain the word 'json' in some form, to use \
                               'response_format' of type 'json_object'."
                    .to_owned();
                return Err(Rejection::new("messages", None, message));
            }
        }
    }
    Ok(())
}

/// A rough count: about four characters a token, as the service's own rule of thumb.
fn tokens(text: &str) -> u64 {
    text.chars().count().div_ceil(4) as u64
}

fn completion(request: &ChatRequest, content: String) -> Response {
    let prompt_tokens: u64 = request
        .messages
        .iter()
        .map(|(role, content)| 3 + tokens(role) + tokens(content))
        .sum::<u64>()
        + 3;
    let completion_tokens = tokens(&content);
    Json(json!({
        "id": format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
        "object": "chat.completion",
        "created": chrono::Utc::now().timestamp(),
        "model": request.model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": null},
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }))
    .into_response()
}

async fn completions(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body: Option<Value> = serde_json::from_slice(&raw).ok();
    let request = ChatRequest::from_body(body.clone().unwrap_or(Value::Null));
    lock(&shared.requests).push(request.clone());

    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match bearer {
        None => {
            return api_error(
                StatusCode::UNAUTHORIZED,
                "You didn't provide an API key. You need to provide your API key in an \
                 Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                "invalid_request_error",
                None,
                None,
            )
        }
        Some(key) if key != shared.api_key => {
            return api_error(
                StatusCode::UNAUTHORIZED,
                "Incorrect API key provided.",
                "invalid_request_error",
                None,
                Some("invalid_api_key"),
            )
        }
        Some(_) => {}
    }
    let Some(body) = body else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "We could not parse the JSON body of your request. The OpenAI API expects a JSON \
             payload.",
            "invalid_request_error",
            None,
            None,
        );
    };
    if let Err(rejection) = validate(&body) {
        return rejection.into_response();
    }

    let failure = lock(&shared.failures).pop_front();
    match failure {
        Some(ChatFailure::RateLimited { retry_after_secs }) => {
            let message = format!(
                "Rate limit reached for {} on requests per min (RPM). Please try again in \
                 {retry_after_secs}s.",
                request.model
            );
            let mut response = api_error(
                StatusCode::TOO_MANY_REQUESTS,
                &message,
                "requests",
                Some("requests"),
                Some("rate_limit_exceeded"),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            return response;
        }
        Some(ChatFailure::ServerError) => {
            return api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
                None,
            )
        }
        Some(ChatFailure::Malformed) => return completion(&request, MALFORMED_REPLY.to_owned()),
        Some(ChatFailure::Timeout { secs }) => tokio::time::sleep(Duration::from_secs(secs)).await,
        None => {}
    }
    let responder = lock(&shared.responder).clone();
    let content = responder(&request);
    completion(&request, content)
}

#[cfg(test)]
mod tests {
    //! The fake over real HTTP, through a minimal HTTP/1.1 client (the crate depends on no
    //! HTTP client).

    use super::*;
    use crate::raw_http;
    use std::time::Instant;

    const KEY: &str = "sk-fake-chat-key";

    struct Reply {
        status: u16,
        raw: raw_http::Reply,
        body: Value,
    }

    impl Reply {
        fn header(&self, name: &str) -> Option<&str> {
            self.raw.header(name)
        }

        fn content(&self) -> &str {
            self.body["choices"][0]["message"]["content"]
                .as_str()
                .expect("an assistant message")
        }
    }

    async fn post_raw(fake: &FakeChat, key: &str, body: &[u8]) -> Reply {
        let url = format!("{}/chat/completions", fake.base_url());
        let auth = format!("Bearer {key}");
        let headers = [
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ];
        let raw = raw_http::send("POST", &url, &headers, body).await;
        Reply {
            status: raw.status,
            body: raw.json(),
            raw,
        }
    }

    async fn post(fake: &FakeChat, key: &str, body: &Value) -> Reply {
        post_raw(fake, key, body.to_string().as_bytes()).await
    }

    fn classify(text: &str) -> Value {
        json!({
            "model": "gpt-4o-mini",
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": "Classify the call. Answer in JSON."},
                {"role": "user", "content": text},
            ],
        })
    }

    #[tokio::test]
    async fn answers_with_the_responders_text() {
        let fake = FakeChat::start(KEY).await.unwrap();
        assert!(fake.base_url().starts_with("http://127.0.0.1:"));
        assert!(fake.base_url().ends_with("/v1"));
        assert_eq!(fake.api_key(), KEY);

        let reply = post(&fake, KEY, &classify("Hi")).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.content(), DEFAULT_REPLY);

        fake.reply_with(|request| {
            let (_, last) = request.messages.last().cloned().unwrap_or_default();
            json!({"category": "sales", "confidence": 0.9, "reason": last}).to_string()
        });
        let reply = post(&fake, KEY, &classify("Pricing for 40 seats")).await;
        assert_eq!(reply.status, 200);
        let body = &reply.body;
        assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
        assert_eq!(body["object"], "chat.completion");
        assert!(body["created"].as_i64().unwrap() > 1_600_000_000);
        assert_eq!(body["model"], "gpt-4o-mini");
        assert_eq!(body["choices"][0]["index"], 0);
        assert_eq!(body["choices"][0]["message"]["role"], "assistant");
        assert_eq!(body["choices"][0]["finish_reason"], "stop");
        let answer: Value = serde_json::from_str(reply.content()).unwrap();
        assert_eq!(answer["reason"], "Pricing for 40 seats");
        let usage = &body["usage"];
        assert!(usage["prompt_tokens"].as_u64().unwrap() > 0);
        assert_eq!(
            usage["total_tokens"].as_u64(),
            Some(
                usage["prompt_tokens"].as_u64().unwrap()
                    + usage["completion_tokens"].as_u64().unwrap()
            )
        );
    }

    #[tokio::test]
    async fn refuses_a_wrong_key() {
        let fake = FakeChat::start(KEY).await.unwrap();
        let reply = post(&fake, "sk-wrong", &classify("Hi")).await;
        assert_eq!(reply.status, 401);
        assert_eq!(reply.body["error"]["type"], "invalid_request_error");
        assert_eq!(reply.body["error"]["code"], "invalid_api_key");
        assert!(reply.body["error"]["message"].is_string());
        assert_eq!(fake.request_count(), 1);
    }

    #[tokio::test]
    async fn rejects_requests_the_service_rejects() {
        let fake = FakeChat::start(KEY).await.unwrap();
        let no_model = json!({"messages": [{"role": "user", "content": "Hi"}]});
        let no_messages = json!({"model": "gpt-4o-mini"});
        let empty_messages = json!({"model": "gpt-4o-mini", "messages": []});
        let too_hot =
            json!({"model": "m", "temperature": 3, "messages": [{"role": "user", "content": "x"}]});
        let no_json_word = json!({"model": "m", "response_format": {"type": "json_object"},
                                  "messages": [{"role": "user", "content": "Classify"}]});
        for (body, param) in [
            (no_model, "model"),
            (no_messages, "messages"),
            (empty_messages, "messages"),
            (too_hot, "temperature"),
            (no_json_word, "messages"),
        ] {
            let reply = post(&fake, KEY, &body).await;
            assert_eq!(reply.status, 400, "{body}");
            assert_eq!(reply.body["error"]["param"], param, "{body}");
            assert_eq!(reply.body["error"]["type"], "invalid_request_error");
        }
        assert_eq!(post_raw(&fake, KEY, b"{not json").await.status, 400);
        assert_eq!(fake.request_count(), 6);
    }

    #[tokio::test]
    async fn rate_limits_then_answers() {
        let fake = FakeChat::start(KEY).await.unwrap();
        fake.fail_next(vec![ChatFailure::RateLimited {
            retry_after_secs: 7,
        }]);
        let reply = post(&fake, KEY, &classify("Hi")).await;
        assert_eq!(reply.status, 429);
        assert_eq!(reply.header("retry-after"), Some("7"));
        assert_eq!(reply.body["error"]["code"], "rate_limit_exceeded");
        assert!(reply.body["error"]["message"].is_string());
        assert!(reply.body["error"]["type"].is_string());

        let reply = post(&fake, KEY, &classify("Hi")).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.content(), DEFAULT_REPLY);
        assert_eq!(fake.request_count(), 2);
    }

    #[tokio::test]
    async fn scripted_failures_come_in_order() {
        let fake = FakeChat::start(KEY).await.unwrap();
        fake.fail_next(vec![
            ChatFailure::ServerError,
            ChatFailure::Malformed,
            ChatFailure::Timeout { secs: 1 },
        ]);
        let reply = post(&fake, KEY, &classify("Hi")).await;
        assert_eq!(reply.status, 500);
        assert_eq!(reply.body["error"]["type"], "server_error");

        let reply = post(&fake, KEY, &classify("Hi")).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body["object"], "chat.completion");
        assert_eq!(reply.content(), MALFORMED_REPLY);
        assert!(serde_json::from_str::<Value>(reply.content()).is_err());

        let started = Instant::now();
        let reply = post(&fake, KEY, &classify("Hi")).await;
        assert!(started.elapsed() >= Duration::from_secs(1));
        assert_eq!(reply.status, 200);
        assert_eq!(reply.content(), DEFAULT_REPLY);
    }

    #[tokio::test]
    async fn records_every_request() {
        let fake = FakeChat::start(KEY).await.unwrap();
        fake.fail_next(vec![ChatFailure::ServerError]);
        post(&fake, KEY, &classify("first")).await;
        post(&fake, "sk-wrong", &classify("second")).await;
        let parts = json!({"model": "gpt-4o", "messages": [
            {"role": "user", "content": [{"type": "text", "text": "third"}]},
        ]});
        post(&fake, KEY, &parts).await;

        assert_eq!(fake.request_count(), 3);
        let requests = fake.requests();
        assert_eq!(requests[0].model, "gpt-4o-mini");
        assert_eq!(
            requests[0].messages,
            [
                (
                    "system".to_owned(),
                    "Classify the call. Answer in JSON.".to_owned()
                ),
                ("user".to_owned(), "first".to_owned()),
            ]
        );
        assert_eq!(requests[0].body["response_format"]["type"], "json_object");
        assert_eq!(requests[0].body["temperature"], 0);
        assert_eq!(requests[1].messages[1].1, "second");
        assert_eq!(requests[2].model, "gpt-4o");
        assert_eq!(
            requests[2].messages,
            [("user".to_owned(), "third".to_owned())]
        );
    }
}
