//! Contacts (one per normalized participant email) and companies (one per email domain of
//! external participants, but free-mail domains), each linked to the meetings they were in.

use super::links::{links, set_link, Linked, Summary};
use super::{derived_id, kinds, meeting_time};
use crate::domain::{
    company_name, email_domain, normalize_email, split_name, Company, CompanyMeeting, Contact,
    MeetingRef, Recording, RecordingId, Tenant, FREE_MAIL_DOMAINS,
};
use crate::services::Services;
use anyhow::Result;
use chrono::Utc;
use std::collections::BTreeMap;

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

fn contact_links(id: &str) -> Linked<'_> {
    Linked {
        summary_kind: kinds::CONTACT,
        link_kind: kinds::CONTACT_MEETING,
        id,
    }
}

fn company_links(id: &str) -> Linked<'_> {
    Linked {
        summary_kind: kinds::COMPANY,
        link_kind: kinds::COMPANY_MEETING,
        id,
    }
}

/// The meetings of the contact `id`, newest first.
pub async fn contact_meetings(
    services: &Services,
    owner: &Tenant,
    id: &str,
) -> Result<Vec<MeetingRef>> {
    let mut meetings: Vec<MeetingRef> = links(services, owner, &contact_links(id)).await?;
    meetings.sort_by(MeetingRef::newest_first);
    Ok(meetings)
}

/// The meetings of the company `id`, newest first, each with who of it took part.
pub async fn company_meetings(
    services: &Services,
    owner: &Tenant,
    id: &str,
) -> Result<Vec<CompanyMeeting>> {
    let mut meetings: Vec<CompanyMeeting> = links(services, owner, &company_links(id)).await?;
    meetings.sort_by(|a, b| MeetingRef::newest_first(&a.meeting, &b.meeting));
    Ok(meetings)
}

/// Applies the recording to its participants' contacts and companies, one after another:
/// written side by side they conflicted more with other imports of the same people (a host
/// is in every meeting), which measured slower on the embedded backend.
pub async fn apply(
    services: &Services,
    recording: &Recording,
    before: Option<&Recording>,
) -> Result<()> {
    let owner = recording.owner();
    let people = participants(recording);
    let here = meeting_ref(recording);
    for (email, seen) in &people {
        set_contact_link(services, &owner, &recording.id, email, seen, Some(&here)).await?;
    }
    let by_domain = companies(&people);
    for (domain, emails) in &by_domain {
        let link = CompanyMeeting {
            meeting: here.clone(),
            contacts: emails.clone(),
        };
        set_company_link(services, &owner, &recording.id, domain, Some(&link)).await?;
    }
    // Whoever (and whichever company) left the recording loses the meeting.
    if let Some(before) = before {
        let earlier = participants(before);
        for (email, seen) in earlier.iter().filter(|(e, _)| !people.contains_key(*e)) {
            set_contact_link(services, &owner, &recording.id, email, seen, None).await?;
        }
        for domain in companies(&earlier)
            .into_keys()
            .filter(|d| !by_domain.contains_key(d))
        {
            set_company_link(services, &owner, &recording.id, &domain, None).await?;
        }
    }
    Ok(())
}

/// Links the contact `email` to the recording as `here` (`None`: unlinks it). The newest
/// meeting says the name, company and whether they are external.
async fn set_contact_link(
    services: &Services,
    owner: &Tenant,
    recording: &RecordingId,
    email: &str,
    seen: &Seen,
    here: Option<&MeetingRef>,
) -> Result<()> {
    let id = contact_id(email);
    let domain = company_domain(email, seen);
    let start = || Contact {
        id: id.clone(),
        email: email.to_owned(),
        name: None,
        first_name: None,
        last_name: None,
        company_domain: None,
        external: seen.external,
        first_seen: here.map_or_else(Utc::now, |h| h.at),
        last_seen: here.map_or_else(Utc::now, |h| h.at),
        meeting_count: 0,
        newest: None,
    };
    let adjust = |contact: &mut Contact, here: &MeetingRef| {
        let newest_is_here = contact
            .newest
            .as_ref()
            .is_some_and(|n| n.recording_id == here.recording_id);
        if newest_is_here || contact.name.is_none() {
            if let Some(name) = &seen.name {
                let (first, last) = split_name(name);
                contact.name = Some(name.clone());
                contact.first_name = first;
                contact.last_name = last;
            }
        }
        if newest_is_here {
            contact.external = seen.external;
            contact.company_domain = domain.clone();
        }
    };
    set_link(
        services,
        owner,
        &contact_links(&id),
        recording,
        here,
        start,
        adjust,
    )
    .await
}

