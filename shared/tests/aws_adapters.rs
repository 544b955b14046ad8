//! What the AWS backend does beyond the shared contract (`contract_aws.rs`): browser uploads
//! through presigned URLs, the secret loader, the table as created, cursors, filtered paging
//! across read batches, and retries of partial failures that moto never produces (those run
//! against SDK mocks).

use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsError, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::types::error::TransactionCanceledException;
use aws_sdk_dynamodb::types::{CancellationReason, IndexStatus, ProjectionType, TimeToLiveStatus};
use aws_sdk_sqs::operation::send_message_batch::{SendMessageBatchInput, SendMessageBatchOutput};
use aws_sdk_sqs::types::{BatchResultErrorEntry, SendMessageBatchResultEntry};
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use bytes::Bytes;
use pipeline::adapters::aws::{
    load_secrets, table_definition, Backoff, DynamoStore, S3BlobStore, SqsQueue,
};
use pipeline::crypto::{SealingKey, SecretString};
use pipeline::domain::Source;
use pipeline::ports::{Inserted, Queue, RecordingQuery, RecordingWriter};
use pipeline::testing::moto::{MotoBackend, MotoServer};
use pipeline::testing::{meeting, member, recording};
use std::collections::HashMap;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

async fn backend() -> MotoBackend {
    MotoServer::shared().create_backend(3).await.unwrap()
}

#[tokio::test]
async fn a_presigned_put_uploads_from_outside_the_sdk() {
    let b = backend().await;
    let presigned = b
        .services
        .blobs
        .presign_put(
            "uploads/alice/u1/call.mp3",
            "audio/mpeg",
            70_000,
            Duration::from_secs(600),
        )
        .await
        .unwrap();
    assert_eq!(
        presigned.headers.get("content-type").map(String::as_str),
        Some("audio/mpeg")
    );
    let bucket_path = format!(
        "{}/{}/",
        MotoServer::shared().endpoint(),
        b.resources.audio_bucket
    );
    assert!(
        presigned.url.starts_with(&bucket_path),
        "path-style URL on a custom endpoint: {}",
        presigned.url
    );
    let signed = format!("{} {:?}", presigned.url.to_lowercase(), presigned.headers);
    assert!(
        !signed.contains("checksum"),
        "no checksum a browser cannot compute: {signed}"
    );
    // The length and the condition are signed, so S3 refuses another length and a second PUT.
    let url = url::Url::parse(&presigned.url).unwrap();
    let signed_headers = url
        .query_pairs()
        .find(|(name, _)| name == "X-Amz-SignedHeaders")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    let signed_headers: Vec<&str> = signed_headers.split(';').collect();
    for header in ["content-length", "content-type", "if-none-match"] {
        assert!(signed_headers.contains(&header), "{signed_headers:?}");
    }
    for forbidden in ["host", "content-length"] {
        assert!(
            !presigned.headers.contains_key(forbidden),
            "a browser may not set {forbidden}: {:?}",
            presigned.headers
        );
    }

    let audio = vec![0x49u8; 70_000];
    let put = || {
        let mut request = reqwest::Client::new()
            .put(&presigned.url)
            .body(audio.clone());
        for (name, value) in &presigned.headers {
            request = request.header(name, value);
        }
        request.send()
    };
    let response = put().await.unwrap();
    assert!(
        response.status().is_success(),
        "upload refused: {}",
        response.status()
    );
    assert_eq!(
        put().await.unwrap().status(),
        reqwest::StatusCode::PRECONDITION_FAILED,
        "the URL works once"
    );

    assert_eq!(
        b.services
            .blobs
            .get_bytes("uploads/alice/u1/call.mp3")
            .await
            .unwrap(),
        Some(audio)
    );
    let s3 = S3BlobStore::new(
        &MotoServer::shared().sdk_config().await,
        &b.resources.audio_bucket,
    )
    .unwrap();
    assert_eq!(
        s3.content_type("uploads/alice/u1/call.mp3").await.unwrap(),
        Some("audio/mpeg".to_owned())
    );
}

