//! What callsync derives from a member's recordings for the CRMs built on it: the people met
//! (contacts), their organisations (companies), what was promised (tasks), and the recordings
//! of one call across sources (meetings). All of it is recomputable from the recordings, but
//! for what the member set themselves (a task's completion, their settings).

use super::{RecordingId, Source};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Mail providers whose domain says nothing of where someone works: no company for them.
pub const FREE_MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "yahoo.com",
    "ymail.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "gmx.com",
    "gmx.de",
    "mail.com",
    "yandex.ru",
    "zoho.com",
    "fastmail.com",
];

/// An email as contacts are keyed by it: trimmed and lower-cased (plus-addressing kept, as
/// `ann+crm@x.com` may well be another inbox).
pub fn normalize_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    (!local.is_empty() && domain.contains('.') && !domain.starts_with('.')).then_some(email)
}

/// The domain of a normalized email.
pub fn email_domain(email: &str) -> &str {
    email.rsplit_once('@').map_or("", |(_, domain)| domain)
}

/// Second-level labels under which organisations register (`acme.co.uk`).
const SECOND_LEVEL: &[&str] = &["co", "com", "org", "net", "ac", "gov", "edu", "ltd", "plc"];

/// A company's name from its domain: `acme-robotics.co.uk` -> "Acme Robotics".
pub fn company_name(domain: &str) -> String {
    let labels: Vec<&str> = domain.split('.').filter(|l| !l.is_empty()).collect();
    let name = match labels.as_slice() {
        [.., name, second, tld] if SECOND_LEVEL.contains(second) && tld.len() == 2 => name,
        [.., name, _tld] => name,
        [only] => only,
        [] => return String::new(),
    };
    name.split(['-', '_'])
        .filter(|w| !w.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect::<String>()
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// First and last name from a display name: "Ada Lovelace", "Lovelace, Ada", "Ada".
pub fn split_name(display: &str) -> (Option<String>, Option<String>) {
    let display = display.trim();
    if let Some((last, first)) = display.split_once(',') {
        let (first, last) = (first.trim(), last.trim());
        return (
            Some(first.to_owned()).filter(|s| !s.is_empty()),
            Some(last.to_owned()).filter(|s| !s.is_empty()),
        );
    }
    match display.split_once(char::is_whitespace) {
        Some((first, rest)) => (Some(first.to_owned()), Some(rest.trim().to_owned())),
        None if display.is_empty() => (None, None),
        None => (Some(display.to_owned()), None),
    }
}

/// One recording someone took part in: a contact's link to it (`kinds::CONTACT_MEETING`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeetingRef {
    pub recording_id: RecordingId,
    pub source: Source,
    pub title: String,
    pub at: DateTime<Utc>,
}

impl MeetingRef {
    /// Newest first, then by recording id, so an order never depends on import order.
    pub fn newest_first(a: &MeetingRef, b: &MeetingRef) -> std::cmp::Ordering {
        (b.at, &b.recording_id).cmp(&(a.at, &a.recording_id))
    }
}

/// Someone the member met. Their meetings are links of their own (`MeetingRef`), so a
/// contact stays small however many meetings they were in; it keeps their count and times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// The company's domain; `None` for free-mail addresses and people inside.
    pub company_domain: Option<String>,
    pub external: bool,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    #[serde(default)]
    pub meeting_count: usize,
    /// The newest meeting: it says the name, the company and whether they are external.
    #[serde(default)]
    pub newest: Option<MeetingRef>,
}

/// An organisation the member's external contacts belong to, by email domain. Its meetings
/// are links of their own (`CompanyMeeting`); it keeps their count, times and people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Company {
    pub id: String,
    pub domain: String,
    pub name: String,
    #[serde(default)]
    pub meeting_count: usize,
    #[serde(default)]
    pub first_meeting_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_meeting_at: Option<DateTime<Utc>>,
    /// Everyone of the company the member met (normalized emails), sorted.
    #[serde(default)]
    pub contacts: Vec<String>,
}

/// A company's link to one of its meetings (`kinds::COMPANY_MEETING`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompanyMeeting {
    #[serde(flatten)]
    pub meeting: MeetingRef,
    /// Normalized emails, sorted.
    pub contacts: Vec<String>,
}

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Open,
    Completed,
    /// Its action item is gone from the recording.
    Removed,
    /// Assigned to someone outside: kept, never a task.
    Excluded,
}

