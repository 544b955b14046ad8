//! Contacts (one per normalized participant email) and companies (one per email domain of
//! external participants, but free-mail domains), each with the meetings they were in.

use super::{derived_id, kinds, meeting_time, update};
use crate::domain::{
    company_name, email_domain, normalize_email, split_name, Company, CompanyMeeting, Contact,
    MeetingRef, Recording, RecordingId, FREE_MAIL_DOMAINS,
};
use crate::services::Services;
use anyhow::Result;
use std::collections::{BTreeMap, BTreeSet};

pub fn contact_id(email: &str) -> String {
    derived_id("ctc_", email)
}

pub fn company_id(domain: &str) -> String {
    derived_id("cmp_", domain)
}

/// A participant as contacts see them.
struct Seen {
    name: Option<String>,
    external: bool,
}

/// The recording's participants with an email, by normalized email (the first mention wins).
fn participants(recording: &Recording) -> BTreeMap<String, Seen> {
    let mut seen = BTreeMap::new();
    for p in &recording.participants {
        if let Some(email) = p.email.as_deref().and_then(normalize_email) {
            seen.entry(email).or_insert_with(|| Seen {
                name: p.name.clone().filter(|n| !n.trim().is_empty()),
                external: p.is_external,
            });
        }
    }
    seen
}

/// The company domain of a participant: external, not free mail.
fn company_domain(email: &str, seen: &Seen) -> Option<String> {
    let domain = email_domain(email);
    (seen.external && !FREE_MAIL_DOMAINS.contains(&domain)).then(|| domain.to_owned())
}

/// The recording's external participants by company domain.
fn companies(people: &BTreeMap<String, Seen>) -> BTreeMap<String, Vec<String>> {
    let mut by_domain: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (email, seen) in people {
        if let Some(domain) = company_domain(email, seen) {
            by_domain.entry(domain).or_default().push(email.clone());
        }
    }
    by_domain
}

fn meeting_ref(recording: &Recording) -> MeetingRef {
    MeetingRef {
        recording_id: recording.id.clone(),
        source: recording.source,
        title: recording.title.clone(),
        at: meeting_time(recording),
    }
}

/// Newest first, then by recording id, so the order never depends on import order.
fn sort_meetings<T>(meetings: &mut [T], key: impl Fn(&T) -> &MeetingRef) {
    meetings.sort_by(|a, b| {
        let (a, b) = (key(a), key(b));
        (b.at, &b.recording_id).cmp(&(a.at, &a.recording_id))
    });
}

pub async fn apply(
    services: &Services,
    recording: &Recording,
    before: Option<&Recording>,
) -> Result<()> {
    let owner = recording.owner();
    let people = participants(recording);
    let here = meeting_ref(recording);
    for (email, seen) in &people {
        let domain = company_domain(email, seen);
        update(
            services,
            &owner,
            kinds::CONTACT,
            &contact_id(email),
            |stored: Option<Contact>| {
                Some(with_meeting(stored, email, seen, domain.clone(), &here))
            },
        )
        .await?;
    }
    let by_domain = companies(&people);
    for (domain, emails) in &by_domain {
        update(
            services,
            &owner,
            kinds::COMPANY,
            &company_id(domain),
            |stored: Option<Company>| {
                let mut company = stored.unwrap_or_else(|| Company {
                    id: company_id(domain),
                    domain: domain.clone(),
                    name: company_name(domain),
                    meetings: Vec::new(),
                });
                company
                    .meetings
                    .retain(|m| m.meeting.recording_id != here.recording_id);
                company.meetings.push(CompanyMeeting {
                    meeting: here.clone(),
                    contacts: emails.clone(),
                });
                sort_meetings(&mut company.meetings, |m| &m.meeting);
                Some(company)
            },
        )
        .await?;
    }
    // Whoever (and whichever company) left the recording loses the meeting.
    if let Some(before) = before {
        let earlier = participants(before);
        for email in earlier.keys().filter(|e| !people.contains_key(*e)) {
            update(
                services,
                &owner,
                kinds::CONTACT,
                &contact_id(email),
                |stored: Option<Contact>| stored.map(|c| without_meeting(c, &recording.id)),
            )
            .await?;
        }
        let gone: BTreeSet<String> = companies(&earlier)
            .into_keys()
            .filter(|d| !by_domain.contains_key(d))
            .collect();
        for domain in gone {
            update(
                services,
                &owner,
                kinds::COMPANY,
                &company_id(&domain),
                |stored: Option<Company>| {
                    stored.map(|mut c| {
                        c.meetings
                            .retain(|m| m.meeting.recording_id != recording.id);
                        c
                    })
                },
            )
            .await?;
        }
    }
    Ok(())
}

/// `stored` (or a new contact) with the meeting `here`; the newest meeting says the name,
/// company and whether they are external.
fn with_meeting(
    stored: Option<Contact>,
    email: &str,
    seen: &Seen,
    domain: Option<String>,
    here: &MeetingRef,
) -> Contact {
    let mut contact = stored.unwrap_or_else(|| Contact {
        id: contact_id(email),
        email: email.to_owned(),
        name: None,
        first_name: None,
        last_name: None,
        company_domain: None,
        external: seen.external,
        first_seen: here.at,
        last_seen: here.at,
        meetings: Vec::new(),
    });
    contact
        .meetings
        .retain(|m| m.recording_id != here.recording_id);
    contact.meetings.push(here.clone());
    sort_meetings(&mut contact.meetings, |m| m);
    let newest = &contact.meetings[0];
    if newest.recording_id == here.recording_id || contact.name.is_none() {
        if let Some(name) = &seen.name {
            let (first, last) = split_name(name);
            contact.name = Some(name.clone());
            contact.first_name = first;
            contact.last_name = last;
        }
    }
    if newest.recording_id == here.recording_id {
        contact.external = seen.external;
        contact.company_domain = domain;
    }
    refresh_seen(&mut contact);
    contact
}

fn without_meeting(mut contact: Contact, recording: &RecordingId) -> Contact {
    contact.meetings.retain(|m| &m.recording_id != recording);
    refresh_seen(&mut contact);
    contact
}

fn refresh_seen(contact: &mut Contact) {
    if let (Some(newest), Some(oldest)) = (contact.meetings.first(), contact.meetings.last()) {
        contact.last_seen = newest.at;
        contact.first_seen = oldest.at;
    }
}
