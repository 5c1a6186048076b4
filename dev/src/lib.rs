//! Shared bits of the developer tools.

/// The local stack's JWT secret when `JWT_SECRET` is unset (dev/local.py uses the same value).
/// Never deploy it: template.yaml takes the real secret as a parameter.
pub const DEV_JWT_SECRET: &str = "local-dev-secret-change-me-0123456789abcdef";

/// `JWT_SECRET` if set, else [`DEV_JWT_SECRET`].
pub fn jwt_secret() -> String {
    std::env::var("JWT_SECRET").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| DEV_JWT_SECRET.to_owned())
}
