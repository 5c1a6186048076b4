//! Handler tests: the sample events in events/ (what API Gateway sends) through the handlers,
//! over in-memory dependencies, with no network.

use lambda_http::Request;
use lambda_http::http::StatusCode;
use serde_json::Value;

use super::*;
use crate::app::AppState;
use crate::auth::Authenticator;
use crate::config::{ClaimRules, LOCAL_DEV_JWT_SECRET};
use crate::http::CursorCodec;
use markets_core::service::{Dependencies, MarketReads, MarketService, PositionService, SearchService};

/// Each route function's state, all over one in-memory store (as the deployed functions share
/// their tables).
struct Api {
    reads: AppState<MarketReads>,
    writes: AppState<MarketService>,
    positions: AppState<PositionService>,
    search: AppState<SearchService>,
    fallback: AppState<()>,
}

fn api() -> Api {
    let dependencies = Dependencies::in_memory();
    let cursors = || Some(CursorCodec::new(b"handler-tests-cursor-key-0123456789abcdef"));
    Api {
        reads: AppState::new(dependencies.market_reads(), cursors()),
        writes: AppState::new(dependencies.market_service(), None),
        positions: AppState::new(dependencies.position_service(), cursors()),
        search: AppState::new(dependencies.search_service(), None),
        fallback: AppState::new((), None),
    }
}

