//! Who is calling and what they may do: JWT verification and the role → permission table.

mod jwt;
mod roles;

pub use jwt::{Authenticator, Claims, mint_token};
pub use roles::{Caller, Permission, Principal, Role};
