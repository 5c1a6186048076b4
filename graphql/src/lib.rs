//! `POST /api/graphql`: one GraphQL schema over the services the REST routes use, so that every
//! rule (validation, permissions, transitions, idempotency, preconditions, read-your-writes) is
//! kept by the same service call. The request pipeline (request id, bearer token, rate limit, error
//! mapping, the log line with its DynamoDB calls) is `markets_lambda::runtime`'s, as for any route.
//!
//! A crate of its own so that only the `graphql` function links async-graphql.

mod errors;
mod limits;
mod loader;
mod nodes;
mod schema;

use std::sync::Arc;

use lambda_http::Request;
use lambda_http::http::StatusCode;

use markets_core::error::BoxError;
use markets_core::json::Json;
use markets_lambda::ApiError;
use markets_lambda::app::AppState;
use markets_lambda::auth::Caller;
use markets_lambda::http::{ApiResponse, json_document};
use markets_lambda::wiring::Wiring;

pub use limits::{MAX_DOCUMENT_BYTES, MAX_OPERATIONS};
pub use schema::{ApiSchema, Services};

/// What the function keeps from its cold start: the schema and the services it calls.
pub struct GraphqlApi {
    schema: ApiSchema,
    services: Services,
}

/// Builds the function's services: the REST routes' market, position and search services.
pub async fn build(wiring: &Wiring) -> Result<GraphqlApi, BoxError> {
    let (markets, positions, search) =
        tokio::try_join!(wiring.market_service(), wiring.position_service(), wiring.search_service())?;
    Ok(GraphqlApi { schema: schema::schema(), services: Services { markets, positions, search } })
}

/// The schema in SDL, as `schema.graphql` keeps it.
pub fn sdl() -> String {
    schema::schema().sdl()
}

/// `POST /api/graphql`: one operation, or a batch of up to [`MAX_OPERATIONS`] run in order; 200
/// with GraphQL's `{data, errors}` (for a batch, an array of them). The body's size, media type and
/// JSON are checked as every route checks them (413, 415, 400).
pub async fn graphql(
    state: &'static AppState<GraphqlApi>,
    caller: Caller,
    request: Request,
) -> Result<ApiResponse, ApiError> {
    let (operations, batch) = match json_document(&request)? {
        Json::Array(items) if items.len() > MAX_OPERATIONS => {
            let refusal = errors::document_refused(format!("a batch holds at most {MAX_OPERATIONS} operations"));
            return Ok(ApiResponse::json(StatusCode::OK, &refusal));
        }
        Json::Array(items) if !items.is_empty() => {
            (items.into_iter().map(operation).collect::<Result<Vec<_>, _>>()?, true)
        }
        single => (vec![operation(single)?], false),
    };
    let api = &state.service;
    let cursors = state.cursors()?;
    let (creators, tasks) = loader::creator_loader(api.services.markets.reads());
    let creators = Arc::new(creators);
    let run = async {
        let mut responses = Vec::with_capacity(operations.len());
        for operation in operations {
            let data = schema::RequestData::new(&api.services, cursors, caller.clone(), creators.clone());
            // On the heap: the executor's future is large (tens of KiB in a debug build), and the
            // function runs on the main thread's stack.
            let mut response = Box::pin(api.schema.execute(operation.data(data))).await;
            errors::with_codes(&mut response.errors);
            responses.push(response);
        }
        responses
    };
    let responses = loader::within_request(run, tasks).await;
    Ok(match batch {
        true => ApiResponse::json(StatusCode::OK, &responses),
        false => ApiResponse::json(StatusCode::OK, &responses[0]),
    })
}

/// One GraphQL request object (`query`, `operationName`, `variables`, `extensions`).
fn operation(body: Json) -> Result<async_graphql::Request, ApiError> {
    let refused = || ApiError::validation("body", "must be a GraphQL request: {query, operationName?, variables?}");
    serde_json::from_value(serde_value(body).ok_or_else(refused)?).map_err(|_| refused())
}

