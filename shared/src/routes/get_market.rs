//! GET /api/markets/{id}: one market, with an ETag and 304 for a matching `If-None-Match`.

use lambda_http::Request;
use lambda_http::http::StatusCode;

use super::market_response;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::{ApiResponse, etag_for, if_none_match_hits, path_id};
use crate::runtime::AppState;

pub async fn get_market(state: &AppState, _caller: Caller, request: Request) -> Result<ApiResponse, ApiError> {
    let cached = state.markets.get_with_creator(&path_id(&request)?).await?;
    let (market, creator) = cached.as_ref();
    // Clients and CDNs may reuse the answer as long as this instance's cache may.
    let cache_control = format!("max-age={}", state.cache_ttl.as_secs());
    let etag = etag_for(market.version);
    if if_none_match_hits(&request, &etag) {
        return Ok(ApiResponse::empty(StatusCode::NOT_MODIFIED)
            .text_header("etag", &etag)
            .text_header("cache-control", &cache_control));
    }
    Ok(market_response(StatusCode::OK, market, creator.as_ref()).text_header("cache-control", &cache_control))
}
