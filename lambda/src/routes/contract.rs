//! openapi.yaml against the code: its operations are template.yaml's routes, and its error codes,
//! status by status, are exactly the ones `ApiError` produces.

use std::collections::{BTreeMap, BTreeSet};

use lambda_http::http::StatusCode;
use serde_json::Value;

use super::{OPENAPI_YAML, ROUTES};
use crate::error::ApiError;

pub(crate) fn yaml(text: &str) -> Value {
    // template.yaml's CloudFormation tags (!Ref, !GetAtt) read as plain values.
    let value: serde_norway::Value = serde_norway::from_str(text).expect("valid YAML");
    serde_json::to_value(value).expect("YAML as JSON")
}

fn spec() -> Value {
    yaml(OPENAPI_YAML)
}

/// The route openapi.yaml leaves out: `POST /api/graphql`, whose contract is its schema
/// (graphql/schema.graphql, docs/graphql.md). As an OpenAPI operation it could only say "a JSON
/// body in, a JSON body out", and Schemathesis would send it strings, not GraphQL documents.
const OUTSIDE_OPENAPI: (&str, &str) = ("POST", "/api/graphql");

fn in_openapi(method: &str, path: &str) -> bool {
    (method, path) != OUTSIDE_OPENAPI
}

/// `(METHOD, path)` of every HttpApi event in template.yaml but the `/{proxy+}` fallback.
fn template_routes() -> BTreeSet<(String, String)> {
    let template = yaml(include_str!("../../../template.yaml"));
    let resources = template["Resources"].as_object().unwrap();
    let events = resources.values().filter_map(|resource| resource["Properties"]["Events"].as_object()).flatten();
    events
        .map(|(_, event)| event)
        .filter(|event| event["Type"] == "HttpApi")
        .map(|event| (event["Properties"]["Method"].as_str().unwrap(), event["Properties"]["Path"].as_str().unwrap()))
        .filter(|(_, path)| *path != "/{proxy+}")
        .map(|(method, path)| (method.to_uppercase(), path.to_owned()))
        .collect()
}

#[test]
fn the_route_table_is_the_template_s_routes() {
    let known = ROUTES.iter().map(|route| (route.method.to_owned(), route.path.to_owned())).collect();
    assert_eq!(template_routes(), known);
}

/// `(METHOD, path)` → the operation, for every operation of openapi.yaml.
fn spec_operations(spec: &Value) -> BTreeMap<(String, String), &Value> {
    let methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
    let paths = spec["paths"].as_object().unwrap();
    paths
        .iter()
        .flat_map(|(path, item)| {
            methods
                .iter()
                .filter_map(move |m| item.get(*m).map(|operation| ((m.to_uppercase(), path.clone()), operation)))
        })
        .collect()
}

#[test]
fn the_spec_describes_every_route_of_the_template_and_no_other() {
    let spec = spec();
    let documented = template_routes().into_iter().filter(|(method, path)| in_openapi(method, path)).collect();
    assert_eq!(spec_operations(&spec).into_keys().collect::<BTreeSet<_>>(), documented);
}

#[test]
fn the_spec_documents_exactly_the_query_parameters_each_route_takes() {
    let spec = spec();
    let operations = spec_operations(&spec);
    for route in ROUTES.iter().filter(|route| in_openapi(route.method, route.path)) {
        let operation = operations[&(route.method.to_owned(), route.path.to_owned())];
        let documented: BTreeSet<&str> = operation["parameters"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|parameter| resolve(&spec, parameter))
            .filter(|parameter| parameter["in"] == "query")
            .map(|parameter| parameter["name"].as_str().unwrap())
            .collect();
        assert_eq!(documented, route.query.iter().copied().collect(), "{} {}", route.method, route.path);
    }
}

/// A `$ref` within the document, followed.
fn resolve<'a>(spec: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => spec.pointer(reference.strip_prefix('#').unwrap()).expect("a $ref to this document"),
        None => value,
    }
}