#[tokio::test]
async fn blobs_stream_large_objects() {
    let b = backend().await;
    let payload: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    b.services
        .blobs
        .put(
            "recordings/big.bin",
            Bytes::from(payload.clone()),
            "application/octet-stream",
        )
        .await
        .unwrap();
    let mut reader = b
        .services
        .blobs
        .get("recordings/big.bin")
        .await
        .unwrap()
        .unwrap();
    let mut read = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut read)
        .await
        .unwrap();
    assert!(read == payload, "streamed bytes differ from what was put");
}

#[tokio::test]
async fn secrets_load_from_the_json_secret_and_never_leak() {
    let b = backend().await;
    let key = SealingKey::generate_base64();
    let secret = serde_json::json!({
        "TOKEN_SEALING_KEY": key,
        "FATHOM_CLIENT_SECRET": "client-secret-7",
        "FATHOM_WEBHOOK_SECRET": "whsec_dGVzdA==",
        "TRANSCRIBE_API_KEY": "sk-test-1",
    });
    let arn = create_secret(&b, "full", &secret.to_string()).await;
    let secrets = load_secrets(&b.clients.secrets, &arn).await.unwrap();
    assert_eq!(
        secrets
            .fathom_client_secret
            .as_ref()
            .map(SecretString::expose),
        Some("client-secret-7")
    );
    assert_eq!(
        secrets
            .fathom_webhook_secret
            .as_ref()
            .map(|secret| secret.expose_str()),
        Some("whsec_dGVzdA==")
    );
    assert_eq!(
        secrets
            .transcribe_api_key
            .as_ref()
            .map(SecretString::expose),
        Some("sk-test-1")
    );
    let sealed = secrets
        .sealing_key
        .seal(&SecretString::new("token"), "test");
    assert_eq!(
        SealingKey::from_base64(&key)
            .unwrap()
            .open(&sealed, "test")
            .unwrap()
            .expose(),
        "token"
    );
    assert!(!format!("{secrets:?}").contains("client-secret-7"));

    let arn = create_secret(
        &b,
        "bad-key",
        r#"{"TOKEN_SEALING_KEY": "hunter2", "FATHOM_CLIENT_SECRET": "hunter3"}"#,
    )
    .await;
    let err = load_secrets(&b.clients.secrets, &arn).await.unwrap_err();
    let shown = format!("{err:#}");
    assert!(shown.contains("TOKEN_SEALING_KEY"), "{shown}");
    assert!(!shown.contains("hunter"), "{shown}");

    let arn = create_secret(&b, "not-json", "hunter2").await;
    let shown = format!(
        "{:#}",
        load_secrets(&b.clients.secrets, &arn).await.unwrap_err()
    );
    assert!(!shown.contains("hunter"), "{shown}");

    assert!(load_secrets(&b.clients.secrets, "no-such-secret")
        .await
        .is_err());
}

#[tokio::test]
async fn services_start_without_their_secret_and_load_it_once_when_first_needed() {
    let b = backend().await;
    // A secret that does not exist: start-up makes no Secrets Manager call, so it succeeds,
    // and only a use of a secret fails (naming no value).
    let missing = format!("{}-missing", b.secrets_arn);
    let services = b.services_with_secret(&missing).await.unwrap();
    assert_eq!(services.secrets.loads(), 0);
    let owner = member("alice");
    let page = services
        .recordings
        .list(&owner, &RecordingQuery::default())
        .await
        .unwrap();
    assert!(page.items.is_empty(), "what needs no secret is served");
    assert_eq!(services.secrets.loads(), 0, "nothing asked for the secret");
    assert!(services.secrets().await.is_err());
    assert!(services.providers().await.is_err());
    assert!(!services.secrets.is_loaded());

    // The real secret: fetched by the first use, once, however many ask at the same time.
    let services = b.services_with_secret(&b.secrets_arn).await.unwrap();
    assert!(!services.secrets.is_loaded());
    let (a, c, p) = tokio::join!(services.secrets(), services.secrets(), services.providers());
    let (a, c) = (a.unwrap(), c.unwrap());
    assert!(p.is_ok());
    let sealed = a.sealing_key.seal(&SecretString::new("token"), "test");
    assert_eq!(
        c.sealing_key.open(&sealed, "test").unwrap().expose(),
        "token"
    );
    services.providers().await.unwrap();
    services.secrets().await.unwrap();
    assert_eq!(
        services.secrets.loads(),
        1,
        "one GetSecretValue for the process"
    );
    assert!(!format!("{:?}", services.secrets).contains("sealing"));
}

