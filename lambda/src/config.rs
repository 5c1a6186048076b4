//! Typed settings read once per cold start from the environment that template.yaml sets: the
//! edge's own (tokens, secrets) and the plain settings the core and the adapters are given.

use std::env;
use std::time::Duration;

use markets_aws::settings::{CacheSettings, DEFAULT_WRITE_SHARDS, SdkTimeouts, Tables};
use markets_core::jobs::DEFAULT_SWEEP_GRACE;
use markets_core::service::RateLimit;

/// The shortest signing secret we accept: shorter ones are guessable offline from any token.
pub const MIN_SECRET_BYTES: usize = 32;

/// The local stack's token secret (dev/local.py puts it into moto's Secrets Manager; the token
/// command signs with it). Published in this repository, so refused unless the endpoint is local.
pub const LOCAL_DEV_JWT_SECRET: &str = "local-dev-secret-change-me-0123456789abcdef";

const MAX_WRITE_SHARDS: usize = 64;

pub const BEDROCK_DEFAULT_MODEL: &str = "amazon.titan-embed-text-v2:0";

/// A setting that is missing or unsafe; the function refuses to start with it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("{0} is not valid")]
    Invalid(&'static str),
    #[error("the secret of {0} must be at least {MIN_SECRET_BYTES} bytes (got {1})")]
    ShortSecret(&'static str, usize),
    #[error(
        "the secret of {0} is the development secret published in this repository (only a local endpoint may use it)"
    )]
    DevelopmentSecret(&'static str),
}

/// How bearer tokens are verified, as configured: where the keys are, not the keys themselves
/// (those are loaded at cold start, see `runtime`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    pub keys: TokenKeys,
    pub claims: ClaimRules,
    /// The secret that signs pagination cursors (only the functions that page have it).
    pub cursor_secret_arn: Option<String>,
}

/// Where the token-verifying keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKeys {
    /// HS256 with the secret stored in Secrets Manager under this ARN (or name).
    Secret { arn: String },
    /// RS256 with an identity provider's published keys (e.g. Cognito's JWKS).
    Jwks(JwksSettings),
}

/// The identity provider's key set and how long its keys are trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksSettings {
    pub url: String,
    /// Keys are fetched again after this long, so a warm instance follows a key rotation.
    pub cache_ttl: Duration,
    /// A token with an unknown `kid` fetches the keys again, at most this often (unknown ids are
    /// cheap to forge; the identity provider must not be hammered).
    pub min_refetch: Duration,
}

/// The claims a token must carry besides `sub` and `exp`, and where its role comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimRules {
    pub issuer: Option<String>,
    /// Matched against `aud`, or against `client_id` for Cognito access tokens (which have no `aud`).
    pub audience: Option<String>,
    pub role: RoleClaim,
}

/// Where a token's role comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RoleClaim {
    /// The `role` claim (admin, moderator or user), required: what this API's own HS256 secret
    /// signs, or an identity provider's claim that only its administrators can set.
    #[default]
    Role,
    /// A claim of group names that the identity provider sets and its users cannot (Cognito's
    /// `cognito:groups`): a group `admin` or `moderator` gives that role, none of them `user`. An
    /// identity provider's user-writable attribute (a custom `role`) must never decide.
    Groups(String),
}

/// The claim JWKS mode takes roles from unless `JWT_ROLE_CLAIM` names another.
pub const DEFAULT_JWKS_ROLE_CLAIM: &str = "cognito:groups";

