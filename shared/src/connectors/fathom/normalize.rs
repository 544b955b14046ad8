//! A Fathom meeting, as received, into the source-independent `MeetingContent`.

use super::error::FathomError;
use super::wire::{parse_timestamp, Meeting};
use crate::domain::{
    ActionItem, ExternalId, MeetingContent, Participant, Source, TranscriptSegment,
};

const UNTITLED: &str = "Untitled meeting";

/// Pure: the same meeting gives the same content (and content hash).
///
/// - Title: `title` (the recording's name, which users rename in Fathom), else the calendar
///   event's `meeting_title`.
/// - Start and end: the recording's, else the scheduled ones.
/// - Participants: the calendar invitees, plus the recorder when not among them.
/// - An action item's assignee is internal when their email domain is the recorder's.
pub fn normalize(meeting: &Meeting) -> Result<MeetingContent, FathomError> {
    let external_id =
        ExternalId::parse(&meeting.recording_id.to_string()).map_err(|e| FathomError::Decode {
            context: "meeting",
            detail: e.to_string(),
        })?;
    let title = [&meeting.title, &meeting.meeting_title]
        .into_iter()
        .flatten()
        .map(|t| t.trim())
        .find(|t| !t.is_empty())
        .unwrap_or(UNTITLED)
        .to_owned();
    let started_at = meeting
        .recording_start_time
        .or(meeting.scheduled_start_time);
    let ended_at = meeting.recording_end_time.or(meeting.scheduled_end_time);
    let duration_seconds = match (started_at, ended_at) {
        (Some(start), Some(end)) if end >= start => {
            Some((end - start).num_milliseconds() as f64 / 1000.0)
        }
        _ => None,
    };
    let recorder_domain = recorder_domain(meeting);
    Ok(MeetingContent {
        source: Source::Fathom,
        external_id,
        title,
        started_at,
        ended_at,
        duration_seconds,
        participants: participants(meeting),
        transcript: transcript(meeting),
        summary_markdown: meeting
            .default_summary
            .as_ref()
            .and_then(|s| s.markdown_formatted.clone())
            .filter(|md| !md.trim().is_empty()),
        action_items: action_items(meeting, recorder_domain.as_deref()),
        url: non_empty(&meeting.url),
        share_url: non_empty(&meeting.share_url),
        source_created_at: Some(meeting.created_at),
        files: Vec::new(),
    })
}

