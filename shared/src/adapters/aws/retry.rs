//! Retrying the part of a batch call that the service left undone (SQS failed batch entries,
//! DynamoDB unprocessed items, transaction conflicts), with exponential back-off and jitter.

use anyhow::{bail, Result};
use std::future::Future;

pub use crate::retry::Backoff;

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
    use std::time::Duration;

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
}
