//! One module per route, each a handler named after its function (`get-market` → `get_market`).
//! Handlers ask for permissions and parse input with [`crate::http`]; the rules live in the services.

mod api_docs;
mod create_market;
mod create_position;
mod delete_market;
mod get_market;
mod health;
mod list_markets;
mod list_positions;
mod replace_market;
mod route_not_found;
mod search_markets;
mod table;
mod update_market;

pub use api_docs::{OPENAPI_YAML, api_docs};
pub use create_market::create_market;
pub use create_position::create_position;
pub use delete_market::delete_market;
pub use get_market::get_market;
pub use health::health;
pub use list_markets::{list_filter, list_markets};
pub use list_positions::list_positions;
pub use replace_market::replace_market;
pub use route_not_found::route_not_found;
pub use search_markets::search_markets;
pub use table::{ROUTES, Route, check_route, is_cors_preflight};
pub use update_market::update_market;

use lambda_http::http::StatusCode;

use crate::error::ApiError;
use crate::http::{ApiResponse, etag_for};
use markets_core::domain::{Market, UserProfile};
use markets_core::service::FirstResult;

/// A market in the envelope, with its `ETag`: the one place a market becomes JSON.
fn market_response(status: StatusCode, market: &Market, creator: Option<&UserProfile>) -> ApiResponse {
    ApiResponse::data(status, market.view(creator)).text_header("etag", &etag_for(market.version))
}

/// Where a market lives: its `Location`.
fn market_location(id: &str) -> String {
    format!("/api/markets/{id}")
}

/// The 201 a retried create gets: its first result again, with the `ETag` it had and the
/// `Location` (a market).
fn replayed(first: FirstResult) -> ApiResponse {
    let response = match first {
        FirstResult::Market { market, creator } => market_response(StatusCode::CREATED, &market, Some(&creator))
            .text_header("location", &market_location(&market.id)),
        FirstResult::Position(position) => ApiResponse::data(StatusCode::CREATED, position),
    };
    response.text_header("idempotent-replayed", "true")
}

/// The `limit` query parameter: 1..=100, default 20.
fn page_limit(request: &lambda_http::Request) -> Result<usize, ApiError> {
    crate::http::query_number(request, "limit", 1, 100).map(|limit| limit.unwrap_or(20))
}

#[cfg(test)]
pub(crate) mod contract;
#[cfg(test)]
mod tests;
