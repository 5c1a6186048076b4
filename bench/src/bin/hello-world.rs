//! The least a Rust Lambda function can be: `lambda_runtime` answering every event with a fixed
//! API Gateway response. Its cold start and memory are the runtime's own cost, below which no
//! function of ours can go (see bench/README.md).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<_, Error>(json!({ "statusCode": 200, "body": "hello" }))
    }))
    .await
}
