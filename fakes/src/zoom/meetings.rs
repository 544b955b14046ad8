//! Cloud recordings the fake serves: the meeting model, a generator of realistic ones, and the
//! JSON of a meeting with its `recording_files`, as the list API, the meeting API and the
//! recording events show it.

use super::media;
use super::state::FakeZoomAccount;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Duration as TimeDelta, SecondsFormat, Utc};
use rand::distr::Alphanumeric;
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::RngExt;
use serde_json::{json, Map, Value};

/// One cue of the WebVTT transcript; cues without a speaker print no `Name:` prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeZoomCue {
    pub start_ms: u32,
    pub end_ms: u32,
    pub speaker: Option<String>,
    pub text: String,
}

/// The ids of a meeting's files. Timeline and closed-caption entries are listed without their
/// id (as Zoom does), but their `download_url` still names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeZoomFileIds {
    pub video: String,
    pub audio: String,
    pub transcript: String,
    pub timeline: String,
    pub closed_captions: String,
}

/// One recorded meeting instance, hosted by the user whose tokens see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeZoomMeeting {
    /// The instance's uuid; tests may set one that starts with `/` or contains `//`.
    pub uuid: String,
    /// The meeting number, shared by every instance of a recurring meeting.
    pub id: u64,
    pub account_id: String,
    /// The host's user id.
    pub host_id: String,
    pub host_email: String,
    pub topic: String,
    pub start_time: DateTime<Utc>,
    pub timezone: String,
    pub duration_minutes: u32,
    /// Who talks in the transcript, host first.
    pub speakers: Vec<String>,
    pub cues: Vec<FakeZoomCue>,
    /// Whether a `TRANSCRIPT` file is listed and downloadable.
    pub has_transcript: bool,
    /// Length of the WAV served for the `MP4` and `M4A` files.
    pub audio_seconds: u32,
    /// Whether a `TIMELINE` entry is listed.
    pub timeline: bool,
    /// Whether a `CC` entry is listed.
    pub closed_captions: bool,
    pub share_token: String,
    pub file_ids: FakeZoomFileIds,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    Video,
    Audio,
    Transcript,
    Timeline,
    ClosedCaptions,
}

impl FileKind {
    fn file_type(self) -> &'static str {
        match self {
            FileKind::Video => "MP4",
            FileKind::Audio => "M4A",
            FileKind::Transcript => "TRANSCRIPT",
            FileKind::Timeline => "TIMELINE",
            FileKind::ClosedCaptions => "CC",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            FileKind::Video => "MP4",
            FileKind::Audio => "M4A",
            FileKind::Transcript | FileKind::ClosedCaptions => "VTT",
            FileKind::Timeline => "JSON",
        }
    }

    /// Entries Zoom lists without `id`, `status`, `file_size` and `recording_type`.
    fn is_bare(self) -> bool {
        matches!(self, FileKind::Timeline | FileKind::ClosedCaptions)
    }

    fn recording_type(self) -> &'static str {
        match self {
            FileKind::Video => "shared_screen_with_speaker_view",
            FileKind::Audio => "audio_only",
            FileKind::Transcript => "audio_transcript",
            FileKind::Timeline => "timeline",
            FileKind::ClosedCaptions => "closed_caption",
        }
    }
}

fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl FakeZoomMeeting {
    /// Recording starts a few seconds after the meeting does.
    pub fn recording_start(&self) -> DateTime<Utc> {
        self.start_time + TimeDelta::seconds(4)
    }

    pub fn recording_end(&self) -> DateTime<Utc> {
        self.recording_start() + TimeDelta::minutes(i64::from(self.duration_minutes))
    }

    pub fn share_url(&self) -> String {
        format!("https://us05web.zoom.us/rec/share/{}", self.share_token)
    }

    /// The WebVTT transcript as downloaded.
    pub fn vtt(&self) -> String {
        media::vtt(&self.cues)
    }

    /// Listed files, in Zoom's order.
    pub(crate) fn listed_files(&self) -> Vec<FileKind> {
        let mut kinds = vec![FileKind::Video, FileKind::Audio];
        if self.has_transcript {
            kinds.push(FileKind::Transcript);
        }
        if self.timeline {
            kinds.push(FileKind::Timeline);
        }
        if self.closed_captions {
            kinds.push(FileKind::ClosedCaptions);
        }
        kinds
    }

    pub(crate) fn file_id(&self, kind: FileKind) -> &str {
        let ids = &self.file_ids;
        match kind {
            FileKind::Video => &ids.video,
            FileKind::Audio => &ids.audio,
            FileKind::Transcript => &ids.transcript,
            FileKind::Timeline => &ids.timeline,
            FileKind::ClosedCaptions => &ids.closed_captions,
        }
    }

    /// The listed file with this id.
    pub(crate) fn find_file(&self, file_id: &str) -> Option<FileKind> {
        self.listed_files()
            .into_iter()
            .find(|kind| self.file_id(*kind) == file_id)
    }

    pub(crate) fn content(&self, kind: FileKind) -> Vec<u8> {
        match kind {
            FileKind::Video | FileKind::Audio => media::wav(self.audio_seconds),
            FileKind::Transcript | FileKind::ClosedCaptions => self.vtt().into_bytes(),
            FileKind::Timeline => media::timeline(&self.cues).into_bytes(),
        }
    }

    fn file_size(&self, kind: FileKind) -> u64 {
        match kind {
            FileKind::Video | FileKind::Audio => media::wav_len(self.audio_seconds),
            _ => self.content(kind).len() as u64,
        }
    }

    /// The name the file host gives the download, as Zoom's does.
    pub(crate) fn file_name(&self, kind: FileKind) -> String {
        let stamp = self.recording_start().format("GMT%Y%m%d-%H%M%S");
        match kind {
            FileKind::Video => format!("{stamp}_Recording_1920x1080.mp4"),
            FileKind::Audio => format!("{stamp}_Recording.m4a"),
            FileKind::Transcript => format!("{stamp}_Recording.transcript.vtt"),
            FileKind::ClosedCaptions => format!("{stamp}_Recording.cc.vtt"),
            FileKind::Timeline => format!("{stamp}_Recording.timeline.json"),
        }
    }

    fn file_json(&self, kind: FileKind, base_url: &str) -> Value {
        let file_id = self.file_id(kind);
        let mut file = Map::new();
        if !kind.is_bare() {
            file.insert("id".into(), json!(file_id));
        }
        file.insert("meeting_id".into(), json!(self.uuid));
        file.insert("recording_start".into(), json!(iso(self.recording_start())));
        file.insert("recording_end".into(), json!(iso(self.recording_end())));
        file.insert("file_type".into(), json!(kind.file_type()));
        file.insert("file_extension".into(), json!(kind.extension()));
        if !kind.is_bare() {
            file.insert("file_size".into(), json!(self.file_size(kind)));
            file.insert(
                "play_url".into(),
                json!(format!("https://us05web.zoom.us/rec/play/{file_id}")),
            );
        }
        file.insert(
            "download_url".into(),
            json!(format!("{base_url}/rec/download/{file_id}")),
        );
        if !kind.is_bare() {
            file.insert("status".into(), json!("completed"));
            file.insert("recording_type".into(), json!(kind.recording_type()));
        }
        Value::Object(file)
    }

    /// The meeting as the list API shows it; download URLs point at `base_url`.
    pub fn to_json(&self, base_url: &str) -> Value {
        self.to_json_with_files(base_url, &self.listed_files())
    }

    pub(crate) fn to_json_with_files(&self, base_url: &str, kinds: &[FileKind]) -> Value {
        let total_size: u64 = kinds
            .iter()
            .filter(|k| !k.is_bare())
            .map(|k| self.file_size(*k))
            .sum();
        json!({
            "uuid": self.uuid,
            "id": self.id,
            "account_id": self.account_id,
            "host_id": self.host_id,
            "host_email": self.host_email,
            "topic": self.topic,
            "type": 2,
            "start_time": iso(self.start_time),
            "timezone": self.timezone,
            "duration": self.duration_minutes,
            "total_size": total_size,
            "recording_count": kinds.len(),
            "share_url": self.share_url(),
            "recording_play_passcode": format!("{}-play", self.share_token),
            "recording_files": kinds.iter().map(|k| self.file_json(*k, base_url)).collect::<Vec<_>>(),
        })
    }
}

