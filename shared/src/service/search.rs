//! Search: the query embedded, the nearest markets from the vector index, read in one batch.

use std::sync::Arc;

use crate::domain::Market;
use crate::error::ApiError;
use crate::repo::MarketRepository;
use crate::search::{Embedder, VectorIndex};

pub struct SearchService {
    markets: Arc<dyn MarketRepository>,
    embedder: Arc<dyn Embedder>,
    vectors: Arc<dyn VectorIndex>,
}

impl SearchService {
    pub fn new(dependencies: &super::Dependencies) -> Self {
        Self {
            markets: dependencies.markets.clone(),
            embedder: dependencies.embedder.clone(),
            vectors: dependencies.vectors.clone(),
        }
    }

    /// Up to `limit` markets most similar to `query`, best first, with their scores.
    #[tracing::instrument(skip(self))]
    pub async fn search(&self, query: &str, limit: usize) -> Result<Vec<(Market, f32)>, ApiError> {
        let vector = self.embedder.embed(query).await.map_err(|error| match error {
            crate::search::EmbedError::Transient(source) => ApiError::Unavailable(source),
            crate::search::EmbedError::Permanent(source) => ApiError::Internal(source),
        })?;
        let hits = self.vectors.search(&vector, limit).await?;
        let ids: Vec<&str> = hits.iter().map(|(id, _)| id.as_str()).collect();
        let mut markets = self.markets.get_many(&ids).await?;
        // The index may briefly hold a market deleted a moment ago: it is simply left out.
        Ok(hits
            .iter()
            .filter_map(|(id, score)| {
                let position = markets.iter().position(|market| &market.id == id)?;
                Some((markets.swap_remove(position), *score))
            })
            .collect())
    }
}
