//! POST /api/markets/{id}/positions: a position on an active market, moving its volume in the
//! same transaction; an `Idempotency-Key` makes a retry return the first response.

use lambda_http::Request;
use lambda_http::http::StatusCode;

use super::replayed;
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::{ApiResponse, idempotency_key, if_match, json_body, path_id};
use markets_core::domain::Permission;
use markets_core::domain::PositionInput;
use markets_core::service::{IdempotentRequest, PositionService, Written};

pub async fn create_position(
    state: &AppState<PositionService>,
    caller: Caller,
    request: Request,
) -> Result<ApiResponse, ApiError> {
    let user = caller.require(Permission::Write)?;
    let (market_id, precondition) = (path_id(&request)?, if_match(&request)?);
    let body = json_body(&request)?;
    let operation = format!("create-position:{market_id}");
    let idempotency =
        idempotency_key(&request)?.map(|key| IdempotentRequest::new(&user.user_id, &operation, &key, &body));
    let input = PositionInput::from_json(body)?;
    match state.service.take(user, &market_id, input, precondition, idempotency).await? {
        Written::New(position) => Ok(ApiResponse::data(StatusCode::CREATED, position)),
        Written::Replayed(first) => Ok(replayed(first)),
    }
}