async fn create_secret(b: &MotoBackend, name: &str, value: &str) -> String {
    let name = format!("{}-{name}", b.resources.table_name);
    b.clients
        .secrets
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap()
}

#[tokio::test]
async fn the_created_table_matches_its_definition() {
    let b = backend().await;
    let definition = table_definition();
    let table = b
        .clients
        .dynamodb
        .describe_table()
        .table_name(&b.resources.table_name)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let keys: Vec<&str> = table
        .key_schema()
        .iter()
        .map(|k| k.attribute_name())
        .collect();
    assert_eq!(keys, vec![definition.partition_key, definition.sort_key]);
    let mut indexes: Vec<(String, Vec<String>, Option<ProjectionType>)> = table
        .global_secondary_indexes()
        .iter()
        .map(|index| {
            assert_ne!(index.index_status(), Some(&IndexStatus::Deleting));
            (
                index.index_name().unwrap_or_default().to_owned(),
                index
                    .key_schema()
                    .iter()
                    .map(|k| k.attribute_name().to_owned())
                    .collect(),
                index
                    .projection()
                    .and_then(|p| p.projection_type().cloned()),
            )
        })
        .collect();
    indexes.sort();
    let expected: Vec<_> = definition
        .indexes
        .iter()
        .map(|(name, pk, sk)| {
            (
                name.to_string(),
                vec![pk.to_string(), sk.to_string()],
                Some(ProjectionType::All),
            )
        })
        .collect();
    assert_eq!(indexes, expected);
    let ttl = b
        .clients
        .dynamodb
        .describe_time_to_live()
        .table_name(&b.resources.table_name)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some(definition.ttl_attribute));
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
}

#[tokio::test]
async fn text_search_pages_across_read_batches() {
    let b = backend().await;
    let alice = member("alice");
    let store = &b.services.recordings;
    for i in 0..120 {
        let title = if [5, 60, 110].contains(&i) {
            format!("Budget review {i}")
        } else {
            format!("Standup {i}")
        };
        let source = if i == 60 {
            Source::Upload
        } else {
            Source::Fathom
        };
        store
            .insert_if_absent(&recording(
                &alice,
                meeting(source, &format!("m-{i}"), &title, i),
            ))
            .await
            .unwrap();
    }
    let search = |cursor: Option<String>| RecordingQuery {
        text: Some("  BUDGET ".into()),
        limit: 2,
        cursor,
        ..Default::default()
    };
    let first = store.list(&alice, &search(None)).await.unwrap();
    assert_eq!(
        titles(&first.items),
        ["Budget review 110", "Budget review 60"]
    );
    let second = store
        .list(&alice, &search(first.next_cursor.clone()))
        .await
        .unwrap();
    assert_eq!(titles(&second.items), ["Budget review 5"]);
    assert_eq!(second.next_cursor, None, "the last page says so");

    let fathom_only = RecordingQuery {
        source: Some(Source::Fathom),
        ..search(None)
    };
    let page = store.list(&alice, &fathom_only).await.unwrap();
    assert_eq!(
        titles(&page.items),
        ["Budget review 110", "Budget review 5"]
    );
    assert_eq!(page.next_cursor, None);
}

fn titles(recordings: &[pipeline::domain::Recording]) -> Vec<&str> {
    recordings.iter().map(|r| r.title.as_str()).collect()
}