impl AuthSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(optional)
    }

    /// The settings from `var` (the environment, or a test's variables).
    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut claims = ClaimRules { issuer: var("JWT_ISSUER"), audience: var("JWT_AUDIENCE"), role: RoleClaim::Role };
        let seconds =
            |name: &'static str, default: u64| parse_number(name, var(name), default).map(Duration::from_secs);
        let keys = match var("JWT_JWKS_URL") {
            Some(url) => {
                // A forged key set would let anyone mint tokens: only TLS, or a test server on this machine.
                if !(url.starts_with("https://") || (url.starts_with("http://") && is_loopback_url(&url))) {
                    return Err(ConfigError::Invalid("JWT_JWKS_URL (https, or http on a loopback address)"));
                }
                // Any token the provider signs for any of its clients would do otherwise.
                if claims.issuer.is_none() {
                    return Err(ConfigError::Missing("JWT_ISSUER (required with JWT_JWKS_URL)"));
                }
                if claims.audience.is_none() {
                    return Err(ConfigError::Missing("JWT_AUDIENCE (required with JWT_JWKS_URL)"));
                }
                claims.role = match var("JWT_ROLE_CLAIM").as_deref().unwrap_or(DEFAULT_JWKS_ROLE_CLAIM) {
                    "role" => RoleClaim::Role,
                    groups => RoleClaim::Groups(groups.to_owned()),
                };
                TokenKeys::Jwks(JwksSettings {
                    url,
                    cache_ttl: seconds("JWT_JWKS_CACHE_SECONDS", 3600)?,
                    min_refetch: seconds("JWT_JWKS_MIN_REFETCH_SECONDS", 10)?,
                })
            }
            None => TokenKeys::Secret { arn: var("JWT_SECRET_ARN").ok_or(ConfigError::Missing("JWT_SECRET_ARN"))? },
        };
        Ok(Self { keys, claims, cursor_secret_arn: var("CURSOR_SECRET_ARN") })
    }
}

/// A secret's value, checked: long enough, and not a published development secret unless
/// `endpoint_is_local` (the Secrets Manager it came from runs on this machine, i.e. moto).
pub fn checked_secret(setting: &'static str, value: String, endpoint_is_local: bool) -> Result<Vec<u8>, ConfigError> {
    if value.len() < MIN_SECRET_BYTES {
        return Err(ConfigError::ShortSecret(setting, value.len()));
    }
    if value == LOCAL_DEV_JWT_SECRET && !endpoint_is_local {
        return Err(ConfigError::DevelopmentSecret(setting));
    }
    Ok(value.into_bytes())
}

/// The endpoint Secrets Manager calls go to, when overridden (`AWS_ENDPOINT_URL_SECRETS_MANAGER`,
/// else `AWS_ENDPOINT_URL`, the SDK's own order); `None` is AWS itself.
pub fn secrets_endpoint() -> Option<String> {
    optional("AWS_ENDPOINT_URL_SECRETS_MANAGER").or_else(|| optional("AWS_ENDPOINT_URL"))
}

/// Whether `url`'s host is this machine (`localhost`, 127.0.0.0/8, `::1`).
pub fn is_loopback_url(url: &str) -> bool {
    let Ok(uri) = url.parse::<lambda_http::http::Uri>() else { return false };
    let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Which embedder turns text into vectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbedderKind {
    /// The built-in hashing embedder: no network, no model.
    Local,
    /// Amazon Bedrock, with this model id.
    Bedrock(String),
}

/// Tunables of the request path, with defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub rate_limit: RateLimit,
    /// The outbox sweeper sends only jobs older than this (their publisher is done by then).
    pub sweep_grace: Duration,
    pub sdk_timeouts: SdkTimeouts,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            rate_limit: RateLimit { limit: 100, window_seconds: 60 },
            sweep_grace: DEFAULT_SWEEP_GRACE,
            sdk_timeouts: SdkTimeouts::default(),
        }
    }
}

/// The shared cache's settings: `CACHE_ENDPOINT`, `CACHE_TIMEOUT_MS`, `CACHE_TTL_SECONDS`.
fn cache_settings_from_env() -> Result<CacheSettings, ConfigError> {
    let defaults = CacheSettings::default();
    Ok(CacheSettings {
        endpoint: optional("CACHE_ENDPOINT"),
        timeout: Duration::from_millis(number("CACHE_TIMEOUT_MS", defaults.timeout.as_millis() as u64)?.max(1)),
        ttl: Duration::from_secs(number("CACHE_TTL_SECONDS", defaults.ttl.as_secs())?.max(1)),
    })
}

