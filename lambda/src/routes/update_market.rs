//! PATCH /api/markets/{id}: a JSON merge patch of the editable fields.

use lambda_http::Request;
use lambda_http::http::StatusCode;

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::{ApiResponse, if_match, json_body, path_id};
use markets_core::domain::MarketPatch;
use markets_core::domain::Permission;
use markets_core::service::MarketService;

use super::market_response;

pub async fn update_market(
    state: &AppState<MarketService>,
    caller: Caller,
    request: Request,
) -> Result<ApiResponse, ApiError> {
    let editor = caller.require(Permission::Write)?;
    let (id, precondition) = (path_id(&request)?, if_match(&request)?);
    let patch = MarketPatch::from_json(json_body(&request)?)?;
    let (market, creator) = state.service.patch(editor, &id, patch, precondition).await?;
    Ok(market_response(StatusCode::OK, &market, creator.as_ref()))
}
