//! The table's definition: the one place it is written down, used by `create_resources`
//! (`provision`), and the facts the SAM template must declare.

use super::keys::{
    EXPIRES_AT, GSI1, GSI1PK, GSI1SK, GSI2, GSI2PK, GSI2SK, GSI3, GSI3PK, GSI3SK, PK, SK,
};

/// The table as the template declares it:
///
/// - billing `PAY_PER_REQUEST`; key `PK` (HASH, S), `SK` (RANGE, S);
/// - `GSI1` on `GSI1PK` (HASH, S) / `GSI1SK` (RANGE, S), projection ALL: a user's recordings
///   and jobs by time;
/// - `GSI2` on `GSI2PK` / `GSI2SK` (S, S), projection ALL: every live connection by creation;
/// - `GSI3` on `GSI3PK` / `GSI3SK` (S, S), projection ALL: connections by account email;
/// - time to live on `expires_at` (epoch seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDefinition {
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    /// Index name, its partition key, its sort key; all string keys, projecting all attributes.
    pub indexes: Vec<(&'static str, &'static str, &'static str)>,
    pub ttl_attribute: &'static str,
}

pub fn table_definition() -> TableDefinition {
    TableDefinition {
        partition_key: PK,
        sort_key: SK,
        indexes: vec![
            (GSI1, GSI1PK, GSI1SK),
            (GSI2, GSI2PK, GSI2SK),
            (GSI3, GSI3PK, GSI3SK),
        ],
        ttl_attribute: EXPIRES_AT,
    }
}