/// An optional numeric setting.
fn number(name: &'static str, default: u64) -> Result<u64, ConfigError> {
    parse_number(name, optional(name), default)
}

fn parse_number(name: &'static str, value: Option<String>, default: u64) -> Result<u64, ConfigError> {
    match value {
        None => Ok(default),
        Some(text) => text.parse().map_err(|_| ConfigError::Invalid(name)),
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            rate_limit: RateLimit {
                limit: number("RATE_LIMIT_PER_MINUTE", defaults.rate_limit.limit)?,
                window_seconds: number("RATE_LIMIT_WINDOW_SECONDS", defaults.rate_limit.window_seconds)?.max(1),
            },
            sweep_grace: Duration::from_secs(number("OUTBOX_GRACE_SECONDS", defaults.sweep_grace.as_secs())?),
            sdk_timeouts: SdkTimeouts::scaled(
                u32::try_from(number("SDK_TIMEOUT_SCALE", 1)?)
                    .ok()
                    .filter(|scale| *scale >= 1)
                    .ok_or(ConfigError::Invalid("SDK_TIMEOUT_SCALE (a whole number from 1)"))?,
            ),
        })
    }
}

/// Everything the functions need (each reads it all: the names are not secrets, and IAM decides
/// what each function may touch).
#[derive(Debug, Clone)]
pub struct Config {
    pub tables: Tables,
    pub index_queue_url: String,
    /// The S3 Vectors index search reads and the index worker writes.
    pub vector_index_arn: String,
    pub embedder: EmbedderKind,
    pub settings: Settings,
    pub cache: CacheSettings,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let embedder = match optional("EMBEDDER").as_deref() {
            None | Some("local") => EmbedderKind::Local,
            Some("bedrock") => {
                EmbedderKind::Bedrock(optional("BEDROCK_MODEL_ID").unwrap_or_else(|| BEDROCK_DEFAULT_MODEL.to_owned()))
            }
            Some(_) => return Err(ConfigError::Invalid("EMBEDDER (local or bedrock)")),
        };
        Ok(Self {
            tables: tables_from_env()?,
            index_queue_url: required("INDEX_QUEUE_URL")?,
            vector_index_arn: required("VECTOR_INDEX_ARN")?,
            embedder,
            settings: Settings::from_env()?,
            cache: cache_settings_from_env()?,
        })
    }
}

/// The tables' names (`MARKETS_TABLE`, ...) and `WRITE_SHARDS`.
fn tables_from_env() -> Result<Tables, ConfigError> {
    let write_shards = match optional("WRITE_SHARDS") {
        None => DEFAULT_WRITE_SHARDS,
        Some(text) => text
            .parse()
            .ok()
            .filter(|shards| (1..=MAX_WRITE_SHARDS).contains(shards))
            .ok_or(ConfigError::Invalid("WRITE_SHARDS (1 to 64)"))?,
    };
    Ok(Tables {
        write_shards,
        markets: required("MARKETS_TABLE")?,
        positions: required("POSITIONS_TABLE")?,
        users: required("USERS_TABLE")?,
        idempotency: required("IDEMPOTENCY_TABLE")?,
        outbox: required("OUTBOX_TABLE")?,
        rate_limits: required("RATE_LIMIT_TABLE")?,
    })
}

fn required(name: &'static str) -> Result<String, ConfigError> {
    optional(name).ok_or(ConfigError::Missing(name))
}

