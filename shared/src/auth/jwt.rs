//! Bearer-token verification with a pinned algorithm (HS256), built once per cold start.

use std::collections::HashMap;

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode};
use lambda_http::http::HeaderMap;
use serde::{Deserialize, Serialize};

use super::{Caller, Principal, Role};
use crate::config::AuthConfig;
use crate::domain::unix_seconds;
use crate::error::ApiError;

/// The claims we read; `sub`, `role` and `exp` are required.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// What a verified token tells us. `iss`, `aud` and `exp` are checked by the validation itself
/// (`aud` may be a string or a list, so it is not read here); `nbf` and `iat` are checked here,
/// with [`CLOCK_SKEW_SECONDS`] of leeway (NumericDates may have a fraction, hence `f64`).
#[derive(Deserialize)]
struct VerifiedClaims {
    sub: String,
    role: Role,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    nbf: Option<f64>,
    #[serde(default)]
    iat: Option<f64>,
}

/// An `Authorization` value longer than this is refused before it is decoded: real tokens are
/// well under 2 KiB, and decoding a huge one would only cost memory and time.
pub const MAX_AUTHORIZATION_BYTES: usize = 8 * 1024;

/// How far ahead of our clock a token's `nbf` or `iat` may be (the issuer's clock may run fast).
/// `exp` gets no leeway: an expired token is refused at once.
pub const CLOCK_SKEW_SECONDS: u64 = 60;

const INVALID: ApiError = ApiError::InvalidToken("the bearer token is invalid or expired");

/// The keys tokens may be signed with.
enum Keys {
    /// HS256 with the shared secret.
    Secret(DecodingKey),
    /// RS256 with an identity provider's keys, by key id (`kid`).
    Published(HashMap<String, DecodingKey>),
}

/// Verifies tokens; the keys and the validation rules are built once.
pub struct Authenticator {
    keys: Keys,
    validation: Validation,
}

impl Authenticator {
    /// HS256 with the configured secret.
    pub fn new(config: &AuthConfig) -> Self {
        Self {
            keys: Keys::Secret(DecodingKey::from_secret(&config.jwt_secret)),
            validation: validation(config, Algorithm::HS256),
        }
    }

    /// RS256 with the RSA keys of a JWKS (keys of other kinds or without a `kid` are skipped).
    pub fn with_jwks(config: &AuthConfig, jwks: &JwkSet) -> Self {
        let keys = jwks
            .keys
            .iter()
            .filter(|jwk| matches!(jwk.algorithm, AlgorithmParameters::RSA(_)))
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?)))
            .collect();
        Self { keys: Keys::Published(keys), validation: validation(config, Algorithm::RS256) }
    }

    /// The key a token names: in HS256 mode the one secret, which has no key id, so a token
    /// naming a `kid` names a key we do not have.
    fn key_for(&self, token: &str) -> Option<&DecodingKey> {
        let kid = decode_header(token).ok()?.kid;
        match (&self.keys, kid) {
            (Keys::Secret(key), None) => Some(key),
            (Keys::Secret(_), Some(_)) => None,
            (Keys::Published(keys), kid) => keys.get(&kid?),
        }
    }

    /// The caller behind the `Authorization` header: anonymous without one, 401 for a bad one.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let Some(value) = headers.get("authorization") else { return Ok(Caller::anonymous()) };
        if value.len() > MAX_AUTHORIZATION_BYTES {
            return Err(ApiError::InvalidToken("the bearer token is too long"));
        }
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            // The scheme is case-insensitive (RFC 7235).
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::InvalidToken("the Authorization header must be `Bearer <token>`"))?;
        let key = self.key_for(token).ok_or(INVALID)?;
        let claims = decode::<VerifiedClaims>(token, key, &self.validation)
            .map_err(|error| {
                tracing::debug!(%error, "token rejected");
                INVALID
            })?
            .claims;
        let latest = (unix_seconds() + CLOCK_SKEW_SECONDS) as f64;
        if claims.nbf.is_some_and(|nbf| nbf > latest) || claims.iat.is_some_and(|iat| iat > latest) {
            return Err(ApiError::InvalidToken("the bearer token is not valid yet"));
        }
        if claims.sub.trim().is_empty() {
            return Err(ApiError::InvalidToken("the bearer token has no subject"));
        }
        Ok(Caller(Some(Principal { user_id: claims.sub, role: claims.role, name: claims.name, email: claims.email })))
    }
}

