//! `POST /api/graphql` over HTTP, through the real `graphql` binary: the same data and the same
//! rules as the REST routes (each rule is the same service call), the same request envelope, the
//! creators of a response in one batch, and hostile documents refused cheaply.

use api_tests::{Reply, Stack, User, market_path, positions_path};
use futures::StreamExt as _;
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

const CREATE: &str = "mutation Create($input: CreateMarketInput!, $key: String) { createMarket(input: $input, idempotencyKey: $key) { id version volume } }";
const UPDATE: &str = "mutation Update($id: String!, $input: MarketFieldsInput!, $ifMatch: String) { updateMarket(id: $id, input: $input, ifMatch: $ifMatch) { id version status name } }";
const DELETE: &str = "mutation Delete($id: String!) { deleteMarket(id: $id) }";
const TAKE: &str = "mutation Take($id: String!, $input: TakePositionInput!, $key: String) { takePosition(marketId: $id, input: $input, idempotencyKey: $key) { id amount } }";
const ONE: &str = "query One($id: String!) { market(id: $id) { id version name status volume } }";

/// The one error of a refused GraphQL operation: its code and its `details`.
fn refusal(reply: &Reply) -> (String, Value) {
    assert_eq!(codes(reply).len(), 1, "{}", reply.text);
    let extensions = &reply.body["errors"][0]["extensions"];
    (extensions["code"].as_str().unwrap().to_owned(), extensions["details"].clone())
}

/// A REST error answer's code and `details`.
fn rest_refusal(reply: &Reply) -> (String, Value) {
    (reply.error_code().to_owned(), reply.body["details"].clone())
}

#[tokio::test]
async fn a_bad_input_gets_the_rest_route_s_code_and_field_errors_and_writes_nothing() {
    let stack = Stack::start();
    let alice = User::new(Role::User);
    let long = "x".repeat(201);
    // (REST body, the same as GraphQL's input: enums in capitals, amounts as strings)
    let cases = [
        (json!({ "name": "   " }), json!({ "name": "   " })),
        (json!({ "name": long }), json!({ "name": long })),
        (json!({ "name": "Fine", "description": null }), json!({ "name": "Fine", "description": null })),
        (json!({ "name": "Fine", "endDate": "tomorrow" }), json!({ "name": "Fine", "endDate": "tomorrow" })),
        (json!({ "description": "no name" }), json!({ "description": "no name" })),
        (
            json!({ "name": "Fine", "initialPosition": { "outcome": "yes", "amount": 0.0000001 } }),
            json!({ "name": "Fine", "initialPosition": { "outcome": "YES", "amount": "0.0000001" } }),
        ),
        (
            json!({ "name": "Fine", "initialPosition": { "outcome": "no", "amount": 1000000001 } }),
            json!({ "name": "Fine", "initialPosition": { "outcome": "NO", "amount": "1000000001" } }),
        ),
        (
            json!({ "name": "Fine", "initialPosition": { "amount": 1 } }),
            json!({ "name": "Fine", "initialPosition": { "amount": "1" } }),
        ),
    ];
    for (rest_body, input) in cases {
        let rest = stack.post("/api/markets").as_user(&alice).json(rest_body.clone()).await;
        assert_eq!(rest.status, StatusCode::BAD_REQUEST, "{}", rest.text);
        let ours = graphql(&stack, Some(&alice), CREATE, json!({ "input": input })).await;
        assert_eq!(refusal(&ours), rest_refusal(&rest), "{rest_body}");
        assert_eq!(refusal(&ours).0, "VALIDATION_FAILED");
    }
    let listed = stack.get("/api/markets").await;
    assert_eq!(listed.body["meta"]["count"], 0, "a refused create wrote nothing: {}", listed.text);
}

