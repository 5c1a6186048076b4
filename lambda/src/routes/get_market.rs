//! GET /api/markets/{id}: one market, with an ETag and 304 for a matching `If-None-Match`.

use super::market_response;
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::{ApiResponse, etag_for, if_none_match_hits, path_id};
use lambda_http::Request;
use lambda_http::http::StatusCode;
use markets_core::service::MarketReads;

/// Clients may store the answer but must revalidate it (a 304 is cheap): a write can come at any
/// moment, and the contract allows no stale window.
const CACHE_CONTROL: &str = "no-cache";

pub async fn get_market(
    state: &AppState<MarketReads>,
    _caller: Caller,
    request: Request,
) -> Result<ApiResponse, ApiError> {
    let read = state.service.get_through_cache(&path_id(&request)?).await?;
    let etag = etag_for(read.version());
    if if_none_match_hits(&request, &etag) {
        return Ok(ApiResponse::empty(StatusCode::NOT_MODIFIED)
            .text_header("etag", &etag)
            .text_header("cache-control", CACHE_CONTROL));
    }
    Ok(market_response(StatusCode::OK, &read.market, read.creator.as_ref()).text_header("cache-control", CACHE_CONTROL))
}
