//! Hostile input, table-driven: malformed and tricky bodies, numbers, unicode, ids, query strings,
//! cursors, headers, content types and tokens against one stack. Each request must get the
//! contract's 4xx with its code and a message that says what was wrong, and afterwards every
//! stored market, version, volume and position must be exactly as before.

use api_tests::{JWT_SECRET, Stack, User, market_path, now, positions_path};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use markets_core::domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// What a case must get back.
enum Expect {
    /// The function's answer: this status and code, and a message (or a field's) saying `says`.
    Refused { status: StatusCode, code: &'static str, says: &'static str },
    /// A request the gateway decides on (API Gateway's own limits): any 4xx, in the error shape.
    ClientError,
}

/// One hostile request.
struct Case {
    what: String,
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    expect: Expect,
    expect_header: Option<(&'static str, &'static str)>,
}

impl Case {
    fn new(what: impl Into<String>, method: Method, path: impl Into<String>) -> Case {
        Case {
            what: what.into(),
            method,
            path: path.into(),
            headers: Vec::new(),
            body: None,
            expect: Expect::ClientError,
            expect_header: None,
        }
    }

    /// A JSON body sent with `token` (the text as is: it need not be JSON).
    fn json(what: impl Into<String>, method: Method, path: &str, token: &str, body: impl Into<Vec<u8>>) -> Case {
        Case::new(what, method, path)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json".into())
            .body(body)
    }

    /// Sets a header, replacing any value it had.
    fn header(mut self, name: &'static str, value: String) -> Case {
        self.headers.retain(|(existing, _)| *existing != name);
        self.headers.push((name, value));
        self
    }

    fn body(mut self, body: impl Into<Vec<u8>>) -> Case {
        self.body = Some(body.into());
        self
    }

    fn refused(mut self, status: StatusCode, code: &'static str, says: &'static str) -> Case {
        self.expect = Expect::Refused { status, code, says };
        self
    }

    fn invalid_json(self, says: &'static str) -> Case {
        self.refused(StatusCode::BAD_REQUEST, "INVALID_JSON", says)
    }

    fn invalid(self, says: &'static str) -> Case {
        self.refused(StatusCode::BAD_REQUEST, "VALIDATION_FAILED", says)
    }

    fn bad_request(self, says: &'static str) -> Case {
        self.refused(StatusCode::BAD_REQUEST, "BAD_REQUEST", says)
    }

    fn invalid_cursor(self) -> Case {
        self.refused(StatusCode::BAD_REQUEST, "INVALID_CURSOR", "cursor")
    }

    fn not_found(self) -> Case {
        self.refused(StatusCode::NOT_FOUND, "NOT_FOUND", "not found")
    }

    fn unsupported_media_type(self) -> Case {
        self.refused(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE", "application/json")
    }

    fn precondition_failed(self) -> Case {
        self.refused(StatusCode::PRECONDITION_FAILED, "PRECONDITION_FAILED", "changed")
    }

    /// A 405 naming the methods the path allows, before authentication.
    fn method_not_allowed(self, allow: &'static str) -> Case {
        self.refused(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "not allowed").with_header("allow", allow)
    }

    fn with_header(mut self, name: &'static str, value: &'static str) -> Case {
        self.expect_header = Some((name, value));
        self
    }

    async fn check(self, stack: &Stack) {
        let mut request = stack.request(self.method.clone(), &self.path);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        if let Some(body) = self.body {
            request = request.body(body);
        }
        let reply = request.await;
        let what = &self.what;
        match self.expect {
            Expect::ClientError => {
                assert!(reply.status.is_client_error(), "{what}: {}", reply.status);
                reply.error_code();
            }
            Expect::Refused { status, code, says } => {
                assert_eq!((reply.status, reply.error_code()), (status, code), "{what}: {}", reply.body);
                let mut messages = reply.body["error"].as_str().unwrap_or_default().to_lowercase();
                for detail in reply.body["details"].as_array().into_iter().flatten() {
                    messages.push_str(&format!(" | {} {}", detail["field"], detail["message"]).to_lowercase());
                }
                assert!(messages.contains(&says.to_lowercase()), "{what}: {messages:?} does not say {says:?}");
                if let Some((name, value)) = self.expect_header {
                    assert_eq!(reply.header(name), Some(value), "{what}");
                }
            }
        }
    }
}

/// An HS256 token over any claims, signed with the stack's secret.
fn signed(claims: Value, kid: Option<&str>) -> String {
    let header = Header { kid: kid.map(Into::into), ..Header::new(Algorithm::HS256) };
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(JWT_SECRET.as_bytes())).unwrap()
}

