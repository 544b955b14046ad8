//! Typed access to derived documents: read one or all of a kind, and update one with a
//! function of what is stored, again on a fresh read when another writer got there first.

use crate::domain::Tenant;
use crate::services::Services;
use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// How often an update reads again after another writer got there first.
pub(super) const UPDATE_ATTEMPTS: usize = 20;

pub(super) fn parse<T: DeserializeOwned>(kind: &str, id: &str, body: &str) -> Result<T> {
    serde_json::from_str(body).with_context(|| format!("a stored {kind} `{id}` does not read"))
}

pub async fn read<T: DeserializeOwned>(
    services: &Services,
    owner: &Tenant,
    kind: &str,
    id: &str,
) -> Result<Option<T>> {
    services
        .derived
        .get(owner, kind, id)
        .await?
        .map(|stored| parse(kind, id, &stored.body))
        .transpose()
}

pub async fn read_all<T: DeserializeOwned>(
    services: &Services,
    owner: &Tenant,
    kind: &str,
) -> Result<Vec<T>> {
    services
        .derived
        .list(owner, kind)
        .await?
        .iter()
        .map(|(id, stored)| parse(kind, id, &stored.body))
        .collect()
}

/// Writes `change(stored)` unless it is `None` (nothing to write); the document as written.
pub async fn update<T, F>(
    services: &Services,
    owner: &Tenant,
    kind: &str,
    id: &str,
    change: F,
) -> Result<Option<T>>
where
    T: Serialize + DeserializeOwned + PartialEq + Clone,
    F: Fn(Option<T>) -> Option<T>,
{
    for _ in 0..UPDATE_ATTEMPTS {
        let stored = services.derived.get(owner, kind, id).await?;
        let current: Option<T> = stored
            .as_ref()
            .map(|s| parse(kind, id, &s.body))
            .transpose()?;
        let unchanged = current.clone();
        let Some(next) = change(current) else {
            return Ok(None);
        };
        if unchanged.as_ref() == Some(&next) {
            return Ok(Some(next)); // nothing changed: no write
        }
        let body = serde_json::to_string(&next)?;
        if services
            .derived
            .put(owner, kind, id, &body, stored.map(|s| s.version))
            .await?
        {
            return Ok(Some(next));
        }
    }
    bail!("the {kind} `{id}` kept changing under an update")
}