/// One of each `ApiError` variant (the match makes a new variant a compile error here until it is
/// listed).
fn every_error() -> Vec<ApiError> {
    let all = vec![
        ApiError::BadRequest(String::new()),
        ApiError::InvalidJson(String::new()),
        ApiError::Validation(Vec::new()),
        ApiError::InvalidCursor,
        ApiError::Unauthorized(""),
        ApiError::InvalidToken(""),
        ApiError::Forbidden(""),
        ApiError::NotFound(String::new()),
        ApiError::MethodNotAllowed { method: String::new(), path: String::new(), allow: String::new() },
        ApiError::Conflict(""),
        ApiError::MarketNotActive,
        ApiError::InvalidTransition { from: "", to: "" },
        ApiError::PreconditionFailed,
        ApiError::PayloadTooLarge { limit: 0 },
        ApiError::UnsupportedMediaType,
        ApiError::IdempotencyKeyReused,
        ApiError::RateLimited { retry_after: 0 },
        ApiError::internal("bug"),
        ApiError::Unavailable("down".into()),
    ];
    let variant = |error: &ApiError| match error {
        ApiError::BadRequest(_) => 0,
        ApiError::InvalidJson(_) => 1,
        ApiError::Validation(_) => 2,
        ApiError::InvalidCursor => 3,
        ApiError::Unauthorized(_) => 4,
        ApiError::InvalidToken(_) => 5,
        ApiError::Forbidden(_) => 6,
        ApiError::NotFound(_) => 7,
        ApiError::MethodNotAllowed { .. } => 8,
        ApiError::Conflict(_) => 9,
        ApiError::MarketNotActive => 10,
        ApiError::InvalidTransition { .. } => 11,
        ApiError::PreconditionFailed => 12,
        ApiError::PayloadTooLarge { .. } => 13,
        ApiError::UnsupportedMediaType => 14,
        ApiError::IdempotencyKeyReused => 15,
        ApiError::RateLimited { .. } => 16,
        ApiError::Internal(_) => 17,
        ApiError::Unavailable(_) => 18,
    };
    assert_eq!(all.iter().map(variant).collect::<Vec<_>>(), (0..19).collect::<Vec<_>>());
    all
}

/// The component name of the error response for a status: its reason phrase in CamelCase.
fn response_name(status: StatusCode) -> String {
    status.canonical_reason().unwrap().split([' ', '-']).collect()
}

/// The codes an error response of the spec allows (`allOf: [Error, {code: const | enum}]`, alone or
/// in a `oneOf` beside API Gateway's own message).
fn codes_of(response: &Value) -> Option<BTreeSet<String>> {
    let schema = &response["content"]["application/json"]["schema"];
    let envelope = schema["oneOf"].as_array().and_then(|one_of| one_of.iter().find(|s| s.get("allOf").is_some()));
    let schema = &envelope.unwrap_or(schema)["allOf"];
    if schema[0]["$ref"] != "#/components/schemas/Error" {
        return None;
    }
    let code = &schema[1]["properties"]["code"];
    let codes = match code.get("const") {
        Some(one) => vec![one.clone()],
        None => code["enum"].as_array().expect("code has const or enum").clone(),
    };
    Some(codes.iter().map(|code| code.as_str().unwrap().to_owned()).collect())
}

#[test]
fn the_spec_lists_exactly_the_error_codes_the_api_produces_under_their_statuses() {
    let spec = spec();
    let mut produced: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for error in every_error() {
        let (status, code) = error.status_and_code();
        produced.entry(response_name(status)).or_default().insert(code.to_owned());
    }
    let documented: BTreeMap<String, BTreeSet<String>> = spec["components"]["responses"]
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(name, response)| codes_of(response).map(|codes| (name.clone(), codes)))
        .collect();
    assert_eq!(documented, produced);

    let all_codes: BTreeSet<String> = produced.into_values().flatten().collect();
    let enum_codes: BTreeSet<String> = spec["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(enum_codes, all_codes);
}

#[test]
fn every_documented_error_status_uses_the_response_named_after_it() {
    let spec = spec();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap().iter().filter(|(key, _)| *key != "parameters") {
            for (status, response) in operation["responses"].as_object().unwrap() {
                let status = StatusCode::from_bytes(status.as_bytes()).unwrap();
                if status.as_u16() >= 400 {
                    let expected = format!("#/components/responses/{}", response_name(status));
                    assert_eq!(response["$ref"], expected.as_str(), "{method} {path} {status}");
                }
            }
        }
    }
}
