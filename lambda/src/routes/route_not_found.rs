//! The fallback route (`ANY /{proxy+}`): the contract's 404 for unknown paths and 405 for a
//! known path with the wrong method, in the same JSON shape as every other error. It runs behind
//! the rate limiter like the market routes, so probing unknown paths counts against the caller.

use lambda_http::Request;
use lambda_http::http::StatusCode;

use super::table::{allowed_methods, is_cors_preflight, method_not_allowed, path_without_stage};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::ApiResponse;
use markets_core::error::printable;

pub async fn route_not_found(
    _state: &AppState<()>,
    _caller: Caller,
    request: Request,
) -> Result<ApiResponse, ApiError> {
    if is_cors_preflight(&request) {
        // API Gateway forwards OPTIONS to an ANY route; answered 204, it adds the HttpApi's
        // CorsConfiguration headers, as it does when it answers a preflight itself.
        return Ok(ApiResponse::empty(StatusCode::NO_CONTENT));
    }
    let path = path_without_stage(&request);
    if allowed_methods(&path).is_empty() {
        let (method, path) = (printable(request.method().as_str()), printable(&path));
        return Err(ApiError::NotFound(format!("no route for {method} {path}")));
    }
    Err(method_not_allowed(&request, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample fallback event as an OPTIONS request to `path` with `headers`.
    fn options(path: &str, headers: serde_json::Value) -> Request {
        let mut event: serde_json::Value =
            serde_json::from_str(include_str!("../../../events/route-not-found.json")).unwrap();
        event["rawPath"] = path.into();
        event["requestContext"]["http"]["method"] = "OPTIONS".into();
        event["headers"] = headers;
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    #[tokio::test]
    async fn a_cors_preflight_is_a_204_and_a_plain_options_a_405() {
        let preflight = options(
            "/api/markets",
            serde_json::json!({"origin": "https://app.example", "access-control-request-method": "POST"}),
        );
        let state = AppState::new((), None);
        let not_found = |request| route_not_found(&state, Caller::anonymous(), request);
        assert_eq!(not_found(preflight).await.unwrap().status(), StatusCode::NO_CONTENT);
        let plain =
            not_found(options("/api/markets", serde_json::json!({"origin": "https://app.example"}))).await.unwrap_err();
        assert!(matches!(plain, ApiError::MethodNotAllowed { ref allow, .. } if allow == "GET, POST"), "{plain:?}");
    }
}
