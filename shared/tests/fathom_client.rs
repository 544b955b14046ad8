//! The Fathom client against the fake Fathom server on loopback: paging, content per auth
//! mode, retries, timeouts, OAuth token rotation, pacing under rate limits, webhooks.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use fakes::fathom::{FakeAccount, FakeFathom, FakeFathomOptions, FakeMeeting};
use pipeline::connectors::fathom::{
    budgets_per_window, build_http_client, documented_budgets, normalize, parse_webhook_meeting,
    Budgets, FathomClient, FathomCredential, FathomError, FathomOAuth, HttpTimeouts,
    ListMeetingsQuery, Meeting, OAuthApp, RateLimiterRegistry, RetryPolicy, TriggeredFor,
};
use pipeline::crypto::SecretString;
use pipeline::domain::MeetingContent;
use pipeline::retry::Backoff;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

const QUICK_RETRY: RetryPolicy = RetryPolicy {
    backoff: Backoff {
        max_attempts: 3,
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(100),
    },
    max_retry_after: Duration::from_secs(30),
};

struct Setup {
    fake: FakeFathom,
    account: FakeAccount,
    client: FathomClient,
}

impl Setup {
    async fn new(options: FakeFathomOptions, budgets: Budgets) -> Setup {
        Setup::with_timeout(options, budgets, Duration::from_secs(10)).await
    }

    async fn with_timeout(
        options: FakeFathomOptions,
        budgets: Budgets,
        timeout: Duration,
    ) -> Setup {
        let fake = FakeFathom::start(options).await.unwrap();
        let account = fake.add_account("Alice Martin", "alice.martin@acme.com");
        let http = build_http_client(HttpTimeouts {
            request: timeout,
            connect: Duration::from_secs(2),
        })
        .unwrap();
        let client = FathomClient::new(
            Url::parse(&fake.api_base_url()).unwrap(),
            http,
            Arc::new(RateLimiterRegistry::new(budgets)),
        )
        .with_retry_policy(QUICK_RETRY);
        Setup {
            fake,
            account,
            client,
        }
    }

    async fn documented() -> Setup {
        Setup::new(FakeFathomOptions::default(), documented_budgets()).await
    }

    /// A fake whose rate-limit window is `window` (with millisecond headers), and a client
    /// that knows the same budgets.
    async fn short_window(window: Duration, overall: u32, heavy: u32) -> Setup {
        let options = FakeFathomOptions {
            rate_limit_window: window,
            overall_limit: overall,
            heavy_limit: heavy,
            fractional_seconds: true,
            ..FakeFathomOptions::default()
        };
        Setup::new(options, budgets_per_window(overall, heavy, window)).await
    }

    fn api_key(&self) -> FathomCredential {
        FathomCredential::ApiKey(SecretString::new(self.account.api_key.clone()))
    }

    fn bearer(&self) -> FathomCredential {
        let tokens = self.fake.issue_tokens(&self.account);
        FathomCredential::Bearer(SecretString::new(tokens.access_token))
    }

    fn oauth(&self) -> FathomOAuth {
        let options = self.fake.options();
        FathomOAuth::new(
            OAuthApp {
                oauth_base: Url::parse(&self.fake.oauth_base_url()).unwrap(),
                client_id: options.client_id.clone(),
                client_secret: SecretString::new(options.client_secret.clone()),
            },
            build_http_client(HttpTimeouts::default()).unwrap(),
            Arc::new(RateLimiterRegistry::new(documented_budgets())),
        )
        .with_retry_policy(QUICK_RETRY)
    }

    /// Every meeting, following the cursors to the end; also the cursors seen.
    async fn list_all(
        &self,
        credential: &FathomCredential,
        query: ListMeetingsQuery,
    ) -> (Vec<Meeting>, Vec<String>) {
        let mut query = query;
        let mut meetings = Vec::new();
        let mut cursors = Vec::new();
        loop {
            let page = self.client.list_meetings(credential, &query).await.unwrap();
            assert!(page.undecodable.is_empty());
            assert!(page.items.len() <= 10);
            assert_eq!(page.limit, Some(10));
            meetings.extend(page.items);
            match page.next_cursor {
                Some(cursor) => {
                    cursors.push(cursor.clone());
                    query.cursor = Some(cursor);
                }
                None => return (meetings, cursors),
            }
        }
    }

