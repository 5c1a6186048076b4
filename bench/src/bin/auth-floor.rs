//! The authenticated floor: the floor plus what every authenticated route must do. At init, the
//! token secret read from Secrets Manager (`$JWT_SECRET_ARN`); per invocation, the bearer token
//! verified (HS256, `exp` and `sub` required: a bad one is a 401) and one GetItem of the market
//! `$FLOOR_MARKET_ID`. Issue 22's targets are ratios to it (bench/README.md).

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::types::AttributeValue;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let table = std::env::var("MARKETS_TABLE")?;
    let id = std::env::var("FLOOR_MARKET_ID")?;
    let config = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let secret = aws_sdk_secretsmanager::Client::new(&config)
        .get_secret_value()
        .secret_id(std::env::var("JWT_SECRET_ARN")?)
        .send()
        .await?
        .secret_string
        .ok_or("the token secret has no string value")?;
    let key = DecodingKey::from_secret(secret.as_bytes());
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "sub"]);
    let client = aws_sdk_dynamodb::Client::new(&config);
    let (table, id, key, validation, client) = (&table, &id, &key, &validation, &client);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        let bearer =
            event.payload["headers"]["authorization"].as_str().map(|h| h.strip_prefix("Bearer ").unwrap_or(""));
        if let Some(token) = bearer
            && decode::<Value>(token, key, validation).is_err()
        {
            return Ok(json!({ "statusCode": 401, "body": "" }));
        }
        let item = client.get_item().table_name(table).key("id", AttributeValue::S(id.clone())).send().await?;
        let status = if item.item.is_some() { 200 } else { 404 };
        Ok::<_, Error>(json!({ "statusCode": status, "body": "" }))
    }))
    .await
}
