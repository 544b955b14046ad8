//! Blobs as files under the data directory; small ones (webhook payloads, transcripts) as rows
//! of the database when it is given, so taking in a delivery writes no file, compressed when
//! that makes them smaller. A presigned upload is a dev-server URL carrying an expiry and an
//! HMAC over (key, content type, content length, expiry), checked by `verify_upload_url`;
//! `receive_upload` takes its body, refusing more or fewer bytes than were signed.

use super::db::Db;
use crate::ports::{BlobReader, BlobStore, PresignedUpload};
use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use rusqlite::{params, OptionalExtension};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// The encoding of a small blob stored compressed: LZ4's block format, after its size.
const LZ4: &str = "lz4";
/// The encoding of a small blob stored as it came.
const AS_IS: &str = "";

/// A small blob's body as its row keeps it, and the encoding to read it back with:
/// compressed when that makes it smaller, else as it came. JSON payloads and transcripts
/// shrink by about half, and every byte of a row is written twice (to the log, then to the
/// database), so storing a delivery writes about half as much for some 50 us of compressing
/// off the writer.
fn encode(bytes: Bytes) -> (Bytes, &'static str) {
    let compressed = lz4_flex::compress_prepend_size(&bytes);
    if compressed.len() < bytes.len() {
        (compressed.into(), LZ4)
    } else {
        (bytes, AS_IS)
    }
}

/// A small blob's body from its row (see `encode`).
fn decode(body: Vec<u8>, encoding: &str) -> Result<Vec<u8>> {
    match encoding {
        AS_IS => Ok(body),
        LZ4 => {
            let (size, compressed) = lz4_flex::block::uncompressed_size(&body)?;
            if size > SMALL_BLOB_MAX {
                bail!("the stored blob claims {size} bytes, more than a small blob has");
            }
            Ok(lz4_flex::block::decompress(compressed, size)?)
        }
        other => bail!("the stored blob has an unknown encoding `{other}`"),
    }
}

/// Path of the dev-server route that receives presigned local uploads.
pub const UPLOAD_ROUTE: &str = "/_local/blobs/";

/// The largest blob kept in the database rather than in a file.
pub const SMALL_BLOB_MAX: usize = 256 * 1024;

#[derive(Clone)]
pub struct LocalBlobs {
    root: PathBuf,
    public_base_url: Url,
    url_key: Vec<u8>,
    /// Where blobs of at most `SMALL_BLOB_MAX` bytes put whole are kept, when given.
    small: Option<Db>,
}

impl LocalBlobs {
    pub fn new(root: PathBuf, public_base_url: Url, url_key: Vec<u8>) -> Self {
        Self {
            root,
            public_base_url,
            url_key,
            small: None,
        }
    }

    /// Keeps small blobs in `db` (one row each) instead of one file each.
    pub fn with_small_blobs_in(mut self, db: Db) -> Self {
        self.small = Some(db);
        self
    }

