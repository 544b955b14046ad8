//! The AWS backend: DynamoDB (every record port, one table), S3 (blobs), SQS (queues) and
//! Secrets Manager (secrets read once, when first needed).
//!
//! `build` makes every client once per process; a Lambda's `main` calls it before `run`.
//! `create_resources` makes the same table, bucket and queues on an AWS-compatible endpoint
//! for tests and dev tooling; in AWS the SAM template declares them.

mod dynamo;
mod resources;
mod retry;
mod s3;
mod secrets;
mod sqs;

pub use dynamo::{table_definition, DynamoStore, TableDefinition};
pub use resources::{create_resources, ResourceSpec, Resources};
pub use retry::{until_processed, Backoff};
pub use s3::S3BlobStore;
pub use secrets::{load_secrets, secrets_from_json};
pub use sqs::SqsQueue;

use crate::config::Config;
use crate::ports::SystemClock;
use crate::secrets::SharedSecrets;
use crate::services::Services;
use anyhow::{Context, Result};
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use std::sync::Arc;

/// One client per service, built from one SDK configuration.
#[derive(Debug, Clone)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
}

impl Clients {
    pub fn new(sdk: &SdkConfig) -> Self {
        // Browsers cannot compute the CRC checksums the SDK would otherwise sign into
        // presigned URLs, so checksums are only sent where an operation requires them.
        // An explicit endpoint (moto, MinIO) serves buckets by path, not by host name.
        let s3 = aws_sdk_s3::config::Builder::from(sdk)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .force_path_style(sdk.endpoint_url().is_some())
            .build();
        Clients {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            s3: aws_sdk_s3::Client::from_conf(s3),
            sqs: aws_sdk_sqs::Client::new(sdk),
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
        }
    }
}

/// Builds the AWS services from the environment's credentials and region, honouring
/// `AWS_ENDPOINT_URL` (`config.aws.endpoint_url`).
pub async fn build(config: Arc<Config>) -> Result<Services> {
    let resources = aws_resources(&config)?;
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(https_client());
    if let Some(url) = &resources.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let sdk = loader.load().await;
    build_with(config, &sdk).await
}

/// Builds the AWS services with a given SDK configuration (tests pass fixed credentials).
/// Nothing here calls AWS: the secrets are fetched when a handler first needs them.
pub async fn build_with(config: Arc<Config>, sdk: &SdkConfig) -> Result<Services> {
    let resources = aws_resources(&config)?;
    let clients = Clients::new(sdk);
    let secrets = match resources.secrets_arn.clone() {
        Some(arn) => {
            let client = clients.secrets.clone();
            SharedSecrets::lazy(Box::new(move || {
                let (client, arn) = (client.clone(), arn.clone());
                Box::pin(async move { load_secrets(&client, &arn).await })
            }))
        }
        None => SharedSecrets::lazy(Box::new(|| {
            Box::pin(async {
                anyhow::bail!("configuration: SECRETS_ARN is required by the aws backend")
            })
        })),
    };
    let store = Arc::new(DynamoStore::new(
        clients.dynamodb.clone(),
        &resources.table_name,
    ));
    Ok(Services {
        providers: Arc::default(),
        secrets: Arc::new(secrets),
        clock: Arc::new(SystemClock),
        recordings: store.clone(),
        connections: store.clone(),
        jobs: store.clone(),
        uploads: store.clone(),
        once: store.clone(),
        leases: store.clone(),
        deliveries: store.clone(),
        activity: store.clone(),
        changes: store.clone(),
        endpoints: store.clone(),
        derived: store.clone(),
        counters: store,
        blobs: Arc::new(S3BlobStore::new(
            clients.s3.clone(),
            &resources.audio_bucket,
        )),
        sync_queue: Arc::new(SqsQueue::new(
            clients.sqs.clone(),
            &resources.sync_queue_url,
        )),
        transcribe_queue: Arc::new(SqsQueue::new(
            clients.sqs.clone(),
            &resources.transcribe_queue_url,
        )),
        events_queue: Arc::new(SqsQueue::new(clients.sqs, &resources.events_queue_url)),
        config,
    })
}

/// The SDK's HTTPS client: rustls on ring, the TLS stack and crypto provider reqwest uses too.
pub fn https_client() -> aws_sdk_s3::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

fn aws_resources(config: &Config) -> Result<&crate::config::AwsResources> {
    config
        .aws
        .as_ref()
        .context("configuration: the aws backend needs BACKEND=aws and its resource variables")
}

/// An SDK error as one line with its whole cause chain (the SDK's own `Display` says only
/// "service error").
fn sdk_error(operation: &str, err: impl std::error::Error) -> anyhow::Error {
    anyhow::anyhow!(
        "{operation} failed: {}",
        aws_sdk_dynamodb::error::DisplayErrorContext(err)
    )
}
