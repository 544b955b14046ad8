//! The SAM template (infra/template.yaml) agrees with the code: one function resource per
//! folder in functions/, each HTTP function's `ROUTES` as its HttpApi events, the table as the
//! AWS adapter creates it, and only variables the functions read.

use pipeline::http::Route;
use serde_yaml::{Mapping, Value};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The HTTP function crates, each a dev-dependency of this crate: adding a function is one
/// line here.
pub(crate) const HTTP_FUNCTIONS: &[(&str, &[Route])] = &[
    ("sources", sources::ROUTES),
    ("recordings", recordings::ROUTES),
    ("jobs", jobs::ROUTES),
    ("oauth-initiate", oauth_initiate::ROUTES),
    ("oauth-callback", oauth_callback::ROUTES),
    ("fetch-meetings", fetch_meetings::ROUTES),
    ("webhook", webhook::ROUTES),
    ("uploads", uploads::ROUTES),
    ("webhook-endpoints", webhook_endpoints::ROUTES),
    ("crm", crm::ROUTES),
];

fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap().to_path_buf()
}

fn template() -> Value {
    let path = workspace_root().join("infra").join("template.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

/// `!Ref Name` as its target's name.
fn reference(value: &Value) -> Option<&str> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "!Ref" => tagged.value.as_str(),
        _ => None,
    }
}

/// `!GetAtt Name.Arn` as the resource's name.
fn arn_of(value: &Value) -> Option<&str> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "!GetAtt" => {
            tagged.value.as_str()?.strip_suffix(".Arn")
        }
        _ => None,
    }
}

fn resources(template: &Value) -> &Mapping {
    template["Resources"].as_mapping().unwrap()
}

fn resources_of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    resources(template)
        .iter()
        .filter(|(_, resource)| resource["Type"].as_str() == Some(kind))
        .map(|(name, resource)| (name.as_str().unwrap(), resource))
        .collect()
}

/// A function resource's property, or the `Globals` one it inherits.
fn function_property<'a>(template: &'a Value, function: &'a Value, name: &str) -> &'a Value {
    match function["Properties"].get(name) {
        Some(value) => value,
        None => &template["Globals"]["Function"][name],
    }
}

fn binary(function: &Value) -> &str {
    function["Metadata"]["BuildProperties"]["Binary"]
        .as_str()
        .unwrap_or_default()
}

/// Function resources by the binary they run.
fn functions_by_binary(template: &Value) -> Vec<(&str, &Value)> {
    resources_of_type(template, "AWS::Serverless::Function")
        .into_iter()
        .map(|(_, function)| (binary(function), function))
        .collect()
}