    /// The small blob `key`, when the database holds it.
    async fn small_blob(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let Some(db) = &self.small else {
            return Ok(None);
        };
        let key = key.to_owned();
        db.read(move |c| {
            let row: Option<(Vec<u8>, String)> = c
                .prepare_cached("SELECT body, encoding FROM small_blobs WHERE key = ?1")?
                .query_row(params![key], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            row.map(|(body, encoding)| {
                decode(body, &encoding).with_context(|| format!("reading blob {key}"))
            })
            .transpose()
        })
        .await
    }

    /// Whether the database holds the small blob `key`, without reading it.
    async fn small_blob_exists(&self, key: &str) -> Result<bool> {
        let Some(db) = &self.small else {
            return Ok(false);
        };
        let key = key.to_owned();
        db.read(move |c| {
            Ok(
                c.prepare_cached("SELECT 1 FROM small_blobs WHERE key = ?1")?
                    .exists(params![key])?,
            )
        })
        .await
    }

    /// Maps a key to a file below the root, refusing anything that could escape it.
    fn path(&self, key: &str) -> Result<PathBuf> {
        let safe = !key.is_empty()
            && key.split('/').all(|part| {
                !part.is_empty() && part != "." && part != ".." && !part.contains('\\')
            });
        if !safe {
            bail!("blob key `{key}` is not a safe relative path");
        }
        Ok(self.root.join(key))
    }

    /// Streams a body into the blob `key` without holding it in memory; returns its size.
    pub async fn put_stream<S>(&self, key: &str, mut stream: S) -> Result<u64>
    where
        S: futures::Stream<Item = std::io::Result<Bytes>> + Unpin + Send,
    {
        use futures::StreamExt;
        use tokio::io::AsyncWriteExt;
        let path = self.path(key)?;
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let tmp = path.with_extension(format!("partial-{}", uuid::Uuid::new_v4().simple()));
        let mut file = tokio::fs::File::create(&tmp).await?;
        let mut size = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.with_context(|| format!("receiving blob {key}"))?;
            size += chunk.len() as u64;
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        tokio::fs::rename(&tmp, &path).await?;
        Ok(size)
    }

    /// Whether the blob `key` is stored.
    pub async fn exists(&self, key: &str) -> Result<bool> {
        Ok(self.small_blob_exists(key).await? || tokio::fs::try_exists(self.path(key)?).await?)
    }

    /// Streams a presigned upload's body to a temporary file beside the blob `key`, reading no
    /// further than `length` bytes: a longer body stops at the first byte too many, a shorter
    /// one is refused when it ends. Nothing is stored until the returned blob is committed.
    pub async fn receive_upload<S>(
        &self,
        key: &str,
        mut stream: S,
        length: u64,
    ) -> Result<ReceivedBlob, ReceiveError>
    where
        S: futures::Stream<Item = std::io::Result<Bytes>> + Unpin + Send,
    {
        use futures::StreamExt;
        use tokio::io::AsyncWriteExt;
        let path = self.path(key)?;
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .with_context(|| format!("creating the folder of blob {key}"))?;
        }
        let mut received = ReceivedBlob {
            tmp: path.with_extension(format!("partial-{}", uuid::Uuid::new_v4().simple())),
            path,
            size: 0,
        };
        let mut file = tokio::fs::File::create(&received.tmp)
            .await
            .with_context(|| format!("creating a file for blob {key}"))?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(ReceiveError::Interrupted)?;
            received.size += chunk.len() as u64;
            if received.size > length {
                return Err(ReceiveError::TooLong { length });
            }
            file.write_all(&chunk)
                .await
                .with_context(|| format!("writing blob {key}"))?;
        }
        file.flush().await.context("flushing an upload")?;
        if received.size < length {
            return Err(ReceiveError::TooShort {
                received: received.size,
                length,
            });
        }
        Ok(received)
    }

    fn signature(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        expires: i64,
    ) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.url_key).expect("HMAC takes keys of any length");
        mac.update(format!("{key}\n{content_type}\n{content_length}\n{expires}").as_bytes());
        B64.encode(mac.finalize().into_bytes())
    }

    /// Checks a presigned upload's query values; `Ok(())` when the URL is genuine and unexpired.
    pub fn verify_upload_url(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        expires: i64,
        signature: &str,
        now: DateTime<Utc>,
    ) -> Result<(), UploadUrlError> {
        let expected = self.signature(key, content_type, content_length, expires);
        let genuine: bool =
            subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), signature.as_bytes()).into();
        if !genuine {
            return Err(UploadUrlError::BadSignature);
        }
        if now.timestamp() > expires {
            return Err(UploadUrlError::Expired);
        }
        Ok(())
    }
}

/// A presigned upload's body, received whole and not yet stored; dropped uncommitted, it is
/// removed.
#[derive(Debug)]
pub struct ReceivedBlob {
    tmp: PathBuf,
    path: PathBuf,
    pub size: u64,
}

impl ReceivedBlob {
    /// Stores the blob; `false`, storing nothing, when a blob is already stored under its key.
    pub async fn commit_new(self) -> Result<bool> {
        // A hard link, unlike a rename, never replaces what is there.
        match tokio::fs::hard_link(&self.tmp, &self.path).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e).context("storing an upload"),
        }
    }
}

