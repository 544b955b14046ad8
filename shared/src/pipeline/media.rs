//! A meeting whose transcript must come from its recording. The media is streamed from the
//! provider to a temporary file (never whole in memory), stored, and handed to the transcribe
//! queue as an upload that carries the meeting: the upload consumer transcribes it as it does
//! any upload (chunked, with progress, scheduled retries, and a retry the member can ask for)
//! and imports the meeting with its transcript under the provider's key. The job that found
//! the meeting counts it as `transcribing`.
//!
//! Handing it off keeps a long transcription out of a sync's page loop and its invocation
//! deadline, and the audio engine out of the sync consumer.

use super::upload_import::{attempt_message, quota_exhausted};
use crate::connectors::upload::{spool_to_temp_file, SpoolError};
use crate::connectors::{Connector, ConnectorError, Credential, Fetched, MediaRef};
use crate::domain::{
    hex_digest, Attempt, ExternalId, MeetingContent, RecordedMeeting, Sharing, Source, Tenant,
    Upload, UploadId, UploadStatus,
};
use crate::services::Services;
use crate::views::load_transcript;
use futures::TryStreamExt;
use tokio_util::io::StreamReader;

/// What a fetched meeting needs before it can be imported.
#[derive(Debug)]
pub enum Prepared {
    /// Nothing: here is its content.
    Content(Box<MeetingContent>),
    /// Its recording is being transcribed; the upload imports it when done.
    Transcribing,
    /// Its recording file was transcribed already, and the meeting it became is no longer
    /// stored.
    Transcribed,
    /// The monthly import limit is reached: left for later, before anything is downloaded.
    LimitReached {
        external_id: ExternalId,
        title: String,
    },
}

/// The meeting as fetched, or its recording handed to transcription. `fingerprint` is the
/// provider's version of the meeting, kept with the recording it becomes.
pub async fn prepare(
    services: &Services,
    connector: &dyn Connector,
    credential: &Credential,
    owner: &Tenant,
    sharing: Sharing,
    fetched: Fetched,
    fingerprint: Option<&str>,
) -> Result<Prepared, ConnectorError> {
    let (content, media) = match fetched {
        Fetched::Content(content) => return Ok(Prepared::Content(Box::new(content))),
        Fetched::Media { content, media } => (content, media),
    };
    let recorded = RecordedMeeting {
        content,
        fingerprint: fingerprint.map(str::to_owned),
    };
    let id = upload_id(owner, &recorded.content, &media);
    if let Some(upload) = services.uploads.get(owner, &id).await.map_err(storage)? {
        return already_handed_off(services, &upload, owner, recorded.content).await;
    }
    // The limit is enforced again when the meeting is stored; checked here so that a meeting
    // that cannot be stored now is left for the sync after the limit resets, not downloaded.
    if quota_exhausted(services, &owner.workspace)
        .await
        .map_err(storage)?
        .is_some()
    {
        let content = recorded.content;
        return Ok(Prepared::LimitReached {
            external_id: content.external_id,
            title: content.title,
        });
    }
    let key = media_key(owner, recorded.content.source, &id);
    let mut upload = Upload::pending(
        id,
        owner.clone(),
        format!(
            "{} ({} recording)",
            recorded.content.title,
            connector.name()
        ),
        "application/octet-stream".into(),
        0,
        key,
        services.clock.now(),
    );
    upload.size_bytes = store_media(services, connector, credential, &media, &upload).await?;
    upload.sharing = sharing;
    upload.status = UploadStatus::Uploaded;
    upload.meeting = Some(Box::new(recorded));
    services.uploads.put(&upload).await.map_err(storage)?;
    send_first_attempt(services, &upload).await?;
    tracing::info!(upload = %upload.id, source = %connector.source(), "recording handed to transcription");
    Ok(Prepared::Transcribing)
}

/// The same recording file of the meeting was handed off before: its upload tells what
/// became of it. An unfinished one is announced again, which does nothing if it is under way
/// (its claim or a later attempt wins) and starts it if the first announcement was lost.
async fn already_handed_off(
    services: &Services,
    upload: &Upload,
    owner: &Tenant,
    content: MeetingContent,
) -> Result<Prepared, ConnectorError> {
    match upload.status {
        UploadStatus::Completed | UploadStatus::Duplicate => {
            with_stored_transcript(services, owner, content).await
        }
        UploadStatus::Failed => Err(ConnectorError::Permanent(format!(
            "its recording could not be transcribed: {}; retry it among the uploads",
            upload.error.as_deref().unwrap_or("no reason recorded")
        ))),
        UploadStatus::Pending | UploadStatus::Uploaded | UploadStatus::Transcribing => {
            send_first_attempt(services, upload).await?;
            Ok(Prepared::Transcribing)
        }
    }
}

