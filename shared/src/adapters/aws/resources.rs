//! Creating the backend's resources on an AWS-compatible endpoint, for tests, benchmarks and
//! dev tooling only: in AWS the SAM template declares them (see `table_definition`). The
//! template's bucket also needs a CORS rule allowing `PUT` with a `Content-Type` header from
//! the app's origin, for presigned browser uploads; moto enforces no CORS, so none is set here.

use super::dynamo::table;
use super::{sdk_error, Clients};
use anyhow::{Context, Result};
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use aws_sdk_sqs::types::QueueAttributeName;

/// What to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceSpec {
    pub table_name: String,
    pub audio_bucket: String,
    pub sync_queue: String,
    pub transcribe_queue: String,
    pub events_queue: String,
    /// Receives after which SQS moves a message to the queue's dead-letter queue
    /// (`<queue>-dlq`).
    pub max_receive_count: u32,
}

impl ResourceSpec {
    /// Resources named after `prefix` (lower-case letters, digits and dashes, as bucket names
    /// require).
    pub fn named(prefix: &str, max_receive_count: u32) -> Self {
        ResourceSpec {
            table_name: format!("{prefix}-table"),
            audio_bucket: format!("{prefix}-audio"),
            sync_queue: format!("{prefix}-sync"),
            transcribe_queue: format!("{prefix}-transcribe"),
            events_queue: format!("{prefix}-events"),
            max_receive_count,
        }
    }
}

/// What was created, as the configuration names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    pub table_name: String,
    pub audio_bucket: String,
    pub sync_queue_url: String,
    pub transcribe_queue_url: String,
    pub events_queue_url: String,
}

impl Resources {
    /// The configuration variables that name these resources (see `Config`).
    pub fn variables(&self) -> [(&'static str, &str); 5] {
        [
            ("TABLE_NAME", &self.table_name),
            ("AUDIO_BUCKET", &self.audio_bucket),
            ("SYNC_QUEUE_URL", &self.sync_queue_url),
            ("TRANSCRIBE_QUEUE_URL", &self.transcribe_queue_url),
            ("EVENTS_QUEUE_URL", &self.events_queue_url),
        ]
    }
}

/// Creates the table (with its indexes and TTL), the bucket, and the queues with their
/// dead-letter queues.
pub async fn create_resources(clients: &Clients, spec: &ResourceSpec) -> Result<Resources> {
    table::create_table(&clients.dynamodb, &spec.table_name).await?;
    create_bucket(&clients.s3, &spec.audio_bucket).await?;
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

async fn create_bucket(client: &aws_sdk_s3::Client, name: &str) -> Result<()> {
    let region = client
        .config()
        .region()
        .map(|r| r.as_ref().to_owned())
        .unwrap_or_default();
    // us-east-1 is the one region that refuses an explicit location constraint.
    let location = (region != "us-east-1" && !region.is_empty()).then(|| {
        CreateBucketConfiguration::builder()
            .location_constraint(BucketLocationConstraint::from(region.as_str()))
            .build()
    });
    client
        .create_bucket()
        .bucket(name)
        .set_create_bucket_configuration(location)
        .send()
        .await
        .map_err(|e| sdk_error("S3 CreateBucket", e))?;
    Ok(())
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
