//! GET /api/markets/{id}: one market, with an ETag and 304 for a matching `If-None-Match`.

use lambda_http::Request;
use lambda_http::http::{HeaderValue, StatusCode};

use super::market_response;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::{ApiResponse, etag_for, if_none_match_hits, path_id};
use crate::runtime::AppState;

pub async fn get_market(state: &AppState, _caller: Caller, request: Request) -> Result<ApiResponse, ApiError> {
    let market = state.markets.get(&path_id(&request)?).await?;
    let etag = etag_for(market.version);
    if if_none_match_hits(&request, &etag) {
        let etag = HeaderValue::from_str(&etag).expect("ETags are ASCII");
        return Ok(ApiResponse::empty(StatusCode::NOT_MODIFIED).header("etag", etag));
    }
    Ok(market_response(StatusCode::OK, &market))
}