fn function_folders() -> BTreeSet<String> {
    std::fs::read_dir(workspace_root().join("functions"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("Cargo.toml").is_file())
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn every_function_folder_has_a_function_resource_and_every_resource_a_folder() {
    let template = template();
    let in_template: BTreeSet<String> = functions_by_binary(&template)
        .iter()
        .map(|(binary, _)| binary.to_string())
        .collect();
    let folders = function_folders();
    let without_resource: Vec<_> = folders.difference(&in_template).collect();
    let without_folder: Vec<_> = in_template.difference(&folders).collect();
    assert!(
        without_resource.is_empty() && without_folder.is_empty(),
        "folders in functions/ without a function resource: {without_resource:?}; \
         function resources without a folder in functions/: {without_folder:?}"
    );
}

#[test]
fn every_function_is_a_workspace_binary_built_with_cargo_lambda() {
    let template = template();
    let functions = resources_of_type(&template, "AWS::Serverless::Function");
    assert!(!functions.is_empty());
    let root = workspace_root().canonicalize().unwrap();
    for (name, function) in functions {
        assert_eq!(
            function["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{name}"
        );
        assert!(!binary(function).is_empty(), "{name} names no Binary");
        let code_uri = function_property(&template, function, "CodeUri")
            .as_str()
            .unwrap_or_else(|| panic!("{name} has no CodeUri"));
        // cargo-lambda runs in CodeUri and SAM copies `CodeUri/target/lambda/<Binary>`, so
        // CodeUri is the workspace root, where the manifest and target/ are.
        let code_dir = Path::new(&workspace_root())
            .join("infra")
            .join(code_uri)
            .canonicalize()
            .unwrap();
        assert_eq!(code_dir, root, "{name}: CodeUri is not the workspace root");
        let runtime = function_property(&template, function, "Runtime");
        assert_eq!(runtime.as_str(), Some("provided.al2023"), "{name}");
        let handler = function_property(&template, function, "Handler");
        assert_eq!(handler.as_str(), Some("bootstrap"), "{name}");
    }
}

/// A route as the template declares it on a function's HttpApi event.
fn api_routes(function: &Value) -> BTreeSet<(String, String, bool)> {
    let events = function["Properties"]["Events"].as_mapping();
    events
        .into_iter()
        .flatten()
        .filter(|(_, event)| event["Type"].as_str() == Some("HttpApi"))
        .map(|(name, event)| {
            let properties = &event["Properties"];
            assert_eq!(
                reference(&properties["ApiId"]),
                Some("HttpApi"),
                "event {name:?} is not on the HttpApi"
            );
            let public = properties["Auth"]["Authorizer"].as_str() == Some("NONE");
            (
                properties["Method"].as_str().unwrap().to_uppercase(),
                properties["Path"].as_str().unwrap().to_owned(),
                public,
            )
        })
        .collect()
}

#[test]
fn http_functions_declare_exactly_their_routes_and_only_public_ones_skip_the_authorizer() {
    let template = template();
    let auth = &resources(&template)["HttpApi"]["Properties"]["Auth"];
    let default_authorizer = auth["DefaultAuthorizer"].as_str().unwrap();
    assert!(
        auth["Authorizers"][default_authorizer]["JwtConfiguration"].is_mapping(),
        "the default authorizer is not the JWT authorizer"
    );
    let functions = functions_by_binary(&template);
    let mut mismatches = Vec::new();
    for (name, routes) in HTTP_FUNCTIONS {
        let Some((_, function)) = functions.iter().find(|(binary, _)| binary == name) else {
            mismatches.push(format!("{name}: no function resource"));
            continue;
        };
        let in_code: BTreeSet<(String, String, bool)> = routes
            .iter()
            .map(|r| (r.method.to_uppercase(), r.path.to_owned(), r.public))
            .collect();
        let in_template = api_routes(function);
        let show = |routes: Vec<&(String, String, bool)>| -> Vec<String> {
            routes
                .into_iter()
                .map(|(method, path, public)| {
                    let access = if *public { "public" } else { "user" };
                    format!("{method} {path} ({access})")
                })
                .collect()
        };
        let only_in_code = show(in_code.difference(&in_template).collect());
        let only_in_template = show(in_template.difference(&in_code).collect());
        if !only_in_code.is_empty() || !only_in_template.is_empty() {
            mismatches.push(format!(
                "{name}: in ROUTES only {only_in_code:?}; in the template only {only_in_template:?}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// Key attribute names with their key types (HASH, RANGE).
type KeySchema = Vec<(String, String)>;
/// An index's name, key schema and projection type.
type Index = (String, KeySchema, String);

#[test]
fn the_table_is_the_one_the_aws_adapter_creates() {
    let template = template();
    let table = &resources(&template)["Table"]["Properties"];
    let definition = pipeline::adapters::aws::table_definition();
    let key_schema = |keys: &Value| -> KeySchema {
        keys.as_sequence()
            .unwrap()
            .iter()
            .map(|k| {
                let name = k["AttributeName"].as_str().unwrap().to_owned();
                (name, k["KeyType"].as_str().unwrap().to_owned())
            })
            .collect()
    };
    let hash_range = |hash: &str, range: &str| {
        vec![
            (hash.to_owned(), "HASH".to_owned()),
            (range.to_owned(), "RANGE".to_owned()),
        ]
    };
    assert_eq!(table["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(
        key_schema(&table["KeySchema"]),
        hash_range(definition.partition_key, definition.sort_key)
    );
    let indexes: Vec<Index> = table["GlobalSecondaryIndexes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|index| {
            (
                index["IndexName"].as_str().unwrap().to_owned(),
                key_schema(&index["KeySchema"]),
                index["Projection"]["ProjectionType"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    let expected: Vec<Index> = definition
        .indexes
        .iter()
        .map(|(index, hash, range)| (index.to_string(), hash_range(hash, range), "ALL".into()))
        .collect();
    assert_eq!(indexes, expected);
    let mut key_attributes = vec![definition.partition_key, definition.sort_key];
    for (_, hash, range) in &definition.indexes {
        key_attributes.extend([*hash, *range]);
    }
    let declared: Vec<(&str, &str)> = table["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().unwrap(),
                a["AttributeType"].as_str().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(&str, &str)> = key_attributes.iter().map(|a| (*a, "S")).collect();
    assert_eq!(declared, expected);
    let ttl = &table["TimeToLiveSpecification"];
    assert_eq!(
        ttl["AttributeName"].as_str(),
        Some(definition.ttl_attribute)
    );
    assert_eq!(ttl["Enabled"].as_bool(), Some(true));
}

#[test]
fn queues_dead_letter_as_the_local_queue_does_and_outlast_their_consumers() {
    let template = template();
    let resources = resources(&template);
    let functions = resources_of_type(&template, "AWS::Serverless::Function");
    let mut consumers = 0;
    for (name, function) in functions {
        let events = function["Properties"]["Events"].as_mapping().into_iter();
        for (_, event) in events.flatten() {
            if event["Type"].as_str() != Some("SQS") {
                continue;
            }
            consumers += 1;
            let properties = &event["Properties"];
            let response_types = properties["FunctionResponseTypes"].as_sequence().unwrap();
            assert!(
                response_types.contains(&Value::from("ReportBatchItemFailures")),
                "{name} does not report batch item failures"
            );
            let queue_name = arn_of(&properties["Queue"])
                .unwrap_or_else(|| panic!("{name}: the queue is not a !GetAtt of a resource"));
            let queue = &resources[queue_name]["Properties"];
            let redrive = &queue["RedrivePolicy"];
            assert_eq!(
                redrive["maxReceiveCount"].as_u64(),
                Some(u64::from(pipeline::adapters::local::MAX_RECEIVES)),
                "{queue_name}"
            );
            if binary(function) == "file-transcribe" {
                // The consumer fails an upload on its message's last delivery.
                let config = pipeline::config::Config::from_lookup(|_| None).unwrap();
                assert_eq!(
                    redrive["maxReceiveCount"].as_u64(),
                    Some(u64::from(config.queue_max_receives)),
                    "QUEUE_MAX_RECEIVES's default is the queue's maxReceiveCount"
                );
            }
            let dead_letters = arn_of(&redrive["deadLetterTargetArn"])
                .unwrap_or_else(|| panic!("{queue_name} has no dead-letter queue"));
            assert_eq!(
                resources[dead_letters]["Type"].as_str(),
                Some("AWS::SQS::Queue"),
                "{queue_name}'s dead-letter target"
            );
            let timeout = function_property(&template, function, "Timeout")
                .as_u64()
                .unwrap();
            let visibility = queue["VisibilityTimeout"].as_u64().unwrap();
            assert!(
                visibility >= 6 * timeout,
                "{queue_name}: visibility {visibility} s is under 6x {name}'s {timeout} s"
            );
        }
    }
    assert_eq!(
        consumers, 3,
        "sync-meetings, file-transcribe and deliver-events consume the queues"
    );
}

#[test]
fn the_functions_get_every_variable_the_aws_backend_requires_and_no_unknown_one() {
    let template = template();
    let variables: BTreeSet<String> = template["Globals"]["Function"]["Environment"]["Variables"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        template["Globals"]["Function"]["Environment"]["Variables"]["BACKEND"].as_str(),
        Some("aws")
    );
    // The configuration as the functions read it: every variable it asks for, given the
    // template's variables (any value parses).
    let asked = RefCell::new(BTreeSet::new());
    let config = pipeline::config::Config::from_lookup(|name| {
        asked.borrow_mut().insert(name.to_owned());
        variables.contains(name).then(|| match name {
            "BACKEND" => "aws".to_owned(),
            "IMPORTS_PER_MONTH"
            | "MAX_UPLOAD_BYTES"
            | "MAX_AUDIO_SECONDS"
            | "TRANSCRIBE_CONCURRENCY" => "1".to_owned(),
            _ if name.starts_with("ZOOM_RATE_") || name == "ZOOM_BACKFILL_DAYS" => "1".to_owned(),
            "FATHOM_OAUTH_PKCE" => "false".to_owned(),
            _ if name.ends_with("_URL") => "https://example.com".to_owned(),
            _ => "x".to_owned(),
        })
    });
    let config = config.unwrap();
    assert_eq!(config.backend, pipeline::config::Backend::Aws);
    assert!(config.aws.unwrap().secrets_arn.is_some());
    let mut read = asked.into_inner();
    // Read by the tracing set-up rather than the configuration.
    read.insert("RUST_LOG".to_owned());
    let unknown: Vec<_> = variables.difference(&read).collect();
    assert!(
        unknown.is_empty(),
        "variables no function reads: {unknown:?}"
    );
}

/// The kinds of event a function resource subscribes to (`HttpApi`, `SQS`, `Schedule`).
fn event_kinds(function: &Value) -> BTreeSet<&str> {
    let events = function["Properties"]["Events"].as_mapping();
    events
        .into_iter()
        .flatten()
        .filter_map(|(_, event)| event["Type"].as_str())
        .collect()
}

/// The queues a function consumes, by resource name.
fn sqs_queues(function: &Value) -> Vec<&str> {
    let events = function["Properties"]["Events"].as_mapping();
    events
        .into_iter()
        .flatten()
        .filter(|(_, event)| event["Type"].as_str() == Some("SQS"))
        .filter_map(|(_, event)| arn_of(&event["Properties"]["Queue"]))
        .collect()
}

/// The dev server runs each queue consumer as its event source mapping does in AWS (messages
/// per invocation, invocations at once), so imports run as many at once locally as there.
#[test]
fn the_dev_server_consumes_queues_as_the_event_source_mappings_do() {
    let template = template();
    let mut mapped = BTreeSet::new();
    for (binary, function) in functions_by_binary(&template) {
        let events = function["Properties"]["Events"].as_mapping();
        for (_, event) in events.into_iter().flatten() {
            if event["Type"].as_str() != Some("SQS") {
                continue;
            }
            let properties = &event["Properties"];
            let declared = dev_server::EventSourceMapping {
                batch_size: properties["BatchSize"].as_u64().unwrap_or(10) as usize,
                max_concurrency: properties["ScalingConfig"]["MaximumConcurrency"]
                    .as_u64()
                    .expect("a maximum concurrency") as usize,
            };
            let local = dev_server::EVENT_SOURCE_MAPPINGS
                .iter()
                .find(|(name, _)| *name == binary)
                .map(|&(_, mapping)| mapping);
            assert_eq!(local, Some(declared), "{binary}: the dev server's mapping");
            mapped.insert(binary);
        }
    }
    assert_eq!(mapped.len(), dev_server::EVENT_SOURCE_MAPPINGS.len());
}

/// Checks `events/<function>.json` is an event the function receives; the reason otherwise.
fn check_sample_event(function: &Value, text: &str) -> Result<(), String> {
    use aws_lambda_events::event::apigw::ApiGatewayV2httpRequest;
    use aws_lambda_events::event::eventbridge::EventBridgeEvent;
    use aws_lambda_events::event::s3::S3Event;
    use aws_lambda_events::event::sqs::SqsEvent;
    use pipeline::pipeline::messages::SyncMessage;

    let kinds = event_kinds(function);
    if kinds.contains("HttpApi") {
        let request: ApiGatewayV2httpRequest =
            serde_json::from_str(text).map_err(|e| format!("not an HTTP API request: {e}"))?;
        let route_key = request.route_key.unwrap_or_default();
        let route = api_routes(function)
            .into_iter()
            .find(|(method, path, _)| format!("{method} {path}") == route_key)
            .ok_or_else(|| format!("routeKey {route_key:?} is not one of its routes"))?;
        let context = request.request_context;
        if context.http.method.as_str() != route.0 {
            return Err(format!("method {} under {route_key}", context.http.method));
        }
        let sub = context
            .authorizer
            .and_then(|a| a.jwt)
            .and_then(|jwt| jwt.claims.get("sub").cloned());
        match (route.2, sub) {
            (true, Some(_)) => Err("a public route's event carries JWT claims".into()),
            (false, None) => Err("a user route's event has no `sub` claim".into()),
            _ => Ok(()),
        }
    } else if kinds.contains("SQS") {
        let event: SqsEvent =
            serde_json::from_str(text).map_err(|e| format!("not an SQS event: {e}"))?;
        if event.records.is_empty() {
            return Err("no SQS records".into());
        }
        let queues = sqs_queues(function);
        for record in event.records {
            let body = record.body.unwrap_or_default();
            let readable = if queues.contains(&"TranscribeQueue") {
                serde_json::from_str::<S3Event>(&body).is_ok_and(|s3| !s3.records.is_empty())
            } else if queues.contains(&"EventsQueue") {
                pipeline::pipeline::outbound::Message::parse(&body).is_ok()
            } else {
                SyncMessage::parse(&body).is_ok()
            };
            if !readable {
                return Err(format!(
                    "a record's body is not what {queues:?} carries: {body}"
                ));
            }
        }
        Ok(())
    } else if kinds.contains("Schedule") {
        let event: EventBridgeEvent =
            serde_json::from_str(text).map_err(|e| format!("not an EventBridge event: {e}"))?;
        match (event.source.as_str(), event.detail_type.as_str()) {
            ("aws.events", "Scheduled Event") => Ok(()),
            other => Err(format!("not a scheduled event: {other:?}")),
        }
    } else {
        Err(format!("no known event kind among {kinds:?}"))
    }
}

#[test]
fn every_function_has_a_sample_event_of_the_kind_it_receives() {
    let template = template();
    let events_dir = workspace_root().join("events");
    let mut problems = Vec::new();
    let mut with_event = BTreeSet::new();
    for (binary, function) in functions_by_binary(&template) {
        let path = events_dir.join(format!("{binary}.json"));
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                if let Err(problem) = check_sample_event(function, &text) {
                    problems.push(format!("events/{binary}.json: {problem}"));
                }
                with_event.insert(format!("{binary}.json"));
            }
            Err(_) => problems.push(format!("{binary} has no events/{binary}.json")),
        }
    }
    for entry in std::fs::read_dir(&events_dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !with_event.contains(&name) {
            problems.push(format!("events/{name} belongs to no function resource"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `!GetAtt Name.Attribute` as (resource, attribute).
fn get_att(value: &Value) -> Option<(&str, &str)> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "!GetAtt" => tagged.value.as_str()?.split_once('.'),
        _ => None,
    }
}

#[test]
fn the_web_app_is_a_private_bucket_read_only_by_its_cloudfront_distribution() {
    let template = template();
    let all = resources(&template);
    let bucket = &all["WebBucket"];
    assert_eq!(bucket["Type"], "AWS::S3::Bucket");
    let block = &bucket["Properties"]["PublicAccessBlockConfiguration"];
    for setting in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(block[setting], Value::Bool(true), "{setting}");
    }
    assert!(
        bucket["Properties"].get("WebsiteConfiguration").is_none(),
        "served by CloudFront, not as an S3 website"
    );

    let config = &all["WebDistribution"]["Properties"]["DistributionConfig"];
    let origin = &config["Origins"][0];
    assert_eq!(
        get_att(&origin["DomainName"]).map(|(r, _)| r),
        Some("WebBucket")
    );
    assert_eq!(
        get_att(&origin["OriginAccessControlId"]),
        Some(("WebOriginAccessControl", "Id"))
    );
    assert_eq!(
        all["WebOriginAccessControl"]["Properties"]["OriginAccessControlConfig"]["SigningBehavior"],
        "always"
    );
    assert_eq!(
        config["DefaultCacheBehavior"]["ViewerProtocolPolicy"],
        "redirect-to-https"
    );
    // The app's routes load the app.
    let fallbacks: Vec<&Value> = config["CustomErrorResponses"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| &r["ResponsePagePath"])
        .collect();
    assert!(fallbacks.iter().all(|p| p.as_str() == Some("/index.html")));

    let policy = &all["WebBucketPolicy"]["Properties"];
    assert_eq!(reference(&policy["Bucket"]), Some("WebBucket"));
    let statements = policy["PolicyDocument"]["Statement"].as_sequence().unwrap();
    let allows: Vec<&Value> = statements
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .collect();
    assert_eq!(allows.len(), 1, "only CloudFront may read");
    assert_eq!(
        allows[0]["Principal"]["Service"],
        "cloudfront.amazonaws.com"
    );
    assert_eq!(allows[0]["Action"], "s3:GetObject");

    let outputs = template["Outputs"].as_mapping().unwrap();
    for name in ["WebUrl", "WebBucketName", "WebDistributionId"] {
        assert!(outputs.contains_key(name), "output {name}");
    }
}
