//! Reading what a request carries: ids, route, path and query parameters, JSON bodies, ETags.

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request};

use crate::error::ApiError;
use markets_core::domain::Precondition;
use markets_core::error::printable;
use markets_core::json::{Json, JsonObject};

/// Larger bodies are refused with 413 before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub use lambda_http::RequestExt;

fn apigw_context(req: &Request) -> Option<&lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext> {
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => Some(ctx),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// API Gateway's request id, else the Lambda invocation's, else a fresh one.
pub fn request_id(req: &Request) -> String {
    apigw_context(req)
        .and_then(|ctx| ctx.request_id.clone())
        .or_else(|| req.lambda_context_ref().map(|ctx| ctx.request_id.clone()))
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| ulid::Ulid::new().to_string())
}

/// The matched route (`GET /api/markets/{id}`); routing uses it, never the raw path, because a
/// named stage stays in the raw path.
pub fn route_key(req: &Request) -> String {
    apigw_context(req)
        .and_then(|ctx| ctx.route_key.clone())
        .unwrap_or_else(|| format!("{} {}", req.method(), req.uri().path()))
}

/// The caller's address as API Gateway saw it; never a client-supplied `X-Forwarded-For`.
pub fn source_ip(req: &Request) -> Option<String> {
    apigw_context(req).and_then(|ctx| ctx.http.source_ip.clone())
}

/// The `{id}` path parameter. Ids are ULIDs: anything else names no market (404), and never
/// reaches DynamoDB (whose key limits would turn it into a 500).
pub fn path_id(req: &Request) -> Result<String, ApiError> {
    market_id(req.path_parameters_ref().and_then(|params| params.first("id")).unwrap_or(""))
}

/// A market id however it came (a path, a GraphQL argument): ULIDs only, as [`path_id`] says.
pub fn market_id(id: &str) -> Result<String, ApiError> {
    let is_ulid = id.len() == 26 && id.bytes().all(|b| b.is_ascii_alphanumeric());
    if !is_ulid {
        return Err(markets_core::service::Error::market_not_found(&printable(id)).into());
    }
    Ok(id.to_owned())
}

/// One query parameter; a repeated one is a 400 rather than a silent pick.
pub fn query_param<'a>(req: &'a Request, name: &str) -> Result<Option<&'a str>, ApiError> {
    let Some(params) = req.query_string_parameters_ref() else { return Ok(None) };
    match params.all(name) {
        None => Ok(None),
        Some(values) if values.len() == 1 => Ok(Some(values[0])),
        Some(_) => Err(ApiError::BadRequest(format!("query parameter {name} is given more than once"))),
    }
}

/// A 400 for a query parameter outside its allowed values.
pub fn bad_query(param: &str, expected: &str) -> ApiError {
    ApiError::BadRequest(format!("query parameter {param} must be {expected}"))
}

/// An integer query parameter within `min..=max`.
pub fn query_number(req: &Request, param: &str, min: usize, max: usize) -> Result<Option<usize>, ApiError> {
    query_param(req, param)?
        .map(|text| {
            let expected = || bad_query(param, &format!("an integer from {min} to {max}"));
            text.parse().ok().filter(|n| (min..=max).contains(n)).ok_or_else(expected)
        })
        .transpose()
}

/// The body as a strict JSON object (see [`markets_core::json`]), after the size, media-type and syntax
/// checks (413, 415, 400).
pub fn json_body(req: &Request) -> Result<JsonObject, ApiError> {
    match json_document(req)? {
        Json::Object(members) => Ok(members),
        _ => Err(ApiError::validation("body", "must be a JSON object")),
    }
}

/// The body as any strict JSON value, after the same checks as [`json_body`].
pub fn json_document(req: &Request) -> Result<Json, ApiError> {
    let bytes: &[u8] = match req.body() {
        Body::Empty => b"",
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => b"",
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES });
    }
    let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if media_type != "application/json" && media_type != "application/merge-patch+json" {
        return Err(ApiError::UnsupportedMediaType);
    }
    Json::parse(bytes).map_err(|error| ApiError::InvalidJson(error.to_string()))
}

/// The `Idempotency-Key` header, if sent: 1 to 128 visible characters.
pub fn idempotency_key(req: &Request) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else { return Ok(None) };
    checked_idempotency_key(value.to_str().unwrap_or("")).map(Some)
}

/// An idempotency key however it came (a header, a GraphQL argument): 1 to 128 visible characters.
pub fn checked_idempotency_key(key: &str) -> Result<String, ApiError> {
    Some(key)
        .filter(|key| (1..=128).contains(&key.chars().count()) && key.trim() == *key)
        .map(str::to_owned)
        .ok_or_else(|| ApiError::BadRequest("Idempotency-Key must be 1 to 128 visible characters".into()))
}

