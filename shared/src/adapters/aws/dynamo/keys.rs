//! Attribute names and key patterns of the table (the design is in the module docs above).

use super::Item;
use crate::domain::{
    ConnectionId, EndpointId, ExternalId, JobId, RecordingId, Source, Tenant, UploadId, WorkspaceId,
};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

pub(super) const PK: &str = "PK";
pub(super) const SK: &str = "SK";
pub(super) const GSI1: &str = "GSI1";
pub(super) const GSI1PK: &str = "GSI1PK";
pub(super) const GSI1SK: &str = "GSI1SK";
pub(super) const GSI2: &str = "GSI2";
pub(super) const GSI2PK: &str = "GSI2PK";
pub(super) const GSI2SK: &str = "GSI2SK";
pub(super) const GSI3: &str = "GSI3";
pub(super) const GSI3PK: &str = "GSI3PK";
pub(super) const GSI3SK: &str = "GSI3SK";

/// The domain object as JSON.
pub(super) const DATA: &str = "data";
/// Lower-cased searchable text of a recording, kept out of `data` so it is stored once.
pub(super) const SEARCH_TEXT: &str = "search_text";
pub(super) const SOURCE: &str = "source";
pub(super) const ID: &str = "id";
pub(super) const VERSION: &str = "version";
/// Time-to-live, epoch seconds: DynamoDB deletes the item some time after it.
pub(super) const EXPIRES_AT: &str = "expires_at";
/// The exact expiry, epoch microseconds, compared with the caller's clock.
pub(super) const EXPIRES_US: &str = "expires_us";
pub(super) const VALUE: &str = "value";
pub(super) const OWNER: &str = "owner";
/// The member (user id) a recording belongs to, and who else reads it.
pub(super) const USER: &str = "user_id";
pub(super) const SHARING: &str = "sharing";
pub(super) const COUNT: &str = "n";
/// Where a pointer item points.
pub(super) const TARGET_PK: &str = "target_pk";
pub(super) const TARGET_SK: &str = "target_sk";

/// The sort-key prefix of a member's connections.
pub(super) const CONNECTIONS_PREFIX: &str = "CONN#";
/// The GSI2 partition of every connection that is not disconnected.
pub(super) const ALL_CONNECTIONS: &str = "CONNS";
/// The GSI2 partition of every job in a worker's hand, by last save (named for running jobs,
/// the first kind it held; the name is in stored items).
pub(super) const RUNNING_JOBS: &str = "RUNNING_JOBS";
/// The partition of delivery attempts no member could be told.
pub(super) const UNOWNED_DELIVERIES: &str = "DELIVERIES#UNOWNED";
/// The sort-key prefix of held items.
pub(super) const HELD_PREFIX: &str = "HELD#";
/// The sort-key prefix of a workspace's outbound webhook endpoints.
pub(super) const ENDPOINT_PREFIX: &str = "EP#";

/// The primary key of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Key {
    pub pk: String,
    pub sk: String,
}

/// The partition holding a member's recordings, connections, jobs, uploads and delivery
/// log. Workspace and user are separated by a space, which neither id can contain, so no two
/// members share a partition.
pub(super) fn member_partition(member: &Tenant) -> String {
    format!("MEMBER#{} {}", member.workspace, member.user)
}

impl Key {
    fn new(pk: String, sk: impl Into<String>) -> Self {
        Key { pk, sk: sk.into() }
    }

    pub fn recording(owner: &Tenant, source: Source, external_id: &ExternalId) -> Self {
        Key::new(
            member_partition(owner),
            format!("{}{external_id}", Key::recordings_of(source)),
        )
    }

    /// The sort-key prefix of a member's recordings from `source`.
    pub fn recordings_of(source: Source) -> String {
        format!("{RECORDINGS_PREFIX}{source}#")
    }

    pub fn recording_pointer(id: &RecordingId) -> Self {
        Key::new(format!("RECID#{id}"), "RECID")
    }

    pub fn connection(owner: &Tenant, source: Source) -> Self {
        Key::new(
            member_partition(owner),
            format!("{CONNECTIONS_PREFIX}{source}"),
        )
    }

    pub fn connection_pointer(id: &ConnectionId) -> Self {
        Key::new(format!("CONNID#{id}"), "CONNID")
    }

