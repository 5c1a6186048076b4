//! The fallback route (`ANY /{proxy+}`): the contract's 404 for unknown paths and 405 for a
//! known path with the wrong method, in the same JSON shape as every other error. It runs behind
//! the rate limiter like the market routes, so probing unknown paths counts against the caller.

use lambda_http::Request;
use lambda_http::RequestExt as _;
use lambda_http::request::RequestContext;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::ApiResponse;
use crate::runtime::AppState;

/// Every route of template.yaml but the fallback itself (a unit test keeps the two in step).
pub const ROUTES: [(&str, &str); 10] = [
    ("GET", "/api/health"),
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

pub async fn route_not_found(_state: &AppState, _caller: Caller, request: Request) -> Result<ApiResponse, ApiError> {
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
    fn routes_match_template_yaml() {
        let template = include_str!("../../../template.yaml");
        let mut declared: Vec<(String, String)> = template
            .lines()
            .filter(|line| line.contains("Type: HttpApi"))
            .map(|line| {
                let field = |name: &str| {
                    let rest = &line[line.find(name).unwrap() + name.len()..];
                    match rest.strip_prefix('"') {
                        Some(quoted) => quoted.split('"').next().unwrap().to_owned(),
                        None => rest.split([',', ' ', '}']).next().unwrap().to_owned(),
                    }
                };
                (field("Method: "), field("Path: "))
            })
            .filter(|(_, path)| path != "/{proxy+}")
            .collect();
        let mut known: Vec<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
        declared.sort();
        known.sort();
        assert_eq!(declared, known);
    }

    #[test]
    fn templates_match_one_segment_per_parameter() {
        assert!(matches("/api/markets/{id}", "/api/markets/01J"));
        assert!(!matches("/api/markets", "/api/markets/"), "API Gateway routes no trailing slash either");
        assert!(!matches("/api/markets/{id}", "/api/markets/01J/x"));
        assert!(!matches("/api/markets/{id}", "/api/markets/"));
    }
}
