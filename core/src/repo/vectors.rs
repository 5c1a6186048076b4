//! The vector index: one vector per market, ranked by cosine similarity to a query.

use async_trait::async_trait;

use super::RepoError;
use crate::domain::{Market, MarketStatus};

/// A market's entry in the index: its vector and the metadata stored with it (`status` can filter
/// a query; `creatorId` lets search read the markets and their creators in one batch; `version`
/// tells which market version the vector was made from).
#[derive(Debug, Clone, PartialEq)]
pub struct IndexEntry {
    pub market_id: String,
    pub creator_id: String,
    pub version: u64,
    pub status: MarketStatus,
    pub vector: Vec<f32>,
}

impl IndexEntry {
    /// The entry of `market`, with the vector of its text.
    pub fn of(market: &Market, vector: Vec<f32>) -> Self {
        Self {
            market_id: market.id.clone(),
            creator_id: market.creator_id.clone(),
            version: market.version,
            status: market.status,
            vector,
        }
    }
}

/// A market found by a search, with its cosine similarity to the query.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub market_id: String,
    pub creator_id: String,
    pub score: f32,
}

/// One vector per market, keyed by the market id. Writes are unconditional (S3 Vectors has no
/// conditional write): the index worker makes them safe against old and repeated jobs.
#[async_trait]
pub trait VectorIndex: Send + Sync {
    /// Stores the entry, replacing whatever the market had.
    async fn put(&self, entry: &IndexEntry) -> Result<(), RepoError>;
    /// Removes the market's entry, if any.
    async fn remove(&self, market_id: &str) -> Result<(), RepoError>;
    /// The `k` entries most similar to `query`, best first.
    async fn search(&self, query: &[f32], k: usize) -> Result<Vec<SearchHit>, RepoError>;
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let denominator = norm(a) * norm(b);
    if denominator == 0.0 { 0.0 } else { dot / denominator }
}

/// The best `k` of `scored`, best first (ties by id, so results are stable).
pub fn top_k(mut hits: Vec<SearchHit>, k: usize) -> Vec<SearchHit> {
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.market_id.cmp(&b.market_id)));
    hits.truncate(k);
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_best_first() {
        let hit = |id: &str, score| SearchHit { market_id: id.into(), creator_id: "alice".into(), score };
        let ranked: Vec<_> = top_k(vec![hit("a", 0.1), hit("b", 0.9), hit("c", 0.5)], 2);
        assert_eq!(ranked, [hit("b", 0.9), hit("c", 0.5)]);
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }
}
