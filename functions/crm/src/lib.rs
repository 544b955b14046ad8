//! `crm`: what a CRM imports from a member's calls, derived from their recordings: contacts,
//! companies and tasks; the member's settings (which source leads a linked meeting); and a
//! rebuild of it all from the recordings (`pipeline::pipeline::derive`).

mod views;

use lambda_http::http::StatusCode;
use pipeline::domain::{
    Company, Contact, MemberSettings, Source, Task, TaskState, TaskStatus, Tenant,
};
use pipeline::http::{self, ApiError, ApiResult, Body, Request, Response, Route};
use pipeline::pipeline::derive::{
    self, company_id, company_meetings, contact_meetings, kinds, read, read_all, update,
};
use pipeline::services::Services;
use serde::Deserialize;
use serde_json::{json, Value};
use views::{company_view, contact_view, task_view};

pub const ROUTES: &[Route] = &[
    Route::user("GET", "/contacts"),
    Route::user("GET", "/contacts/{id}"),
    Route::user("GET", "/companies"),
    Route::user("GET", "/companies/{id}"),
    Route::user("GET", "/tasks"),
    Route::user("PATCH", "/tasks/{id}"),
    Route::user("GET", "/settings"),
    Route::user("PATCH", "/settings"),
    Route::user("POST", "/derive/rebuild"),
];

/// Longest search text accepted.
const MAX_QUERY_CHARS: usize = 200;

pub async fn handle(services: &Services, req: Request) -> Response<Body> {
    http::respond(route(services, &req)).await
}

async fn route(services: &Services, req: &Request) -> ApiResult {
    let owner = http::tenant(req, services)?;
    match (req.method().as_str(), http::segments(req).as_slice()) {
        ("GET", ["contacts"]) => contacts(services, &owner, req).await,
        ("GET", ["contacts", id]) => {
            let contact: Contact = find(services, &owner, kinds::CONTACT, id).await?;
            if contact.meeting_count == 0 {
                return Err(not_found(id));
            }
            let company = async {
                match &contact.company_domain {
                    Some(domain) => {
                        read::<Company>(services, &owner, kinds::COMPANY, &company_id(domain)).await
                    }
                    None => Ok(None),
                }
            };
            let (meetings, company) =
                tokio::try_join!(contact_meetings(services, &owner, &contact.id), company)?;
            let companies: Vec<Company> = company.into_iter().collect();
            http::ok(&contact_view(&contact, &companies, Some(&meetings)))
        }
        ("GET", ["companies"]) => companies(services, &owner, req).await,
        ("GET", ["companies", id]) => {
            let company: Company = find(services, &owner, kinds::COMPANY, id).await?;
            if company.meeting_count == 0 {
                return Err(not_found(id));
            }
            let meetings = company_meetings(services, &owner, &company.id).await?;
            http::ok(&company_view(&company, Some(&meetings)))
        }
        ("GET", ["tasks"]) => tasks(services, &owner, req).await,
        ("PATCH", ["tasks", id]) => complete(services, &owner, id, http::json_body(req)?).await,
        ("GET", ["settings"]) => http::ok(&derive::meetings::settings(services, &owner).await?),
        ("PATCH", ["settings"]) => change_settings(services, &owner, http::json_body(req)?).await,
        ("POST", ["derive", "rebuild"]) => {
            let recordings = derive::rebuild(services, &owner).await?;
            http::ok(&json!({ "recordings": recordings }))
        }
        _ => Err(ApiError::no_route(req)),
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no such item `{id}`"))
}

async fn find<T: serde::de::DeserializeOwned>(
    services: &Services,
    owner: &Tenant,
    kind: &str,
    id: &str,
) -> Result<T, ApiError> {
    read(services, owner, kind, id)
        .await?
        .ok_or_else(|| not_found(id))
}

/// One page of `items` from the signed offset in the request's cursor.
async fn page(services: &Services, req: &Request, scope: &str, items: Vec<Value>) -> ApiResult {
    let offset = match http::page_cursor(req, services, scope).await? {
        None => 0,
        Some(raw) => raw
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request("invalid_cursor", "the cursor is not a position"))?,
    };
    let limit = http::limit(req, 50, 200)?;
    let end = (offset + limit).min(items.len());
    let page: Vec<Value> = items
        .get(offset..end)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    let next = (end < items.len()).then(|| end.to_string());
    http::ok(&json!({
        "items": page,
        "next_cursor": http::next_cursor(services, scope, next).await?,
    }))
}

fn search_text(req: &Request) -> Result<Option<String>, ApiError> {
    let text = http::query(req, "q").map(|q| q.trim().to_lowercase());
    if text
        .as_ref()
        .is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS)
    {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!("query parameter `q` is longer than {MAX_QUERY_CHARS} characters"),
        ));
    }
    Ok(text.filter(|q| !q.is_empty()))
}

