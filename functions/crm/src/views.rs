//! The JSON shapes of contacts, companies and tasks.

use pipeline::domain::{Company, CompanyMeeting, Contact, MeetingRef, Task, TaskState, TaskStatus};
use serde_json::{json, Value};

/// A contact, with its company when known, and its meetings when given (a contact's page).
pub fn contact_view(
    contact: &Contact,
    companies: &[Company],
    meetings: Option<&[MeetingRef]>,
) -> Value {
    let company = contact.company_domain.as_ref().map(|domain| {
        let found = companies.iter().find(|c| &c.domain == domain);
        json!({
            "id": found.map(|c| c.id.clone()),
            "domain": domain,
            "name": found.map(|c| c.name.clone()),
        })
    });
    let mut view = json!({
        "id": contact.id,
        "email": contact.email,
        "name": contact.name,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "company": company,
        "external": contact.external,
        "first_seen": contact.first_seen,
        "last_seen": contact.last_seen,
        "meeting_count": contact.meeting_count,
    });
    if let Some(meetings) = meetings {
        view["meetings"] = json!(meetings);
    }
    view
}

/// A company, with its meetings when given (a company's page).
pub fn company_view(company: &Company, meetings: Option<&[CompanyMeeting]>) -> Value {
    let mut view = json!({
        "id": company.id,
        "domain": company.domain,
        "name": company.name,
        "contacts": company.contacts,
        "meeting_count": company.meeting_count,
        "first_meeting_at": company.first_meeting_at,
        "last_meeting_at": company.last_meeting_at,
    });
    if let Some(meetings) = meetings {
        view["meetings"] = json!(meetings);
    }
    view
}

/// What the member sees: a task they (or the source) completed shows `completed`.
pub fn shown_status(task: &Task, state: Option<&TaskState>) -> TaskStatus {
    let completed = state
        .and_then(|s| s.completed)
        .unwrap_or(task.completed_at_source);
    match task.status {
        TaskStatus::Open if completed => TaskStatus::Completed,
        other => other,
    }
}

pub fn task_view(task: &Task, state: Option<&TaskState>) -> Value {
    let status = shown_status(task, state);
    json!({
        "id": task.id,
        "description": task.description,
        "assignee_name": task.assignee_name,
        "assignee_email": task.assignee_email,
        "status": status,
        "completed": status == TaskStatus::Completed,
        "excluded_reason": task.excluded_reason,
        "recording_id": task.recording_id,
        "recording_title": task.recording_title,
        "timestamp_seconds": task.timestamp_seconds,
        "meeting_at": task.meeting_at,
        "analysis": task.analysis,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
    })
}
