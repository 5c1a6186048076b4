//! Idempotent writes: a keyed request's first result is stored in the same transaction as its
//! effect, and a retry gets that result back instead of a second effect.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::Error;
use crate::domain::unix_seconds;
use crate::json::JsonObject;
use crate::repo::{FirstResult, IdempotencyRecord, IdempotencyRepository};

/// How long a key is remembered.
const KEY_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// A request sent with an `Idempotency-Key`.
#[derive(Debug, Clone)]
pub struct IdempotentRequest {
    key: String,
    fingerprint: String,
}

impl IdempotentRequest {
    /// `operation` names what the request does and to what (e.g. `create-position:<market id>`);
    /// the key is scoped to the caller, so another user's identical key is another key.
    pub fn new(caller_id: &str, operation: &str, client_key: &str, body: &JsonObject) -> Self {
        // Members are sorted and numbers keep their text, so the fingerprint ignores member order
        // and white space but not what was asked.
        let canonical = serde_json::to_string(body).expect("JSON maps serialize");
        let fingerprint = Sha256::new().chain_update(operation).chain_update([0]).chain_update(canonical).finalize();
        let key = format!("{caller_id}\u{0}{operation}\u{0}{client_key}");
        Self { key, fingerprint: fingerprint.iter().map(|b| format!("{b:02x}")).collect() }
    }

    /// The record of this request's first result.
    pub(crate) fn record(&self, result: FirstResult) -> IdempotencyRecord {
        let now = Duration::from_secs(unix_seconds());
        IdempotencyRecord {
            key: self.key.clone(),
            fingerprint: self.fingerprint.clone(),
            result,
            expires_at: (now + KEY_LIFETIME).as_secs(),
        }
    }
}

/// What a write did: something new, or nothing because it had been done (the first result).
#[derive(Debug)]
pub enum Written<T> {
    New(T),
    Replayed(FirstResult),
}

/// Looks up first responses.
pub(crate) struct Replays {
    records: Arc<dyn IdempotencyRepository>,
}

impl Replays {
    pub(crate) fn new(records: Arc<dyn IdempotencyRepository>) -> Self {
        Self { records }
    }

    /// The first result of `request`, from the key's `record` (or read, when the store did not
    /// return it); refused if the key served another request.
    async fn find(
        &self,
        request: &IdempotentRequest,
        record: Option<Box<IdempotencyRecord>>,
    ) -> Result<Option<FirstResult>, Error> {
        let record = match record {
            Some(record) => *record,
            None => match self.records.get(&request.key).await? {
                Some(record) => record,
                None => return Ok(None),
            },
        };
        if record.fingerprint != request.fingerprint {
            return Err(Error::IdempotencyKeyReused);
        }
        Ok(Some(record.result))
    }

    /// After the write found the key taken (its transaction's condition on the record failed: a
    /// retry, or a race lost): the first request's result, from the `stored` record the refusal
    /// returned, else read only then.
    pub(crate) async fn after_losing(
        &self,
        request: &IdempotentRequest,
        stored: Option<Box<IdempotencyRecord>>,
    ) -> Result<FirstResult, Error> {
        let first = self.find(request, stored).await?;
        first.ok_or(Error::Conflict("a request with this Idempotency-Key is in progress"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::object as body;
    use serde_json::json;

    #[test]
    fn fingerprints_ignore_key_order_but_not_content_and_keys_are_per_caller() {
        let a = IdempotentRequest::new("alice", "create-market", "k1", &body(json!({"name": "x", "description": "y"})));
        let b = IdempotentRequest::new("alice", "create-market", "k1", &body(json!({"description": "y", "name": "x"})));
        let c = IdempotentRequest::new("alice", "create-market", "k1", &body(json!({"name": "z"})));
        let d = IdempotentRequest::new("bob", "create-market", "k1", &body(json!({"name": "x", "description": "y"})));
        assert_eq!((a.key.as_str(), a.fingerprint.as_str()), (b.key.as_str(), b.fingerprint.as_str()));
        assert_ne!(a.fingerprint, c.fingerprint);
        assert_ne!(a.key, d.key);
    }
}