    async fn contents(
        &self,
        credential: &FathomCredential,
        meetings: &[Meeting],
    ) -> Vec<MeetingContent> {
        let mut contents = Vec::new();
        for meeting in meetings {
            contents.push(
                self.client
                    .fetch_meeting_content(credential, meeting)
                    .await
                    .unwrap(),
            );
        }
        contents
    }

    fn fake_meeting(&self, recording_id: &str) -> FakeMeeting {
        self.fake
            .meetings()
            .into_iter()
            .find(|m| m.recording_id.to_string() == recording_id)
            .unwrap()
    }
}

fn ids(meetings: &[Meeting]) -> Vec<u64> {
    meetings.iter().map(|m| m.recording_id).collect()
}

/// The normalized content says what the fake meeting holds.
fn assert_content_matches(content: &MeetingContent, fake: &FakeMeeting) {
    assert_eq!(content.title, fake.title);
    assert_eq!(content.source_created_at, Some(fake.created_at));
    assert_eq!(content.started_at, Some(fake.recording_start));
    assert_eq!(content.ended_at, Some(fake.recording_end));
    assert_eq!(content.url, Some(fake.url()));
    assert_eq!(content.share_url, Some(fake.share_url()));
    assert_eq!(content.summary_markdown, fake.summary_markdown);
    let segments: Vec<(Option<String>, f64, String)> = content
        .transcript
        .iter()
        .map(|s| (s.speaker.clone(), s.start_seconds, s.text.clone()))
        .collect();
    let expected: Vec<(Option<String>, f64, String)> = fake
        .transcript
        .iter()
        .map(|u| {
            (
                Some(u.speaker.clone()),
                f64::from(u.at_seconds),
                u.text.clone(),
            )
        })
        .collect();
    assert_eq!(segments, expected);
    let people: Vec<(Option<String>, bool)> = content
        .participants
        .iter()
        .map(|p| (p.email.clone(), p.is_external))
        .collect();
    let invited: Vec<(Option<String>, bool)> = fake
        .invitees
        .iter()
        .map(|i| (Some(i.person.email.clone()), i.is_external))
        .collect();
    assert_eq!(people, invited);
    let items: Vec<(String, Option<String>, bool)> = content
        .action_items
        .iter()
        .map(|a| {
            (
                a.description.clone(),
                a.assignee_email.clone(),
                a.assignee_is_internal,
            )
        })
        .collect();
    let expected: Vec<(String, Option<String>, bool)> = fake
        .action_items
        .iter()
        .map(|a| {
            let internal = a.assignee.email_domain() == fake.recorded_by.email_domain();
            (
                a.description.clone(),
                Some(a.assignee.email.clone()),
                internal,
            )
        })
        .collect();
    assert_eq!(items, expected);
    assert!(
        items[0].2 && !items[1].2,
        "a teammate's item is internal, a guest's external"
    );
}

#[tokio::test]
async fn paging_through_37_meetings_yields_each_exactly_once() {
    let setup = Setup::documented().await;
    setup.fake.add_meetings(&setup.account, 37);
    let (meetings, cursors) = setup
        .list_all(&setup.api_key(), ListMeetingsQuery::default())
        .await;

    let listed = ids(&meetings);
    assert_eq!(listed.len(), 37);
    assert_eq!(
        listed.iter().collect::<HashSet<_>>().len(),
        37,
        "no duplicates"
    );
    let seeded: HashSet<u64> = setup
        .fake
        .meetings()
        .iter()
        .map(|m| m.recording_id)
        .collect();
    assert_eq!(listed.iter().copied().collect::<HashSet<_>>(), seeded);
    assert!(
        meetings
            .windows(2)
            .all(|w| w[0].created_at >= w[1].created_at),
        "newest first"
    );
    assert_eq!(cursors.len(), 3);
    assert_eq!(setup.fake.calls().list_meetings, 4);
}

#[tokio::test]
async fn a_cursor_with_reserved_characters_round_trips() {
    let setup = Setup::documented().await;
    setup.fake.add_meetings(&setup.account, 15);
    let key = setup.api_key();
    let first = setup
        .client
        .list_meetings(&key, &ListMeetingsQuery::default())
        .await
        .unwrap();
    let cursor = first.next_cursor.clone().unwrap();
    assert!(
        cursor.contains('+') && cursor.contains('/') && cursor.contains('='),
        "{cursor}"
    );

    let query = ListMeetingsQuery {
        cursor: Some(cursor),
        ..ListMeetingsQuery::default()
    };
    let second = setup.client.list_meetings(&key, &query).await.unwrap();
    let again = setup.client.list_meetings(&key, &query).await.unwrap();
    assert_eq!(second.items.len(), 5);
    assert_eq!(second.next_cursor, None);
    assert_eq!(
        ids(&second.items),
        ids(&again.items),
        "a cursor can be replayed (checkpoints)"
    );
    let first_ids: HashSet<u64> = ids(&first.items).into_iter().collect();
    assert!(ids(&second.items).iter().all(|id| !first_ids.contains(id)));

    let sent = setup.fake.requests();
    let query = sent[1].query.as_deref().unwrap();
    assert!(
        query.contains("%2B") && query.contains("%2F") && query.contains("%3D"),
        "{query}"
    );
}

