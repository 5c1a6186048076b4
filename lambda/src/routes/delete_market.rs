//! DELETE /api/markets/{id}: 204, for moderators and admins.

use lambda_http::Request;
use lambda_http::http::StatusCode;

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::{ApiResponse, if_match, path_id};
use markets_core::domain::Permission;
use markets_core::service::MarketService;

pub async fn delete_market(
    state: &AppState<MarketService>,
    caller: Caller,
    request: Request,
) -> Result<ApiResponse, ApiError> {
    let deleter = caller.require(Permission::Delete)?;
    state.service.delete(deleter, &path_id(&request)?, if_match(&request)?).await?;
    Ok(ApiResponse::empty(StatusCode::NO_CONTENT))
}
