//! The fallback route (`ANY /{proxy+}`): the contract's 404 for unknown paths and 405 for a
//! known path with the wrong method, in the same JSON shape as every other error.

use lambda_http::Request;

use super::table::{allowed_methods, method_not_allowed, path_without_stage, printable};
use crate::error::ApiError;
use crate::http::ApiResponse;

pub async fn route_not_found(request: Request) -> Result<ApiResponse, ApiError> {
    let path = path_without_stage(&request);
    if allowed_methods(&path).is_empty() {
        let (method, path) = (printable(request.method().as_str()), printable(&path));
        return Err(ApiError::NotFound(format!("no route for {method} {path}")));
    }
    Err(method_not_allowed(&request, path))
}
