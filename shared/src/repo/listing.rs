//! Lists over write-sharded index partitions. Every list index spreads its markets over N shards
//! (a market's shard comes from its id), so no index partition takes more than 1/N of the writes.
//! A page reads each shard from where the cursor left it, merges the shards by the sort value
//! (ties broken by id) and moves each shard's position past what the page took: every market is
//! served exactly once, in order, however the values tie.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::{KeyAttr, SortOrder};
use crate::domain::Amount;

/// The shard of a market among `shards`: FNV-1a of its id, so it is stable across processes.
pub fn shard_of(id: &str, shards: usize) -> usize {
    (crate::stable_hash::fnv1a(id.as_bytes()) % shards.max(1) as u64) as usize
}

/// A market as a list index holds it: its id, its sort value, and what hydrating the page needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: String,
    pub creator_id: String,
    pub sort: KeyAttr,
}

/// Sort values compare as DynamoDB compares them: numbers by value, strings by their bytes.
fn compare_values(a: &KeyAttr, b: &KeyAttr) -> Ordering {
    match (a, b) {
        (KeyAttr::N(a), KeyAttr::N(b)) => match (Amount::from_stored(a), Amount::from_stored(b)) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => a.cmp(b),
        },
        _ => a.cmp(b),
    }
}

/// The order of a list: by sort value, then by id, both reversed for `desc`.
pub fn compare(order: SortOrder, a: &Listed, b: &Listed) -> Ordering {
    let ordering = compare_values(&a.sort, &b.sort).then_with(|| a.id.cmp(&b.id));
    if order == SortOrder::Asc { ordering } else { ordering.reverse() }
}

/// Where a list continues in one shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShardPosition {
    /// Nothing of this shard served yet.
    #[serde(rename = "s")]
    Start,
    /// After this market (its sort value and id).
    #[serde(rename = "a")]
    After(KeyAttr, String),
    /// Every market of this shard served.
    #[serde(rename = "d")]
    Done,
}

/// Where a list continues, shard by shard: what a signed cursor carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListPosition(pub Vec<ShardPosition>);

impl ListPosition {
    /// A list's beginning over `shards` shards.
    pub fn start(shards: usize) -> Self {
        Self(vec![ShardPosition::Start; shards])
    }
}

/// What one shard's read returned: its next markets in order, and whether it has none after them.
#[derive(Debug, Clone, Default)]
pub struct ShardRead {
    pub markets: Vec<Listed>,
    pub exhausted: bool,
}

/// A page of listed markets and, when more follow, where the next page continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    pub markets: Vec<Listed>,
    pub next: Option<ListPosition>,
}

/// How many entries a first read takes from each of `shards` shards when a page needs `wanted` in
/// all: the even share (ids hash evenly) with room for the hash's unevenness.
fn first_read(wanted: usize, shards: usize) -> usize {
    let share = wanted.div_ceil(shards.max(1));
    (share + share / 4 + 8).min(wanted)
}

/// The shards whose read stopped, not at their end, before the `wanted`-th entry of the merged
/// order: they may hold more of the page.
fn short_shards(order: SortOrder, reads: &[Option<ShardRead>], wanted: usize) -> Vec<usize> {
    let mut all: Vec<&Listed> = reads.iter().flatten().flat_map(|read| &read.markets).collect();
    all.sort_by(|a, b| compare(order, a, b));
    let frontier = all.get(wanted - 1);
    let short = |read: &ShardRead| match (read.markets.last(), frontier) {
        _ if read.exhausted => false,
        (Some(last), Some(frontier)) => compare(order, last, frontier) == Ordering::Less,
        _ => true,
    };
    reads.iter().enumerate().filter(|(_, read)| read.as_ref().is_some_and(short)).map(|(shard, _)| shard).collect()
}

