//! Tokens: forged, expired, unsigned or incomplete ones are refused with 401, on every route.

use api_tests::{Reply, Stack, User};
use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::json;
use shared::auth::Role;

fn unsigned_token(user: &User) -> String {
    let encode = |value: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string());
    let header = encode(json!({"alg": "none", "typ": "JWT"}));
    let claims = encode(json!({"sub": user.id, "role": "admin", "exp": api_tests::now() + 600}));
    format!("{header}.{claims}.")
}

#[tokio::test]
async fn bad_tokens_are_refused_even_on_anonymous_routes() {
    let stack = Stack::start();
    let alice = User::new(Role::User);
    let forged = {
        let token = alice.token();
        let (rest, signature) = token.rsplit_once('.').unwrap();
        let flipped = if signature.starts_with('A') { "B" } else { "A" };
        format!("{rest}.{flipped}{}", &signature[1..])
    };
    let expired = alice.token_with(|claims| claims.exp = api_tests::now() - 30);
    let cases =
        [("forged", forged), ("expired", expired), ("alg none", unsigned_token(&alice)), ("garbage", "abc".into())];
    for (what, token) in cases {
        for (method, path) in [(Method::GET, "/api/markets"), (Method::POST, "/api/markets")] {
            let response = stack
                .request(method.clone(), path)
                .bearer_auth(&token)
                .json(&json!({"name": "x"}))
                .send()
                .await
                .unwrap();
            let reply = Reply::from(response).await;
            assert_eq!(
                (reply.status, reply.error_code()),
                (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
                "{what} {method}"
            );
        }
    }
    let valid = stack.send_json(Method::POST, "/api/markets", &alice, json!({"name": "fine"})).await;
    assert_eq!(valid.status, StatusCode::CREATED);
}