impl Drop for ReceivedBlob {
    fn drop(&mut self) {
        // Nothing useful can be done if the temporary file cannot be removed.
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// Why a presigned upload's body was not received.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("the body is longer than the {length} bytes the upload URL was signed for")]
    TooLong { length: u64 },
    #[error("the body ended after {received} of the {length} bytes the upload URL was signed for")]
    TooShort { received: u64, length: u64 },
    #[error("the body could not be read: {0}")]
    Interrupted(std::io::Error),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UploadUrlError {
    #[error("the upload URL's signature does not match")]
    BadSignature,
    #[error("the upload URL has expired; start the upload again")]
    Expired,
}

#[async_trait]
impl BlobStore for LocalBlobs {
    async fn put(&self, key: &str, bytes: Bytes, _content_type: &str) -> Result<()> {
        let path = self.path(key)?;
        let key = key.to_owned();
        if let Some(db) = self
            .small
            .as_ref()
            .filter(|_| bytes.len() <= SMALL_BLOB_MAX)
        {
            let (body, encoding) = encode(bytes);
            return db
                .call(move |c| {
                    c.prepare_cached(
                        "INSERT INTO small_blobs (key, body, encoding) VALUES (?1, ?2, ?3)
                         ON CONFLICT (key) DO UPDATE
                         SET body = excluded.body, encoding = excluded.encoding",
                    )?
                    .execute(params![key, body.as_ref(), encoding])?;
                    Ok(())
                })
                .await;
        }
        // One trip to the blocking pool for the three steps (a webhook payload is small).
        tokio::task::spawn_blocking(move || {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            // Write then rename, so a reader never sees half a blob.
            let tmp = path.with_extension(format!("partial-{}", uuid::Uuid::new_v4().simple()));
            std::fs::write(&tmp, &bytes).with_context(|| format!("writing blob {key}"))?;
            std::fs::rename(&tmp, &path)?;
            Ok(())
        })
        .await
        .context("local blob task failed")?
    }

    async fn put_file(&self, key: &str, path: &std::path::Path, _content_type: &str) -> Result<()> {
        let target = self.path(key)?;
        if let Some(dir) = target.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let tmp = target.with_extension(format!("partial-{}", uuid::Uuid::new_v4().simple()));
        tokio::fs::copy(path, &tmp)
            .await
            .with_context(|| format!("writing blob {key}"))?;
        tokio::fs::rename(&tmp, &target).await?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<BlobReader>> {
        if let Some(bytes) = self.small_blob(key).await? {
            return Ok(Some(Box::new(std::io::Cursor::new(bytes))));
        }
        match tokio::fs::File::open(self.path(key)?).await {
            Ok(file) => Ok(Some(Box::new(file))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading blob {key}")),
        }
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        if let Some(db) = &self.small {
            let key = key.to_owned();
            db.call(move |c| {
                c.prepare_cached("DELETE FROM small_blobs WHERE key = ?1")?
                    .execute(params![key])?;
                Ok(())
            })
            .await?;
        }
        match tokio::fs::remove_file(path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("deleting blob {key}")),
        }
    }

    /// A dev-server URL signed for the key, the content type and length, and the expiry; the
    /// dev server takes one body for it (see `receive_upload`).
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        expires_in: Duration,
    ) -> Result<PresignedUpload> {
        self.path(key)?;
        let expires_at = Utc::now() + chrono::Duration::from_std(expires_in)?;
        let expires = expires_at.timestamp();
        let mut url = self.public_base_url.join(&format!(
            "{}{}",
            UPLOAD_ROUTE.trim_start_matches('/'),
            key
        ))?;
        url.query_pairs_mut()
            .append_pair("content_type", content_type)
            .append_pair("content_length", &content_length.to_string())
            .append_pair("expires", &expires.to_string())
            .append_pair(
                "signature",
                &self.signature(key, content_type, content_length, expires),
            );
        // As S3's: the uploader sends the signed type, and may send the condition the dev
        // server applies anyway.
        let headers = BTreeMap::from([
            ("content-type".to_owned(), content_type.to_owned()),
            ("if-none-match".to_owned(), "*".to_owned()),
        ]);
        Ok(PresignedUpload {
            url: url.to_string(),
            method: "PUT",
            headers,
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs_in(dir: &std::path::Path) -> (LocalBlobs, Db) {
        let db = Db::open(&dir.join("callsync.db")).unwrap();
        let base = Url::parse("http://127.0.0.1:1/").unwrap();
        let blobs = LocalBlobs::new(dir.join("blobs"), base, b"key".to_vec())
            .with_small_blobs_in(db.clone());
        (blobs, db)
    }

    async fn stored_bytes(db: &Db, key: &str) -> usize {
        let key = key.to_owned();
        db.read(move |c| {
            Ok(c.query_row(
                "SELECT length(body) FROM small_blobs WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap()
    }

    async fn put_and_read_back(blobs: &LocalBlobs, key: &str, bytes: &[u8]) {
        let body = Bytes::copy_from_slice(bytes);
        blobs.put(key, body, "application/json").await.unwrap();
        assert_eq!(
            blobs.get_bytes(key).await.unwrap().as_deref(),
            Some(bytes),
            "{key}"
        );
    }

    #[tokio::test]
    async fn a_json_payload_is_stored_in_less_space_and_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let (blobs, db) = blobs_in(dir.path());
        let utterances: Vec<_> = (0..400)
            .map(|n| {
                serde_json::json!({
                    "speaker": {"display_name": "Ada Lovelace"},
                    "text": format!("Item {n}: the renewal moves to the {n}th of the month."),
                    "timestamp": format!("00:{:02}:{:02}", n / 60, n % 60),
                })
            })
            .collect();
        let payload = serde_json::to_vec(&serde_json::json!({ "transcript": utterances })).unwrap();
        put_and_read_back(&blobs, "webhooks/a.json", &payload).await;
        let stored = stored_bytes(&db, "webhooks/a.json").await;
        assert!(
            stored * 2 < payload.len(),
            "{stored} of {} bytes",
            payload.len()
        );
    }

    #[tokio::test]
    async fn bytes_that_do_not_compress_and_rows_written_before_compression_read_back_as_they_are()
    {
        let dir = tempfile::tempdir().unwrap();
        let (blobs, db) = blobs_in(dir.path());
        let mut noise = vec![0u8; 4096];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut noise);
        put_and_read_back(&blobs, "media/noise.bin", &noise).await;
        assert_eq!(stored_bytes(&db, "media/noise.bin").await, noise.len());
        // A row as the store wrote it before it compressed: the body alone.
        db.call(|c| {
            c.execute(
                "INSERT INTO small_blobs (key, body) VALUES ('webhooks/old.json', ?1)",
                params![b"{\"old\":true}".as_slice()],
            )?;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(
            blobs.get_bytes("webhooks/old.json").await.unwrap(),
            Some(b"{\"old\":true}".to_vec())
        );
    }

    #[tokio::test]
    async fn blobs_stored_before_the_table_was_keyed_by_key_alone_are_kept() {
        // The version before the migration that keyed the table by key.
        const BEFORE_KEYED_BLOBS: usize = 8;
        let dir = tempfile::tempdir().unwrap();
        {
            // The database as that version left it, with a blob in it as the store wrote them
            // then: the body alone.
            let c = super::super::db::database_at_version(
                &dir.path().join("callsync.db"),
                BEFORE_KEYED_BLOBS,
            );
            c.execute(
                "INSERT INTO small_blobs (key, body) VALUES ('webhooks/k.json', ?1)",
                params!["{\"kept\":true}".repeat(50).as_bytes()],
            )
            .unwrap();
        }
        let (blobs, _db) = blobs_in(dir.path());
        assert_eq!(
            blobs.get_bytes("webhooks/k.json").await.unwrap(),
            Some("{\"kept\":true}".repeat(50).into_bytes())
        );
    }

    #[tokio::test]
    async fn a_damaged_compressed_row_is_an_error_naming_the_blob() {
        let dir = tempfile::tempdir().unwrap();
        let (blobs, db) = blobs_in(dir.path());
        let payload = "{\"text\":\"again and again\"}".repeat(100);
        blobs
            .put("webhooks/b.json", payload.into(), "application/json")
            .await
            .unwrap();
        db.call(|c| {
            c.execute(
                "UPDATE small_blobs SET body = substr(body, 1, 12) WHERE key = 'webhooks/b.json'",
                [],
            )?;
            Ok(())
        })
        .await
        .unwrap();
        let error = blobs.get_bytes("webhooks/b.json").await.unwrap_err();
        assert!(
            format!("{error:#}").contains("webhooks/b.json"),
            "{error:#}"
        );
    }
}
