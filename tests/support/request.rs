//! Requests to a test stack, built the way the contract describes them:
//! `stack.patch(&market.path).as_user(&alice).if_match("\"v1\"").json(json!({"name": "n"})).await`.
//! Awaiting a [`Request`] sends it and reads the whole answer into a [`Reply`]; [`Request::send`]
//! is the same future by name (to join several). Hostile tests set any header or raw body through
//! [`Request::header`] and [`Request::body`]; byte-level abuse goes over a TCP socket instead.

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::Value;

use crate::User;

/// `/api/markets/{id}`.
pub fn market_path(id: &str) -> String {
    format!("/api/markets/{id}")
}

/// `/api/markets/{id}/positions`.
pub fn positions_path(id: &str) -> String {
    format!("{}/positions", market_path(id))
}

/// A request being built; nothing is sent until it is awaited.
#[must_use = "a request is sent only when awaited"]
pub struct Request(RequestBuilder);

impl Request {
    pub(crate) fn new(request: RequestBuilder) -> Request {
        Request(request)
    }

    /// With a fresh token for `user`.
    pub fn as_user(self, user: &User) -> Request {
        self.bearer(user.token())
    }

    /// With `Authorization: Bearer <token>`, whatever the token is.
    pub fn bearer(self, token: impl std::fmt::Display) -> Request {
        Request(self.0.bearer_auth(token))
    }

    pub fn if_match(self, etag: &str) -> Request {
        self.header("if-match", etag)
    }

    pub fn if_none_match(self, etag: &str) -> Request {
        self.header("if-none-match", etag)
    }

    pub fn idempotency_key(self, key: &str) -> Request {
        self.header("idempotency-key", key)
    }

    /// Any header, with any value.
    pub fn header(self, name: &str, value: impl AsRef<str>) -> Request {
        Request(self.0.header(name, value.as_ref()))
    }

    /// Query parameters appended to the path's (encoded as a form would).
    pub fn query(self, parameters: &[(&str, &str)]) -> Request {
        Request(self.0.query(parameters))
    }

    /// A JSON body, with its content type.
    pub fn json(self, body: Value) -> Request {
        Request(self.0.json(&body))
    }

    /// A body that is JSON text sent as is (exact decimals, or not JSON at all), with the JSON
    /// content type.
    pub fn json_text(self, body: impl Into<String>) -> Request {
        self.header("content-type", "application/json").body(body.into())
    }

    /// A body of raw bytes, with no content type unless a header sets one.
    pub fn body(self, body: impl Into<reqwest::Body>) -> Request {
        Request(self.0.body(body))
    }

    pub async fn send(self) -> Reply {
        Reply::read(self.0.send().await.expect("an answer from the stack")).await
    }
}

impl IntoFuture for Request {
    type Output = Reply;
    type IntoFuture = Pin<Box<dyn Future<Output = Reply> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// A response read whole: status, headers, the body as JSON (`Null` when empty) and as text
/// (for exact numbers, which JSON values would round through f64).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    async fn read(response: Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("read body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON body: {text}"))
        };
        Reply { status, headers, body, text }
    }

    /// `data.<field>` exactly as the server wrote it.
    pub fn exact_field(&self, field: &str) -> String {
        let envelope: std::collections::HashMap<String, Box<serde_json::value::RawValue>> =
            serde_json::from_str(&self.text).expect("a JSON object");
        let data: std::collections::HashMap<String, Box<serde_json::value::RawValue>> =
            serde_json::from_str(envelope["data"].get()).expect("data is an object");
        data[field].get().to_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an answer API Gateway gives itself, not the contract's envelope (a throttled route, a
    /// body over 10 MB, a failed invocation): `{"message": ...}` with API Gateway's `apigw-requestid`
    /// and no `x-request-id`; returns the message.
    pub fn aws_message(&self) -> &str {
        assert_eq!(self.header("x-request-id"), None, "{:?}", self.headers);
        assert!(self.header("apigw-requestid").is_some_and(|id| !id.is_empty()), "{:?}", self.headers);
        assert_eq!(self.header("content-type"), Some("application/json"));
        assert_eq!(self.body.as_object().map(|o| o.len()), Some(1), "{}", self.text);
        self.body["message"].as_str().expect("message")
    }

    /// Asserts the contract's error shape and returns the code.
    pub fn error_code(&self) -> &str {
        assert_eq!(self.body["success"], false, "{}", self.body);
        assert!(self.body["error"].as_str().is_some_and(|e| !e.is_empty()), "{}", self.body);
        assert_eq!(self.body["requestId"].as_str(), self.header("x-request-id"), "{}", self.body);
        self.body["code"].as_str().expect("code")
    }
}

/// A market created through the API: its id, its path, and the 201 answer.
#[derive(Debug)]
pub struct CreatedMarket {
    pub id: String,
    /// `/api/markets/{id}`, as the `Location` header should say.
    pub path: String,
    pub reply: Reply,
}

impl CreatedMarket {
    /// Asserts `reply` is a 201 Created and reads the market's id from it.
    pub(crate) fn from_reply(reply: Reply) -> CreatedMarket {
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        let id = reply.body["data"]["id"].as_str().expect("the created market's id").to_owned();
        CreatedMarket { path: market_path(&id), id, reply }
    }

    /// The market as created (the answer's `data`).
    pub fn data(&self) -> &Value {
        &self.reply.body["data"]
    }
}
