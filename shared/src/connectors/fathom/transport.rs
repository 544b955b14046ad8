//! Sending one logical request: paced by the credential's limiter, retried on 429 (after
//! `Retry-After`), on 5xx, timeouts and connection failures (exponential backoff with
//! jitter), up to a bounded number of attempts. Other answers go back to the caller.

use super::error::FathomError;
use super::rate_limit::{retry_after, CredentialLimiter, RequestClass, ServerQuota};
use bytes::Bytes;
use http::StatusCode;
use rand::Rng;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles each time, up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A 429 asking to wait longer than this fails at once rather than holding the worker.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// "Equal jitter": half the exponential delay, plus a random part of the other half, so
    /// workers that failed together do not retry together.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(16);
        let delay = self
            .base_delay
            .saturating_mul(1u32 << exponent)
            .min(self.max_delay);
        let half = delay / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(rand::thread_rng().gen_range(0..=jitter_ms))
    }
}

/// A final answer: 2xx, or a 4xx other than 429 for the caller to interpret.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

enum Failure {
    RateLimited(Option<Duration>),
    Transient(String),
}

pub(crate) async fn send(
    limiter: &CredentialLimiter,
    class: RequestClass,
    policy: &RetryPolicy,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<Answer, FathomError> {
    let attempts = policy.max_attempts.max(1);
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
        let wait = retry_after(response.headers());
        if status == StatusCode::TOO_MANY_REQUESTS {
            let wait = wait.unwrap_or_else(|| policy.backoff(attempt));
            if wait > policy.max_retry_after {
                return Err(FathomError::RateLimited {
                    attempts: attempt,
                    retry_after: Some(wait),
                });
            }
            tracing::debug!(?wait, attempt, "Fathom answered 429; waiting");
            // The next `acquire` waits out the pause.
            limiter.exhaust_for(class, wait);
            last = Failure::RateLimited(Some(wait));
            continue;
        }
        if status.is_server_error() {
            tracing::debug!(%status, attempt, "Fathom answered a server error");
            last = Failure::Transient(format!("status {}", status.as_u16()));
            pause_before_retry(policy, attempt, attempts).await;
            continue;
        }
        match response.bytes().await {
            Ok(body) => return Ok(Answer { status, body }),
            Err(e) => {
                last = Failure::Transient(describe(&e));
                pause_before_retry(policy, attempt, attempts).await;
            }
        }
    }
    Err(match last {
        Failure::RateLimited(retry_after) => FathomError::RateLimited {
            attempts,
            retry_after,
        },
        Failure::Transient(reason) => FathomError::Unavailable { attempts, reason },
    })
}

async fn pause_before_retry(policy: &RetryPolicy, attempt: u32, attempts: u32) {
    if attempt < attempts {
        tokio::time::sleep(policy.backoff(attempt)).await;
    }
}

/// A transport failure in words, without reqwest's URL (which can carry a cursor).
fn describe(error: &reqwest::Error) -> String {
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

/// The message of a non-2xx answer: the provider's own words, shortened.
pub(crate) fn provider_message(body: &[u8]) -> String {
    const LIMIT: usize = 300;
    let parsed = super::wire::ErrorBody::parse(body);
    let code = parsed.code().map(str::to_owned);
    let text = parsed
        .message
        .or(parsed.error_description)
        .or(code)
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    let mut text = if text.is_empty() {
        "no details".to_owned()
    } else {
        text
    };
    if text.len() > LIMIT {
        let mut cut = LIMIT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_within_bounds() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            ..RetryPolicy::default()
        };
        for _ in 0..50 {
            let first = policy.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = policy.backoff(3);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let capped = policy.backoff(30);
            assert!(capped >= Duration::from_millis(500) && capped <= Duration::from_millis(1000));
        }
    }

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
