//! Shared bits of the developer tools.

use markets_lambda::config::LOCAL_DEV_JWT_SECRET;

/// `JWT_SECRET` if set, else the local stack's dev secret.
pub fn jwt_secret() -> String {
    std::env::var("JWT_SECRET").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| LOCAL_DEV_JWT_SECRET.to_owned())
}
