//! The creators of a response, read in one batch: a DataLoader per request, fed with the profiles
//! the markets' own reads brought (a list reads its markets and their creators in one
//! `BatchGetItem`, as REST does; a cached market carries its creator), which reads any other
//! creator the response names in one more batch.
//!
//! A DataLoader runs its batch as a task of its own. Here that task runs inside the request's own
//! task ([`within_request`]), not on the runtime: the request's facts (its DynamoDB calls, in the
//! log line) and its id are task-local, and a spawned task would lose both.

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use futures::StreamExt as _;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use tokio::sync::mpsc;

use crate::errors::refused;
use markets_core::domain::UserProfile;
use markets_core::service::{Creators, MarketReads};

/// A response's creators by user id; `None` for a user with no stored profile.
pub type CreatorLoader = DataLoader<CreatorReads, HashMapCache>;

/// Reads profiles for a [`CreatorLoader`].
pub struct CreatorReads(pub &'static MarketReads);

impl Loader<String> for CreatorReads {
    type Value = Option<UserProfile>;
    type Error = async_graphql::Error;

    async fn load(&self, ids: &[String]) -> Result<HashMap<String, Self::Value>, Self::Error> {
        let keys: Vec<&str> = ids.iter().map(String::as_str).collect();
        let mut found = self.0.profiles(&keys).await.map_err(refused)?;
        Ok(ids.iter().map(|id| (id.clone(), found.remove(id))).collect())
    }
}

/// A request's creator loader, and the tasks it starts, for [`within_request`] to run.
pub fn creator_loader(reads: &'static MarketReads) -> (CreatorLoader, LoaderTasks) {
    let (sender, tasks) = mpsc::unbounded_channel::<BoxFuture<'static, ()>>();
    let spawn = move |task| {
        // The receiver lives as long as the request that runs the loader's batches.
        let _ = sender.send(task);
    };
    (DataLoader::with_cache(CreatorReads(reads), spawn, HashMapCache::default()), LoaderTasks(tasks))
}

/// The batches a request's loader started.
pub struct LoaderTasks(mpsc::UnboundedReceiver<BoxFuture<'static, ()>>);

/// Feeds `loader` with creators already read: each of `ids` is known, found in `creators` or not.
pub async fn feed<'a>(loader: &CreatorLoader, ids: impl IntoIterator<Item = &'a str>, creators: &Creators) {
    let known = ids.into_iter().map(|id| (id.to_owned(), creators.get(id).cloned()));
    loader.feed_many(known.collect::<Vec<_>>()).await;
}

/// Runs `work` and, alongside it in the same task, the batches its loader starts.
pub async fn within_request<T>(work: impl Future<Output = T>, tasks: LoaderTasks) -> T {
    let (mut work, mut tasks) = (pin!(work), tasks.0);
    let mut running = FuturesUnordered::new();
    loop {
        tokio::select! {
            biased;
            Some(task) = tasks.recv() => running.push(task),
            Some(()) = running.next(), if !running.is_empty() => {}
            output = &mut work => return output,
        }
    }
}
