//! Documents that sum up a growing set of links (a contact and the meetings they were in), kept
//! as one small summary and one item per link, so an import reads and writes a few small
//! items however long a member's history is. A link and its summary change in one write, on
//! the versions read, so the summary always counts exactly the links stored.

use super::documents::{parse, UPDATE_ATTEMPTS};
use crate::domain::{RecordingId, Tenant};
use crate::ports::DerivedWrite;
use crate::services::Services;
use anyhow::{bail, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// What a summary keeps of its links.
pub(crate) trait Summary: Serialize + DeserializeOwned + Clone + PartialEq {
    type Link: Serialize + DeserializeOwned + Clone + PartialEq;
    /// Counts in a link not counted before.
    fn count_in(&mut self, link: &Self::Link);
    /// Counts again from every link (a link was changed or taken out).
    fn recount(&mut self, links: &[Self::Link]);
}

/// Where a summary and its links are stored: `summary_kind`/`id`, and `link_kind`/
/// `{id}/{recording}` for each recording it links.
pub(crate) struct Linked<'a> {
    pub summary_kind: &'a str,
    pub link_kind: &'a str,
    pub id: &'a str,
}

impl Linked<'_> {
    fn prefix(&self) -> String {
        format!("{}/", self.id)
    }

    fn link_id(&self, recording: &RecordingId) -> String {
        format!("{}{recording}", self.prefix())
    }
}

/// Every link of `linked`, in id order.
pub(crate) async fn links<L: DeserializeOwned>(
    services: &Services,
    owner: &Tenant,
    linked: &Linked<'_>,
) -> Result<Vec<L>> {
    services
        .derived
        .list_prefixed(owner, linked.link_kind, &linked.prefix())
        .await?
        .iter()
        .map(|(id, stored)| parse(linked.link_kind, id, &stored.body))
        .collect()
}

/// Sets the link of `linked` to `recording` to `link` (`None`: takes it out) and counts the
/// summary again in the same write. `start` is the summary when none is stored; `adjust`
/// updates what links do not say (a contact's name), given the link in place. Applying the
/// same link again writes nothing unless `adjust` changes something.
pub(crate) async fn set_link<S: Summary>(
    services: &Services,
    owner: &Tenant,
    linked: &Linked<'_>,
    recording: &RecordingId,
    link: Option<&S::Link>,
    start: impl Fn() -> S,
    adjust: impl Fn(&mut S, &S::Link),
) -> Result<()> {
    let link_id = linked.link_id(recording);
    let derived = &services.derived;
    for _ in 0..UPDATE_ATTEMPTS {
        let (summary, stored_link) = tokio::try_join!(
            derived.get(owner, linked.summary_kind, linked.id),
            derived.get(owner, linked.link_kind, &link_id),
        )?;
        let current: Option<S> = summary
            .as_ref()
            .map(|s| parse(linked.summary_kind, linked.id, &s.body))
            .transpose()?;
        let old: Option<S::Link> = stored_link
            .as_ref()
            .map(|l| parse(linked.link_kind, &link_id, &l.body))
            .transpose()?;
        if link.is_none() && old.is_none() {
            return Ok(()); // nothing to take out
        }
        let mut next = current.clone().unwrap_or_else(&start);
        match (&old, link) {
            (None, Some(new)) => next.count_in(new),
            (Some(old), Some(new)) if old == new => {}
            // Changed or taken out: rare (a re-import that moved or retitled a meeting).
            _ => {
                let mut all: Vec<S::Link> = Vec::new();
                for (id, stored) in derived
                    .list_prefixed(owner, linked.link_kind, &linked.prefix())
                    .await?
                {
                    if id != link_id {
                        all.push(parse(linked.link_kind, &id, &stored.body)?);
                    }
                }
                all.extend(link.cloned());
                next.recount(&all);
            }
        }
        if let Some(new) = link {
            adjust(&mut next, new);
        }
        let link_unchanged = old.as_ref() == link;
        if link_unchanged && current.as_ref() == Some(&next) {
            return Ok(());
        }
        let mut writes = vec![DerivedWrite {
            kind: linked.summary_kind.to_owned(),
            id: linked.id.to_owned(),
            body: Some(serde_json::to_string(&next)?),
            expected: summary.map(|s| s.version),
        }];
        if !link_unchanged {
            writes.push(DerivedWrite {
                kind: linked.link_kind.to_owned(),
                id: link_id.clone(),
                body: link.map(serde_json::to_string).transpose()?,
                expected: stored_link.map(|l| l.version),
            });
        }
        if derived.write_together(owner, &writes).await? {
            return Ok(());
        }
    }
    bail!(
        "the {} `{}` kept changing under an update",
        linked.summary_kind,
        linked.id
    )
}