#[tokio::test]
async fn cursors_only_open_the_listing_they_came_from() {
    let b = backend().await;
    let (alice, bob) = (member("alice"), member("bob"));
    for i in 0..3 {
        b.services
            .recordings
            .insert_if_absent(&recording(
                &alice,
                meeting(Source::Fathom, &format!("m-{i}"), "Call", i),
            ))
            .await
            .unwrap();
    }
    let query = RecordingQuery {
        limit: 1,
        ..Default::default()
    };
    let cursor = b
        .services
        .recordings
        .list(&alice, &query)
        .await
        .unwrap()
        .next_cursor
        .unwrap();
    let replayed = RecordingQuery {
        cursor: Some(cursor.clone()),
        ..query.clone()
    };
    assert!(
        b.services.recordings.list(&bob, &replayed).await.is_err(),
        "another user's cursor is refused"
    );
    assert!(
        b.services
            .connections
            .list_all(Some(&cursor), 5)
            .await
            .is_err(),
        "a cursor of another listing is refused"
    );
    let garbage = RecordingQuery {
        cursor: Some("not a cursor".into()),
        ..query
    };
    assert!(b.services.recordings.list(&alice, &garbage).await.is_err());
}

#[tokio::test]
async fn dead_letters_need_a_redrive_policy() {
    let b = backend().await;
    let url = b
        .clients
        .sqs
        .create_queue()
        .queue_name(format!("{}-plain", b.resources.table_name))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue = SqsQueue::new(b.clients.sqs.clone(), &url);
    queue.send("hello").await.unwrap();
    let err = queue.receive_dead_letters(1).await.unwrap_err();
    assert!(err.to_string().contains("no dead-letter queue"), "{err}");
    assert_eq!(
        queue.receive(10, Duration::from_secs(5)).await.unwrap()[0].body,
        "hello"
    );
}

#[test]
fn a_dropped_server_is_stopped() {
    let server = MotoServer::start().unwrap();
    let address = server.endpoint().trim_start_matches("http://").to_owned();
    assert!(TcpStream::connect(&address).is_ok());
    drop(server);
    assert!(
        TcpStream::connect(&address).is_err(),
        "moto still listens on {address}"
    );
}

/// A fake SendMessageBatch that fails each body listed in `failures` as many times as listed,
/// and records every request's bodies.
#[derive(Default)]
struct FakeBatches {
    failures: HashMap<String, (u32, bool)>,
    requests: Vec<Vec<String>>,
    delivered: Vec<String>,
}

fn fake_sqs(fake: Arc<Mutex<FakeBatches>>) -> aws_sdk_sqs::Client {
    let rule = mock!(aws_sdk_sqs::Client::send_message_batch).then_compute_output(
        move |input: &SendMessageBatchInput| {
            let mut fake = fake.lock().unwrap();
            let (mut bodies, mut successful, mut failed) = (Vec::new(), Vec::new(), Vec::new());
            for entry in input.entries() {
                let body = entry.message_body().to_owned();
                bodies.push(body.clone());
                let failure = fake.failures.get_mut(&body).filter(|(times, _)| *times > 0);
                if let Some((times, sender_fault)) = failure {
                    *times -= 1;
                    let code = if *sender_fault {
                        "InvalidMessageContents"
                    } else {
                        "InternalError"
                    };
                    failed.push(
                        BatchResultErrorEntry::builder()
                            .id(entry.id())
                            .sender_fault(*sender_fault)
                            .code(code)
                            .build()
                            .unwrap(),
                    );
                } else {
                    fake.delivered.push(body);
                    successful.push(
                        SendMessageBatchResultEntry::builder()
                            .id(entry.id())
                            .message_id("m")
                            .md5_of_message_body("x")
                            .build()
                            .unwrap(),
                    );
                }
            }
            fake.requests.push(bodies);
            SendMessageBatchOutput::builder()
                .set_successful(Some(successful))
                .set_failed(Some(failed))
                .build()
                .unwrap()
        },
    );
    mock_client!(aws_sdk_sqs, RuleMode::MatchAny, &[&rule])
}

fn quick_backoff() -> Backoff {
    Backoff {
        first_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_attempts: 4,
    }
}

fn bodies(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("message-{i}")).collect()
}

