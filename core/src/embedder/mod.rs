//! Embedders, for similarity search over market text: an [`Embedder`] turns text into a unit vector
//! (the vectors are kept and ranked by a [`crate::repo::VectorIndex`]). Here the hashing embedder;
//! Bedrock's is in `markets_aws::bedrock`.

mod hashing;

pub use hashing::HashingEmbedder;

use async_trait::async_trait;

use crate::error::BoxError;

/// Why an embedding failed, and whether trying again may help.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("embedder temporarily unavailable")]
    Transient(#[source] BoxError),
    #[error("embedder failed")]
    Permanent(#[source] BoxError),
}

impl EmbedError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

/// Text to a vector of unit length (so cosine similarity is a dot product).
#[async_trait]
pub trait Embedder: Send + Sync {
    async fn embed(&self, text: &str) -> Result<Vec<f32>, EmbedError>;
}

/// How many dimensions every embedder produces, and the vector index is created with
/// (template.yaml's `Dimension`, checked by a test).
pub const DIMENSIONS: usize = 512;

/// The text a market is found by.
pub fn market_text(name: &str, description: &str) -> String {
    format!("{name}\n{description}")
}
