//! The table's definition: the one place it is written down, used by `create_resources`,
//! and the facts the SAM template must declare.

use super::keys::{
    EXPIRES_AT, GSI1, GSI1PK, GSI1SK, GSI2, GSI2PK, GSI2SK, GSI3, GSI3PK, GSI3SK, PK, SK,
};
use crate::adapters::aws::sdk_error;
use anyhow::{bail, Context, Result};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use std::time::Duration;

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

fn key_schema(partition: &str, sort: &str) -> Result<Vec<KeySchemaElement>> {
    Ok(vec![
        KeySchemaElement::builder()
            .attribute_name(partition)
            .key_type(KeyType::Hash)
            .build()?,
        KeySchemaElement::builder()
            .attribute_name(sort)
            .key_type(KeyType::Range)
            .build()?,
    ])
}

/// Creates the table with its indexes and TTL, and waits until it is active.
pub(crate) async fn create_table(client: &Client, name: &str) -> Result<()> {
    let definition = table_definition();
    let mut key_attributes = vec![definition.partition_key, definition.sort_key];
    let mut indexes = Vec::new();
    for (index, partition, sort) in &definition.indexes {
        key_attributes.extend([*partition, *sort]);
        indexes.push(
            GlobalSecondaryIndex::builder()
                .index_name(*index)
                .set_key_schema(Some(key_schema(partition, sort)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()?,
        );
    }
    let attributes = key_attributes
        .into_iter()
        .map(|attr| {
            AttributeDefinition::builder()
                .attribute_name(attr)
                .attribute_type(ScalarAttributeType::S)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(
            definition.partition_key,
            definition.sort_key,
        )?))
        .set_attribute_definitions(Some(attributes))
        .set_global_secondary_indexes(Some(indexes))
        .send()
        .await
        .map_err(|e| sdk_error("DynamoDB CreateTable", e))?;
    wait_until_active(client, name).await?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(definition.ttl_attribute)
                .build()?,
        )
        .send()
        .await
        .map_err(|e| sdk_error("DynamoDB UpdateTimeToLive", e))?;
    Ok(())
}

async fn wait_until_active(client: &Client, name: &str) -> Result<()> {
    for _ in 0..120 {
        let described = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| sdk_error("DynamoDB DescribeTable", e))?;
        let status = described
            .table
            .and_then(|t| t.table_status)
            .context("DescribeTable returned no status")?;
        if status == TableStatus::Active {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    bail!("table {name} did not become active within a minute")
}
