//! Logs and per-request measurements: JSON logs for CloudWatch, and a count of the DynamoDB calls
//! each request makes (so N+1 reads show up in the request's log line, and tests can assert it).

use std::cell::RefCell;
use std::future::Future;

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::client::orchestrator::Metadata;

use crate::error::BoxError;

/// JSON logs; the level comes from `RUST_LOG` or Lambda's `AWS_LAMBDA_LOG_LEVEL`.
pub fn init_logging() {
    let level = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL").map(|level| level.to_lowercase()))
        .unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_target(false)
        .with_current_span(false)
        .flatten_event(true)
        .try_init();
}

tokio::task_local! {
    static DYNAMODB_CALLS: RefCell<Vec<String>>;
    static REQUEST_ID: String;
}

/// Runs `work` as the handling of request `request_id` (see [`current_request_id`]).
pub async fn with_request_id<F: Future>(request_id: String, work: F) -> F::Output {
    REQUEST_ID.scope(request_id, work).await
}

/// The id of the API request being handled, if any: index jobs carry it to the worker's logs.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Runs `work` and returns, with its output, the DynamoDB operations it called, in order.
pub async fn record_dynamodb_calls<F: Future>(work: F) -> (F::Output, Vec<String>) {
    DYNAMODB_CALLS
        .scope(RefCell::new(Vec::new()), async {
            let output = work.await;
            (output, DYNAMODB_CALLS.with(|calls| calls.take()))
        })
        .await
}

/// Notes each DynamoDB operation (once per call, not per retry attempt) in the current request.
#[derive(Debug)]
struct RecordCalls;

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
        // Outside a request (the seed tool, say) there is nothing to record into.
        let _ = DYNAMODB_CALLS.try_with(|calls| calls.borrow_mut().push(operation));
        Ok(())
    }
}

/// A DynamoDB client that records its calls per request.
pub fn dynamodb_client(config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::from(config).interceptor(RecordCalls).build();
    aws_sdk_dynamodb::Client::from_conf(config)
}
