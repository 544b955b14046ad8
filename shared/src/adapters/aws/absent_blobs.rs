//! The blob store of a function built without the S3 adapter (the `s3` feature): one that
//! never reads or writes blobs. Every operation fails and says why, so a path that starts
//! needing blobs shows up as a clear error rather than a missing object.

use crate::ports::{BlobReader, BlobStore, PresignedUpload};
use anyhow::{bail, Result};
use async_trait::async_trait;
use bytes::Bytes;
use std::time::Duration;

#[derive(Debug, Default, Clone, Copy)]
pub struct AbsentBlobStore;

impl AbsentBlobStore {
    fn refuse<T>(&self, key: &str) -> Result<T> {
        bail!(
            "blob {key}: this function is built without object storage \
             (the pipeline's `s3` feature)"
        )
    }
}

#[async_trait]
impl BlobStore for AbsentBlobStore {
    async fn put(&self, key: &str, _: Bytes, _: &str) -> Result<()> {
        self.refuse(key)
    }

    async fn put_file(&self, key: &str, _: &std::path::Path, _: &str) -> Result<()> {
        self.refuse(key)
    }

    async fn get(&self, key: &str) -> Result<Option<BlobReader>> {
        self.refuse(key)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.refuse(key)
    }

    async fn presign_put(
        &self,
        key: &str,
        _: &str,
        _: u64,
        _: Duration,
    ) -> Result<PresignedUpload> {
        self.refuse(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_operation_fails_naming_the_missing_feature() {
        let store = AbsentBlobStore;
        let errors = [
            store
                .put("a", Bytes::new(), "text/plain")
                .await
                .unwrap_err(),
            store.get_bytes("b").await.unwrap_err(),
            store.delete("c").await.unwrap_err(),
            store
                .presign_put("d", "audio/wav", 1, Duration::from_secs(1))
                .await
                .unwrap_err(),
        ];
        for (error, key) in errors.iter().zip(["a", "b", "c", "d"]) {
            let message = error.to_string();
            assert!(message.starts_with(&format!("blob {key}:")), "{message}");
            assert!(message.contains("`s3` feature"), "{message}");
        }
    }
}