fn non_empty(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn domain_of(email: &str) -> Option<String> {
    email
        .rsplit_once('@')
        .map(|(_, domain)| domain.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty())
}

fn recorder_domain(meeting: &Meeting) -> Option<String> {
    let recorder = meeting.recorded_by.as_ref()?;
    non_empty(&recorder.email_domain)
        .map(|d| d.to_ascii_lowercase())
        .or_else(|| recorder.email.as_deref().and_then(domain_of))
}

fn participants(meeting: &Meeting) -> Vec<Participant> {
    let mut people: Vec<Participant> = meeting
        .calendar_invitees
        .iter()
        .map(|invitee| Participant {
            name: non_empty(&invitee.name),
            email: non_empty(&invitee.email),
            is_external: invitee.is_external,
        })
        .collect();
    if let Some(recorder) = &meeting.recorded_by {
        let email = non_empty(&recorder.email);
        let listed = email.as_deref().is_some_and(|email| {
            people.iter().any(|p| {
                p.email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
            })
        });
        let name = non_empty(&recorder.name);
        if !listed && (email.is_some() || name.is_some()) {
            people.insert(
                0,
                Participant {
                    name,
                    email,
                    is_external: false,
                },
            );
        }
    }
    people
}

fn transcript(meeting: &Meeting) -> Vec<TranscriptSegment> {
    let mut previous_start = 0.0;
    let mut segments = Vec::new();
    for item in meeting.transcript.iter().flatten() {
        let text = item.text.trim();
        if text.is_empty() {
            continue;
        }
        // An unreadable timestamp keeps the segment in place rather than moving it to 0.
        let start = item
            .timestamp
            .as_deref()
            .and_then(parse_timestamp)
            .unwrap_or(previous_start);
        previous_start = start;
        segments.push(TranscriptSegment {
            speaker: item
                .speaker
                .as_ref()
                .and_then(|s| non_empty(&s.display_name)),
            start_seconds: start,
            text: text.to_owned(),
        });
    }
    segments
}

fn action_items(meeting: &Meeting, recorder_domain: Option<&str>) -> Vec<ActionItem> {
    meeting
        .action_items
        .iter()
        .flatten()
        .filter(|item| !item.description.trim().is_empty())
        .map(|item| {
            let assignee = item.assignee.as_ref();
            let assignee_email = assignee.and_then(|a| non_empty(&a.email));
            let assignee_is_internal = match (
                assignee_email.as_deref().and_then(domain_of),
                recorder_domain,
            ) {
                (Some(theirs), Some(ours)) => theirs == ours,
                _ => false,
            };
            ActionItem {
                description: item.description.trim().to_owned(),
                assignee_name: assignee.and_then(|a| non_empty(&a.name)),
                assignee_email,
                assignee_is_internal,
                completed: item.completed,
                timestamp_seconds: item
                    .recording_timestamp
                    .as_deref()
                    .and_then(parse_timestamp),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::fathom::wire::parse_webhook_meeting;
    use chrono::{TimeZone, Utc};

    const FULL: &str = r###"{
        "title": "Pipeline review",
        "meeting_title": "Acme <> Northwind: pipeline",
        "meeting_type": "external",
        "recording_id": 123456789,
        "url": "https://fathom.video/calls/4242",
        "share_url": "https://fathom.video/share/abcDEF",
        "created_at": "2025-03-01T17:45:10Z",
        "scheduled_start_time": "2025-03-01T17:00:00Z",
        "scheduled_end_time": "2025-03-01T17:30:00Z",
        "recording_start_time": "2025-03-01T17:01:30Z",
        "recording_end_time": "2025-03-01T17:43:00Z",
        "transcript_language": "en",
        "calendar_invitees_domains_type": "one_or_more_external",
        "shared_with": [],
        "meeting_url": null,
        "some_future_field": {"nested": [1, 2, 3]},
        "recorded_by": {"name": "Alice Martin", "email": "alice@acme.com", "email_domain": "acme.com", "team": null},
        "calendar_invitees": [
            {"name": "Alice Martin", "email": "alice@acme.com", "email_domain": "acme.com", "is_external": false, "matched_speaker_display_name": "Alice Martin"},
            {"name": "Bo Chen", "email": "bo@northwind.io", "email_domain": "northwind.io", "is_external": true, "matched_speaker_display_name": null},
            {"name": null, "email": null, "is_external": true}
        ],
        "transcript": [
            {"speaker": {"display_name": "Alice Martin", "matched_calendar_invitee_email": "alice@acme.com"}, "text": "Welcome, everyone.", "timestamp": "00:00:05"},
            {"speaker": {"display_name": "Bo Chen", "matched_calendar_invitee_email": null}, "text": " Thanks for having me. ", "timestamp": "00:01:02"},
            {"speaker": {"display_name": "Bo Chen", "matched_calendar_invitee_email": null}, "text": "", "timestamp": "00:01:30"},
            {"speaker": null, "text": "[inaudible]", "timestamp": "bad"},
            {"speaker": {"display_name": "Alice Martin"}, "text": "Let's start.", "timestamp": "01:00:00", "confidence": 0.9}
        ],
        "default_summary": {"template_name": "General", "markdown_formatted": "## Summary\n\n- Agreed on pilot"},
        "action_items": [
            {"description": "Send the pilot proposal", "user_generated": false, "completed": false, "recording_timestamp": "00:10:00", "recording_playback_url": "https://fathom.video/calls/4242?timestamp=600", "assignee": {"name": "Alice Martin", "email": "Alice@ACME.com", "team": "Sales"}},
            {"description": "Share usage export", "user_generated": true, "completed": true, "recording_timestamp": null, "recording_playback_url": null, "assignee": {"name": "Bo Chen", "email": "bo@northwind.io", "team": null}},
            {"description": "Follow up", "completed": false, "assignee": {"name": "Someone", "email": null, "team": null}},
            {"description": "  ", "completed": false, "assignee": null}
        ],
        "highlights": null,
        "crm_matches": null
    }"###;

    fn at(h: u32, m: u32, s: u32) -> chrono::DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 1, h, m, s).unwrap()
    }

    #[test]
    fn a_full_meeting_becomes_meeting_content() {
        let content = normalize(&parse_webhook_meeting(FULL.as_bytes()).unwrap()).unwrap();
        assert_eq!(content.source, Source::Fathom);
        assert_eq!(content.external_id.as_str(), "123456789");
        assert_eq!(content.title, "Pipeline review");
        assert_eq!(content.started_at, Some(at(17, 1, 30)));
        assert_eq!(content.ended_at, Some(at(17, 43, 0)));
        assert_eq!(content.duration_seconds, Some(2490.0));
        assert_eq!(content.source_created_at, Some(at(17, 45, 10)));
        assert_eq!(
            content.url.as_deref(),
            Some("https://fathom.video/calls/4242")
        );
        assert_eq!(
            content.share_url.as_deref(),
            Some("https://fathom.video/share/abcDEF")
        );
        assert_eq!(
            content.summary_markdown.as_deref(),
            Some("## Summary\n\n- Agreed on pilot")
        );

        let people: Vec<(Option<&str>, bool)> = content
            .participants
            .iter()
            .map(|p| (p.email.as_deref(), p.is_external))
            .collect();
        assert_eq!(
            people,
            vec![
                (Some("alice@acme.com"), false),
                (Some("bo@northwind.io"), true),
                (None, true)
            ]
        );

        let segments: Vec<(Option<&str>, f64, &str)> = content
            .transcript
            .iter()
            .map(|s| (s.speaker.as_deref(), s.start_seconds, s.text.as_str()))
            .collect();
        assert_eq!(
            segments,
            vec![
                (Some("Alice Martin"), 5.0, "Welcome, everyone."),
                (Some("Bo Chen"), 62.0, "Thanks for having me."),
                (None, 62.0, "[inaudible]"),
                (Some("Alice Martin"), 3600.0, "Let's start."),
            ]
        );

        let items: Vec<(&str, bool, bool, Option<f64>)> = content
            .action_items
            .iter()
            .map(|a| {
                (
                    a.description.as_str(),
                    a.assignee_is_internal,
                    a.completed,
                    a.timestamp_seconds,
                )
            })
            .collect();
        assert_eq!(
            items,
            vec![
                ("Send the pilot proposal", true, false, Some(600.0)),
                ("Share usage export", false, true, None),
                ("Follow up", false, false, None),
            ]
        );
    }

    #[test]
    fn a_sparse_meeting_falls_back_sensibly() {
        let body = r#"{
            "recording_id": 7, "created_at": "2025-03-01T09:00:00Z",
            "title": "  ", "meeting_title": null, "url": null, "share_url": "",
            "scheduled_start_time": "2025-03-01T09:00:00Z", "scheduled_end_time": "2025-03-01T08:00:00Z",
            "recording_start_time": null, "recording_end_time": null,
            "recorded_by": {"name": "Dana", "email": "dana@globex.com", "email_domain": null, "team": null},
            "calendar_invitees": [],
            "transcript": null, "default_summary": null,
            "action_items": [{"description": "Call back", "assignee": {"name": "Eli", "email": "eli@GLOBEX.com"}}]
        }"#;
        let content = normalize(&parse_webhook_meeting(body.as_bytes()).unwrap()).unwrap();
        assert_eq!(content.title, "Untitled meeting");
        assert_eq!(content.started_at, Some(at(9, 0, 0)));
        assert_eq!(
            content.duration_seconds, None,
            "an end before the start is no duration"
        );
        assert_eq!(content.url, None);
        assert_eq!(content.share_url, None);
        assert!(content.transcript.is_empty());
        assert_eq!(content.summary_markdown, None);
        assert_eq!(
            content.participants.len(),
            1,
            "the recorder is a participant"
        );
        assert_eq!(content.participants[0].name.as_deref(), Some("Dana"));
        assert!(
            content.action_items[0].assignee_is_internal,
            "domain taken from the recorder's email"
        );
    }

    #[test]
    fn the_calendar_title_is_used_when_the_recording_has_none() {
        let body = r#"{"recording_id": 8, "created_at": "2025-03-01T09:00:00Z", "title": null, "meeting_title": "Board prep"}"#;
        let content = normalize(&parse_webhook_meeting(body.as_bytes()).unwrap()).unwrap();
        assert_eq!(content.title, "Board prep");
    }

    #[test]
    fn a_renamed_meeting_hashes_differently_an_unchanged_one_the_same() {
        let meeting = parse_webhook_meeting(FULL.as_bytes()).unwrap();
        let hash = normalize(&meeting).unwrap().content_hash();
        assert_eq!(normalize(&meeting.clone()).unwrap().content_hash(), hash);
        let mut renamed = meeting;
        renamed.title = Some("Pipeline review (final)".into());
        assert_ne!(normalize(&renamed).unwrap().content_hash(), hash);
    }
}
