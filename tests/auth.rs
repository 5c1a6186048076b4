//! Tokens: forged, expired, unsigned or garbage ones are refused with 401, even on routes that need
//! none; the HS256 secret is read from Secrets Manager at cold start; in RS256 mode a warm function
//! follows the identity provider's key rotation (JWKS) and refuses HS256.

use api_tests::{Stack, User};
use base64::Engine as _;
use markets_core::domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

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
            let reply = stack.request(method.clone(), path).bearer(&token).json(json!({"name": "x"})).await;
            assert_eq!(
                (reply.status, reply.error_code()),
                (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
                "{what} {method}"
            );
        }
    }
    let valid = stack.post("/api/markets").as_user(&alice).json(json!({"name": "fine"})).await;
    assert_eq!(valid.status, StatusCode::CREATED);
}

#[tokio::test]
async fn the_token_secret_is_read_from_secrets_manager_at_cold_start() {
    // The function's environment holds only the secret's ARN: tokens verify against the value in
    // (moto's) Secrets Manager.
    let value = format!("secret-in-secrets-manager-{}", ulid::Ulid::new());
    let stack = Stack::start_with(&["--secret", &format!("JwtSecret={value}")]);
    let alice = User::new(Role::User);
    let signed_with = |secret: &str| {
        let claims = markets_lambda::auth::Claims {
            sub: alice.id.clone(),
            role: Role::User,
            exp: api_tests::now() + 600,
            name: None,
            email: None,
            iss: None,
            aud: None,
        };
        markets_lambda::auth::mint_token(secret.as_bytes(), &claims)
    };
    let stack = &stack;
    let post = |token: String| stack.post("/api/markets").bearer(token).json(json!({"name": "x"}));
    assert_eq!(post(signed_with(&value)).await.status, StatusCode::CREATED);
    let refused = post(signed_with(api_tests::JWT_SECRET)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    // Once the last request's line is in the log, so is everything the functions logged before it.
    stack.request_log(refused.header("x-request-id").unwrap());
    let everything = std::fs::read_to_string(&stack.log_file).expect("the stack's log file");
    assert!(!everything.contains(&value), "the secret is never logged");
}

/// A JWKS endpoint on this machine whose key set the test replaces at will.
struct KeyServer {
    url: String,
    keys: std::sync::Arc<std::sync::Mutex<String>>,
}

impl KeyServer {
    async fn start() -> KeyServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
        let keys = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let served = keys.clone();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let body = served.lock().unwrap().clone();
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
                let _ = socket.write_all(format!("{head}{body}").as_bytes()).await;
            }
        });
        KeyServer { url, keys }
    }

    /// Publishes exactly these test keys (and retires any other).
    fn publish(&self, keys: &[&TestKey]) {
        let jwks: Vec<_> = keys
            .iter()
            .map(|key| json!({"kty": "RSA", "kid": key.kid, "alg": "RS256", "use": "sig", "n": key.modulus.trim(), "e": "AQAB"}))
            .collect();
        *self.keys.lock().unwrap() = json!({ "keys": jwks }).to_string();
    }
}

/// An RSA key made for tests only (lambda/src/auth/test-rsa-key*.{der.b64,n.txt}).
struct TestKey {
    kid: &'static str,
    der_base64: &'static str,
    modulus: &'static str,
}

const KEY_1: TestKey = TestKey {
    kid: "key-1",
    der_base64: include_str!("../lambda/src/auth/test-rsa-key.der.b64"),
    modulus: include_str!("../lambda/src/auth/test-rsa-key.n.txt"),
};
const KEY_2: TestKey = TestKey {
    kid: "key-2",
    der_base64: include_str!("../lambda/src/auth/test-rsa-key-2.der.b64"),
    modulus: include_str!("../lambda/src/auth/test-rsa-key-2.n.txt"),
};

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "markets-api";