/// `?q=` (name or email), `?company=` (domain or id), `?external=true|false`; most recently
/// seen first.
async fn contacts(services: &Services, owner: &Tenant, req: &Request) -> ApiResult {
    let text = search_text(req)?;
    let company = http::query(req, "company").map(|c| c.trim().to_lowercase());
    let external = http::query_as(req, "external", |raw| raw.parse::<bool>())?;
    let companies = read_all::<Company>(services, owner, kinds::COMPANY).await?;
    let mut all: Vec<Contact> = read_all::<Contact>(services, owner, kinds::CONTACT)
        .await?
        .into_iter()
        .filter(|c| c.meeting_count > 0)
        .filter(|c| external.is_none_or(|e| c.external == e))
        .filter(|c| {
            company.as_deref().is_none_or(|wanted| {
                c.company_domain.as_deref().is_some_and(|domain| {
                    domain == wanted
                        || companies
                            .iter()
                            .any(|co| co.domain == domain && co.id.to_lowercase() == wanted)
                })
            })
        })
        .filter(|c| {
            text.as_deref().is_none_or(|q| {
                c.email.contains(q)
                    || c.name
                        .as_deref()
                        .is_some_and(|n| n.to_lowercase().contains(q))
            })
        })
        .collect();
    all.sort_by(|a, b| (b.last_seen, &a.email).cmp(&(a.last_seen, &b.email)));
    let items = all
        .iter()
        .map(|c| contact_view(c, &companies, None))
        .collect();
    page(services, req, &format!("contacts:{owner}"), items).await
}

/// Most recent meeting first.
async fn companies(services: &Services, owner: &Tenant, req: &Request) -> ApiResult {
    let mut all: Vec<Company> = read_all::<Company>(services, owner, kinds::COMPANY)
        .await?
        .into_iter()
        .filter(|c| c.meeting_count > 0)
        .collect();
    all.sort_by(|a, b| (b.last_meeting_at, &a.domain).cmp(&(a.last_meeting_at, &b.domain)));
    let items = all.iter().map(|c| company_view(c, None)).collect();
    page(services, req, &format!("companies:{owner}"), items).await
}

/// `?status=open|completed|removed|excluded` (open and completed when absent) and
/// `?assignee=` (an email or a name); newest meeting first, in the order said.
async fn tasks(services: &Services, owner: &Tenant, req: &Request) -> ApiResult {
    let status = http::query_as(req, "status", |raw| {
        TaskStatus::parse(raw).ok_or("expected open, completed, removed or excluded")
    })?;
    let assignee = http::query(req, "assignee").map(|a| a.trim().to_lowercase());
    // Independent reads: one round trip's wait instead of two in a row.
    let (states, tasks) = tokio::try_join!(
        task_states(services, owner),
        read_all::<Task>(services, owner, kinds::TASK)
    )?;
    let mut all: Vec<(Task, TaskStatus)> = tasks
        .into_iter()
        .map(|t| {
            let shown = views::shown_status(&t, states.get(&t.id));
            (t, shown)
        })
        .filter(|(_, shown)| match status {
            Some(wanted) => *shown == wanted,
            None => matches!(shown, TaskStatus::Open | TaskStatus::Completed),
        })
        .filter(|(t, _)| {
            assignee.as_deref().is_none_or(|wanted| {
                t.assignee_email
                    .as_deref()
                    .is_some_and(|e| e.to_lowercase() == wanted)
                    || t.assignee_name
                        .as_deref()
                        .is_some_and(|n| n.to_lowercase() == wanted)
            })
        })
        .collect();
    all.sort_by(|(a, _), (b, _)| {
        (b.meeting_at, &a.recording_id, a.index).cmp(&(a.meeting_at, &b.recording_id, b.index))
    });
    let items = all
        .iter()
        .map(|(t, _)| task_view(t, states.get(&t.id)))
        .collect();
    page(services, req, &format!("tasks:{owner}"), items).await
}

async fn task_states(
    services: &Services,
    owner: &Tenant,
) -> anyhow::Result<std::collections::HashMap<String, TaskState>> {
    Ok(services
        .derived
        .list(owner, kinds::TASK_STATE)
        .await?
        .into_iter()
        .filter_map(|(id, stored)| Some((id, serde_json::from_str(&stored.body).ok()?)))
        .collect())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskChange {
    completed: bool,
}

/// Marks a task completed or open again; kept apart from what is derived, so a re-import or
/// a rebuild never undoes it.
async fn complete(services: &Services, owner: &Tenant, id: &str, change: TaskChange) -> ApiResult {
    let task: Task = find(services, owner, kinds::TASK, id).await?;
    if task.status == TaskStatus::Excluded {
        return Err(ApiError::conflict(
            "not_a_task",
            task.excluded_reason
                .unwrap_or_else(|| "this action item is not a task".into()),
        ));
    }
    let state = update(
        services,
        owner,
        kinds::TASK_STATE,
        id,
        |_: Option<TaskState>| {
            Some(TaskState {
                completed: Some(change.completed),
            })
        },
    )
    .await?;
    http::ok(&task_view(&task, state.as_ref()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsChange {
    #[serde(default)]
    source_priority: Option<Vec<Source>>,
    #[serde(default)]
    link_uploads: Option<bool>,
}

async fn change_settings(services: &Services, owner: &Tenant, change: SettingsChange) -> ApiResult {
    if let Some(order) = &change.source_priority {
        let mut seen = std::collections::HashSet::new();
        if order.is_empty() || !order.iter().all(|s| seen.insert(*s)) {
            return Err(ApiError::bad_request(
                "invalid_priority",
                "source_priority lists sources, each once",
            ));
        }
    }
    let settings = update(
        services,
        owner,
        kinds::SETTINGS,
        kinds::SETTINGS_ID,
        |stored: Option<MemberSettings>| {
            let mut settings = stored.unwrap_or_default();
            if let Some(order) = &change.source_priority {
                // The sources not named follow, in their usual order.
                let mut full = order.clone();
                full.extend(Source::ALL.iter().filter(|s| !order.contains(s)));
                settings.source_priority = full;
            }
            if let Some(link) = change.link_uploads {
                settings.link_uploads = link;
            }
            Some(settings)
        },
    )
    .await?
    .unwrap_or_default();
    Ok(http::json(StatusCode::OK, &settings))
}
