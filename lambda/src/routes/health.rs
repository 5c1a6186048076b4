//! GET /api/health: liveness, with no auth, no rate limit and no table.

use lambda_http::Request;
use serde_json::json;

use crate::error::ApiError;
use crate::http::ApiResponse;

pub async fn health(_request: Request) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::ok(json!({ "status": "ok" })))
}
