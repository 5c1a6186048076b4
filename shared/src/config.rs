//! Typed settings read once per cold start from the environment that template.yaml sets.

use std::env;

pub use crate::repo::dynamodb::Tables;

/// The shortest HS256 secret we accept: shorter ones are guessable offline from any token.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// The local stack's secret (dev/local.py, the token command, events/): never deploy it, since
/// template.yaml takes the real secret as a parameter.
pub const LOCAL_DEV_JWT_SECRET: &str = "local-dev-secret-change-me-0123456789abcdef";

/// A setting that is missing or unsafe; the function refuses to start with it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("{0}")]
    Invalid(&'static str),
    #[error("JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes (got {0})")]
    ShortSecret(usize),
}

/// How bearer tokens are verified.
#[derive(Clone)]
pub struct AuthConfig {
    pub jwt_secret: Vec<u8>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("jwt_secret", &"<redacted>")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

impl AuthConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let secret = env::var("JWT_SECRET").map_err(|_| ConfigError::Missing("JWT_SECRET"))?;
        Self::new(secret.into_bytes(), optional("JWT_ISSUER"), optional("JWT_AUDIENCE"))
    }

    pub fn new(jwt_secret: Vec<u8>, issuer: Option<String>, audience: Option<String>) -> Result<Self, ConfigError> {
        if jwt_secret.len() < MIN_JWT_SECRET_BYTES {
            return Err(ConfigError::ShortSecret(jwt_secret.len()));
        }
        Ok(Self { jwt_secret, issuer, audience })
    }
}

/// Which embedder turns text into vectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbedderKind {
    /// The built-in hashing embedder: no network, no model.
    Local,
    /// Amazon Bedrock, with this model id.
    Bedrock(String),
}

/// Everything the functions need (each reads it all: the names are not secrets, and IAM decides
/// what each function may touch).
#[derive(Debug, Clone)]
pub struct Config {
    pub tables: Tables,
    pub index_queue_url: String,
    pub embedder: EmbedderKind,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let embedder = match optional("EMBEDDER").as_deref() {
            None | Some("local") => EmbedderKind::Local,
            Some("bedrock") => EmbedderKind::Bedrock(
                optional("BEDROCK_MODEL_ID").unwrap_or_else(|| crate::search::BEDROCK_DEFAULT_MODEL.to_owned()),
            ),
            Some(_) => return Err(ConfigError::Invalid("EMBEDDER must be local or bedrock")),
        };
        Ok(Self { tables: Tables::from_env()?, index_queue_url: required("INDEX_QUEUE_URL")?, embedder })
    }
}

impl Tables {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            markets: required("MARKETS_TABLE")?,
            positions: required("POSITIONS_TABLE")?,
            users: required("USERS_TABLE")?,
            idempotency: required("IDEMPOTENCY_TABLE")?,
            outbox: required("OUTBOX_TABLE")?,
            vectors: required("VECTORS_TABLE")?,
        })
    }
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
    fn refuses_short_secrets_and_hides_the_secret_in_debug() {
        assert!(matches!(AuthConfig::new(b"short".to_vec(), None, None), Err(ConfigError::ShortSecret(5))));
        let config = AuthConfig::new(b"0123456789abcdef0123456789abcdef".to_vec(), None, None).unwrap();
        assert!(!format!("{config:?}").contains("0123456789"));
    }
}
