//! One meeting, several sources: recordings of the same call are linked into a meeting. They
//! are found through a time index (the recordings that started each day), so linking reads
//! two days of one member's recordings, never all of them.

use super::{derived_id, kinds, read, update};
use crate::domain::{
    LinkedRecording, Meeting, MemberSettings, Recording, RecordingId, SlotEntry, Tenant,
};
use crate::services::Services;
use anyhow::Result;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// The recordings that started on one day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    pub entries: Vec<SlotEntry>,
}

fn slot_id(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// The member's settings (the defaults until they change one).
pub async fn settings(services: &Services, owner: &Tenant) -> Result<MemberSettings> {
    Ok(read(services, owner, kinds::SETTINGS, kinds::SETTINGS_ID)
        .await?
        .unwrap_or_default())
}

/// When the recording started and ended, when both are known.
fn span(recording: &Recording) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let start = recording.started_at?;
    let end = recording.ended_at.or_else(|| {
        recording
            .duration_seconds
            .map(|s| start + Duration::milliseconds((s * 1000.0) as i64))
    })?;
    (end > start).then_some((start, end))
}

fn entry(recording: &Recording) -> Option<SlotEntry> {
    let (started_at, ended_at) = span(recording)?;
    let mut emails: Vec<String> = recording
        .participants
        .iter()
        .filter_map(|p| p.email.as_deref().and_then(crate::domain::normalize_email))
        .collect();
    emails.sort();
    emails.dedup();
    Some(SlotEntry {
        recording_id: recording.id.clone(),
        source: recording.source,
        title: recording.title.clone(),
        started_at,
        ended_at,
        emails,
        meeting_url: recording.url.clone(),
        created_at: recording.created_at,
        meeting_id: None,
    })
}

fn linked(entry: &SlotEntry) -> LinkedRecording {
    LinkedRecording {
        recording_id: entry.recording_id.clone(),
        source: entry.source,
        title: entry.title.clone(),
        started_at: entry.started_at,
    }
}

/// Sets `entry` (replacing the recording's earlier one) in the slot of its day.
async fn put_entry(services: &Services, owner: &Tenant, entry: &SlotEntry) -> Result<()> {
    let day = slot_id(entry.started_at.date_naive());
    update(services, owner, kinds::SLOT, &day, |slot: Option<Slot>| {
        let mut slot = slot.unwrap_or_default();
        slot.entries
            .retain(|e| e.recording_id != entry.recording_id);
        slot.entries.push(entry.clone());
        slot.entries
            .sort_by(|a, b| (a.started_at, &a.recording_id).cmp(&(b.started_at, &b.recording_id)));
        Some(slot)
    })
    .await?;
    Ok(())
}

async fn remove_entry(
    services: &Services,
    owner: &Tenant,
    day: NaiveDate,
    recording: &RecordingId,
) -> Result<()> {
    update(
        services,
        owner,
        kinds::SLOT,
        &slot_id(day),
        |slot: Option<Slot>| {
            slot.map(|mut s| {
                s.entries.retain(|e| &e.recording_id != recording);
                s
            })
        },
    )
    .await?;
    Ok(())
}

/// The recording's entry in the time index, as stored.
pub async fn stored_entry(
    services: &Services,
    owner: &Tenant,
    recording: &Recording,
) -> Result<Option<SlotEntry>> {
    let Some((start, _)) = span(recording) else {
        return Ok(None);
    };
    let slot: Option<Slot> =
        read(services, owner, kinds::SLOT, &slot_id(start.date_naive())).await?;
    Ok(slot.and_then(|s| {
        s.entries
            .into_iter()
            .find(|e| e.recording_id == recording.id)
    }))
}

/// The meeting `recording` is linked into, if any.
pub async fn meeting_of(
    services: &Services,
    owner: &Tenant,
    recording: &Recording,
) -> Result<Option<Meeting>> {
    let Some(meeting_id) = stored_entry(services, owner, recording)
        .await?
        .and_then(|e| e.meeting_id)
    else {
        return Ok(None);
    };
    read(services, owner, kinds::MEETING, &meeting_id).await
}

pub async fn apply(
    services: &Services,
    recording: &Recording,
    before: Option<&Recording>,
) -> Result<()> {
    let owner = recording.owner();
    let mut mine = entry(recording);
    if let Some((old_start, _)) = before.and_then(span) {
        let moved = mine
            .as_ref()
            .is_none_or(|e| e.started_at.date_naive() != old_start.date_naive());
        if moved {
            remove_entry(services, &owner, old_start.date_naive(), &recording.id).await?;
        }
    }
    let Some(mine) = mine.as_mut() else {
        return Ok(());
    };
    let link_uploads = settings(services, &owner).await?.link_uploads;
    let day = mine.started_at.date_naive();
    let mut candidates = Vec::new();
    for d in [day - Duration::days(1), day] {
        let slot: Option<Slot> = read(services, &owner, kinds::SLOT, &slot_id(d)).await?;
        candidates.extend(slot.unwrap_or_default().entries);
    }
    if let Some(stored) = candidates
        .iter()
        .find(|e| e.recording_id == mine.recording_id)
    {
        mine.meeting_id = stored.meeting_id.clone();
    }
    let mut matches: Vec<SlotEntry> = candidates
        .into_iter()
        .filter(|other| mine.same_call(other, link_uploads))
        .collect();
    matches.sort_by(|a, b| (a.created_at, &a.recording_id).cmp(&(b.created_at, &b.recording_id)));
    if matches.is_empty() {
        return put_entry(services, &owner, mine).await;
    }
    // The meeting the first-stored of them started, or is already in.
    let meeting_id = mine
        .meeting_id
        .clone()
        .or_else(|| matches.iter().find_map(|m| m.meeting_id.clone()))
        .unwrap_or_else(|| derived_id("mtg_", matches[0].recording_id.as_str()));
    mine.meeting_id = Some(meeting_id.clone());
    put_entry(services, &owner, mine).await?;
    for other in matches.iter_mut().filter(|m| m.meeting_id.is_none()) {
        other.meeting_id = Some(meeting_id.clone());
        put_entry(services, &owner, other).await?;
    }
    let members: Vec<LinkedRecording> = std::iter::once(&*mine)
        .chain(matches.iter())
        .map(linked)
        .collect();
    update(
        services,
        &owner,
        kinds::MEETING,
        &meeting_id,
        |stored: Option<Meeting>| {
            let mut meeting = stored.unwrap_or_else(|| Meeting {
                id: meeting_id.clone(),
                recordings: Vec::new(),
            });
            for member in &members {
                meeting
                    .recordings
                    .retain(|r| r.recording_id != member.recording_id);
                meeting.recordings.push(member.clone());
            }
            meeting.recordings.sort_by(|a, b| {
                (a.started_at, &a.recording_id).cmp(&(b.started_at, &b.recording_id))
            });
            Some(meeting)
        },
    )
    .await?;
    Ok(())
}
