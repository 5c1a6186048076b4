//! `POST /api/graphql` over HTTP, through the real `graphql` binary: the same data and the same
//! rules as the REST routes (each rule is the same service call), the same request envelope, the
//! creators of a response in one batch, and hostile documents refused cheaply.

use api_tests::{Reply, Stack, User, market_path, positions_path};
use markets_core::domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// One GraphQL operation, as `user` (anonymous when `None`).
async fn graphql(stack: &Stack, user: Option<&User>, query: &str, variables: Value) -> Reply {
    let request = stack.post("/api/graphql").json(json!({ "query": query, "variables": variables }));
    match user {
        Some(user) => request.as_user(user).await,
        None => request.await,
    }
}

/// The `extensions.code` of each error of a GraphQL answer (200, as every GraphQL answer).
fn codes(reply: &Reply) -> Vec<&str> {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let errors = reply.body["errors"].as_array().map(Vec::as_slice).unwrap_or_default();
    errors.iter().map(|error| error["extensions"]["code"].as_str().expect("every error has a code")).collect()
}

const MARKET_FIELDS: &str =
    "id name description status volume creatorId creator { id name } endDate createdAt updatedAt version";

/// A market as GraphQL shows it, in REST's shape (GraphQL writes enums in capitals and decimals as
/// strings; REST writes them in lower case and as numbers).
fn as_rest(market: &Value) -> Value {
    let mut market = market.clone();
    market["status"] = market["status"].as_str().unwrap().to_lowercase().into();
    market["volume"] = serde_json::from_str(market["volume"].as_str().unwrap()).unwrap();
    market
}

#[tokio::test]
async fn a_query_reads_what_rest_wrote_and_rest_reads_what_a_mutation_wrote() {
    let stack = Stack::start();
    let alice = User::new(Role::User);
    let rest = stack.create_market(&alice, "Will it rain in Lyon?").await;
    let query = format!("query One($id: String!) {{ market(id: $id) {{ {MARKET_FIELDS} etag }} }}");
    let read = graphql(&stack, None, &query, json!({ "id": rest.id })).await;
    assert_eq!(codes(&read), Vec::<&str>::new(), "{}", read.text);
    let market = &read.body["data"]["market"];
    assert_eq!(market["etag"], "\"v1\"");
    let mut shown = as_rest(market);
    shown.as_object_mut().unwrap().remove("etag");
    assert_eq!(shown, *rest.data());

    let create = format!(
        "mutation {{ createMarket(input: {{name: \"Will it snow?\", initialPosition: {{outcome: NO, amount: \"0.000001\"}}}}) {{ {MARKET_FIELDS} }} }}"
    );
    let created = graphql(&stack, Some(&alice), &create, json!({})).await;
    assert_eq!(codes(&created), Vec::<&str>::new(), "{}", created.text);
    let market = &created.body["data"]["createMarket"];
    assert_eq!(market["volume"], "0.000001", "the amount exactly, as a string");
    let got = stack.get(&market_path(market["id"].as_str().unwrap())).await;
    assert_eq!(as_rest(market), got.body["data"]);
    let positions = stack.get(&positions_path(market["id"].as_str().unwrap())).await;
    assert_eq!(positions.body["meta"]["count"], 1, "the first position came with the market");
}
