//! Index jobs: what a market change asks of the search index. Every create, change and delete of a
//! market leads to one (see `crate::jobs` for how none is ever lost).

use serde::{Deserialize, Serialize};

/// What to do to a market's index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobOp {
    /// Index the market as it is now (created or changed).
    Upsert,
    Delete,
}

/// One index job, as it travels through the outbox and the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexJob {
    /// Unique per job: the outbox key and the SQS batch entry id.
    pub id: String,
    pub market_id: String,
    /// The market version the change produced.
    pub version: u64,
    pub op: JobOp,
    /// The API request that caused it, so the worker's logs can be joined to the request's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl IndexJob {
    pub fn new(market_id: &str, version: u64, op: JobOp) -> Self {
        Self { id: super::new_id(), market_id: market_id.to_owned(), version, op, request_id: None }
    }

    /// The job, with the id of the API request that caused it.
    pub fn caused_by(self, request_id: Option<String>) -> Self {
        Self { request_id, ..self }
    }
}