    pub fn job(owner: &Tenant, id: &JobId) -> Self {
        Key::new(member_partition(owner), format!("JOB#{id}"))
    }

    pub fn upload(owner: &Tenant, id: &UploadId) -> Self {
        Key::new(member_partition(owner), format!("UPLOAD#{id}"))
    }

    /// One entry of a workspace's activity log.
    pub fn activity(workspace: &WorkspaceId, at: DateTime<Utc>, id: &str) -> Self {
        Key::new(activity_partition(workspace), time_then_id(at, id))
    }

    /// A workspace's change numbered `seq` (zero-padded, so keys sort as numbers).
    pub fn change(workspace: &WorkspaceId, seq: u64) -> Self {
        Key::new(changes_partition(workspace), format!("C#{seq:020}"))
    }

    /// The last number a workspace's change feed gave.
    pub fn change_seq(workspace: &WorkspaceId) -> Self {
        Key::new(changes_partition(workspace), "SEQ")
    }

    pub fn once(key: &str) -> Self {
        Key::new(format!("ONCE#{key}"), "ONCE")
    }

    pub fn lease(name: &str) -> Self {
        Key::new(format!("LEASE#{name}"), "LEASE")
    }

    pub fn counter(name: &str) -> Self {
        Key::new(format!("COUNTER#{name}"), "COUNTER")
    }

    /// One webhook delivery attempt in its owner's log.
    pub fn delivery(
        owner: Option<&Tenant>,
        source: Source,
        received_at: DateTime<Utc>,
        id: &str,
    ) -> Self {
        Key::new(
            delivery_log_partition(owner),
            format!(
                "{}{}",
                Key::deliveries_of(source),
                time_then_id(received_at, id)
            ),
        )
    }

    /// The sort-key prefix of a log's attempts from `source`.
    pub fn deliveries_of(source: Source) -> String {
        format!("DELIVERY#{source}#")
    }

    /// An outbound webhook endpoint of a workspace.
    pub fn endpoint(workspace: &WorkspaceId, id: &EndpointId) -> Self {
        Key::new(
            webhooks_partition(workspace),
            format!("{ENDPOINT_PREFIX}{id}"),
        )
    }

    /// One delivery attempt to an endpoint.
    pub fn endpoint_attempt(
        workspace: &WorkspaceId,
        endpoint: &EndpointId,
        at: DateTime<Utc>,
        id: &str,
    ) -> Self {
        Key::new(
            webhooks_partition(workspace),
            format!("{}{}", Key::attempts_of(endpoint), time_then_id(at, id)),
        )
    }

    /// The sort-key prefix of the attempts to `endpoint`.
    pub fn attempts_of(endpoint: &EndpointId) -> String {
        format!("ATT#{endpoint}#")
    }

    /// A derived document of a member.
    pub fn derived(owner: &Tenant, kind: &str, id: &str) -> Self {
        Key::new(derived_partition(owner, kind), id)
    }

    pub fn held(holder: &str, key: &str) -> Self {
        Key::new(held_partition(holder), format!("{HELD_PREFIX}{key}"))
    }

    pub fn into_item(self) -> Item {
        Item::from([
            (PK.to_owned(), AttributeValue::S(self.pk)),
            (SK.to_owned(), AttributeValue::S(self.sk)),
        ])
    }

    /// An item that only records where another item is (a second way to find it).
    pub fn pointer_to(self, target: &Key) -> Item {
        let mut item = self.into_item();
        item.insert(TARGET_PK.into(), AttributeValue::S(target.pk.clone()));
        item.insert(TARGET_SK.into(), AttributeValue::S(target.sk.clone()));
        item
    }

    /// The key a pointer item points at.
    pub fn target_of(pointer: &Item) -> Option<Key> {
        let text = |name: &str| pointer.get(name).and_then(|v| v.as_s().ok()).cloned();
        Some(Key {
            pk: text(TARGET_PK)?,
            sk: text(TARGET_SK)?,
        })
    }
}

/// Every recording of a workspace, whoever owns it (listings filter what the viewer may read).
pub(super) fn recordings_index_partition(workspace: &WorkspaceId) -> String {
    format!("RECS#{workspace}")
}

/// Every member's connections in a workspace (what its admins list).
pub(super) fn workspace_connections_partition(workspace: &WorkspaceId) -> String {
    format!("WSCONNS#{workspace}")
}

