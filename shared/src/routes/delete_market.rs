//! DELETE /api/markets/{id}: 204, for moderators and admins.

use lambda_http::Request;
use lambda_http::http::StatusCode;

use crate::auth::Caller;
use crate::domain::Permission;
use crate::error::ApiError;
use crate::http::{ApiResponse, if_match, path_id};
use crate::runtime::AppState;

pub async fn delete_market(state: &AppState, caller: Caller, request: Request) -> Result<ApiResponse, ApiError> {
    let deleter = caller.require(Permission::Delete)?;
    state.markets.delete(deleter, &path_id(&request)?, if_match(&request)?).await?;
    Ok(ApiResponse::empty(StatusCode::NO_CONTENT))
}
