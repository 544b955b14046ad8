//! One SQS queue (`SYNC_QUEUE_URL`, `TRANSCRIBE_QUEUE_URL`) and its dead-letter queue.
//!
//! The dead-letter queue is the one the queue's `RedrivePolicy` names; it is looked up once,
//! on first use, so a queue without one works for everything but `receive_dead_letters`.

use super::retry::{until_processed, Backoff};
use super::sdk_error;
use crate::ports::{Queue, QueueMessage};
use anyhow::{anyhow, bail, Context, Result};
use async_trait::async_trait;
use aws_sdk_sqs::types::{
    Message, MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;
use serde::Deserialize;
use std::collections::HashSet;
use std::time::Duration;
use tokio::sync::OnceCell;

/// SQS takes at most ten messages per batch call and returns at most ten per receive.
const BATCH_LIMIT: usize = 10;
/// The longest visibility timeout SQS accepts (12 hours).
const MAX_VISIBILITY_SECS: u64 = 12 * 60 * 60;
/// The longest delay SQS accepts for a message (15 minutes).
const MAX_DELAY_SECS: u64 = 15 * 60;

#[derive(Debug)]
pub struct SqsQueue {
    client: Client,
    url: String,
    dead_letter_url: OnceCell<String>,
    backoff: Backoff,
}

#[derive(Deserialize)]
struct RedrivePolicy {
    #[serde(rename = "deadLetterTargetArn")]
    dead_letter_target_arn: String,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            url: url.into(),
            dead_letter_url: OnceCell::new(),
            backoff: Backoff::default(),
        }
    }

    /// Sets how `send_batch` backs off between retries of failed entries.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    async fn dead_letter_url(&self) -> Result<&str> {
        let url = self
            .dead_letter_url
            .get_or_try_init(|| async {
                let attributes = self
                    .client
                    .get_queue_attributes()
                    .queue_url(&self.url)
                    .attribute_names(QueueAttributeName::RedrivePolicy)
                    .send()
                    .await
                    .map_err(|e| sdk_error("SQS GetQueueAttributes", e))?;
                let policy = attributes
                    .attributes()
                    .and_then(|a| a.get(&QueueAttributeName::RedrivePolicy))
                    .with_context(|| {
                        format!(
                            "queue {} has no dead-letter queue (no RedrivePolicy)",
                            self.url
                        )
                    })?;
                let policy: RedrivePolicy = serde_json::from_str(policy)
                    .context("the queue's RedrivePolicy is not the JSON SQS writes")?;
                // arn:aws:sqs:<region>:<account>:<name>
                let parts: Vec<&str> = policy.dead_letter_target_arn.split(':').collect();
                let [_, _, "sqs", _, account, name] = parts[..] else {
                    bail!(
                        "the queue's dead-letter target `{}` is not an SQS queue ARN",
                        policy.dead_letter_target_arn
                    );
                };
                let found = self
                    .client
                    .get_queue_url()
                    .queue_name(name)
                    .queue_owner_aws_account_id(account)
                    .send()
                    .await
                    .map_err(|e| sdk_error("SQS GetQueueUrl", e))?;
                found.queue_url.context("SQS GetQueueUrl returned no URL")
            })
            .await?;
        Ok(url)
    }

    /// Up to `max` (at most ten) messages from `url`, hidden for `visibility` (the queue's
    /// default when `None`). One call: receiving again in a loop could return a message twice
    /// when its visibility timeout is zero.
    async fn receive_from(
        &self,
        url: &str,
        max: usize,
        visibility: Option<Duration>,
    ) -> Result<Vec<QueueMessage>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let visibility = visibility.map(|v| whole_seconds(v, MAX_VISIBILITY_SECS));
        let output = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(i32::try_from(max.min(BATCH_LIMIT)).unwrap_or(1))
            .set_visibility_timeout(visibility)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| sdk_error("SQS ReceiveMessage", e))?;
        output
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(queue_message)
            .collect()
    }

    /// Sends one batch; returns the entries SQS could not take this time.
    async fn send_entries<'a>(
        &self,
        entries: Vec<(usize, &'a str)>,
    ) -> Result<Vec<(usize, &'a str)>> {
        let request = entries
            .iter()
            .map(|(index, body)| {
                SendMessageBatchRequestEntry::builder()
                    .id(index.to_string())
                    .message_body(*body)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .context("building an SQS batch entry")?;
        let output = self
            .client
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(request))
            .send()
            .await
            .map_err(|e| sdk_error("SQS SendMessageBatch", e))?;
        if let Some(refused) = output.failed.iter().find(|f| f.sender_fault) {
            bail!(
                "SQS refused a message of the batch: {} {}",
                refused.code,
                refused.message.as_deref().unwrap_or("")
            );
        }
        let failed: HashSet<&str> = output.failed.iter().map(|f| f.id.as_str()).collect();
        Ok(entries
            .into_iter()
            .filter(|(index, _)| failed.contains(index.to_string().as_str()))
            .collect())
    }
}

/// A duration in the whole seconds SQS takes, rounded up (a message is never visible
/// earlier than asked) and capped at `max`.
fn whole_seconds(duration: Duration, max: u64) -> i32 {
    let seconds = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    i32::try_from(seconds.min(max)).unwrap_or(i32::MAX)
}

fn queue_message(message: Message) -> Result<QueueMessage> {
    let receive_count = message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|count| count.parse().ok())
        .unwrap_or(1);
    Ok(QueueMessage {
        message_id: message
            .message_id
            .ok_or_else(|| anyhow!("SQS returned a message without an id"))?,
        receipt: message
            .receipt_handle
            .ok_or_else(|| anyhow!("SQS returned a message without a receipt handle"))?,
        body: message.body.unwrap_or_default(),
        receive_count,
    })
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, body: &str) -> Result<()> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| sdk_error("SQS SendMessage", e))?;
        Ok(())
    }

    async fn send_delayed(&self, body: &str, delay: Duration) -> Result<()> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(whole_seconds(delay, MAX_DELAY_SECS))
            .send()
            .await
            .map_err(|e| sdk_error("SQS SendMessage", e))?;
        Ok(())
    }

    /// Entries SQS fails on its side (throttling, internal errors) are retried with back-off;
    /// an entry it refuses as malformed fails the call at once.
    async fn send_batch(&self, bodies: &[String]) -> Result<()> {
        for chunk in bodies.chunks(BATCH_LIMIT) {
            let entries = chunk.iter().map(String::as_str).enumerate().collect();
            until_processed(entries, self.backoff, |pending| self.send_entries(pending)).await?;
        }
        Ok(())
    }

    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<QueueMessage>> {
        self.receive_from(&self.url, max, Some(visibility)).await
    }

    async fn delete(&self, receipt: &str) -> Result<()> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| sdk_error("SQS DeleteMessage", e))?;
        Ok(())
    }

    /// Receives from the dead-letter queue with its own visibility timeout, so one look does
    /// not return a message twice.
    async fn receive_dead_letters(&self, max: usize) -> Result<Vec<QueueMessage>> {
        let url = self.dead_letter_url().await?;
        self.receive_from(url, max, None).await
    }
}
