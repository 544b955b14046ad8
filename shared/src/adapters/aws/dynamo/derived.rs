//! Derived documents: one item each, in one partition per member and kind.

use super::keys::{self, Key, DATA, SK, VERSION};
use super::{DynamoStore, Expr, Item, Query, TABLE};
use crate::domain::Tenant;
use crate::ports::{DerivedStore, DerivedWrite, Versioned};
use anyhow::{Context, Result};
use async_trait::async_trait;

fn versioned(item: &Item) -> Result<Versioned> {
    let body = item
        .get(DATA)
        .and_then(|v| v.as_s().ok())
        .context("a derived document has no data")?;
    let version = item
        .get(VERSION)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .context("a derived document has no version")?;
    Ok(Versioned {
        body: body.clone(),
        version,
    })
}

/// The item of a document written over `expected` (`None`: nothing stored).
fn document(owner: &Tenant, kind: &str, id: &str, body: &str, expected: Option<u64>) -> Item {
    let mut item = Key::derived(owner, kind, id).into_item();
    item.insert(DATA.into(), keys::text(body));
    item.insert(VERSION.into(), keys::number(expected.map_or(1, |v| v + 1)));
    item
}

/// Holds when the stored version is `expected` (`None`: nothing is stored).
fn on_version(expected: Option<u64>) -> Expr {
    match expected {
        None => Expr::new("attribute_not_exists(#PK)").alias("#PK", keys::PK),
        Some(version) => Expr::new(format!("#{VERSION} = :version"))
            .name(VERSION)
            .value(":version", keys::number(version)),
    }
}

#[async_trait]
impl DerivedStore for DynamoStore {
    async fn get(&self, owner: &Tenant, kind: &str, id: &str) -> Result<Option<Versioned>> {
        self.get_item(Key::derived(owner, kind, id))
            .await?
            .as_ref()
            .map(versioned)
            .transpose()
    }

    async fn put(
        &self,
        owner: &Tenant,
        kind: &str,
        id: &str,
        body: &str,
        expected: Option<u64>,
    ) -> Result<bool> {
        let item = document(owner, kind, id, body, expected);
        self.put_item(item, Some(on_version(expected))).await
    }

    async fn write_together(&self, owner: &Tenant, writes: &[DerivedWrite]) -> Result<bool> {
        let writes = writes
            .iter()
            .map(|w| {
                let condition = on_version(w.expected);
                match &w.body {
                    Some(body) => self.conditional_put(
                        document(owner, &w.kind, &w.id, body, w.expected),
                        condition,
                    ),
                    None => self.conditional_delete(Key::derived(owner, &w.kind, &w.id), condition),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        self.write_all_or_none(writes).await
    }

    async fn list_prefixed(
        &self,
        owner: &Tenant,
        kind: &str,
        prefix: &str,
    ) -> Result<Vec<(String, Versioned)>> {
        let mut documents = Query::new(&TABLE, keys::derived_partition(owner, kind));
        documents.sort_prefix = (!prefix.is_empty()).then(|| prefix.to_owned());
        self.query_all(&documents)
            .await?
            .iter()
            .map(|item| {
                let id = item
                    .get(SK)
                    .and_then(|v| v.as_s().ok())
                    .context("a derived document has no id")?;
                Ok((id.clone(), versioned(item)?))
            })
            .collect()
    }

    async fn clear(&self, owner: &Tenant, kind: &str) -> Result<()> {
        for (id, _) in self.list(owner, kind).await? {
            self.delete_item(Key::derived(owner, kind, &id), None)
                .await?;
        }
        Ok(())
    }
}
