//! The caller of a request, and the 401/403 a route answers when it lacks a permission.

use crate::error::ApiError;
use markets_core::domain::{Permission, Principal};

/// The caller of a request: anonymous, or a verified principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub Option<Principal>);

impl Caller {
    pub fn anonymous() -> Self {
        Self(None)
    }

    pub fn principal(&self) -> Option<&Principal> {
        self.0.as_ref()
    }

    /// The principal if it holds `permission`: 401 when anonymous, 403 when not allowed.
    pub fn require(&self, permission: Permission) -> Result<&Principal, ApiError> {
        let principal = self.0.as_ref().ok_or(ApiError::Unauthorized("a bearer token is required"))?;
        if principal.can(permission) {
            Ok(principal)
        } else {
            Err(ApiError::Forbidden("your role does not allow this"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use markets_core::domain::Role;

    fn caller(role: Role) -> Caller {
        Caller(Some(Principal { user_id: "u1".into(), role, name: None, email: None }))
    }

    #[test]
    fn roles_grant_the_contract_permissions() {
        assert!(caller(Role::User).require(Permission::Write).is_ok());
        assert!(matches!(caller(Role::User).require(Permission::Delete), Err(ApiError::Forbidden(_))));
        assert!(caller(Role::Moderator).require(Permission::Delete).is_ok());
        assert!(matches!(caller(Role::Moderator).require(Permission::Admin), Err(ApiError::Forbidden(_))));
        assert!(caller(Role::Admin).require(Permission::Admin).is_ok());
        assert!(matches!(Caller::anonymous().require(Permission::Read), Err(ApiError::Unauthorized(_))));
    }
}
