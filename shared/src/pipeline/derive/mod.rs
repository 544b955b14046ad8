//! Deriving a CRM's raw material from a member's recordings, in the import path: the people
//! met (`people`: contacts and their companies), what was promised (`tasks`), and the
//! recordings of one call across sources (`meetings`).
//!
//! Each recording's part is applied when it is imported or updated (`apply`, given the
//! recording as it was before, so what left it is taken back out), and `rebuild` recomputes
//! it all from the recordings. Applying is idempotent, so a redelivered import changes
//! nothing, and the order of imports does not change the result; what the member set
//! themselves (a task's completion, their settings) is kept apart and survives both.

pub mod analysis;
mod documents;
mod links;
pub mod meetings;
mod people;
pub mod tasks;

pub use documents::{read, read_all, update};
pub use people::{company_id, company_meetings, contact_meetings};

use crate::domain::{Recording, Tenant};
use crate::ports::RecordingQuery;
use crate::services::Services;
use anyhow::Result;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// The kinds of derived documents.
pub mod kinds {
    pub const CONTACT: &str = "contact";
    /// A contact's meetings: `{contact id}/{recording id}`.
    pub const CONTACT_MEETING: &str = "contact_meeting";
    pub const COMPANY: &str = "company";
    /// A company's meetings: `{company id}/{recording id}`.
    pub const COMPANY_MEETING: &str = "company_meeting";
    pub const TASK: &str = "task";
    /// What the member set on a task (`TaskState`).
    pub const TASK_STATE: &str = "task_state";
    /// Recordings by the day they started, to find the other recordings of a call.
    pub const SLOT: &str = "slot";
    pub const MEETING: &str = "meeting";
    /// The member's settings (`MemberSettings`), under `SETTINGS_ID`.
    pub const SETTINGS: &str = "settings";
    pub const SETTINGS_ID: &str = "member";
}

/// A stable id: `prefix` and 24 hex digits of a digest of `key`.
pub(crate) fn derived_id(prefix: &str, key: &str) -> String {
    format!(
        "{prefix}{}",
        crate::crypto::hex(&Sha256::digest(key.as_bytes())[..12])
    )
}

/// When a recording took place, as derived data dates it.
pub(crate) fn meeting_time(recording: &Recording) -> DateTime<Utc> {
    recording.started_at.unwrap_or(recording.created_at)
}

/// Applies `recording` (as now stored) to its owner's derived data; `before` is the same
/// recording as it was before this import, when it was stored before.
pub async fn apply(
    services: &Services,
    recording: &Recording,
    before: Option<&Recording>,
) -> Result<()> {
    people::apply(services, recording, before).await?;
    tasks::apply(services, recording, before).await?;
    meetings::apply(services, recording, before).await
}

/// Recomputes `owner`'s derived data from their recordings, oldest import first (the order
/// incremental derivation met them in). What they set themselves is kept; tasks whose action
/// item is gone stay, closed as `removed`, as incremental derivation leaves them.
pub async fn rebuild(services: &Services, owner: &Tenant) -> Result<usize> {
    let mut recordings = Vec::new();
    let mut cursor = None;
    loop {
        let page = services
            .recordings
            .list(
                owner,
                &RecordingQuery {
                    limit: 100,
                    cursor,
                    ..RecordingQuery::default()
                },
            )
            .await?;
        recordings.extend(page.items.into_iter().filter(|r| r.user_id == owner.user));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    recordings.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    for kind in [
        kinds::CONTACT,
        kinds::CONTACT_MEETING,
        kinds::COMPANY,
        kinds::COMPANY_MEETING,
        kinds::SLOT,
        kinds::MEETING,
    ] {
        services.derived.clear(owner, kind).await?;
    }
    let stale = tasks::stale_tasks(services, owner, &recordings).await?;
    for recording in &recordings {
        people::apply(services, recording, None).await?;
        tasks::apply(services, recording, None).await?;
        meetings::apply(services, recording, None).await?;
    }
    for task in stale {
        tasks::close_removed(services, owner, &task.id).await?;
    }
    Ok(recordings.len())
}
