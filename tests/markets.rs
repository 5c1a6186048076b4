//! Every market route's success path and the contract's errors for them, over HTTP.

use api_tests::{Stack, User, market_path};
use markets_core::domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn health_answers_without_a_token() {
    let stack = Stack::start();
    let reply = stack.get("/api/health").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, json!({"success": true, "data": {"status": "ok"}}));
    assert!(reply.header("x-request-id").is_some_and(|id| !id.is_empty()));
}

#[tokio::test]
async fn market_lifecycle_create_read_replace_patch_delete() {
    let stack = Stack::start();
    let alice = User::new(Role::User);

    let body = json!({"name": "  Will it rain in Paris tomorrow?  ", "endDate": "2030-01-01T12:00:00+01:00"});
    let created = stack.create_market_with(&alice, body).await;
    let (market, path) = (created.data(), created.path.as_str());
    assert_eq!(created.reply.header("location"), Some(path));
    assert_eq!(created.reply.header("etag"), Some("\"v1\""));
    assert_eq!(market["name"], "Will it rain in Paris tomorrow?");
    assert_eq!(market["description"], "");
    assert_eq!(market["status"], "active");
    assert_eq!(market["volume"], 0);
    assert_eq!(market["creatorId"], alice.id.as_str());
    assert_eq!(market["endDate"], "2030-01-01T11:00:00.000Z");
    assert_eq!(market["version"], 1);
    assert_eq!(market["createdAt"], market["updatedAt"]);

    let read = stack.get(path).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(&read.body["data"], market);
    assert_eq!(read.header("etag"), Some("\"v1\""));

    let not_modified = stack.get(path).if_none_match("\"v1\"").await;
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    assert!(not_modified.text.is_empty());

    let replaced = stack
        .put(path)
        .as_user(&alice)
        .json(json!({"name": "Rain in Paris?", "description": "Météo-France decides", "status": "closed"}))
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    assert_eq!(replaced.body["data"]["status"], "closed");
    assert_eq!(replaced.body["data"]["endDate"], serde_json::Value::Null);
    assert_eq!(replaced.body["data"]["version"], 2);
    assert_eq!(replaced.header("etag"), Some("\"v2\""));

    let patched = stack.patch(path).as_user(&alice).json(json!({"description": "by noon"})).await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["data"]["description"], "by noon");
    assert_eq!(patched.body["data"]["name"], "Rain in Paris?");
    assert_eq!(patched.body["data"]["version"], 3);

    let stale = stack.get(path).await;
    assert_eq!(stale.header("etag"), Some("\"v3\""));

    let moderator = User::new(Role::Moderator);
    let deleted = stack.delete(path).as_user(&moderator).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.text.is_empty());
    assert_eq!(stack.get(path).await.status, StatusCode::NOT_FOUND);
    let again = stack.delete(path).as_user(&moderator).await;
    assert_eq!((again.status, again.error_code()), (StatusCode::NOT_FOUND, "NOT_FOUND"));
}

#[tokio::test]
async fn list_filters_by_status() {
    let stack = Stack::start();
    let alice = User::new(Role::User);
    let open = stack.create_market(&alice, "open one").await;
    let closed = stack.create_market(&alice, "closed one").await;
    let reply = stack.patch(&closed.path).as_user(&alice).json(json!({"status": "closed"})).await;
    assert_eq!(reply.status, StatusCode::OK);

    let all = stack.get("/api/markets").await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(all.body["meta"], json!({"count": 2, "limit": 20, "nextCursor": null}));
    // Each list holds exactly its status's markets, every one of them with that status.
    for (query, expected, status) in
        [("status=active", &open, "active"), ("status=closed&order=asc", &closed, "closed")]
    {
        let list = stack.get(&format!("/api/markets?{query}")).await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.text);
        let ids: Vec<&Value> = list.body["data"].as_array().unwrap().iter().map(|m| &m["id"]).collect();
        assert_eq!(ids, [&expected.data()["id"]], "{query}: {}", list.text);
        assert_eq!(list.body["data"][0]["status"], status, "{query}");
        assert_eq!(list.body["meta"]["count"], 1, "{query}");
    }
}

