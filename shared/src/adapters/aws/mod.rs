//! The AWS backend: DynamoDB (every record port, one table), S3 (blobs), SQS (queues) and
//! Secrets Manager (secrets read once, when first needed).
//!
//! `build` makes every client once per process; a Lambda's `main` calls it before `run`.
//! `create_resources` makes the same table, bucket and queues on an AWS-compatible endpoint
//! for tests and dev tooling; in AWS the SAM template declares them.

mod absent_blobs;
mod dynamo;
/// Creating the resources is for tests, benchmarks and dev tooling (the `testing` feature).
#[cfg(feature = "testing")]
mod provision;
mod resources;
mod retry;
#[cfg(feature = "s3")]
mod s3;
mod secrets;
mod sqs;

pub use absent_blobs::AbsentBlobStore;
pub use dynamo::{table_definition, DynamoStore, TableDefinition};
#[cfg(feature = "testing")]
pub use provision::create_resources;
pub use resources::{ResourceSpec, Resources};
pub use retry::{until_processed, Backoff};
#[cfg(feature = "s3")]
pub use s3::S3BlobStore;
pub use secrets::{load_secrets, secrets_from_json};
pub use sqs::SqsQueue;

use crate::config::{AwsResources, Config};
use crate::ports::BlobStore;
use crate::ports::SystemClock;
use crate::secrets::SharedSecrets;
use crate::services::Services;
use anyhow::{Context, Result};
use aws_sdk_dynamodb::config::{
    BehaviorVersion, Credentials, ProvideCredentials, Region, SharedCredentialsProvider,
};
use aws_types::SdkConfig;
use std::sync::Arc;

/// One client per service, built from one SDK configuration.
#[derive(Debug, Clone)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
}

impl Clients {
    pub fn new(sdk: &SdkConfig) -> Self {
        Clients {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
        }
    }
}

/// Builds the AWS services from the environment's credentials and region, honouring
/// `AWS_ENDPOINT_URL` (`config.aws.endpoint_url`).
pub async fn build(config: Arc<Config>) -> Result<Services> {
    let resources = aws_resources(&config)?;
    let sdk = sdk_config_from_env(resources.endpoint_url.as_deref())?;
    build_with(config, &sdk).await
}

/// The SDK configuration Lambda's environment gives a function: the region (`AWS_REGION`) and
/// its role's credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`),
/// which stay valid for the life of the execution environment. The SDK's default chain
/// (`aws-config`) would also look for profile files, SSO, web identity, container and instance
/// credentials, none of which a function uses, and link them all into every binary.
fn sdk_config_from_env(endpoint_url: Option<&str>) -> Result<SdkConfig> {
    sdk_config_from(endpoint_url, |name| {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    })
}

