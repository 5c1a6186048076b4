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
pub use list_markets::list_markets;
pub use list_positions::list_positions;
pub use replace_market::replace_market;
pub use route_not_found::route_not_found;
pub use search_markets::search_markets;
pub use table::{ROUTES, Route, check_route, is_cors_preflight};
pub use update_market::update_market;

use lambda_http::http::StatusCode;
use serde_json::value::RawValue;

use crate::domain::{Market, UserProfile};
use crate::error::ApiError;
use crate::http::{ApiResponse, etag_for};
use crate::service::StoredResponse;

/// A market in the envelope, with its `ETag`.
fn market_response(status: StatusCode, market: &Market, creator: Option<&UserProfile>) -> ApiResponse {
    ApiResponse::data(status, market.view(creator)).text_header("etag", &etag_for(market.version))
}

/// The first response to an idempotent request, sent again to its retry.
fn replayed(first: StoredResponse) -> Result<ApiResponse, ApiError> {
    let status = StatusCode::from_u16(first.status).map_err(ApiError::internal)?;
    // A replayed market carries the ETag its first response had (a position has no version).
    let version = serde_json::from_str::<serde_json::Value>(&first.data).ok().and_then(|data| data["version"].as_u64());
    let data = RawValue::from_string(first.data).map_err(ApiError::internal)?;
    let mut response = ApiResponse::data(status, data).text_header("idempotent-replayed", "true");
    if let Some(version) = version {
        response = response.text_header("etag", &etag_for(version));
    }
    if let Some(location) = first.location {
        response = response.text_header("location", &location);
    }
    Ok(response)
}

/// The `limit` query parameter: 1..=100, default 20.
fn page_limit(request: &lambda_http::Request) -> Result<usize, ApiError> {
    crate::http::query_number(request, "limit", 1, 100).map(|limit| limit.unwrap_or(20))
}

#[cfg(test)]
pub(crate) mod contract;
#[cfg(test)]
mod tests;
