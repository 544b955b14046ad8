//! A meeting whose transcript must come from its recording: the media is streamed from the
//! provider to a temporary file (never whole in memory) and kept in the blob store until the
//! meeting is imported, then transcribed by the engine uploads use, chunked, as one import.

use crate::connectors::upload::{
    spool_to_temp_file, transcribe_media, MediaError, SpoolError, TranscribeError,
    TranscriptionOptions,
};
use crate::connectors::{Connector, ConnectorError, Credential, Fetched, MediaRef};
use crate::domain::{hex_digest, MeetingContent, Tenant};
use crate::services::Services;
use futures::TryStreamExt;
use tokio_util::io::StreamReader;

/// The meeting's content: as fetched, or with its transcript made from its media.
pub async fn content_of(
    services: &Services,
    connector: &dyn Connector,
    credential: &Credential,
    owner: &Tenant,
    fetched: Fetched,
) -> Result<MeetingContent, ConnectorError> {
    match fetched {
        Fetched::Content(content) => Ok(content),
        Fetched::Media { content, media } => {
            transcribe_recording(services, connector, credential, owner, content, &media).await
        }
    }
}

/// Where a recording's media waits while it is transcribed.
fn media_key(owner: &Tenant, content: &MeetingContent) -> String {
    // The ids may hold `/` or `=`: each hashed into one segment.
    format!(
        "media/{}/{}/{}/{}",
        hex_digest(owner.workspace.as_str().as_bytes()),
        hex_digest(owner.user.as_str().as_bytes()),
        content.source,
        hex_digest(content.external_id.as_str().as_bytes())
    )
}

async fn transcribe_recording(
    services: &Services,
    connector: &dyn Connector,
    credential: &Credential,
    owner: &Tenant,
    mut content: MeetingContent,
    media: &MediaRef,
) -> Result<MeetingContent, ConnectorError> {
    let name = connector.name();
    let unavailable = |reason: String| ConnectorError::Unavailable {
        provider: "storage",
        attempts: 1,
        reason,
    };
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
        SpoolError::Io(e) => ConnectorError::Unavailable {
            provider: name,
            attempts: 1,
            reason: format!("the recording could not be downloaded: {e}"),
        },
    })?;
    let key = media_key(owner, &content);
    services
        .blobs
        .put_file(&key, spooled.path(), "application/octet-stream")
        .await
        .map_err(|e| unavailable(format!("{e:#}")))?;
    let client = services
        .providers()
        .await
        .map_err(|e| unavailable(format!("{e:#}")))?
        .transcribe
        .as_ref()
        .ok_or_else(|| ConnectorError::Permanent(TranscribeError::NotConfigured.to_string()))?;
    let options = TranscriptionOptions {
        parallelism: services.config.transcribe_concurrency,
        ..TranscriptionOptions::default()
    };
    let transcription = transcribe_media(spooled.path(), client, &options, |_, _| {})
        .await
        .map_err(|e| match e {
            MediaError::Transcribe(TranscribeError::GaveUp { .. })
            | MediaError::Io(_)
            | MediaError::Internal(_) => ConnectorError::Unavailable {
                provider: "the transcription service",
                attempts: 1,
                reason: e.to_string(),
            },
            other => ConnectorError::Permanent(format!(
                "the {name} recording could not be transcribed: {other}"
            )),
        })?;
    content.transcript = transcription.segments;
    if content.duration_seconds.is_none() {
        content.duration_seconds = transcription.duration_seconds;
    }
    if let Err(e) = services.blobs.delete(&key).await {
        tracing::warn!(
            key,
            error = format!("{e:#}"),
            "transcribed media not deleted"
        );
    }
    Ok(content)
}
