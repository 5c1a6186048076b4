//! Lists over write-sharded index partitions. Every list index spreads its markets over N shards
//! (a market's shard comes from its id), so no index partition takes more than 1/N of the writes.
//! Every shard holds its markets in the same total order (sort value, then id), so one place in
//! that order, after the last market served, is where each shard continues: a page reads every
//! shard from there and merges them, and its cursor carries that one place, whatever the number of
//! shards. Every market is served exactly once, in order, however the values tie.

use std::cmp::Ordering;

use super::{KeyAttr, ListedMarket, Page, PageToken, RepoError, SortOrder};
use crate::domain::Amount;
use crate::packed_text;

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

/// A place in a list's order: just after the market with this sort value and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    pub sort: KeyAttr,
    pub id: String,
}

impl Listed {
    /// The place just after this market.
    pub fn place(&self) -> After {
        After { sort: self.sort.clone(), id: self.id.clone() }
    }
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

fn compare_places(order: SortOrder, (a_sort, a_id): (&KeyAttr, &str), (b_sort, b_id): (&KeyAttr, &str)) -> Ordering {
    let ordering = compare_values(a_sort, b_sort).then_with(|| a_id.cmp(b_id));
    if order == SortOrder::Asc { ordering } else { ordering.reverse() }
}

/// The order of a list: by sort value, then by id, both reversed for `desc`.
pub fn compare(order: SortOrder, a: &Listed, b: &Listed) -> Ordering {
    compare_places(order, (&a.sort, &a.id), (&b.sort, &b.id))
}

/// Whether `market` comes after `place` in the list's order.
pub fn follows(order: SortOrder, market: &Listed, place: &After) -> bool {
    compare_places(order, (&market.sort, &market.id), (&place.sort, &place.id)) == Ordering::Greater
}

/// Where a list continues: after `after`, in a list spread over `shards` shards (a cursor from
/// before the shard count changed does not fit: the markets were not all re-written yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPosition {
    pub shards: usize,
    pub after: After,
}

/// The first byte of a position's bytes: another layout would have another.
const POSITION_FORMAT: u8 = 1;

impl ListPosition {
    /// What a cursor carries, in few bytes whatever the sort value (a 200-character name of 4-byte
    /// characters takes 577): the format, the shard count, the value's type, the value and the id.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = vec![POSITION_FORMAT];
        packed_text::push_number(&mut bytes, self.shards as u64);
        let (kind, value) = match &self.after.sort {
            KeyAttr::S(text) => (b'S', text),
            KeyAttr::N(text) => (b'N', text),
        };
        bytes.push(kind);
        packed_text::push(&mut bytes, value);
        packed_text::push(&mut bytes, &self.after.id);
        bytes
    }

    /// The position [`Self::to_bytes`] wrote; `None` for anything else.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (&POSITION_FORMAT, mut rest) = bytes.split_first()? else { return None };
        let shards = usize::try_from(packed_text::take_number(&mut rest)?).ok()?;
        let (&kind, mut rest) = rest.split_first()?;
        let value = packed_text::take(&mut rest)?;
        let sort = match kind {
            b'S' => KeyAttr::S(value),
            b'N' => KeyAttr::N(value),
            _ => return None,
        };
        let id = packed_text::take(&mut rest)?;
        rest.is_empty().then_some(Self { shards, after: After { sort, id } })
    }
}

impl ListPosition {
    /// The position a page token of [`ListPage`]'s carries; `InvalidPosition` for any other token.
    pub fn from_token(token: &PageToken) -> Result<Self, RepoError> {
        Self::from_bytes(&token.0).ok_or(RepoError::InvalidPosition)
    }
}

