//! The API's routes as template.yaml declares them, with the query parameters each takes, and the
//! checks HTTP API routing leaves to the functions: a known path with the wrong method (405), and
//! query parameters a route does not know or that come twice (400).

use lambda_http::Request;
use lambda_http::RequestExt as _;
use lambda_http::request::RequestContext;

use crate::error::ApiError;
use markets_core::error::printable;

/// One route of template.yaml.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    /// The path template, with `{name}` for a one-segment parameter.
    pub path: &'static str,
    /// The query parameters the route reads; any other is a 400.
    pub query: &'static [&'static str],
}

const fn route(method: &'static str, path: &'static str, query: &'static [&'static str]) -> Route {
    Route { method, path, query }
}

/// Every route of template.yaml but the fallback itself (`routes::contract` keeps this table,
/// template.yaml and openapi.yaml in step).
pub const ROUTES: [Route; 13] = [
    route("GET", "/api/health", &[]),
    route("GET", "/api/openapi.yaml", &[]),
    route("GET", "/api/docs", &[]),
    route("GET", "/api/markets", &super::list_markets::LIST_MARKETS_QUERY),
    route("POST", "/api/markets", &[]),
    route("GET", "/api/markets/search", &["q", "limit"]),
    route("GET", "/api/markets/{id}", &[]),
    route("PUT", "/api/markets/{id}", &[]),
    route("PATCH", "/api/markets/{id}", &[]),
    route("DELETE", "/api/markets/{id}", &[]),
    route("POST", "/api/markets/{id}/positions", &[]),
    route("GET", "/api/markets/{id}/positions", &["limit", "cursor"]),
    route("POST", "/api/graphql", &[]),
];

/// The routes whose template fits `path`, the way HTTP APIs choose: literal segments beat
/// `{params}`, so `/api/markets/search` is the search route's path only, whatever the method.
pub fn routes_for(path: &str) -> Vec<&'static Route> {
    let fitting: Vec<&Route> = ROUTES.iter().filter(|route| matches(route.path, path)).collect();
    let literal_segments = |route: &Route| route.path.split('/').filter(|s| !s.starts_with('{')).count();
    let most_specific = fitting.iter().map(|route| literal_segments(route)).max().unwrap_or(0);
    fitting.into_iter().filter(|route| literal_segments(route) == most_specific).collect()
}

/// The methods a path allows, each once, for an `Allow` header; empty for an unknown path.
pub fn allowed_methods(path: &str) -> Vec<&'static str> {
    let mut methods: Vec<&str> = routes_for(path).iter().map(|route| route.method).collect();
    methods.dedup();
    methods
}

/// What API Gateway's routing does not check for us, done before authentication: a method the
/// path does not allow (`DELETE /api/markets/search` reaches `DELETE /api/markets/{id}` with
/// `id=search`) is a 405, and a query parameter the route does not take, or one given twice, a 400.
/// A CORS preflight passes: API Gateway sends it to the fallback, which answers it.
pub fn check_route(request: &Request) -> Result<(), ApiError> {
    if is_cors_preflight(request) {
        return Ok(());
    }
    let path = path_without_stage(request);
    let routes = routes_for(&path);
    if routes.is_empty() {
        return Ok(()); // the fallback's 404
    }
    let method = request.method().as_str();
    let Some(route) = routes.iter().find(|route| route.method == method) else {
        return Err(method_not_allowed(request, path));
    };
    let Some(params) = request.query_string_parameters_ref() else { return Ok(()) };
    for (name, _) in params.iter() {
        if !route.query.contains(&name) {
            return Err(ApiError::BadRequest(format!("unknown query parameter {}", printable(name))));
        }
        if params.all(name).is_some_and(|values| values.len() > 1) {
            return Err(ApiError::BadRequest(format!("query parameter {} is given more than once", printable(name))));
        }
    }
    Ok(())
}

