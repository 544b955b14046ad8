//! Zoom's JSON as it arrives: the user, recording pages, meetings and their files, tokens and
//! error bodies.
//!
//! Tolerant by design: unknown fields are ignored and a `null` reads as absent. Only what
//! callsync cannot work without is required: a meeting's `uuid` (its identity), `id` and
//! `start_time` (where it sits in time), a file's `file_type`, a user's `id` and a token
//! response's `access_token`. A malformed optional timestamp reads as absent.

use super::error::ZoomWireError;
use crate::crypto::SecretString;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// `GET /v2/users/me`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoomUser {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
}

impl ZoomUser {
    /// "First Last", whichever parts are present and not blank.
    pub fn display_name(&self) -> Option<String> {
        let parts: Vec<&str> = [&self.first_name, &self.last_name]
            .into_iter()
            .flatten()
            .map(|part| part.trim())
            .filter(|part| !part.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

/// One meeting with its recording files: an item of `GET /v2/users/me/recordings`, the body
/// of `GET /v2/meetings/{uuid}/recordings`, and a recording event's `payload.object`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoomMeeting {
    /// Identifies one occurrence of the meeting (a recurring meeting keeps its `id`).
    pub uuid: String,
    #[serde(deserialize_with = "whole_number")]
    pub id: u64,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub host_id: Option<String>,
    #[serde(default)]
    pub host_email: Option<String>,
    #[serde(default)]
    pub topic: Option<String>,
    pub start_time: DateTime<Utc>,
    /// Minutes.
    #[serde(default, deserialize_with = "optional_number")]
    pub duration: Option<u32>,
    /// Bytes, all files together.
    #[serde(default, deserialize_with = "optional_number")]
    pub total_size: Option<u64>,
    #[serde(default, deserialize_with = "optional_number")]
    pub recording_count: Option<u32>,
    #[serde(default)]
    pub share_url: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub recording_files: Vec<ZoomRecordingFile>,
}

/// One file of a recording. `CC` and `TIMELINE` entries often lack `id`, `status`,
/// `file_size` and `recording_type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoomRecordingFile {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub meeting_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub recording_start: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub recording_end: Option<DateTime<Utc>>,
    pub file_type: ZoomFileType,
    #[serde(default)]
    pub file_extension: Option<String>,
    /// Bytes.
    #[serde(default, deserialize_with = "optional_number")]
    pub file_size: Option<u64>,
    #[serde(default)]
    pub download_url: Option<String>,
    #[serde(default)]
    pub play_url: Option<String>,
    /// `completed` once the file can be downloaded.
    #[serde(default)]
    pub status: Option<String>,
    /// `audio_only`, `audio_transcript`, `shared_screen_with_speaker_view`, ...
    #[serde(default)]
    pub recording_type: Option<String>,
    /// Kept as text: any value at all means the file is in the trash.
    #[serde(default)]
    pub deleted_time: Option<String>,
}

impl ZoomRecordingFile {
    pub fn is_deleted(&self) -> bool {
        self.deleted_time
            .as_deref()
            .is_some_and(|t| !t.trim().is_empty())
    }

    /// True when the file can be fetched now: it has an id and a download URL, is not in
    /// the trash, and is not still processing (a file without a status counts as ready,
    /// since some entries never carry one).
    pub fn is_downloadable(&self) -> bool {
        let present = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        let ready = self
            .status
            .as_deref()
            .is_none_or(|s| s.eq_ignore_ascii_case("completed"));
        present(&self.id) && present(&self.download_url) && !self.is_deleted() && ready
    }
}

/// A recording file's kind. Unknown kinds are kept as sent, so new ones do not break a sync.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum ZoomFileType {
    Mp4,
    M4a,
    /// The WebVTT transcript.
    Transcript,
    /// Closed captions.
    Cc,
    Chat,
    Csv,
    Timeline,
    Summary,
    Other(String),
}

