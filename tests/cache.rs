//! Reads never go back in time: with the shared cache (a real redis-server) and without it, through
//! several warm get-market instances; a reader's fill racing writes on the real server; a write
//! whose refresh is lost; and a cache that dies mid-run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use api_tests::{
    CacheBlackHole, CacheServer, CreatedMarket, Reply, Stack, User, cached_market, eventually, positions_path,
};
use markets_aws::settings::CacheSettings;
use markets_aws::valkey::RedisCache;
use markets_core::cache::{Lookup, MarketCache};
use markets_core::domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

const LOOPS: usize = 200;
/// Reads after each write, sent at once so that they land on different instances.
const READS: usize = 4;

/// What every read after a write must show.
#[derive(Debug, Clone)]
enum Expected {
    Market { version: u64, name: String, volume: u64 },
    Gone,
}

/// Why `reply` is stale or inconsistent, if it is.
fn problem(reply: &Reply, expected: &Expected) -> Option<String> {
    match expected {
        Expected::Gone => (reply.status != StatusCode::NOT_FOUND).then(|| format!("{} after DELETE", reply.status)),
        Expected::Market { version, name, volume } => {
            let data = &reply.body["data"];
            let etag = format!("\"v{}\"", data["version"]);
            let fine = reply.status == StatusCode::OK
                && data["version"] == *version
                && data["name"] == name.as_str()
                && data["volume"] == *volume
                && reply.header("etag") == Some(etag.as_str());
            (!fine).then(|| format!("{} {:?} {data} for {expected:?}", reply.status, reply.header("etag")))
        }
    }
}

/// `READS` reads of `path` sent at once, one revalidating with `old_etag` (the ETag from before the
/// write, which must not get a 304): why each is stale or inconsistent, if it is.
async fn stale_reads(stack: &Stack, path: &str, old_etag: &str, expected: &Expected) -> Vec<String> {
    let reads = (0..READS).map(|r| {
        let read = stack.get(path);
        (if r == 0 { read.if_none_match(old_etag) } else { read }).send()
    });
    futures::future::join_all(reads).await.iter().filter_map(|reply| problem(reply, expected)).collect()
}

async fn create(stack: &Stack, user: &User, name: &str) -> (CreatedMarket, Expected) {
    let market = stack.create_market(user, name).await;
    (market, Expected::Market { version: 1, name: name.to_owned(), volume: 0 })
}

