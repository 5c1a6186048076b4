//! List cursors stay small whatever the shard count and the names: a cursor carries one place in
//! the list's order, not one per shard, so a walk by 200-character names of 4-byte characters on
//! 1, 8 or 32 shards never makes a cursor over 1 KB, and still serves every market once, in order,
//! through ties. A cursor from a stack with another shard count is refused.

use std::collections::HashSet;

use api_tests::{Stack, User};
use futures::StreamExt;
use markets_core::domain::Role;
use reqwest::StatusCode;

/// The largest cursor a walk may produce: well inside API Gateway's 10,240-byte request line.
const MAX_CURSOR_BYTES: usize = 1024;
const MARKETS: usize = 30;

/// A 200-character name of 4-byte characters: CJK Extension B, emoji, and Deseret capitals (which
/// lower-case to other 4-byte characters). Every third name repeats the one before it in the other
/// case, so that names tie once case-folded.
fn long_name(i: usize) -> String {
    let base = i - usize::from(i % 3 == 2);
    let chars = (0..200u32).map(|k| {
        let pick = (base as u32).wrapping_mul(7919).wrapping_add(k.wrapping_mul(104_729)) % 3;
        let value = match pick {
            0 => 0x2_0000 + (base as u32 * 31 + k * 17) % 0xA6D0,
            1 => 0x1_F600 + (base as u32 + k) % 0x50,
            _ => 0x1_0400 + (base as u32 * 3 + k) % 0x28,
        };
        char::from_u32(value).expect("a scalar value")
    });
    let name: String = chars.collect();
    if i % 3 == 2 { name.to_lowercase() } else { name }
}

/// Walks `query` in pages of `limit`, checking each cursor's size; the ids served and the longest cursor.
async fn walk(stack: &Stack, query: &str, limit: usize) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    let mut longest = 0;
    for _ in 0..=MARKETS {
        let path = match &cursor {
            Some(cursor) => format!("/api/markets?{query}&limit={limit}&cursor={cursor}"),
            None => format!("/api/markets?{query}&limit={limit}"),
        };
        let reply = stack.get(&path).await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.text);
        ids.extend(reply.body["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()));
        match reply.body["meta"]["nextCursor"].as_str() {
            Some(next) => {
                assert!(next.len() <= MAX_CURSOR_BYTES, "{query}: a cursor of {} bytes", next.len());
                longest = longest.max(next.len());
                cursor = Some(next.to_owned());
            }
            None => return (ids, longest),
        }
    }
    panic!("{query}: the walk did not end after {MARKETS} pages of {limit}");
}

#[tokio::test]
async fn cursors_stay_under_1_kb_on_1_8_and_32_shards_with_long_4_byte_names_and_walks_stay_exact() {
    let alice = User::new(Role::User);
    for shards in [1, 8, 32] {
        let stack = Stack::start_with(&["--param", &format!("WriteShards={shards}")]);
        let created: Vec<(String, String)> = futures::stream::iter(0..MARKETS)
            .map(|i| {
                let (stack, alice) = (&stack, &alice);
                async move {
                    let name = long_name(i);
                    let market = stack.create_market(alice, &name).await;
                    (market.id, name)
                }
            })
            .buffer_unordered(8)
            .collect()
            .await;
        let mut by_name: Vec<(String, &str)> =
            created.iter().map(|(id, name)| (name.to_lowercase(), id.as_str())).collect();
        by_name.sort();
        let ascending: Vec<&str> = by_name.iter().map(|(_, id)| *id).collect();
        assert!(by_name.windows(2).any(|w| w[0].0 == w[1].0), "some names tie once case-folded");

        let mut longest = 0;
        for (order, limit) in [("asc", 5), ("desc", 5), ("asc", 1)] {
            let (ids, cursor) = walk(&stack, &format!("sort=name&order={order}"), limit).await;
            let mut expected = ascending.clone();
            if order == "desc" {
                expected.reverse();
            }
            assert_eq!(ids, expected, "{shards} shards, name {order}, limit {limit}: every market once, in order");
            longest = longest.max(cursor);
        }
        // Every market has volume 0: the walk by volume is one tie, broken by id.
        let (ids, _) = walk(&stack, "sort=volume&order=desc", 4).await;
        let mut expected: Vec<&str> = ascending.clone();
        expected.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(ids, expected, "{shards} shards: a walk through one tie");
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), MARKETS);
        println!("{shards} shards: longest cursor {longest} bytes");
    }
}

#[tokio::test]
async fn a_cursor_from_another_shard_count_is_an_invalid_cursor() {
    let alice = User::new(Role::User);
    let eight = Stack::start_with(&["--param", "WriteShards=8"]);
    for i in 0..3 {
        eight.create_market(&alice, &format!("Market {i}")).await;
    }
    let first = eight.get("/api/markets?sort=name&limit=1").await;
    let cursor = first.body["meta"]["nextCursor"].as_str().expect("a next page").to_owned();
    let path = format!("/api/markets?sort=name&limit=1&cursor={cursor}");
    assert_eq!(eight.get(&path).await.status, StatusCode::OK);

    // The same tables and cursor secret, another shard count.
    let thirty_two = Stack::start_with_prefix(&eight.prefix, &["--param", "WriteShards=32"]);
    let reply = thirty_two.get(&path).await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::BAD_REQUEST, "INVALID_CURSOR"), "{}", reply.text);
}
