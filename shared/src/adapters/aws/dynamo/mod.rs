//! Every record port on one DynamoDB table (`TABLE_NAME`).
//!
//! # Key design
//!
//! Keys are strings; `{t}` is a UTC time as `YYYY-MM-DDTHH:MM:SS.ffffffZ`, which sorts as text
//! in time order, and `{t}#{id}` keeps equal times apart.
//!
//! `{member}` is a member of a workspace: `{workspace} {user}`, separated by a space, which
//! neither id can contain (ids may contain `#`, so `#` would let two members meet).
//!
//! | item | PK | SK | other attributes |
//! |---|---|---|---|
//! | recording | `MEMBER#{member}` | `REC#{source}#{external_id}` | GSI1 `RECS#{workspace}` / `{sort_time}#{id}`; `id`, `source`, `search_text`, `user_id`, `sharing` |
//! | recording by id | `RECID#{id}` | `RECID` | `target_pk`, `target_sk` (the recording's key) |
//! | connection | `MEMBER#{member}` | `CONN#{source}` | GSI1 `WSCONNS#{workspace}` / `{created_at}#{id}`; GSI2 `CONNS` / `{created_at}#{id}` unless disconnected; GSI3 `ROUTE#{source}#{route_key}` / `{id}` when the account's route key is known; `id`, `version` |
//! | connection by id | `CONNID#{id}` | `CONNID` | `target_pk`, `target_sk` |
//! | job | `MEMBER#{member}` | `JOB#{id}` | GSI1 `JOBS#{member}` / `{created_at}#{id}`; GSI2 `RUNNING_JOBS` / `{updated_at}#{id}` until finished (named for the running jobs it first held); `source` |
//! | upload | `MEMBER#{member}` | `UPLOAD#{id}` | GSI1 `UPLOADS#{member}` / `{created_at}#{id}` |
//! | once item (OAuth state, webhook receipt, claim) | `ONCE#{key}` | `ONCE` | `value`, `expires_at`, `expires_us` |
//! | lease | `LEASE#{name}` | `LEASE` | `owner`, `expires_at`, `expires_us` |
//! | counter (quota: `imports:{workspace}:{month}`) | `COUNTER#{name}` | `COUNTER` | `n`, `expires_at` |
//! | webhook delivery attempt | `MEMBER#{member}`, or `DELIVERIES#UNOWNED` when no member could be told | `DELIVERY#{source}#{received_at}#{id}` | `expires_at`, `expires_us` (30 days) |
//! | held delivery | `HELD#{holder}` | `HELD#{key}` | `value`, `expires_at`, `expires_us` |
//! | activity entry | `ACTIVITY#{workspace}` | `{at}#{id}` | `user_id`, `source`, `expires_at`, `expires_us` (90 days) |
//! | change (the feed) | `CHANGES#{workspace}` | `C#{seq, 20 digits}` | `expires_at`, `expires_us` (35 days) |
//! | change counter | `CHANGES#{workspace}` | `SEQ` | `value`: the last number given |
//! | outbound webhook endpoint | `WEBHOOKS#{workspace}` | `EP#{id}` | `version` |
//! | derived document (contact, company, task, meeting, setting; a contact's or company's link to a meeting) | `DERIVED#{kind}#{member}` | `{id}` (a link: `{contact or company id}/{recording id}`) | `version`, `data` (the document) |
//! | delivery attempt to an endpoint | `WEBHOOKS#{workspace}` | `ATT#{endpoint}#{at}#{id}` | `expires_at`, `expires_us` (30 days) |
//!
//! Domain objects are stored whole as JSON in `data`; the other attributes are derived from
//! them for keys, indexes and conditions (`items`). A recording's `search_text` is its own
//! attribute, not repeated inside `data`.
//!
//! - Everything a member owns shares their partition; the workspace is part of every key, so
//!   no read by key reaches another workspace.
//! - A recording is keyed by `(member, source, external_id)` because the sync's dedup check
//!   (one per meeting) reads it by that key. Inserting writes it and its by-id item in one
//!   transaction, each conditioned on absence, so the key is claimed atomically. Reading by
//!   id follows the pointer, then checks the recording is in the viewer's workspace and
//!   theirs or shared (`Recording::visible_to`).
//! - A connection is keyed by `(member, source)`, which makes it unique per member and
//!   source; its by-id item is written in the same transaction. `replace` is a put
//!   conditioned on the stored `version`. A workspace's connections (what admins list) are
//!   one GSI1 partition.
//! - Changing a connection's sharing rewrites each of its recordings (a put conditioned on
//!   the recording's id), so the listing index sees the new `sharing`: rare, and bounded by
//!   one member's recordings of one source.
//! - Expiring items carry `expires_at` (epoch seconds, the table's TTL attribute) and
//!   `expires_us` (the exact instant). TTL deletes lazily, up to days late, so every decision
//!   compares `expires_us` with the caller's `now` inside the condition, never trusting
//!   presence alone.
//! - Listing recordings queries the workspace's GSI1 partition newest first, filtered to
//!   what the viewer may read (`user_id` is theirs or `sharing` is `workspace`). The
//!   `source` and `text` filters are filter expressions too (`text` is `contains` on
//!   `search_text`), so a search reads the workspace's partition until a page fills: fine
//!   for a team's meetings, and the place to add a search index if that stops being true.
//! - The activity log is one partition per workspace, newest first by sort key, filtered by
//!   member, source and `expires_us` (TTL deletes late).
//! - A member's delivery log shares the member's partition, read newest first by sort key with a
//!   filter on `expires_us`, since TTL deletes late. Attempts no user could be told (unknown
//!   connection, unverified app-level delivery) share one partition; a log write refused
//!   there (a throttled partition under a flood) never changes the sender's answer.
//! - Running jobs sit in one GSI2 partition while running (the attributes are dropped when a
//!   job finishes), read oldest save first by the sweep that fails jobs whose worker died.
//! - Held deliveries wait in one partition per holder (a paused connection, a recorder's
//!   email); taking one is a conditional delete, so two releasers never both get it.
//! - A workspace's outbound webhook endpoints and their attempts share one partition: the
//!   fan-out of an event reads the endpoints in one query; an endpoint's attempts are read
//!   newest first by sort-key prefix. Replacing an endpoint is a put conditioned on `version`.
//! - A member's derived documents of one kind share a partition, read whole (a member's
//!   contacts or tasks are read together and filtered); each write is conditioned on the
//!   version read (or on absence), so two imports never lose each other's update. A contact's
//!   or company's meetings are items of their own, read by sort-key prefix, so no item grows
//!   with a member's history (an item may not pass 400 KB); a link and the contact counting
//!   it are written in one transaction.
//! - Page cursors are base64 of the JSON key of the last item returned; a cursor is only
//!   accepted for the partition it came from (and the API signs it for its listing and
//!   viewer besides).
//! - Index reads (listings, email lookup) are eventually consistent; reads by key are
//!   strongly consistent.