#[tokio::test]
async fn batch_send_retries_only_the_failed_entries() {
    let fake = Arc::new(Mutex::new(FakeBatches::default()));
    fake.lock().unwrap().failures = HashMap::from([
        ("message-3".to_owned(), (2, false)),
        ("message-17".to_owned(), (1, false)),
    ]);
    let queue =
        SqsQueue::new(fake_sqs(fake.clone()), "https://sqs.test/q").with_backoff(quick_backoff());
    queue.send_batch(&bodies(25)).await.unwrap();
    let fake = fake.lock().unwrap();
    let mut delivered = fake.delivered.clone();
    delivered.sort();
    let mut expected = bodies(25);
    expected.sort();
    assert_eq!(delivered, expected, "each message delivered exactly once");
    let sizes: Vec<usize> = fake.requests.iter().map(Vec::len).collect();
    assert_eq!(
        sizes,
        [10, 1, 1, 10, 1, 5],
        "batches of ten, then only the failed entries"
    );
}

#[tokio::test]
async fn batch_send_gives_up_on_entries_that_keep_failing() {
    let fake = Arc::new(Mutex::new(FakeBatches::default()));
    fake.lock().unwrap().failures = HashMap::from([("message-0".to_owned(), (u32::MAX, false))]);
    let queue =
        SqsQueue::new(fake_sqs(fake.clone()), "https://sqs.test/q").with_backoff(quick_backoff());
    let err = queue.send_batch(&bodies(3)).await.unwrap_err();
    assert!(
        err.to_string().contains("unprocessed after 4 attempts"),
        "{err}"
    );
    assert_eq!(fake.lock().unwrap().requests.len(), 4);
}

#[tokio::test]
async fn batch_send_stops_at_an_entry_sqs_refuses() {
    let fake = Arc::new(Mutex::new(FakeBatches::default()));
    fake.lock().unwrap().failures = HashMap::from([("message-1".to_owned(), (1, true))]);
    let queue =
        SqsQueue::new(fake_sqs(fake.clone()), "https://sqs.test/q").with_backoff(quick_backoff());
    let err = queue.send_batch(&bodies(3)).await.unwrap_err();
    assert!(err.to_string().contains("InvalidMessageContents"), "{err}");
    assert_eq!(
        fake.lock().unwrap().requests.len(),
        1,
        "a malformed message is not retried"
    );
}

fn cancelled(code: &str) -> TransactWriteItemsError {
    TransactWriteItemsError::TransactionCanceledException(
        TransactionCanceledException::builder()
            .cancellation_reasons(CancellationReason::builder().code(code).build())
            .cancellation_reasons(CancellationReason::builder().code("None").build())
            .build(),
    )
}

#[tokio::test]
async fn a_transaction_conflict_is_retried_not_taken_for_a_duplicate() {
    let conflict_then_ok = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .sequence()
        .error(|| cancelled("TransactionConflict"))
        .times(2)
        .output(|| TransactWriteItemsOutput::builder().build())
        .build();
    // Each attempt reads the change feed's counter first (none yet), then commits.
    let no_counter = || {
        mock!(aws_sdk_dynamodb::Client::get_item)
            .sequence()
            .output(|| GetItemOutput::builder().build())
            .repeatedly()
            .build()
    };
    let counter = no_counter();
    let client = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::MatchAny,
        [&counter, &conflict_then_ok]
    );
    let store = DynamoStore::new(client, "table");
    let rec = recording(&member("alice"), meeting(Source::Fathom, "m-1", "Call", 0));
    assert_eq!(store.insert_if_absent(&rec).await.unwrap(), Inserted::New);
    assert_eq!(conflict_then_ok.num_calls(), 3);

    let taken = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .then_error(|| cancelled("ConditionalCheckFailed"));
    let counter = no_counter();
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&counter, &taken]);
    let store = DynamoStore::new(client, "table");
    assert_eq!(
        store.insert_if_absent(&rec).await.unwrap(),
        Inserted::AlreadyExists
    );
    assert_eq!(taken.num_calls(), 1);
}
