//! The JSON shapes of contacts, companies and tasks.

use pipeline::domain::{Company, Contact, Task, TaskState, TaskStatus};
use serde_json::{json, Value};

pub fn contact_view(contact: &Contact, companies: &[Company], with_meetings: bool) -> Value {
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
        "meeting_count": contact.meetings.len(),
    });
    if with_meetings {
        view["meetings"] = json!(contact.meetings);
    }
    view
}

pub fn company_view(company: &Company, with_meetings: bool) -> Value {
    let contacts = company.contacts();
    let mut view = json!({
        "id": company.id,
        "domain": company.domain,
        "name": company.name,
        "contacts": contacts,
        "meeting_count": company.meetings.len(),
        "first_meeting_at": company.meetings.last().map(|m| m.meeting.at),
        "last_meeting_at": company.meetings.first().map(|m| m.meeting.at),
    });
    if with_meetings {
        view["meetings"] = json!(company.meetings);
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
