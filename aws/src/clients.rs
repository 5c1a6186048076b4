//! SDK clients whose calls show in the request's facts (`markets_core::observability`): the
//! DynamoDB, S3 Vectors and SQS calls a request made are in its log line, so N+1 reads (and calls
//! that do not belong on the request path) show.

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use markets_core::error::BoxError;
use markets_core::observability::{Store, note_store_call};

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
        note_store_call(self.0, operation);
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
