//! What can go wrong talking to Fathom. Messages never carry tokens, keys or secrets.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum FathomError {
    /// The API key or access token was refused (401): the connection needs the user again.
    #[error("Fathom refused the credential")]
    Unauthorized,
    /// The token endpoint refused the code or refresh token: the user must reconnect.
    #[error("Fathom refused the grant (invalid_grant); the user must reconnect")]
    InvalidGrant,
    /// Still rate limited after the retries, or told to wait longer than the policy allows.
    #[error("Fathom rate limit still exceeded after {attempts} attempt(s)")]
    RateLimited {
        attempts: u32,
        retry_after: Option<Duration>,
    },
    /// A 4xx other than 401 and 429: retrying the same request will not help.
    #[error("Fathom answered {status}: {message}")]
    Provider { status: u16, message: String },
    /// 5xx answers, timeouts or connection failures, after the retries.
    #[error("Fathom is unavailable after {attempts} attempt(s): {reason}")]
    Unavailable { attempts: u32, reason: String },
    /// A 2xx answer whose body is not what the API documents.
    #[error("Fathom sent a {context} callsync cannot read: {detail}")]
    Decode {
        context: &'static str,
        detail: String,
    },
    /// The request could not be formed (for example a base URL that cannot take a path).
    #[error("cannot build a Fathom request: {0}")]
    InvalidRequest(String),
}

impl FathomError {
    /// True when the stored credential is dead and the connection should be marked
    /// `needs_reauth`.
    pub fn needs_reauth(&self) -> bool {
        matches!(self, FathomError::Unauthorized | FathomError::InvalidGrant)
    }

    /// True when the same call may succeed later (a later sync, a retried item).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            FathomError::RateLimited { .. } | FathomError::Unavailable { .. }
        )
    }
}

impl From<super::super::transport::TransportError> for FathomError {
    fn from(error: super::super::transport::TransportError) -> Self {
        use super::super::transport::TransportError;
        match error {
            TransportError::RateLimited {
                attempts,
                retry_after,
            } => FathomError::RateLimited {
                attempts,
                retry_after,
            },
            TransportError::Unavailable { attempts, reason } => {
                FathomError::Unavailable { attempts, reason }
            }
        }
    }
}

impl From<super::super::oauth::OAuthError> for FathomError {
    fn from(error: super::super::oauth::OAuthError) -> Self {
        use super::super::oauth::OAuthError;
        match error {
            OAuthError::InvalidGrant => FathomError::InvalidGrant,
            OAuthError::Refused { status, message } => FathomError::Provider { status, message },
            OAuthError::Transport(transport) => transport.into(),
            OAuthError::Decode(detail) => FathomError::Decode {
                context: "token response",
                detail,
            },
            OAuthError::InvalidRequest(reason) => FathomError::InvalidRequest(reason),
        }
    }
}

/// Fathom's failures in the pipeline's terms.
impl From<FathomError> for super::super::ConnectorError {
    fn from(error: FathomError) -> Self {
        use super::super::ConnectorError;
        match error {
            FathomError::Unauthorized | FathomError::InvalidGrant => ConnectorError::NeedsReauth(
                "Fathom refused the stored credential; connect Fathom again".into(),
            ),
            FathomError::RateLimited {
                attempts,
                retry_after,
            } => ConnectorError::RateLimited {
                provider: "Fathom",
                attempts,
                retry_after,
            },
            FathomError::Unavailable { attempts, reason } => ConnectorError::Unavailable {
                provider: "Fathom",
                attempts,
                reason,
            },
            FathomError::InvalidRequest(reason) => ConnectorError::InvalidInput(reason),
            other @ (FathomError::Provider { .. } | FathomError::Decode { .. }) => {
                ConnectorError::Permanent(other.to_string())
            }
        }
    }
}
