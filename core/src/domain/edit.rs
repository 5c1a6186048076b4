//! The rules of an edit: who may edit a market, the version it must be at, how a patch merges into
//! it, which status changes are allowed, and the version after it.

use super::{Market, MarketPatch, MarketStatus, Permission, Principal, now};

/// The version a conditional write expects (the HTTP edge reads it from `If-Match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// Write unconditionally (still guarded against lost updates by the version).
    Any,
    /// Write only over this version.
    Version(u64),
    /// A condition no version meets (an entity tag that is no version's): the write always fails.
    Never,
}

impl Precondition {
    /// The version a conditional write must find, if any; a condition no version meets fails.
    pub fn expected_version(self) -> Result<Option<u64>, EditRefused> {
        match self {
            Self::Any => Ok(None),
            Self::Version(version) => Ok(Some(version)),
            Self::Never => Err(EditRefused::PreconditionFailed),
        }
    }
}

/// Why an edit is not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EditRefused {
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("the market is not at the expected version")]
    PreconditionFailed,
    #[error("market status cannot change from {} to {}", from.as_str(), to.as_str())]
    InvalidTransition { from: MarketStatus, to: MarketStatus },
}

impl Market {
    /// This market after `patch` by `editor`, or `None` when the patch changes nothing. Only the
    /// creator or a user with [`Permission::EditOthers`] may edit; only an admin may resolve.
    pub fn edited(
        &self,
        editor: &Principal,
        patch: &MarketPatch,
        precondition: Precondition,
    ) -> Result<Option<Market>, EditRefused> {
        if editor.user_id != self.creator_id && !editor.can(Permission::EditOthers) {
            return Err(EditRefused::Forbidden("only the market's creator or a moderator may edit it"));
        }
        if precondition.expected_version()?.is_some_and(|version| version != self.version) {
            return Err(EditRefused::PreconditionFailed);
        }
        let mut next = self.clone();
        patch.apply(&mut next);
        if next.status != self.status {
            if !self.status.can_become(next.status) {
                return Err(EditRefused::InvalidTransition { from: self.status, to: next.status });
            }
            if next.status == MarketStatus::Resolved && !editor.can(Permission::Admin) {
                return Err(EditRefused::Forbidden("only an admin may resolve a market"));
            }
        }
        if next == *self {
            return Ok(None);
        }
        next.version = self.version + 1;
        next.updated_at = now();
        Ok(Some(next))
    }
}
