//! What announces an upload on the transcribe queue: S3's notification of the new object, or
//! our own message (a retry).

use super::keys::{decode_s3_key, staged_upload, StagedUpload};
use crate::domain::{Attempt, Tenant, UploadId, UserId, WorkspaceId};
use aws_lambda_events::event::s3::S3Event;
use serde::{Deserialize, Serialize};

/// Our own message on the transcribe queue, beside S3's notifications.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UploadMessage {
    /// Transcribe an upload whose file is already staged: a retry the consumer scheduled after
    /// a transient failure, or one the user asked for. A message without an attempt (queued
    /// before attempts were numbered) asks for the first; one without a workspace (queued
    /// before workspaces) is for an upload in the personal workspace.
    Transcribe {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        workspace_id: Option<WorkspaceId>,
        user_id: UserId,
        upload_id: UploadId,
        #[serde(default = "first_attempt")]
        attempt: Attempt,
    },
}

fn first_attempt() -> Attempt {
    Attempt::FIRST
}

/// An upload a message announces, and the attempt at it the message is for (S3's
/// notification of the file's arrival is for the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announced {
    pub upload: StagedUpload,
    pub attempt: Attempt,
}

impl UploadMessage {
    pub fn to_body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("not a transcribe queue message: {0}")]
pub struct UnreadableMessage(String);

/// The uploads a transcribe-queue message announces. Events other than object creation, keys
/// outside the staged uploads, and S3's test event announce none.
pub fn uploads_in_message(body: &str) -> Result<Vec<Announced>, UnreadableMessage> {
    let unreadable = |e: serde_json::Error| UnreadableMessage(e.to_string());
    let value: serde_json::Value = serde_json::from_str(body).map_err(unreadable)?;
    if value.get("Records").is_some() {
        let notification: S3Event = serde_json::from_value(value).map_err(unreadable)?;
        let created = notification.records.into_iter().filter(|r| {
            r.event_name
                .as_deref()
                .is_some_and(|name| name.starts_with("ObjectCreated:"))
        });
        let mut uploads = Vec::new();
        for record in created {
            let key = record.s3.object.key.unwrap_or_default();
            match decode_s3_key(&key).and_then(|key| staged_upload(&key)) {
                Some(upload) => uploads.push(Announced {
                    upload,
                    attempt: Attempt::FIRST,
                }),
                None => tracing::warn!(key, "not a staged upload; ignored"),
            }
        }
        return Ok(uploads);
    }
    if value.get("Event").and_then(serde_json::Value::as_str) == Some("s3:TestEvent") {
        return Ok(Vec::new());
    }
    match serde_json::from_value(value).map_err(unreadable)? {
        UploadMessage::Transcribe {
            workspace_id,
            user_id,
            upload_id,
            attempt,
        } => Ok(vec![Announced {
            upload: StagedUpload {
                owner: Tenant::named(workspace_id, user_id),
                upload_id,
            },
            attempt,
        }]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::upload_import::staged_key;

    fn user(raw: &str) -> UserId {
        UserId::parse(raw).unwrap()
    }

    fn member() -> Tenant {
        Tenant::new(WorkspaceId::parse("acme").unwrap(), user("auth0|x"))
    }

    /// An S3 notification record as AWS sends it.
    fn record(event_name: &str, key: &str) -> serde_json::Value {
        serde_json::json!({
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": "2026-01-05T09:00:00.000Z",
            "eventName": event_name,
            "userIdentity": {"principalId": "AWS:AROAEXAMPLE"},
            "requestParameters": {"sourceIPAddress": "203.0.113.7"},
            "responseElements": {},
            "s3": {
                "s3SchemaVersion": "1.0",
                "bucket": {"name": "audio", "arn": "arn:aws:s3:::audio"},
                "object": {"key": key, "size": 10}
            }
        })
    }

    #[test]
    fn messages_announce_uploads_from_s3_notifications_and_retries() {
        let id = UploadId::new();
        let key = staged_key(&member(), &id, "call.mp3");
        let notification = serde_json::json!({"Records": [
            record("ObjectCreated:Put", &key),
            record("ObjectRemoved:Delete", &key),
            record("ObjectCreated:Put", "transcripts/x.json"),
        ]});
        let staged = StagedUpload {
            owner: member(),
            upload_id: id.clone(),
        };
        assert_eq!(
            uploads_in_message(&notification.to_string()).unwrap(),
            vec![Announced {
                upload: staged.clone(),
                attempt: Attempt::FIRST
            }]
        );

        let third = Attempt {
            round: 1,
            number: 3,
        };
        let retry = UploadMessage::Transcribe {
            workspace_id: Some(member().workspace),
            user_id: user("auth0|x"),
            upload_id: id.clone(),
            attempt: third,
        }
        .to_body();
        assert_eq!(
            uploads_in_message(&retry).unwrap(),
            vec![Announced {
                upload: staged.clone(),
                attempt: third
            }]
        );
        let unnumbered = serde_json::json!({
            "type": "transcribe", "user_id": "auth0|x", "upload_id": id.as_str()
        });
        assert_eq!(
            uploads_in_message(&unnumbered.to_string()).unwrap(),
            vec![Announced {
                upload: StagedUpload {
                    owner: Tenant::personal(user("auth0|x")),
                    upload_id: id.clone(),
                },
                attempt: Attempt::FIRST
            }]
        );

        let test_event = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#;
        assert_eq!(uploads_in_message(test_event).unwrap(), vec![]);
        assert!(uploads_in_message("{\"type\":\"sync\"}").is_err());
        assert!(uploads_in_message("not json").is_err());
    }

    #[test]
    fn the_sample_notification_names_alices_upload() {
        let event: serde_json::Value =
            serde_json::from_str(include_str!("../../../../events/file-transcribe.json")).unwrap();
        let body = event["Records"][0]["body"].as_str().unwrap();
        let uploads = uploads_in_message(body).unwrap();
        assert_eq!(uploads.len(), 1);
        assert_eq!(
            uploads[0].upload.owner,
            Tenant::personal(user("alice")),
            "alice's personal workspace"
        );
        assert_eq!(
            uploads[0].upload.upload_id.as_str(),
            "upl_0123456789abcdef0123456789abcdef"
        );
    }
}
