//! Tasks from action items: one assigned inside the organisation (or to no one) is a task;
//! one assigned to someone outside is kept as `excluded`, with that reason, and is never a
//! task. A task is its recording's action item at one place in the list, so a re-import that
//! rewords the item updates the task and keeps the completion the member set; an item gone
//! from the recording closes its task as `removed`.

use super::{analysis, derived_id, kinds, meeting_time, read_all, update};
use crate::domain::{
    ActionItem, AnalysisStatus, Recording, RecordingId, Task, TaskAnalysis, TaskStatus, Tenant,
};
use crate::services::Services;
use anyhow::Result;
use std::collections::HashSet;

pub fn task_id(recording: &RecordingId, index: usize) -> String {
    derived_id("tsk_", &format!("{recording}:{index}"))
}

/// Why `item` is not a task, when it is assigned outside.
fn excluded_reason(item: &ActionItem) -> Option<String> {
    let assigned = item.assignee_email.is_some() || item.assignee_name.is_some();
    if !assigned || item.assignee_is_internal {
        return None;
    }
    let who = item
        .assignee_email
        .clone()
        .or_else(|| item.assignee_name.clone())
        .unwrap_or_default();
    Some(format!(
        "assigned to {who}, who is outside the organisation"
    ))
}

pub async fn apply(
    services: &Services,
    recording: &Recording,
    before: Option<&Recording>,
) -> Result<()> {
    let owner = recording.owner();
    let now = services.clock.now();
    let configured = analysis::configured(services);
    for (index, item) in recording.action_items.iter().enumerate() {
        let id = task_id(&recording.id, index);
        let excluded = excluded_reason(item);
        let task = update(
            services,
            &owner,
            kinds::TASK,
            &id,
            |stored: Option<Task>| {
                let status = if excluded.is_some() {
                    TaskStatus::Excluded
                } else {
                    TaskStatus::Open
                };
                let mut task = stored.unwrap_or_else(|| Task {
                    id: id.clone(),
                    recording_id: recording.id.clone(),
                    recording_title: String::new(),
                    index,
                    description: String::new(),
                    assignee_name: None,
                    assignee_email: None,
                    timestamp_seconds: None,
                    meeting_at: meeting_time(recording),
                    status,
                    excluded_reason: None,
                    completed_at_source: false,
                    analysis: TaskAnalysis::waiting(configured && excluded.is_none()),
                    created_at: now,
                    updated_at: now,
                });
                let before = task.clone();
                task.recording_title = recording.title.clone();
                task.description = item.description.clone();
                task.assignee_name = item.assignee_name.clone();
                task.assignee_email = item.assignee_email.clone();
                task.timestamp_seconds = item.timestamp_seconds;
                task.meeting_at = meeting_time(recording);
                task.status = status;
                task.excluded_reason = excluded.clone();
                task.completed_at_source = item.completed;
                if task != before {
                    task.updated_at = now;
                }
                Some(task)
            },
        )
        .await?;
        if task.is_some_and(|t| t.analysis.status == AnalysisStatus::Pending) {
            // Asked again by each import while no answer is kept: the analysis is claimed,
            // so it runs once.
            analysis::request(services, &owner, &id).await?;
        }
    }
    // Items gone from the end of the list close their tasks.
    let before = before.map_or(0, |b| b.action_items.len());
    for index in recording.action_items.len()..before {
        close_removed(services, &owner, &task_id(&recording.id, index)).await?;
    }
    Ok(())
}

/// Marks task `id` removed (its action item is gone).
pub async fn close_removed(services: &Services, owner: &Tenant, id: &str) -> Result<()> {
    let now = services.clock.now();
    update(services, owner, kinds::TASK, id, |stored: Option<Task>| {
        stored.map(|mut t| {
            if t.status != TaskStatus::Removed {
                t.status = TaskStatus::Removed;
                t.updated_at = now;
            }
            t
        })
    })
    .await?;
    Ok(())
}

/// The stored tasks no action item of `recordings` makes any more (a rebuild keeps them,
/// closed, as incremental derivation does).
pub async fn stale_tasks(
    services: &Services,
    owner: &Tenant,
    recordings: &[Recording],
) -> Result<Vec<Task>> {
    let live: HashSet<String> = recordings
        .iter()
        .flat_map(|r| (0..r.action_items.len()).map(|i| task_id(&r.id, i)))
        .collect();
    Ok(read_all::<Task>(services, owner, kinds::TASK)
        .await?
        .into_iter()
        .filter(|t| !live.contains(&t.id))
        .collect())
}