/// Reads from every shard what a page of `wanted` entries (offset, page, and one to tell whether
/// more follow) needs, so that [`merge`] is exact: an even share from each shard, concurrently,
/// then, rarely, the rest from the shards that stopped before the page's last entry (at most two
/// rounds). `read(shard, after, limit)` reads up to `limit` entries of a shard after a position.
pub async fn read_shards<F, Fut, E>(
    order: SortOrder,
    from: &ListPosition,
    wanted: usize,
    read: F,
) -> Result<Vec<Option<ShardRead>>, E>
where
    F: Fn(usize, ShardPosition, usize) -> Fut,
    Fut: std::future::Future<Output = Result<ShardRead, E>>,
{
    let share = first_read(wanted, from.0.len());
    let first = from.0.iter().enumerate().map(|(shard, position)| {
        let read = (*position != ShardPosition::Done).then(|| read(shard, position.clone(), share));
        async move {
            match read {
                Some(read) => read.await.map(Some),
                None => Ok(None),
            }
        }
    });
    let mut reads = futures::future::try_join_all(first).await?;
    let short = short_shards(order, &reads, wanted);
    let rest = short.iter().map(|&shard| {
        let done = reads[shard].as_ref().map_or(&[][..], |read| &read.markets);
        let after =
            done.last().map_or(from.0[shard].clone(), |last| ShardPosition::After(last.sort.clone(), last.id.clone()));
        read(shard, after, wanted - done.len())
    });
    let rest = futures::future::try_join_all(rest).await?;
    for (shard, more) in short.into_iter().zip(rest) {
        if let Some(read) = &mut reads[shard] {
            read.markets.extend(more.markets);
            read.exhausted = more.exhausted;
        }
    }
    Ok(reads)
}