mod changes;
mod deliveries;
mod derived;
mod endpoints;
mod expiring;
mod items;
mod keys;
mod records;
pub(super) mod table;

pub use table::{table_definition, TableDefinition};

use super::retry::Backoff;
use super::sdk_error;
use crate::ports::{Inserted, InvalidCursor, Page};
use anyhow::{bail, Context, Result};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, Select, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as CURSOR_B64;
use base64::Engine;
use keys::{Key, GSI1, GSI1PK, GSI1SK, GSI2, GSI2PK, GSI2SK, GSI3, GSI3PK, GSI3SK, PK, SK};
use std::collections::{BTreeMap, HashMap};

type Item = HashMap<String, AttributeValue>;

/// The table behind the recording, connection, job, upload, once, lease and counter ports.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

/// A condition or filter expression with its `#name` and `:value` placeholders.
#[derive(Debug, Clone, Default)]
struct Expr {
    text: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    fn new(text: impl Into<String>) -> Self {
        Expr {
            text: text.into(),
            ..Expr::default()
        }
    }

    /// Declares `#attr` as the attribute `attr` (many attribute names are reserved words).
    fn name(mut self, attr: &str) -> Self {
        self.names.insert(format!("#{attr}"), attr.to_owned());
        self
    }

    /// Declares `placeholder` as the attribute `attr`.
    fn alias(mut self, placeholder: &str, attr: &str) -> Self {
        self.names.insert(placeholder.to_owned(), attr.to_owned());
        self
    }

