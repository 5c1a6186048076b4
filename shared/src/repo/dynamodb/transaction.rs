//! Write transactions whose items are named: a cancelled one says which item's condition failed
//! by name, never by position, so adding an item cannot silently change what a failure means.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};

use super::{Item, store_error};
use crate::repo::RepoError;

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
        // One reason per item, in order.
        let reasons = cancelled.cancellation_reasons();
        if reasons.iter().any(|reason| reason.code() == Some("TransactionConflict")) {
            return Err(Refused::Failed(RepoError::TransactionConflict));
        }
        let throttled = ["ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"];
        if reasons.iter().any(|reason| reason.code().is_some_and(|code| throttled.contains(&code))) {
            return Err(Refused::Failed(RepoError::Unavailable("transaction throttled".into())));
        }
        let failed =
            reasons.iter().zip(&self.names).find(|(reason, _)| reason.code() == Some("ConditionalCheckFailed"));
        Err(match failed {
            Some((reason, name)) => Refused::Condition { item: *name, old: reason.item().cloned() },
            None => Refused::Failed(store_error(error)),
        })
    }
}