impl ZoomFileType {
    pub fn as_str(&self) -> &str {
        match self {
            ZoomFileType::Mp4 => "MP4",
            ZoomFileType::M4a => "M4A",
            ZoomFileType::Transcript => "TRANSCRIPT",
            ZoomFileType::Cc => "CC",
            ZoomFileType::Chat => "CHAT",
            ZoomFileType::Csv => "CSV",
            ZoomFileType::Timeline => "TIMELINE",
            ZoomFileType::Summary => "SUMMARY",
            ZoomFileType::Other(raw) => raw,
        }
    }
}

impl From<String> for ZoomFileType {
    fn from(raw: String) -> Self {
        match raw.to_ascii_uppercase().as_str() {
            "MP4" => ZoomFileType::Mp4,
            "M4A" => ZoomFileType::M4a,
            "TRANSCRIPT" => ZoomFileType::Transcript,
            "CC" => ZoomFileType::Cc,
            "CHAT" => ZoomFileType::Chat,
            "CSV" => ZoomFileType::Csv,
            "TIMELINE" => ZoomFileType::Timeline,
            "SUMMARY" => ZoomFileType::Summary,
            _ => ZoomFileType::Other(raw),
        }
    }
}

impl From<ZoomFileType> for String {
    fn from(kind: ZoomFileType) -> String {
        kind.as_str().to_owned()
    }
}

/// A file as a recording's detail view lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileSummary {
    pub file_type: ZoomFileType,
    pub size_bytes: Option<u64>,
}

impl ZoomMeeting {
    /// The WebVTT transcript, when Zoom has made one and it can be downloaded.
    pub fn transcript_file(&self) -> Option<&ZoomRecordingFile> {
        self.downloadable(&ZoomFileType::Transcript)
    }

    /// The file to transcribe when there is no transcript: the audio-only `M4A` (smallest),
    /// else an `MP4`.
    pub fn audio_file(&self) -> Option<&ZoomRecordingFile> {
        self.downloadable(&ZoomFileType::M4a)
            .or_else(|| self.downloadable(&ZoomFileType::Mp4))
    }

    /// Every file not in the trash, in Zoom's order.
    pub fn files(&self) -> Vec<FileSummary> {
        self.recording_files
            .iter()
            .filter(|file| !file.is_deleted())
            .map(|file| FileSummary {
                file_type: file.file_type.clone(),
                size_bytes: file.file_size,
            })
            .collect()
    }

    fn downloadable(&self, kind: &ZoomFileType) -> Option<&ZoomRecordingFile> {
        self.recording_files
            .iter()
            .find(|file| &file.file_type == kind && file.is_downloadable())
    }
}

/// One page of `GET /v2/users/me/recordings`. Meetings that cannot be read are set aside in
/// `undecodable` instead of failing the page, so one odd meeting cannot stall a whole sync.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoomRecordingsPage {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub page_size: Option<u32>,
    pub total_records: Option<u64>,
    /// `None` when this is the last page (Zoom sends an empty string).
    pub next_page_token: Option<String>,
    pub meetings: Vec<ZoomMeeting>,
    pub undecodable: Vec<UndecodableMeeting>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UndecodableMeeting {
    /// The item's `uuid` when even that much could be read.
    pub uuid: Option<String>,
    pub reason: String,
}

#[derive(Deserialize)]
struct RawPage {
    #[serde(default, deserialize_with = "lenient_date")]
    from: Option<NaiveDate>,
    #[serde(default, deserialize_with = "lenient_date")]
    to: Option<NaiveDate>,
    #[serde(default, deserialize_with = "optional_number")]
    page_size: Option<u32>,
    #[serde(default, deserialize_with = "optional_number")]
    total_records: Option<u64>,
    #[serde(default)]
    next_page_token: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    meetings: Vec<serde_json::Value>,
}

/// The body of a failed API call: `{"code": 124, "message": "Invalid access token."}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ZoomApiError {
    #[serde(deserialize_with = "signed_number")]
    pub code: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub message: String,
}

impl ZoomApiError {
    /// The code Zoom uses for an invalid or expired access token.
    pub const INVALID_ACCESS_TOKEN: i64 = 124;

    /// `None` when the body is not Zoom's error object (an HTML page from a proxy, say).
    pub fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice(body).ok()
    }

    pub fn is_invalid_access_token(&self) -> bool {
        self.code == Self::INVALID_ACCESS_TOKEN
    }
}