#[tokio::test]
async fn with_an_api_key_content_comes_from_the_listing_alone() {
    let setup = Setup::documented().await;
    setup.fake.add_meetings(&setup.account, 37);
    let key = setup.api_key();
    let (meetings, _) = setup
        .list_all(&key, ListMeetingsQuery::with_content())
        .await;
    let contents = setup.contents(&key, &meetings).await;

    let calls = setup.fake.calls();
    assert_eq!(
        (calls.list_meetings, calls.transcript, calls.summary),
        (4, 0, 0)
    );
    assert_eq!(contents.len(), 37);
    for content in &contents {
        assert_content_matches(content, &setup.fake_meeting(content.external_id.as_str()));
    }
}

#[tokio::test]
async fn with_oauth_each_meeting_costs_a_transcript_and_a_summary_call() {
    let setup = Setup::short_window(Duration::from_millis(400), 60, 30).await;
    setup.fake.add_meetings(&setup.account, 37);
    let bearer = setup.bearer();
    let (meetings, _) = setup
        .list_all(&bearer, ListMeetingsQuery::with_content())
        .await;
    let contents = setup.contents(&bearer, &meetings).await;

    let calls = setup.fake.calls();
    assert_eq!(
        (calls.list_meetings, calls.transcript, calls.summary),
        (4, 37, 37)
    );
    assert_eq!(calls.rate_limited, 0);
    for request in setup
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/meetings"))
    {
        let query = request.query.as_deref().unwrap_or("");
        assert!(
            !query.contains("include_transcript") && !query.contains("include_summary"),
            "{query}"
        );
        assert!(query.contains("include_action_items=true"), "{query}");
    }
    for content in &contents {
        assert_content_matches(content, &setup.fake_meeting(content.external_id.as_str()));
    }

    let key = setup.api_key();
    let (listed, _) = setup
        .list_all(&key, ListMeetingsQuery::with_content())
        .await;
    assert_eq!(
        setup.contents(&key, &listed).await,
        contents,
        "both auth modes give the same content"
    );
}

#[tokio::test]
async fn a_429_is_waited_out_and_retried() {
    let setup = Setup::documented().await;
    setup.fake.add_meetings(&setup.account, 3);
    setup.fake.throttle_next(1, Duration::from_secs(1));
    let page = setup
        .client
        .list_meetings(&setup.api_key(), &ListMeetingsQuery::default())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 3);
    let calls = setup.fake.calls();
    assert_eq!((calls.list_meetings, calls.rate_limited), (2, 1));
}

#[tokio::test]
async fn a_retry_after_beyond_the_policy_fails_at_once() {
    let setup = Setup::documented().await;
    setup.fake.throttle_next(1, Duration::from_secs(600));
    let err = setup
        .client
        .list_meetings(&setup.api_key(), &ListMeetingsQuery::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, FathomError::RateLimited { retry_after: Some(wait), .. } if wait == Duration::from_secs(600)),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(setup.fake.calls().list_meetings, 1);
}

#[tokio::test]
async fn a_burst_of_two_server_errors_is_retried() {
    let setup = Setup::documented().await;
    setup.fake.add_meetings(&setup.account, 2);
    setup.fake.fail_next(2, 503);
    let page = setup
        .client
        .list_meetings(&setup.api_key(), &ListMeetingsQuery::default())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!(setup.fake.calls().list_meetings, 3);
}

#[tokio::test]
async fn persistent_server_errors_end_as_unavailable() {
    let setup = Setup::documented().await;
    setup.fake.fail_next(100, 500);
    let err = setup
        .client
        .list_meetings(&setup.api_key(), &ListMeetingsQuery::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, FathomError::Unavailable { attempts: 3, .. }),
        "{err:?}"
    );
    assert_eq!(setup.fake.calls().list_meetings, 3);
}

