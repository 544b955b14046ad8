//! What can go wrong talking to a provider, in the terms the pipeline acts on. Messages name
//! the provider and never carry tokens, keys or secrets.

use super::transport::TransportError;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// The stored credential was refused (401, `invalid_grant`): the user must connect again.
    #[error("{0}")]
    NeedsReauth(String),
    /// Still rate limited after the retries, or told to wait longer than the policy allows.
    #[error("{provider} rate limit still exceeded after {attempts} attempt(s)")]
    RateLimited {
        provider: &'static str,
        attempts: u32,
        retry_after: Option<Duration>,
    },
    /// 5xx answers, timeouts or connection failures, after the retries: try again later.
    #[error("{provider} is unavailable after {attempts} attempt(s): {reason}")]
    Unavailable {
        provider: &'static str,
        attempts: u32,
        reason: String,
    },
    /// The provider refused this request or item for good (a 4xx, an answer callsync cannot
    /// read): retrying the same call will not help.
    #[error("{0}")]
    Permanent(String),
    /// What the caller asked for cannot be asked of the provider (a cursor it never issued,
    /// a credential with characters a header cannot carry).
    #[error("{0}")]
    InvalidInput(String),
}

impl ConnectorError {
    /// True when the stored credential is dead and the connection should be marked
    /// `needs_reauth`.
    pub fn needs_reauth(&self) -> bool {
        matches!(self, ConnectorError::NeedsReauth(_))
    }

    /// True when the same call may succeed later (a later sync, a retried item).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ConnectorError::RateLimited { .. } | ConnectorError::Unavailable { .. }
        )
    }

    /// The transport's failure, for `provider`.
    pub fn from_transport(provider: &'static str, error: TransportError) -> Self {
        match error {
            TransportError::RateLimited {
                attempts,
                retry_after,
            } => ConnectorError::RateLimited {
                provider,
                attempts,
                retry_after,
            },
            TransportError::Unavailable { attempts, reason } => ConnectorError::Unavailable {
                provider,
                attempts,
                reason,
            },
        }
    }
}
