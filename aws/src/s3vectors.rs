//! The vector index on Amazon S3 Vectors: one vector per market (key = market id) in an index
//! created by template.yaml (cosine distance, `status` filterable). A search is one QueryVectors,
//! whatever the number of markets.

use async_trait::async_trait;
use aws_sdk_s3vectors::Client;
use aws_sdk_s3vectors::types::{PutInputVector, VectorData};
use aws_smithy_types::{Document, Number};

use markets_core::repo::{IndexEntry, RepoError, SearchHit, VectorIndex};

use crate::dynamodb::store_error;

pub struct S3VectorIndex {
    client: Client,
    index_arn: String,
}

/// PutVectors' limit on vectors per call.
const PUT_LIMIT: usize = 500;

impl S3VectorIndex {
    pub fn new(client: Client, index_arn: impl Into<String>) -> Self {
        Self { client, index_arn: index_arn.into() }
    }

    /// Stores the entries, replacing what their markets had: one PutVectors per 500.
    pub async fn put_many(&self, entries: &[IndexEntry]) -> Result<(), RepoError> {
        for chunk in entries.chunks(PUT_LIMIT) {
            let vectors = chunk
                .iter()
                .map(|entry| {
                    PutInputVector::builder()
                        .key(&entry.market_id)
                        .data(VectorData::Float32(entry.vector.clone()))
                        .metadata(metadata(entry))
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| RepoError::Internal(e.into()))?;
            let request = self.client.put_vectors().index_arn(&self.index_arn).set_vectors(Some(vectors));
            request.send().await.map_err(store_error)?;
        }
        Ok(())
    }
}

fn metadata(entry: &IndexEntry) -> Document {
    Document::Object(
        [
            ("status".to_owned(), Document::String(entry.status.as_str().to_owned())),
            ("creatorId".to_owned(), Document::String(entry.creator_id.clone())),
            ("version".to_owned(), Document::Number(Number::PosInt(entry.version))),
        ]
        .into(),
    )
}

#[async_trait]
impl VectorIndex for S3VectorIndex {
    #[tracing::instrument(skip_all, fields(market = %entry.market_id, version = entry.version), err(Debug))]
    async fn put(&self, entry: &IndexEntry) -> Result<(), RepoError> {
        self.put_many(std::slice::from_ref(entry)).await
    }

    #[tracing::instrument(skip(self), err(Debug))]
    async fn remove(&self, market_id: &str) -> Result<(), RepoError> {
        self.client.delete_vectors().index_arn(&self.index_arn).keys(market_id).send().await.map_err(store_error)?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(k), err(Debug))]
    async fn search(&self, query: &[f32], k: usize) -> Result<Vec<SearchHit>, RepoError> {
        let output = self
            .client
            .query_vectors()
            .index_arn(&self.index_arn)
            .query_vector(VectorData::Float32(query.to_vec()))
            .top_k(i32::try_from(k).unwrap_or(i32::MAX))
            .return_distance(true)
            .return_metadata(true)
            .send()
            .await
            .map_err(store_error)?;
        // Best first already; the cosine distance is 1 - similarity.
        Ok(output
            .vectors
            .into_iter()
            .map(|hit| SearchHit {
                creator_id: hit
                    .metadata
                    .as_ref()
                    .and_then(|metadata| metadata.as_object()?.get("creatorId")?.as_string())
                    .unwrap_or_default()
                    .to_owned(),
                score: 1.0 - hit.distance.unwrap_or(1.0),
                market_id: hit.key,
            })
            .collect())
    }
}
