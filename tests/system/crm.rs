//! What a CRM imports from a member's calls: contacts, companies, tasks and one meeting across
//! sources, derived in the import path (`import_meeting`, the stage every sync, webhook and
//! upload import goes through) and read over HTTP.

use chrono::{DateTime, TimeZone, Utc};
use fakes::chat::{ChatFailure, FakeChat, MALFORMED_REPLY};
use pipeline::domain::{
    ActionItem, ExternalId, JobId, MeetingContent, Participant, Sharing, Source,
};
use pipeline::pipeline::persist::import_meeting;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use system_tests::{assert_error, eventually, Settings, TestApp};

fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, minute, 0).unwrap()
}

fn person(name: &str, email: &str, external: bool) -> Participant {
    Participant {
        name: Some(name.into()),
        email: Some(email.into()),
        is_external: external,
    }
}

fn item(description: &str, assignee: (&str, &str), internal: bool) -> ActionItem {
    ActionItem {
        description: description.into(),
        assignee_name: Some(assignee.0.into()),
        assignee_email: Some(assignee.1.into()),
        assignee_is_internal: internal,
        completed: false,
        timestamp_seconds: Some(600.0),
    }
}

fn content(
    source: Source,
    id: &str,
    title: &str,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    participants: Vec<Participant>,
    action_items: Vec<ActionItem>,
) -> MeetingContent {
    MeetingContent {
        source,
        external_id: ExternalId::parse(id).unwrap(),
        title: title.into(),
        started_at: Some(start),
        ended_at: Some(end),
        duration_seconds: Some((end - start).num_seconds() as f64),
        participants,
        transcript: vec![],
        summary_markdown: Some(format!("## {title}")),
        action_items,
        url: None,
        share_url: None,
        source_created_at: Some(end),
        files: vec![],
    }
}

const ALICE: (&str, &str) = ("Alice Smith", "alice@ourco.com");
const BOB: (&str, &str) = ("Bob Jones", "bob@ourco.com");

/// Three Fathom meetings (with people of Acme and Globex, a gmail.com guest, action items
/// inside and outside) and a Zoom recording of the first.
fn pilot_review(action_items: Vec<ActionItem>) -> MeetingContent {
    content(
        Source::Fathom,
        "101",
        "Pilot review — Acme",
        (at(2, 10, 0), at(2, 10, 45)),
        vec![
            person(ALICE.0, ALICE.1, false),
            person(BOB.0, BOB.1, false),
            person("Carol Diaz", "Carol.Diaz@Acme.com", true),
            person("Dan Ng", "dan@acme.com", true),
            person("Gus Guest", "gus.guest@gmail.com", true),
        ],
        action_items,
    )
}

fn pilot_items() -> Vec<ActionItem> {
    vec![
        item("Send the revised proposal to Acme", ALICE, true),
        item(
            "Share the usage export by team",
            ("Carol Diaz", "carol.diaz@acme.com"),
            false,
        ),
        item("Book the security review", BOB, true),
    ]
}

fn meetings() -> Vec<MeetingContent> {
    vec![
        pilot_review(pilot_items()),
        content(
            Source::Fathom,
            "102",
            "Intro — Globex",
            (at(3, 14, 0), at(3, 14, 30)),
            vec![
                person(ALICE.0, ALICE.1, false),
                person("Park, Erin", "erin@globex.co.uk", true),
            ],
            vec![item("Send pricing to Globex", ALICE, true)],
        ),
        content(
            Source::Fathom,
            "103",
            "Team sync",
            (at(4, 9, 0), at(4, 9, 20)),
            vec![person(ALICE.0, ALICE.1, false), person(BOB.0, BOB.1, false)],
            vec![],
        ),
        content(
            Source::Zoom,
            "zoom-pilot-review",
            "Acme pilot review",
            (at(2, 10, 1), at(2, 10, 44)),
            vec![Participant {
                name: Some(ALICE.0.into()),
                email: Some(ALICE.1.into()),
                is_external: false,
            }],
            vec![],
        ),
    ]
}

async fn import(app: &TestApp, user: &str, content: MeetingContent) -> String {
    let result = import_meeting(
        app.services(),
        &app.tenant(user),
        Sharing::Private,
        content,
        None,
        &JobId::new(),
    )
    .await
    .unwrap();
    result.recording_id.unwrap().to_string()
}

async fn items(app: &TestApp, user: &str, path: &str) -> Vec<Value> {
    let (status, page) = app.get(path, Some(user)).await;
    assert_eq!(status, StatusCode::OK, "{path}: {page}");
    page["items"].as_array().unwrap().clone()
}

fn field<'a>(items: &'a [Value], name: &str) -> Vec<&'a str> {
    items.iter().map(|i| i[name].as_str().unwrap()).collect()
}