pub fn parse_user(body: &[u8]) -> Result<ZoomUser, ZoomWireError> {
    decode("user", body)
}

/// A single meeting: `GET /v2/meetings/{uuid}/recordings`.
pub fn parse_meeting(body: &[u8]) -> Result<ZoomMeeting, ZoomWireError> {
    decode("meeting", body)
}

pub fn parse_recordings_page(body: &[u8]) -> Result<ZoomRecordingsPage, ZoomWireError> {
    let raw: RawPage = decode("recordings page", body)?;
    let mut meetings = Vec::with_capacity(raw.meetings.len());
    let mut undecodable = Vec::new();
    for value in raw.meetings {
        let uuid = value
            .get("uuid")
            .and_then(|u| u.as_str())
            .map(str::to_owned);
        match serde_json::from_value::<ZoomMeeting>(value) {
            Ok(meeting) => meetings.push(meeting),
            Err(e) => undecodable.push(UndecodableMeeting {
                uuid,
                reason: e.to_string(),
            }),
        }
    }
    Ok(ZoomRecordingsPage {
        from: raw.from,
        to: raw.to,
        page_size: raw.page_size,
        total_records: raw.total_records,
        next_page_token: raw.next_page_token.filter(|t| !t.trim().is_empty()),
        meetings,
        undecodable,
    })
}

/// Decodes JSON whose fields are not secret, keeping serde's message for the log.
fn decode<'a, T: Deserialize<'a>>(
    context: &'static str,
    body: &'a [u8],
) -> Result<T, ZoomWireError> {
    serde_json::from_slice(body).map_err(|e| ZoomWireError::Decode {
        context,
        detail: e.to_string(),
    })
}

