//! Recording downloads. `/rec/download/{file_id}` authenticates (a Bearer access token, or a
//! webhook's download token in `?access_token=`) and answers 302 with a signed, short-lived
//! link to the file host, which serves the bytes to whoever holds the link: credentials have
//! no business there, so the file host counts the requests that carry them.

use super::api::arrive;
use super::limits::Category;
use super::Shared;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::sync::Arc;

/// How long a file-host link works.
const LINK_LIFETIME_SECS: i64 = 120;

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn link_signature(key: &[u8], file_id: &str, expires: i64) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(format!("{file_id}:{expires}").as_bytes());
    hex(&mac.finalize().into_bytes())
}

fn query_value(uri: &Uri, name: &str) -> Option<String> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(n, _)| n == name)
        .map(|(_, value)| value.into_owned())
}

pub(crate) async fn download(
    State(shared): State<Arc<Shared>>,
    Path(file_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, Response> {
    arrive(&shared, &method, &uri, &headers).await;
    let download_token = query_value(&uri, "access_token");
    let mut state = shared.lock();
    state.calls.downloads += 1;
    let by_download_token = download_token.and_then(|t| state.authenticate_download_token(&t));
    let caller = match by_download_token {
        Some(caller) => {
            state.calls.downloads_with_download_token += 1;
            caller
        }
        None => state.authenticate(&headers)?,
    };
    state.gate(&shared.options, &caller.account_id, Some(Category::Heavy))?;
    let owned = state
        .meetings
        .iter()
        .any(|m| m.host_id == caller.user && m.find_file(&file_id).is_some());
    if !owned {
        return Err(super::state::zoom_error(
            StatusCode::NOT_FOUND,
            3301,
            "This recording does not exist.",
        ));
    }
    let expires = chrono::Utc::now().timestamp() + LINK_LIFETIME_SECS;
    let signature = link_signature(&shared.link_key, &file_id, expires);
    let location = format!(
        "{}/file-host/{file_id}?expires={expires}&sig={signature}",
        shared.file_host_url
    );
    Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
}

pub(crate) async fn file_host(
    State(shared): State<Arc<Shared>>,
    Path(file_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    arrive(&shared, &method, &uri, &headers).await;
    let mut state = shared.lock();
    state.calls.file_host += 1;
    if headers.contains_key(header::AUTHORIZATION) {
        state.calls.file_host_with_authorization += 1;
    }
    let expires = query_value(&uri, "expires").and_then(|e| e.parse::<i64>().ok());
    let signed = match (expires, query_value(&uri, "sig")) {
        (Some(expires), Some(sig)) => {
            expires >= chrono::Utc::now().timestamp()
                && sig == link_signature(&shared.link_key, &file_id, expires)
        }
        _ => false,
    };
    if !signed {
        return (
            StatusCode::FORBIDDEN,
            "AccessDenied: the link is not signed or has expired",
        )
            .into_response();
    }
    let found = state
        .meetings
        .iter()
        .find_map(|m| m.find_file(&file_id).map(|kind| (m, kind)));
    let Some((meeting, kind)) = found else {
        return (StatusCode::NOT_FOUND, "NoSuchKey").into_response();
    };
    let disposition = format!("attachment; filename=\"{}\"", meeting.file_name(kind));
    let body = meeting.content(kind);
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}