fn rs256_token(key: &TestKey, user: &User) -> String {
    let claims = markets_lambda::auth::Claims {
        sub: user.id.clone(),
        role: user.role,
        exp: api_tests::now() + 600,
        name: None,
        email: None,
        iss: Some(ISSUER.into()),
        aud: Some(AUDIENCE.into()),
    };
    let der = base64::engine::general_purpose::STANDARD.decode(key.der_base64.trim()).unwrap();
    let header =
        jsonwebtoken::Header { kid: Some(key.kid.into()), ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256) };
    jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_rsa_der(&der)).unwrap()
}

#[tokio::test]
async fn a_warm_function_follows_the_identity_providers_key_rotation() {
    let provider = KeyServer::start().await;
    provider.publish(&[&KEY_1]);
    let params =
        [format!("JwtJwksUrl={}", provider.url), format!("JwtIssuer={ISSUER}"), format!("JwtAudience={AUDIENCE}")];
    // One instance, so every request below meets the same warm process.
    let mut args = vec!["--max-instances", "1", "--env", "JWT_JWKS_MIN_REFETCH_SECONDS=0"];
    for param in &params {
        args.extend(["--param", param]);
    }
    let stack = Stack::start_with(&args);
    let alice = User::new(Role::User);
    let stack = &stack;
    let create = |token: String| async move {
        let reply = stack.post("/api/markets").bearer(token).json(json!({"name": "x"})).await;
        (reply.status, reply.header("x-request-id").unwrap_or_default().to_owned())
    };
    let (status, first) = create(rs256_token(&KEY_1, &alice)).await;
    assert_eq!(status, StatusCode::CREATED);

    provider.publish(&[&KEY_2]);
    let (status, rotated) = create(rs256_token(&KEY_2, &alice)).await;
    assert_eq!(status, StatusCode::CREATED, "the new key is fetched on its first use");
    assert_eq!(create(rs256_token(&KEY_1, &alice)).await.0, StatusCode::UNAUTHORIZED, "the retired key is refused");
    assert_eq!(create(alice.token()).await.0, StatusCode::UNAUTHORIZED, "no HS256 in RS256 mode");

    assert_eq!(stack.request_log(&first)["cold_start"], true);
    assert_eq!(stack.request_log(&rotated)["cold_start"], false, "the same instance, still warm");
}

/// An RS256 token of `body` signed with `key`.
fn rs256_with(key: &TestKey, body: &serde_json::Value) -> String {
    let der = base64::engine::general_purpose::STANDARD.decode(key.der_base64.trim()).unwrap();
    let header =
        jsonwebtoken::Header { kid: Some(key.kid.into()), ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256) };
    jsonwebtoken::encode(&header, body, &jsonwebtoken::EncodingKey::from_rsa_der(&der)).unwrap()
}

/// In JWKS mode a token's `role` claim (an identity provider's user-writable attribute) makes no
/// one a moderator: the role comes from the groups claim (Cognito's `cognito:groups` by default).
#[tokio::test]
async fn jwks_roles_come_from_cognito_groups_not_from_a_role_claim() {
    let provider = KeyServer::start().await;
    provider.publish(&[&KEY_1]);
    let params =
        [format!("JwtJwksUrl={}", provider.url), format!("JwtIssuer={ISSUER}"), format!("JwtAudience={AUDIENCE}")];
    let mut args = vec![];
    for param in &params {
        args.extend(["--param", param.as_str()]);
    }
    let stack = Stack::start_with(&args);
    let token = |sub: &str, extra: serde_json::Value| {
        let mut body = json!({"sub": sub, "exp": api_tests::now() + 600, "iss": ISSUER, "aud": AUDIENCE});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        rs256_with(&KEY_1, &body)
    };
    let created =
        stack.post("/api/markets").bearer(token("alice", json!({"role": "user"}))).json(json!({"name": "x"})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let path = format!("/api/markets/{}", created.body["data"]["id"].as_str().unwrap());

    let self_made_admin = token("mallory", json!({"role": "admin"}));
    let reply = stack.delete(&path).bearer(self_made_admin).await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::FORBIDDEN, "FORBIDDEN"), "{}", reply.text);
    let moderator = token("mia", json!({"cognito:groups": ["moderator"]}));
    assert_eq!(stack.delete(&path).bearer(moderator).await.status, StatusCode::NO_CONTENT);
}