pub(super) fn secret_safe(context: &'static str, e: &serde_json::Error) -> ZoomWireError {
    ZoomWireError::Decode {
        context,
        detail: format!(
            "unexpected {:?} at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ),
    }
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

pub(super) fn lenient_time<'de, D>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error>
where
    D: Deserializer<'de>,
{
    let raw = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(raw
        .as_ref()
        .and_then(|v| v.as_str())
        .and_then(|s| DateTime::parse_from_rfc3339(s.trim()).ok())
        .map(|t| t.with_timezone(&Utc)))
}

fn lenient_date<'de, D>(deserializer: D) -> Result<Option<NaiveDate>, D::Error>
where
    D: Deserializer<'de>,
{
    let raw = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(raw
        .as_ref()
        .and_then(|v| v.as_str())
        .and_then(|s| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()))
}

/// A number sent as a JSON number or as a numeric string.
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Unsigned(u64),
    Signed(i64),
    Text(String),
}

fn whole_number<'de, D>(deserializer: D) -> Result<u64, D::Error>
where
    D: Deserializer<'de>,
{
    match NumberOrString::deserialize(deserializer)? {
        NumberOrString::Unsigned(n) => Ok(n),
        NumberOrString::Text(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom("id is not a whole number")),
        NumberOrString::Signed(_) => Err(serde::de::Error::custom("id is negative")),
    }
}

fn signed_number<'de, D>(deserializer: D) -> Result<i64, D::Error>
where
    D: Deserializer<'de>,
{
    let number = match NumberOrString::deserialize(deserializer)? {
        NumberOrString::Unsigned(n) => i64::try_from(n).ok(),
        NumberOrString::Signed(n) => Some(n),
        NumberOrString::Text(s) => s.trim().parse().ok(),
    };
    number.ok_or_else(|| serde::de::Error::custom("code is not a whole number"))
}

/// Absent, `null`, negative, fractional or out of range all read as `None`.
fn optional_number<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    let raw = Option::<serde_json::Value>::deserialize(deserializer)?;
    let number = match raw {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    Ok(number.and_then(|n| T::try_from(n).ok()))
}

/// An empty string reads as absent.
pub(super) fn optional_secret<'de, D>(deserializer: D) -> Result<Option<SecretString>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(Option::<String>::deserialize(deserializer)?
        .filter(|s| !s.is_empty())
        .map(SecretString::new))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use chrono::TimeZone;

    /// A meeting as `GET /v2/users/me/recordings` lists it, with the file kinds Zoom sends.
    pub(crate) const MEETING: &str = r#"{
        "uuid": "4444AAAiAAAAAiAiAiiAii==",
        "id": 84163391234,
        "account_id": "Cx3wERazSgup7ZWRHQM8-w",
        "host_id": "z8yCxjabcdEFGHfp8uQ",
        "host_email": "alice@acme.com",
        "topic": "Quarterly planning",
        "type": 2,
        "start_time": "2025-03-04T15:00:12Z",
        "timezone": "Europe/Paris",
        "duration": 42,
        "total_size": 52428800,
        "recording_count": 6,
        "share_url": "https://us06web.zoom.us/rec/share/abcDEF.123",
        "recording_play_passcode": "not-used",
        "recording_files": [
            {"id": "a1f4-mp4", "meeting_id": "4444AAAiAAAAAiAiAiiAii==", "recording_start": "2025-03-04T15:00:14Z", "recording_end": "2025-03-04T15:42:01Z", "file_type": "MP4", "file_extension": "MP4", "file_size": 41943040, "play_url": "https://us06web.zoom.us/rec/play/mp4", "download_url": "https://us06web.zoom.us/rec/download/mp4", "status": "completed", "recording_type": "shared_screen_with_speaker_view"},
            {"id": "a1f4-m4a", "meeting_id": "4444AAAiAAAAAiAiAiiAii==", "recording_start": "2025-03-04T15:00:14Z", "recording_end": "2025-03-04T15:42:01Z", "file_type": "M4A", "file_extension": "M4A", "file_size": 5242880, "play_url": "https://us06web.zoom.us/rec/play/m4a", "download_url": "https://us06web.zoom.us/rec/download/m4a", "status": "completed", "recording_type": "audio_only"},
            {"id": "a1f4-vtt", "meeting_id": "4444AAAiAAAAAiAiAiiAii==", "recording_start": "2025-03-04T15:00:14Z", "recording_end": "2025-03-04T15:42:01Z", "file_type": "TRANSCRIPT", "file_extension": "VTT", "file_size": 20480, "play_url": "https://us06web.zoom.us/rec/play/vtt", "download_url": "https://us06web.zoom.us/rec/download/vtt", "status": "completed", "recording_type": "audio_transcript"},
            {"meeting_id": "4444AAAiAAAAAiAiAiiAii==", "recording_start": "2025-03-04T15:00:14Z", "recording_end": "2025-03-04T15:42:01Z", "file_type": "CC", "file_extension": "VTT", "download_url": "https://us06web.zoom.us/rec/download/cc"},
            {"meeting_id": "4444AAAiAAAAAiAiAiiAii==", "recording_start": "2025-03-04T15:00:14Z", "recording_end": "2025-03-04T15:42:01Z", "file_type": "TIMELINE", "file_extension": "JSON", "download_url": "https://us06web.zoom.us/rec/download/timeline"},
            {"id": "a1f4-chat", "meeting_id": "4444AAAiAAAAAiAiAiiAii==", "recording_start": "2025-03-04T15:00:14Z", "recording_end": "", "file_type": "CHAT", "file_extension": "TXT", "file_size": 512, "download_url": "https://us06web.zoom.us/rec/download/chat", "status": "completed", "recording_type": "chat_file"},
            {"id": "a1f4-new", "file_type": "SPEAKER_MAP", "file_extension": "JSON", "file_size": 100, "status": "completed"}
        ]
    }"#;

    fn meeting() -> ZoomMeeting {
        parse_meeting(MEETING.as_bytes()).unwrap()
    }

    #[test]
    fn a_listed_meeting_reads_with_every_file_kind() {
        let meeting = meeting();
        assert_eq!(meeting.uuid, "4444AAAiAAAAAiAiAiiAii==");
        assert_eq!(meeting.id, 84163391234);
        assert_eq!(meeting.host_email.as_deref(), Some("alice@acme.com"));
        assert_eq!(
            meeting.start_time,
            Utc.with_ymd_and_hms(2025, 3, 4, 15, 0, 12).unwrap()
        );
        assert_eq!(meeting.duration, Some(42));
        assert_eq!(meeting.recording_count, Some(6));
        let kinds: Vec<&str> = meeting
            .recording_files
            .iter()
            .map(|f| f.file_type.as_str())
            .collect();
        assert_eq!(
            kinds,
            [
                "MP4",
                "M4A",
                "TRANSCRIPT",
                "CC",
                "TIMELINE",
                "CHAT",
                "SPEAKER_MAP"
            ]
        );
        let cc = &meeting.recording_files[3];
        assert_eq!(cc.file_type, ZoomFileType::Cc);
        assert_eq!((cc.id.as_ref(), cc.status.as_ref()), (None, None));
        assert_eq!((cc.file_size, cc.recording_type.as_ref()), (None, None));
        assert_eq!(
            meeting.recording_files[5].recording_end, None,
            "an empty time reads as absent"
        );
        assert_eq!(
            meeting.recording_files[6].file_type,
            ZoomFileType::Other("SPEAKER_MAP".into())
        );
    }

    #[test]
    fn file_types_round_trip_through_their_wire_names() {
        for name in [
            "MP4",
            "M4A",
            "TRANSCRIPT",
            "CC",
            "CHAT",
            "CSV",
            "TIMELINE",
            "SUMMARY",
        ] {
            let kind = ZoomFileType::from(name.to_owned());
            assert!(!matches!(kind, ZoomFileType::Other(_)), "{name}");
            assert_eq!(serde_json::to_value(&kind).unwrap(), name);
        }
        assert_eq!(ZoomFileType::from("m4a".to_owned()), ZoomFileType::M4a);
        let other: ZoomFileType = serde_json::from_str(r#""SUMMARY_NEXT_STEPS""#).unwrap();
        assert_eq!(other, ZoomFileType::Other("SUMMARY_NEXT_STEPS".into()));
        assert_eq!(
            serde_json::to_string(&other).unwrap(),
            r#""SUMMARY_NEXT_STEPS""#
        );
    }

    #[test]
    fn the_transcript_and_the_audio_are_found() {
        let meeting = meeting();
        assert_eq!(
            meeting.transcript_file().and_then(|f| f.id.as_deref()),
            Some("a1f4-vtt")
        );
        assert_eq!(
            meeting.audio_file().and_then(|f| f.id.as_deref()),
            Some("a1f4-m4a"),
            "audio only is preferred"
        );
    }

    #[test]
    fn audio_falls_back_to_video_and_skips_unusable_files() {
        let mut meeting = meeting();
        let m4a = meeting
            .recording_files
            .iter_mut()
            .find(|f| f.file_type == ZoomFileType::M4a)
            .unwrap();
        m4a.deleted_time = Some("2025-03-05T08:00:00Z".into());
        assert_eq!(
            meeting.audio_file().and_then(|f| f.id.as_deref()),
            Some("a1f4-mp4")
        );

        for file in &mut meeting.recording_files {
            if file.file_type == ZoomFileType::Mp4 {
                file.status = Some("processing".into());
            }
            if file.file_type == ZoomFileType::Transcript {
                file.download_url = None;
            }
        }
        assert_eq!(meeting.audio_file(), None);
        assert_eq!(meeting.transcript_file(), None);
    }

    #[test]
    fn a_file_without_an_id_is_not_downloadable() {
        let mut meeting = meeting();
        for file in &mut meeting.recording_files {
            file.id = None;
        }
        assert_eq!(meeting.audio_file(), None);
        assert_eq!(meeting.transcript_file(), None);
    }

    #[test]
    fn files_summarise_types_and_sizes_without_trashed_ones() {
        let mut meeting = meeting();
        meeting.recording_files[0].deleted_time = Some("2025-03-05T08:00:00Z".into());
        let files = meeting.files();
        assert_eq!(files.len(), 6);
        assert_eq!(
            files[0],
            FileSummary {
                file_type: ZoomFileType::M4a,
                size_bytes: Some(5242880)
            }
        );
        assert_eq!(files[2].file_type, ZoomFileType::Cc);
        assert_eq!(files[2].size_bytes, None);
        assert_eq!(
            serde_json::to_value(&files[0]).unwrap(),
            serde_json::json!({"file_type": "M4A", "size_bytes": 5242880})
        );
    }

    #[test]
    fn a_page_keeps_good_meetings_and_sets_bad_ones_aside() {
        let body = format!(
            r#"{{
                "from": "2025-03-01", "to": "2025-03-28", "page_count": 1, "page_size": 30,
                "total_records": 4, "next_page_token": "", "meetings": [
                    {MEETING},
                    {{"uuid": "bad/time==", "id": 1, "start_time": "yesterday"}},
                    {{"uuid": "no-files==", "id": "85000000001", "start_time": "2025-03-05T10:00:00Z", "topic": null, "recording_files": null}},
                    {{"topic": "no uuid", "id": 2, "start_time": "2025-03-05T10:00:00Z"}}
                ]
            }}"#
        );
        let page = parse_recordings_page(body.as_bytes()).unwrap();
        assert_eq!(page.from, NaiveDate::from_ymd_opt(2025, 3, 1));
        assert_eq!(page.to, NaiveDate::from_ymd_opt(2025, 3, 28));
        assert_eq!((page.page_size, page.total_records), (Some(30), Some(4)));
        assert_eq!(page.next_page_token, None, "an empty token ends the list");
        let uuids: Vec<&str> = page.meetings.iter().map(|m| m.uuid.as_str()).collect();
        assert_eq!(uuids, ["4444AAAiAAAAAiAiAiiAii==", "no-files=="]);
        assert_eq!(page.meetings[1].id, 85000000001);
        assert!(page.meetings[1].recording_files.is_empty());
        assert_eq!(page.undecodable.len(), 2);
        assert_eq!(page.undecodable[0].uuid.as_deref(), Some("bad/time=="));
        assert!(!page.undecodable[0].reason.is_empty());
        assert_eq!(page.undecodable[1].uuid, None);
    }

    #[test]
    fn a_page_token_continues_the_list() {
        let body = br#"{"page_size": 300, "next_page_token": "Tva2CuIdTgsv8wAnhyAdU3m06Y2HuLQtlh3", "meetings": []}"#;
        let page = parse_recordings_page(body).unwrap();
        assert_eq!(
            page.next_page_token.as_deref(),
            Some("Tva2CuIdTgsv8wAnhyAdU3m06Y2HuLQtlh3")
        );
        assert!(page.meetings.is_empty());
        assert!(parse_recordings_page(b"<html>").is_err());
    }

    #[test]
    fn the_user_reads_with_a_display_name() {
        let body = br#"{"id": "z8yCxjabcdEFGHfp8uQ", "first_name": "Alice", "last_name": " ",
            "email": "alice@acme.com", "type": 2, "account_id": "Cx3wERazSgup7ZWRHQM8-w",
            "pic_url": "https://example.com/p.png"}"#;
        let user = parse_user(body).unwrap();
        assert_eq!(user.id, "z8yCxjabcdEFGHfp8uQ");
        assert_eq!(user.email.as_deref(), Some("alice@acme.com"));
        assert_eq!(user.account_id.as_deref(), Some("Cx3wERazSgup7ZWRHQM8-w"));
        assert_eq!(user.display_name().as_deref(), Some("Alice"));
        let bare = parse_user(br#"{"id": "u1"}"#).unwrap();
        assert_eq!(bare.display_name(), None);
    }

    #[test]
    fn api_error_bodies_read() {
        let api =
            ZoomApiError::parse(br#"{"code": 124, "message": "Invalid access token."}"#).unwrap();
        assert!(api.is_invalid_access_token());
        assert_eq!(api.message, "Invalid access token.");
        let other = ZoomApiError::parse(br#"{"code": 3001, "message": null}"#).unwrap();
        assert!(!other.is_invalid_access_token());
        assert_eq!(ZoomApiError::parse(b"<html>bad gateway</html>"), None);
        assert_eq!(ZoomApiError::parse(br#"{"message": "no code"}"#), None);
    }
}
