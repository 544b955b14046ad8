//! The names of the backend's AWS resources: what to create and what was created.

/// What to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceSpec {
    pub table_name: String,
    pub audio_bucket: String,
    pub sync_queue: String,
    pub transcribe_queue: String,
    pub events_queue: String,
    /// Receives after which SQS moves a message to the queue's dead-letter queue
    /// (`<queue>-dlq`).
    pub max_receive_count: u32,
}

impl ResourceSpec {
    /// Resources named after `prefix` (lower-case letters, digits and dashes, as bucket names
    /// require).
    pub fn named(prefix: &str, max_receive_count: u32) -> Self {
        ResourceSpec {
            table_name: format!("{prefix}-table"),
            audio_bucket: format!("{prefix}-audio"),
            sync_queue: format!("{prefix}-sync"),
            transcribe_queue: format!("{prefix}-transcribe"),
            events_queue: format!("{prefix}-events"),
            max_receive_count,
        }
    }
}

/// What was created, as the configuration names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    pub table_name: String,
    pub audio_bucket: String,
    pub sync_queue_url: String,
    pub transcribe_queue_url: String,
    pub events_queue_url: String,
}

impl Resources {
    /// The configuration variables that name these resources (see `Config`).
    pub fn variables(&self) -> [(&'static str, &str); 5] {
        [
            ("TABLE_NAME", &self.table_name),
            ("AUDIO_BUCKET", &self.audio_bucket),
            ("SYNC_QUEUE_URL", &self.sync_queue_url),
            ("TRANSCRIBE_QUEUE_URL", &self.transcribe_queue_url),
            ("EVENTS_QUEUE_URL", &self.events_queue_url),
        ]
    }
}
