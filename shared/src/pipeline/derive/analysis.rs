//! The optional analysis by an OpenAI-compatible chat completions API (`LLM_API_BASE_URL`,
//! `LLM_API_KEY`, `LLM_MODEL`): each new task is categorised with a confidence and a one-line
//! reason, and an upload whose file name says nothing gets a title from its transcript; both
//! asynchronously (messages on the events queue, each claimed so it runs once), retried on 429
//! and 5xx, never holding up an import. Without the settings nothing is called and tasks say
//! `not_configured`.

use super::{kinds, read, update};
use crate::connectors::rate_limit::{
    BucketBudget, Budget, Budgets, CredentialLimiter, RequestClass,
};
use crate::connectors::transport::{self, RetryPolicy, TransportError};
use crate::domain::{AnalysisStatus, RecordingId, Task, TaskAnalysis, TaskCategory, Tenant};
use crate::pipeline::claims::{self, Claimed};
use crate::pipeline::outbound::{self, Message};
use crate::pipeline::upload_import::generic_title;
use crate::services::Services;
use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use serde_json::json;
use std::sync::OnceLock;
use std::time::Duration;

/// Requests per second this process sends at most (the account's own limit answers 429s,
/// which are waited out).
const REQUESTS_PER_SECOND: u32 = 20;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest reason kept.
const MAX_REASON_CHARS: usize = 200;

const TITLE_INSTRUCTIONS: &str = "You give meeting recordings short titles. Answer with a \
JSON object only: {\"title\": at most eight words naming what the meeting was about}.";
/// Transcript characters a title is asked from.
const TITLE_TRANSCRIPT_CHARS: usize = 6_000;
/// Longest title kept.
const MAX_TITLE_CHARS: usize = 120;

const INSTRUCTIONS: &str = "You categorise action items from meetings. Answer with a JSON \
object only: {\"category\": one of \"follow_up\", \"deliverable\", \"scheduling\", \
\"decision\", \"other\"; \"confidence\": a number from 0 to 1; \"reason\": one short \
sentence}.";

/// Whether a chat API is configured.
pub fn configured(services: &Services) -> bool {
    services.config.llm.is_some()
}

/// Queues the analysis of task `task_id`.
pub async fn request(services: &Services, owner: &Tenant, task_id: &str) -> Result<()> {
    outbound::send(
        services,
        &Message::AnalyzeTask {
            owner: owner.clone(),
            task_id: task_id.to_owned(),
        },
    )
    .await
}

/// Queues the titling of upload recording `recording_id` from its transcript.
pub async fn request_title(
    services: &Services,
    owner: &Tenant,
    recording_id: &RecordingId,
) -> Result<()> {
    outbound::send(
        services,
        &Message::TitleRecording {
            owner: owner.clone(),
            recording_id: recording_id.clone(),
        },
    )
    .await
}

fn limiter() -> &'static CredentialLimiter {
    static LIMITER: OnceLock<CredentialLimiter> = OnceLock::new();
    LIMITER.get_or_init(|| {
        CredentialLimiter::new(&Budgets(vec![BucketBudget {
            budget: Budget::per_second(REQUESTS_PER_SECOND),
            spent_by: &[RequestClass::Light],
        }]))
    })
}

/// What the model is asked to answer.
#[derive(Deserialize)]
struct Verdict {
    category: TaskCategory,
    confidence: f64,
    reason: String,
}

/// Analyses task `task_id` once, when it is still waiting for it. A transient failure of the
/// API is an error (the queue tries again); an answer that is not what was asked leaves the
/// task uncategorised, with the reason.
pub async fn analyze(services: &Services, owner: &Tenant, task_id: &str) -> Result<()> {
    let Some(task) = read::<Task>(services, owner, kinds::TASK, task_id).await? else {
        return Ok(());
    };
    if task.analysis.status != AnalysisStatus::Pending {
        return Ok(());
    }
    let now = services.clock.now();
    let key = format!("analysis:{owner}:{task_id}");
    let once = services.once.as_ref();
    match claims::claim(once, &key, chrono::Duration::minutes(5), now).await? {
        Claimed::Done => return Ok(()),
        Claimed::InProgress => bail!("task {task_id} is being analysed by another worker"),
        Claimed::Ours => {}
    }
    let analysis = match ask(services, &task).await {
        Ok(analysis) => analysis,
        Err(e) => {
            claims::release(once, &key).await?;
            return Err(e);
        }
    };
    update(
        services,
        owner,
        kinds::TASK,
        task_id,
        |stored: Option<Task>| {
            stored.map(|mut t| {
                t.analysis = analysis.clone();
                t
            })
        },
    )
    .await?;
    claims::confirm(once, &key, chrono::Duration::days(8), now).await
}

async fn ask(services: &Services, task: &Task) -> Result<TaskAnalysis> {
    let assignee = task
        .assignee_name
        .as_deref()
        .or(task.assignee_email.as_deref())
        .unwrap_or("no one");
    let asked = format!(
        "Meeting: {}\nAction item: {}\nAssigned to: {assignee}",
        task.recording_title, task.description
    );
    Ok(match chat(services, INSTRUCTIONS, &asked).await? {
        Ok(content) => verdict(&content),
        Err(refusal) => failed(refusal),
    })
}