#[tokio::test]
async fn permissions_and_transitions_are_the_rest_routes() {
    let stack = Stack::start();
    let (alice, bob) = (User::new(Role::User), User::new(Role::User));
    let (moderator, admin) = (User::new(Role::Moderator), User::new(Role::Admin));
    let created = graphql(&stack, Some(&alice), CREATE, json!({ "input": { "name": "Will it hail?" } })).await;
    let id = created.body["data"]["createMarket"]["id"].as_str().expect("created").to_owned();
    let path = market_path(&id);
    let update = async |user: &User, input: Value| {
        graphql(&stack, Some(user), UPDATE, json!({ "id": id, "input": input })).await
    };
    let code = |reply: Reply| refusal(&reply).0;

    let anonymous = graphql(&stack, None, CREATE, json!({ "input": { "name": "Anyone?" } })).await;
    assert_eq!(code(anonymous), "UNAUTHORIZED");
    // Not the creator: the REST route's 403, by the same rule.
    let rest = stack.patch(&path).as_user(&bob).json(json!({ "name": "Bob's" })).await;
    assert_eq!(code(update(&bob, json!({ "name": "Bob's" })).await), rest.error_code());
    assert_eq!(rest.error_code(), "FORBIDDEN");
    // Only an admin resolves; a user may not delete.
    assert_eq!(code(update(&alice, json!({ "status": "RESOLVED" })).await), "FORBIDDEN");
    assert_eq!(code(graphql(&stack, Some(&alice), DELETE, json!({ "id": id })).await), "FORBIDDEN");
    // active → closed, and no way back; no position on a closed market.
    let closed = update(&alice, json!({ "status": "CLOSED" })).await;
    assert_eq!(closed.body["data"]["updateMarket"]["status"], "CLOSED", "{}", closed.text);
    let rest = stack.patch(&path).as_user(&alice).json(json!({ "status": "active" })).await;
    assert_eq!(code(update(&alice, json!({ "status": "ACTIVE" })).await), rest.error_code());
    assert_eq!(rest.error_code(), "INVALID_TRANSITION");
    let take = json!({ "id": id, "input": { "outcome": "YES", "amount": "1" } });
    assert_eq!(code(graphql(&stack, Some(&bob), TAKE, take).await), "MARKET_NOT_ACTIVE");
    let resolved = update(&admin, json!({ "status": "RESOLVED" })).await;
    assert_eq!(resolved.body["data"]["updateMarket"]["status"], "RESOLVED", "{}", resolved.text);
    // A moderator deletes; then both APIs say the market is gone.
    let deleted = graphql(&stack, Some(&moderator), DELETE, json!({ "id": id })).await;
    assert_eq!(deleted.body["data"]["deleteMarket"], id.as_str(), "{}", deleted.text);
    assert_eq!(stack.get(&path).await.error_code(), "NOT_FOUND");
    assert_eq!(code(graphql(&stack, None, ONE, json!({ "id": id })).await), "NOT_FOUND");
    assert_eq!(code(graphql(&stack, Some(&moderator), DELETE, json!({ "id": id })).await), "NOT_FOUND");
}

