//! POST /api/markets: a new market by the caller (with their first position, if given), 201
//! with its `Location`; an `Idempotency-Key` makes a retry return the first response.

use lambda_http::Request;
use lambda_http::http::StatusCode;

use super::{market_location, market_response, replayed};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::{ApiResponse, idempotency_key, json_body};
use markets_core::domain::NewMarket;
use markets_core::domain::Permission;
use markets_core::service::{IdempotentRequest, MarketService, Written};

pub async fn create_market(
    state: &AppState<MarketService>,
    caller: Caller,
    request: Request,
) -> Result<ApiResponse, ApiError> {
    let author = caller.require(Permission::Write)?;
    let body = json_body(&request)?;
    let idempotency =
        idempotency_key(&request)?.map(|key| IdempotentRequest::new(&author.user_id, "create-market", &key, &body));
    let input = NewMarket::from_json(body)?;
    match state.service.create(author, input, idempotency).await? {
        Written::New((market, creator)) => Ok(market_response(StatusCode::CREATED, &market, Some(&creator))
            .text_header("location", &market_location(&market.id))),
        Written::Replayed(first) => Ok(replayed(first)),
    }
}