    fn value(mut self, placeholder: &str, value: AttributeValue) -> Self {
        self.values.insert(placeholder.to_owned(), value);
        self
    }

    /// Both expressions, which must use distinct placeholders.
    fn and(self, other: Expr) -> Self {
        self.join("AND", other)
    }

    /// Either expression, which must use distinct placeholders.
    fn or(self, other: Expr) -> Self {
        self.join("OR", other)
    }

    fn join(mut self, operator: &str, other: Expr) -> Self {
        self.text = if self.text.is_empty() {
            other.text
        } else {
            format!("({}) {operator} ({})", self.text, other.text)
        };
        self.names.extend(other.names);
        self.values.extend(other.values);
        self
    }

    /// The expression, or nothing when it is empty (no condition).
    fn expression(&self) -> Option<String> {
        (!self.text.is_empty()).then(|| self.text.clone())
    }

    /// The placeholder maps as the SDK wants them: absent when empty (DynamoDB refuses empty maps).
    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

/// Items of one source.
fn source_filter(source: crate::domain::Source) -> Expr {
    Expr::new(format!("#{} = :source", keys::SOURCE))
        .name(keys::SOURCE)
        .value(":source", keys::text(source.as_str()))
}

/// The table itself or one of its indexes, with the key attributes a query uses there.
#[derive(Debug)]
struct Index {
    name: Option<&'static str>,
    partition_key: &'static str,
    sort_key: &'static str,
}

const TABLE: Index = Index {
    name: None,
    partition_key: PK,
    sort_key: SK,
};
/// By time: a workspace's recordings and connections, a member's jobs and uploads.
const BY_TIME: Index = Index {
    name: Some(GSI1),
    partition_key: GSI1PK,
    sort_key: GSI1SK,
};
/// Collections across users: every live connection (oldest first), every running job (by
/// last save). Both are sparse: an item is in the index only while it belongs there.
const ACROSS_USERS: Index = Index {
    name: Some(GSI2),
    partition_key: GSI2PK,
    sort_key: GSI2SK,
};
/// Connections by source and route key (what app-level events name an account by).
const BY_ROUTE: Index = Index {
    name: Some(GSI3),
    partition_key: GSI3PK,
    sort_key: GSI3SK,
};

impl Index {
    /// What identifies a position in this index: the table's key and the index's own.
    fn position_attributes(&self) -> Vec<&'static str> {
        let mut attrs = vec![PK, SK];
        for attr in [self.partition_key, self.sort_key] {
            if !attrs.contains(&attr) {
                attrs.push(attr);
            }
        }
        attrs
    }
}

/// One partition of the table or an index, optionally narrowed by a sort-key prefix and a filter.
#[derive(Debug)]
struct Query<'a> {
    index: &'a Index,
    partition: String,
    sort_prefix: Option<String>,
    filter: Option<Expr>,
    newest_first: bool,
    /// Read only the sort key of each item (a count by key, say), not the whole item.
    sort_key_only: bool,
}

impl<'a> Query<'a> {
    fn new(index: &'a Index, partition: String) -> Self {
        Query {
            index,
            partition,
            sort_prefix: None,
            filter: None,
            newest_first: false,
            sort_key_only: false,
        }
    }

    fn key_condition(&self) -> Expr {
        let partition = Expr::new("#kp = :kp")
            .value(":kp", keys::text(&self.partition))
            .alias("#kp", self.index.partition_key);
        match &self.sort_prefix {
            None => partition,
            Some(prefix) => partition.and(
                Expr::new("begins_with(#ks, :ks)")
                    .value(":ks", keys::text(prefix))
                    .alias("#ks", self.index.sort_key),
            ),
        }
    }
}

/// How many items a filtered query reads per request when looking for matches.
const FILTERED_READ_BATCH: usize = 100;

