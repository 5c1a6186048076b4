//! Bearer-token verification with a pinned algorithm (HS256 with a secret, or RS256 with an
//! identity provider's keys), built once per cold start.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode};
use lambda_http::http::HeaderMap;
use serde::{Deserialize, Serialize};

use super::Caller;
use super::jwks::JwksKeys;
use crate::config::{ClaimRules, RoleClaim};
use crate::error::ApiError;
use markets_core::domain::unix_seconds;
use markets_core::domain::{Principal, Role};

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

/// What a verified token tells us. `iss` and `exp` are checked by the validation itself; the
/// audience, `nbf` and `iat` are checked here, the latter two with [`CLOCK_SKEW_SECONDS`] of leeway
/// (NumericDates may have a fraction, hence `f64`); the role is read from the claim the
/// [`RoleClaim`] names, among the `others`.
#[derive(Deserialize)]
struct VerifiedClaims {
    sub: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    nbf: Option<f64>,
    #[serde(default)]
    iat: Option<f64>,
    #[serde(default)]
    aud: Option<Audience>,
    /// Cognito access tokens name their app client here instead of in `aud`.
    #[serde(default)]
    client_id: Option<String>,
    /// Cognito's `access` or `id`: only access tokens are credentials for an API.
    #[serde(default)]
    token_use: Option<String>,
    #[serde(flatten)]
    others: serde_json::Map<String, serde_json::Value>,
}

/// `aud` is a string or a list of strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl VerifiedClaims {
    /// Whether the token was issued for `audience`: in `aud`, else (a Cognito access token) in `client_id`.
    fn is_for(&self, audience: &str) -> bool {
        match &self.aud {
            Some(Audience::One(aud)) => aud == audience,
            Some(Audience::Many(auds)) => auds.iter().any(|aud| aud == audience),
            None => self.client_id.as_deref() == Some(audience),
        }
    }

    /// The caller's role, as `claim` says where it is; `None` when a required `role` is missing
    /// or not a role.
    fn role(&self, claim: &RoleClaim) -> Option<Role> {
        match claim {
            RoleClaim::Role => Role::deserialize(self.others.get("role")?).ok(),
            RoleClaim::Groups(name) => {
                let groups = match self.others.get(name) {
                    Some(serde_json::Value::String(group)) => vec![group.as_str()],
                    Some(serde_json::Value::Array(groups)) => groups.iter().filter_map(|g| g.as_str()).collect(),
                    _ => Vec::new(),
                };
                let has = |role: &str| groups.contains(&role);
                Some(if has("admin") {
                    Role::Admin
                } else if has("moderator") {
                    Role::Moderator
                } else {
                    Role::User
                })
            }
        }
    }
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
    Published(Box<JwksKeys>),
}

/// Verifies tokens; the keys and the validation rules are built once.
pub struct Authenticator {
    keys: Keys,
    validation: Validation,
    audience: Option<String>,
    role: RoleClaim,
}

impl Authenticator {
    /// HS256 with this secret.
    pub fn with_secret(secret: &[u8], rules: &ClaimRules) -> Self {
        Self::new(Keys::Secret(DecodingKey::from_secret(secret)), rules, Algorithm::HS256)
    }

    /// RS256 with the RSA keys of a JWKS.
    pub fn with_jwks(keys: JwksKeys, rules: &ClaimRules) -> Self {
        Self::new(Keys::Published(Box::new(keys)), rules, Algorithm::RS256)
    }

    fn new(keys: Keys, rules: &ClaimRules, algorithm: Algorithm) -> Self {
        let audience = rules.audience.clone();
        Self { keys, validation: validation(rules, algorithm), audience, role: rules.role.clone() }
    }

    /// The key a token names: in HS256 mode the one secret, which has no key id, so a token
    /// naming a `kid` names a key we do not have.
    async fn key_for(&self, token: &str) -> Option<DecodingKey> {
        let kid = decode_header(token).ok()?.kid;
        match (&self.keys, kid) {
            (Keys::Secret(key), None) => Some(key.clone()),
            (Keys::Secret(_), Some(_)) => None,
            (Keys::Published(keys), kid) => keys.key(&kid?).await,
        }
    }

    /// The caller behind the `Authorization` header: anonymous without one, 401 for a bad one.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
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
        let key = self.key_for(token).await.ok_or(INVALID)?;
        let claims = decode::<VerifiedClaims>(token, &key, &self.validation)
            .map_err(|error| {
                tracing::debug!(%error, "token rejected");
                INVALID
            })?
            .claims;
        let latest = (unix_seconds() + CLOCK_SKEW_SECONDS) as f64;
        if claims.nbf.is_some_and(|nbf| nbf > latest) || claims.iat.is_some_and(|iat| iat > latest) {
            return Err(ApiError::InvalidToken("the bearer token is not valid yet"));
        }
        if self.audience.as_deref().is_some_and(|audience| !claims.is_for(audience)) {
            return Err(ApiError::InvalidToken("the bearer token is not for this API"));
        }
        if claims.token_use.as_deref().is_some_and(|token_use| token_use != "access") {
            return Err(ApiError::InvalidToken("the bearer token is not an access token"));
        }
        if claims.sub.trim().is_empty() {
            return Err(ApiError::InvalidToken("the bearer token has no subject"));
        }
        if claims.sub.len() > MAX_SUBJECT_BYTES {
            return Err(ApiError::InvalidToken("the bearer token's subject is longer than 1,024 bytes"));
        }
        let role = claims.role(&self.role).ok_or(INVALID)?;
        Ok(Caller(Some(Principal { user_id: claims.sub, role, name: claims.name, email: claims.email })))
    }
}

