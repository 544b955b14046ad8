//! Another attempt at an upload, asked for by its user.

use super::messages::UploadMessage;
use crate::domain::{Upload, UploadStatus};
use crate::services::Services;
use anyhow::{Context, Result};

/// Queues a failed upload for another attempt, marked `uploaded` again. When the message cannot
/// be sent the upload is put back as it was and the error returned.
pub async fn retry_failed_upload(services: &Services, failed: Upload) -> Result<Upload> {
    let mut upload = failed.clone();
    upload.status = UploadStatus::Uploaded;
    upload.error = None;
    upload.chunks_done = 0;
    upload.chunks_total = 0;
    upload.updated_at = services.clock.now();
    services.uploads.put(&upload).await?;
    let message = UploadMessage::Transcribe {
        user_id: upload.user_id.clone(),
        upload_id: upload.id.clone(),
    };
    if let Err(e) = services.transcribe_queue.send(&message.to_body()).await {
        services.uploads.put(&failed).await?;
        return Err(e).context("queueing an upload retry");
    }
    Ok(upload)
}
