//! What a write does to its market's entry in the shared cache, so that no read serves the past:
//! a write is answered only once the entry shows it; a write refused on what it has just read
//! from DynamoDB (412, 404) drops the entry the client was probably served; a write that may have
//! committed without knowing it drops the entry too.

use super::Error;
use crate::cache::{MarketCache, Refresh, refresh_after_commit};
use crate::repo::RepoError;

/// After a committed write or the replay of one: market `id`'s entry refreshed, or an error the
/// edge answers with 503 (the client retries with its key, and the retry repairs the entry).
pub(super) async fn refreshed(cache: &dyn MarketCache, id: &str, refresh: Refresh<'_>) -> Result<(), Error> {
    refresh_after_commit(cache, id, refresh).await.map_err(|error| Error::Unavailable(error.into()))
}

/// After a write refused for what DynamoDB holds now (a stale `If-Match`, a market deleted):
/// the entry dropped, so that the client's next read shows what the refusal saw instead of what
/// a lost refresh left behind. The refusal stands either way (a failure is logged and counted).
pub(super) async fn repair(cache: &dyn MarketCache, id: &str) {
    let _ = refresh_after_commit(cache, id, Refresh::Invalidate).await;
}

/// After a write that failed in a way that may have committed: the entry dropped, so that no
/// reader keeps serving what came before it. The write's own error is the answer.
pub(super) async fn invalidate_if_uncertain(cache: &dyn MarketCache, id: &str, error: &RepoError) {
    if error.may_have_committed() {
        repair(cache, id).await;
    }
}
