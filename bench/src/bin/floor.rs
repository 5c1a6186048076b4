//! The floor: the least a DynamoDB route can be. The AWS SDK config loaded, one DynamoDB client,
//! one GetItem per invocation (the market `$FLOOR_MARKET_ID` of `$MARKETS_TABLE`), nothing else.
//! A route function's cold start, memory and size are judged as ratios to this (bench/README.md).

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let table = std::env::var("MARKETS_TABLE")?;
    let id = std::env::var("FLOOR_MARKET_ID")?;
    let client = aws_sdk_dynamodb::Client::new(&aws_config::load_defaults(BehaviorVersion::latest()).await);
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        let item = client.get_item().table_name(&table).key("id", AttributeValue::S(id.clone())).send().await?;
        let status = if item.item.is_some() { 200 } else { 404 };
        Ok::<_, Error>(json!({ "statusCode": status, "body": "" }))
    }))
    .await
}