/// A meeting whose recording file was transcribed already: its details as fetched now, with
/// the transcript it was stored with. Importing that is unchanged when nothing changed, and
/// applies new details (a new title) without transcribing again. `Transcribed` when the
/// meeting is no longer stored.
async fn with_stored_transcript(
    services: &Services,
    owner: &Tenant,
    mut content: MeetingContent,
) -> Result<Prepared, ConnectorError> {
    let Some(stored) = services
        .recordings
        .find_by_key(owner, content.source, &content.external_id)
        .await
        .map_err(storage)?
    else {
        return Ok(Prepared::Transcribed);
    };
    content.transcript = load_transcript(services, &stored.transcript)
        .await
        .map_err(storage)?;
    // As the import after transcription completed it.
    content.duration_seconds = content.duration_seconds.or(stored.duration_seconds);
    Ok(Prepared::Content(Box::new(content)))
}

async fn send_first_attempt(services: &Services, upload: &Upload) -> Result<(), ConnectorError> {
    services
        .transcribe_queue
        .send(&attempt_message(upload, Attempt::FIRST).to_body())
        .await
        .map_err(|e| unavailable("the transcribe queue", format!("{e:#}")))
}

/// Our own store failed: worth another try later.
fn storage(e: anyhow::Error) -> ConnectorError {
    unavailable("storage", format!("{e:#}"))
}

/// A failure worth another try later: the message is retried.
fn unavailable(provider: &'static str, reason: String) -> ConnectorError {
    ConnectorError::Unavailable {
        provider,
        attempts: 1,
        reason,
    }
}

/// Streams the recording into the blob store at the upload's key; its size in bytes.
async fn store_media(
    services: &Services,
    connector: &dyn Connector,
    credential: &Credential,
    media: &MediaRef,
    upload: &Upload,
) -> Result<u64, ConnectorError> {
    let name = connector.name();
    let stream = connector.download(credential, media).await?;
    let reader = StreamReader::new(stream.map_err(std::io::Error::other));
    let spooled = spool_to_temp_file(
        reader,
        &std::env::temp_dir(),
        services.config.max_upload_bytes,
    )
    .await
    .map_err(|e| match e {
        SpoolError::TooLarge { limit_bytes } => ConnectorError::Permanent(format!(
            "the {name} recording is larger than the {:.0} MB accepted",
            limit_bytes as f64 / 1e6
        )),
        SpoolError::Io(e) => {
            unavailable(name, format!("the recording could not be downloaded: {e}"))
        }
    })?;
    services
        .blobs
        .put_file(&upload.object_key, spooled.path(), &upload.content_type)
        .await
        .map_err(storage)?;
    Ok(spooled.size_bytes)
}

/// One upload per recording file of a member's meeting, so finding it again (a redelivered
/// message, the next sync, a webhook for it) finds the same upload instead of transcribing
/// twice. Keyed by the file, not by the listing's fingerprint, which a webhook event lacks:
/// a meeting imported from its event and then met by a sync is transcribed once.
fn upload_id(owner: &Tenant, content: &MeetingContent, media: &MediaRef) -> UploadId {
    let name = format!(
        "recording:{} {}:{}:{}:{}",
        owner.workspace, owner.user, content.source, content.external_id, media.file_version
    );
    UploadId::derived_from(&name)
}

/// Where a recording's media waits while it is transcribed: outside the staged uploads'
/// prefix, which the bucket announces on the transcribe queue by itself. The member's ids may
/// hold `/` or `=`: each is hashed into one segment.
fn media_key(owner: &Tenant, source: Source, upload: &UploadId) -> String {
    format!(
        "media/{}/{}/{source}/{upload}",
        hex_digest(owner.workspace.as_str().as_bytes()),
        hex_digest(owner.user.as_str().as_bytes()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;

    fn meeting(external_id: &str) -> MeetingContent {
        let mut content = crate::testing::meeting(Source::Upload, external_id, "Weekly sync", 30);
        content.transcript.clear();
        content
    }

    fn file(version: &str) -> MediaRef {
        MediaRef {
            entry: serde_json::Value::Null,
            size_bytes: None,
            file_version: version.into(),
        }
    }

    #[test]
    fn each_recording_file_of_a_members_meeting_has_one_upload() {
        let alice = Tenant::personal(UserId::parse("alice").unwrap());
        let bob = Tenant::personal(UserId::parse("bob").unwrap());
        let m1 = meeting("m/1==");
        let id = upload_id(&alice, &m1, &file("f1"));
        assert_eq!(id, upload_id(&alice, &m1.clone(), &file("f1")));
        // However the meeting was found: its title as a listing or an event shows it.
        let mut retitled = m1.clone();
        retitled.title = "Weekly sync (renamed)".into();
        assert_eq!(id, upload_id(&alice, &retitled, &file("f1")));
        assert_ne!(id, upload_id(&bob, &m1, &file("f1")));
        assert_ne!(id, upload_id(&alice, &m1, &file("f2")));
        assert_ne!(id, upload_id(&alice, &meeting("m/2=="), &file("f1")));
        let key = media_key(&alice, m1.source, &id);
        assert!(key.starts_with("media/") && !key.contains("m/1"), "{key}");
    }
}
