//! Meetings the fake serves: their model, a generator of realistic ones, and their JSON in
//! the shape of Fathom's `Meeting` object.

use chrono::{DateTime, Duration as TimeDelta, SecondsFormat, Utc};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::RngExt;
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakePerson {
    pub name: String,
    pub email: String,
}

impl FakePerson {
    pub fn email_domain(&self) -> &str {
        self.email.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeInvitee {
    pub person: FakePerson,
    pub is_external: bool,
    /// The transcript speaker name Fathom matched to this invitee, if any.
    pub speaker_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeUtterance {
    pub speaker: String,
    pub speaker_email: Option<String>,
    pub text: String,
    pub at_seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeActionItem {
    pub description: String,
    pub assignee: FakePerson,
    pub assignee_team: Option<String>,
    pub completed: bool,
    pub at_seconds: u32,
}

/// One recording, owned by the account whose credentials see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeMeeting {
    pub owner: u64,
    pub recording_id: u64,
    /// The number in the `/calls/NNN` URL, which is not the recording id.
    pub call_number: u64,
    pub share_token: String,
    pub title: String,
    pub meeting_title: Option<String>,
    pub meeting_type: Option<String>,
    pub created_at: DateTime<Utc>,
    pub scheduled_start: DateTime<Utc>,
    pub scheduled_end: DateTime<Utc>,
    pub recording_start: DateTime<Utc>,
    pub recording_end: DateTime<Utc>,
    pub recorded_by: FakePerson,
    pub recorder_team: Option<String>,
    pub invitees: Vec<FakeInvitee>,
    pub transcript: Vec<FakeUtterance>,
    pub summary_markdown: Option<String>,
    pub action_items: Vec<FakeActionItem>,
}

/// What a response includes besides the meeting's own fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Includes {
    pub transcript: bool,
    pub summary: bool,
    pub action_items: bool,
}

impl Includes {
    pub const ALL: Includes = Includes {
        transcript: true,
        summary: true,
        action_items: true,
    };
}

fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `HH:MM:SS`.
pub fn clock(seconds: u32) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

impl FakeMeeting {
    pub fn url(&self) -> String {
        format!("https://fathom.video/calls/{}", self.call_number)
    }

    pub fn share_url(&self) -> String {
        format!("https://fathom.video/share/{}", self.share_token)
    }

    pub fn transcript_json(&self) -> Value {
        Value::Array(
            self.transcript
                .iter()
                .map(|u| {
                    json!({
                        "speaker": {
                            "display_name": u.speaker,
                            "matched_calendar_invitee_email": u.speaker_email,
                        },
                        "text": u.text,
                        "timestamp": clock(u.at_seconds),
                    })
                })
                .collect(),
        )
    }

    pub fn summary_json(&self) -> Value {
        match &self.summary_markdown {
            Some(markdown) => json!({"template_name": "General", "markdown_formatted": markdown}),
            None => Value::Null,
        }
    }

    /// The meeting as `GET /meetings` lists it (and as a webhook delivers it). Fields not
    /// included are `null`; a few undocumented fields are there to prove clients ignore them.
    pub fn to_json(&self, includes: Includes) -> Value {
        let any_external = self.invitees.iter().any(|i| i.is_external);
        let action_items = Value::Array(
            self.action_items
                .iter()
                .map(|item| {
                    json!({
                        "description": item.description,
                        "user_generated": false,
                        "completed": item.completed,
                        "recording_timestamp": clock(item.at_seconds),
                        "recording_playback_url": format!("{}?timestamp={}", self.url(), item.at_seconds),
                        "assignee": {
                            "name": item.assignee.name,
                            "email": item.assignee.email,
                            "team": item.assignee_team,
                        },
                    })
                })
                .collect(),
        );
        json!({
            "title": self.title,
            "meeting_title": self.meeting_title,
            "meeting_type": self.meeting_type,
            "recording_id": self.recording_id,
            "url": self.url(),
            "share_url": self.share_url(),
            "created_at": iso(self.created_at),
            "scheduled_start_time": iso(self.scheduled_start),
            "scheduled_end_time": iso(self.scheduled_end),
            "recording_start_time": iso(self.recording_start),
            "recording_end_time": iso(self.recording_end),
            "transcript_language": "en",
            "calendar_invitees_domains_type": if any_external { "one_or_more_external" } else { "only_internal" },
            "shared_with": [],
            "meeting_url": null,
            "recorded_by": {
                "name": self.recorded_by.name,
                "email": self.recorded_by.email,
                "email_domain": self.recorded_by.email_domain(),
                "team": self.recorder_team,
            },
            "calendar_invitees": self.invitees.iter().map(|i| json!({
                "name": i.person.name,
                "email": i.person.email,
                "email_domain": i.person.email_domain(),
                "is_external": i.is_external,
                "matched_speaker_display_name": i.speaker_name,
            })).collect::<Vec<_>>(),
            "transcript": if includes.transcript { self.transcript_json() } else { Value::Null },
            "default_summary": if includes.summary { self.summary_json() } else { Value::Null },
            "action_items": if includes.action_items { action_items } else { Value::Null },
            "highlights": null,
            "crm_matches": null,
            "ai_notes_version": 3,
            "internal_flags": {"beta": true, "labels": ["x"]},
        })
    }
}

const TOPICS: &[&str] = &[
    "Pipeline review",
    "Discovery call",
    "Quarterly business review",
    "Onboarding kickoff",
    "Renewal negotiation",
    "Roadmap walkthrough",
    "Pricing workshop",
    "Security questionnaire review",
    "Implementation check-in",
    "Executive sponsor sync",
];

const CUSTOMERS: &[(&str, &str)] = &[
    ("Northwind", "northwind.io"),
    ("Globex", "globex.com"),
    ("Initech", "initech.net"),
    ("Umbrella Health", "umbrella-health.org"),
    ("Hooli", "hooli.xyz"),
];

const FIRST_NAMES: &[&str] = &[
    "Priya", "Jonas", "Mei", "Carlos", "Amara", "Luca", "Sofia", "Tomás", "Hana", "Kwame", "Ines",
    "Ravi",
];

const LAST_NAMES: &[&str] = &[
    "Patel", "Weber", "Chen", "Alvarez", "Okafor", "Rossi", "Novak", "Silva", "Sato", "Mensah",
];

const LINES: &[&str] = &[
    "Thanks everyone for joining, let's get started.",
    "Before we dive in, can we confirm the timeline for the rollout?",
    "We saw a twenty percent drop in onboarding time after the pilot.",
    "The main blocker on our side is the security review.",
    "Could you share the usage export so we can look at adoption by team?",
    "That makes sense. I'll check with legal about the data processing addendum.",
    "Pricing-wise, we can hold the current rate if we sign before the end of the quarter.",
    "Let's schedule a follow-up with the implementation team next week.",
    "I'll send over the revised proposal by Friday.",
    "Great, I think that covers everything on the agenda.",
];

fn person(rng: &mut StdRng, domain: &str) -> FakePerson {
    let first = FIRST_NAMES.choose(rng).copied().unwrap_or("Alex");
    let last = LAST_NAMES.choose(rng).copied().unwrap_or("Kim");
    let local: String = format!("{first}.{last}")
        .to_lowercase()
        .chars()
        .map(|c| if c == 'á' { 'a' } else { c })
        .collect();
    FakePerson {
        name: format!("{first} {last}"),
        email: format!("{local}@{domain}"),
    }
}

/// Everything the generator needs that is not random.
pub(crate) struct Seed {
    pub owner: u64,
    pub owner_person: FakePerson,
    pub recording_id: u64,
    pub call_number: u64,
    pub scheduled_start: DateTime<Utc>,
    /// Which meeting of the account this is; every fourth is recorded by a teammate.
    pub sequence: u64,
}

pub(crate) fn generate(seed: Seed, rng: &mut StdRng) -> FakeMeeting {
    let own_domain = seed.owner_person.email_domain().to_owned();
    let teammate = person(rng, &own_domain);
    let (company, customer_domain) = CUSTOMERS
        .choose(rng)
        .copied()
        .unwrap_or(("Northwind", "northwind.io"));
    let topic = TOPICS.choose(rng).copied().unwrap_or("Sync");
    let guests: Vec<FakePerson> = (0..rng.random_range(1..=2))
        .map(|_| person(rng, customer_domain))
        .collect();
    let recorded_by = if seed.sequence % 4 == 3 {
        teammate.clone()
    } else {
        seed.owner_person.clone()
    };

    let mut invitees = vec![
        FakeInvitee {
            person: seed.owner_person.clone(),
            is_external: false,
            speaker_name: Some(seed.owner_person.name.clone()),
        },
        FakeInvitee {
            person: teammate.clone(),
            is_external: false,
            speaker_name: Some(teammate.name.clone()),
        },
    ];
    for (i, guest) in guests.iter().enumerate() {
        // The last of two guests stays silent, so Fathom matched no speaker to them.
        let speaks = i == 0;
        invitees.push(FakeInvitee {
            person: guest.clone(),
            is_external: true,
            speaker_name: speaks.then(|| guest.name.clone()),
        });
    }
    let speakers: Vec<&FakeInvitee> = invitees
        .iter()
        .filter(|i| i.speaker_name.is_some())
        .collect();

    let scheduled_minutes = [30, 45, 60][rng.random_range(0..3)];
    let scheduled_end = seed.scheduled_start + TimeDelta::minutes(scheduled_minutes);
    let recording_start = seed.scheduled_start + TimeDelta::seconds(rng.random_range(30..240));
    let mut at = rng.random_range(2..8);
    let mut transcript = Vec::new();
    for n in 0..rng.random_range(6..=12) {
        let speaker = speakers[n % speakers.len()];
        transcript.push(FakeUtterance {
            speaker: speaker.speaker_name.clone().unwrap_or_default(),
            speaker_email: Some(speaker.person.email.clone()),
            text: LINES[(n + seed.sequence as usize) % LINES.len()].to_owned(),
            at_seconds: at,
        });
        at += rng.random_range(15..120);
    }
    let recording_end =
        recording_start + TimeDelta::seconds(i64::from(at) + rng.random_range(20..90));
    let created_at = recording_end + TimeDelta::seconds(rng.random_range(20..120));

    let action_items = vec![
        FakeActionItem {
            description: format!("Send the revised proposal to {company}"),
            assignee: teammate.clone(),
            assignee_team: Some("Sales".into()),
            completed: false,
            at_seconds: transcript.last().map_or(0, |u| u.at_seconds),
        },
        FakeActionItem {
            description: "Share the usage export by team".into(),
            assignee: guests[0].clone(),
            assignee_team: None,
            completed: seed.sequence.is_multiple_of(3),
            at_seconds: transcript.get(4).map_or(0, |u| u.at_seconds),
        },
    ];
    let summary_markdown = format!(
        "## Meeting purpose\n\n{topic} with {company}.\n\n## Key takeaways\n\n\
         - Pilot cut onboarding time by 20%\n- Security review is the main blocker\n\n\
         ## Next steps\n\n- {}\n- {}\n",
        action_items[0].description, action_items[1].description
    );

    FakeMeeting {
        owner: seed.owner,
        recording_id: seed.recording_id,
        call_number: seed.call_number,
        share_token: (0..16)
            .map(|_| char::from(rng.sample(rand::distr::Alphanumeric)))
            .collect(),
        title: format!("{topic} — {company}"),
        meeting_title: (seed.sequence % 3 != 2)
            .then(|| format!("{company} <> {}: {topic}", own_domain)),
        meeting_type: (seed.sequence % 5 != 4).then(|| "external".to_owned()),
        created_at,
        scheduled_start: seed.scheduled_start,
        scheduled_end,
        recording_start,
        recording_end,
        recorded_by,
        recorder_team: seed.sequence.is_multiple_of(2).then(|| "Sales".to_owned()),
        invitees,
        transcript,
        summary_markdown: Some(summary_markdown),
        action_items,
    }
}
