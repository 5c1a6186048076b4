//! SDK clients whose calls show in the request's facts (`markets_core::observability`): the
//! DynamoDB, S3 Vectors and SQS calls a request made are in its log line, so N+1 reads (and calls
//! that do not belong on the request path) show, and so are the round trips it waited for one
//! after the other (Bedrock's calls included). In a sampled trace each call is a span too (an X-Ray
//! subsegment, see `markets_core::observability::xray`): service, operation, table or queue,
//! retries, status and the capacity DynamoDB says it consumed.

use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextMut, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use markets_core::error::BoxError;
use markets_core::observability::{CallRound, Store, note_call_ended, note_store_call, xray};
use serde_json::Value;
use tracing::Span;

/// The round of the call in flight, kept in its config bag from its start to its end.
#[derive(Debug)]
struct InFlight(CallRound);

impl Storable for InFlight {
    type Storer = StoreReplace<Self>;
}

/// The traced span of the call in flight and its attempts so far.
#[derive(Debug)]
struct CallSpan {
    span: Span,
    operation: String,
    attempts: AtomicU32,
}

impl Storable for CallSpan {
    type Storer = StoreReplace<Self>;
}

/// The span of one call to `store`, if the current span is traced and sampled (a span's name is
/// static: one per service).
fn call_span(store: Store, operation: &str) -> Option<Span> {
    if !xray::sampled_here() {
        return None;
    }
    let span = match store {
        Store::DynamoDb => tracing::debug_span!("DynamoDB"),
        Store::S3Vectors => tracing::debug_span!("S3Vectors"),
        Store::Sqs => tracing::debug_span!("SQS"),
        Store::Bedrock => tracing::debug_span!("BedrockRuntime"),
    };
    xray::set(&span, "namespace", "aws");
    xray::set_in(&span, "aws", "operation", operation);
    Some(span)
}

/// The DynamoDB operations that say what capacity they consumed when asked.
const CONSUMING: [&str; 10] = [
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactGetItems",
    "TransactWriteItems",
];

/// What of an answer's body a call's span shows (other fields are skipped unread).
#[derive(serde::Deserialize)]
struct Answer {
    #[serde(rename = "ConsumedCapacity")]
    consumed_capacity: Option<Value>,
    #[serde(rename = "__type")]
    error_type: Option<String>,
}

/// The request body's resource names, as X-Ray's `aws` fields: the table(s), queue, vector index.
fn resources(request: &serde_json::Map<String, Value>) -> Vec<(&'static str, Value)> {
    let field = |name: &str| request.get(name).unwrap_or(&Value::Null);
    let transacted = field("TransactItems").as_array().into_iter().flatten();
    let mut tables: Vec<&str> = transacted
        .flat_map(|item| item.as_object().into_iter().flat_map(|item| item.values()))
        .map(|action| &action["TableName"])
        .chain([field("TableName")])
        .filter_map(Value::as_str)
        .chain(field("RequestItems").as_object().into_iter().flat_map(|items| items.keys().map(String::as_str)))
        .collect();
    tables.sort_unstable();
    tables.dedup();
    let mut found: Vec<(&'static str, Value)> = Vec::new();
    if !tables.is_empty() {
        found.push(("table_name", Value::from(tables.join(","))));
    }
    for (field, name) in [("QueueUrl", "queue_url"), ("indexArn", "index_arn"), ("indexName", "index_name")] {
        if let Some(value) = request.get(field) {
            found.push((name, value.clone()));
        }
    }
    found
}

/// Notes each operation of one store (once per call, not per retry attempt) in the current
/// request.
#[derive(Debug, Clone, Copy)]
struct RecordCalls(Store);

impl Intercept for RecordCalls {
    fn name(&self) -> &'static str {
        "RecordCalls"
    }

    // Not read_before_execution: a client-level interceptor runs that before the operation's
    // metadata (its name) is in the config bag. Serialization, too, happens once per call.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map_or("unknown", |metadata| metadata.name()).to_owned();
        if let Some(span) = call_span(self.0, &operation) {
            let operation = operation.clone();
            cfg.interceptor_state().store_put(CallSpan { span, operation, attempts: AtomicU32::new(0) });
        }
        if let Some(round) = note_store_call(self.0, operation) {
            cfg.interceptor_state().store_put(InFlight(round));
        }
        Ok(())
    }

    // Once per call, after serialization and before the retry loop saves the request each attempt
    // starts from: the body is read once for the span's resources, and a traced DynamoDB call asks
    // for the capacity it consumes, which its span then shows.
    fn modify_before_retry_loop(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(call) = cfg.load::<CallSpan>() else { return Ok(()) };
        let request = context.request_mut();
        let Some(Ok(Value::Object(mut body))) = request.body().bytes().map(serde_json::from_slice::<Value>) else {
            return Ok(());
        };
        for (name, value) in resources(&body) {
            xray::set_in(&call.span, "aws", name, value);
        }
        if !matches!(self.0, Store::DynamoDb) || !CONSUMING.contains(&call.operation.as_str()) {
            return Ok(());
        }
        body.entry("ReturnConsumedCapacity").or_insert_with(|| Value::from("TOTAL"));
        let body = serde_json::to_vec(&body)?;
        request.headers_mut().insert("content-length", body.len().to_string());
        *request.body_mut() = SdkBody::from(body);
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(call) = cfg.load::<CallSpan>() {
            call.attempts.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    // Once per call too, after its last attempt, answered or failed.
    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(InFlight(round)) = cfg.load::<InFlight>() {
            note_call_ended(*round);
        }
        if let Some(call) = cfg.load::<CallSpan>() {
            end_call(call, context);
            // Dropped now, not with the bag: the span ends with the call.
            cfg.interceptor_state().unset::<CallSpan>();
        }
        Ok(())
    }
}

