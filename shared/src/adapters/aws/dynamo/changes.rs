//! The change feed in DynamoDB. A change is written in the same transaction as the recording
//! it describes, together with its workspace's counter moved from the number read to the
//! next: two writers that read the same number cannot both commit, so numbers are given in
//! commit order without gaps, and a reader never sees a number before every lower one.

use super::items::change_item;
use super::keys::{self, Key, PK, SK, VALUE};
use super::{cancellation_reasons, conflicted, sdk_error, DynamoStore, Expr};
use crate::domain::{Change, WorkspaceId};
use crate::ports::ChangeFeed;
use crate::retry::Backoff;
use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

/// How often a writer reads the counter again after another writer took its number.
const MAX_NUMBERING_ATTEMPTS: u32 = 50;

/// The wait before reading the counter again after losing a number: short, growing, and
/// jittered, so a writer that lost once is not the slowest of the same race every time.
const RENUMBER_WAIT: Backoff = Backoff {
    first_delay: std::time::Duration::from_millis(2),
    max_delay: std::time::Duration::from_millis(100),
    max_attempts: MAX_NUMBERING_ATTEMPTS,
};

impl DynamoStore {
    /// Commits `writes` with `change` numbered next in `workspace`'s feed; `false`, with
    /// nothing written, when a condition of `writes` does not hold.
    pub(super) async fn write_with_change(
        &self,
        writes: Vec<TransactWriteItem>,
        workspace: &WorkspaceId,
        mut change: Change,
    ) -> Result<bool> {
        let backoff = Backoff::default();
        let (mut conflicts, mut renumbers) = (0, 0);
        for _ in 0..MAX_NUMBERING_ATTEMPTS {
            let last = self.last_change(workspace).await?;
            change.seq = last + 1;
            let mut items = writes.clone();
            items.push(self.counter_step(workspace, last)?);
            let entry = change_item(workspace, &change)?;
            items.push(self.conditional_put(
                entry,
                Expr::new("attribute_not_exists(#pk)").alias("#pk", PK),
            )?);
            let err = match self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await
            {
                Ok(_) => return Ok(true),
                Err(err) => err,
            };
            let reasons = cancellation_reasons(&err);
            let failed =
                |i: usize| reasons.get(i).copied().flatten() == Some("ConditionalCheckFailed");
            if (0..writes.len()).any(failed) {
                return Ok(false);
            }
            let renumber = (writes.len()..writes.len() + 2).any(failed);
            let conflicted = conflicted(&err, &reasons);
            if !renumber && !conflicted {
                return Err(sdk_error("DynamoDB TransactWriteItems", err));
            }
            if conflicted {
                tokio::time::sleep(backoff.delay(conflicts.min(backoff.max_attempts - 1))).await;
                conflicts += 1;
            } else {
                tokio::time::sleep(RENUMBER_WAIT.delay(renumbers)).await;
                renumbers += 1;
            }
        }
        bail!("the change feed of {workspace} stayed contended after {MAX_NUMBERING_ATTEMPTS} attempts")
    }

    async fn last_change(&self, workspace: &WorkspaceId) -> Result<u64> {
        let Some(item) = self.get_item(Key::change_seq(workspace)).await? else {
            return Ok(0);
        };
        item.get(VALUE)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .context("a change feed counter has no number")
    }

    /// Moves the counter from `last` to `last + 1`, only if it still says `last`.
    fn counter_step(&self, workspace: &WorkspaceId, last: u64) -> Result<TransactWriteItem> {
        let condition = if last == 0 {
            Expr::new("attribute_not_exists(#pk)").alias("#pk", PK)
        } else {
            Expr::new("#v = :last")
                .alias("#v", VALUE)
                .value(":last", keys::number(last))
        };
        let mut expr = Expr::new("SET #v = :next")
            .alias("#v", VALUE)
            .value(":next", keys::number(last + 1));
        expr.names.extend(condition.names.clone());
        expr.values.extend(condition.values.clone());
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Key::change_seq(workspace).into_item()))
            .update_expression(&expr.text)
            .condition_expression(&condition.text)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .build()
            .context("building the change counter's update")?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

#[async_trait]
impl ChangeFeed for DynamoStore {
    async fn read(&self, workspace: &WorkspaceId, after: u64, limit: usize) -> Result<Vec<Change>> {
        let from = Key::change(workspace, after.saturating_add(1));
        let to = Key::change(workspace, u64::MAX);
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", keys::text(from.pk))
            .expression_attribute_values(":from", keys::text(from.sk))
            .expression_attribute_values(":to", keys::text(to.sk))
            .consistent_read(true)
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| sdk_error("DynamoDB Query", e))?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(Change::try_from)
            .collect()
    }
}
