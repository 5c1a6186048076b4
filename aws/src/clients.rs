//! SDK clients whose calls show in the request's facts (`markets_core::observability`): the
//! DynamoDB, S3 Vectors and SQS calls a request made are in its log line, so N+1 reads (and calls
//! that do not belong on the request path) show, and so are the round trips it waited for one
//! after the other (Bedrock's calls included).

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use markets_core::error::BoxError;
use markets_core::observability::{CallRound, Store, note_call_ended, note_store_call};

/// The round of the call in flight, kept in its config bag from its start to its end.
#[derive(Debug)]
struct InFlight(CallRound);

impl Storable for InFlight {
    type Storer = StoreReplace<Self>;
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
        if let Some(round) = note_store_call(self.0, operation) {
            cfg.interceptor_state().store_put(InFlight(round));
        }
        Ok(())
    }

    // Once per call too, after its last attempt, answered or failed.
    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(InFlight(round)) = cfg.load::<InFlight>() {
            note_call_ended(*round);
        }
        Ok(())
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