/// Unset and empty mean the same: template.yaml passes empty parameters as "".
fn optional(name: &str) -> Option<String> {
    env::var(name).ok().filter(|value| !value.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_short_secrets_and_the_development_secret_on_a_remote_endpoint() {
        assert!(matches!(checked_secret("JWT_SECRET_ARN", "short".into(), true), Err(ConfigError::ShortSecret(_, 5))));
        let dev = || LOCAL_DEV_JWT_SECRET.to_owned();
        assert!(matches!(checked_secret("JWT_SECRET_ARN", dev(), false), Err(ConfigError::DevelopmentSecret(_))));
        assert!(checked_secret("JWT_SECRET_ARN", dev(), true).is_ok());
        let generated = "Xk2q9ZrT7bWm4NcV8pLs3HdJ6yFg1QaE".to_owned();
        assert_eq!(checked_secret("JWT_SECRET_ARN", generated.clone(), false).unwrap(), generated.as_bytes());
    }

    fn settings(vars: &[(&str, &str)]) -> Result<AuthSettings, ConfigError> {
        AuthSettings::from_vars(|name| vars.iter().find(|(key, _)| *key == name).map(|(_, value)| value.to_string()))
    }

    #[test]
    fn a_jwks_url_must_be_https_and_come_with_issuer_and_audience() {
        let jwks = |url: &'static str| {
            [("JWT_JWKS_URL", url), ("JWT_ISSUER", "https://issuer.example"), ("JWT_AUDIENCE", "markets")]
        };
        let https = settings(&jwks("https://issuer.example/.well-known/jwks.json")).unwrap();
        assert!(matches!(https.keys, TokenKeys::Jwks(JwksSettings { min_refetch, .. }) if min_refetch.as_secs() == 10));
        assert!(settings(&jwks("http://127.0.0.1:8080/jwks.json")).is_ok(), "a local test server");
        assert!(matches!(settings(&jwks("http://issuer.example/jwks.json")), Err(ConfigError::Invalid(_))));
        let url = ("JWT_JWKS_URL", "https://issuer.example/jwks.json");
        assert!(matches!(settings(&[url, ("JWT_AUDIENCE", "markets")]), Err(ConfigError::Missing(_))));
        assert!(matches!(settings(&[url, ("JWT_ISSUER", "https://issuer.example")]), Err(ConfigError::Missing(_))));
        assert!(matches!(settings(&[]), Err(ConfigError::Missing("JWT_SECRET_ARN"))), "HS256 needs its secret");
        let hs256 = settings(&[("JWT_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:1:secret:jwt")]).unwrap();
        assert!(matches!(hs256.keys, TokenKeys::Secret { .. }) && hs256.cursor_secret_arn.is_none());
    }

    #[test]
    fn jwks_mode_takes_roles_from_cognito_groups_unless_told_otherwise_and_hs256_from_role() {
        let jwks =
            [("JWT_JWKS_URL", "https://i.example/jwks"), ("JWT_ISSUER", "https://i.example"), ("JWT_AUDIENCE", "m")];
        assert_eq!(settings(&jwks).unwrap().claims.role, RoleClaim::Groups("cognito:groups".into()));
        let with = |claim| settings(&[jwks.as_slice(), &[("JWT_ROLE_CLAIM", claim)]].concat()).unwrap().claims.role;
        assert_eq!(with("groups"), RoleClaim::Groups("groups".into()));
        assert_eq!(with("role"), RoleClaim::Role);
        let hs256 = [("JWT_SECRET_ARN", "arn:jwt"), ("JWT_ROLE_CLAIM", "cognito:groups")];
        assert_eq!(settings(&hs256).unwrap().claims.role, RoleClaim::Role, "this API's own tokens");
    }

    #[test]
    fn only_this_machine_is_local() {
        for url in ["http://127.0.0.1:4566", "http://localhost:3000/x", "http://[::1]:9000", "http://127.5.0.1"] {
            assert!(is_loopback_url(url), "{url}");
        }
        for url in [
            "https://secretsmanager.us-east-1.amazonaws.com",
            "http://10.0.0.1:4566",
            "http://127.0.0.1.evil.example",
            "nonsense",
        ] {
            assert!(!is_loopback_url(url), "{url}");
        }
    }
}
