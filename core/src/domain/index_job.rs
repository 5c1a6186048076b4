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
    /// The trace it continues (an X-Ray trace header, parent the request's span): the relay and
    /// the sweeper send it as the message's `AWSTraceHeader`, so the worker's span joins the trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_header: Option<String>,
}

impl IndexJob {
    pub fn new(market_id: &str, version: u64, op: JobOp) -> Self {
        Self { id: super::new_id(), market_id: market_id.to_owned(), version, op, request_id: None, trace_header: None }
    }

    /// The job, with the id of the API request that caused it and the trace it continues.
    pub fn caused_by(self, request_id: Option<String>, trace_header: Option<String>) -> Self {
        Self { request_id, trace_header, ..self }
    }
}
