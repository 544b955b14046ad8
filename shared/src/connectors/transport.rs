//! Sending one logical request to a provider: paced by the credential's limiter, retried on
//! 429 (after `Retry-After`), on 5xx, timeouts and connection failures (exponential backoff
//! with jitter), up to a bounded number of attempts. Other answers go back to the caller.

use super::rate_limit::{CredentialLimiter, RequestClass, ServerQuota};
use crate::retry::{retry_after, Backoff};
use bytes::Bytes;
use http::StatusCode;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (`backoff.max_attempts`) and the waits between them.
    pub backoff: Backoff,
    /// A 429 asking to wait longer than this fails at once rather than holding the worker.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            backoff: Backoff {
                first_delay: Duration::from_millis(500),
                max_delay: Duration::from_secs(20),
                max_attempts: 5,
            },
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The policy with its first back-off changed (tests against fakes shorten it).
    pub fn with_first_delay(mut self, first: Duration) -> Self {
        self.backoff.first_delay = first;
        self
    }
}

/// A final answer: 2xx, or a 4xx other than 429 for the caller to interpret.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

/// Why a request got no final answer, after the retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// Still rate limited, or told to wait longer than the policy allows.
    RateLimited {
        attempts: u32,
        retry_after: Option<Duration>,
    },
    /// 5xx answers, timeouts or connection failures.
    Unavailable { attempts: u32, reason: String },
}

enum Failure {
    RateLimited(Option<Duration>),
    Transient(String),
}

/// Sends the request `build` makes, pacing it with `limiter` as a request of `class`.
pub async fn send(
    limiter: &CredentialLimiter,
    class: RequestClass,
    policy: &RetryPolicy,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<Answer, TransportError> {
    let attempts = policy.backoff.max_attempts.max(1);
    let mut last = Failure::Transient("no attempt was made".into());
    for attempt in 1..=attempts {
        let permit = limiter.acquire(class).await;
        let response = match build().send().await {
            Ok(response) => response,
            Err(e) => {
                last = Failure::Transient(describe(&e));
                pause_before_retry(policy, attempt, attempts).await;
                continue;
            }
        };
        let status = response.status();
        limiter.observe(permit, ServerQuota::from_headers(response.headers()));
        if status == StatusCode::TOO_MANY_REQUESTS {
            let wait = retry_after(response.headers())
                .unwrap_or_else(|| policy.backoff.delay(attempt - 1));
            if wait > policy.max_retry_after {
                return Err(TransportError::RateLimited {
                    attempts: attempt,
                    retry_after: Some(wait),
                });
            }
            tracing::debug!(?wait, attempt, "rate limited (429); waiting");
            // The next `acquire` waits out the pause.
            limiter.exhaust_for(class, wait);
            last = Failure::RateLimited(Some(wait));
            continue;
        }
        if status.is_server_error() {
            tracing::debug!(%status, attempt, "the provider answered a server error");
            last = Failure::Transient(format!("status {}", status.as_u16()));
            pause_before_retry(policy, attempt, attempts).await;
            continue;
        }
        let headers = response.headers().clone();
        match response.bytes().await {
            Ok(body) => {
                return Ok(Answer {
                    status,
                    headers,
                    body,
                })
            }
            Err(e) => {
                last = Failure::Transient(describe(&e));
                pause_before_retry(policy, attempt, attempts).await;
            }
        }
    }
    Err(match last {
        Failure::RateLimited(retry_after) => TransportError::RateLimited {
            attempts,
            retry_after,
        },
        Failure::Transient(reason) => TransportError::Unavailable { attempts, reason },
    })
}

async fn pause_before_retry(policy: &RetryPolicy, attempt: u32, attempts: u32) {
    if attempt < attempts {
        tokio::time::sleep(policy.backoff.delay(attempt - 1)).await;
    }
}

/// A transport failure in words, without reqwest's URL (which can carry a cursor or a token).
pub fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "the request timed out".into()
    } else if error.is_connect() {
        "could not connect".into()
    } else if error.is_body() || error.is_decode() {
        "the response body was cut off".into()
    } else {
        "the request failed before an answer arrived".into()
    }
}

/// What a provider's error body says, in the fields providers use (`message`,
/// `error_description`, `reason`, `error`), shortened; the raw text when it is not JSON.
pub fn provider_message(body: &[u8]) -> String {
    const LIMIT: usize = 300;
    let parsed: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let field = |name: &str| {
        parsed
            .get(name)
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_owned)
    };
    let text = field("message")
        .or_else(|| field("error_description"))
        .or_else(|| field("reason"))
        .or_else(|| field("error"))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    if text.is_empty() {
        "no details".to_owned()
    } else {
        crate::retry::cut(&text, LIMIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_messages_prefer_the_explanation_and_are_bounded() {
        assert_eq!(
            provider_message(br#"{"error":"invalid_request","error_description":"bad cursor"}"#),
            "bad cursor"
        );
        assert_eq!(
            provider_message(br#"{"error":"invalid_grant"}"#),
            "invalid_grant"
        );
        assert_eq!(provider_message(b"plain text"), "plain text");
        assert_eq!(provider_message(b""), "no details");
        assert!(provider_message("é".repeat(400).as_bytes()).chars().count() <= 301);
    }
}