/// The longest user id: it is part of keys of at most 2,048 bytes, the rate counter's
/// (`user:<id>#<window>`) and the idempotency record's (with a client key of up to 512 bytes). A
/// longer one could be keyed nowhere: refused, not served without a limit.
const MAX_SUBJECT_BYTES: usize = 1024;

/// The rules every token must pass. Pinning the algorithm refuses `alg: none` and HS/RS confusion.
/// The audience is checked after decoding, since Cognito access tokens carry it in `client_id`.
fn validation(rules: &ClaimRules, algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.leeway = 0;
    validation.validate_aud = false;
    let mut required = vec!["exp", "sub"];
    if let Some(issuer) = &rules.issuer {
        validation.set_issuer(&[issuer]);
        required.push("iss");
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
    use crate::auth::jwks::tests::{jwks_server, key_set};
    use crate::config::JwksSettings;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use std::time::Duration;

    const SECRET: &[u8] = b"unit-test-secret-0123456789abcdef0123";

    use markets_core::domain::unix_seconds as now;

    fn claims() -> Claims {
        Claims { sub: "alice".into(), role: Role::User, exp: now() + 60, name: None, email: None, iss: None, aud: None }
    }

    async fn authenticate(auth: &Authenticator, token: &str) -> Result<Caller, ApiError> {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
        auth.authenticate(&headers).await
    }

    fn rules(issuer: Option<&str>, audience: Option<&str>) -> ClaimRules {
        ClaimRules { issuer: issuer.map(Into::into), audience: audience.map(Into::into), role: RoleClaim::Role }
    }

    fn authenticator(issuer: Option<&str>) -> Authenticator {
        Authenticator::with_secret(SECRET, &rules(issuer, None))
    }

    #[tokio::test]
    async fn accepts_a_valid_token() {
        let caller = authenticate(&authenticator(None), &mint_token(SECRET, &claims())).await.unwrap();
        assert_eq!(caller.principal().unwrap().user_id, "alice");
        assert_eq!(authenticator(None).authenticate(&HeaderMap::new()).await.unwrap(), Caller::anonymous());
    }

    #[tokio::test]
    async fn refuses_forged_expired_unsigned_and_incomplete_tokens() {
        let auth = authenticator(None);
        let forged = mint_token(b"another-secret-0123456789abcdef0123456", &claims());
        let expired = mint_token(SECRET, &Claims { exp: now() - 10, ..claims() });
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).unwrap());
        let unsigned = format!("{header}.{payload}.");
        let no_role = signed(serde_json::json!({"sub": "alice", "exp": now() + 60}), None);
        for token in [forged, expired, unsigned, no_role, "not-a-jwt".to_owned()] {
            assert!(matches!(authenticate(&auth, &token).await, Err(ApiError::InvalidToken(_))), "{token}");
        }
    }

    fn signed(body: serde_json::Value, kid: Option<&str>) -> String {
        let header = Header { kid: kid.map(Into::into), ..Header::new(Algorithm::HS256) };
        encode(&header, &body, &EncodingKey::from_secret(SECRET)).unwrap()
    }

    #[tokio::test]
    async fn refuses_tokens_not_yet_valid_malformed_claims_unknown_keys_and_huge_values() {
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
            assert!(
                authenticate(&auth, &signed(with(claim, (now() + skew / 2).into()), None)).await.is_ok(),
                "{claim}"
            );
            let future = signed(with(claim, (now() + 3600).into()), None);
            assert!(matches!(authenticate(&auth, &future).await, Err(ApiError::InvalidToken(_))), "{claim}");
        }
        let refused = [
            signed(with("exp", (now() + 600).to_string().into()), None),
            signed(with("nbf", "soon".into()), None),
            signed(base(), Some("nowhere")),
            signed(with("name", "x".repeat(MAX_AUTHORIZATION_BYTES).into()), None),
        ];
        for token in refused {
            assert!(matches!(authenticate(&auth, &token).await, Err(ApiError::InvalidToken(_))), "{token:.80}");
        }
        let mut headers = HeaderMap::new();
        headers.insert("authorization", format!("bEaReR {}", signed(base(), None)).parse().unwrap());
        assert!(auth.authenticate(&headers).await.is_ok(), "the scheme is case-insensitive");
        headers.insert("authorization", "Basic YWxpY2U6cHc=".parse().unwrap());
        assert!(matches!(auth.authenticate(&headers).await, Err(ApiError::InvalidToken(_))));
    }

    /// An RSA key made for these tests only (PKCS#1 DER, base64); its modulus is in `key_set`.
    const TEST_RSA_DER: &str = include_str!("test-rsa-key.der.b64");

    fn rs256(claims: &impl Serialize, kid: Option<&str>) -> String {
        let der = base64::engine::general_purpose::STANDARD.decode(TEST_RSA_DER.trim()).unwrap();
        let header = Header { kid: kid.map(Into::into), ..Header::new(Algorithm::RS256) };
        encode(&header, claims, &EncodingKey::from_rsa_der(&der)).unwrap()
    }

    async fn jwks_authenticator(rules: &ClaimRules) -> Authenticator {
        let (url, _) = jwks_server(vec![key_set("test-key")]).await;
        let settings = JwksSettings { url, cache_ttl: Duration::from_secs(60), min_refetch: Duration::from_secs(60) };
        Authenticator::with_jwks(JwksKeys::load(settings).await.unwrap(), rules)
    }

    #[tokio::test]
    async fn verifies_rs256_tokens_against_published_keys_only() {
        let issuer = "https://issuer.example";
        let auth = jwks_authenticator(&rules(Some(issuer), Some("markets"))).await;
        let good = Claims { iss: Some(issuer.into()), aud: Some("markets".into()), ..claims() };
        let caller = authenticate(&auth, &rs256(&good, Some("test-key"))).await.unwrap();
        assert_eq!(caller.principal().unwrap().user_id, "alice");
        let refused = [
            rs256(&good, Some("other-key")),
            rs256(&good, None),
            mint_token(SECRET, &good),
            rs256(&Claims { iss: None, ..good.clone() }, Some("test-key")),
            rs256(&Claims { aud: Some("another-app".into()), ..good.clone() }, Some("test-key")),
        ];
        for token in refused {
            assert!(matches!(authenticate(&auth, &token).await, Err(ApiError::InvalidToken(_))), "{token}");
        }
        // And the other way round: an HS256 stack refuses RS256 tokens.
        assert!(authenticate(&authenticator(None), &rs256(&claims(), Some("test-key"))).await.is_err());
    }

    #[tokio::test]
    async fn accepts_cognito_access_tokens_for_this_client_only() {
        let issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_pool";
        let auth = jwks_authenticator(&rules(Some(issuer), Some("app-client"))).await;
        let cognito = |client_id: &str, token_use: &str| {
            let body = serde_json::json!({"sub": "alice", "role": "user", "exp": now() + 60, "iss": issuer,
                "client_id": client_id, "token_use": token_use});
            rs256(&body, Some("test-key"))
        };
        assert!(authenticate(&auth, &cognito("app-client", "access")).await.is_ok());
        assert!(authenticate(&auth, &cognito("other-client", "access")).await.is_err());
        assert!(authenticate(&auth, &cognito("app-client", "id")).await.is_err());
    }

    #[tokio::test]
    async fn jwks_roles_come_from_the_groups_claim_never_from_a_role_users_can_write() {
        let issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_pool";
        let groups = RoleClaim::Groups("cognito:groups".into());
        let auth = jwks_authenticator(&ClaimRules { role: groups, ..rules(Some(issuer), Some("app")) }).await;
        let role_of = async |extra: serde_json::Value| {
            let mut body = serde_json::json!({"sub": "alice", "exp": now() + 60, "iss": issuer, "aud": "app"});
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            authenticate(&auth, &rs256(&body, Some("test-key"))).await.unwrap().principal().unwrap().role
        };
        assert_eq!(role_of(serde_json::json!({"role": "admin"})).await, Role::User, "a role the user wrote");
        assert_eq!(role_of(serde_json::json!({"cognito:groups": ["moderator"]})).await, Role::Moderator);
        assert_eq!(role_of(serde_json::json!({"cognito:groups": ["readers", "admin"]})).await, Role::Admin);
        assert_eq!(role_of(serde_json::json!({"cognito:groups": "moderator"})).await, Role::Moderator);
        assert_eq!(role_of(serde_json::json!({"cognito:groups": ["Admin"], "role": "admin"})).await, Role::User);
    }

    #[tokio::test]
    async fn accepts_an_audience_list() {
        let auth = Authenticator::with_secret(SECRET, &rules(None, Some("markets")));
        let listed = signed(
            serde_json::json!({"sub": "alice", "role": "user", "exp": now() + 60, "aud": ["other", "markets"]}),
            None,
        );
        assert!(authenticate(&auth, &listed).await.is_ok());
        let wrong =
            signed(serde_json::json!({"sub": "alice", "role": "user", "exp": now() + 60, "aud": "other"}), None);
        assert!(authenticate(&auth, &wrong).await.is_err());
        assert!(authenticate(&auth, &mint_token(SECRET, &claims())).await.is_err(), "no audience at all");
    }

    #[tokio::test]
    async fn checks_the_issuer_when_configured() {
        let auth = authenticator(Some("https://issuer.example"));
        assert!(authenticate(&auth, &mint_token(SECRET, &claims())).await.is_err());
        let good = Claims { iss: Some("https://issuer.example".into()), ..claims() };
        assert!(authenticate(&auth, &mint_token(SECRET, &good)).await.is_ok());
    }
}
