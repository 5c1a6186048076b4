//! The black-box test harness: each test gets its own local stack (dev/local.py) with its own
//! tables, running the real function binaries, and talks to it over HTTP: requests are built on
//! the stack (`stack.get(path)`, `stack.patch(path).as_user(&alice).json(..)`, see [`Request`]),
//! markets are made with [`Stack::create_market`], and paths come from [`market_path`] and
//! [`positions_path`]. A few tests also look behind the API (the tables, the queues, the vector
//! index, the function processes and their logs) to set up states HTTP cannot reach or to check
//! what a request did.
//!
//! Run through `dev/test`, which builds the binaries and starts one moto server for all tests
//! (`AWS_ENDPOINT_URL`). Without it, each stack starts a moto server of its own, but the tests
//! that look behind the API or inject faults need `dev/test`'s.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use markets_core::domain::{Amount, Market, MarketStatus, Role, UserProfile};
use markets_lambda::auth::{Claims, mint_token};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

mod faults;
mod request;
pub use faults::{Fault, FaultProxy};
pub use request::{CreatedMarket, Reply, Request, market_path, positions_path};

/// The longest a test may run with a stack: past it the test binary stops with the test's name, so a
/// test that would hang fails CI instead of running out its time. The slowest test takes about a
/// minute on a loaded machine.
pub const TEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// The token secret every test stack puts into its Secrets Manager secret (unless a test gives its own).
pub const JWT_SECRET: &str = "black-box-test-secret-0123456789abcdefghij";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the repo").to_path_buf()
}

fn venv_python() -> PathBuf {
    let python = repo_root().join("dev/.venv/bin/python");
    assert!(python.exists(), "dev/.venv is missing: run the tests with dev/test");
    python
}

/// A running local stack; dropping it stops the gateway and its function instances.
pub struct Stack {
    pub url: String,
    pub prefix: String,
    /// The stack's `WriteShards` (the template's default unless a `--param` set it).
    pub write_shards: usize,
    pub log_file: PathBuf,
    /// The X-Ray segment documents the stack's daemon received, one JSON line each.
    pub traces_file: PathBuf,
    http: reqwest::Client,
    process: Child,
    // Held open: the stack exits when this pipe closes, even if the test process is killed.
    _stdin: ChildStdin,
    _watchdog: Watchdog,
}

/// Ends the test binary if the test that started a stack is still running after [`TEST_TIMEOUT`];
/// dropped with the stack.
struct Watchdog {
    _running: std::sync::mpsc::Sender<()>,
}

impl Watchdog {
    fn start() -> Watchdog {
        let (running, finished) = std::sync::mpsc::channel::<()>();
        // libtest names each test's thread after the test.
        let test = std::thread::current().name().unwrap_or("a test").to_owned();
        std::thread::spawn(move || {
            if finished.recv_timeout(TEST_TIMEOUT) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                // Straight to stderr: libtest captures eprintln! and exit skips its replay.
                let message = format!("{test} is still running after {TEST_TIMEOUT:?}: stopping the test binary");
                let _ = writeln!(std::io::stderr(), "{message}");
                std::process::exit(101);
            }
        });
        Watchdog { _running: running }
    }
}

impl Stack {
    pub fn start() -> Stack {
        Self::start_with(&[])
    }

    /// A stack started with more `dev/local.py serve` arguments (`--env K=V`, `--param K=V`,
    /// `--secret K=V`, `--schedule-seconds N`, `--max-instances N`, `--no-cache`,
    /// `--cache-endpoint URL`); a later `--secret JwtSecret=...` wins.
    pub fn start_with(extra_args: &[&str]) -> Stack {
        Self::start_with_prefix(&format!("t{}", ulid::Ulid::new().to_string().to_lowercase()), extra_args)
    }

    /// A stack whose functions reach `service` (`DYNAMODB`, `SQS`, `S3VECTORS` or `BEDROCK_RUNTIME`, as in
    /// `AWS_ENDPOINT_URL_<service>`) through `proxy`, with the deployed SDK timeouts (the faults
    /// are what the test is about) and more `dev/local.py serve` arguments.
    pub fn start_behind(proxy: &FaultProxy, service: &str, extra_args: &[&str]) -> Stack {
        let endpoint = format!("AWS_ENDPOINT_URL_{service}={}", proxy.url);
        Self::start_with(&[&["--env", endpoint.as_str(), "--env", "SDK_TIMEOUT_SCALE=1"], extra_args].concat())
    }

