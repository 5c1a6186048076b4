//! One module per route, each a handler named after its function (`get-market` → `get_market`).
//! Handlers ask for permissions and parse input with [`crate::http`]; the rules live in the services.

mod create_market;
mod delete_market;
mod get_market;
mod health;
mod list_markets;
mod replace_market;
mod route_not_found;
mod update_market;

pub use create_market::create_market;
pub use delete_market::delete_market;
pub use get_market::get_market;
pub use health::health;
pub use list_markets::list_markets;
pub use replace_market::replace_market;
pub use route_not_found::{ROUTES, route_not_found};
pub use update_market::update_market;

use lambda_http::http::{HeaderValue, StatusCode};

use crate::domain::Market;
use crate::http::{ApiResponse, etag_for};

/// A market in the envelope, with its `ETag`.
fn market_response(status: StatusCode, market: &Market) -> ApiResponse {
    let etag = HeaderValue::from_str(&etag_for(market.version)).expect("ETags are ASCII");
    ApiResponse::data(status, market.view(None)).header("etag", etag)
}

#[cfg(test)]
mod tests;
