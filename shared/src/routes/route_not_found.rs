//! The fallback route (`ANY /{proxy+}`): the contract's 404 for unknown paths and 405 for a
//! known path with the wrong method, in the same JSON shape as every other error.

use lambda_http::Request;
use lambda_http::RequestExt as _;
use lambda_http::request::RequestContext;

use crate::error::ApiError;
use crate::http::ApiResponse;

/// Every route of template.yaml but the fallback itself (`routes::contract` keeps the two in step).
pub const ROUTES: [(&str, &str); 12] = [
    ("GET", "/api/health"),
    ("GET", "/api/openapi.yaml"),
    ("GET", "/api/docs"),
    ("GET", "/api/markets"),
    ("POST", "/api/markets"),
    ("GET", "/api/markets/search"),
    ("GET", "/api/markets/{id}"),
    ("PUT", "/api/markets/{id}"),
    ("PATCH", "/api/markets/{id}"),
    ("DELETE", "/api/markets/{id}"),
    ("POST", "/api/markets/{id}/positions"),
    ("GET", "/api/markets/{id}/positions"),
];

pub async fn route_not_found(request: Request) -> Result<ApiResponse, ApiError> {
    let path = path_without_stage(&request);
    let allowed: Vec<&str> =
        ROUTES.iter().filter(|(_, template)| matches(template, &path)).map(|(method, _)| *method).collect();
    if allowed.is_empty() {
        return Err(ApiError::NotFound(format!("no route for {} {path}", request.method())));
    }
    Err(ApiError::MethodNotAllowed { method: request.method().to_string(), path, allow: allowed.join(", ") })
}

/// The path as the routes know it: a named stage (`/prod/api/...`) stays in the raw path.
fn path_without_stage(request: &Request) -> String {
    let path = request.raw_http_path();
    let stage = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.stage.clone(),
        _ => None,
    };
    match stage.filter(|stage| stage != "$default") {
        Some(stage) => {
            path.strip_prefix(&format!("/{stage}")).filter(|rest| rest.starts_with('/')).unwrap_or(path).to_owned()
        }
        None => path.to_owned(),
    }
}

/// Whether `path` fits a route template whose `{name}` segments match any one segment.
fn matches(template: &str, path: &str) -> bool {
    let (template, path): (Vec<_>, Vec<_>) = (template.split('/').collect(), path.split('/').collect());
    template.len() == path.len()
        && template.iter().zip(&path).all(|(t, p)| (t.starts_with('{') && !p.is_empty()) || t == p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_one_segment_per_parameter() {
        assert!(matches("/api/markets/{id}", "/api/markets/01J"));
        assert!(!matches("/api/markets", "/api/markets/"), "API Gateway routes no trailing slash either");
        assert!(!matches("/api/markets/{id}", "/api/markets/01J/x"));
        assert!(!matches("/api/markets/{id}", "/api/markets/"));
    }
}
