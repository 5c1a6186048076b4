//! Who is calling and what they may do: JWT verification (HS256 with a shared secret, or RS256
//! with an identity provider's JWKS) and the role → permission table.

mod caller;
mod jwks;
mod jwt;

pub use caller::Caller;
pub use jwks::JwksKeys;
pub use jwt::{Authenticator, CLOCK_SKEW_SECONDS, Claims, mint_token};
