//! Creating the backend's resources on an AWS-compatible endpoint, for tests, benchmarks and
//! dev tooling only: in AWS the SAM template declares them (see `table_definition`). The
//! template's bucket also needs a CORS rule allowing `PUT` with a `Content-Type` header from
//! the app's origin, for presigned browser uploads; moto enforces no CORS, so none is set here.

use super::dynamo::table_definition;
use super::resources::{ResourceSpec, Resources};
use super::{sdk_error, Clients, S3BlobStore};
use anyhow::{bail, Context, Result};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use aws_types::SdkConfig;

/// Creates the table (with its indexes and TTL), the bucket, and the queues with their
/// dead-letter queues.
pub async fn create_resources(
    sdk: &SdkConfig,
    clients: &Clients,
    spec: &ResourceSpec,
) -> Result<Resources> {
    create_table(&clients.dynamodb, &spec.table_name).await?;
    S3BlobStore::new(sdk, &spec.audio_bucket)?
        .create_bucket()
        .await?;
    Ok(Resources {
        table_name: spec.table_name.clone(),
        audio_bucket: spec.audio_bucket.clone(),
        sync_queue_url: create_queue(&clients.sqs, &spec.sync_queue, spec.max_receive_count)
            .await?,
        transcribe_queue_url: create_queue(
            &clients.sqs,
            &spec.transcribe_queue,
            spec.max_receive_count,
        )
        .await?,
        events_queue_url: create_queue(&clients.sqs, &spec.events_queue, spec.max_receive_count)
            .await?,
    })
}

/// Creates `<name>-dlq`, then `name` redriving to it; returns the queue's URL.
async fn create_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    max_receive_count: u32,
) -> Result<String> {
    let dead_letters = client
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .map_err(|e| sdk_error("SQS CreateQueue", e))?
        .queue_url
        .context("SQS CreateQueue returned no URL")?;
    let arn = client
        .get_queue_attributes()
        .queue_url(&dead_letters)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| sdk_error("SQS GetQueueAttributes", e))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .context("SQS returned no ARN for the dead-letter queue")?;
    let redrive =
        serde_json::json!({ "deadLetterTargetArn": arn, "maxReceiveCount": max_receive_count });
    client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .map_err(|e| sdk_error("SQS CreateQueue", e))?
        .queue_url
        .context("SQS CreateQueue returned no URL")
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
async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) -> Result<()> {
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

async fn wait_until_active(client: &aws_sdk_dynamodb::Client, name: &str) -> Result<()> {
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
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    bail!("table {name} did not become active within a minute")
}