#[tokio::test]
async fn a_slow_answer_is_retried_and_a_persistently_slow_one_is_unavailable() {
    let setup = Setup::with_timeout(
        FakeFathomOptions::default(),
        documented_budgets(),
        Duration::from_millis(300),
    )
    .await;
    setup.fake.add_meetings(&setup.account, 1);
    let key = setup.api_key();

    setup.fake.slow_next(1, Duration::from_secs(2));
    let page = setup
        .client
        .list_meetings(&key, &ListMeetingsQuery::default())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(setup.fake.calls().list_meetings, 2);

    setup.fake.set_latency(Duration::from_secs(2));
    let err = setup
        .client
        .list_meetings(&key, &ListMeetingsQuery::default())
        .await
        .unwrap_err();
    match err {
        FathomError::Unavailable { attempts, reason } => {
            assert_eq!(attempts, 3);
            assert!(reason.contains("timed out"), "{reason}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(setup.fake.calls().list_meetings, 5);
}

#[tokio::test]
async fn a_refused_credential_fails_at_once_without_leaking_it() {
    let options = FakeFathomOptions {
        access_token_lifetime: Duration::ZERO,
        ..FakeFathomOptions::default()
    };
    let setup = Setup::new(options, documented_budgets()).await;
    let expired = setup.bearer();
    let err = setup
        .client
        .list_meetings(&expired, &ListMeetingsQuery::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, FathomError::Unauthorized) && err.needs_reauth(),
        "{err:?}"
    );

    let unknown = FathomCredential::ApiKey(SecretString::new("fk_not_a_real_key_123"));
    let err = setup
        .client
        .list_meetings(&unknown, &ListMeetingsQuery::default())
        .await
        .unwrap_err();
    assert!(matches!(err, FathomError::Unauthorized));
    assert!(!format!("{err:?} {err} {unknown:?}").contains("fk_not_a_real_key_123"));
    assert_eq!(setup.fake.calls().list_meetings, 2, "a 401 is not retried");
}

#[tokio::test]
async fn oauth_codes_are_exchanged_once_and_refresh_tokens_rotate() {
    let setup = Setup::documented().await;
    setup.fake.add_meetings(&setup.account, 2);
    let oauth = setup.oauth();
    let verifier = "a-long-random-pkce-verifier-0123456789-abcdefghijklmnop";
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let redirect_uri = "http://127.0.0.1:9/oauth/fathom/callback";
    let authorize = oauth
        .authorize_url(redirect_uri, "st+te/1=", Some(&challenge))
        .unwrap();

    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = browser.get(authorize).send().await.unwrap();
    assert_eq!(answer.status(), 302);
    let location = Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(redirect_uri));
    let param = |name: &str| {
        location
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("state").as_deref(), Some("st+te/1="));
    let code = param("code").unwrap();

    let first = oauth
        .exchange_code(&code, redirect_uri, Some(verifier))
        .await
        .unwrap();
    assert_eq!(first.expires_in, Some(3600));
    let reused = oauth
        .exchange_code(&code, redirect_uri, Some(verifier))
        .await
        .unwrap_err();
    assert!(matches!(reused, FathomError::InvalidGrant), "{reused:?}");

    let bearer = FathomCredential::Bearer(first.access_token.clone());
    let page = setup
        .client
        .list_meetings(&bearer, &ListMeetingsQuery::default())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);

    let old_refresh = first.refresh_token.clone().unwrap();
    let second = oauth.refresh(&old_refresh).await.unwrap();
    let new_refresh = second.refresh_token.clone().unwrap();
    assert_ne!(new_refresh, old_refresh);
    assert_ne!(second.access_token, first.access_token);
    let replay = oauth.refresh(&old_refresh).await.unwrap_err();
    assert!(
        matches!(replay, FathomError::InvalidGrant) && replay.needs_reauth(),
        "{replay:?}"
    );
    oauth.refresh(&new_refresh).await.unwrap();

    let calls = setup.fake.calls();
    assert_eq!(
        (calls.token_authorization_code, calls.token_refresh),
        (2, 3)
    );
}

