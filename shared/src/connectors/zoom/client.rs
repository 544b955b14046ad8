//! Calls to Zoom's API: who the user is, their cloud recordings by date window, and file
//! downloads, which Zoom answers with a redirect to a file host that gets no credential.

use super::super::rate_limit::{fingerprint, RateLimiterRegistry, RequestClass};
use super::super::transport::{describe, provider_message, send, Answer, RetryPolicy};
use super::super::{sensitive, ByteStream, ConnectorError, Credential};
use super::windows::DateWindow;
use super::wire::{parse_recordings_page, parse_user, ZoomApiError, ZoomRecordingsPage, ZoomUser};
use crate::crypto::SecretString;
use futures::TryStreamExt;
use http::StatusCode;
use std::sync::Arc;
use url::Url;

/// Zoom's largest page of recordings.
pub const PAGE_SIZE: u32 = 300;
const PROVIDER: &str = "Zoom";

/// How a download proves who it is for.
#[derive(Debug, Clone)]
pub enum DownloadAuth {
    /// The user's OAuth token, as `Authorization: Bearer`.
    Bearer(SecretString),
    /// An event's `download_token`, as `?access_token=`.
    DownloadToken(SecretString),
}

#[derive(Debug, Clone)]
pub struct ZoomClient {
    api_base: Url,
    http: reqwest::Client,
    limits: Arc<RateLimiterRegistry>,
    retry: RetryPolicy,
}

impl ZoomClient {
    pub fn new(
        api_base: Url,
        http: reqwest::Client,
        limits: Arc<RateLimiterRegistry>,
        retry: RetryPolicy,
    ) -> Self {
        ZoomClient {
            api_base,
            http,
            limits,
            retry,
        }
    }

    /// `GET /users/me`.
    pub async fn me(&self, credential: &Credential) -> Result<ZoomUser, ConnectorError> {
        let url = self.endpoint(&["users", "me"])?;
        let answer = self.call(credential, url, RequestClass::Light).await?;
        parse_user(&answer.body).map_err(|e| ConnectorError::Permanent(e.to_string()))
    }

    /// One page of the user's recordings that started within `window`.
    pub async fn recordings(
        &self,
        credential: &Credential,
        window: &DateWindow,
        page_token: Option<&str>,
    ) -> Result<ZoomRecordingsPage, ConnectorError> {
        let mut url = self.endpoint(&["users", "me", "recordings"])?;
        {
            let mut query = url.query_pairs_mut();
            for (name, value) in window.as_query() {
                query.append_pair(name, &value);
            }
            query.append_pair("page_size", &PAGE_SIZE.to_string());
            if let Some(token) = page_token {
                query.append_pair("next_page_token", token);
            }
        }
        let answer = self.call(credential, url, RequestClass::Medium).await?;
        parse_recordings_page(&answer.body).map_err(|e| ConnectorError::Permanent(e.to_string()))
    }

    /// Streams a recording file. The token goes to Zoom only: the file host it redirects to
    /// is sent nothing but the signed address Zoom gave.
    pub async fn download(
        &self,
        download_url: &str,
        auth: &DownloadAuth,
    ) -> Result<ByteStream, ConnectorError> {
        let mut url = Url::parse(download_url).map_err(|_| {
            ConnectorError::Permanent("a recording file has no valid address".into())
        })?;
        let limiter = self
            .limits
            .limiter(fingerprint("download", url.host_str().unwrap_or("")));
        let bearer = match auth {
            DownloadAuth::Bearer(token) => Some(Credential::bearer_header(token)?),
            DownloadAuth::DownloadToken(token) => {
                url.query_pairs_mut()
                    .append_pair("access_token", token.expose());
                None
            }
        };
        let answer = send(&limiter, RequestClass::Light, &self.retry, || {
            let request = self.http.get(url.clone());
            match &bearer {
                Some((name, value)) => request.header(name.clone(), value.clone()),
                None => request,
            }
        })
        .await
        .map_err(|e| ConnectorError::from_transport(PROVIDER, e))?;
        let location = match answer.status {
            status if status.is_redirection() => answer
                .headers
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| url.join(l).ok())
                .ok_or_else(|| {
                    ConnectorError::Permanent("Zoom redirected a download nowhere".into())
                })?,
            StatusCode::OK => {
                // Served directly: the body is already here.
                let body = answer.body;
                return Ok(Box::pin(futures::stream::once(async move { Ok(body) })));
            }
            _ => return Err(refusal(&answer)),
        };
        let response =
            self.http
                .get(location)
                .send()
                .await
                .map_err(|e| ConnectorError::Unavailable {
                    provider: PROVIDER,
                    attempts: 1,
                    reason: describe(&e),
                })?;
        if !response.status().is_success() {
            return Err(ConnectorError::Permanent(format!(
                "Zoom's file host answered {} for a recording file",
                response.status().as_u16()
            )));
        }
        Ok(Box::pin(
            response
                .bytes_stream()
                .map_err(|e| std::io::Error::other(describe(&e))),
        ))
    }

    fn endpoint(&self, segments: &[&str]) -> Result<Url, ConnectorError> {
        let mut url = self.api_base.clone();
        url.path_segments_mut()
            .map_err(|_| {
                ConnectorError::InvalidInput("the Zoom API base URL cannot take a path".into())
            })?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    async fn call(
        &self,
        credential: &Credential,
        url: Url,
        class: RequestClass,
    ) -> Result<Answer, ConnectorError> {
        let Credential::Bearer(token) = credential else {
            return Err(ConnectorError::InvalidInput(
                "Zoom is reached with OAuth tokens only".into(),
            ));
        };
        let (name, value) = sensitive(
            http::header::AUTHORIZATION,
            &format!("Bearer {}", token.expose()),
        )?;
        // Zoom's limits are per account; a token stands for one account's user.
        let limiter = self.limits.limiter(fingerprint("bearer", token.expose()));
        let answer = send(&limiter, class, &self.retry, || {
            self.http
                .get(url.clone())
                .header(name.clone(), value.clone())
                .header(http::header::ACCEPT, "application/json")
        })
        .await
        .map_err(|e| ConnectorError::from_transport(PROVIDER, e))?;
        if answer.status.is_success() {
            Ok(answer)
        } else {
            Err(refusal(&answer))
        }
    }
}

/// A non-2xx answer in the pipeline's terms: a refused token asks for the user.
fn refusal(answer: &Answer) -> ConnectorError {
    let invalid_token =
        ZoomApiError::parse(&answer.body).is_some_and(|e| e.is_invalid_access_token());
    if answer.status == StatusCode::UNAUTHORIZED || invalid_token {
        return ConnectorError::NeedsReauth(
            "Zoom refused the stored credential; connect Zoom again".into(),
        );
    }
    ConnectorError::Permanent(format!(
        "Zoom answered {}: {}",
        answer.status.as_u16(),
        provider_message(&answer.body)
    ))
}