pub(super) fn jobs_index_partition(owner: &Tenant) -> String {
    format!("JOBS#{} {}", owner.workspace, owner.user)
}

pub(super) fn uploads_index_partition(owner: &Tenant) -> String {
    format!("UPLOADS#{} {}", owner.workspace, owner.user)
}

pub(super) fn changes_partition(workspace: &WorkspaceId) -> String {
    format!("CHANGES#{workspace}")
}

pub(super) fn activity_partition(workspace: &WorkspaceId) -> String {
    format!("ACTIVITY#{workspace}")
}

/// The partition of a member's delivery log, or of the attempts no member could be told.
pub(super) fn delivery_log_partition(owner: Option<&Tenant>) -> String {
    owner
        .map(member_partition)
        .unwrap_or_else(|| UNOWNED_DELIVERIES.to_owned())
}

pub(super) fn webhooks_partition(workspace: &WorkspaceId) -> String {
    format!("WEBHOOKS#{workspace}")
}

/// The sort-key prefix of a member's recordings (`REC#{source}#{external_id}`).
pub const RECORDINGS_PREFIX: &str = "REC#";

/// A member's derived documents of one kind (kinds are fixed words without `#`).
pub(super) fn derived_partition(owner: &Tenant, kind: &str) -> String {
    format!("DERIVED#{kind}#{} {}", owner.workspace, owner.user)
}

pub(super) fn held_partition(holder: &str) -> String {
    format!("HELD#{holder}")
}

pub(super) fn route_index_partition(source: Source, route_key: &str) -> String {
    format!("ROUTE#{source}#{route_key}")
}

/// A time as text that sorts in time order: fixed width, UTC, microseconds.
pub(super) fn sortable_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// An index sort key that orders by `time` and stays unique by `id`.
pub(super) fn time_then_id(time: DateTime<Utc>, id: &str) -> String {
    format!("{}#{id}", sortable_time(time))
}

pub(super) fn text(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn number(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The expiry attributes: TTL in whole seconds, rounded up so DynamoDB never deletes an
/// item before it expires, and the exact instant for comparisons.
pub(super) fn expiry(item: &mut Item, expires_at: DateTime<Utc>) {
    item.insert(EXPIRES_AT.into(), number(ttl_seconds(expires_at)));
    item.insert(EXPIRES_US.into(), number(expires_at.timestamp_micros()));
}

/// The TTL attribute's value: epoch seconds, rounded up.
pub(super) fn ttl_seconds(expires_at: DateTime<Utc>) -> i64 {
    expires_at.timestamp() + i64::from(expires_at.timestamp_subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn sortable_times_sort_like_the_times() {
        let early = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        let later = early + chrono::Duration::microseconds(1);
        let much_later = Utc.with_ymd_and_hms(2031, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(sortable_time(early), "2024-01-02T03:04:05.000000Z");
        assert!(sortable_time(early) < sortable_time(later));
        assert!(sortable_time(later) < sortable_time(much_later));
    }

    #[test]
    fn ttl_rounds_up_and_exact_expiry_keeps_microseconds() {
        let mut item = Item::new();
        let at = Utc.timestamp_opt(1_700_000_000, 1_000).unwrap();
        expiry(&mut item, at);
        assert_eq!(item[EXPIRES_AT], number(1_700_000_001));
        assert_eq!(item[EXPIRES_US], number(1_700_000_000_000_001i64));
    }

    #[test]
    fn recording_keys_of_one_source_share_the_prefix() {
        let owner = Tenant::new(
            WorkspaceId::parse("w1").unwrap(),
            crate::domain::UserId::parse("u1").unwrap(),
        );
        let key = Key::recording(&owner, Source::Fathom, &ExternalId::parse("m#1").unwrap());
        assert_eq!(key.pk, "MEMBER#w1 u1");
        assert!(key.sk.starts_with(&Key::recordings_of(Source::Fathom)));
    }

    #[test]
    fn members_never_share_a_partition() {
        // Ids may hold `#`, so a `#` between them would let `a#b`/`c` and `a`/`b#c` meet.
        let member = |w: &str, u: &str| {
            member_partition(&Tenant::new(
                WorkspaceId::parse(w).unwrap(),
                crate::domain::UserId::parse(u).unwrap(),
            ))
        };
        assert_ne!(member("a#b", "c"), member("a", "b#c"));
    }
}