#[tokio::test]
async fn bad_input_gets_the_contract_errors() {
    let stack = Stack::start();
    let alice = User::new(Role::User);

    let invalid =
        stack.post("/api/markets").as_user(&alice).json(json!({"name": "", "volume": 5, "status": "active"})).await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    assert_eq!(invalid.error_code(), "VALIDATION_FAILED");
    let mut fields: Vec<&str> =
        invalid.body["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
    fields.sort();
    assert_eq!(fields, ["name", "status", "volume"]);

    let broken = stack.post("/api/markets").as_user(&alice).json_text("{\"name\": ").await;
    assert_eq!((broken.status, broken.error_code()), (StatusCode::BAD_REQUEST, "INVALID_JSON"));

    let text = stack.post("/api/markets").as_user(&alice).header("content-type", "text/plain").body("name=x").await;
    assert_eq!((text.status, text.error_code()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE"));

    let huge = stack
        .post("/api/markets")
        .as_user(&alice)
        .json(json!({"name": "x", "description": "y".repeat(70 * 1024)}))
        .await;
    assert_eq!((huge.status, huge.error_code()), (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"));

    for query in [
        "status=open",
        "sort=price",
        "order=up",
        "limit=0",
        "limit=101",
        "offset=1001",
        "offset=1&cursor=x",
        "colour=red",
    ] {
        let reply = stack.get(&format!("/api/markets?{query}")).await;
        assert_eq!((reply.status, reply.error_code()), (StatusCode::BAD_REQUEST, "BAD_REQUEST"), "{query}");
    }
    let cursor = stack.get("/api/markets?cursor=eyJrIjoxfQ.AAAA").await;
    assert_eq!((cursor.status, cursor.error_code()), (StatusCode::BAD_REQUEST, "INVALID_CURSOR"));

    let far = stack
        .post("/api/markets")
        .as_user(&alice)
        .json(json!({"name": "x", "endDate": "9999-12-31T23:59:59-01:00"}))
        .await;
    assert_eq!((far.status, far.error_code()), (StatusCode::BAD_REQUEST, "VALIDATION_FAILED"));
    let long_id = stack.get(&market_path(&"x".repeat(3000))).await;
    assert_eq!((long_id.status, long_id.error_code()), (StatusCode::NOT_FOUND, "NOT_FOUND"));

    let missing = stack.get(&market_path("01ARZ3NDEKTSV4RRFFQ69G5FAV")).await;
    assert_eq!((missing.status, missing.error_code()), (StatusCode::NOT_FOUND, "NOT_FOUND"));
    let unknown = stack.get("/api/nothing-here").await;
    assert_eq!((unknown.status, unknown.error_code()), (StatusCode::NOT_FOUND, "NOT_FOUND"));
    let wrong_method = stack.delete("/api/markets").await;
    assert_eq!(
        (wrong_method.status, wrong_method.error_code()),
        (StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED")
    );
    assert_eq!(wrong_method.header("allow"), Some("GET, POST"));
}

#[tokio::test]
async fn permissions_and_status_rules_are_enforced() {
    let stack = Stack::start();
    let (alice, bob, admin) = (User::new(Role::User), User::new(Role::User), User::new(Role::Admin));
    let market = stack.create_market(&alice, "Will the Fed cut rates?").await;
    let path = market.path.as_str();

    let anonymous = stack.post("/api/markets").json(json!({"name": "x"})).await;
    assert_eq!((anonymous.status, anonymous.error_code()), (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"));

    let not_creator = stack.patch(path).as_user(&bob).json(json!({"name": "mine now"})).await;
    assert_eq!((not_creator.status, not_creator.error_code()), (StatusCode::FORBIDDEN, "FORBIDDEN"));
    let user_delete = stack.delete(path).as_user(&alice).await;
    assert_eq!((user_delete.status, user_delete.error_code()), (StatusCode::FORBIDDEN, "FORBIDDEN"));
    let user_resolves = stack.patch(path).as_user(&alice).json(json!({"status": "resolved"})).await;
    assert_eq!((user_resolves.status, user_resolves.error_code()), (StatusCode::FORBIDDEN, "FORBIDDEN"));

    let resolved = stack.patch(path).as_user(&admin).json(json!({"status": "resolved"})).await;
    assert_eq!(resolved.status, StatusCode::OK);
    let back = stack.patch(path).as_user(&admin).json(json!({"status": "active"})).await;
    assert_eq!((back.status, back.error_code()), (StatusCode::CONFLICT, "INVALID_TRANSITION"));

    let stale = stack.patch(path).as_user(&alice).if_match("\"v1\"").json(json!({"name": "late edit"})).await;
    assert_eq!((stale.status, stale.error_code()), (StatusCode::PRECONDITION_FAILED, "PRECONDITION_FAILED"));
    assert_eq!(stack.get(path).await.body["data"]["name"], "Will the Fed cut rates?");
}

#[tokio::test]
async fn concurrent_patches_with_one_if_match_let_exactly_one_win() {
    let stack = Stack::start();
    let alice = User::new(Role::User);
    let market = stack.create_market(&alice, "Race me").await;

    let patches = (0..8).map(|i| {
        stack.patch(&market.path).as_user(&alice).if_match("\"v1\"").json(json!({ "name": format!("edit {i}") })).send()
    });
    let mut statuses: Vec<StatusCode> =
        futures::future::join_all(patches).await.into_iter().map(|reply| reply.status).collect();
    statuses.sort();
    assert_eq!(statuses[0], StatusCode::OK);
    assert!(statuses[1..].iter().all(|status| *status == StatusCode::PRECONDITION_FAILED), "{statuses:?}");
    let after = stack.get(&market.path).await;
    assert_eq!(after.body["data"]["version"], 2);
}

#[tokio::test]
async fn if_match_star_matches_any_existing_market_and_tags_compare_as_exact_strings() {
    let stack = Stack::start();
    let (alice, moderator) = (User::new(Role::User), User::new(Role::Moderator));
    let market = stack.create_market(&alice, "Will a star match?").await;
    let path = market.path.as_str();

    let starred = stack.patch(path).as_user(&alice).if_match("*").json(json!({"description": "matched by *"})).await;
    assert_eq!((starred.status, &starred.body["data"]["version"]), (StatusCode::OK, &json!(2)), "{}", starred.text);
    for other in ["\"v1\"", "\"v02\"", "W/\"v2\""] {
        let refused = stack.patch(path).as_user(&alice).if_match(other).json(json!({"description": "no"})).await;
        assert_eq!(
            (refused.status, refused.error_code()),
            (StatusCode::PRECONDITION_FAILED, "PRECONDITION_FAILED"),
            "{other}"
        );
    }
    assert_eq!(
        stack.get(path).await.body["data"]["description"],
        "matched by *",
        "nothing written by the refused edits"
    );

    assert_eq!(stack.delete(path).as_user(&moderator).if_match("*").await.status, StatusCode::NO_CONTENT);
    // No market to match: the answer is what it would be without the condition (RFC 9110, 13.2.1).
    let gone = stack.patch(path).as_user(&alice).if_match("*").json(json!({"description": "late"})).await;
    assert_eq!((gone.status, gone.error_code()), (StatusCode::NOT_FOUND, "NOT_FOUND"), "{}", gone.text);
}

#[tokio::test]
async fn descriptions_keep_their_line_breaks_and_tabs() {
    let stack = Stack::start();
    let alice = User::new(Role::User);
    let description = "First line\nsecond line\r\n\tindented";
    let market =
        stack.create_market_with(&alice, json!({"name": "Will the lines stay?", "description": description})).await;
    assert_eq!(market.data()["description"], description);
    assert_eq!(stack.get(&market.path).await.body["data"]["description"], description);
}