/// The chat API's answer to `asked` under `instructions`: its text, or (inside) why no usable
/// answer came. Transient failures, after the retries, are errors: the queue tries again.
async fn chat(
    services: &Services,
    instructions: &str,
    asked: &str,
) -> Result<Result<String, String>> {
    let settings = services
        .config
        .llm
        .as_ref()
        .context("no chat API is configured")?;
    let key = services
        .secrets()
        .await?
        .llm_api_key
        .clone()
        .context("LLM_API_KEY is not set")?;
    let url = format!(
        "{}/chat/completions",
        settings.base_url.as_str().trim_end_matches('/')
    );
    let body = json!({
        "model": settings.model,
        "temperature": 0,
        "response_format": {"type": "json_object"},
        "messages": [
            {"role": "system", "content": instructions},
            {"role": "user", "content": asked},
        ],
    });
    let http = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()?;
    let policy = RetryPolicy::default().with_first_delay(settings.retry_base);
    let answer = transport::send(limiter(), RequestClass::Light, &policy, || {
        http.post(&url).bearer_auth(key.expose()).json(&body)
    })
    .await
    .map_err(|e| match e {
        TransportError::RateLimited { attempts, .. } => {
            anyhow!("the chat API kept answering 429 after {attempts} attempts")
        }
        TransportError::Unavailable { attempts, reason } => {
            anyhow!("the chat API did not answer after {attempts} attempts: {reason}")
        }
    })?;
    if !answer.status.is_success() {
        return Ok(Err(format!(
            "the chat API refused the request ({}): {}",
            answer.status.as_u16(),
            transport::provider_message(&answer.body)
        )));
    }
    let completion: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
    Ok(completion["choices"][0]["message"]["content"]
        .as_str()
        .map(|content| content.trim().to_owned())
        .ok_or_else(|| "the chat API's answer had no message".to_owned()))
}

/// Titles an upload's recording from its transcript, once, when its title still says nothing.
/// An answer that is not a title leaves it as it is.
pub async fn title_recording(
    services: &Services,
    owner: &Tenant,
    recording_id: &RecordingId,
) -> Result<()> {
    let Some(mut recording) = services.recordings.get(owner, recording_id).await? else {
        return Ok(());
    };
    if !generic_title(&recording.title) {
        return Ok(());
    }
    let now = services.clock.now();
    let key = format!("title:{owner}:{recording_id}");
    let once = services.once.as_ref();
    match claims::claim(once, &key, chrono::Duration::minutes(5), now).await? {
        Claimed::Done => return Ok(()),
        Claimed::InProgress => bail!("recording {recording_id} is being titled by another worker"),
        Claimed::Ours => {}
    }
    let titled = async {
        let transcript = crate::views::load_transcript(services, &recording.transcript).await?;
        let mut text = String::new();
        for segment in &transcript {
            if text.len() >= TITLE_TRANSCRIPT_CHARS {
                break;
            }
            text.push_str(&segment.text);
            text.push('\n');
        }
        let asked = format!(
            "Transcript:\n{}",
            crate::retry::cut(&text, TITLE_TRANSCRIPT_CHARS)
        );
        let answer = chat(services, TITLE_INSTRUCTIONS, &asked).await?;
        let title = answer.ok().and_then(|content| {
            let parsed: serde_json::Value = serde_json::from_str(&content).ok()?;
            let title = parsed["title"].as_str()?.trim();
            (!title.is_empty()).then(|| crate::retry::cut(title, MAX_TITLE_CHARS))
        });
        let Some(title) = title else {
            tracing::warn!(recording = %recording_id, "the chat API gave no usable title");
            return Ok(());
        };
        let before = recording.clone();
        recording.retitle(title, services.clock.now());
        services.recordings.update(&recording).await?;
        super::apply(services, &recording, Some(&before)).await?;
        crate::pipeline::outbound::publish(
            services,
            &crate::pipeline::outbound::Event::recording(&recording, false),
        )
        .await
    }
    .await;
    match titled {
        Ok(()) => claims::confirm(once, &key, chrono::Duration::days(8), now).await,
        Err(e) => {
            claims::release(once, &key).await?;
            Err(e)
        }
    }
}

fn failed(reason: String) -> TaskAnalysis {
    TaskAnalysis {
        status: AnalysisStatus::Failed,
        category: None,
        confidence: None,
        reason: Some(crate::retry::cut(&reason, MAX_REASON_CHARS)),
    }
}

/// The analysis an answer gives, or a failed one saying why not.
fn verdict(content: &str) -> TaskAnalysis {
    match serde_json::from_str::<Verdict>(content) {
        Ok(v) if (0.0..=1.0).contains(&v.confidence) && !v.reason.trim().is_empty() => {
            TaskAnalysis {
                status: AnalysisStatus::Done,
                category: Some(v.category),
                confidence: Some(v.confidence),
                reason: Some(crate::retry::cut(v.reason.trim(), MAX_REASON_CHARS)),
            }
        }
        _ => failed(format!(
            "the answer was not the JSON asked for: {}",
            crate::retry::cut(content, 120)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_is_taken_only_when_it_is_what_was_asked() {
        let done =
            verdict(r#"{"category": "follow_up", "confidence": 0.9, "reason": "send the deck"}"#);
        assert_eq!(done.status, AnalysisStatus::Done);
        assert_eq!(done.category, Some(TaskCategory::FollowUp));
        for bad in [
            "I think this is a follow-up.",
            r#"{"category": "urgent", "confidence": 0.9, "reason": "x"}"#,
            r#"{"category": "other", "confidence": 7, "reason": "x"}"#,
        ] {
            let analysis = verdict(bad);
            assert_eq!(analysis.status, AnalysisStatus::Failed, "{bad}");
            assert_eq!(analysis.category, None);
            assert!(analysis.reason.unwrap().contains("not the JSON asked for"));
        }
    }
}