/// Warms at least `READS` get-market instances, then loops write → reads `LOOPS` times (PATCH, PUT,
/// position, and a DELETE every 50) while a reader keeps filling the cache in the background;
/// returns every stale or inconsistent answer.
async fn write_read_loops(stack: &Stack) -> Vec<String> {
    let moderator = User::new(Role::Moderator);
    let (mut market, mut expected) = create(stack, &moderator, "m0").await;
    for _ in 0..3 {
        futures::future::join_all((0..2 * READS).map(|_| stack.get(&market.path).send())).await;
    }
    let cold_starts = |logs: &[Value]| {
        logs.iter().filter(|l| l["route"] == "GET /api/markets/{id}" && l["cold_start"] == true).count()
    };
    let warmed = cold_starts(&stack.logs_when(|logs| cold_starts(logs) >= READS));
    assert!(warmed >= READS, "{warmed} get-market instances warmed");

    // The background reader runs on the test's task, beside the writes (the test runtime has one
    // thread either way).
    let current = std::sync::Mutex::new(market.path.clone());
    let stop = AtomicBool::new(false);
    let background = async {
        while !stop.load(Ordering::Relaxed) {
            let path = current.lock().unwrap().clone();
            let status = stack.get(&path).await.status;
            assert!([StatusCode::OK, StatusCode::NOT_FOUND].contains(&status), "{status:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };

    let loops = async {
        let mut problems = Vec::new();
        for i in 1..=LOOPS {
            let Expected::Market { version, name, volume } = expected.clone() else { unreachable!() };
            let previous_etag = format!("\"v{version}\"");
            let name_now = format!("m{i}");
            let path = market.path.as_str();
            expected = if i % 50 == 0 {
                assert_eq!(stack.delete(path).as_user(&moderator).await.status, StatusCode::NO_CONTENT);
                Expected::Gone
            } else {
                match i % 3 {
                    0 => {
                        let reply = stack.patch(path).as_user(&moderator).json(json!({"name": name_now})).await;
                        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
                        Expected::Market { version: version + 1, name: name_now, volume }
                    }
                    1 => {
                        let body = json!({"name": name_now, "description": "d", "status": "active"});
                        let reply = stack.put(path).as_user(&moderator).json(body).await;
                        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
                        Expected::Market { version: version + 1, name: name_now, volume }
                    }
                    _ => {
                        let position = json!({"outcome": "yes", "amount": 1});
                        let reply = stack.post(&positions_path(&market.id)).as_user(&moderator).json(position).await;
                        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
                        Expected::Market { version: version + 1, name, volume: volume + 1 }
                    }
                }
            };
            // The write has been answered: every read from now on shows it.
            let stale = stale_reads(stack, path, &previous_etag, &expected).await;
            problems.extend(stale.into_iter().map(|p| format!("loop {i}: {p}")));
            if matches!(expected, Expected::Gone) {
                (market, expected) = create(stack, &moderator, &format!("m{i}")).await;
                *current.lock().unwrap() = market.path.clone();
            }
        }
        stop.store(true, Ordering::Relaxed);
        problems
    };
    tokio::join!(loops, background).0
}

/// How many get-market requests the cache answered in `logs`, and the DynamoDB calls those made
/// besides the rate limiter's (its `UpdateItem`, counted in every line).
fn hits(logs: &[Value]) -> (usize, u64) {
    let hit = |l: &&Value| l["route"] == "GET /api/markets/{id}" && l["cache_hit"] == true;
    let lines: Vec<&Value> = logs.iter().filter(hit).collect();
    (lines.len(), lines.iter().map(|l| l["dynamodb_calls"].as_u64().unwrap() - 1).sum())
}

#[tokio::test]
async fn no_stale_reads_through_the_shared_cache() {
    let stack = Stack::start();
    let problems = write_read_loops(&stack).await;
    assert!(problems.is_empty(), "{} stale answers: {problems:#?}", problems.len());
    let (hits, calls) = hits(&stack.logs_when(|logs| hits(logs).0 > LOOPS));
    assert!(hits > LOOPS, "the cache answered {hits} reads");
    assert_eq!(calls, 0, "a hit makes no DynamoDB call but the rate limiter's");
}

#[tokio::test]
async fn no_stale_reads_without_a_cache() {
    let stack = Stack::start_with(&["--no-cache"]);
    let problems = write_read_loops(&stack).await;
    assert!(problems.is_empty(), "{} stale answers: {problems:#?}", problems.len());
    assert_eq!(hits(&stack.logs()).0, 0);
}

/// GETs `path` until the cache answers one (a fill may be lost to a timeout, or a reconnection may
/// be under way); that reply.
async fn get_until_hit(stack: &Stack, path: &str) -> Reply {
    let mut last = None;
    let hit = eventually(Duration::from_secs(15), async || {
        let reply = stack.get(path).await;
        let hit = stack.request_log(reply.header("x-request-id").unwrap())["cache_hit"] == true;
        last = Some(reply);
        hit
    })
    .await;
    assert!(hit.is_some(), "no cache hit for {path} within 15 s");
    last.expect("read at least once")
}

#[tokio::test]
async fn a_hit_makes_no_dynamodb_call_and_revalidates_from_the_cached_version() {
    let stack = Stack::start();
    let alice = User::new(Role::User);
    let (market, _) = create(&stack, &alice, "Cached?").await;
    let miss = stack.get(&market.path).await;
    let hit = get_until_hit(&stack, &market.path).await;
    let not_modified = stack.get(&market.path).if_none_match("\"v1\"").await;
    assert_eq!((miss.body["data"].clone(), hit.header("cache-control")), (hit.body["data"].clone(), Some("no-cache")));
    assert_eq!((not_modified.status, not_modified.header("etag")), (StatusCode::NOT_MODIFIED, Some("\"v1\"")));
    let logged = |reply: &Reply| stack.request_log(reply.header("x-request-id").unwrap());
    let (miss, hit, not_modified) = (logged(&miss), logged(&hit), logged(&not_modified));
    // One read (the creator is stored with the market), after the rate limiter's UpdateItem: every
    // line counts the limiter's call too.
    let miss_ops = (&miss["cache_hit"], &miss["dynamodb_ops"], &miss["dynamodb_calls"]);
    assert_eq!(miss_ops, (&json!(false), &json!("UpdateItem,GetItem"), &json!(2)));
    for line in [hit, not_modified] {
        let ops = (&line["cache_hit"], &line["dynamodb_ops"], &line["dynamodb_calls"]);
        assert_eq!(ops, (&json!(true), &json!("UpdateItem"), &json!(1)), "{line}");
    }
}

/// The cache on a server of the test's own; a generous timeout, since this checks the scripts'
/// atomicity, not speed.
async fn real_cache(server: &CacheServer) -> RedisCache {
    let settings = CacheSettings { timeout: Duration::from_secs(5), ..CacheSettings::default() };
    RedisCache::connect(&server.endpoint, &settings).await.expect("connect")
}

#[tokio::test]
async fn on_the_real_server_a_reader_that_loaded_v1_cannot_put_it_back() {
    let server = CacheServer::start();
    let cache = real_cache(&server).await;
    let mut raw =
        redis::Client::open(server.endpoint.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    // Each write a slow reader can lose its lease to, even an eviction of the whole entry.
    for (n, write) in ["update", "invalidate", "tombstone", "eviction"].into_iter().enumerate() {
        let id = format!("race-{n}");
        let Lookup::Miss(Some(lease)) = cache.lookup(&id).await.unwrap() else { panic!("a miss with a lease") };
        // ... the reader loads version 1 from DynamoDB; meanwhile version 2 (or a delete) commits.
        match write {
            "update" => cache.update(&id, &cached_market(2)).await.unwrap(),
            "invalidate" => cache.invalidate(&id).await.unwrap(),
            "tombstone" => cache.tombstone(&id).await.unwrap(),
            _ => redis::cmd("DEL").arg(format!("market:{id}")).exec_async(&mut raw).await.unwrap(),
        }
        assert!(!cache.fill(&id, &lease, &cached_market(1)).await.unwrap(), "v1 put back after {write}");
        let now = cache.lookup(&id).await.unwrap();
        // An update without a body to replace only learns its version: the next reader fills.
        let expected = match write {
            "tombstone" => now == Lookup::Deleted,
            _ => matches!(now, Lookup::Miss(Some(_))),
        };
        assert!(expected, "after {write}: {now:?}");
    }
}

#[tokio::test]
async fn on_the_real_server_an_edit_refreshed_after_a_later_position_is_not_served() {
    let server = CacheServer::start();
    let cache = real_cache(&server).await;
    let Lookup::Miss(Some(lease)) = cache.lookup("late").await.unwrap() else { panic!("a miss with a lease") };
    assert!(cache.fill("late", &lease, &cached_market(1)).await.unwrap());
    // A PATCH commits v2; a position commits v3 and invalidates; then the PATCH's update lands.
    cache.invalidate("late").await.unwrap();
    cache.update("late", &cached_market(2)).await.unwrap();
    let Lookup::Miss(Some(lease)) = cache.lookup("late").await.unwrap() else { panic!("v2 must not be a hit") };
    assert!(!cache.fill("late", &lease, &cached_market(1)).await.unwrap(), "never below the edit's version");
    assert!(cache.fill("late", &lease, &cached_market(3)).await.unwrap());
    assert_eq!(
        cache.lookup("late").await.unwrap(),
        Lookup::Hit(Box::new(cached_market(3))),
        "stored and read back exactly"
    );
}

#[tokio::test]
async fn on_the_real_server_racing_fills_never_show_a_version_older_than_the_last_write() {
    let server = CacheServer::start();
    let cache = Arc::new(real_cache(&server).await);
    // The "table": the committed version; and the last version whose write has been answered.
    let (committed, answered) = (Arc::new(AtomicU64::new(1)), Arc::new(AtomicU64::new(1)));
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..6)
        .map(|_| {
            let (cache, committed, answered, done) = (cache.clone(), committed.clone(), answered.clone(), done.clone());
            tokio::spawn(async move {
                let (mut stale, mut hits) = (0, 0);
                while !done.load(Ordering::SeqCst) {
                    let floor = answered.load(Ordering::SeqCst);
                    match cache.lookup("hot").await.unwrap() {
                        Lookup::Hit(m) if m.version() < floor => stale += 1,
                        Lookup::Hit(_) => hits += 1,
                        Lookup::Miss(Some(lease)) => {
                            let loaded = committed.load(Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_micros(fastrand::u64(0..2000))).await;
                            cache.fill("hot", &lease, &cached_market(loaded)).await.unwrap();
                        }
                        _ => {}
                    }
                }
                (stale, hits)
            })
        })
        .collect();
    for version in 2..=150 {
        committed.store(version, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_micros(fastrand::u64(0..1000))).await;
        // An edit knows its new version; a position does not and only invalidates.
        if fastrand::bool() {
            cache.update("hot", &cached_market(version)).await
        } else {
            cache.invalidate("hot").await
        }
        .unwrap();
        answered.store(version, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    cache.tombstone("hot").await.unwrap();
    done.store(true, Ordering::SeqCst);
    let counts = futures::future::join_all(readers).await.into_iter().map(|r| r.unwrap());
    let (stale, hits) = counts.fold((0, 0), |(stale, hits), (s, h)| (stale + s, hits + h));
    assert_eq!(stale, 0, "hits older than the last answered write");
    // A cache that never answers a lookup would pass the line above: the fills must serve readers.
    assert!(hits >= 100, "only {hits} fresh hits over 149 writes");
    println!("racing fills: {hits} fresh hits, {stale} stale");
    assert_eq!(cache.lookup("hot").await.unwrap(), Lookup::Deleted);
}

#[tokio::test]
async fn a_dead_cache_slows_reads_and_holds_writes_back() {
    let mut server = CacheServer::start();
    // The deployed timeout: a dead server refuses at once, so requests stay fast.
    let stack = Stack::start_with(&["--cache-endpoint", &server.endpoint, "--env", "CACHE_TIMEOUT_MS=50"]);
    let moderator = User::new(Role::Moderator);
    let (market, _) = create(&stack, &moderator, "Dead cache?").await;
    let path = market.path.as_str();
    get_until_hit(&stack, path).await;

    server.stop();
    // Reads go to DynamoDB. A write commits, but cannot tell readers that might still reach the
    // cache, so it answers 503 (a client's retry with its key gets the first answer once the cache
    // is back); reads show it all the same. As the functions measure it: never a hang.
    let bound = Duration::from_secs(5);
    for i in 1..=5u64 {
        let reply = stack.patch(path).as_user(&moderator).json(json!({"name": format!("n{i}")})).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{}", reply.body);
        assert_eq!((reply.error_code(), reply.header("retry-after")), ("UNAVAILABLE", Some("1")));
        let read = stack.get(path).await;
        let expected = Expected::Market { version: 1 + i, name: format!("n{i}"), volume: 0 };
        assert_eq!(problem(&read, &expected), None);
        let took = stack.latency(&reply) + stack.latency(&read);
        assert!(took < bound, "a write and a read took {took:?} with the cache down");
    }
    assert_eq!(stack.delete(path).as_user(&moderator).await.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(stack.get(path).await.status, StatusCode::NOT_FOUND);
    let warned = |logs: &[Value]| {
        logs.iter().any(|l| l["level"] == "WARN" && l["message"] == "cache lookup failed; reading DynamoDB")
    };
    assert!(warned(&stack.logs_when(warned)), "a warning is logged");

    // Back up (empty): the instances reconnect by themselves, hits resume and writes answer again.
    server.restart();
    let (market, _) = create(&stack, &moderator, "Back?").await;
    get_until_hit(&stack, &market.path).await;
    let renamed = eventually(Duration::from_secs(15), async || {
        stack.patch(&market.path).as_user(&moderator).json(json!({"name": "Back!"})).await.status == StatusCode::OK
    });
    assert!(renamed.await.is_some(), "writes answer 200 again once the cache is back");
}

/// Rounds per lane, and lanes run at once: 100 write → read rounds in all.
const LOST_REFRESH_ROUNDS: usize = 25;
const LOST_REFRESH_LANES: usize = 4;

/// One lane of [`a_lost_refresh_never_serves_the_past`]: rounds of a read through `readers` (so that
/// their cache holds the market), a write through `writers` (whose refresh cannot land), the
/// client's retry of it through `readers` as API.md asks after a 503, and reads through `readers`;
/// returns every stale answer after a write was answered 2xx or refused on what it found.
async fn lost_refresh_rounds(readers: &Stack, writers: &Stack, lane: usize) -> Vec<String> {
    let moderator = User::new(Role::Moderator);
    let (mut market, mut expected) = create(readers, &moderator, &format!("lane{lane}")).await;
    let mut problems = Vec::new();
    for round in 1..=LOST_REFRESH_ROUNDS {
        let Expected::Market { version, name, volume } = expected.clone() else { unreachable!() };
        let etag = format!("\"v{version}\"");
        let cached = get_until_hit(readers, &market.path).await;
        if let Some(stale) = problem(&cached, &expected) {
            problems.push(format!("lane {lane} round {round} before the write: {stale}"));
            break;
        }
        let path = market.path.as_str();
        let renamed = format!("lane{lane}-{round}");
        let key = format!("lane{lane}-round{round}");
        // The same request, to the writers and then again (the client's retry) to the readers.
        let write = |stack: &Stack| match round % 4 {
            0 => stack.delete(path).as_user(&moderator).if_match(&etag),
            1 => stack.patch(path).as_user(&moderator).if_match(&etag).json(json!({"name": renamed})),
            2 => stack
                .put(path)
                .as_user(&moderator)
                .json(json!({"name": renamed, "description": "", "status": "active"})),
            _ => stack
                .post(&positions_path(&market.id))
                .as_user(&moderator)
                .idempotency_key(&key)
                .json(json!({"outcome": "yes", "amount": 1})),
        };
        // What reads show after the write, and what the client's retry answers once it has committed.
        let retry_answers;
        (expected, retry_answers) = match round % 4 {
            0 => (Expected::Gone, StatusCode::NOT_FOUND),
            1 => (
                Expected::Market { version: version + 1, name: renamed.clone(), volume },
                StatusCode::PRECONDITION_FAILED,
            ),
            2 => (Expected::Market { version: version + 1, name: renamed.clone(), volume }, StatusCode::OK),
            _ => (Expected::Market { version: version + 1, name, volume: volume + 1 }, StatusCode::CREATED),
        };
        let first = write(writers).await;
        let retried = if first.status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(first.header("retry-after").is_some(), "a 503 without Retry-After: {}", first.body);
            let retry = write(readers).await;
            assert_eq!(retry.status, retry_answers, "lane {lane} round {round}: the retry: {}", retry.body);
            "the retry"
        } else {
            problems.push(format!(
                "lane {lane} round {round}: the writers answered {} with their refresh lost",
                first.status
            ));
            "the write"
        };
        let stale = stale_reads(readers, path, &etag, &expected).await;
        problems.extend(stale.into_iter().map(|p| format!("lane {lane} round {round} after {retried}: {p}")));
        if matches!(expected, Expected::Gone) {
            (market, expected) = create(readers, &moderator, &format!("lane{lane}-{round}")).await;
        }
    }
    problems
}

#[tokio::test]
async fn a_lost_refresh_never_serves_the_past() {
    // Readers and writers: two stacks on the same tables; the readers reach the cache, the writers'
    // connection to it is a black hole (the deployed 50 ms call timeout).
    let server = CacheServer::start();
    let black_hole = CacheBlackHole::start();
    let readers = Stack::start_with(&["--cache-endpoint", &server.endpoint]);
    let writers = Stack::start_with_prefix(
        &readers.prefix,
        &["--cache-endpoint", &black_hole.endpoint, "--env", "CACHE_TIMEOUT_MS=50"],
    );
    let lanes = (0..LOST_REFRESH_LANES).map(|lane| lost_refresh_rounds(&readers, &writers, lane));
    let problems: Vec<String> = futures::future::join_all(lanes).await.into_iter().flatten().collect();
    assert!(problems.is_empty(), "{} stale answers: {problems:#?}", problems.len());
    let lost = |logs: &[Value]| logs.iter().filter(|l| l["message"] == "cache not refreshed after a write").count();
    let logged = lost(&writers.logs_when(|logs| lost(logs) >= LOST_REFRESH_LANES * LOST_REFRESH_ROUNDS));
    assert_eq!(logged, LOST_REFRESH_LANES * LOST_REFRESH_ROUNDS, "each lost refresh is logged");
}