fn sdk_config_from(
    endpoint_url: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<SdkConfig> {
    let region = env("AWS_REGION")
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .context("configuration: the aws backend needs AWS_REGION (Lambda sets it)")?;
    let required = |name: &str| {
        env(name).with_context(|| {
            format!("configuration: the aws backend needs {name} (Lambda sets it)")
        })
    };
    let credentials = Credentials::new(
        required("AWS_ACCESS_KEY_ID")?,
        required("AWS_SECRET_ACCESS_KEY")?,
        env("AWS_SESSION_TOKEN"),
        None,
        "environment",
    );
    Ok(sdk_config(Region::new(region), credentials, endpoint_url))
}

/// The SDK configuration every client is built from: the region, the credentials, the shared
/// HTTPS client and, for an AWS-compatible endpoint such as moto, its URL. The SDK's own
/// defaults (standard retries, timeouts, the tokio sleep) do the rest.
pub fn sdk_config(
    region: Region,
    credentials: impl ProvideCredentials + 'static,
    endpoint_url: Option<&str>,
) -> SdkConfig {
    let mut sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region)
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(https_client());
    if let Some(url) = endpoint_url {
        sdk = sdk.endpoint_url(url);
    }
    sdk.build()
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
        blobs: blob_store(sdk, resources)?,
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

/// The blobs in the audio bucket, when this build has the S3 adapter (`s3` feature).
#[cfg(feature = "s3")]
fn blob_store(sdk: &SdkConfig, resources: &AwsResources) -> Result<Arc<dyn BlobStore>> {
    Ok(Arc::new(S3BlobStore::new(sdk, &resources.audio_bucket)?))
}

/// A function that never touches blobs is built without the S3 client (a good part of its
/// binary); should a blob operation reach it anyway, it fails, naming what is missing.
#[cfg(not(feature = "s3"))]
fn blob_store(_: &SdkConfig, _: &AwsResources) -> Result<Arc<dyn BlobStore>> {
    Ok(Arc::new(AbsentBlobStore))
}

/// The five roots of Amazon Trust Services, the CA of every AWS service endpoint's
/// certificate (Amazon Root CA 1 to 4 and Starfield Services Root CA G2), all of which AWS
/// recommends a custom trust store holds (amazontrust.com/repository).
const AMAZON_TRUST_SERVICES_ROOTS: &str = include_str!("amazon-trust-services.pem");

/// The SDK's HTTPS client: rustls on ring, the TLS stack and crypto provider reqwest uses too.
///
/// It trusts the roots AWS endpoints chain to, not the host's certificate store: the SDK only
/// talks to AWS, and reading and parsing the host's store (on Debian, a bundle and a directory
/// of some 300 files) was the largest part of a function's cold start. An HTTPS endpoint
/// outside AWS (`AWS_ENDPOINT_URL`) must therefore present an Amazon Trust Services
/// certificate; the local stand-ins (moto) are plain HTTP.
pub fn https_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{
        rustls_provider::CryptoMode, Provider, TlsContext, TrustStore,
    };
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS.as_bytes());
    let tls = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("a TLS context with a trust store and no extra names always builds");
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls)
        .build_https()
}

fn aws_resources(config: &Config) -> Result<&AwsResources> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[tokio::test]
    async fn the_region_and_role_credentials_come_from_lambdas_environment() {
        let sdk = sdk_config_from(
            None,
            env(&[
                ("AWS_REGION", "eu-west-1"),
                ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
                ("AWS_SECRET_ACCESS_KEY", "very-secret-key"),
                ("AWS_SESSION_TOKEN", "session-token"),
            ]),
        )
        .unwrap();
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-1"));
        let credentials = sdk
            .credentials_provider()
            .unwrap()
            .provide_credentials()
            .await
            .unwrap();
        assert_eq!(credentials.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(credentials.secret_access_key(), "very-secret-key");
        assert_eq!(credentials.session_token(), Some("session-token"));
        assert!(!format!("{sdk:?}").contains("very-secret-key"));
    }

    #[test]
    fn the_sdk_trusts_the_five_amazon_trust_services_roots() {
        let roots = AMAZON_TRUST_SERVICES_ROOTS;
        assert_eq!(roots.matches("-----BEGIN CERTIFICATE-----").count(), 5);
        assert_eq!(roots.matches("-----END CERTIFICATE-----").count(), 5);
        // The connector parses the roots when a client is first built from the SDK config,
        // and panics on one that does not parse: build one.
        let sdk = sdk_config(
            Region::new("eu-west-1"),
            Credentials::new("AKID", "secret", None, None, "test"),
            None,
        );
        let _ = aws_sdk_dynamodb::Client::new(&sdk);
    }

    #[test]
    fn a_missing_region_or_key_is_named_at_start() {
        let no_region = sdk_config_from(None, env(&[("AWS_ACCESS_KEY_ID", "AKID")]));
        assert!(format!("{:#}", no_region.unwrap_err()).contains("AWS_REGION"));
        let no_secret = sdk_config_from(
            None,
            env(&[("AWS_REGION", "eu-west-1"), ("AWS_ACCESS_KEY_ID", "AKID")]),
        );
        assert!(format!("{:#}", no_secret.unwrap_err()).contains("AWS_SECRET_ACCESS_KEY"));
    }
}
