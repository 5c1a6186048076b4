//! Who may do what: roles, the permissions each grants, and the authenticated user a request acts
//! for. Verifying who that is belongs to the edge (`markets_lambda::auth`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Moderator,
    Admin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Read,
    Write,
    /// Editing a market someone else created (the contract's "creator or moderator/admin").
    EditOthers,
    Delete,
    Admin,
}

impl Role {
    /// The contract's role table, plus `EditOthers` for the roles that may edit any market.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::User => &[Read, Write],
            Role::Moderator => &[Read, Write, EditOthers, Delete],
            Role::Admin => &[Read, Write, EditOthers, Delete, Admin],
        }
    }

    pub fn can(self, permission: Permission) -> bool {
        self.permissions().contains(&permission)
    }
}

/// An authenticated user, from a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub role: Role,
    pub name: Option<String>,
    pub email: Option<String>,
}

impl Principal {
    pub fn can(&self, permission: Permission) -> bool {
        self.role.can(permission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_moderators_and_admins_edit_others_markets() {
        assert!(!Role::User.can(Permission::EditOthers));
        assert!(Role::Moderator.can(Permission::EditOthers) && Role::Admin.can(Permission::EditOthers));
        assert!(!Role::Moderator.can(Permission::Admin));
    }
}
