//! The review's small findings (issue 20, item 5), each through the real path: the creator's name
//! is the stored profile on every route, whatever name a later token carries.

use api_tests::{Stack, User, market_path};
use reqwest::StatusCode;
use serde_json::json;
use shared::domain::Role;

#[tokio::test]
async fn the_creator_is_the_stored_profile_on_every_route_whatever_a_later_token_says() {
    let stack = Stack::start();
    let alice = User::new(Role::User);
    let named = |name: &str| alice.token_with(|claims| claims.name = Some(name.to_owned()));
    let first = stack.post("/api/markets").bearer(named("First Name")).json(json!({ "name": "One" })).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let second = stack.post("/api/markets").bearer(named("Chosen Later")).json(json!({ "name": "Two" })).await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.text);
    assert_eq!(second.body["data"]["creator"]["name"], "First Name", "the create's answer");

    let id = second.body["data"]["id"].as_str().unwrap();
    let read = stack.get(&market_path(id)).await;
    assert_eq!(read.body["data"]["creator"]["name"], "First Name", "GET");
    let edited = stack.patch(&market_path(id)).bearer(named("Third")).json(json!({ "description": "d" })).await;
    assert_eq!((edited.status, &edited.body["data"]["creator"]["name"]), (StatusCode::OK, &json!("First Name")));
    let listed = stack.get("/api/markets?limit=10").await;
    for market in listed.body["data"].as_array().unwrap() {
        assert_eq!(market["creator"]["name"], "First Name", "the list");
    }
}
