//! POST /api/markets: a new market by the caller, 201 with its `Location`.

use lambda_http::Request;
use lambda_http::http::{HeaderValue, StatusCode};

use super::market_response;
use crate::auth::{Caller, Permission};
use crate::domain::NewMarket;
use crate::error::ApiError;
use crate::http::{ApiResponse, json_body};
use crate::runtime::AppState;

pub async fn create_market(state: &AppState, caller: Caller, request: Request) -> Result<ApiResponse, ApiError> {
    let author = caller.require(Permission::Write)?;
    let input = NewMarket::from_json(json_body(&request)?)?;
    let market = state.markets.create(author, input).await?;
    let location = HeaderValue::from_str(&format!("/api/markets/{}", market.id)).expect("ids are URL-safe");
    Ok(market_response(StatusCode::CREATED, &market).header("location", location))
}