/// A strict JSON value as serde's, `None` for a number no float can hold.
fn serde_value(json: Json) -> Option<serde_json::Value> {
    use serde_json::Value;
    Some(match json {
        Json::Null => Value::Null,
        Json::Bool(flag) => Value::Bool(flag),
        Json::Number(literal) => Value::Number(literal.parse().ok()?),
        Json::String(text) => Value::String(text),
        Json::Array(items) => Value::Array(items.into_iter().map(serde_value).collect::<Option<_>>()?),
        Json::Object(members) => {
            Value::Object(members.into_iter().map(|(k, v)| Some((k, serde_value(v)?))).collect::<Option<_>>()?)
        }
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use markets_core::domain::{Position, UserProfile};
    use markets_core::repo::{IdempotencyRecord, Page, PageToken, PositionRepository, RepoError};
    use markets_core::service::Dependencies;
    use markets_lambda::auth::Authenticator;
    use markets_lambda::config::{ClaimRules, LOCAL_DEV_JWT_SECRET};
    use markets_lambda::http::CursorCodec;

    /// The handler over in-memory services, as one function instance keeps it.
    fn api() -> &'static AppState<GraphqlApi> {
        api_over(Dependencies::in_memory())
    }

    fn api_over(dependencies: Dependencies) -> &'static AppState<GraphqlApi> {
        let services = Services {
            markets: dependencies.market_service(),
            positions: dependencies.position_service(),
            search: dependencies.search_service(),
        };
        let cursors = Some(CursorCodec::new(b"graphql-tests-cursor-key-0123456789abcdef"));
        Box::leak(Box::new(AppState::new(GraphqlApi { schema: schema::schema(), services }, cursors)))
    }

    /// The sample event (events/graphql.json) with `body` instead of its own.
    async fn call(api: &'static AppState<GraphqlApi>, body: Option<Value>) -> (u16, Value) {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../events/graphql.json");
        let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        if let Some(body) = body {
            event["body"] = body.to_string().into();
        }
        let request = lambda_http::request::from_str(&event.to_string()).expect("an API Gateway v2 event");
        let auth = Authenticator::with_secret(LOCAL_DEV_JWT_SECRET.as_bytes(), &ClaimRules::default());
        let caller = auth.authenticate(request.headers()).await.unwrap();
        let response = graphql(api, caller, request).await.unwrap_or_else(|error| ApiResponse::error(&error, "test"));
        (response.status().as_u16(), response.body_json())
    }

    #[tokio::test]
    async fn the_sample_event_lists_what_a_mutation_created() {
        let api = api();
        let create = json!({"query": "mutation { createMarket(input: {name: \"Rain\", initialPosition: {outcome: YES, amount: \"2.50\"}}) { id volume creator { name } } }"});
        let (status, created) = call(api, Some(create)).await;
        assert_eq!(status, 200, "{created}");
        assert_eq!(created["data"]["createMarket"]["volume"], "2.5", "{created}");
        assert_eq!(created["data"]["createMarket"]["creator"]["name"], "Alice", "{created}");
        let (status, page) = call(api, None).await;
        assert_eq!(status, 200, "{page}");
        let node = &page["data"]["markets"]["edges"][0]["node"];
        assert_eq!((&node["id"], &node["creator"]["name"]), (&created["data"]["createMarket"]["id"], &json!("Alice")));
    }

    #[tokio::test]
    async fn a_refusal_carries_the_rest_code_and_field_errors() {
        let (status, body) =
            call(api(), Some(json!({"query": "mutation { createMarket(input: {name: \"  \"}) { id } }"}))).await;
        assert_eq!(status, 200, "{body}");
        let extensions = &body["errors"][0]["extensions"];
        assert_eq!(extensions["code"], "VALIDATION_FAILED", "{body}");
        assert_eq!(extensions["details"][0]["field"], "name", "{body}");
        let (_, body) = call(api(), Some(json!({"query": "{ market(id: \"nope\") { id } }"}))).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "{body}");
        let (_, body) = call(api(), Some(json!({"query": "{ nope }"}))).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_REQUEST", "{body}");
    }

    /// Positions whose lists take a while, counting how many are read at once.
    struct SlowPositions {
        inner: Arc<dyn PositionRepository>,
        reading: AtomicUsize,
        most: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl PositionRepository for SlowPositions {
        async fn add(
            &self,
            position: &Position,
            trader: &UserProfile,
            expected_version: Option<u64>,
            record: Option<&IdempotencyRecord>,
        ) -> Result<(), RepoError> {
            self.inner.add(position, trader, expected_version, record).await
        }

        async fn list(
            &self,
            market_id: &str,
            start: Option<&PageToken>,
            limit: usize,
        ) -> Result<Page<Position>, RepoError> {
            let reading = self.reading.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(reading, Ordering::SeqCst);
            // Long enough for every other list of the response to start, were it allowed to.
            for _ in 0..20 {
                tokio::task::yield_now().await;
            }
            self.reading.fetch_sub(1, Ordering::SeqCst);
            self.inner.list(market_id, start, limit).await
        }

        async fn remove_some(&self, market_id: &str, limit: usize) -> Result<bool, RepoError> {
            self.inner.remove_some(market_id, limit).await
        }
    }

    #[tokio::test]
    async fn a_response_reads_a_few_positions_lists_at_a_time() {
        let mut dependencies = Dependencies::in_memory();
        let slow = Arc::new(SlowPositions { inner: dependencies.positions.clone(), reading: 0.into(), most: 0.into() });
        dependencies.positions = slow.clone();
        let api = api_over(dependencies);
        for i in 0..12 {
            let create =
                json!({"query": format!("mutation {{ createMarket(input: {{name: \"Market {i}\"}}) {{ id }} }}")});
            assert_eq!(call(api, Some(create)).await.0, 200);
        }
        let nested = json!({"query": "{ markets(first: 12) { edges { node { positions(first: 5) { edges { node { id } } } } } } }"});
        let (status, body) = call(api, Some(nested)).await;
        assert_eq!((status, body["errors"].clone()), (200, Value::Null), "{body}");
        assert_eq!(body["data"]["markets"]["edges"].as_array().unwrap().len(), 12);
        assert_eq!(slow.most.load(Ordering::SeqCst), limits::CONCURRENT_POSITION_LISTS, "lists read at once");
    }
}
