//! A meeting as callsync stores it, whatever its source.

use super::ids::{ExternalId, JobId, RecordingId, Source, UserId, WorkspaceId};
use super::tenant::{Sharing, Tenant};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Participant {
    pub name: Option<String>,
    pub email: Option<String>,
    /// True when the participant is outside the recorder's organisation.
    pub is_external: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptSegment {
    pub speaker: Option<String>,
    /// Offset from the start of the recording, in seconds.
    pub start_seconds: f64,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionItem {
    pub description: String,
    pub assignee_name: Option<String>,
    pub assignee_email: Option<String>,
    /// True when the assignee belongs to the recorder's organisation.
    pub assignee_is_internal: bool,
    pub completed: bool,
    pub timestamp_seconds: Option<f64>,
}

/// One file of a recording at its source (Zoom keeps video, audio, transcript... apart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingFile {
    /// The source's name for the kind of file (`MP4`, `M4A`, `TRANSCRIPT`, ...).
    pub kind: String,
    pub size_bytes: Option<u64>,
}

/// Where the transcript lives: inline for ordinary meetings, in the blob store when large
/// (DynamoDB items stop at 400 KB).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "storage", rename_all = "snake_case")]
pub enum TranscriptRef {
    Inline { segments: Vec<TranscriptSegment> },
    Blob { key: String, segment_count: usize },
}

impl Default for TranscriptRef {
    fn default() -> Self {
        TranscriptRef::Inline {
            segments: Vec::new(),
        }
    }
}

/// The content a source provides for one meeting, before it becomes a stored recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeetingContent {
    pub source: Source,
    pub external_id: ExternalId,
    pub title: String,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<f64>,
    pub participants: Vec<Participant>,
    pub transcript: Vec<TranscriptSegment>,
    pub summary_markdown: Option<String>,
    pub action_items: Vec<ActionItem>,
    pub url: Option<String>,
    pub share_url: Option<String>,
    /// When the source says the meeting was created (drives incremental sync watermarks).
    pub source_created_at: Option<DateTime<Utc>>,
    /// The recording's files at the source, where it keeps several. Left out of the JSON when
    /// empty, so content hashes of sources without files stay as they were.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<RecordingFile>,
}

impl MeetingContent {
    /// SHA-256 over the canonical JSON of the content: equal content, equal hash, so an
    /// unchanged meeting is skipped and a changed one updated.
    pub fn content_hash(&self) -> String {
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        hex_digest(&canonical)
    }
}