/// Everything derived for `user`, as the API shows it (for comparing two derivations).
async fn everything(app: &TestApp, user: &str) -> Value {
    let mut tasks = Vec::new();
    for status in ["open", "completed", "removed", "excluded"] {
        tasks.extend(items(app, user, &format!("/tasks?status={status}")).await);
    }
    tasks.sort_by_key(|t| t["id"].as_str().unwrap().to_owned());
    let mut contacts = Vec::new();
    for contact in items(app, user, "/contacts").await {
        let path = format!("/contacts/{}", contact["id"].as_str().unwrap());
        contacts.push(app.get(&path, Some(user)).await.1);
    }
    json!({
        "contacts": contacts,
        "companies": items(app, user, "/companies").await,
        "tasks": tasks,
    })
}

#[tokio::test]
async fn calls_become_contacts_companies_tasks_and_one_meeting_across_sources() {
    let app = TestApp::start().await;
    let mut ids = Vec::new();
    for meeting in meetings() {
        ids.push(import(&app, "alice", meeting).await);
    }
    let (pilot, zoom) = (ids[0].clone(), ids[3].clone());

    // Contacts: one per email, names split, companies by domain, free mail makes none.
    let contacts = items(&app, "alice", "/contacts").await;
    let mut emails = field(&contacts, "email");
    emails.sort();
    assert_eq!(
        emails,
        [
            "alice@ourco.com",
            "bob@ourco.com",
            "carol.diaz@acme.com",
            "dan@acme.com",
            "erin@globex.co.uk",
            "gus.guest@gmail.com"
        ]
    );
    let by_email = |email: &str| {
        contacts
            .iter()
            .find(|c| c["email"] == email)
            .unwrap()
            .clone()
    };
    let carol = by_email("carol.diaz@acme.com");
    assert_eq!(
        (carol["first_name"].as_str(), carol["last_name"].as_str()),
        (Some("Carol"), Some("Diaz"))
    );
    assert_eq!(carol["company"]["domain"], "acme.com");
    assert_eq!(carol["external"], true);
    let erin = by_email("erin@globex.co.uk");
    assert_eq!(
        (erin["first_name"].as_str(), erin["last_name"].as_str()),
        (Some("Erin"), Some("Park"))
    );
    assert_eq!(by_email("gus.guest@gmail.com")["company"], Value::Null);
    assert_eq!(by_email("bob@ourco.com")["external"], false);
    let alice = by_email("alice@ourco.com");
    assert_eq!(
        alice["meeting_count"], 4,
        "three Fathom meetings and the Zoom recording"
    );
    let (_, detail) = app
        .get(
            &format!("/contacts/{}", alice["id"].as_str().unwrap()),
            Some("alice"),
        )
        .await;
    let titles: Vec<&str> = detail["meetings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles[0], "Team sync", "newest first: {titles:?}");
    let acme_people = items(&app, "alice", "/contacts?company=acme.com").await;
    assert_eq!(field(&acme_people, "email").len(), 2);
    assert_eq!(
        items(&app, "alice", "/contacts?external=false").await.len(),
        2
    );
    assert_eq!(
        field(&items(&app, "alice", "/contacts?q=erin").await, "email"),
        ["erin@globex.co.uk"]
    );

    // Companies: Acme and Globex (named from the domain), not gmail.com.
    let companies = items(&app, "alice", "/companies").await;
    let mut names = field(&companies, "name");
    names.sort();
    assert_eq!(names, ["Acme", "Globex"]);
    let acme = companies
        .iter()
        .find(|c| c["domain"] == "acme.com")
        .unwrap();
    assert_eq!(
        acme["contacts"],
        json!(["carol.diaz@acme.com", "dan@acme.com"])
    );
    assert_eq!(acme["meeting_count"], 1);

    // Tasks: the internal action items; the one assigned to Carol is excluded, with why.
    let tasks = items(&app, "alice", "/tasks").await;
    let mut descriptions = field(&tasks, "description");
    descriptions.sort();
    assert_eq!(
        descriptions,
        [
            "Book the security review",
            "Send pricing to Globex",
            "Send the revised proposal to Acme"
        ]
    );
    assert!(tasks
        .iter()
        .all(|t| t["analysis"]["status"] == "not_configured"));
    let excluded = items(&app, "alice", "/tasks?status=excluded").await;
    assert_eq!(
        field(&excluded, "description"),
        ["Share the usage export by team"]
    );
    assert!(excluded[0]["excluded_reason"]
        .as_str()
        .unwrap()
        .contains("outside"));
    assert_eq!(
        items(&app, "alice", "/tasks?assignee=bob@ourco.com")
            .await
            .len(),
        1
    );
    let proposal = tasks
        .iter()
        .find(|t| t["description"] == "Send the revised proposal to Acme")
        .unwrap();
    assert_eq!(proposal["recording_id"], pilot.as_str());
    assert_eq!(proposal["timestamp_seconds"], 600.0);

    // One meeting: the Fathom and Zoom recordings of the pilot review are linked.
    let (_, fathom) = app
        .get(&format!("/recordings/{pilot}"), Some("alice"))
        .await;
    assert_eq!(
        fathom["linked_recordings"][0]["id"],
        zoom.as_str(),
        "{fathom}"
    );
    assert_eq!(fathom["linked_recordings"].as_array().unwrap().len(), 1);
    let (_, sync) = app
        .get(&format!("/recordings/{}", ids[2]), Some("alice"))
        .await;
    assert_eq!(sync["linked_recordings"], json!([]));
    let grouped = items(&app, "alice", "/recordings?group=meeting").await;
    assert_eq!(grouped.len(), 3, "the pilot review once");
    let lead = grouped
        .iter()
        .find(|r| r["linked_recording_ids"] != json!([]))
        .unwrap();
    assert_eq!(lead["id"], pilot.as_str(), "Fathom leads by default");
    let (status, settings) = app
        .send_json(
            Method::PATCH,
            "/settings",
            "alice",
            &json!({"source_priority": ["zoom"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    assert_eq!(
        settings["source_priority"],
        json!(["zoom", "fathom", "upload"])
    );
    let grouped = items(&app, "alice", "/recordings?group=meeting").await;
    let lead = grouped
        .iter()
        .find(|r| r["linked_recording_ids"] != json!([]))
        .unwrap();
    assert_eq!(lead["id"], zoom.as_str(), "the member's order decides");

    // Search also matches participants, the summary and action items.
    let search = |q: &'static str| {
        let app = &app;
        async move {
            field(
                &items(app, "alice", &format!("/recordings?q={q}")).await,
                "id",
            )
            .len()
        }
    };
    assert_eq!(search("carol").await, 1);
    assert_eq!(search("globex.co.uk").await, 1);
    assert_eq!(search("pricing").await, 1);

    // A rebuild from the recordings gives what incremental derivation gave.
    let incremental = everything(&app, "alice").await;
    let (status, rebuilt) = app
        .send_json(Method::POST, "/derive/rebuild", "alice", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{rebuilt}");
    assert_eq!(rebuilt["recordings"], 4);
    assert_eq!(everything(&app, "alice").await, incremental);
}

#[tokio::test]
async fn a_reimport_keeps_a_members_completion_and_closes_removed_items() {
    let app = TestApp::start().await;
    import(&app, "alice", pilot_review(pilot_items())).await;
    let tasks = items(&app, "alice", "/tasks").await;
    let proposal = tasks
        .iter()
        .find(|t| t["description"] == "Send the revised proposal to Acme")
        .unwrap();
    let path = format!("/tasks/{}", proposal["id"].as_str().unwrap());
    let (status, done) = app
        .send_json(Method::PATCH, &path, "alice", &json!({"completed": true}))
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(
        (done["status"].as_str(), done["completed"].as_bool()),
        (Some("completed"), Some(true))
    );

    // Fathom rewords the first item and drops the last.
    let mut changed = pilot_items();
    changed[0].description = "Send the revised proposal (v2) to Acme".into();
    changed.pop();
    import(&app, "alice", pilot_review(changed)).await;
    let completed = items(&app, "alice", "/tasks?status=completed").await;
    assert_eq!(
        field(&completed, "description"),
        ["Send the revised proposal (v2) to Acme"]
    );
    assert_eq!(completed[0]["id"], proposal["id"], "the same task");
    let removed = items(&app, "alice", "/tasks?status=removed").await;
    assert_eq!(field(&removed, "description"), ["Book the security review"]);
    assert!(items(&app, "alice", "/tasks?status=open").await.is_empty());

    // The same import again changes nothing; a rebuild neither.
    let before = everything(&app, "alice").await;
    let mut again = pilot_items();
    again[0].description = "Send the revised proposal (v2) to Acme".into();
    again.pop();
    import(&app, "alice", pilot_review(again)).await;
    assert_eq!(everything(&app, "alice").await, before);
    app.send_json(Method::POST, "/derive/rebuild", "alice", &json!({}))
        .await;
    assert_eq!(everything(&app, "alice").await, before);

    // An excluded item is not a task to complete.
    let excluded = items(&app, "alice", "/tasks?status=excluded").await;
    assert_error(
        &app.send_json(
            Method::PATCH,
            &format!("/tasks/{}", excluded[0]["id"].as_str().unwrap()),
            "alice",
            &json!({"completed": true}),
        )
        .await,
        StatusCode::CONFLICT,
        "not_a_task",
    );
}

#[tokio::test]
async fn another_members_contacts_companies_and_tasks_are_not_there() {
    let app = TestApp::start().await;
    for meeting in meetings() {
        import(&app, "alice", meeting).await;
    }
    let contact = items(&app, "alice", "/contacts").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let company = items(&app, "alice", "/companies").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let task = items(&app, "alice", "/tasks").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [
        "/contacts",
        "/companies",
        "/tasks",
        "/tasks?status=excluded",
    ] {
        assert!(items(&app, "bob", path).await.is_empty(), "{path}");
    }
    for path in [
        format!("/contacts/{contact}"),
        format!("/companies/{company}"),
    ] {
        assert_error(
            &app.get(&path, Some("bob")).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    assert_error(
        &app.send_json(
            Method::PATCH,
            &format!("/tasks/{task}"),
            "bob",
            &json!({"completed": true}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let (_, settings) = app
        .send_json(
            Method::PATCH,
            "/settings",
            "bob",
            &json!({"source_priority": ["upload"]}),
        )
        .await;
    assert_eq!(settings["source_priority"][0], "upload");
    assert_eq!(
        app.get("/settings", Some("alice")).await.1["source_priority"][0],
        "fathom"
    );
    let (_, rebuilt) = app
        .send_json(Method::POST, "/derive/rebuild", "bob", &json!({}))
        .await;
    assert_eq!(rebuilt["recordings"], 0);
    assert_eq!(
        items(&app, "alice", "/tasks").await.len(),
        3,
        "bob's rebuild left alice's alone"
    );
}

/// A call with a task for the chat API to categorise, one it cannot, and an excluded item.
fn pricing_call() -> MeetingContent {
    content(
        Source::Fathom,
        "201",
        "Pricing call",
        (at(5, 9, 0), at(5, 9, 30)),
        vec![
            person(ALICE.0, ALICE.1, false),
            person("Erin Park", "erin@globex.co.uk", true),
        ],
        vec![
            item("Send pricing to Globex", ALICE, true),
            item("Handle the mystery item", ALICE, true),
            item(
                "Review the contract",
                ("Erin Park", "erin@globex.co.uk"),
                false,
            ),
        ],
    )
}

#[tokio::test]
async fn tasks_are_categorised_by_the_chat_api_when_it_is_configured() {
    let chat = FakeChat::start("sk-test-chat").await.unwrap();
    chat.reply_with(|request| {
        let asked = &request.messages.last().unwrap().1;
        if asked.contains("mystery") {
            MALFORMED_REPLY.to_owned()
        } else {
            r#"{"category": "follow_up", "confidence": 0.92, "reason": "a promise to send something"}"#
                .to_owned()
        }
    });
    chat.fail_next(vec![ChatFailure::RateLimited {
        retry_after_secs: 1,
    }]);
    let app = TestApp::start_with(
        Settings::default()
            .set("LLM_API_BASE_URL", chat.base_url())
            .set("LLM_MODEL", "gpt-test")
            .set("LLM_API_KEY", chat.api_key())
            .set("LLM_RETRY_BASE_MS", "10"),
        |s| s,
    )
    .await;
    let meeting = pricing_call();
    import(&app, "alice", meeting).await;
    eventually(30, "both tasks are analysed", || async {
        items(&app, "alice", "/tasks")
            .await
            .iter()
            .all(|t| t["analysis"]["status"] != "pending")
    })
    .await;
    let tasks = items(&app, "alice", "/tasks").await;
    let task = |d: &str| {
        tasks
            .iter()
            .find(|t| t["description"] == d)
            .unwrap()
            .clone()
    };
    let pricing = task("Send pricing to Globex");
    assert_eq!(pricing["analysis"]["status"], "done");
    assert_eq!(pricing["analysis"]["category"], "follow_up");
    assert_eq!(pricing["analysis"]["confidence"], 0.92);
    let mystery = task("Handle the mystery item");
    assert_eq!(mystery["analysis"]["status"], "failed");
    assert_eq!(
        mystery["analysis"]["category"],
        Value::Null,
        "left uncategorised"
    );
    assert!(mystery["analysis"]["reason"]
        .as_str()
        .unwrap()
        .contains("not the JSON asked for"));
    let asked: Vec<String> = chat
        .requests()
        .iter()
        .map(|r| r.messages.last().unwrap().1.clone())
        .collect();
    assert_eq!(
        asked.len(),
        3,
        "two tasks, one of them again after the 429: {asked:?}"
    );
    assert!(
        asked.iter().all(|a| !a.contains("Review the contract")),
        "an excluded item is never analysed"
    );
    assert!(chat.requests().iter().all(|r| r.model == "gpt-test"));

    // A re-import does not ask again.
    let before = chat.request_count();
    let again = pricing_call();
    import(&app, "alice", again).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(chat.request_count(), before);
}
