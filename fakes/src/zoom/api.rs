//! The REST API under `/v2`: the signed-in user, their recordings list, and one meeting's
//! recordings.

use super::limits::Category;
use super::meetings::FakeZoomMeeting;
use super::pages::PageMark;
use super::state::{auth_kind, redact, zoom_error, Caller, ListCall, RecordedRequest};
use super::Shared;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Months, NaiveDate, NaiveTime, TimeDelta, Utc};
use serde_json::json;
use std::cmp::Reverse;
use std::sync::Arc;
use std::time::Instant;

type Answer = Result<Response, Response>;

const DEFAULT_PAGE_SIZE: usize = 30;
const MAX_PAGE_SIZE: usize = 300;

/// Records the request and waits out any latency the test asked for.
pub(crate) async fn arrive(shared: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap) {
    let delay = shared.lock().record(RecordedRequest {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().map(redact),
        auth: auth_kind(headers, uri.query()),
    });
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

/// Authenticates with the access token and passes the rate limits and injected faults.
fn admit(shared: &Shared, headers: &HeaderMap, category: Category) -> Result<Caller, Response> {
    let mut state = shared.lock();
    let caller = state.authenticate(headers)?;
    state.gate(&shared.options, &caller.account_id, Some(category))?;
    Ok(caller)
}

fn invalid_parameter(message: &str) -> Response {
    zoom_error(StatusCode::BAD_REQUEST, 300, message)
}

fn no_such_recording() -> Response {
    zoom_error(
        StatusCode::NOT_FOUND,
        3301,
        "This recording does not exist.",
    )
}

/// What Zoom's gateway answers for a path it has no route for.
fn no_route() -> Response {
    zoom_error(
        StatusCode::NOT_FOUND,
        404,
        "The requested resource was not found.",
    )
}

pub(crate) async fn not_found(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    arrive(&shared, &method, &uri, &headers).await;
    no_route()
}

fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub(crate) async fn users_me(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Answer {
    arrive(&shared, &method, &uri, &headers).await;
    shared.lock().calls.users_me += 1;
    let caller = admit(&shared, &headers, Category::Light)?;
    let state = shared.lock();
    let account = state
        .account(&caller.user)
        .ok_or_else(super::state::invalid_token)?;
    let created = Utc::now() - TimeDelta::days(400);
    Ok(Json(json!({
        "id": account.id,
        "first_name": account.first_name,
        "last_name": account.last_name,
        "display_name": format!("{} {}", account.first_name, account.last_name),
        "email": account.email,
        "type": 2,
        "role_name": "Owner",
        "pmi": account.pmi,
        "use_pmi": false,
        "personal_meeting_url": format!("https://us05web.zoom.us/j/{}", account.pmi),
        "timezone": "UTC",
        "verified": 1,
        "dept": "",
        "created_at": iso(created),
        "user_created_at": iso(created),
        "last_login_time": iso(Utc::now() - TimeDelta::hours(2)),
        "pic_url": "",
        "language": "en-US",
        "phone_number": "",
        "status": "active",
        "role_id": "0",
        "account_id": account.account_id,
        "account_number": 10_000_000 + account.pmi % 90_000_000,
        "cluster": "us05",
    }))
    .into_response())
}

struct ListQuery {
    from: NaiveDate,
    to: NaiveDate,
    page_size: usize,
    token: Option<String>,
}

/// The query values a list call sent; empty values count as absent.
fn list_call(raw: Option<&str>) -> ListCall {
    let mut call = ListCall::default();
    for (name, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if value.is_empty() {
            continue;
        }
        let value = Some(value.into_owned());
        match name.as_ref() {
            "from" => call.from = value,
            "to" => call.to = value,
            "page_size" => call.page_size = value,
            "next_page_token" => call.next_page_token = value,
            _ => {}
        }
    }
    call
}

fn parse_list_query(call: &ListCall, today: NaiveDate) -> Result<ListQuery, String> {
    let date = |value: &str, name: &str| {
        NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .map_err(|_| format!("Invalid field: {name} must be yyyy-mm-dd."))
    };
    let to = match &call.to {
        Some(to) => date(to, "to")?,
        None => today,
    };
    let from = match &call.from {
        Some(from) => date(from, "from")?,
        None => to - TimeDelta::days(1),
    };
    if from > to {
        return Err("The from date must not be later than the to date.".into());
    }
    if from
        .checked_add_months(Months::new(1))
        .is_none_or(|limit| to > limit)
    {
        return Err("Only one month range is allowed".into());
    }
    let page_size = match &call.page_size {
        Some(size) => match size.parse::<usize>() {
            Ok(0) | Err(_) => return Err("Invalid field: page_size.".into()),
            // Zoom caps larger sizes rather than refusing them.
            Ok(size) => size.min(MAX_PAGE_SIZE),
        },
        None => DEFAULT_PAGE_SIZE,
    };
    Ok(ListQuery {
        from,
        to,
        page_size,
        token: call.next_page_token.clone(),
    })
}

/// Newest first; ties broken by uuid so the order is total and page tokens are stable.
fn listing_key(meeting: &FakeZoomMeeting) -> (DateTime<Utc>, String) {
    (meeting.start_time, meeting.uuid.clone())
}

pub(crate) async fn list_recordings(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Answer {
    arrive(&shared, &method, &uri, &headers).await;
    let call = list_call(uri.query());
    shared.lock().calls.list_recordings.push(call.clone());
    let caller = admit(&shared, &headers, Category::Medium)?;
    let query =
        parse_list_query(&call, Utc::now().date_naive()).map_err(|m| invalid_parameter(&m))?;

    let mut state = shared.lock();
    let now = Instant::now();
    let after = match &query.token {
        Some(token) => {
            let mark = state
                .pages
                .resolve(token, &caller.user, query.from, query.to, now)
                .ok_or_else(|| invalid_parameter("The next page token is invalid or expired."))?;
            Some(mark.after.clone())
        }
        None => None,
    };
    // Dates are whole UTC days, both ends included.
    let start = query.from.and_time(NaiveTime::MIN).and_utc();
    let end = (query.to + TimeDelta::days(1))
        .and_time(NaiveTime::MIN)
        .and_utc();
    let mut in_range: Vec<&FakeZoomMeeting> = state
        .meetings
        .iter()
        .filter(|m| m.host_id == caller.user && start <= m.start_time && m.start_time < end)
        .collect();
    in_range.sort_by_key(|m| Reverse(listing_key(m)));
    let total_records = in_range.len();
    let rest: Vec<&FakeZoomMeeting> = in_range
        .into_iter()
        .filter(|m| after.as_ref().is_none_or(|a| listing_key(m) < *a))
        .collect();
    let page: Vec<_> = rest
        .iter()
        .take(query.page_size)
        .map(|m| m.to_json(&shared.base_url))
        .collect();
    let last = (rest.len() > query.page_size)
        .then(|| rest.get(query.page_size - 1).map(|m| listing_key(m)))
        .flatten();
    let next_page_token = match last {
        Some(after) => {
            let token = state.random_token("", 32);
            state.pages.insert(
                token.clone(),
                PageMark {
                    user: caller.user.clone(),
                    from: query.from,
                    to: query.to,
                    after,
                    expires_at: now + shared.options.page_token_lifetime,
                },
            );
            token
        }
        None => String::new(),
    };
    Ok(Json(json!({
        "from": query.from.to_string(),
        "to": query.to.to_string(),
        "page_count": total_records.div_ceil(query.page_size),
        "page_size": query.page_size,
        "total_records": total_records,
        "next_page_token": next_page_token,
        "meetings": page,
    }))
    .into_response())
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The uuid (or meeting number) in `/v2/meetings/{uuid}/recordings`. Zoom's gateway decodes
/// the path once and routes on it, so a uuid that starts with `/` or holds `//` only survives
/// double encoding; the service then decodes what is left once more.
fn meeting_reference(path: &str) -> Option<String> {
    let raw = path
        .strip_prefix("/v2/meetings/")?
        .strip_suffix("/recordings")?;
    let once = percent_decode(raw)?;
    if once.is_empty() || once.starts_with('/') || once.contains("//") {
        return None;
    }
    percent_decode(&once)
}

pub(crate) async fn meeting_recordings(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Answer {
    arrive(&shared, &method, &uri, &headers).await;
    shared.lock().calls.meeting_recordings += 1;
    let reference = meeting_reference(uri.path()).ok_or_else(no_route)?;
    let caller = admit(&shared, &headers, Category::Medium)?;
    let state = shared.lock();
    let hosted = || state.meetings.iter().filter(|m| m.host_id == caller.user);
    // A meeting number names its latest instance.
    let meeting = match reference.parse::<u64>() {
        Ok(number) => hosted()
            .filter(|m| m.id == number)
            .max_by_key(|m| listing_key(m)),
        Err(_) => hosted().find(|m| m.uuid == reference),
    };
    let meeting = meeting.ok_or_else(no_such_recording)?;
    Ok(Json(meeting.to_json(&shared.base_url)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(from: Option<&str>, to: Option<&str>) -> ListCall {
        ListCall {
            from: from.map(str::to_owned),
            to: to.map(str::to_owned),
            ..ListCall::default()
        }
    }

    #[test]
    fn ranges_default_to_yesterday_and_today_and_stop_at_one_month() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap_or_default();
        let q = parse_list_query(&call(None, None), today).unwrap();
        assert_eq!(
            (q.from.to_string(), q.to.to_string()),
            ("2026-03-09".into(), "2026-03-10".into())
        );
        assert_eq!(q.page_size, DEFAULT_PAGE_SIZE);
        assert!(parse_list_query(&call(Some("2026-01-31"), Some("2026-02-28")), today).is_ok());
        assert!(parse_list_query(&call(Some("2026-01-31"), Some("2026-03-01")), today).is_err());
        assert!(parse_list_query(&call(Some("2026-02-02"), Some("2026-02-01")), today).is_err());
        assert!(parse_list_query(&call(Some("2026/02/02"), None), today).is_err());
    }

    #[test]
    fn uuids_with_slashes_need_double_encoding() {
        let path = |uuid: &str| format!("/v2/meetings/{uuid}/recordings");
        assert_eq!(meeting_reference(&path("abc%3D%3D")), Some("abc==".into()));
        assert_eq!(
            meeting_reference(&path("abc%253D%253D")),
            Some("abc==".into())
        );
        assert_eq!(meeting_reference(&path("%2Fab%2F%2Fc")), None);
        assert_eq!(
            meeting_reference(&path("%252Fab%252F%252Fc")),
            Some("/ab//c".into())
        );
        assert_eq!(meeting_reference(&path("a%2Fb")), Some("a/b".into()));
        assert_eq!(meeting_reference(&path("%ZZ")), None);
    }
}