impl TaskStatus {
    pub fn parse(raw: &str) -> Option<TaskStatus> {
        serde_json::from_value(serde_json::Value::String(raw.to_owned())).ok()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskCategory {
    FollowUp,
    Deliverable,
    Scheduling,
    Decision,
    Other,
}

/// Where a task's optional analysis stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnalysisStatus {
    /// No chat API is configured: nothing is asked.
    NotConfigured,
    Pending,
    Done,
    /// Asked, but no usable answer came (`reason` says why).
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskAnalysis {
    pub status: AnalysisStatus,
    pub category: Option<TaskCategory>,
    pub confidence: Option<f64>,
    pub reason: Option<String>,
}

impl TaskAnalysis {
    pub fn waiting(configured: bool) -> TaskAnalysis {
        TaskAnalysis {
            status: if configured {
                AnalysisStatus::Pending
            } else {
                AnalysisStatus::NotConfigured
            },
            category: None,
            confidence: None,
            reason: None,
        }
    }
}

/// An action item of a recording, as a task of the member's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub recording_id: RecordingId,
    pub recording_title: String,
    /// Its place among the recording's action items (what keeps it the same task when the
    /// item's words change on a re-import).
    pub index: usize,
    pub description: String,
    pub assignee_name: Option<String>,
    pub assignee_email: Option<String>,
    /// The moment in the recording it was said, in seconds.
    pub timestamp_seconds: Option<f64>,
    /// When the recording took place (the task's date).
    pub meeting_at: DateTime<Utc>,
    pub status: TaskStatus,
    /// Why it is excluded.
    pub excluded_reason: Option<String>,
    /// Completed at the source.
    pub completed_at_source: bool,
    pub analysis: TaskAnalysis,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What the member set on a task, kept apart from what is derived so a re-import or a rebuild
/// never loses it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskState {
    pub completed: Option<bool>,
}

/// One recording of a meeting, as the time index keeps it to find the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlotEntry {
    pub recording_id: RecordingId,
    pub source: Source,
    pub title: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    /// Normalized participant emails.
    pub emails: Vec<String>,
    pub meeting_url: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The meeting it is linked into, when another recording matched it.
    pub meeting_id: Option<String>,
}

impl SlotEntry {
    fn overlap_seconds(&self, other: &SlotEntry) -> i64 {
        let start = self.started_at.max(other.started_at);
        let end = self.ended_at.min(other.ended_at);
        (end - start).num_seconds().max(0)
    }

    /// Whether the two are recordings of one call: from different sources, overlapping by at
    /// least half of the shorter, and sharing a participant email or the meeting URL; an
    /// upload matches on time and title, only when `link_uploads`.
    pub fn same_call(&self, other: &SlotEntry, link_uploads: bool) -> bool {
        if self.source == other.source || self.recording_id == other.recording_id {
            return false;
        }
        let shorter = (self.ended_at - self.started_at)
            .min(other.ended_at - other.started_at)
            .num_seconds();
        if shorter <= 0 || self.overlap_seconds(other) * 2 < shorter {
            return false;
        }
        if self.source == Source::Upload || other.source == Source::Upload {
            return link_uploads && self.title.trim().eq_ignore_ascii_case(other.title.trim());
        }
        let shared_email = self.emails.iter().any(|e| other.emails.contains(e));
        let same_url = self
            .meeting_url
            .as_ref()
            .is_some_and(|url| other.meeting_url.as_ref() == Some(url));
        shared_email || same_url
    }
}

/// Recordings of one call from several sources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meeting {
    pub id: String,
    /// Oldest first.
    pub recordings: Vec<LinkedRecording>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkedRecording {
    pub recording_id: RecordingId,
    pub source: Source,
    pub title: String,
    pub started_at: DateTime<Utc>,
}

/// What the member chose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberSettings {
    /// Which recording of a linked meeting leads when listings collapse them.
    pub source_priority: Vec<Source>,
    /// Link uploads to recordings of the same time and title.
    #[serde(default)]
    pub link_uploads: bool,
}

impl Default for MemberSettings {
    fn default() -> Self {
        MemberSettings {
            source_priority: vec![Source::Fathom, Source::Zoom, Source::Upload],
            link_uploads: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_domains_read_as_people_expect() {
        assert_eq!(company_name("acme-robotics.co.uk"), "Acme Robotics");
        assert_eq!(company_name("mail.globex.com"), "Globex");
        assert_eq!(company_name("initech.io"), "Initech");
        assert_eq!(
            split_name("Ada Lovelace"),
            (Some("Ada".into()), Some("Lovelace".into()))
        );
        assert_eq!(
            split_name("Lovelace, Ada"),
            (Some("Ada".into()), Some("Lovelace".into()))
        );
        assert_eq!(split_name("Cher"), (Some("Cher".into()), None));
        assert_eq!(
            normalize_email("  Ann+CRM@Acme.COM "),
            Some("ann+crm@acme.com".into())
        );
        assert_eq!(normalize_email("not an email"), None);
    }
}