#[tokio::test]
async fn a_wrong_pkce_verifier_a_json_body_and_a_denied_consent_are_refused() {
    let setup = Setup::documented().await;
    let oauth = setup.oauth();
    let redirect_uri = "http://127.0.0.1:9/callback";
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(b"the-right-verifier"));
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let code_from = |location: &str| {
        Url::parse(location)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    let answer = browser
        .get(
            oauth
                .authorize_url(redirect_uri, "s", Some(&challenge))
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let code = code_from(answer.headers()["location"].to_str().unwrap());
    let err = oauth
        .exchange_code(&code, redirect_uri, Some("a-wrong-verifier"))
        .await
        .unwrap_err();
    assert!(matches!(err, FathomError::InvalidGrant), "{err:?}");

    let json = browser
        .post(format!("{}/token", setup.fake.oauth_base_url()))
        .json(&serde_json::json!({"grant_type": "refresh_token", "refresh_token": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 400);
    let body: serde_json::Value = json.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");

    let denying = FakeFathom::start(FakeFathomOptions {
        deny_consent: true,
        ..FakeFathomOptions::default()
    })
    .await
    .unwrap();
    let url = format!(
        "{}/authorize?client_id={}&redirect_uri={}&response_type=code&scope=public_api&state=s1",
        denying.oauth_base_url(),
        denying.options().client_id,
        redirect_uri
    );
    let answer = browser.get(url).send().await.unwrap();
    let location = answer.headers()["location"].to_str().unwrap();
    assert!(
        location.contains("error=access_denied") && location.contains("state=s1"),
        "{location}"
    );
}

#[tokio::test]
async fn the_limiter_paces_concurrent_requests_so_none_is_refused() {
    let setup = Setup::short_window(Duration::from_millis(400), 8, 4).await;
    let meetings = setup.fake.add_meetings(&setup.account, 12);
    let key = setup.api_key();
    let transcripts = meetings
        .iter()
        .map(|m| setup.client.transcript(&key, m.recording_id));
    let everything = ListMeetingsQuery::default();
    let lists = (0..6).map(|_| setup.client.list_meetings(&key, &everything));
    let (transcripts, lists) = tokio::join!(
        futures::future::join_all(transcripts),
        futures::future::join_all(lists)
    );
    assert!(transcripts
        .iter()
        .all(|t| t.as_ref().is_ok_and(|items| !items.is_empty())));
    assert!(lists.iter().all(Result::is_ok));
    let calls = setup.fake.calls();
    assert_eq!((calls.transcript, calls.list_meetings), (12, 6));
    assert_eq!(calls.rate_limited, 0);
}

#[tokio::test]
async fn a_lower_limit_announced_by_the_server_is_followed() {
    // The client believes the documented 30 heavy requests per window; the server allows 3.
    let setup = Setup::short_window(Duration::from_millis(400), 60, 30).await;
    setup.fake.set_limits(60, 3);
    let meetings = setup.fake.add_meetings(&setup.account, 10);
    let key = setup.api_key();
    for meeting in &meetings {
        setup
            .client
            .summary(&key, meeting.recording_id)
            .await
            .unwrap()
            .unwrap();
    }
    let calls = setup.fake.calls();
    assert_eq!((calls.summary, calls.rate_limited), (10, 0));
}

#[tokio::test]
async fn one_failing_recording_fails_alone() {
    let setup = Setup::documented().await;
    let seeded = setup.fake.add_meetings(&setup.account, 3);
    setup.fake.fail_recording(seeded[1].recording_id);
    let bearer = setup.bearer();
    let page = setup
        .client
        .list_meetings(&bearer, &ListMeetingsQuery::with_content())
        .await
        .unwrap();
    let mut failed = Vec::new();
    for meeting in &page.items {
        match setup.client.fetch_meeting_content(&bearer, meeting).await {
            Ok(content) => {
                assert_content_matches(&content, &setup.fake_meeting(content.external_id.as_str()))
            }
            Err(err) => {
                assert!(matches!(err, FathomError::Unavailable { .. }), "{err:?}");
                failed.push(meeting.recording_id);
            }
        }
    }
    assert_eq!(failed, vec![seeded[1].recording_id]);
}

#[tokio::test]
async fn webhooks_are_registered_and_deleted() {
    let setup = Setup::documented().await;
    let key = setup.api_key();
    let destination = Url::parse("https://callsync.example/webhooks/fathom/con_1").unwrap();
    let created = setup
        .client
        .create_webhook(
            &key,
            &destination,
            &[
                TriggeredFor::MyRecordings,
                TriggeredFor::SharedExternalRecordings,
            ],
        )
        .await
        .unwrap();

    let registered = setup.fake.webhooks();
    assert_eq!(registered.len(), 1);
    let hook = &registered[0];
    assert_eq!(hook.id, created.id);
    assert_eq!(hook.destination_url, destination.as_str());
    assert_eq!(
        hook.triggered_for,
        vec!["my_recordings", "shared_external_recordings"]
    );
    assert!(hook.include_transcript && hook.include_summary && hook.include_action_items);
    assert!(created.secret.expose().starts_with("whsec_"));
    assert_eq!(created.secret.expose(), hook.secret);
    assert!(!format!("{created:?}").contains(&hook.secret));

    setup
        .client
        .delete_webhook(&key, &created.id)
        .await
        .unwrap();
    assert!(setup.fake.webhooks().is_empty());
    setup
        .client
        .delete_webhook(&key, &created.id)
        .await
        .unwrap();
}

#[tokio::test]
async fn date_and_recorder_filters_reach_the_server_as_documented() {
    let setup = Setup::documented().await;
    let seeded = setup.fake.add_meetings(&setup.account, 20);
    let key = setup.api_key();
    let (setup_ref, key_ref) = (&setup, &key);
    let listed =
        |query: ListMeetingsQuery| async move { setup_ref.list_all(key_ref, query).await.0 };

    let after = listed(ListMeetingsQuery {
        created_after: Some(seeded[14].created_at),
        ..ListMeetingsQuery::default()
    })
    .await;
    let mut expected: Vec<u64> = seeded[15..].iter().map(|m| m.recording_id).rev().collect();
    assert_eq!(ids(&after), expected);

    let before = listed(ListMeetingsQuery {
        created_before: Some(seeded[3].created_at),
        ..ListMeetingsQuery::default()
    })
    .await;
    expected = seeded[..3].iter().map(|m| m.recording_id).rev().collect();
    assert_eq!(ids(&before), expected);

    let teammate = seeded
        .iter()
        .find(|m| m.recorded_by != setup.account.person)
        .unwrap()
        .recorded_by
        .email
        .clone();
    let by_teammate = listed(ListMeetingsQuery {
        recorded_by: vec![teammate.clone(), "nobody@elsewhere.com".into()],
        ..ListMeetingsQuery::default()
    })
    .await;
    assert!(!by_teammate.is_empty());
    assert!(by_teammate
        .iter()
        .all(|m| m.recorded_by.as_ref().and_then(|r| r.email.clone()) == Some(teammate.clone())));
    let expected_count = seeded
        .iter()
        .filter(|m| m.recorded_by.email == teammate)
        .count();
    assert_eq!(by_teammate.len(), expected_count);
}

#[tokio::test]
async fn a_webhook_body_normalizes_to_the_same_content_as_the_api() {
    let setup = Setup::documented().await;
    let seeded = setup.fake.add_meetings(&setup.account, 1);
    let key = setup.api_key();
    let page = setup
        .client
        .list_meetings(&key, &ListMeetingsQuery::with_content())
        .await
        .unwrap();
    let from_api = setup
        .client
        .fetch_meeting_content(&key, &page.items[0])
        .await
        .unwrap();

    let body =
        serde_json::to_vec(&setup.fake.meeting_payload(seeded[0].recording_id).unwrap()).unwrap();
    let from_webhook = normalize(&parse_webhook_meeting(&body).unwrap()).unwrap();
    assert_eq!(from_webhook, from_api);
    assert_eq!(from_webhook.content_hash(), from_api.content_hash());
}

#[tokio::test]
async fn a_renamed_meeting_is_listed_with_its_new_title() {
    let setup = Setup::documented().await;
    let seeded = setup.fake.add_meetings(&setup.account, 2);
    let key = setup.api_key();
    let page = setup
        .client
        .list_meetings(&key, &ListMeetingsQuery::with_content())
        .await
        .unwrap();
    let before = setup.contents(&key, &page.items).await;

    assert!(setup
        .fake
        .update_meeting_title(seeded[0].recording_id, "Renewal — signed"));
    let page = setup
        .client
        .list_meetings(&key, &ListMeetingsQuery::with_content())
        .await
        .unwrap();
    let after = setup.contents(&key, &page.items).await;
    let renamed = after
        .iter()
        .find(|c| c.external_id.as_str() == seeded[0].recording_id.to_string())
        .unwrap();
    assert_eq!(renamed.title, "Renewal — signed");
    let changed: Vec<bool> = before
        .iter()
        .zip(&after)
        .map(|(b, a)| b.content_hash() != a.content_hash())
        .collect();
    assert_eq!(
        changed.iter().filter(|c| **c).count(),
        1,
        "only the renamed meeting changed"
    );
}
