//! Search: the query embedded, the nearest markets from the vector index, then the markets and
//! their creators read together in one batch.

use std::sync::Arc;

use super::{Creators, Error};
use crate::domain::Market;
use crate::embedder::Embedder;
use crate::repo::MarketRepository;
use crate::repo::VectorIndex;

pub struct SearchService {
    markets: Arc<dyn MarketRepository>,
    embedder: Arc<dyn Embedder>,
    vectors: Arc<dyn VectorIndex>,
}

impl SearchService {
    pub fn new(markets: Arc<dyn MarketRepository>, embedder: Arc<dyn Embedder>, vectors: Arc<dyn VectorIndex>) -> Self {
        Self { markets, embedder, vectors }
    }

    /// Up to `limit` markets most similar to `query`, best first, with their scores, and the
    /// profiles of their creators.
    #[tracing::instrument(skip(self))]
    pub async fn search(&self, query: &str, limit: usize) -> Result<(Vec<(Market, f32)>, Creators), Error> {
        let vector = self.embedder.embed(query).await.map_err(|error| match error {
            crate::embedder::EmbedError::Transient(source) => Error::Unavailable(source),
            crate::embedder::EmbedError::Permanent(source) => Error::Internal(source),
        })?;
        let hits = self.vectors.search(&vector, limit).await?;
        let ids: Vec<&str> = hits.iter().map(|hit| hit.market_id.as_str()).collect();
        let creator_ids: Vec<&str> = hits.iter().map(|hit| hit.creator_id.as_str()).collect();
        let (mut markets, creators) = self.markets.get_many_with_creators(&ids, &creator_ids).await?;
        // The index may briefly hold a market deleted a moment ago: it is simply left out.
        let found = hits
            .iter()
            .filter_map(|hit| {
                let position = markets.iter().position(|market| market.id == hit.market_id)?;
                Some((markets.swap_remove(position), hit.score))
            })
            .collect();
        Ok((found, creators))
    }
}
