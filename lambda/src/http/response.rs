//! The contract's envelopes, `{"success": true, "data": ...}` and the error body of an [`ApiError`],
//! and their conversion to a Lambda response.

use std::future::{Future, ready};
use std::pin::Pin;

use lambda_http::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use lambda_http::{Body, IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use crate::error::ApiError;

/// Pagination facts of a list response.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ListMeta {
    pub count: usize,
    pub limit: usize,
    pub next_cursor: Option<String>,
}

/// The success envelope; serialized straight to text so that exact amounts stay exact.
#[derive(Serialize)]
struct Envelope<D, M> {
    success: bool,
    data: D,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<M>,
}

/// A response before it becomes a Lambda response: a status, headers and an optional body (JSON
/// but for the API's own documents, which may be compressed bytes).
#[derive(Debug)]
pub struct ApiResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Option<Body>,
    content_type: &'static str,
}

impl ApiResponse {
    /// The response of a failed request: the status, body and headers [`ApiError`] maps it to.
    pub fn error(error: &ApiError, request_id: &str) -> Self {
        let mut response = Self::json(error.status_and_code().0, &error.body(request_id));
        for (name, value) in error.headers() {
            response = response.text_header(name, &value);
        }
        response
    }

    pub fn json(status: StatusCode, body: &impl Serialize) -> Self {
        let body = serde_json::to_string(body).expect("API types serialize to JSON");
        Self { status, headers: HeaderMap::new(), body: Some(Body::Text(body)), content_type: "application/json" }
    }

    /// 200 with a document that is not JSON (the OpenAPI YAML, the HTML reference page), as text or
    /// as bytes in a `Content-Encoding` the caller sets.
    pub fn document(content_type: &'static str, body: impl Into<Body>) -> Self {
        Self { status: StatusCode::OK, headers: HeaderMap::new(), body: Some(body.into()), content_type }
    }

    /// 200 with `{"success": true, "data": data}`.
    pub fn ok(data: impl Serialize) -> Self {
        Self::data(StatusCode::OK, data)
    }

    /// The envelope around `data` with any status.
    pub fn data(status: StatusCode, data: impl Serialize) -> Self {
        Self::json(status, &Envelope::<_, ()> { success: true, data, meta: None })
    }

    /// 200 with a list and its `meta`.
    pub fn list(items: impl Serialize, meta: ListMeta) -> Self {
        Self::json(StatusCode::OK, &Envelope { success: true, data: items, meta: Some(meta) })
    }

    /// A status with no body (204, 304).
    pub fn empty(status: StatusCode) -> Self {
        Self { status, headers: HeaderMap::new(), body: None, content_type: "application/json" }
    }

    pub fn header(mut self, name: &'static str, value: HeaderValue) -> Self {
        self.headers.insert(HeaderName::from_static(name), value);
        self
    }

    /// A header from text the server made (ids, ETags), which is always a valid header value.
    pub fn text_header(self, name: &'static str, value: &str) -> Self {
        self.header(name, HeaderValue::from_str(value).expect("server-made header values are visible ASCII"))
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as it is, if there is one and it is text.
    pub fn body_text(&self) -> Option<&str> {
        match &self.body {
            Some(Body::Text(text)) => Some(text),
            _ => None,
        }
    }

    /// The body's bytes, text or not (empty when there is none).
    pub fn body_bytes(&self) -> &[u8] {
        self.body.as_deref().unwrap_or_default()
    }

    /// The JSON body, or `Null` when there is none (for tests).
    pub fn body_json(&self) -> Value {
        self.body_text().map_or(Value::Null, |body| serde_json::from_str(body).expect("bodies are JSON"))
    }

    pub fn into_lambda_response(self) -> Response<Body> {
        let mut builder = Response::builder().status(self.status);
        let headers = builder.headers_mut().expect("a fresh builder has headers");
        headers.extend(self.headers);
        let body = match self.body {
            Some(body) => {
                headers.insert("content-type", HeaderValue::from_static(self.content_type));
                body
            }
            None => Body::Empty,
        };
        builder.body(body).expect("status and headers are valid")
    }
}

/// A Lambda response handed to lambda_http as it is. lambda_http's own conversion of a
/// `Response<Body>` reads the body again and decodes text in the charset its Content-Type names,
/// which links every encoding of encoding_rs (and its tables) into each function to decode our
/// UTF-8 as UTF-8. For the bodies we make, that conversion gives the body unchanged, but for no
/// body, which it turns into empty text: so does this.
pub struct ReadyResponse(pub Response<Body>);

impl IntoResponse for ReadyResponse {
    fn into_response(self) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> {
        let (parts, body) = self.0.into_parts();
        let body = match body {
            Body::Empty => Body::Text(String::new()),
            body => body,
        };
        Box::pin(ready(Response::from_parts(parts, body)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(content_type: Option<&'static str>, encoding: Option<&'static str>, body: Body) -> Response<Body> {
        let mut builder = Response::builder();
        for (name, value) in [("content-type", content_type), ("content-encoding", encoding)] {
            if let Some(value) = value {
                builder = builder.header(name, value);
            }
        }
        builder.body(body).unwrap()
    }

    /// Every kind of body we hand over: none, JSON, a text document, a compressed document.
    fn bodies() -> [(Option<&'static str>, Option<&'static str>, Body); 4] {
        [
            (None, None, Body::Empty),
            (Some("application/json"), None, Body::Text(r#"{"success":true,"data":"é"}"#.into())),
            (Some("text/html; charset=utf-8"), None, Body::Text("<p>ü</p>".into())),
            (Some("application/yaml"), Some("gzip"), Body::Binary(vec![0x1f, 0x8b, 0xff])),
        ]
    }

    #[tokio::test]
    async fn a_ready_response_reaches_lambda_http_as_its_own_conversion_would_make_it() {
        for ((content_type, encoding, body), (_, _, same_body)) in bodies().into_iter().zip(bodies()) {
            let theirs = response(content_type, encoding, same_body).into_response().await;
            let ours = ReadyResponse(response(content_type, encoding, body)).into_response().await;
            assert_eq!(ours.body(), theirs.body(), "content type {content_type:?}, encoding {encoding:?}");
            assert_eq!(ours.headers(), theirs.headers());
        }
    }
}
