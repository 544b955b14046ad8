//! Claims that survive a crash: "claim once, then act" must not lose the work when the
//! process dies between the two. A claim starts provisional (in progress, with a short
//! expiry); only once the work is kept (stored, queued) is it confirmed done for as long as
//! duplicates must be recognised. A provisional claim left by a dead worker expires, and the
//! next attempt takes it over; one that is still live tells a concurrent copy to come back.

use crate::ports::OnceStore;
use anyhow::Result;
use chrono::{DateTime, Duration as Span, Utc};

const IN_PROGRESS: &str = "in_progress";
const DONE: &str = "done";

/// What a claim attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimed {
    /// This caller holds it now: do the work, then `confirm` (or `release` on failure).
    Ours,
    /// The work was done before: nothing to do.
    Done,
    /// Another caller holds it right now: try again later.
    InProgress,
}

/// Claims `key` for `hold` (how long the work can take; past it, a crash is assumed).
pub async fn claim(
    once: &dyn OnceStore,
    key: &str,
    hold: Span,
    now: DateTime<Utc>,
) -> Result<Claimed> {
    // Two rounds: the item seen as taken may expire (or be released) before it is read.
    for _ in 0..2 {
        if once
            .insert_if_absent(key, &marker(IN_PROGRESS, now), now + hold, now)
            .await?
        {
            return Ok(Claimed::Ours);
        }
        match once.get(key, now).await? {
            Some(value) if value.starts_with(DONE) => return Ok(Claimed::Done),
            Some(_) => return Ok(Claimed::InProgress),
            None => continue,
        }
    }
    Ok(Claimed::InProgress)
}

/// Marks the work behind `key` done, remembered until `now + keep`.
pub async fn confirm(
    once: &dyn OnceStore,
    key: &str,
    keep: Span,
    now: DateTime<Utc>,
) -> Result<()> {
    once.put(key, &marker(DONE, now), now + keep).await
}

/// Gives a claim back after the work failed, so a retry can take it at once.
pub async fn release(once: &dyn OnceStore, key: &str) -> Result<()> {
    once.remove(key).await
}

fn marker(state: &str, at: DateTime<Utc>) -> String {
    format!("{state} {}", at.to_rfc3339())
}
