//! The API contract (openapi/openapi.yaml) agrees with the code: every route of every HTTP
//! function's `ROUTES` is an operation with the same method, path and access (public or
//! bearer), every operation is some function's route, and every refusal it lists has the
//! shared error shape. The document is the one `GET /openapi.json` serves.

use crate::infra::HTTP_FUNCTIONS;
use serde_json::Value;
use std::collections::BTreeSet;

const METHODS: &[&str] = &["get", "put", "post", "patch", "delete", "head", "options"];

/// (METHOD, path, public)
type Operation = (String, String, bool);

fn document() -> Value {
    serde_yaml::from_str(recordings::OPENAPI_YAML).expect("openapi/openapi.yaml is valid YAML")
}

/// Every operation of the document; public when it overrides the document's security with
/// none (`security: []`).
fn spec_operations(doc: &Value) -> BTreeSet<Operation> {
    let global_security = doc["security"].as_array().is_some_and(|s| !s.is_empty());
    assert!(
        global_security,
        "the document requires the bearer token by default"
    );
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            let Some(op) = item.get(*method) else {
                continue;
            };
            let public = match op.get("security") {
                None => false,
                Some(Value::Array(requirements)) => requirements.is_empty(),
                Some(other) => panic!("{method} {path}: security is {other}"),
            };
            operations.insert((method.to_uppercase(), path.clone(), public));
        }
    }
    operations
}

fn code_routes() -> BTreeSet<Operation> {
    HTTP_FUNCTIONS
        .iter()
        .flat_map(|(_, routes)| routes.iter())
        .map(|r| (r.method.to_uppercase(), r.path.to_owned(), r.public))
        .collect()
}

fn describe(ops: &BTreeSet<&Operation>) -> Vec<String> {
    ops.iter()
        .map(|(method, path, public)| {
            let access = if *public { "public" } else { "bearer" };
            format!("{method} {path} ({access})")
        })
        .collect()
}

#[test]
fn the_contract_describes_exactly_the_routes_the_functions_serve() {
    let doc = document();
    let spec = spec_operations(&doc);
    let code = code_routes();
    let only_in_code: BTreeSet<&Operation> = code.difference(&spec).collect();
    let only_in_spec: BTreeSet<&Operation> = spec.difference(&code).collect();
    assert!(
        only_in_code.is_empty() && only_in_spec.is_empty(),
        "ROUTES and openapi/openapi.yaml differ (method, path or access):\n  only in ROUTES: {:?}\n  only in the contract: {:?}",
        describe(&only_in_code),
        describe(&only_in_spec)
    );
}

/// `#/components/...` as the value it points to.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(pointer) => {
            let target = doc
                .pointer(pointer.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("{pointer} points nowhere"));
            resolve(doc, target)
        }
        None => value,
    }
}

fn operations(doc: &Value) -> Vec<(String, &str, &Value, &Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(*method) {
                found.push((
                    format!("{} {path}", method.to_uppercase()),
                    *method,
                    item,
                    op,
                ));
            }
        }
    }
    found
}

#[test]
fn every_refusal_is_the_shared_error_and_every_bearer_route_lists_401() {
    let doc = document();
    let error_schema = serde_json::json!({"$ref": "#/components/schemas/Error"});
    for (name, _, _, op) in operations(&doc) {
        let responses = op["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{name}: no responses"));
        let public = op.get("security") == Some(&serde_json::json!([]));
        if !public {
            assert!(
                responses.contains_key("401"),
                "{name}: a bearer route lists 401"
            );
            assert!(responses.contains_key("400"), "{name}: lists 400");
        }
        for (status, response) in responses {
            let code: u16 = status
                .parse()
                .unwrap_or_else(|_| panic!("{name}: status `{status}` is not a number"));
            let response = resolve(&doc, response);
            if code >= 400 {
                assert_eq!(
                    response["content"]["application/json"]["schema"], error_schema,
                    "{name} {status}: a refusal is {{\"error\": {{\"code\", \"message\"}}}}"
                );
            } else if code != 302 {
                assert!(
                    response["content"]["application/json"]["schema"].is_object(),
                    "{name} {status}: JSON, with a schema"
                );
            }
        }
    }
}

#[test]
fn path_parameters_operation_ids_and_links_are_consistent() {
    let doc = document();
    let ids: Vec<&str> = operations(&doc)
        .iter()
        .map(|(name, _, _, op)| {
            op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: no operationId"))
        })
        .collect();
    let unique: BTreeSet<&&str> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "operationIds are unique");
    for (name, _, item, op) in operations(&doc) {
        let path = name.split_once(' ').unwrap().1;
        let in_path: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        let declared: BTreeSet<&str> = item["parameters"]
            .as_array()
            .into_iter()
            .chain(op["parameters"].as_array())
            .flatten()
            .map(|p| resolve(&doc, p))
            .filter(|p| p["in"] == "path")
            .map(|p| {
                assert_eq!(p["required"], true, "{name}: path parameters are required");
                p["name"].as_str().unwrap()
            })
            .collect();
        assert_eq!(in_path, declared, "{name}: path parameters");
        for response in op["responses"].as_object().unwrap().values() {
            for (link_name, link) in resolve(&doc, response)["links"]
                .as_object()
                .into_iter()
                .flatten()
            {
                let target = link["operationId"].as_str().unwrap();
                assert!(
                    ids.contains(&target),
                    "{name}: link {link_name} names no operation"
                );
            }
        }
    }
}
