//! Write transactions whose items are named: a cancelled one says which item's condition failed
//! by name, never by position, so adding an item cannot silently change what a failure means.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{CancellationReason, Delete, Put, TransactWriteItem, Update};

use super::{Item, store_error};
use markets_core::repo::RepoError;

/// One write of a transaction.
pub(super) enum WriteItem {
    Put(Put),
    Update(Update),
    Delete(Delete),
}

/// The writes of one transaction, each under a name of the caller's (`N`, usually a small enum).
pub(super) struct Transaction<N> {
    items: Vec<TransactWriteItem>,
    names: Vec<N>,
}

impl<N> Default for Transaction<N> {
    fn default() -> Self {
        Self { items: Vec::new(), names: Vec::new() }
    }
}

/// Why a transaction did not commit.
#[derive(Debug)]
pub(super) enum Refused<N> {
    /// The condition of the item named `item` failed; `old` is the item as it was, when the write
    /// asked for it (`ReturnValuesOnConditionCheckFailure`).
    Condition { item: N, old: Option<Item> },
    /// Anything else: a conflict with another transaction, throttling, or the store failing.
    Failed(RepoError),
}

impl<N: Copy> Transaction<N> {
    pub(super) fn add(&mut self, name: N, write: WriteItem) -> &mut Self {
        let item = TransactWriteItem::builder();
        self.items.push(
            match write {
                WriteItem::Put(put) => item.put(put),
                WriteItem::Update(update) => item.update(update),
                WriteItem::Delete(delete) => item.delete(delete),
            }
            .build(),
        );
        self.names.push(name);
        self
    }

    pub(super) fn put(&mut self, name: N, put: Put) -> &mut Self {
        self.add(name, WriteItem::Put(put))
    }

    pub(super) fn update(&mut self, name: N, update: Update) -> &mut Self {
        self.add(name, WriteItem::Update(update))
    }

    /// All the writes or none. The SDK retries a call that timed out or failed in transit; the
    /// request token makes that retry idempotent (for 10 minutes DynamoDB answers a repeat of a
    /// committed transaction with success), where it would otherwise fail its own conditions and
    /// report a write that happened as refused.
    pub(super) async fn commit(self, client: &Client) -> Result<(), Refused<N>> {
        let request = client.transact_write_items().set_transact_items(Some(self.items));
        let Err(error) = request.client_request_token(ulid::Ulid::new().to_string()).send().await else {
            return Ok(());
        };
        let SdkError::ServiceError(service) = &error else { return Err(Refused::Failed(store_error(error))) };
        let TransactWriteItemsError::TransactionCanceledException(cancelled) = service.err() else {
            return Err(Refused::Failed(store_error(error)));
        };
        let refused = refusal(cancelled.cancellation_reasons(), &self.names);
        Err(refused.unwrap_or_else(|| Refused::Failed(store_error(error))))
    }
}

/// Why a cancelled transaction did not commit, from its reasons (one per item, in the items'
/// order): a conflict (worth retrying at once) before throttling before a failed condition, since
/// DynamoDB may report several; `None` for reasons this code does not know.
fn refusal<N: Copy>(reasons: &[CancellationReason], names: &[N]) -> Option<Refused<N>> {
    if reasons.iter().any(|reason| reason.code() == Some("TransactionConflict")) {
        return Some(Refused::Failed(RepoError::TransactionConflict));
    }
    let throttled = ["ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"];
    if reasons.iter().any(|reason| reason.code().is_some_and(|code| throttled.contains(&code))) {
        return Some(Refused::Failed(RepoError::Unavailable("transaction throttled".into())));
    }
    let (reason, name) =
        reasons.iter().zip(names).find(|(reason, _)| reason.code() == Some("ConditionalCheckFailed"))?;
    Some(Refused::Condition { item: *name, old: reason.item().cloned() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Write {
        Market,
        Position,
        Outbox,
    }

    const NAMES: [Write; 3] = [Write::Market, Write::Position, Write::Outbox];

    fn reasons(codes: [&str; 3]) -> Vec<CancellationReason> {
        codes.iter().map(|code| CancellationReason::builder().code(*code).build()).collect()
    }

    #[test]
    fn a_failed_condition_is_named_by_its_item_with_the_item_as_it_was() {
        let old = std::collections::HashMap::from([("version".to_owned(), AttributeValue::N("4".into()))]);
        let mut with_old = reasons(["None", "ConditionalCheckFailed", "None"]);
        with_old[1] = CancellationReason::builder().code("ConditionalCheckFailed").set_item(Some(old.clone())).build();
        let refused = refusal(&with_old, &NAMES);
        assert!(
            matches!(refused, Some(Refused::Condition { item: Write::Position, old: Some(ref item) }) if *item == old)
        );
        let first = refusal(&reasons(["ConditionalCheckFailed", "None", "ConditionalCheckFailed"]), &NAMES);
        assert!(matches!(first, Some(Refused::Condition { item: Write::Market, old: None })), "{first:?}");
    }

    #[test]
    fn a_conflict_anywhere_is_a_conflict_even_beside_a_failed_condition() {
        for codes in
            [["TransactionConflict", "None", "None"], ["ConditionalCheckFailed", "None", "TransactionConflict"]]
        {
            let refused = refusal(&reasons(codes), &NAMES);
            assert!(matches!(refused, Some(Refused::Failed(RepoError::TransactionConflict))), "{codes:?}: {refused:?}");
        }
    }

    #[test]
    fn throttling_is_unavailable_and_unknown_reasons_are_left_to_the_caller() {
        for throttled in ["ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"] {
            let refused = refusal(&reasons(["None", throttled, "ConditionalCheckFailed"]), &NAMES);
            assert!(matches!(refused, Some(Refused::Failed(RepoError::Unavailable(_)))), "{throttled}: {refused:?}");
        }
        assert!(refusal(&reasons(["None", "ValidationError", "None"]), &NAMES).is_none());
        assert!(refusal::<Write>(&[], &[]).is_none());
    }
}