#[tokio::test]
async fn idempotency_keys_and_if_match_are_the_rest_routes() {
    let stack = Stack::start();
    let alice = User::new(Role::User);
    let input = json!({ "name": "Will it freeze?", "initialPosition": { "outcome": "YES", "amount": "3" } });
    let first = graphql(&stack, Some(&alice), CREATE, json!({ "input": input, "key": "create-1" })).await;
    let again = graphql(&stack, Some(&alice), CREATE, json!({ "input": input, "key": "create-1" })).await;
    assert_eq!(again.body["data"], first.body["data"], "a retry answers the first market: {}", again.text);
    let id = first.body["data"]["createMarket"]["id"].as_str().unwrap().to_owned();
    // The same key and body through REST: the same write, so the same first answer.
    let rest_body = json!({ "name": "Will it freeze?", "initialPosition": { "outcome": "yes", "amount": 3 } });
    let rest = stack.post("/api/markets").as_user(&alice).idempotency_key("create-1").json(rest_body).await;
    assert_eq!(
        (rest.status, rest.body["data"]["id"].as_str()),
        (StatusCode::CREATED, Some(id.as_str())),
        "{}",
        rest.text
    );
    let other = json!({ "input": { "name": "Something else" }, "key": "create-1" });
    assert_eq!(refusal(&graphql(&stack, Some(&alice), CREATE, other).await).0, "IDEMPOTENCY_KEY_REUSED");
    let bad_key = json!({ "input": { "name": "Keyed" }, "key": " padded " });
    assert_eq!(refusal(&graphql(&stack, Some(&alice), CREATE, bad_key).await).0, "BAD_REQUEST");
    assert_eq!(stack.get("/api/markets").await.body["meta"]["count"], 1, "one market for all those tries");

    let take = json!({ "id": id, "input": { "outcome": "NO", "amount": "1.25" }, "key": "take-1" });
    let taken = graphql(&stack, Some(&alice), TAKE, take.clone()).await;
    let retaken = graphql(&stack, Some(&alice), TAKE, take).await;
    assert_eq!(retaken.body["data"], taken.body["data"], "{}", retaken.text);
    let market = graphql(&stack, None, ONE, json!({ "id": id })).await;
    assert_eq!(market.body["data"]["market"]["volume"], "4.25", "the position counted once: {}", market.text);
    let version = market.body["data"]["market"]["version"].as_u64().unwrap();

    // A stale ifMatch changes nothing; a malformed one is REST's 400; the current one passes.
    let stale = json!({ "id": id, "input": { "name": "Stale" }, "ifMatch": "\"v1\"" });
    assert_eq!(refusal(&graphql(&stack, Some(&alice), UPDATE, stale).await).0, "PRECONDITION_FAILED");
    let malformed = json!({ "id": id, "input": { "name": "Malformed" }, "ifMatch": "v1" });
    assert_eq!(refusal(&graphql(&stack, Some(&alice), UPDATE, malformed).await).0, "BAD_REQUEST");
    let unchanged = stack.get(&market_path(&id)).await;
    assert_eq!(
        (unchanged.body["data"]["name"].as_str(), unchanged.body["data"]["version"].as_u64()),
        (Some("Will it freeze?"), Some(version))
    );
    let current = json!({ "id": id, "input": { "name": "Fresh" }, "ifMatch": format!("\"v{version}\"") });
    let updated = graphql(&stack, Some(&alice), UPDATE, current).await;
    assert_eq!(updated.body["data"]["updateMarket"]["version"], version + 1, "{}", updated.text);
}