/// An `OPTIONS` request with `Origin` and `Access-Control-Request-Method`: a browser asking
/// whether it may send the real request.
pub fn is_cors_preflight(request: &Request) -> bool {
    let headers = request.headers();
    request.method() == lambda_http::http::Method::OPTIONS
        && headers.contains_key("origin")
        && headers.contains_key("access-control-request-method")
}

/// The 405 for a known path and the wrong method, with the `Allow` header's methods.
pub fn method_not_allowed(request: &Request, path: String) -> ApiError {
    let allow = allowed_methods(&path).join(", ");
    ApiError::MethodNotAllowed { method: printable(request.method().as_str()), path: printable(&path), allow }
}

/// The path as the routes know it: a named stage (`/prod/api/...`) stays in the raw path.
pub fn path_without_stage(request: &Request) -> String {
    // A request that did not come from API Gateway (a unit test's) has only its URI.
    let path = Some(request.raw_http_path()).filter(|path| !path.is_empty()).unwrap_or(request.uri().path());
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
    use lambda_http::http;

    #[test]
    fn templates_match_one_segment_per_parameter() {
        assert!(matches("/api/markets/{id}", "/api/markets/01J"));
        assert!(!matches("/api/markets", "/api/markets/"), "API Gateway routes no trailing slash either");
        assert!(!matches("/api/markets/{id}", "/api/markets/01J/x"));
        assert!(!matches("/api/markets/{id}", "/api/markets/"));
    }

    #[test]
    fn literal_paths_beat_parameters_and_list_each_method_once() {
        assert_eq!(allowed_methods("/api/markets/search"), ["GET"]);
        assert_eq!(allowed_methods("/api/markets/01J"), ["GET", "PUT", "PATCH", "DELETE"]);
        assert_eq!(allowed_methods("/api/markets"), ["GET", "POST"]);
        assert!(allowed_methods("/api/nothing").is_empty());
    }

    fn request(method: &str, uri: &str) -> Request {
        let request = http::Request::builder().method(method).uri(uri).body(lambda_http::Body::Empty).unwrap();
        let mut query: std::collections::HashMap<String, Vec<String>> = Default::default();
        for pair in request.uri().query().unwrap_or("").split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            query.entry(name.to_owned()).or_default().push(value.to_owned());
        }
        request.with_query_string_parameters(query)
    }

    #[test]
    fn refuses_wrong_methods_unknown_and_repeated_parameters() {
        let code = |method: &str, uri: &str| check_route(&request(method, uri)).map_err(|e| e.status_and_code().1);
        assert_eq!(code("DELETE", "/api/markets/search"), Err("METHOD_NOT_ALLOWED"));
        assert_eq!(code("TRACE", "/api/markets"), Err("METHOD_NOT_ALLOWED"));
        assert_eq!(code("GET", "/api/markets/search?q=rain&limit=3"), Ok(()));
        assert_eq!(code("GET", "/api/markets/search?q=rain&page=2"), Err("BAD_REQUEST"));
        assert_eq!(code("GET", "/api/markets/01J?x=1"), Err("BAD_REQUEST"));
        assert_eq!(code("GET", "/api/markets/01J/positions?limit=1&limit=2"), Err("BAD_REQUEST"));
        assert_eq!(code("GET", "/api/markets?status=active&cursor=abc"), Ok(()));
        assert_eq!(code("GET", "/api/unknown?x=1"), Ok(()), "the fallback answers unknown paths");
        assert_eq!(code("OPTIONS", "/api/markets"), Err("METHOD_NOT_ALLOWED"));
        let mut preflight = request("OPTIONS", "/api/markets");
        preflight.headers_mut().insert("origin", http::HeaderValue::from_static("https://app.example"));
        preflight.headers_mut().insert("access-control-request-method", http::HeaderValue::from_static("POST"));
        assert_eq!(check_route(&preflight).map_err(|e| e.status_and_code().1), Ok(()), "the fallback answers it");
    }
}