/// What the call's last answer says: its status, request id and the capacity DynamoDB consumed
/// (when asked for it); a throttle, refusal (`error`) or outage (`fault`) as X-Ray marks them.
fn end_call(call: &CallSpan, context: &FinalizerInterceptorContextRef<'_>) {
    let span = &call.span;
    xray::set_in(span, "aws", "retries", call.attempts.load(Ordering::Relaxed).saturating_sub(1));
    let Some(response) = context.response() else {
        xray::set(span, "fault", true); // no answer: timed out or unreachable
        return;
    };
    if let Some(request_id) = response.headers().get("x-amzn-requestid") {
        xray::set_in(span, "aws", "request_id", request_id);
    }
    let answer = response.body().bytes().and_then(|body| serde_json::from_slice::<Answer>(body).ok());
    let (consumed, error_type) = answer.map_or((None, None), |answer| (answer.consumed_capacity, answer.error_type));
    let throttled = error_type.is_some_and(|error| {
        ["Throttling", "ProvisionedThroughputExceeded", "RequestLimitExceeded"].iter().any(|t| error.contains(t))
    });
    xray::set_status(span, response.status().as_u16(), throttled);
    if let Some(consumed) = consumed {
        xray::set_in(span, "aws", "consumed_capacity", consumed);
    }
}

/// A DynamoDB client that records its calls per request.
pub fn dynamodb_client(config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::from(config).interceptor(RecordCalls(Store::DynamoDb)).build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// An S3 Vectors client that records its calls per request.
pub fn s3vectors_client(config: &aws_config::SdkConfig) -> aws_sdk_s3vectors::Client {
    let config = aws_sdk_s3vectors::config::Builder::from(config).interceptor(RecordCalls(Store::S3Vectors)).build();
    aws_sdk_s3vectors::Client::from_conf(config)
}

/// An SQS client that records its calls per request.
pub fn sqs_client(config: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::config::Builder::from(config).interceptor(RecordCalls(Store::Sqs)).build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// A Bedrock client, with `timeouts`, whose calls count in the request's round trips.
pub fn bedrock_client(
    config: &aws_config::SdkConfig,
    timeouts: aws_config::timeout::TimeoutConfig,
) -> aws_sdk_bedrockruntime::Client {
    let config = aws_sdk_bedrockruntime::config::Builder::from(config)
        .timeout_config(timeouts)
        .interceptor(RecordCalls(Store::Bedrock))
        .build();
    aws_sdk_bedrockruntime::Client::from_conf(config)
}