pub fn hex_digest(bytes: &[u8]) -> String {
    crate::crypto::hex(&Sha256::digest(bytes))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    pub id: RecordingId,
    pub workspace_id: WorkspaceId,
    /// The member whose connection or upload imported it.
    pub user_id: UserId,
    /// Who reads it besides its owner.
    #[serde(default)]
    pub sharing: Sharing,
    pub source: Source,
    pub external_id: ExternalId,
    pub title: String,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<f64>,
    pub participants: Vec<Participant>,
    pub transcript: TranscriptRef,
    pub summary_markdown: Option<String>,
    pub action_items: Vec<ActionItem>,
    pub url: Option<String>,
    pub share_url: Option<String>,
    pub source_created_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<RecordingFile>,
    pub content_hash: String,
    /// Fingerprint of the source's listing entry when last imported: an unchanged entry is
    /// skipped without fetching its content again.
    #[serde(default)]
    pub source_fingerprint: Option<String>,
    /// The job that stored it first: a job that meets it again (a redelivered message, a
    /// resumed page) counts it as its own import, not as a duplicate.
    #[serde(default)]
    pub imported_by: Option<JobId>,
    /// Lower-cased text a search matches (`search_text`), kept for search.
    pub search_text: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Recording {
    /// A new recording for `user` from `content`; the transcript stays inline until the
    /// persist stage decides where it goes.
    pub fn from_content(
        owner: Tenant,
        sharing: Sharing,
        content: MeetingContent,
        now: DateTime<Utc>,
    ) -> Self {
        let mut recording = Recording {
            id: RecordingId::new(),
            workspace_id: owner.workspace,
            user_id: owner.user,
            sharing,
            source: content.source,
            external_id: content.external_id.clone(),
            title: String::new(),
            started_at: None,
            ended_at: None,
            duration_seconds: None,
            participants: Vec::new(),
            transcript: TranscriptRef::default(),
            summary_markdown: None,
            action_items: Vec::new(),
            url: None,
            share_url: None,
            source_created_at: None,
            files: Vec::new(),
            content_hash: String::new(),
            source_fingerprint: None,
            imported_by: None,
            search_text: String::new(),
            created_at: now,
            updated_at: now,
        };
        recording.apply(content, now);
        recording
    }

    /// Replaces the content with a newer version, keeping identity and creation time.
    pub fn apply(&mut self, content: MeetingContent, now: DateTime<Utc>) {
        self.content_hash = content.content_hash();
        self.search_text = search_text(&content);
        self.title = content.title;
        self.started_at = content.started_at;
        self.ended_at = content.ended_at;
        self.duration_seconds = content.duration_seconds;
        self.participants = content.participants;
        self.transcript = TranscriptRef::Inline {
            segments: content.transcript,
        };
        self.summary_markdown = content.summary_markdown;
        self.action_items = content.action_items;
        self.url = content.url;
        self.share_url = content.share_url;
        self.source_created_at = content.source_created_at;
        self.files = content.files;
        self.updated_at = now;
    }

    /// Gives it another title (its search text follows).
    pub fn retitle(&mut self, title: String, now: DateTime<Utc>) {
        let rest = self
            .search_text
            .split_once('\n')
            .map(|(_, rest)| rest.to_owned());
        self.search_text = title.to_lowercase();
        if let Some(rest) = rest {
            self.search_text.push('\n');
            self.search_text.push_str(&rest);
        }
        self.title = title;
        self.updated_at = now;
    }

    /// The member who owns it.
    pub fn owner(&self) -> Tenant {
        Tenant::new(self.workspace_id.clone(), self.user_id.clone())
    }

    /// Whether `viewer` may read it: its owner always; the rest of the workspace when shared.
    pub fn visible_to(&self, viewer: &Tenant) -> bool {
        self.workspace_id == viewer.workspace
            && (self.user_id == viewer.user || self.sharing == Sharing::Workspace)
    }

    /// Whether `job` stored this recording first.
    pub fn imported_by_job(&self, job: &JobId) -> bool {
        self.imported_by.as_ref() == Some(job)
    }

    /// The instant the recording is listed by (newest first).
    pub fn sort_time(&self) -> DateTime<Utc> {
        self.started_at.unwrap_or(self.created_at)
    }
}

/// How much searchable text one recording keeps: enough for any realistic meeting while
/// keeping an item well under DynamoDB's 400 KB.
const SEARCH_TEXT_LIMIT: usize = 120_000;

/// What a search matches: the title, who took part (names and emails), the summary, the
/// action items and their assignees, then the transcript.
fn search_text(content: &MeetingContent) -> String {
    let mut text = content.title.to_lowercase();
    let mut add = |part: &str| {
        text.push('\n');
        text.push_str(&part.to_lowercase());
    };
    for p in &content.participants {
        p.name.iter().chain(p.email.iter()).for_each(|s| add(s));
    }
    content.summary_markdown.iter().for_each(|s| add(s));
    for item in &content.action_items {
        add(&item.description);
        item.assignee_name
            .iter()
            .chain(item.assignee_email.iter())
            .for_each(|s| add(s));
    }
    for segment in &content.transcript {
        if text.len() >= SEARCH_TEXT_LIMIT {
            break;
        }
        text.push('\n');
        text.push_str(&segment.text.to_lowercase());
    }
    if text.len() > SEARCH_TEXT_LIMIT {
        let mut cut = SEARCH_TEXT_LIMIT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}