impl From<ListPage> for Page<ListedMarket> {
    fn from(page: ListPage) -> Self {
        let listed = |listed: Listed| ListedMarket { id: listed.id, creator_id: listed.creator_id };
        Self {
            items: page.markets.into_iter().map(listed).collect(),
            next: page.next.map(|next| PageToken(next.to_bytes())),
        }
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
fn short_shards(order: SortOrder, reads: &[ShardRead], wanted: usize) -> Vec<usize> {
    let mut all: Vec<&Listed> = reads.iter().flat_map(|read| &read.markets).collect();
    all.sort_by(|a, b| compare(order, a, b));
    let frontier = all.get(wanted - 1);
    let short = |read: &ShardRead| match (read.markets.last(), frontier) {
        _ if read.exhausted => false,
        (Some(last), Some(frontier)) => compare(order, last, frontier) == Ordering::Less,
        _ => true,
    };
    reads.iter().enumerate().filter(|(_, read)| short(read)).map(|(shard, _)| shard).collect()
}

/// Reads from each of `shards` shards, after `after` (from the list's start when `None`), what a
/// page of `wanted` entries (offset, page, and one to tell whether more follow) needs, so that
/// [`merge`] is exact: an even share from each shard, concurrently, then, rarely, the rest from the
/// shards that stopped before the page's last entry (at most two rounds). `read(shard, after,
/// limit)` reads up to `limit` entries of a shard after a place.
pub async fn read_shards<F, Fut, E>(
    order: SortOrder,
    shards: usize,
    after: Option<&After>,
    wanted: usize,
    read: F,
) -> Result<Vec<ShardRead>, E>
where
    F: Fn(usize, Option<After>, usize) -> Fut,
    Fut: std::future::Future<Output = Result<ShardRead, E>>,
{
    let share = first_read(wanted, shards);
    let mut reads = futures::future::try_join_all((0..shards).map(|shard| read(shard, after.cloned(), share))).await?;
    let short = short_shards(order, &reads, wanted);
    let rest = short.iter().map(|&shard| {
        let done = &reads[shard].markets;
        read(shard, done.last().map(Listed::place).or_else(|| after.cloned()), wanted - done.len())
    });
    let rest = futures::future::try_join_all(rest).await?;
    for (shard, more) in short.into_iter().zip(rest) {
        reads[shard].markets.extend(more.markets);
        reads[shard].exhausted = more.exhausted;
    }
    Ok(reads)
}

/// Merges the shards' reads of a list over `shards` shards, skips `offset` markets and takes
/// `limit`. The reads must reach past the merged order's `offset + limit + 1`-th entry (or to their
/// shard's end), as [`read_shards`] makes them: that is what makes "is there a next page" exact.
pub fn merge(order: SortOrder, shards: usize, reads: Vec<ShardRead>, offset: usize, limit: usize) -> ListPage {
    let unread = reads.iter().any(|read| !read.exhausted);
    let mut heads: Vec<_> = reads.into_iter().map(|read| read.markets.into_iter().peekable()).collect();
    let mut taken = Vec::with_capacity(limit);
    let mut last_skipped = None;
    for served in 0..offset + limit {
        let best = heads
            .iter_mut()
            .enumerate()
            .filter_map(|(shard, head)| head.peek().map(|market| (shard, market)))
            .min_by(|(_, a), (_, b)| compare(order, a, b))
            .map(|(shard, _)| shard);
        let Some(shard) = best else { break };
        let market = heads[shard].next().expect("peeked");
        if served >= offset {
            taken.push(market);
        } else {
            last_skipped = Some(market);
        }
    }
    // The list goes on while a shard has markets read and not served, or was not read to its end.
    let more = unread || heads.iter_mut().any(|head| head.peek().is_some());
    let last = taken.last().or(last_skipped.as_ref()).filter(|_| more);
    let next = last.map(|last| ListPosition { shards, after: last.place() });
    ListPage { markets: taken, next }
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
        let read = |shard: usize, after: Option<After>, wanted: usize| {
            reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let rest: Vec<Listed> = per_shard[shard]
                .iter()
                .filter(|market| after.as_ref().is_none_or(|after| follows(order, market, after)))
                .cloned()
                .collect();
            let exhausted = rest.len() <= wanted;
            std::future::ready(Ok::<_, ()>(ShardRead { markets: rest.into_iter().take(wanted).collect(), exhausted }))
        };
        let mut position: Option<ListPosition> = None;
        let mut served = Vec::new();
        loop {
            let after = position.as_ref().map(|position| &position.after);
            let read_all = read_shards(order, shards, after, limit + 1, read).await.unwrap();
            let page = merge(order, shards, read_all, 0, limit);
            assert!(page.markets.len() <= limit);
            served.extend(page.markets.into_iter().map(|m| m.id));
            match page.next {
                // What the cursor carries is what the next page starts from.
                Some(next) => position = Some(ListPosition::from_bytes(&next.to_bytes()).unwrap()),
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
        // Each page: 8 shards, then shard 0 again.
        assert_eq!(reads, 2 * (8 + 1));
    }

    #[tokio::test]
    async fn the_last_page_has_no_cursor_and_an_empty_list_one_empty_page() {
        assert_eq!(walk(&[], 8, SortOrder::Desc, 5).await, (Vec::new(), 8));
        let two = [listed("a", "1"), listed("b", "2")];
        let reads = vec![ShardRead { markets: two.to_vec(), exhausted: true }];
        let page = merge(SortOrder::Asc, 1, reads, 0, 2);
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
        let reads = per_shard.into_iter().map(|markets| ShardRead { markets, exhausted: true }).collect();
        let page = merge(SortOrder::Desc, 8, reads, 12, 5);
        let ids: Vec<&str> = page.markets.iter().map(|m| m.id.as_str()).collect();
        let expected: Vec<&str> = sorted[12..17].iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, expected);
        assert_eq!(page.next.map(|next| next.after), Some(sorted[16].place()));
    }

    #[test]
    fn a_position_round_trips_through_its_bytes_and_nothing_else_passes_for_one() {
        let name = ListPosition {
            shards: 64,
            after: After { sort: KeyAttr::S("\u{1F600}".repeat(200)), id: "01JABCDEFGHJKMNPQRSTVWXYZ0".into() },
        };
        let volume = ListPosition { shards: 1, after: After { sort: KeyAttr::N("9.5".into()), id: "m1".into() } };
        for position in [&name, &volume] {
            assert_eq!(ListPosition::from_bytes(&position.to_bytes()).as_ref(), Some(position));
        }
        // The largest sort value (a name's key) with a ULID: 607 bytes, 810 in base64.
        assert_eq!(name.to_bytes().len(), 607);
        let bytes = volume.to_bytes();
        for end in 0..bytes.len() {
            assert_eq!(ListPosition::from_bytes(&bytes[..end]), None, "cut at {end}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        let mut other_format = bytes.clone();
        other_format[0] = 2;
        assert_eq!((ListPosition::from_bytes(&longer), ListPosition::from_bytes(&other_format)), (None, None));
    }
}