/// Merges the shards' reads (`None` for a shard already done), skips `offset` markets and takes
/// `limit`. The reads must reach past the merged order's `offset + limit + 1`-th entry (or to their
/// shard's end), as [`read_shards`] makes them: that is what makes "is there a next page" exact.
pub fn merge(
    order: SortOrder,
    from: &ListPosition,
    reads: Vec<Option<ShardRead>>,
    offset: usize,
    limit: usize,
) -> ListPage {
    let mut position = from.clone();
    let exhausted: Vec<Option<bool>> = reads.iter().map(|read| read.as_ref().map(|read| read.exhausted)).collect();
    let mut heads: Vec<_> =
        reads.into_iter().map(|read| read.unwrap_or_default().markets.into_iter().peekable()).collect();
    let mut taken = Vec::with_capacity(limit);
    let mut served = 0;
    while served < offset + limit {
        let best = heads
            .iter_mut()
            .enumerate()
            .filter_map(|(shard, head)| head.peek().map(|market| (shard, market)))
            .min_by(|(_, a), (_, b)| compare(order, a, b))
            .map(|(shard, _)| shard);
        let Some(shard) = best else { break };
        let market = heads[shard].next().expect("peeked");
        position.0[shard] = ShardPosition::After(market.sort.clone(), market.id.clone());
        if served >= offset {
            taken.push(market);
        }
        served += 1;
    }
    // A shard read to its end and wholly served is done; the list goes on while any shard is not.
    let mut more = false;
    for (shard, exhausted) in exhausted.into_iter().enumerate() {
        match exhausted {
            Some(true) if heads[shard].peek().is_none() => position.0[shard] = ShardPosition::Done,
            Some(_) => more = true,
            None => {}
        }
    }
    ListPage { markets: taken, next: more.then_some(position) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(id: &str, volume: &str) -> Listed {
        Listed { id: id.into(), creator_id: "alice".into(), sort: KeyAttr::N(volume.into()) }
    }

    /// Walks pages of `limit` over `shards`, reading each shard through [`read_shards`] like
    /// DynamoDB would (in order, after a position, up to a limit), and returns the ids served and
    /// the number of shard reads.
    async fn walk(all: &[Listed], shards: usize, order: SortOrder, limit: usize) -> (Vec<String>, usize) {
        let mut per_shard: Vec<Vec<Listed>> = vec![Vec::new(); shards];
        for market in all {
            per_shard[shard_of(&market.id, shards)].push(market.clone());
        }
        for shard in &mut per_shard {
            shard.sort_by(|a, b| compare(order, a, b));
        }
        let reads = std::sync::atomic::AtomicUsize::new(0);
        let read = |shard: usize, position: ShardPosition, wanted: usize| {
            reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let rest: Vec<Listed> = match position {
                ShardPosition::After(sort, id) => {
                    let after = Listed { id, creator_id: String::new(), sort };
                    per_shard[shard]
                        .iter()
                        .filter(|m| compare(order, m, &after) == Ordering::Greater)
                        .cloned()
                        .collect()
                }
                _ => per_shard[shard].clone(),
            };
            let exhausted = rest.len() <= wanted;
            std::future::ready(Ok::<_, ()>(ShardRead { markets: rest.into_iter().take(wanted).collect(), exhausted }))
        };
        let mut position = ListPosition::start(shards);
        let mut served = Vec::new();
        loop {
            let read_all = read_shards(order, &position, limit + 1, read).await.unwrap();
            let page = merge(order, &position, read_all, 0, limit);
            assert!(page.markets.len() <= limit);
            served.extend(page.markets.into_iter().map(|m| m.id));
            match page.next {
                Some(next) => position = next,
                None => return (served, reads.into_inner()),
            }
        }
    }

    /// The ids in the list's order, worked out without the module's `compare`: by numeric value,
    /// then id, reversed for `desc`.
    fn sorted_ids(all: &[Listed], order: SortOrder) -> Vec<String> {
        let value = |market: &Listed| match &market.sort {
            KeyAttr::N(number) => number.parse::<f64>().expect("test volumes are numbers"),
            other => panic!("test volumes are numbers, not {other:?}"),
        };
        let mut sorted = all.to_vec();
        sorted.sort_by(|a, b| value(a).total_cmp(&value(b)).then_with(|| a.id.cmp(&b.id)));
        if order == SortOrder::Desc {
            sorted.reverse();
        }
        sorted.into_iter().map(|m| m.id).collect()
    }

    #[tokio::test]
    async fn walks_serve_every_market_once_in_order_with_ties_on_one_or_many_shards() {
        // Volumes that tie in groups, and a decimal that sorts differently as text ("10" < "9").
        let all: Vec<Listed> =
            (0..97).map(|i| listed(&format!("m{i:03}"), ["0", "9", "10", "9.5", "0"][i % 5])).collect();
        for shards in [1, 2, 8] {
            for order in [SortOrder::Asc, SortOrder::Desc] {
                for limit in [1, 7, 20, 200] {
                    let (served, _) = walk(&all, shards, order, limit).await;
                    assert_eq!(served, sorted_ids(&all, order), "{shards} shards, {order:?}, limit {limit}");
                }
            }
        }
    }

    #[tokio::test]
    async fn a_shard_holding_more_than_its_share_is_read_again() {
        // Every market in shard 0 of 8: its first read (an even share) stops short of the page.
        let all: Vec<Listed> = (0..400)
            .map(|i| listed(&format!("m{i:03}"), &(i % 7).to_string()))
            .filter(|market| shard_of(&market.id, 8) == 0)
            .take(40)
            .collect();
        assert_eq!(all.len(), 40);
        let (served, reads) = walk(&all, 8, SortOrder::Desc, 20).await;
        assert_eq!(served, sorted_ids(&all, SortOrder::Desc));
        // Page 1: 8 shards, then shard 0 again; page 2: shard 0 (the others are done), twice.
        assert_eq!(reads, 8 + 1 + 2);
    }

    #[tokio::test]
    async fn the_last_page_has_no_cursor_and_an_empty_list_one_empty_page() {
        assert_eq!(walk(&[], 8, SortOrder::Desc, 5).await, (Vec::new(), 8));
        let two = [listed("a", "1"), listed("b", "2")];
        let reads = vec![Some(ShardRead { markets: two.to_vec(), exhausted: true })];
        let page = merge(SortOrder::Asc, &ListPosition::start(1), reads, 0, 2);
        assert_eq!((page.markets.len(), page.next), (2, None));
    }

    #[test]
    fn offsets_skip_in_the_merged_order() {
        let all: Vec<Listed> = (0..30).map(|i| listed(&format!("m{i:02}"), &(i % 4).to_string())).collect();
        let mut sorted = all.clone();
        sorted.sort_by(|a, b| compare(SortOrder::Desc, a, b));
        let mut per_shard: Vec<Vec<Listed>> = vec![Vec::new(); 8];
        for market in &sorted {
            per_shard[shard_of(&market.id, 8)].push(market.clone());
        }
        let reads = per_shard.into_iter().map(|markets| Some(ShardRead { markets, exhausted: true })).collect();
        let page = merge(SortOrder::Desc, &ListPosition::start(8), reads, 12, 5);
        let ids: Vec<&str> = page.markets.iter().map(|m| m.id.as_str()).collect();
        let expected: Vec<&str> = sorted[12..17].iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, expected);
        assert!(page.next.is_some());
    }
}
