//! The monthly import quota as uploads meet it: checked when an upload starts, enforced again,
//! atomically, when its recording is stored.

use crate::domain::WorkspaceId;
use crate::pipeline::persist::usage;
use crate::services::Services;
use anyhow::Result;
use chrono::{DateTime, Utc};

/// "the monthly import quota (10) is used up; it resets on 2026-02-01 (UTC)".
pub fn quota_message(limit: u64, resets_at: DateTime<Utc>) -> String {
    format!(
        "the monthly import quota ({limit}) is used up; it resets on {} (UTC)",
        resets_at.format("%Y-%m-%d")
    )
}

/// When the user's monthly import quota is used up, the instant it resets; `None` while
/// imports remain or when there is no quota. A check before work starts: the quota is
/// enforced again, atomically, when a recording is stored.
pub async fn quota_exhausted(
    services: &Services,
    workspace: &WorkspaceId,
) -> Result<Option<DateTime<Utc>>> {
    if services.config.imports_per_month == 0 {
        return Ok(None);
    }
    let usage = usage(services, workspace).await?;
    Ok(usage
        .limit
        .filter(|limit| usage.imports_this_month >= *limit)
        .map(|_| usage.resets_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_message_says_when_it_resets() {
        let resets = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 2, 1, 0, 0, 0).unwrap();
        assert_eq!(
            quota_message(10, resets),
            "the monthly import quota (10) is used up; it resets on 2026-02-01 (UTC)"
        );
    }
}