    /// A stack on the tables of `prefix`: a second stack on a first one's tables is a second set
    /// of function instances sharing the same data.
    pub fn start_with_prefix(prefix: &str, extra_args: &[&str]) -> Stack {
        // From the start: a stack that never says it is listening must not hang the test either.
        let watchdog = Watchdog::start();
        let root = repo_root();
        let prefix = prefix.to_owned();
        let log_name = format!("{prefix}-{}", ulid::Ulid::new());
        let log_file = std::env::temp_dir().join(format!("{log_name}.log"));
        let traces_file = std::env::temp_dir().join(format!("{log_name}.traces.jsonl"));
        let mut command = Command::new(venv_python());
        command
            .arg(root.join("dev/local.py"))
            .args(["serve", "--port", "0", "--prefix", &prefix, "--exit-with-stdin", "--quiet"])
            .arg("--log-file")
            .arg(&log_file)
            .arg("--traces-file")
            .arg(&traces_file)
            .args(["--secret", &format!("JwtSecret={JWT_SECRET}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // Unless a test sets its own: a rate limit tests never reach (they send many requests as one
        // user). The shared cache is on (a redis-server of the stack's own), as locally by default,
        // with a timeout a loaded 2-core machine keeps (a timed-out fill makes a hit a miss); and SDK
        // timeouts for moto on a loaded machine, not for DynamoDB.
        command.args(["--env", "RATE_LIMIT_PER_MINUTE=1000000", "--env", "CACHE_TIMEOUT_MS=1000"]);
        command.args(["--env", "SDK_TIMEOUT_SCALE=10"]);
        // And, unless a test sets its own, no reserved concurrency and a stage throttle tests never
        // reach: the local gateway refuses what AWS would (an invocation over a function's reservation,
        // a request over the stage's rate), and tests send bursts of 100 concurrent writes to check
        // what concurrency does to the data. tests/aws_limits.rs sets both low to see the refusals.
        let unlimited = [
            "ReadRouteConcurrency=0",
            "WriteRouteConcurrency=0",
            "ApiThrottlingBurstLimit=1000000",
            "ApiThrottlingRateLimit=1000000",
        ];
        for param in unlimited {
            command.args(["--param", param]);
        }
        command.args(extra_args);
        let mut process = command.spawn().expect("start dev/local.py");
        let stdin = process.stdin.take().expect("piped stdin");
        let mut stdout = BufReader::new(process.stdout.take().expect("piped stdout"));
        let mut first_line = String::new();
        stdout.read_line(&mut first_line).expect("read the stack's first line");
        // Keep reading, so the stack never writes into a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let url = first_line
            .trim()
            .strip_prefix("Markets API listening on ")
            .unwrap_or_else(|| panic!("the local stack did not start: {first_line:?}"))
            .to_owned();
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .expect("HTTP client");
        let write_shards = extra_args
            .iter()
            .find_map(|arg| arg.strip_prefix("WriteShards=")?.parse().ok())
            .unwrap_or(markets_aws::settings::DEFAULT_WRITE_SHARDS);
        Stack { url, prefix, write_shards, log_file, traces_file, http, process, _stdin: stdin, _watchdog: watchdog }
    }

    /// Sends `request` as raw bytes and reads the whole answer (the gateway closes the connection):
    /// status, lower-case headers, body.
    pub fn raw(&self, request: &[u8]) -> (u16, Vec<(String, String)>, String) {
        let address = self.url.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address).expect("connect");
        stream.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
        // The gateway may answer and close before reading all of an oversized request.
        let _ = stream.write_all(request);
        let mut answer = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stream, &mut answer);
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no HTTP answer: {answer:?}"));
        let mut lines = head.split("\r\n");
        let status = lines.next().and_then(|line| line.split(' ').nth(1)).and_then(|s| s.parse().ok()).unwrap();
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        (status, headers, body.to_owned())
    }

    /// A request with any method (even one HTTP does not define) to `path`, sent as is.
    pub fn request(&self, method: Method, path: &str) -> Request {
        Request::new(self.http.request(method, format!("{}{path}", self.url)))
    }

    pub fn get(&self, path: &str) -> Request {
        self.request(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> Request {
        self.request(Method::POST, path)
    }

    pub fn put(&self, path: &str) -> Request {
        self.request(Method::PUT, path)
    }

    pub fn patch(&self, path: &str) -> Request {
        self.request(Method::PATCH, path)
    }

    pub fn delete(&self, path: &str) -> Request {
        self.request(Method::DELETE, path)
    }

    /// The ids of the markets a search for `query` (URL-encoded) finds, best first.
    pub async fn search_ids(&self, query: &str, limit: usize) -> Vec<String> {
        let reply = self.get(&format!("/api/markets/search?q={query}&limit={limit}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.body["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect()
    }

    /// Creates a market named `name` as `user` (asserting the 201).
    pub async fn create_market(&self, user: &User, name: &str) -> CreatedMarket {
        self.create_market_with(user, json!({ "name": name })).await
    }

    /// Creates a market from `body` as `user` (asserting the 201).
    pub async fn create_market_with(&self, user: &User, body: Value) -> CreatedMarket {
        CreatedMarket::from_reply(self.post("/api/markets").as_user(user).json(body).await)
    }
}

/// A stack's repositories, as the functions see them.
pub struct Repositories {
    pub markets: std::sync::Arc<dyn markets_core::repo::MarketRepository>,
}

impl Stack {
    /// The stack's tables through the same DynamoDB repositories the functions use (for setting up
    /// states HTTP cannot reach, and for looking behind the API).
    pub async fn repositories(&self) -> Repositories {
        let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let tables = markets_aws::settings::Tables::with_prefix(&self.prefix, self.write_shards);
        let markets = markets_aws::dynamodb::DynamoMarkets::new(aws_sdk_dynamodb::Client::new(&aws), tables);
        Repositories { markets: std::sync::Arc::new(markets) }
    }

    /// The SQS client and the URL of the stack's queue `logical_id` (e.g. `IndexQueue`).
    pub async fn queue(&self, logical_id: &str) -> (aws_sdk_sqs::Client, String) {
        let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let name = markets_aws::settings::local_name(&self.prefix, logical_id);
        let url =
            sqs.get_queue_url().queue_name(name).send().await.expect("queue exists").queue_url.unwrap_or_default();
        (sqs, url)
    }

    /// A market's entry in the stack's S3 Vectors index: the `version` and `status` stored with
    /// its vector, if it has one.
    pub async fn vector_entry(&self, market_id: &str) -> Option<(u64, String)> {
        let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let index = markets_aws::settings::local_vector_index_arn(&self.prefix);
        let output = aws_sdk_s3vectors::Client::new(&aws)
            .get_vectors()
            .index_arn(index)
            .keys(market_id)
            .return_metadata(true)
            .send()
            .await
            .expect("GetVectors");
        let metadata = output.vectors.first()?.metadata.as_ref()?.as_object()?.clone();
        let version = match metadata.get("version")? {
            aws_smithy_types::Document::Number(number) => number.to_f64_lossy() as u64,
            _ => return None,
        };
        Some((version, metadata.get("status")?.as_string()?.to_owned()))
    }

    /// The process ids of the stack's running instances of the function `binary` (e.g.
    /// `index-worker`): the gateway's child processes running that binary.
    pub fn function_pids(&self, binary: &str) -> Vec<u32> {
        let gateway = self.process.id().to_string();
        let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
        entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after ')'.
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let parent = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1));
                let command = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let program = command.split(|b| *b == 0).next().unwrap_or_default();
                parent == Some(gateway.as_str()) && program.ends_with(format!("/{binary}").as_bytes())
            })
            .collect()
    }

    /// Every JSON line the stack's functions logged so far.
    pub fn logs(&self) -> Vec<Value> {
        let logs = std::fs::read_to_string(&self.log_file).unwrap_or_default();
        logs.lines().filter_map(|line| serde_json::from_str::<Value>(line).ok()).collect()
    }

    /// Every X-Ray segment document the stack's daemon received so far.
    pub fn trace_documents(&self) -> Vec<Value> {
        let documents = std::fs::read_to_string(&self.traces_file).unwrap_or_default();
        documents.lines().filter_map(|line| serde_json::from_str::<Value>(line).ok()).collect()
    }

    /// The stack's log lines once `ready` holds for them (function output reaches the log file a
    /// moment after the response, through the gateway's pipe), or after 5 s whatever they are.
    pub fn logs_when(&self, ready: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        self.logs_within(std::time::Duration::from_secs(5), ready)
    }

    /// The stack's log lines once `ready` holds for them, or after `within` whatever they are (for
    /// lines that come from work after the response, such as a job retried).
    pub fn logs_within(&self, within: std::time::Duration, ready: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let logs = self.logs();
            if ready(&logs) || std::time::Instant::now() > deadline {
                return logs;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// How long the function took to answer `reply`, by its own request log line (not the test's
    /// clock, which a loaded machine stretches with the gateway's and the client's time).
    pub fn latency(&self, reply: &Reply) -> std::time::Duration {
        let log = self.request_log(reply.header("x-request-id").expect("every answer has a request id"));
        std::time::Duration::from_secs_f64(log["latency_ms"].as_f64().expect("latency_ms") / 1000.0)
    }

    /// The JSON log line the function wrote for the request with this id.
    pub fn request_log(&self, request_id: &str) -> Value {
        let is_it = |line: &Value| line["message"] == "request" && line["request_id"] == request_id;
        self.logs_when(|logs| logs.iter().any(is_it))
            .into_iter()
            .find(is_it)
            .unwrap_or_else(|| panic!("no request log line for {request_id} in {}", self.log_file.display()))
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SIGTERM lets the gateway stop its function instances before it exits.
        let _ = Command::new("kill").arg(self.process.id().to_string()).status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.process.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        // Its function instances exit by themselves once their runtime API is gone.
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A test user with a role, who can mint tokens for the test stacks' secret.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub role: Role,
}

impl User {
    pub fn new(role: Role) -> User {
        User { id: format!("user-{}", ulid::Ulid::new()), role }
    }

    pub fn token(&self) -> String {
        self.token_with(|_| {})
    }

    /// A token whose claims `edit` may change (to expire it, say).
    pub fn token_with(&self, edit: impl FnOnce(&mut Claims)) -> String {
        let mut claims = Claims {
            sub: self.id.clone(),
            role: self.role,
            exp: now() + 600,
            name: Some(format!("{} name", self.id)),
            email: None,
            iss: None,
            aud: None,
        };
        edit(&mut claims);
        mint_token(JWT_SECRET.as_bytes(), &claims)
    }
}

pub use markets_core::domain::unix_seconds as now;

/// Polls `check` every 100 ms until it holds (returns how long that took) or `within` has passed.
pub async fn eventually(
    within: std::time::Duration,
    mut check: impl AsyncFnMut() -> bool,
) -> Option<std::time::Duration> {
    let started = std::time::Instant::now();
    while started.elapsed() < within {
        if check().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    None
}

/// Whether a log line is the index worker's "job done" for market `id`.
pub fn job_done(id: &str) -> impl Fn(&Value) -> bool + '_ {
    move |line| line["message"] == "job done" && line["market_id"] == id
}

/// Whether a log line is the index worker's "job failed" for market `id`.
pub fn job_failed(id: &str) -> impl Fn(&Value) -> bool + '_ {
    move |line| line["message"] == "job failed" && line["market_id"] == id
}

/// Waits, if needed, so that at least 15 s are left in the current rate-limit window of
/// `window` seconds: a test that counts requests then cannot see its counter reset.
pub async fn away_from_window_end(window: u64) {
    let into_window = now() % window;
    if into_window > window - 15 {
        tokio::time::sleep(std::time::Duration::from_secs(window - into_window + 1)).await;
    }
}

/// A market at `version`, with what its stored form must keep exactly: a decimal volume, an
/// optional end date, its creator.
pub fn cached_market(version: u64) -> markets_core::cache::CachedMarket {
    let market = Market {
        id: "m".into(),
        name: "Rain in Paris? \u{2614}".into(),
        description: "Line one\nline two".into(),
        status: MarketStatus::Closed,
        volume: Amount::from_stored("1234567.000001").expect("a decimal"),
        creator_id: "alice".into(),
        end_date: Some("2027-01-01T00:00:00Z".into()),
        created_at: "2026-01-01T00:00:00Z".into(),
        updated_at: "2026-01-02T00:00:00Z".into(),
        version,
    };
    markets_core::cache::CachedMarket {
        market,
        creator: Some(UserProfile { id: "alice".into(), name: "Alice".into() }),
    }
}

/// A Redis-compatible server of a test's own (`python -m sim.harness cache`: the redis-server
/// dev/bootstrap installs, as a stack runs it), which the test can stop and start again on the same port.
pub struct CacheServer {
    pub endpoint: String,
    port: u16,
    process: Option<Child>,
}

impl CacheServer {
    pub fn start() -> CacheServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("bound").port();
        let mut server = CacheServer { endpoint: format!("redis://127.0.0.1:{port}"), port, process: None };
        server.restart();
        server
    }

    /// Starts the server again (empty) after [`CacheServer::stop`], as the stacks start theirs (the
    /// dev harness, which becomes the server: killing it is killing the server).
    pub fn restart(&mut self) {
        let process = Command::new(venv_python())
            .current_dir(repo_root().join("dev"))
            .args(["-m", "sim.harness", "cache", "--port", &self.port.to_string()])
            .stdout(Stdio::null())
            .spawn()
            .expect("start the cache server");
        self.process = Some(process);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "the cache server did not start on port {}", self.port);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Kills the server, as a crash would.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

/// A cache endpoint that takes connections and never answers a command (a wedged connection, a
/// network black hole): a client pointed at it waits for its own timeout on every call. Unlike a
/// paused server, nothing it was sent ever runs. Its connections live as long as the test binary.
pub struct CacheBlackHole {
    pub endpoint: String,
}

impl CacheBlackHole {
    pub fn start() -> CacheBlackHole {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("bound").port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for connection in listener.incoming().flatten() {
                held.push(connection);
            }
        });
        CacheBlackHole { endpoint: format!("redis://127.0.0.1:{port}") }
    }
}

impl Drop for CacheServer {
    fn drop(&mut self) {
        self.stop();
    }
}