fn event(name: &str) -> Value {
    let path = format!("{}/../events/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn request(event: &Value) -> Request {
    lambda_http::request::from_str(&event.to_string()).expect("an API Gateway v2 event")
}

async fn call<'a, S, F, Fut>(state: &'a AppState<S>, handler: F, event: &Value) -> crate::http::ApiResponse
where
    F: Fn(&'a AppState<S>, crate::auth::Caller, Request) -> Fut,
    Fut: Future<Output = Result<crate::http::ApiResponse, crate::error::ApiError>>,
{
    let request = request(event);
    let auth = Authenticator::with_secret(LOCAL_DEV_JWT_SECRET.as_bytes(), &ClaimRules::default());
    let caller = auth.authenticate(request.headers()).await.unwrap();
    handler(state, caller, request).await.unwrap_or_else(|error| crate::http::ApiResponse::error(&error, "test"))
}

/// Points an event at a market id.
fn with_id(mut event: Value, id: &str) -> Value {
    event["pathParameters"]["id"] = id.into();
    event["rawPath"] = format!("/api/markets/{id}").into();
    event
}

#[tokio::test]
async fn sample_events_drive_every_market_route() {
    let api = api();
    let created = call(&api.writes, create_market, &event("create-market")).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.body_json()["data"]["id"].as_str().unwrap().to_owned();

    assert_eq!(created.body_json()["data"]["volume"], 10);
    assert_eq!(created.body_json()["data"]["creator"]["name"], "Alice");
    let replay = call(&api.writes, create_market, &event("create-market")).await;
    assert_eq!(
        (replay.header_value("etag"), replay.header_value("idempotent-replayed")),
        (Some("\"v1\""), Some("true"))
    );
    assert_eq!(replay.header_value("location"), Some(format!("/api/markets/{id}").as_str()));
    assert_eq!((replay.status(), replay.body_json()["data"]["id"].as_str()), (StatusCode::CREATED, Some(id.as_str())));
    let listed = call(&api.reads, list_markets, &event("list-markets")).await;
    assert_eq!(listed.body_json()["data"][0]["id"], id.as_str());

    assert_eq!(call(&api.reads, get_market, &with_id(event("get-market"), &id)).await.status(), StatusCode::OK);
    assert_eq!(
        call(&api.writes, replace_market, &with_id(event("replace-market"), &id)).await.status(),
        StatusCode::OK
    );
    let position = call(&api.positions, create_position, &with_id(event("create-position"), &id)).await;
    assert_eq!((position.status(), &position.body_json()["data"]["amount"]), (StatusCode::CREATED, &Value::from(25.5)));
    let positions = call(&api.positions, list_positions, &with_id(event("list-positions"), &id)).await;
    assert_eq!(positions.body_json()["meta"]["count"], 2);
    let updated = call(&api.writes, update_market, &with_id(event("update-market"), &id)).await;
    assert_eq!(updated.body_json()["data"]["status"], "closed");
    assert_eq!(
        call(&api.writes, delete_market, &with_id(event("delete-market"), &id)).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(call(&api.reads, get_market, &with_id(event("get-market"), &id)).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_named_stage_in_the_path_does_not_change_routing() {
    let api = api();
    let created = call(&api.writes, create_market, &event("create-market")).await;
    let id = created.body_json()["data"]["id"].as_str().unwrap().to_owned();
    let mut staged = with_id(event("get-market"), &id);
    staged["rawPath"] = format!("/prod/api/markets/{id}").into();
    staged["requestContext"]["stage"] = "prod".into();
    let reply = call(&api.reads, get_market, &staged).await;
    assert_eq!(reply.status(), StatusCode::OK);

    let mut wrong_method = event("route-not-found");
    wrong_method["rawPath"] = "/prod/api/markets".into();
    wrong_method["requestContext"]["stage"] = "prod".into();
    wrong_method["requestContext"]["http"]["method"] = "DELETE".into();
    let reply = call(&api.fallback, route_not_found, &wrong_method).await;
    assert_eq!(reply.status(), StatusCode::METHOD_NOT_ALLOWED);
    let reply = call(&api.fallback, route_not_found, &event("route-not-found")).await;
    assert_eq!(reply.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_sample_search_event_is_a_valid_search() {
    let reply = call(&api().search, search_markets, &event("search-markets")).await;
    assert_eq!((reply.status(), &reply.body_json()["meta"]["count"]), (StatusCode::OK, &Value::from(0)));
}

#[tokio::test]
async fn health_needs_nothing() {
    let reply = health(request(&event("health"))).await.unwrap();
    assert_eq!(reply.body_json()["data"]["status"], "ok");
}

#[tokio::test]
async fn a_cached_market_is_served_from_the_cache_and_shows_every_write() {
    let api = api();
    let created = call(&api.writes, create_market, &event("create-market")).await;
    let id = created.body_json()["data"]["id"].as_str().unwrap().to_owned();

    let (first, facts) =
        markets_core::observability::record_facts(call(&api.reads, get_market, &with_id(event("get-market"), &id)))
            .await;
    assert_eq!((first.status(), facts.cache_hit), (StatusCode::OK, Some(false)));
    assert_eq!(first.header_value("cache-control"), Some("no-cache"));
    let (second, facts) =
        markets_core::observability::record_facts(call(&api.reads, get_market, &with_id(event("get-market"), &id)))
            .await;
    assert_eq!((second.body_json(), facts.cache_hit), (first.body_json(), Some(true)));
    let mut revalidate = with_id(event("get-market"), &id);
    revalidate["headers"]["if-none-match"] = "\"v1\"".into();
    let (not_modified, facts) =
        markets_core::observability::record_facts(call(&api.reads, get_market, &revalidate)).await;
    assert_eq!((not_modified.status(), facts.cache_hit), (StatusCode::NOT_MODIFIED, Some(true)));

    let mut rename = with_id(event("update-market"), &id);
    rename["body"] = r#"{"name": "Renamed"}"#.into();
    assert_eq!(call(&api.writes, update_market, &rename).await.status(), StatusCode::OK);
    let (after, facts) =
        markets_core::observability::record_facts(call(&api.reads, get_market, &with_id(event("get-market"), &id)))
            .await;
    // The PATCH updated the shared entry after its commit: the next read is a hit, and current.
    assert_eq!((after.body_json()["data"]["name"].as_str(), facts.cache_hit), (Some("Renamed"), Some(true)));
    assert_eq!(after.header_value("etag"), Some("\"v2\""));
}

#[tokio::test]
async fn the_docs_function_serves_the_spec_and_a_page_that_needs_nothing_else() {
    let spec = api_docs(request(&event("api-docs-openapi"))).await.unwrap();
    assert_eq!((spec.status(), spec.body_text()), (StatusCode::OK, Some(OPENAPI_YAML)));
    let spec = spec.into_lambda_response();
    assert_eq!(spec.headers()["content-type"], "application/yaml");

    let page = api_docs(request(&event("api-docs"))).await.unwrap();
    let html = page.body_text().unwrap().to_owned();
    assert_eq!(page.into_lambda_response().headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(html, [api_docs::PAGE_HEAD, api_docs::REDOC_JS, api_docs::PAGE_TAIL].concat());
    // Nothing from elsewhere: the page's own markup names no resource (no script, stylesheet,
    // font or image by URL), and the inlined bundle neither ends its script early nor points at a
    // source map.
    let markup = [api_docs::PAGE_HEAD, api_docs::PAGE_TAIL].concat();
    assert!(markup.contains(r#"Redoc.init("openapi.yaml""#));
    for reference in ["src=", "href=", "url(", "@import"] {
        assert!(!markup.contains(reference), "the page refers to a resource: {reference}");
    }
    assert!(!api_docs::REDOC_JS.contains("</script") && !api_docs::REDOC_JS.contains("sourceMappingURL=redoc"));

    let mut with_query = event("api-docs");
    with_query["rawQueryString"] = "theme=dark".into();
    with_query["queryStringParameters"] = serde_json::json!({ "theme": "dark" });
    let refused = check_route(&request(&with_query)).unwrap_err();
    assert_eq!(refused.status_and_code(), (StatusCode::BAD_REQUEST, "BAD_REQUEST"));
}

/// A cursor this API signed whose page token the store cannot read (a format of another release,
/// say) is the client's stale cursor, never a server error: the token is the adapter's to read.
#[tokio::test]
async fn a_signed_cursor_whose_token_the_store_cannot_read_is_a_400() {
    let api = api();
    let codec = CursorCodec::new(b"handler-tests-cursor-key-0123456789abcdef");
    let unreadable = markets_core::repo::PageToken(vec![0xff, 0x00]);
    let with_cursor = |mut event: Value, scope: &str| {
        let cursor = codec.encode(scope, &unreadable);
        event["queryStringParameters"]["cursor"] = cursor.clone().into();
        event["rawQueryString"] = format!("{}&cursor={cursor}", event["rawQueryString"].as_str().unwrap_or("")).into();
        event
    };
    let markets =
        call(&api.reads, list_markets, &with_cursor(event("list-markets"), "markets:active:volume:desc")).await;
    let created = call(&api.writes, create_market, &event("create-market")).await;
    let id = created.body_json()["data"]["id"].as_str().unwrap().to_owned();
    let positions = with_cursor(with_id(event("list-positions"), &id), &format!("positions:{id}"));
    let positions = call(&api.positions, list_positions, &positions).await;
    for listed in [markets, positions] {
        assert_eq!(
            (listed.status(), listed.body_json()["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("INVALID_CURSOR"))
        );
    }
}