/// The strong ETag of a market version.
pub fn etag_for(version: u64) -> String {
    format!("\"v{version}\"")
}

/// Parses `If-Match`: `*`, or one entity tag compared as an exact string with `"v<version>"`
/// (RFC 9110's strong comparison, so a weak tag never matches); anything that is not an entity
/// tag is a 400.
pub fn if_match(req: &Request) -> Result<Precondition, ApiError> {
    let Some(value) = req.headers().get("if-match") else { return Ok(Precondition::Any) };
    value.to_str().map_err(|_| malformed_if_match()).and_then(precondition)
}

fn malformed_if_match() -> ApiError {
    ApiError::BadRequest("If-Match must be * or one ETag like \"v3\"".into())
}

/// An `If-Match` value however it came (a header, a GraphQL argument), as [`if_match`] reads it.
pub fn precondition(value: &str) -> Result<Precondition, ApiError> {
    let malformed = malformed_if_match;
    let value = value.trim();
    if value == "*" {
        return Ok(Precondition::Any);
    }
    let (weak, tag) = match value.strip_prefix("W/") {
        Some(tag) => (true, tag),
        None => (false, value),
    };
    let opaque = tag.strip_prefix('"').and_then(|rest| rest.strip_suffix('"')).ok_or_else(malformed)?;
    // etagc: any visible ASCII but the double quote (RFC 9110, 8.8.3).
    if !opaque.bytes().all(|b| b.is_ascii_graphic() && b != b'"') {
        return Err(malformed());
    }
    let version = opaque.strip_prefix('v').and_then(|digits| digits.parse::<u64>().ok().map(|n| (n, digits)));
    Ok(match version {
        Some((version, digits)) if !weak && version.to_string() == digits => Precondition::Version(version),
        _ => Precondition::Never,
    })
}

/// True when `If-None-Match` names the current ETag (weak or strong, in a list, or `*`), compared
/// as exact strings (`"v01"` is not `"v1"`).
pub fn if_none_match_hits(req: &Request, etag: &str) -> bool {
    req.headers()
        .get_all("if-none-match")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim())
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http;

    fn request(headers: &[(&str, &str)], body: &str) -> Request {
        let mut builder = http::Request::builder().uri("/api/markets");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::Text(body.to_owned())).unwrap()
    }

    #[test]
    fn body_checks_come_in_contract_order() {
        let big = format!("{{\"name\":\"{}\"}}", "x".repeat(MAX_BODY_BYTES));
        assert!(matches!(
            json_body(&request(&[("content-type", "application/json")], &big)),
            Err(ApiError::PayloadTooLarge { .. })
        ));
        assert!(matches!(
            json_body(&request(&[("content-type", "text/plain")], "{}")),
            Err(ApiError::UnsupportedMediaType)
        ));
        assert!(matches!(json_body(&request(&[], "{}")), Err(ApiError::UnsupportedMediaType)));
        assert!(matches!(
            json_body(&request(&[("content-type", "application/json")], "{")),
            Err(ApiError::InvalidJson(_))
        ));
        assert!(matches!(
            json_body(&request(&[("content-type", "application/json")], "[1]")),
            Err(ApiError::Validation(_))
        ));
        let ok = json_body(&request(&[("content-type", "application/json; charset=utf-8")], r#"{"a":1}"#)).unwrap();
        assert_eq!(ok["a"], Json::Number("1".into()));
    }

    #[test]
    fn if_match_accepts_only_version_etags() {
        assert_eq!(if_match(&request(&[], "")).unwrap(), Precondition::Any);
        assert_eq!(if_match(&request(&[("if-match", "\"v12\"")], "")).unwrap(), Precondition::Version(12));
        assert_eq!(if_match(&request(&[("if-match", "*")], "")).unwrap(), Precondition::Any);
        for tag in ["\"v012\"", "\"v+12\"", "W/\"v12\"", "\"12\"", "\"\""] {
            assert_eq!(if_match(&request(&[("if-match", tag)], "")).unwrap(), Precondition::Never, "{tag}");
        }
        for malformed in ["v12", "\"v12", "\"v 12\"", "\"v1\", \"v2\"", "W/v1"] {
            assert!(if_match(&request(&[("if-match", malformed)], "")).is_err(), "{malformed}");
        }
    }

    #[test]
    fn if_none_match_understands_lists_and_weak_tags() {
        assert!(if_none_match_hits(&request(&[("if-none-match", "\"v1\", W/\"v2\"")], ""), "\"v2\""));
        assert!(!if_none_match_hits(&request(&[("if-none-match", "\"v1\"")], ""), "\"v2\""));
        assert!(!if_none_match_hits(&request(&[("if-none-match", "\"v02\"")], ""), "\"v2\""));
        assert!(!if_none_match_hits(&request(&[], ""), "\"v2\""));
    }
}
