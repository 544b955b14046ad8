//! The one retry vocabulary every client shares: exponential back-off with jitter, the
//! `Retry-After` a server asks for, and a service's message cut to a size fit to show.

use http::HeaderMap;
use rand::RngExt;
use std::time::Duration;

/// How long to wait between attempts, and how many to make in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
            max_attempts: 6,
        }
    }
}

impl Backoff {
    /// The wait after failed attempt `attempt` (0-based): doubling from `first_delay` up to
    /// `max_delay`, of which a random part of the second half is dropped ("equal jitter"),
    /// so callers that failed together do not come back together.
    pub fn delay(&self, attempt: u32) -> Duration {
        let full = self
            .first_delay
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_delay);
        let half = full / 2;
        half + half.mul_f64(rand::rng().random_range(0.0..=1.0))
    }
}

/// How long the server asks to wait: `retry-after-ms` (a finer hint some APIs send) or
/// `Retry-After` in seconds, whole or fractional; `None` when absent or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|raw| raw.trim().parse::<f64>().ok())
            .filter(|n| n.is_finite() && *n >= 0.0)
    };
    number("retry-after-ms")
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .or_else(|| number("retry-after").map(Duration::from_secs_f64))
}

/// `text` cut to at most `limit` bytes at a character boundary, with an ellipsis when cut.
pub fn cut(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_and_stay_under_the_cap() {
        let backoff = Backoff {
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
            max_attempts: 9,
        };
        for attempt in 0..8 {
            let full = Duration::from_millis(100 * (1 << attempt)).min(Duration::from_millis(500));
            let delay = backoff.delay(attempt);
            assert!(
                delay >= full / 2 && delay <= full,
                "attempt {attempt}: {delay:?} not within {full:?}"
            );
        }
    }

    #[test]
    fn retry_after_prefers_milliseconds_and_ignores_dates() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert("retry-after-ms", "250".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(250)));
        let mut fractional = HeaderMap::new();
        fractional.insert("retry-after", "0.250".parse().unwrap());
        assert_eq!(retry_after(&fractional), Some(Duration::from_millis(250)));
        let mut dated = HeaderMap::new();
        dated.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&dated), None);
        let mut negative = HeaderMap::new();
        negative.insert("retry-after", "-1".parse().unwrap());
        assert_eq!(retry_after(&negative), None);
    }

    #[test]
    fn cut_keeps_characters_whole() {
        assert_eq!(cut("short", 10), "short");
        let cut_text = cut(&"é".repeat(400), 300);
        assert!(cut_text.ends_with('…') && cut_text.len() <= 303);
    }
}