#[tokio::test]
async fn the_request_envelope_is_every_route_s() {
    let stack = Stack::start();
    let alice = User::new(Role::User);
    let reply = graphql(&stack, Some(&alice), "{ markets { edges { node { id } } } }", json!({})).await;
    assert_eq!(codes(&reply), Vec::<&str>::new());
    assert!(reply.header("ratelimit-remaining").is_some(), "{:?}", reply.headers);
    let log = stack.request_log(reply.header("x-request-id").expect("x-request-id"));
    assert_eq!(
        (&log["route"], &log["status"], &log["user_id"]),
        (&json!("POST /api/graphql"), &json!(200), &json!(alice.id))
    );
    assert!(log["dynamodb_ops"].as_str().unwrap().starts_with("UpdateItem,Query"), "the limiter, then the list: {log}");

    let forged = stack
        .post("/api/graphql")
        .bearer("not.a.token")
        .json(json!({ "query": "{ markets { edges { node { id } } } }" }))
        .await;
    assert_eq!((forged.status, forged.error_code()), (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"));
    assert_eq!(forged.header("www-authenticate"), Some("Bearer error=\"invalid_token\""));
    let text = stack
        .post("/api/graphql")
        .header("content-type", "text/plain")
        .body("{ markets { edges { node { id } } } }")
        .await;
    assert_eq!((text.status, text.error_code()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE"));
    let huge = format!("{{\"query\": \"{}\"}}", " ".repeat(70 * 1024));
    let huge = stack.post("/api/graphql").json_text(huge).await;
    assert_eq!((huge.status, huge.error_code()), (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"));
    let not_graphql = stack.post("/api/graphql").json(json!({ "query": 42 })).await;
    assert_eq!((not_graphql.status, not_graphql.error_code()), (StatusCode::BAD_REQUEST, "VALIDATION_FAILED"));
    let get = stack.get("/api/graphql").await;
    assert_eq!(
        (get.status, get.error_code(), get.header("allow")),
        (StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", Some("POST"))
    );
}

#[tokio::test]
async fn a_market_read_through_graphql_is_never_older_than_the_last_write() {
    let stack = Stack::start();
    let (alice, moderator) = (User::new(Role::User), User::new(Role::Moderator));
    let market = stack.create_market(&alice, "Will it thaw?").await;
    let read = || graphql(&stack, None, ONE, json!({ "id": market.id }));
    // The shared cache answers it, as it answers get-market (a hit makes no DynamoDB read).
    let mut hit = None;
    for _ in 0..20 {
        let reply = read().await;
        let log = stack.request_log(reply.header("x-request-id").unwrap());
        if log["cache_hit"] == true {
            hit = Some(log);
            break;
        }
    }
    let hit = hit.expect("no cache hit in 20 reads");
    assert_eq!(hit["dynamodb_ops"], "UpdateItem", "{hit}");
    // Each write, through either API, is seen by the next read through the other.
    for round in 0..5 {
        let name = format!("Will it thaw, round {round}?");
        let version = if round % 2 == 0 {
            let patched = stack.patch(&market.path).as_user(&alice).json(json!({ "name": name })).await;
            patched.body["data"]["version"].as_u64().unwrap()
        } else {
            let updated =
                graphql(&stack, Some(&alice), UPDATE, json!({ "id": market.id, "input": { "name": name } })).await;
            updated.body["data"]["updateMarket"]["version"].as_u64().unwrap()
        };
        let ours = read().await;
        let rest = stack.get(&market.path).await;
        assert_eq!(
            (ours.body["data"]["market"]["name"].as_str(), ours.body["data"]["market"]["version"].as_u64()),
            (Some(name.as_str()), Some(version)),
            "round {round}"
        );
        assert_eq!(rest.header("etag"), Some(format!("\"v{version}\"").as_str()), "round {round}");
    }
    graphql(&stack, Some(&moderator), DELETE, json!({ "id": market.id })).await;
    assert_eq!(refusal(&read().await).0, "NOT_FOUND");
    assert_eq!(stack.get(&market.path).await.status, StatusCode::NOT_FOUND);
}

/// `count` copies of `item(i)`, joined by spaces.
fn repeat(count: usize, item: impl Fn(usize) -> String) -> String {
    (0..count).map(item).collect::<Vec<_>>().join(" ")
}

/// How many times `op` appears in a request log line's `dynamodb_ops`.
fn calls(log: &Value, op: &str) -> usize {
    log["dynamodb_ops"].as_str().unwrap_or_default().split(',').filter(|name| *name == op).count()
}

#[tokio::test]
async fn hostile_documents_are_refused_before_any_read_and_change_nothing() {
    let stack = Stack::start();
    let (alice, moderator) = (User::new(Role::User), User::new(Role::Moderator));
    let market = stack.create_market(&alice, "Will it storm?").await;
    let id = market.id.as_str();
    let deep_type =
        format!("{{ __schema {{ types {{ fields {{ type {}name{} }} }} }} }}", "{ ofType ".repeat(14), " }".repeat(14));
    let laughs = format!(
        "query {{ markets {{ edges {{ node {{ ...F4 }} }} }} }} fragment F0 on Market {{ id name }} {}",
        repeat(4, |level| format!("fragment F{} on Market {{ {} }}", level + 1, repeat(8, |_| format!("...F{level}"))))
    );
    let cases: Vec<(&str, Value, &str)> = vec![
        ("nesting deeper than the depth limit", json!({ "query": deep_type }), "BAD_REQUEST"),
        (
            "an alias bomb",
            json!({ "query": format!("{{ {} }}", repeat(31, |i| format!("a{i}: __typename"))) }),
            "BAD_REQUEST",
        ),
        (
            "an alias bomb of lists",
            json!({ "query": format!("{{ {} }}", repeat(40, |i| format!("m{i}: markets(first: 100) {{ edges {{ node {{ id }} }} }}"))) }),
            "BAD_REQUEST",
        ),
        (
            "an alias bomb of deletes",
            json!({ "query": format!("mutation {{ {} }}", repeat(31, |i| format!("d{i}: deleteMarket(id: \"{id}\")"))) }),
            "BAD_REQUEST",
        ),
        (
            "a fragment cycle",
            json!({ "query": "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }" }),
            "BAD_REQUEST",
        ),
        (
            "a fragment spreading itself",
            json!({ "query": "{ ...A } fragment A on Query { __typename ...A }" }),
            "BAD_REQUEST",
        ),
        ("fragments expanding to 4096 fields", json!({ "query": laughs }), "BAD_REQUEST"),
        ("a huge first", json!({ "query": "{ markets(first: 1000) { edges { node { id } } } }" }), "BAD_REQUEST"),
        ("a zero first", json!({ "query": "{ markets(first: 0) { edges { node { id } } } }" }), "BAD_REQUEST"),
        ("a negative first", json!({ "query": "{ markets(first: -1) { edges { node { id } } } }" }), "BAD_REQUEST"),
        (
            "a first beyond Int",
            json!({ "query": "{ markets(first: 99999999999) { edges { node { id } } } }" }),
            "BAD_REQUEST",
        ),
        (
            "a huge nested first",
            json!({ "query": "{ markets(first: 1) { edges { node { positions(first: 1000) { edges { node { id } } } } } } }" }),
            "BAD_REQUEST",
        ),
        (
            "100 positions lists of 100",
            json!({ "query": "{ markets(first: 100) { edges { node { positions(first: 100) { edges { node { id } } } } } } }" }),
            "BAD_REQUEST",
        ),
        ("a huge search", json!({ "query": "{ search(q: \"rain\", first: 51) { score } }" }), "BAD_REQUEST"),
        (
            "an oversized search text",
            json!({ "query": format!("{{ search(q: \"{}\") {{ score }} }}", "r".repeat(501)) }),
            "BAD_REQUEST",
        ),
        ("an unknown field", json!({ "query": "{ markets { edges { node { secret } } } }" }), "BAD_REQUEST"),
        ("an unknown root field", json!({ "query": "{ users { id } }" }), "BAD_REQUEST"),
        (
            "a variable of the wrong type",
            json!({ "query": "query Q($first: Int) { markets(first: $first) { edges { node { id } } } }", "variables": { "first": "ten" } }),
            "BAD_REQUEST",
        ),
        (
            "a missing required variable",
            json!({ "query": "query Q($id: String!) { market(id: $id) { id } }" }),
            "BAD_REQUEST",
        ),
        (
            "an oversized document",
            json!({ "query": format!("# {}\n{{ __typename }}", "x".repeat(9000)) }),
            "BAD_REQUEST",
        ),
        ("a syntax error", json!({ "query": "{ markets { edges " }), "BAD_REQUEST"),
        (
            "an unknown operation name",
            json!({ "query": "query A { __typename }", "operationName": "B" }),
            "BAD_REQUEST",
        ),
        ("a subscription", json!({ "query": "subscription { markets { id } }" }), "BAD_REQUEST"),
        (
            "a repeated directive",
            json!({ "query": format!("{{ __typename {} }}", repeat(50, |_| "@skip(if: false)".into())) }),
            "BAD_REQUEST",
        ),
        (
            "a forged cursor",
            json!({ "query": "{ markets(after: \"Zm9yZ2Vk\") { edges { node { id } } } }" }),
            "INVALID_CURSOR",
        ),
        (
            "a market id that is no id",
            json!({ "query": format!("{{ market(id: \"{}\") {{ id }} }}", "x".repeat(2000)) }),
            "NOT_FOUND",
        ),
        (
            "a batch of six writes",
            Value::Array(
                (0..6).map(|_| json!({ "query": format!("mutation {{ deleteMarket(id: \"{id}\") }}") })).collect(),
            ),
            "BAD_REQUEST",
        ),
    ];
    assert!(cases.len() >= 20);
    let before = stack.get(&market.path).await;
    for (what, body, code) in cases {
        let reply = stack.post("/api/graphql").as_user(&moderator).json(body).await;
        assert_eq!(reply.status, StatusCode::OK, "{what}: {}", reply.text);
        assert_eq!(reply.body["data"]["deleteMarket"], Value::Null, "{what}");
        let errors = reply.body["errors"].as_array().unwrap_or_else(|| panic!("{what}: no errors in {}", reply.text));
        assert_eq!(errors[0]["extensions"]["code"], code, "{what}: {}", reply.text);
        // Refused before any resolver read anything: the rate limiter's call is the only one.
        let log = stack.request_log(reply.header("x-request-id").unwrap());
        assert_eq!(log["dynamodb_ops"], "UpdateItem", "{what}: {log}");
    }
    let after = stack.get(&market.path).await;
    assert_eq!(after.body, before.body, "the data is unchanged");
}

#[tokio::test]
async fn introspection_works_within_the_limits() {
    let stack = Stack::start();
    let type_ref = format!("kind name {}", "ofType { kind name ".repeat(7) + &"}".repeat(7));
    let query = format!(
        "query Introspection {{ __schema {{ queryType {{ name }} mutationType {{ name }} types {{ kind name description fields(includeDeprecated: true) {{ name description args {{ name description type {{ {type_ref} }} defaultValue }} type {{ {type_ref} }} isDeprecated deprecationReason }} inputFields {{ name type {{ {type_ref} }} defaultValue }} interfaces {{ {type_ref} }} enumValues(includeDeprecated: true) {{ name isDeprecated }} possibleTypes {{ {type_ref} }} }} directives {{ name locations args {{ name type {{ {type_ref} }} }} }} }} }}"
    );
    let reply = graphql(&stack, None, &query, json!({})).await;
    assert_eq!(codes(&reply), Vec::<&str>::new(), "{}", reply.text);
    let types = reply.body["data"]["__schema"]["types"].as_array().unwrap();
    assert!(types.iter().any(|t| t["name"] == "Market"), "{}", reply.text);
}

#[tokio::test]
async fn a_page_of_fifty_and_its_creators_costs_what_the_rest_list_costs() {
    let stack = Stack::start();
    let creators: Vec<User> = (0..50).map(|_| User::new(Role::User)).collect();
    let created: Vec<_> = futures::stream::iter(creators.iter().enumerate())
        .map(async |(i, creator)| stack.create_market(creator, &format!("Market {i}")).await)
        .buffer_unordered(10)
        .collect()
        .await;
    let rest = stack.get("/api/markets?limit=50").await;
    assert_eq!(rest.body["meta"]["count"], 50);
    let query = "{ markets(first: 50) { edges { node { creator { name } } } } }";
    let ours = graphql(&stack, None, query, json!({})).await;
    let names: std::collections::HashSet<&str> = ours.body["data"]["markets"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"]["creator"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 50, "every market shows its own creator: {}", ours.text);
    let shards = stack.write_shards;
    let (rest_log, our_log) = (
        stack.request_log(rest.header("x-request-id").unwrap()),
        stack.request_log(ours.header("x-request-id").unwrap()),
    );
    // The limiter's UpdateItem, one Query per shard of the list index, then the markets and their
    // creators in one batch: the same calls, whichever API asks.
    let expected = format!("UpdateItem,{}BatchGetItem", "Query,".repeat(shards));
    assert_eq!((&rest_log["dynamodb_ops"], &our_log["dynamodb_ops"]), (&json!(expected), &json!(expected)));

    // Nested positions: one existence read and one page per market, and still one batch of creators.
    for market in created.iter().take(3) {
        let take = json!({ "id": market.id, "input": { "outcome": "YES", "amount": "2" } });
        graphql(&stack, Some(&creators[0]), TAKE, take).await;
    }
    let nested = "{ markets(first: 5, sort: VOLUME) { edges { node { creator { name } positions(first: 2) { edges { node { amount } } pageInfo { hasNextPage } } } } } }";
    let reply = graphql(&stack, None, nested, json!({})).await;
    assert_eq!(codes(&reply), Vec::<&str>::new(), "{}", reply.text);
    let edges = reply.body["data"]["markets"]["edges"].as_array().unwrap();
    let positions: Vec<usize> =
        edges.iter().map(|edge| edge["node"]["positions"]["edges"].as_array().unwrap().len()).collect();
    assert_eq!(positions, [1, 1, 1, 0, 0], "{}", reply.text);
    let log = stack.request_log(reply.header("x-request-id").unwrap());
    let counts = [calls(&log, "UpdateItem"), calls(&log, "Query"), calls(&log, "GetItem"), calls(&log, "BatchGetItem")];
    assert_eq!(counts, [1, shards + 5, 5, 1], "{log}");
    assert_eq!(log["dynamodb_calls"], 1 + shards + 5 + 5 + 1);
}

#[tokio::test]
async fn search_finds_what_rest_search_finds_with_the_same_calls() {
    let stack = Stack::start();
    let alice = User::new(Role::User);
    let market = stack.create_market(&alice, "Will it rain in Paris tomorrow?").await;
    stack.create_market(&alice, "Will the Lakers win?").await;
    let query = "{ search(q: \"rain Paris\", first: 2) { score market { id creator { id } } } }";
    let mut last = None;
    let found = api_tests::eventually(std::time::Duration::from_secs(15), async || {
        let reply = graphql(&stack, None, query, json!({})).await;
        // Both markets indexed (the REST search below must see the same two), the rainy one first.
        let both = reply.body["data"]["search"].as_array().is_some_and(|hits| hits.len() == 2);
        let first = reply.body["data"]["search"][0]["market"]["id"] == market.id.as_str();
        last = Some(reply);
        both && first
    })
    .await;
    let reply = last.expect("searched at least once");
    assert!(found.is_some(), "both markets are indexed, this one found first: {}", reply.text);
    let hits = reply.body["data"]["search"].as_array().unwrap();
    assert_eq!(hits[0]["market"]["creator"]["id"], alice.id.as_str());
    assert!(hits[0]["score"].as_f64() >= hits.last().unwrap()["score"].as_f64(), "best first: {}", reply.text);
    let rest = stack.get("/api/markets/search?q=rain%20Paris&limit=2").await;
    let rest_ids: Vec<&Value> = rest.body["data"].as_array().unwrap().iter().map(|m| &m["id"]).collect();
    let our_ids: Vec<&Value> = hits.iter().map(|hit| &hit["market"]["id"]).collect();
    assert_eq!(our_ids, rest_ids);
    // The same calls as the REST search: one nearest-neighbour query, then the markets and their
    // creators in one batch read.
    let (ours, rest) = (
        stack.request_log(reply.header("x-request-id").unwrap()),
        stack.request_log(rest.header("x-request-id").unwrap()),
    );
    let ops = |log: &Value| (log["vector_ops"].clone(), log["dynamodb_ops"].clone());
    assert_eq!(ops(&ours), ops(&rest));
    assert_eq!(ops(&ours), (json!("QueryVectors"), json!("UpdateItem,BatchGetItem")));
}
