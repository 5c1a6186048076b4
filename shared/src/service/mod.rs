//! The use cases and the rules they keep, written against the repository traits only.

mod markets;

pub use markets::MarketService;

use crate::error::ApiError;
use crate::repo::RepoError;

impl From<RepoError> for ApiError {
    /// The meaning a storage failure has when the service gives it no more specific one.
    fn from(error: RepoError) -> Self {
        match error {
            RepoError::NotFound => ApiError::NotFound("market not found".into()),
            RepoError::AlreadyExists => ApiError::Conflict("the resource already exists"),
            RepoError::VersionConflict => ApiError::Conflict("the market changed concurrently; retry"),
            RepoError::Unavailable(source) => ApiError::Unavailable(source),
            RepoError::Internal(source) => ApiError::Internal(source),
        }
    }
}
