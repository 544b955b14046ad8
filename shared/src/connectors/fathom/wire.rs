//! Fathom's JSON as it arrives: meetings, transcripts, summaries, pages, tokens.
//!
//! Tolerant by design: unknown fields are ignored, documented-nullable fields are `Option`,
//! a `null` where a list or flag is expected reads as empty or false, and a malformed optional
//! timestamp reads as absent rather than failing the whole meeting.

use super::error::FathomError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// One meeting: an item of `GET /meetings`, and the body of a webhook delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meeting {
    #[serde(deserialize_with = "id_number")]
    pub recording_id: u64,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub meeting_title: Option<String>,
    #[serde(default)]
    pub meeting_type: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub share_url: Option<String>,
    pub created_at: DateTime<Utc>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub scheduled_start_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub scheduled_end_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub recording_start_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub recording_end_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub transcript_language: Option<String>,
    #[serde(default)]
    pub recorded_by: Option<Recorder>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub calendar_invitees: Vec<CalendarInvitee>,
    /// `None` when the request (or webhook) did not include the transcript.
    #[serde(default)]
    pub transcript: Option<Vec<TranscriptItem>>,
    /// `None` when not included, or when the meeting has no summary.
    #[serde(default)]
    pub default_summary: Option<Summary>,
    #[serde(default)]
    pub action_items: Option<Vec<ActionItem>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recorder {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub email_domain: Option<String>,
    #[serde(default)]
    pub team: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalendarInvitee {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub email_domain: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_external: bool,
    #[serde(default)]
    pub matched_speaker_display_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptItem {
    #[serde(default)]
    pub speaker: Option<Speaker>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub text: String,
    /// `HH:MM:SS` from the start of the recording.
    #[serde(default)]
    pub timestamp: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Speaker {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub matched_calendar_invitee_email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    #[serde(default)]
    pub template_name: Option<String>,
    #[serde(default)]
    pub markdown_formatted: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionItem {
    #[serde(default, deserialize_with = "null_as_default")]
    pub description: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub user_generated: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub completed: bool,
    /// `HH:MM:SS` from the start of the recording.
    #[serde(default)]
    pub recording_timestamp: Option<String>,
    #[serde(default)]
    pub recording_playback_url: Option<String>,
    #[serde(default)]
    pub assignee: Option<Assignee>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignee {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub team: Option<String>,
}

/// One page of `GET /meetings`. Items that cannot be read are set aside in `undecodable`
/// instead of failing the page, so one odd meeting cannot stall a whole sync.
#[derive(Debug, Clone, PartialEq)]
pub struct MeetingsPage {
    pub limit: Option<u32>,
    pub next_cursor: Option<String>,
    pub items: Vec<Meeting>,
    pub undecodable: Vec<UndecodableMeeting>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UndecodableMeeting {
    /// The item's `recording_id` when even that much could be read.
    pub recording_id: Option<u64>,
    pub reason: String,
}

#[derive(Deserialize)]
struct RawPage {
    #[serde(default, deserialize_with = "optional_number")]
    limit: Option<u32>,
    #[serde(default)]
    next_cursor: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    items: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
pub(crate) struct TranscriptResponse {
    #[serde(default, deserialize_with = "null_as_default")]
    pub transcript: Vec<TranscriptItem>,
}

#[derive(Deserialize)]
pub(crate) struct SummaryResponse {
    #[serde(default)]
    pub summary: Option<Summary>,
}

#[derive(Deserialize)]
pub(crate) struct WebhookResponse {
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    pub secret: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub created_at: Option<DateTime<Utc>>,
}

/// Parses a webhook delivery's body: a bare Meeting object, with whatever the webhook's
/// include flags added.
pub fn parse_webhook_meeting(body: &[u8]) -> Result<Meeting, FathomError> {
    decode("webhook meeting", body)
}

pub(crate) fn parse_meetings_page(body: &[u8]) -> Result<MeetingsPage, FathomError> {
    let raw: RawPage = decode("meetings page", body)?;
    let mut items = Vec::with_capacity(raw.items.len());
    let mut undecodable = Vec::new();
    for value in raw.items {
        let recording_id = value.get("recording_id").and_then(|id| {
            id.as_u64()
                .or_else(|| id.as_str().and_then(|s| s.parse().ok()))
        });
        match serde_json::from_value::<Meeting>(value) {
            Ok(meeting) => items.push(meeting),
            Err(e) => undecodable.push(UndecodableMeeting {
                recording_id,
                reason: e.to_string(),
            }),
        }
    }
    Ok(MeetingsPage {
        limit: raw.limit,
        next_cursor: raw.next_cursor.filter(|c| !c.is_empty()),
        items,
        undecodable,
    })
}

/// Decodes JSON whose fields are not secret, keeping serde's message for the log.
pub(crate) fn decode<'a, T: Deserialize<'a>>(
    context: &'static str,
    body: &'a [u8],
) -> Result<T, FathomError> {
    serde_json::from_slice(body).map_err(|e| FathomError::Decode {
        context,
        detail: e.to_string(),
    })
}

/// Decodes JSON that carries secrets: the error names only the position, since serde's
/// message can quote the offending value.
pub(crate) fn decode_secret<'a, T: Deserialize<'a>>(
    context: &'static str,
    body: &'a [u8],
) -> Result<T, FathomError> {
    serde_json::from_slice(body).map_err(|e| FathomError::Decode {
        context,
        detail: format!(
            "unexpected {:?} at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ),
    })
}

/// Seconds from `HH:MM:SS` (hours may exceed 23; `MM:SS` and fractional seconds accepted).
pub fn parse_timestamp(raw: &str) -> Option<f64> {
    let parts: Vec<&str> = raw.trim().split(':').collect();
    let (hours, minutes, seconds) = match parts.as_slice() {
        [h, m, s] => (*h, *m, *s),
        [m, s] => ("0", *m, *s),
        _ => return None,
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(hours) || !all_digits(minutes) {
        return None;
    }
    let (whole, fraction) = seconds.split_once('.').unwrap_or((seconds, "0"));
    if !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let hours: f64 = hours.parse().ok()?;
    let minutes: f64 = minutes.parse().ok()?;
    let seconds: f64 = seconds.parse().ok()?;
    if minutes >= 60.0 || seconds >= 60.0 {
        return None;
    }
    Some(hours * 3600.0 + minutes * 60.0 + seconds)
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

fn lenient_time<'de, D>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error>
where
    D: Deserializer<'de>,
{
    let raw = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(raw
        .as_ref()
        .and_then(|v| v.as_str())
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc)))
}

/// A number sent as a JSON number or as a numeric string.
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Number(u64),
    Text(String),
}

fn id_number<'de, D>(deserializer: D) -> Result<u64, D::Error>
where
    D: Deserializer<'de>,
{
    match NumberOrString::deserialize(deserializer)? {
        NumberOrString::Number(n) => Ok(n),
        NumberOrString::Text(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom("recording_id is not a whole number")),
    }
}

fn optional_number<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    let raw = Option::<NumberOrString>::deserialize(deserializer)?;
    let number = match raw {
        None => None,
        Some(NumberOrString::Number(n)) => Some(n),
        Some(NumberOrString::Text(s)) => s.trim().parse().ok(),
    };
    Ok(number.and_then(|n| T::try_from(n).ok()))
}

fn string_or_number<'de, D>(deserializer: D) -> Result<String, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(match NumberOrString::deserialize(deserializer)? {
        NumberOrString::Number(n) => n.to_string(),
        NumberOrString::Text(s) => s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_to_seconds() {
        assert_eq!(parse_timestamp("00:00:00"), Some(0.0));
        assert_eq!(parse_timestamp("00:01:05"), Some(65.0));
        assert_eq!(parse_timestamp("01:02:03"), Some(3723.0));
        assert_eq!(parse_timestamp("26:00:01"), Some(93601.0));
        assert_eq!(parse_timestamp("02:03"), Some(123.0));
        assert_eq!(parse_timestamp(" 00:00:01.5 "), Some(1.5));
    }

    #[test]
    fn malformed_timestamps_are_refused() {
        for raw in [
            "",
            "12",
            "00:60:00",
            "00:00:60",
            "aa:00:00",
            "-1:00:00",
            "1:2:3:4",
            "00::01",
            "00:00:1e1",
        ] {
            assert_eq!(parse_timestamp(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn a_page_keeps_good_items_and_sets_bad_ones_aside() {
        let body = br#"{
            "limit": 10, "next_cursor": "", "unknown_page_field": {"x": 1},
            "items": [
                {"recording_id": 1, "created_at": "2025-01-06T09:00:00Z", "title": "Ok"},
                {"recording_id": 2, "created_at": "not a date"},
                {"title": "no id at all", "created_at": "2025-01-06T09:00:00Z"}
            ]
        }"#;
        let page = parse_meetings_page(body).unwrap();
        assert_eq!(page.limit, Some(10));
        assert_eq!(page.next_cursor, None, "an empty cursor ends the list");
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].recording_id, 1);
        assert_eq!(page.undecodable.len(), 2);
        assert_eq!(page.undecodable[0].recording_id, Some(2));
        assert_eq!(page.undecodable[1].recording_id, None);
    }

    #[test]
    fn nulls_read_as_absent_or_empty() {
        let body = br#"{
            "recording_id": "123", "created_at": "2025-01-06T09:00:00Z", "title": null,
            "recording_start_time": "garbage", "calendar_invitees": null, "transcript": null,
            "action_items": [{"description": null, "completed": null, "assignee": null}]
        }"#;
        let meeting = parse_webhook_meeting(body).unwrap();
        assert_eq!(meeting.recording_id, 123);
        assert_eq!(meeting.title, None);
        assert_eq!(meeting.recording_start_time, None);
        assert!(meeting.calendar_invitees.is_empty());
        assert_eq!(meeting.transcript, None);
        let items = meeting.action_items.unwrap();
        assert_eq!(items[0].description, "");
        assert!(!items[0].completed);
    }

    #[test]
    fn secret_bearing_decode_errors_do_not_quote_values() {
        let body = br#"{"id": "wh_1", "secret": 987654321}"#;
        let err = decode_secret::<WebhookResponse>("webhook", body)
            .err()
            .unwrap();
        assert!(matches!(err, FathomError::Decode { .. }));
        assert!(!err.to_string().contains("987654321"));
        assert!(!format!("{err:?}").contains("987654321"));
        let quoted = decode::<WebhookResponse>("webhook", body).err().unwrap();
        assert!(
            quoted.to_string().contains("987654321"),
            "the plain decoder keeps detail"
        );
    }
}
