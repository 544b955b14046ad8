//! Copies an uploaded object from a stream to a temporary file, hashing it on the way, so the
//! caller can dedup by content and decode from disk without holding the file in memory.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

const COPY_BUFFER_BYTES: usize = 256 * 1024;

/// A temporary copy of an upload; the file is deleted when this is dropped.
#[derive(Debug)]
pub struct SpooledFile {
    file: TempFile,
    /// Lower-case hex SHA-256 of the content.
    pub sha256_hex: String,
    pub size_bytes: u64,
}

impl SpooledFile {
    pub fn path(&self) -> &Path {
        &self.file.0
    }
}

/// A temporary file, deleted when this is dropped, whether or not it was ever written.
#[derive(Debug)]
pub(crate) struct TempFile(PathBuf);

impl TempFile {
    /// A new, unique name in `dir` starting with `prefix`; nothing is created yet.
    pub(crate) fn named_in(dir: &Path, prefix: &str) -> Self {
        TempFile(dir.join(format!("{prefix}-{}", uuid::Uuid::new_v4())))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        // Nothing useful can be done if the file is already gone or cannot be removed.
        let _ = std::fs::remove_file(&self.0);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("could not copy the upload to a temporary file: {0}")]
    Io(#[from] std::io::Error),
    #[error("the upload is larger than the {limit_bytes} bytes allowed")]
    TooLarge { limit_bytes: u64 },
}

/// Streams `reader` into a new temporary file in `dir`, stopping with `TooLarge` as soon as
/// more than `max_bytes` have arrived.
pub async fn spool_to_temp_file(
    mut reader: impl AsyncRead + Unpin,
    dir: &Path,
    max_bytes: u64,
) -> Result<SpooledFile, SpoolError> {
    let temp = TempFile::named_in(dir, "callsync-upload");
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp.0)
        .await?;
    let mut hasher = Sha256::new();
    let mut size_bytes = 0u64;
    let mut buffer = vec![0u8; COPY_BUFFER_BYTES];
    loop {
        let read = reader.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        size_bytes += read as u64;
        if size_bytes > max_bytes {
            return Err(SpoolError::TooLarge {
                limit_bytes: max_bytes,
            });
        }
        hasher.update(&buffer[..read]);
        file.write_all(&buffer[..read]).await?;
    }
    file.flush().await?;
    Ok(SpooledFile {
        file: temp,
        sha256_hex: crate::crypto::hex(&hasher.finalize()),
        size_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn copies_the_stream_and_hashes_it() {
        let dir = tempfile::tempdir().unwrap();
        let content: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let spooled = spool_to_temp_file(&content[..], dir.path(), 2_000_000)
            .await
            .unwrap();
        assert_eq!(std::fs::read(spooled.path()).unwrap(), content);
        assert_eq!(spooled.size_bytes, 1_000_000);
        assert_eq!(
            spooled.sha256_hex,
            crate::crypto::hex(&Sha256::digest(&content))
        );
        let empty = spool_to_temp_file(&b""[..], dir.path(), 10).await.unwrap();
        assert_eq!(
            empty.sha256_hex,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[tokio::test]
    async fn the_file_goes_away_when_dropped_or_too_large() {
        let dir = tempfile::tempdir().unwrap();
        let spooled = spool_to_temp_file(&b"abc"[..], dir.path(), 10)
            .await
            .unwrap();
        let path = spooled.path().to_path_buf();
        drop(spooled);
        assert!(!path.exists());
        let err = spool_to_temp_file(&[7u8; 11][..], dir.path(), 10)
            .await
            .unwrap_err();
        assert!(matches!(err, SpoolError::TooLarge { limit_bytes: 10 }));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