/// What the API shows of its data: each market's body, and its positions, and the list.
async fn snapshot(stack: &Stack, ids: &[&str]) -> Vec<Value> {
    let mut seen = vec![stack.get("/api/markets?limit=100").await.body];
    for id in ids {
        seen.push(stack.get(&market_path(id)).await.body);
        seen.push(stack.get(&positions_path(id)).query(&[("limit", "100")]).await.body);
    }
    seen
}

#[tokio::test]
async fn hostile_requests_get_the_contracts_4xx_and_change_nothing() {
    let stack = Stack::start();
    let (alice, bob) = (User::new(Role::User), User::new(Role::User));
    let first = json!({"name": "Rain in Paris?", "endDate": "2030-01-01T00:00:00Z",
        "initialPosition": {"outcome": "yes", "amount": 10}});
    let market = stack.create_market_with(&alice, first).await;
    let other = stack.create_market(&alice, "Snow in Oslo?").await;
    let positions = positions_path(&market.id);
    let position = json!({"outcome": "no", "amount": 2.5});
    let added = stack.post(&positions).as_user(&bob).json(position).await;
    assert_eq!(added.status, StatusCode::CREATED);
    let positions_cursor =
        stack.get(&positions).query(&[("limit", "1")]).await.body["meta"]["nextCursor"].as_str().unwrap().to_owned();
    let markets_cursor =
        stack.get("/api/markets?limit=1").await.body["meta"]["nextCursor"].as_str().unwrap().to_owned();
    let edited_cursor = {
        let (payload, tag) = markets_cursor.split_once('.').unwrap();
        let flipped = if tag.starts_with('A') { 'B' } else { 'A' };
        format!("{payload}.{flipped}{}", &tag[1..])
    };
    let before = snapshot(&stack, &[&market.id, &other.id]).await;

    let token = alice.token();
    let position_with = |what: &str, amount: &str| {
        Case::json(what, Method::POST, &positions, &token, format!(r#"{{"outcome":"yes","amount":{amount}}}"#))
    };
    let create_with = |what: &str, body: &str| Case::json(what, Method::POST, "/api/markets", &token, body);
    let patch_with = |what: &str, body: &str| Case::json(what, Method::PATCH, &market.path, &token, body);
    let claims = |edit: &dyn Fn(&mut Value)| {
        let mut claims = json!({"sub": alice.id, "role": "user", "exp": now() + 600});
        edit(&mut claims);
        claims
    };
    let invalid_token = ("www-authenticate", "Bearer error=\"invalid_token\"");
    let token_case = |what: &str, token: String| {
        create_with(what, r#"{"name":"should not exist"}"#)
            .header("authorization", format!("Bearer {token}"))
            .refused(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "token")
            .with_header(invalid_token.0, invalid_token.1)
    };
    let get = |what: &str, path: String| Case::new(what, Method::GET, path);
    let deep = format!(r#"{{"outcome":"yes","amount":1,"x":{}1{}}}"#, "[".repeat(200), "]".repeat(200));
    let very_deep = "[".repeat(60_000);
    let long_positions = positions_path(&"7".repeat(10_000));

    let cases = vec![
        // Malformed, truncated and deeply nested JSON.
        position_with("malformed JSON", "1,,").invalid_json("json"),
        Case::json("truncated JSON", Method::POST, &positions, &token, r#"{"outcome":"yes","amount":1"#)
            .invalid_json("json"),
        Case::json("empty body", Method::POST, &positions, &token, "").invalid_json("json"),
        Case::json("single quotes", Method::POST, &positions, &token, "{'outcome':'yes','amount':1}")
            .invalid_json("json"),
        Case::json("trailing comma", Method::POST, &positions, &token, r#"{"outcome":"yes","amount":1,}"#)
            .invalid_json("json"),
        Case::json("trailing data", Method::POST, &positions, &token, r#"{"outcome":"yes","amount":1} {}"#)
            .invalid_json("json"),
        Case::json("nested 200 deep", Method::POST, &positions, &token, deep).invalid_json("nested deeper"),
        Case::json("nested 60,000 deep", Method::POST, &positions, &token, very_deep).invalid_json("nested deeper"),
        Case::json("not UTF-8", Method::POST, &positions, &token, b"{\"outcome\":\"\xff\",\"amount\":1}".to_vec())
            .invalid_json("utf-8"),
        Case::json("a JSON array", Method::POST, &positions, &token, "[1]").invalid("must be a json object"),
        Case::json("a JSON string", Method::POST, &positions, &token, r#""yes""#).invalid("must be a json object"),
        // Duplicate keys, at the top and deeper.
        Case::json("duplicate key", Method::POST, &positions, &token, r#"{"outcome":"yes","amount":1,"amount":2}"#)
            .invalid_json("\"amount\" is given more than once"),
        create_with("nested duplicate key", r#"{"name":"n","initialPosition":{"outcome":"yes","outcome":"no"}}"#)
            .invalid_json("\"outcome\" is given more than once"),
        // Numbers beyond f64, exponents, NaN and Infinity, numbers as strings, out of range.
        position_with("more digits than f64 holds", "0.10000000000000000001").invalid("6 decimal places"),
        position_with("seven decimal places", "1.1234567").invalid("6 decimal places"),
        position_with("a negative exponent", "1e-7").invalid("6 decimal places"),
        position_with("a huge exponent", "1e400").invalid("at most 1000000000"),
        position_with("twenty digits", "12345678901234567890").invalid("at most 1000000000"),
        position_with("just over the limit", "1000000000.000001").invalid("at most 1000000000"),
        position_with("NaN", "NaN").invalid_json("json"),
        position_with("Infinity", "Infinity").invalid_json("json"),
        position_with("-Infinity", "-Infinity").invalid_json("json"),
        position_with("a leading zero", "01").invalid_json("json"),
        position_with("a number as a string", r#""5""#).invalid("must be a number"),
        position_with("zero", "0").invalid("greater than 0"),
        position_with("negative zero", "-0").invalid("greater than 0"),
        position_with("negative", "-5").invalid("greater than 0"),
        position_with("null amount", "null").invalid("must not be null"),
        position_with("a boolean amount", "true").invalid("must be a number"),
        create_with(
            "initial position over the limit",
            r#"{"name":"n","initialPosition":{"outcome":"yes","amount":2e9}}"#,
        )
        .invalid("at most 1000000000"),
        // Unicode: NUL, lone surrogates, RTL and zero-width only, combining marks only, too long.
        create_with("NUL in a name", r#"{"name":"a\u0000b"}"#).invalid("control characters"),
        create_with("a bell in a description", r#"{"name":"n","description":"\u0007"}"#).invalid("control characters"),
        create_with("DEL in a name", r#"{"name":"a\u007fb"}"#).invalid("control characters"),
        create_with("a C1 control (NEL) in a name", r#"{"name":"a\u0085b"}"#).invalid("control characters"),
        create_with("a tab in a name", r#"{"name":"a\tb"}"#).invalid("control characters"),
        create_with("an escape in a description", r#"{"name":"n","description":"\u001b[31mred"}"#)
            .invalid("control characters"),
        create_with("a C1 control (CSI) in a description", r#"{"name":"n","description":"\u009b"}"#)
            .invalid("control characters"),
        create_with("a lone high surrogate", r#"{"name":"\ud800"}"#).invalid_json("json"),
        create_with("a lone low surrogate", r#"{"name":"x\udc00"}"#).invalid_json("json"),
        create_with("zero-width characters only", r#"{"name":"\u200b\ufeff\u2060"}"#).invalid("blank"),
        create_with("RTL controls only", r#"{"name":"\u202e\u200f\u2067"}"#).invalid("blank"),
        create_with("combining marks only", r#"{"name":"\u0301\u0308"}"#).invalid("blank"),
        create_with("201 Hebrew letters", &format!(r#"{{"name":"{}"}}"#, "\u{5d0}".repeat(201))).invalid("at most 200"),
        // null where it is not allowed, read-only and unknown fields, empty and no-op patches.
        create_with("null name", r#"{"name":null}"#).invalid("must not be null"),
        create_with("null description", r#"{"name":"n","description":null}"#).invalid("must not be null"),
        create_with("null initial position", r#"{"name":"n","initialPosition":null}"#).invalid("must not be null"),
        create_with("a read-only volume", r#"{"name":"n","volume":1}"#).invalid("read-only"),
        patch_with("a patch with no field", "{}").invalid("at least one"),
        patch_with("a null status", r#"{"status":null}"#).invalid("must not be null"),
        patch_with("a null description", r#"{"description":null}"#).invalid("must not be null"),
        patch_with("a version", r#"{"version":9}"#).invalid("read-only"),
        Case::json("a replacement missing fields", Method::PUT, &market.path, &token, r#"{"name":"n"}"#)
            .invalid("is required"),
        // Ids: very long, with a slash, dots, NUL.
        get("a 10,000-character id", market_path(&"7".repeat(10_000))).not_found(),
        get("an id with an encoded slash", "/api/markets/a%2Fb".into()).not_found(),
        get("an id of dots and slashes", "/api/markets/..%2f..%2fetc%2fpasswd".into()).not_found(),
        get("an id with NUL", "/api/markets/%00".into()).not_found(),
        Case::json("a position on a 10,000-character id", Method::POST, &long_positions, &token, "{}").not_found(),
        // Query parameters: wrong types, out of range, repeated, unknown, on every route.
        get("limit not a number", "/api/markets?limit=ten".into()).bad_request("limit"),
        get("limit zero", "/api/markets?limit=0".into()).bad_request("limit"),
        get("limit negative", "/api/markets?limit=-1".into()).bad_request("limit"),
        get("limit as an exponent", "/api/markets?limit=1e1".into()).bad_request("limit"),
        get("limit beyond u64", "/api/markets?limit=99999999999999999999999".into()).bad_request("limit"),
        get("offset over 1000", "/api/markets?offset=1001".into()).bad_request("offset"),
        get("an unknown status", "/api/markets?status=open".into()).bad_request("status"),
        get("an unknown sort", "/api/markets?sort=price".into()).bad_request("sort"),
        get("an unknown order", "/api/markets?order=up".into()).bad_request("order"),
        get("a repeated limit", "/api/markets?limit=1&limit=2".into()).bad_request("more than once"),
        get("an unknown parameter", "/api/markets?colour=red".into()).bad_request("unknown query parameter"),
        get("cursor and offset", format!("/api/markets?offset=1&cursor={markets_cursor}")).bad_request("cursor"),
        get("a blank search", "/api/markets/search?q=%20%20".into()).bad_request("q"),
        get("a search without q", "/api/markets/search".into()).bad_request("q"),
        get("a 501-character search", format!("/api/markets/search?q={}", "a".repeat(501))).bad_request("q"),
        get("a search limit of 51", "/api/markets/search?q=rain&limit=51".into()).bad_request("limit"),
        get("a repeated q", "/api/markets/search?q=a&q=b".into()).bad_request("more than once"),
        get("an unknown search parameter", "/api/markets/search?q=rain&page=2".into())
            .bad_request("unknown query parameter"),
        get("a parameter on get-market", format!("{}?fields=name", market.path)).bad_request("unknown query parameter"),
        get("a positions limit of 101", format!("{positions}?limit=101")).bad_request("limit"),
        get("an unknown positions parameter", format!("{positions}?sort=amount"))
            .bad_request("unknown query parameter"),
        // Cursors: garbage, edited, and from another list.
        get("a garbage cursor", "/api/markets?cursor=garbage".into()).invalid_cursor(),
        get("an edited cursor", format!("/api/markets?cursor={edited_cursor}")).invalid_cursor(),
        get("a positions cursor on the market list", format!("/api/markets?cursor={positions_cursor}"))
            .invalid_cursor(),
        get("a market-list cursor on positions", format!("{positions}?cursor={markets_cursor}")).invalid_cursor(),
        get("a cursor for another order", format!("/api/markets?order=asc&cursor={markets_cursor}")).invalid_cursor(),
        // Headers: idempotency keys, preconditions, content types, oversized values.
        position_with("a 129-character Idempotency-Key", "1")
            .header("idempotency-key", "k".repeat(129))
            .bad_request("idempotency-key"),
        position_with("a 10 KB Idempotency-Key", "1")
            .header("idempotency-key", "k".repeat(10_000))
            .bad_request("idempotency-key"),
        patch_with("If-Match \"v01\"", r#"{"name":"renamed"}"#)
            .header("if-match", "\"v01\"".into())
            .precondition_failed(),
        patch_with("a weak If-Match", r#"{"name":"renamed"}"#)
            .header("if-match", "W/\"v1\"".into())
            .precondition_failed(),
        patch_with("an unquoted If-Match", r#"{"name":"renamed"}"#)
            .header("if-match", "v1".into())
            .bad_request("if-match"),
        Case::new("DELETE with a malformed If-Match", Method::DELETE, &market.path)
            .header("authorization", format!("Bearer {}", User::new(Role::Admin).token()))
            .header("if-match", "\"v1".into())
            .bad_request("if-match"),
        position_with("text/plain", "1").header("content-type", "text/plain".into()).unsupported_media_type(),
        Case::new("no content type", Method::POST, &positions)
            .header("authorization", format!("Bearer {token}"))
            .body(r#"{"outcome":"yes","amount":1}"#)
            .unsupported_media_type(),
        create_with("form data", "name=x")
            .header("content-type", "application/x-www-form-urlencoded".into())
            .unsupported_media_type(),
        create_with("a body over 64 KiB", &format!(r#"{{"name":"n","description":"{}"}}"#, "d".repeat(66_000)))
            .refused(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", "larger"),
        get("a 70 KB header", "/api/markets".into()).header("x-padding", "p".repeat(70_000)),
        // Tokens: not yet valid, malformed claims, unknown key, unsigned, huge, none.
        token_case("nbf an hour ahead", signed(claims(&|c| c["nbf"] = (now() + 3600).into()), None)),
        token_case("iat an hour ahead", signed(claims(&|c| c["iat"] = (now() + 3600).into()), None)),
        token_case("exp as a string", signed(claims(&|c| c["exp"] = (now() + 600).to_string().into()), None)),
        token_case("a kid pointing nowhere", signed(claims(&|_| {}), Some("nowhere"))),
        token_case("a 9 KB token", signed(claims(&|c| c["name"] = "n".repeat(9_000).into()), None)),
        token_case("alg none", {
            use base64::Engine as _;
            let encode = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
            format!("{}.{}.", encode(json!({"alg": "none", "typ": "JWT"})), encode(claims(&|_| {})))
        }),
        get("a 100 KB token", "/api/markets".into()).header("authorization", format!("Bearer {}", "a".repeat(100_000))),
        create_with("a Basic credential", r#"{"name":"should not exist"}"#)
            .header("authorization", "Basic YWxpY2U6cHc=".into())
            .refused(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "bearer")
            .with_header(invalid_token.0, invalid_token.1),
        Case::new("no token", Method::POST, "/api/markets")
            .header("content-type", "application/json".into())
            .body(r#"{"name":"should not exist"}"#)
            .refused(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "token")
            .with_header("www-authenticate", "Bearer"),
        // Methods the search path does not allow, answered before authentication.
        Case::new("DELETE search", Method::DELETE, "/api/markets/search").method_not_allowed("GET"),
        Case::new("PUT search", Method::PUT, "/api/markets/search").method_not_allowed("GET"),
        Case::json("PATCH search with a token", Method::PATCH, "/api/markets/search", &token, r#"{"name":"x"}"#)
            .method_not_allowed("GET"),
        Case::new("POST search", Method::POST, "/api/markets/search").method_not_allowed("GET"),
        Case::new("TRACE", Method::TRACE, "/api/markets").method_not_allowed("GET, POST"),
        Case::new("an unknown method", Method::from_bytes(b"PURGE").unwrap(), &market.path)
            .method_not_allowed("GET, PUT, PATCH, DELETE"),
    ];
    let tried = cases.len();
    assert!(tried >= 50, "{tried} cases");
    for case in cases {
        case.check(&stack).await;
    }

    // A PATCH that changes nothing is a 200 with the version as it was.
    let version = stack.get(&market.path).await.body["data"]["version"].clone();
    let same = json!({"name": "Rain in Paris?", "status": "active"});
    let unchanged = stack.patch(&market.path).as_user(&alice).json(same).await;
    assert_eq!((unchanged.status, &unchanged.body["data"]["version"]), (StatusCode::OK, &version));
    // If-None-Match compares exact strings too: "v01" is not the current "v1".
    let not_cached = stack.get(&market.path).if_none_match("\"v01\"").await;
    assert_eq!(not_cached.status, StatusCode::OK);

    assert_eq!(
        snapshot(&stack, &[&market.id, &other.id]).await,
        before,
        "stored data changed after {tried} hostile requests"
    );
    eprintln!("hostile requests tried: {tried}");
}
