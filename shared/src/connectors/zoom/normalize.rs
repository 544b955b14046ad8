//! A Zoom meeting and its parsed transcript into the source-independent `MeetingContent`.

use super::error::ZoomWireError;
use super::vtt::speakers;
use super::wire::ZoomMeeting;
use crate::domain::{
    ExternalId, MeetingContent, Participant, RecordingFile, Source, TranscriptSegment,
};
use chrono::Duration;

const UNTITLED: &str = "Zoom meeting";

/// Pure: the same meeting and transcript give the same content (and content hash), whether
/// the meeting came from a listing or from a webhook.
///
/// - External id: the meeting `uuid`, which names one occurrence (a recurring meeting's
///   numeric `id` is shared by all its occurrences).
/// - Start, duration and end: `start_time` and the whole minutes Zoom reports.
/// - `url` is left empty and `share_url` carries Zoom's recording page: a file's `play_url`
///   opens one file of the recording and disappears when that file is deleted.
/// - Participants: the host (by email; Zoom's recording data has no host name), then each
///   distinct transcript speaker by name, in order of first speech. Zoom says nothing about
///   who is outside the host's organisation, so no one is marked external. A speaker who is
///   the host is listed twice, once by email and once by name: the two cannot be matched
///   without guessing.
pub fn normalize(
    meeting: &ZoomMeeting,
    transcript: Vec<TranscriptSegment>,
) -> Result<MeetingContent, ZoomWireError> {
    let external_id = ExternalId::parse(&meeting.uuid)
        .map_err(|e| ZoomWireError::InvalidMeeting(e.to_string()))?;
    let title = meeting
        .topic
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .unwrap_or(UNTITLED)
        .to_owned();
    let started_at = meeting.start_time;
    let duration_seconds = meeting.duration.map(|minutes| u64::from(minutes) * 60);
    let ended_at = duration_seconds.and_then(|seconds| {
        i64::try_from(seconds)
            .ok()
            .and_then(Duration::try_seconds)
            .and_then(|d| started_at.checked_add_signed(d))
    });
    Ok(MeetingContent {
        source: Source::Zoom,
        external_id,
        title,
        started_at: Some(started_at),
        ended_at,
        duration_seconds: duration_seconds.map(|s| s as f64),
        participants: participants(meeting, &transcript),
        transcript,
        summary_markdown: None,
        action_items: Vec::new(),
        url: None,
        share_url: non_empty(meeting.share_url.as_deref()),
        source_created_at: Some(started_at),
        files: meeting
            .files()
            .into_iter()
            .map(|file| RecordingFile {
                kind: file.file_type.as_str().to_owned(),
                size_bytes: file.size_bytes,
            })
            .collect(),
    })
}

fn non_empty(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn participants(meeting: &ZoomMeeting, transcript: &[TranscriptSegment]) -> Vec<Participant> {
    let host = non_empty(meeting.host_email.as_deref()).map(|email| Participant {
        name: None,
        email: Some(email),
        is_external: false,
    });
    let speakers = speakers(transcript).into_iter().map(|name| Participant {
        name: Some(name),
        email: None,
        is_external: false,
    });
    host.into_iter().chain(speakers).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::zoom::vtt::parse_vtt;
    use crate::connectors::zoom::wire::{parse_meeting, tests::MEETING};
    use chrono::{TimeZone, Utc};

    const VTT: &str = "WEBVTT\n\n1\n00:00:02.350 --> 00:00:05.120\nAlice Martin: Welcome.\n\n\
        2\n00:00:06.000 --> 00:00:08.000\nBo Chen: Thanks.\n\n\
        3\n00:00:09.000 --> 00:00:10.000\n[crosstalk]\n\n\
        4\n00:00:11.000 --> 00:00:12.000\nAlice Martin: Agenda first.\n";

    fn meeting() -> ZoomMeeting {
        parse_meeting(MEETING.as_bytes()).unwrap()
    }

    #[test]
    fn a_recorded_meeting_becomes_meeting_content() {
        let transcript = parse_vtt(VTT).unwrap();
        let content = normalize(&meeting(), transcript.clone()).unwrap();
        let start = Utc.with_ymd_and_hms(2025, 3, 4, 15, 0, 12).unwrap();
        assert_eq!(content.source, Source::Zoom);
        assert_eq!(content.external_id.as_str(), "4444AAAiAAAAAiAiAiiAii==");
        assert_eq!(content.title, "Quarterly planning");
        assert_eq!(content.started_at, Some(start));
        assert_eq!(content.duration_seconds, Some(2520.0));
        assert_eq!(content.ended_at, Some(start + Duration::minutes(42)));
        assert_eq!(content.source_created_at, Some(start));
        assert_eq!(content.url, None);
        assert_eq!(
            content.share_url.as_deref(),
            Some("https://us06web.zoom.us/rec/share/abcDEF.123")
        );
        assert_eq!(content.transcript, transcript);
        assert_eq!(content.summary_markdown, None);
        assert!(content.action_items.is_empty());
        assert_eq!(
            content.participants,
            vec![
                Participant {
                    name: None,
                    email: Some("alice@acme.com".into()),
                    is_external: false
                },
                Participant {
                    name: Some("Alice Martin".into()),
                    email: None,
                    is_external: false
                },
                Participant {
                    name: Some("Bo Chen".into()),
                    email: None,
                    is_external: false
                },
            ]
        );
    }

    #[test]
    fn a_sparse_meeting_falls_back_sensibly() {
        let body = br#"{"uuid": "sparse==", "id": 1, "start_time": "2025-03-04T15:00:00Z",
            "topic": "   ", "host_email": "", "share_url": null}"#;
        let content = normalize(&parse_meeting(body).unwrap(), Vec::new()).unwrap();
        assert_eq!(content.title, "Zoom meeting");
        assert_eq!(content.duration_seconds, None);
        assert_eq!(content.ended_at, None);
        assert_eq!(content.share_url, None);
        assert!(content.participants.is_empty());
        assert!(content.transcript.is_empty());
    }

    #[test]
    fn a_uuid_that_is_not_an_external_id_is_refused() {
        let mut meeting = meeting();
        for uuid in ["", "has space==", &"x".repeat(257)] {
            meeting.uuid = uuid.to_owned();
            assert!(matches!(
                normalize(&meeting, Vec::new()),
                Err(ZoomWireError::InvalidMeeting(_))
            ));
        }
    }

    #[test]
    fn the_same_input_hashes_the_same_and_a_new_transcript_differently() {
        let meeting = meeting();
        let hash = normalize(&meeting, Vec::new()).unwrap().content_hash();
        assert_eq!(
            normalize(&meeting, Vec::new()).unwrap().content_hash(),
            hash
        );
        let with_transcript = normalize(&meeting, parse_vtt(VTT).unwrap()).unwrap();
        assert_ne!(with_transcript.content_hash(), hash);
    }
}