/// Why each item of a cancelled transaction failed, in the items' order (`None`: it did not).
fn cancellation_reasons<R>(err: &SdkError<TransactWriteItemsError, R>) -> Vec<Option<&str>> {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
            .cancellation_reasons()
            .iter()
            .map(|r| r.code().filter(|code| *code != "None"))
            .collect(),
        _ => Vec::new(),
    }
}

/// The transaction lost to a concurrent one on the same items: nothing was written, and
/// trying again may succeed.
fn conflicted<R>(err: &SdkError<TransactWriteItemsError, R>, reasons: &[Option<&str>]) -> bool {
    reasons.contains(&Some("TransactionConflict"))
        || err.code() == Some("TransactionInProgressException")
}

fn condition_failed<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.code() == Some("ConditionalCheckFailedException")
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    async fn get_item(&self, key: Key) -> Result<Option<Item>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key.into_item()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("DynamoDB GetItem", e))?;
        Ok(output.item)
    }

    /// Reads the item a pointer item points at.
    async fn get_via_pointer(&self, pointer: Key) -> Result<Option<Item>> {
        let Some(pointer) = self.get_item(pointer).await? else {
            return Ok(None);
        };
        let target = Key::target_of(&pointer).context("a stored pointer item has no target")?;
        self.get_item(target).await
    }

    /// Writes `item` if `condition` holds; `false` when it did not.
    async fn put_item(&self, item: Item, condition: Option<Expr>) -> Result<bool> {
        let condition = condition.unwrap_or_default();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.expression())
            .set_expression_attribute_names(condition.names())
            .set_expression_attribute_values(condition.values())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(sdk_error("DynamoDB PutItem", e)),
        }
    }

    /// Deletes the item if `condition` holds, returning what was there; `None` when the
    /// condition did not hold or nothing was there.
    async fn delete_item(&self, key: Key, condition: Option<Expr>) -> Result<Option<Item>> {
        let condition = condition.unwrap_or_default();
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key.into_item()))
            .set_condition_expression(condition.expression())
            .set_expression_attribute_names(condition.names())
            .set_expression_attribute_values(condition.values())
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => Ok(output.attributes.filter(|item| !item.is_empty())),
            Err(e) if condition_failed(&e) => Ok(None),
            Err(e) => Err(sdk_error("DynamoDB DeleteItem", e)),
        }
    }

    /// Writes all `items` in one transaction if none of their keys is taken. Conflicts with
    /// concurrent transactions on the same items are retried: they mean nothing was written.
    async fn insert_all_if_absent(&self, items: Vec<Item>) -> Result<Inserted> {
        let puts = items
            .into_iter()
            .map(|item| {
                let absent = Expr::new("attribute_not_exists(#pk)").alias("#pk", PK);
                self.conditional_put(item, absent)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(if self.write_all_or_none(puts).await? {
            Inserted::New
        } else {
            Inserted::AlreadyExists
        })
    }

    /// A transactional put of `item` on `condition`.
    fn conditional_put(&self, item: Item, condition: Expr) -> Result<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(&condition.text)
            .set_expression_attribute_names(condition.names())
            .set_expression_attribute_values(condition.values())
            .build()
            .context("building a transactional put")?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A transactional delete of the item at `key` on `condition`.
    fn conditional_delete(&self, key: Key, condition: Expr) -> Result<TransactWriteItem> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key.into_item()))
            .condition_expression(&condition.text)
            .set_expression_attribute_names(condition.names())
            .set_expression_attribute_values(condition.values())
            .build()
            .context("building a transactional delete")?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Commits `writes` in one transaction; `false`, with nothing written, when a condition
    /// of one did not hold. Conflicts with concurrent transactions on the same items are
    /// retried: they mean nothing was written.
    async fn write_all_or_none(&self, writes: Vec<TransactWriteItem>) -> Result<bool> {
        let backoff = Backoff::default();
        for attempt in 0..backoff.max_attempts {
            if attempt > 0 {
                tokio::time::sleep(backoff.delay(attempt - 1)).await;
            }
            let err = match self
                .client
                .transact_write_items()
                .set_transact_items(Some(writes.clone()))
                .send()
                .await
            {
                Ok(_) => return Ok(true),
                Err(err) => err,
            };
            let reasons = cancellation_reasons(&err);
            if reasons.contains(&Some("ConditionalCheckFailed")) {
                return Ok(false);
            }
            if !conflicted(&err, &reasons) {
                return Err(sdk_error("DynamoDB TransactWriteItems", err));
            }
        }
        bail!(
            "DynamoDB TransactWriteItems kept conflicting with other writers after {} attempts",
            backoff.max_attempts
        )
    }

    fn query_request(
        &self,
        query: &Query<'_>,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        let key = query.key_condition();
        let mut expr = key.clone();
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(query.index.name.map(str::to_owned))
            .key_condition_expression(&key.text)
            .consistent_read(query.index.name.is_none())
            .scan_index_forward(!query.newest_first);
        if let Some(filter) = &query.filter {
            request = request.filter_expression(&filter.text);
            expr = expr.and(filter.clone());
        }
        if query.sort_key_only {
            request = request.projection_expression("#sort_key");
            expr = expr.alias("#sort_key", query.index.sort_key);
        }
        request
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
    }

    /// Up to `limit` matching items after `cursor`, with a cursor when more match. Reads one
    /// item past the page so the last page says it is the last.
    async fn query_page(
        &self,
        query: &Query<'_>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Item>> {
        let mut start = cursor.map(|c| self.decode_cursor(query, c)).transpose()?;
        let mut items: Vec<Item> = Vec::new();
        if limit == 0 {
            return Ok(Page {
                items,
                next_cursor: None,
            });
        }
        loop {
            let wanted = limit + 1 - items.len();
            let batch = if query.filter.is_some() {
                wanted.max(FILTERED_READ_BATCH)
            } else {
                wanted
            };
            let output = self
                .query_request(query)
                .limit(i32::try_from(batch).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error("DynamoDB Query", e))?;
            items.extend(output.items.unwrap_or_default());
            start = output.last_evaluated_key.filter(|key| !key.is_empty());
            if items.len() > limit || start.is_none() {
                break;
            }
        }
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items
                .last()
                .map(|last| encode_cursor(query.index, last))
                .transpose()?
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// Every matching item.
    async fn query_all(&self, query: &Query<'_>) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .query_request(query)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error("DynamoDB Query", e))?;
            items.extend(output.items.unwrap_or_default());
            start = output.last_evaluated_key.filter(|key| !key.is_empty());
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    async fn count_items(&self, query: &Query<'_>) -> Result<u64> {
        let mut total = 0u64;
        let mut start = None;
        loop {
            let output = self
                .query_request(query)
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error("DynamoDB Query", e))?;
            total += u64::try_from(output.count).unwrap_or(0);
            start = output.last_evaluated_key.filter(|key| !key.is_empty());
            if start.is_none() {
                return Ok(total);
            }
        }
    }

    /// The start key a cursor stands for, refused unless it lies in the queried partition
    /// (a cursor from elsewhere must not open another user's items).
    fn decode_cursor(&self, query: &Query<'_>, cursor: &str) -> Result<Item> {
        let invalid = || anyhow::Error::new(InvalidCursor);
        let json = CURSOR_B64.decode(cursor).map_err(|_| invalid())?;
        let fields: BTreeMap<String, String> =
            serde_json::from_slice(&json).map_err(|_| invalid())?;
        let attrs = query.index.position_attributes();
        if fields.len() != attrs.len() || attrs.iter().any(|a| !fields.contains_key(*a)) {
            return Err(invalid());
        }
        if fields.get(query.index.partition_key) != Some(&query.partition) {
            return Err(invalid());
        }
        Ok(fields
            .into_iter()
            .map(|(k, v)| (k, AttributeValue::S(v)))
            .collect())
    }
}

fn encode_cursor(index: &Index, item: &Item) -> Result<String> {
    let fields = index
        .position_attributes()
        .into_iter()
        .map(|attr| {
            let value = item
                .get(attr)
                .and_then(|v| v.as_s().ok())
                .with_context(|| format!("a listed item has no `{attr}`"))?;
            Ok((attr, value.as_str()))
        })
        .collect::<Result<BTreeMap<_, _>>>()?;
    Ok(CURSOR_B64.encode(serde_json::to_vec(&fields)?))
}
