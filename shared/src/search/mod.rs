//! Similarity search over market text: an [`Embedder`] turns text into a unit vector, a
//! [`VectorIndex`] keeps one vector per market and ranks them by cosine similarity.

mod bedrock;
mod local;

pub use bedrock::{BedrockEmbedder, DEFAULT_MODEL as BEDROCK_DEFAULT_MODEL};
pub use local::HashingEmbedder;

use async_trait::async_trait;

use crate::error::BoxError;
use crate::repo::RepoError;

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

/// A market's entry in the index: its vector at a market version, or its tombstone.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexEntry {
    pub market_id: String,
    pub version: u64,
    pub vector: Vec<f32>,
}

/// What a write to the index did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexOutcome {
    Written,
    /// The index already holds this version or a newer one, or the market's tombstone.
    Stale,
}

/// One vector per market, written idempotently: an older version never replaces a newer one, and a
/// deletion (a tombstone) is final.
#[async_trait]
pub trait VectorIndex: Send + Sync {
    async fn upsert(&self, entry: &IndexEntry) -> Result<IndexOutcome, RepoError>;
    async fn remove(&self, market_id: &str) -> Result<(), RepoError>;
    /// The `k` entries most similar to `query`, best first, with their scores.
    async fn search(&self, query: &[f32], k: usize) -> Result<Vec<(String, f32)>, RepoError>;
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let denominator = norm(a) * norm(b);
    if denominator == 0.0 { 0.0 } else { dot / denominator }
}

/// The best `k` of `scored`, best first (ties by id, so results are stable).
pub fn top_k(mut scored: Vec<(String, f32)>, k: usize) -> Vec<(String, f32)> {
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    scored.truncate(k);
    scored
}

/// The text a market is found by.
pub fn market_text(name: &str, description: &str) -> String {
    format!("{name}\n{description}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_best_first() {
        let scored = vec![("a".into(), 0.1), ("b".into(), 0.9), ("c".into(), 0.5)];
        assert_eq!(top_k(scored, 2), vec![("b".to_owned(), 0.9), ("c".to_owned(), 0.5)]);
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }
}