/// Links the company of `domain` to the recording as `link` (`None`: unlinks it).
async fn set_company_link(
    services: &Services,
    owner: &Tenant,
    recording: &RecordingId,
    domain: &str,
    link: Option<&CompanyMeeting>,
) -> Result<()> {
    let id = company_id(domain);
    let start = || Company {
        id: id.clone(),
        domain: domain.to_owned(),
        name: company_name(domain),
        meeting_count: 0,
        first_meeting_at: None,
        last_meeting_at: None,
        contacts: Vec::new(),
    };
    set_link(
        services,
        owner,
        &company_links(&id),
        recording,
        link,
        start,
        |_, _| {},
    )
    .await
}

impl Summary for Contact {
    type Link = MeetingRef;

    fn count_in(&mut self, link: &MeetingRef) {
        if self.meeting_count == 0 {
            (self.first_seen, self.last_seen) = (link.at, link.at);
        } else {
            self.first_seen = self.first_seen.min(link.at);
            self.last_seen = self.last_seen.max(link.at);
        }
        self.meeting_count += 1;
        let newer = self
            .newest
            .as_ref()
            .is_none_or(|n| MeetingRef::newest_first(link, n).is_lt());
        if newer {
            self.newest = Some(link.clone());
        }
    }

    fn recount(&mut self, links: &[MeetingRef]) {
        self.meeting_count = 0;
        self.newest = None;
        for link in links {
            self.count_in(link);
        }
    }
}

impl Summary for Company {
    type Link = CompanyMeeting;

    fn count_in(&mut self, link: &CompanyMeeting) {
        let at = link.meeting.at;
        self.first_meeting_at = Some(self.first_meeting_at.map_or(at, |t| t.min(at)));
        self.last_meeting_at = Some(self.last_meeting_at.map_or(at, |t| t.max(at)));
        self.meeting_count += 1;
        for email in &link.contacts {
            if let Err(place) = self.contacts.binary_search(email) {
                self.contacts.insert(place, email.clone());
            }
        }
    }

