//! Blobs in the audio bucket (`AUDIO_BUCKET`).

use super::sdk_error;
use crate::ports::{BlobReader, BlobStore, PresignedUpload};
use anyhow::{Context, Result};
use async_trait::async_trait;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use aws_types::SdkConfig;
use bytes::Bytes;
use chrono::Utc;
use std::collections::BTreeMap;
use std::time::Duration;

/// The S3 client for `sdk`. Browsers cannot compute the CRC checksums the SDK would otherwise
/// sign into presigned URLs, so checksums are only sent where an operation requires them. An
/// explicit endpoint (moto, MinIO) serves buckets by path, not by host name.
pub fn client(sdk: &SdkConfig) -> Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    Client::from_conf(config)
}

#[derive(Debug, Clone)]
pub struct S3BlobStore {
    client: Client,
    bucket: String,
}

impl S3BlobStore {
    /// `client` should come from `client` (through `Clients::new`), which sets the checksum and addressing
    /// options presigned browser uploads need.
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3BlobStore {
            client,
            bucket: bucket.into(),
        }
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| sdk_error("S3 PutObject", e))?;
        Ok(())
    }

    async fn put_file(&self, key: &str, path: &std::path::Path, content_type: &str) -> Result<()> {
        let body = ByteStream::from_path(path)
            .await
            .with_context(|| format!("reading {} for S3", path.display()))?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| sdk_error("S3 PutObject", e))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<BlobReader>> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(output) => Ok(Some(Box::new(output.body.into_async_read()))),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(sdk_error("S3 GetObject", e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| sdk_error("S3 DeleteObject", e))?;
        Ok(())
    }

    /// A PUT URL signed for `content_type`, exactly `content_length` bytes (S3 answers 403
    /// `SignatureDoesNotMatch` to another length) and `If-None-Match: *` (a conditional write:
    /// a second PUT to the key answers 412, so the URL works once).
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        expires_in: Duration,
    ) -> Result<PresignedUpload> {
        let expires_at = Utc::now()
            + chrono::Duration::from_std(expires_in).context("upload expiry is too far away")?;
        let presigning = PresigningConfig::expires_in(expires_in)
            .context("upload expiry is out of S3's range")?;
        let content_length =
            i64::try_from(content_length).context("the upload's length is out of range")?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(content_length)
            .if_none_match("*")
            .presigned(presigning)
            .await
            .map_err(|e| sdk_error("S3 PutObject presigning", e))?;
        // The signed headers the uploader must send, but those a browser sets itself and may
        // not be given: `Host`, and `Content-Length`, which it takes from the body.
        let mut headers: BTreeMap<String, String> = request
            .headers()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
            .filter(|(name, _)| !matches!(name.as_str(), "host" | "content-length"))
            .collect();
        headers.insert("content-type".into(), content_type.to_owned());
        headers.insert("if-none-match".into(), "*".to_owned());
        Ok(PresignedUpload {
            url: request.uri().to_owned(),
            method: "PUT",
            headers,
            expires_at,
        })
    }
}
