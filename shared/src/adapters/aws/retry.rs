//! Retrying the part of a batch call that the service left undone (SQS failed batch entries,
//! DynamoDB unprocessed items, transaction conflicts), with exponential back-off and jitter.

use anyhow::{bail, Result};
use rand::Rng;
use std::future::Future;
use std::time::Duration;

/// How long to wait between rounds, and how many rounds to try in all.
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
    /// `max_delay`, of which a random half is dropped so that many callers spread out.
    pub fn delay(&self, attempt: u32) -> Duration {
        let full = self
            .first_delay
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_delay);
        let half = full / 2;
        half + half.mul_f64(rand::thread_rng().gen_range(0.0..=1.0))
    }
}

/// Passes `items` to `attempt`, which returns the items it could not process, and retries
/// those after a back-off until none are left. Fails when items are still left after
/// `backoff.max_attempts` attempts, or as soon as `attempt` itself fails.
pub async fn until_processed<T, F, Fut>(
    items: Vec<T>,
    backoff: Backoff,
    mut attempt: F,
) -> Result<()>
where
    F: FnMut(Vec<T>) -> Fut,
    Fut: Future<Output = Result<Vec<T>>>,
{
    let mut pending = items;
    for round in 0..backoff.max_attempts {
        if pending.is_empty() {
            return Ok(());
        }
        if round > 0 {
            tokio::time::sleep(backoff.delay(round - 1)).await;
        }
        pending = attempt(pending).await?;
    }
    if pending.is_empty() {
        return Ok(());
    }
    bail!(
        "{} item(s) were still unprocessed after {} attempts",
        pending.len(),
        backoff.max_attempts
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn quick() -> Backoff {
        Backoff {
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            max_attempts: 4,
        }
    }

    #[tokio::test]
    async fn retries_only_what_was_left_until_done() {
        let seen = Mutex::new(Vec::new());
        // Each round processes the first pending item and leaves the rest.
        until_processed(vec![1, 2, 3], quick(), |pending: Vec<i32>| {
            seen.lock().unwrap().push(pending.clone());
            async move { Ok(pending[1..].to_vec()) }
        })
        .await
        .unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            vec![vec![1, 2, 3], vec![2, 3], vec![3]]
        );
    }

    #[tokio::test]
    async fn gives_up_after_the_last_attempt() {
        let mut calls = 0;
        let err = until_processed(vec!["stuck"], quick(), |pending| {
            calls += 1;
            async move { Ok(pending) }
        })
        .await
        .unwrap_err();
        assert_eq!(calls, 4);
        assert!(
            err.to_string()
                .contains("1 item(s) were still unprocessed after 4 attempts"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_failed_call_stops_at_once() {
        let mut calls = 0;
        let result = until_processed(vec![1], quick(), |_| {
            calls += 1;
            async { bail!("service unavailable") }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls, 1);
    }

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
}