const TOPICS: &[&str] = &[
    "Weekly product sync",
    "Discovery call",
    "Quarterly business review",
    "Onboarding kickoff",
    "Renewal negotiation",
    "Design critique",
    "Incident retrospective",
    "1:1",
    "Hiring debrief",
    "Roadmap planning",
];

const NAMES: &[&str] = &[
    "Priya Patel",
    "Jonas Weber",
    "Mei Chen",
    "Carlos Alvarez",
    "Amara Okafor",
    "Luca Rossi",
    "Sofia Novak",
    "Hana Sato",
    "Kwame Mensah",
    "Ines Silva",
];

const LINES: &[&str] = &[
    "Thanks everyone for joining, let's get started.",
    "Can we confirm the timeline for the rollout?",
    "Onboarding time dropped by twenty percent after the pilot.",
    "The main blocker on our side is the security review.",
    "Could you share the usage export by team?",
    "I'll check with legal about the data processing addendum.",
    "Let's schedule a follow-up with the implementation team.",
    "I'll send over the revised proposal by Friday.",
    "That covers everything on the agenda.",
];

const TIMEZONES: &[&str] = &["America/New_York", "Europe/Berlin", "Asia/Tokyo", "UTC"];

fn random_text(rng: &mut StdRng, len: usize) -> String {
    (0..len)
        .map(|_| char::from(rng.sample(Alphanumeric)))
        .collect()
}

fn file_id(rng: &mut StdRng) -> String {
    uuid::Builder::from_random_bytes(rng.random())
        .into_uuid()
        .to_string()
}

/// A base64 uuid like Zoom's. Generated ones never start with `/` nor hold `//`, so only
/// tests that ask for such a uuid need double encoding.
fn meeting_uuid(rng: &mut StdRng) -> String {
    loop {
        let bytes: [u8; 16] = rng.random();
        let uuid = STANDARD.encode(bytes);
        if !uuid.starts_with('/') && !uuid.contains("//") {
            return uuid;
        }
    }
}

pub(crate) fn generate(
    host: &FakeZoomAccount,
    start_time: DateTime<Utc>,
    sequence: u64,
    audio_seconds: u32,
    rng: &mut StdRng,
) -> FakeZoomMeeting {
    let host_name = format!("{} {}", host.first_name, host.last_name);
    let mut others: Vec<&str> = NAMES.iter().copied().filter(|n| *n != host_name).collect();
    others.shuffle(rng);
    let mut speakers = vec![host_name];
    speakers.extend(
        others
            .iter()
            .take(rng.random_range(1..=3))
            .map(|n| (*n).to_owned()),
    );

    let mut at = rng.random_range(500..2000);
    let cues = (0..rng.random_range(5..=9))
        .map(|n: usize| {
            let start_ms = at;
            let end_ms = start_ms + rng.random_range(1500..4500);
            at = end_ms + rng.random_range(100..1200);
            FakeZoomCue {
                start_ms,
                end_ms,
                // Zoom leaves the prefix out when it could not tell who spoke.
                speaker: (n % 4 != 3).then(|| speakers[n % speakers.len()].clone()),
                text: LINES[(n + sequence as usize) % LINES.len()].to_owned(),
            }
        })
        .collect();

    FakeZoomMeeting {
        uuid: meeting_uuid(rng),
        id: rng.random_range(81_000_000_000..99_999_999_999),
        account_id: host.account_id.clone(),
        host_id: host.id.clone(),
        host_email: host.email.clone(),
        topic: TOPICS.choose(rng).copied().unwrap_or("Sync").to_owned(),
        start_time,
        timezone: TIMEZONES.choose(rng).copied().unwrap_or("UTC").to_owned(),
        duration_minutes: rng.random_range(12..=58),
        speakers,
        cues,
        has_transcript: true,
        audio_seconds,
        timeline: sequence.is_multiple_of(2),
        closed_captions: sequence % 3 == 1,
        share_token: random_text(rng, 32),
        file_ids: FakeZoomFileIds {
            video: file_id(rng),
            audio: file_id(rng),
            transcript: file_id(rng),
            timeline: file_id(rng),
            closed_captions: file_id(rng),
        },
    }
}