/// The rules every token must pass. Pinning the algorithm refuses `alg: none` and HS/RS confusion.
fn validation(config: &AuthConfig, algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.leeway = 0;
    let mut required = vec!["exp", "sub"];
    if let Some(issuer) = &config.issuer {
        validation.set_issuer(&[issuer]);
        required.push("iss");
    }
    match &config.audience {
        Some(audience) => {
            validation.set_audience(&[audience]);
            required.push("aud");
        }
        None => validation.validate_aud = false,
    }
    validation.set_required_spec_claims(&required);
    validation
}

/// Signs an HS256 token: for the dev token command and tests, never on a request path.
pub fn mint_token(secret: &[u8], claims: &Claims) -> String {
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret))
        .expect("HS256 signing cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::jwk::JwkSet;

    const SECRET: &[u8] = b"unit-test-secret-0123456789abcdef0123";

    use crate::domain::unix_seconds as now;

    fn claims() -> Claims {
        Claims { sub: "alice".into(), role: Role::User, exp: now() + 60, name: None, email: None, iss: None, aud: None }
    }

    fn authenticate(auth: &Authenticator, token: &str) -> Result<Caller, ApiError> {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
        auth.authenticate(&headers)
    }

    fn authenticator(issuer: Option<&str>) -> Authenticator {
        Authenticator::new(&AuthConfig::new(SECRET.to_vec(), issuer.map(Into::into), None).unwrap())
    }

    #[test]
    fn accepts_a_valid_token() {
        let caller = authenticate(&authenticator(None), &mint_token(SECRET, &claims())).unwrap();
        assert_eq!(caller.principal().unwrap().user_id, "alice");
        assert_eq!(authenticator(None).authenticate(&HeaderMap::new()).unwrap(), Caller::anonymous());
    }

    #[test]
    fn refuses_forged_expired_unsigned_and_incomplete_tokens() {
        let auth = authenticator(None);
        let forged = mint_token(b"another-secret-0123456789abcdef0123456", &claims());
        let expired = mint_token(SECRET, &Claims { exp: now() - 10, ..claims() });
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).unwrap());
        let unsigned = format!("{header}.{payload}.");
        let no_role = {
            let body = serde_json::json!({"sub": "alice", "exp": now() + 60});
            encode(&Header::new(Algorithm::HS256), &body, &EncodingKey::from_secret(SECRET)).unwrap()
        };
        for token in [forged, expired, unsigned, no_role, "not-a-jwt".to_owned()] {
            assert!(matches!(authenticate(&auth, &token), Err(ApiError::InvalidToken(_))), "{token}");
        }
    }

    fn signed(body: serde_json::Value, kid: Option<&str>) -> String {
        let header = Header { kid: kid.map(Into::into), ..Header::new(Algorithm::HS256) };
        encode(&header, &body, &EncodingKey::from_secret(SECRET)).unwrap()
    }

    #[test]
    fn refuses_tokens_not_yet_valid_malformed_claims_unknown_keys_and_huge_values() {
        let auth = authenticator(None);
        let skew = CLOCK_SKEW_SECONDS;
        let base = || serde_json::json!({"sub": "alice", "role": "user", "exp": now() + 600});
        let with = |claim: &str, value: serde_json::Value| {
            let mut body = base();
            body[claim] = value;
            body
        };
        // Within the clock skew a token is fine; beyond it, it is not valid yet.
        for claim in ["nbf", "iat"] {
            assert!(authenticate(&auth, &signed(with(claim, (now() + skew / 2).into()), None)).is_ok(), "{claim}");
            let future = signed(with(claim, (now() + 3600).into()), None);
            assert!(matches!(authenticate(&auth, &future), Err(ApiError::InvalidToken(_))), "{claim}");
        }
        let refused = [
            signed(with("exp", (now() + 600).to_string().into()), None),
            signed(with("nbf", "soon".into()), None),
            signed(base(), Some("nowhere")),
            signed(with("name", "x".repeat(MAX_AUTHORIZATION_BYTES).into()), None),
        ];
        for token in refused {
            assert!(matches!(authenticate(&auth, &token), Err(ApiError::InvalidToken(_))), "{token:.80}");
        }
        let mut headers = HeaderMap::new();
        headers.insert("authorization", format!("bEaReR {}", signed(base(), None)).parse().unwrap());
        assert!(auth.authenticate(&headers).is_ok(), "the scheme is case-insensitive");
        headers.insert("authorization", "Basic YWxpY2U6cHc=".parse().unwrap());
        assert!(matches!(auth.authenticate(&headers), Err(ApiError::InvalidToken(_))));
    }

    /// An RSA key made for these tests only (PKCS#1 DER, base64) and its public modulus.
    const TEST_RSA_DER: &str = include_str!("test-rsa-key.der.b64");
    const TEST_RSA_N: &str = include_str!("test-rsa-key.n.txt");

    fn rs256(claims: &Claims, kid: Option<&str>) -> String {
        let der = base64::engine::general_purpose::STANDARD.decode(TEST_RSA_DER.trim()).unwrap();
        let header = Header { kid: kid.map(Into::into), ..Header::new(Algorithm::RS256) };
        encode(&header, claims, &EncodingKey::from_rsa_der(&der)).unwrap()
    }

    #[test]
    fn verifies_rs256_tokens_against_published_keys_only() {
        let jwks: JwkSet = serde_json::from_value(serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "test-key", "alg": "RS256", "use": "sig", "n": TEST_RSA_N.trim(), "e": "AQAB"}
        ]}))
        .unwrap();
        let config = AuthConfig::new(SECRET.to_vec(), None, None).unwrap();
        let auth = Authenticator::with_jwks(&config, &jwks);
        let caller = authenticate(&auth, &rs256(&claims(), Some("test-key"))).unwrap();
        assert_eq!(caller.principal().unwrap().user_id, "alice");
        for token in [rs256(&claims(), Some("other-key")), rs256(&claims(), None), mint_token(SECRET, &claims())] {
            assert!(matches!(authenticate(&auth, &token), Err(ApiError::InvalidToken(_))), "{token}");
        }
        // And the other way round: an HS256 stack refuses RS256 tokens.
        assert!(authenticate(&authenticator(None), &rs256(&claims(), Some("test-key"))).is_err());
    }

    #[test]
    fn accepts_an_audience_list() {
        let auth = Authenticator::new(&AuthConfig::new(SECRET.to_vec(), None, Some("markets".into())).unwrap());
        let body = serde_json::json!({"sub": "alice", "role": "user", "exp": now() + 60, "aud": ["other", "markets"]});
        let token = encode(&Header::new(Algorithm::HS256), &body, &EncodingKey::from_secret(SECRET)).unwrap();
        assert!(authenticate(&auth, &token).is_ok());
        let wrong = serde_json::json!({"sub": "alice", "role": "user", "exp": now() + 60, "aud": "other"});
        let token = encode(&Header::new(Algorithm::HS256), &wrong, &EncodingKey::from_secret(SECRET)).unwrap();
        assert!(authenticate(&auth, &token).is_err());
    }

    #[test]
    fn checks_the_issuer_when_configured() {
        let auth = authenticator(Some("https://issuer.example"));
        assert!(authenticate(&auth, &mint_token(SECRET, &claims())).is_err());
        let good = Claims { iss: Some("https://issuer.example".into()), ..claims() };
        assert!(authenticate(&auth, &mint_token(SECRET, &good)).is_ok());
    }
}