    fn recount(&mut self, links: &[CompanyMeeting]) {
        self.meeting_count = 0;
        (self.first_meeting_at, self.last_meeting_at) = (None, None);
        self.contacts.clear();
        for link in links {
            self.count_in(link);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Participant, Source};
    use crate::pipeline::derive::read;
    use crate::testing::moto::moto_backend;
    use crate::testing::{epoch, local_backend, meeting, member, recording, TestBackend};
    use chrono::Duration;
    use futures::future::join_all;

    const CAROL: &str = "carol@acme.com";

    /// A call of Ann's with Carol of Acme, `minutes` after the epoch.
    fn call_with_carol(n: usize, minutes: i64) -> Recording {
        let mut content = meeting(
            Source::Upload,
            &format!("m-{n}"),
            &format!("Call {n}"),
            minutes,
        );
        content.participants = vec![
            Participant {
                name: Some("Ann Inside".into()),
                email: Some("ann@ourco.com".into()),
                is_external: false,
            },
            Participant {
                name: Some("Carol Diaz".into()),
                email: Some(CAROL.into()),
                is_external: true,
            },
        ];
        recording(&member("ann"), content)
    }

    async fn carol(services: &Services) -> (Contact, Vec<MeetingRef>) {
        let owner = member("ann");
        let id = contact_id(CAROL);
        let contact = read(services, &owner, kinds::CONTACT, &id).await.unwrap();
        let meetings = contact_meetings(services, &owner, &id).await.unwrap();
        (contact.unwrap(), meetings)
    }

    async fn acme(services: &Services) -> (Company, Vec<CompanyMeeting>) {
        let owner = member("ann");
        let id = company_id("acme.com");
        let company = read(services, &owner, kinds::COMPANY, &id).await.unwrap();
        let meetings = company_meetings(services, &owner, &id).await.unwrap();
        (company.unwrap(), meetings)
    }

    /// Each case on the embedded backend and on DynamoDB (moto), whose transactions and
    /// conditions are what keep concurrent imports from counting a meeting twice.
    macro_rules! on_both_backends {
        ($($case:ident),*) => {
            mod embedded {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn $case() {
                        super::$case(&super::local_backend().await).await;
                    }
                )*
            }
            mod dynamodb {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn $case() {
                        super::$case(&super::moto_backend().await).await;
                    }
                )*
            }
        };
    }

    on_both_backends!(
        a_contact_stays_small_however_many_meetings_they_were_in,
        imports_at_once_count_each_meeting_once,
        a_meeting_that_moves_or_loses_someone_is_counted_again
    );

    async fn a_contact_stays_small_however_many_meetings_they_were_in(backend: &TestBackend) {
        let services = &backend.services;
        for n in 0..60 {
            apply(services, &call_with_carol(n, n as i64 * 60), None)
                .await
                .unwrap();
        }
        let stored = services
            .derived
            .get(&member("ann"), kinds::CONTACT, &contact_id(CAROL))
            .await
            .unwrap()
            .unwrap();
        assert!(
            stored.body.len() < 1_000,
            "{} bytes: a contact must not list its meetings",
            stored.body.len()
        );
        let (contact, meetings) = carol(services).await;
        assert_eq!(contact.meeting_count, 60);
        assert_eq!(contact.first_seen, epoch());
        assert_eq!(contact.last_seen, epoch() + Duration::hours(59));
        assert_eq!(meetings.len(), 60);
        assert_eq!(meetings[0].title, "Call 59", "newest first");
        assert_eq!(meetings[59].title, "Call 0");
        let (company, meetings) = acme(services).await;
        assert_eq!(company.meeting_count, 60);
        assert_eq!(company.contacts, [CAROL]);
        assert_eq!(meetings.len(), 60);
    }

    async fn imports_at_once_count_each_meeting_once(backend: &TestBackend) {
        let services = &backend.services;
        // Twelve calls, the first delivered three times, all applied at the same moment.
        let mut calls: Vec<Recording> = (0..12).map(|n| call_with_carol(n, n as i64)).collect();
        calls.extend([calls[0].clone(), calls[0].clone()]);
        for result in join_all(calls.iter().map(|call| apply(services, call, None))).await {
            result.unwrap();
        }
        let (contact, meetings) = carol(services).await;
        assert_eq!((contact.meeting_count, meetings.len()), (12, 12));
        assert_eq!(acme(services).await.0.meeting_count, 12);
    }

    async fn a_meeting_that_moves_or_loses_someone_is_counted_again(backend: &TestBackend) {
        let services = &backend.services;
        let (first, second) = (call_with_carol(1, 0), call_with_carol(2, 60));
        apply(services, &first, None).await.unwrap();
        apply(services, &second, None).await.unwrap();
        assert_eq!(
            carol(services).await.0.last_seen,
            epoch() + Duration::hours(1)
        );

        // The second call turns out to have been the day before.
        let mut moved = second.clone();
        moved.started_at = Some(epoch() - Duration::days(1));
        apply(services, &moved, Some(&second)).await.unwrap();
        let (contact, meetings) = carol(services).await;
        assert_eq!(contact.meeting_count, 2);
        assert_eq!(
            (contact.first_seen, contact.last_seen),
            (epoch() - Duration::days(1), epoch())
        );
        assert_eq!(contact.newest.unwrap().title, "Call 1");
        assert_eq!(meetings[1].at, epoch() - Duration::days(1));

        // Carol turns out not to have been in the first call.
        let mut without = first.clone();
        without
            .participants
            .retain(|p| p.email.as_deref() != Some(CAROL));
        apply(services, &without, Some(&first)).await.unwrap();
        let (contact, meetings) = carol(services).await;
        assert_eq!(contact.meeting_count, 1);
        assert_eq!(contact.last_seen, epoch() - Duration::days(1));
        assert_eq!(meetings.len(), 1);
        assert_eq!(meetings[0].title, "Call 2");
        let (company, meetings) = acme(services).await;
        assert_eq!((company.meeting_count, meetings.len()), (1, 1));
        assert_eq!(company.last_meeting_at, Some(epoch() - Duration::days(1)));
    }
}
