//! What a use case refuses or fails with, in its caller's terms. The HTTP edge maps it to a status
//! and a code in one place (`markets_lambda::error`).

use crate::domain::{EditRefused, MarketStatus};
use crate::error::BoxError;
use crate::repo::RepoError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("market {id} not found")]
    MarketNotFound { id: String },
    #[error("{0}")]
    Forbidden(&'static str),
    /// The market is not at the version the caller expected.
    #[error("the market is not at the expected version")]
    PreconditionFailed,
    #[error("market status cannot change from {} to {}", from.as_str(), to.as_str())]
    InvalidTransition { from: MarketStatus, to: MarketStatus },
    #[error("the market is not active")]
    MarketNotActive,
    /// The idempotency key was first used for a different request.
    #[error("this idempotency key was used with a different request")]
    IdempotencyKeyReused,
    /// Concurrent writers got in the way; the same request may succeed if sent again.
    #[error("{0}")]
    Conflict(&'static str),
    /// A list position from another list, or from before the list's shard count changed.
    #[error("the list position does not fit this list")]
    StaleListPosition,
    /// A dependency is down or throttling after the retries.
    #[error("a dependency is unavailable")]
    Unavailable(#[source] BoxError),
    /// A bug, or storage in a state the use case cannot explain.
    #[error("internal error")]
    Internal(#[source] BoxError),
}

impl Error {
    pub fn market_not_found(id: &str) -> Self {
        Self::MarketNotFound { id: id.to_owned() }
    }
}

impl From<EditRefused> for Error {
    fn from(refused: EditRefused) -> Self {
        match refused {
            EditRefused::Forbidden(reason) => Self::Forbidden(reason),
            EditRefused::PreconditionFailed => Self::PreconditionFailed,
            EditRefused::InvalidTransition { from, to } => Self::InvalidTransition { from, to },
        }
    }
}

impl From<RepoError> for Error {
    /// The meaning a storage failure has when the use case gives it no more specific one.
    fn from(error: RepoError) -> Self {
        match error {
            RepoError::NotFound => Self::Internal("an item the use case did not look for is missing".into()),
            RepoError::AlreadyExists => Self::Conflict("the resource already exists"),
            RepoError::VersionConflict => Self::Conflict("the market changed concurrently; retry"),
            RepoError::TransactionConflict => Self::Conflict("too many concurrent writes to this market; retry"),
            RepoError::MarketNotActive => Self::MarketNotActive,
            RepoError::IdempotencyKeyUsed(_) => Self::Conflict("a request with this Idempotency-Key is in progress"),
            RepoError::StoredProfileDiffers(_) => Self::Internal("the stored profile changed during the write".into()),
            RepoError::InvalidPosition => Self::StaleListPosition,
            RepoError::Unavailable(source) => Self::Unavailable(source),
            RepoError::Internal(source) => Self::Internal(source),
        }
    }
}
