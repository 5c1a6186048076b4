//! A fault-injecting HTTP proxy for one AWS service: the stack's functions reach DynamoDB (or SQS,
//! or S3 Vectors) through it (`--env AWS_ENDPOINT_URL_DYNAMODB=<proxy url>`), and a test decides,
//! request by request, which calls fail and how. Requests are matched on their `X-Amz-Target` (the
//! operation, e.g. `DynamoDB_20120810.GetItem` or `AmazonSQS.SendMessageBatch`) and their body
//! (e.g. a table name, or S3 Vectors' `"vectors":[`), so one table can fail while the others work.
//!
//! Each proxy serves one test, on its own port and thread, and stops when dropped; a black-holed
//! request is held for at most [`HOLD_LIMIT`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// The longest a black-holed request is held before its connection is dropped.
pub const HOLD_LIMIT: Duration = Duration::from_secs(15);

/// What happens to a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Taken in and never answered: the caller waits until it gives up (a network black hole).
    BlackHole,
    /// The connection is closed without an answer (the service unreachable).
    Refuse,
    /// Passed on and applied, then the connection is closed before the answer comes back (the
    /// request took effect, the caller cannot know it).
    LoseAnswer,
    /// Answered with HTTP 400 and this AWS JSON error type, e.g.
    /// `ProvisionedThroughputExceededException` or `ThrottlingException`.
    Error(&'static str),
    /// A `TransactWriteItems` cancelled because another transaction held its first item, as
    /// DynamoDB does under contention (moto runs one call at a time, so it never does): a
    /// `TransactionCanceledException` with one reason per item, `TransactionConflict` first.
    Conflict,
    /// Passed on and applied at once, its answer held back this long: the caller sees the state
    /// as it was when the call was made, and others may write in between.
    Delay(Duration),
}

struct Rule {
    /// Every one of these appears in the request's target or body.
    matching: Vec<String>,
    fault: Fault,
    /// How many more requests it applies to (`None`: until cleared).
    remaining: Option<usize>,
}

#[derive(Default)]
struct Shared {
    rules: Mutex<Vec<Rule>>,
    /// Faults applied so far.
    injected: AtomicUsize,
    /// Requests held (black-holed or delayed) right now.
    held: AtomicUsize,
    /// The target and body of every request seen, in order.
    seen: Mutex<Vec<String>>,
}

impl Shared {
    /// Records the request and takes the fault of the first rule it matches.
    fn fault_for(&self, text: String) -> Option<Fault> {
        let mut rules = self.rules.lock().unwrap();
        let rule = rules.iter_mut().find(|rule| {
            rule.remaining != Some(0) && rule.matching.iter().all(|needle| text.contains(needle.as_str()))
        });
        let fault = rule.map(|rule| {
            rule.remaining = rule.remaining.map(|n| n - 1);
            self.injected.fetch_add(1, Ordering::SeqCst);
            rule.fault
        });
        self.seen.lock().unwrap().push(text);
        fault
    }
}

/// The running proxy; dropping it stops it.
pub struct FaultProxy {
    pub url: String,
    shared: Arc<Shared>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl FaultProxy {
    /// A proxy in front of `target_url` (e.g. moto's `http://127.0.0.1:4566`).
    pub fn start(target_url: &str) -> FaultProxy {
        let target = target_url.trim_end_matches('/').to_owned();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a proxy port");
        listener.set_nonblocking(true).expect("non-blocking");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        let shared = Arc::new(Shared::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = shared.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(serve(listener, target, state, stopped));
        });
        FaultProxy { url, shared, _stop: stop }
    }

    /// A proxy in front of the test's moto server (`AWS_ENDPOINT_URL`, set by dev/test).
    pub fn for_moto() -> FaultProxy {
        FaultProxy::start(&std::env::var("AWS_ENDPOINT_URL").expect("dev/test sets AWS_ENDPOINT_URL"))
    }

    /// From now on, `fault` for every request whose target or body contains all of `matching`
    /// (`&[]`: every request), `times` times or until [`FaultProxy::clear`]. The first matching
    /// rule applies.
    pub fn inject(&self, matching: &[&str], fault: Fault, times: Option<usize>) {
        let matching = matching.iter().map(|s| s.to_string()).collect();
        self.shared.rules.lock().unwrap().push(Rule { matching, fault, remaining: times });
    }

    /// No more faults: every request goes through.
    pub fn clear(&self) {
        self.shared.rules.lock().unwrap().clear();
    }

    /// How many faults were applied so far.
    pub fn injected(&self) -> usize {
        self.shared.injected.load(Ordering::SeqCst)
    }

    /// How many requests are being held right now.
    pub fn held(&self) -> usize {
        self.shared.held.load(Ordering::SeqCst)
    }

    /// How many requests seen so far contain all of `matching`.
    pub fn seen(&self, matching: &[&str]) -> usize {
        let seen = self.shared.seen.lock().unwrap();
        seen.iter().filter(|text| matching.iter().all(|needle| text.contains(needle))).count()
    }
}

async fn serve(
    listener: std::net::TcpListener,
    target: String,
    shared: Arc<Shared>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("HTTP client");
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            _ = &mut stopped => return,
        };
        let (shared, client, target) = (shared.clone(), client.clone(), target.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                handle(request, shared.clone(), client.clone(), target.clone())
            });
            // An error here is a connection closed on purpose (Refuse, BlackHole) or by the caller.
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// Closes the connection without an answer.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fault proxy")
    }
}

impl std::error::Error for Dropped {}

/// Counts a request as held while it lives.
struct Held<'a>(&'a AtomicUsize);

impl<'a> Held<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Held(count)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(
    request: Request<Incoming>,
    shared: Arc<Shared>,
    client: reqwest::Client,
    target: String,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
    let operation = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
    let text = format!("{operation} {}", String::from_utf8_lossy(&body));
    let fault = shared.fault_for(text);
    match fault {
        Some(Fault::Refuse) => return Err(Dropped),
        Some(Fault::BlackHole) => {
            let _held = Held::new(&shared.held);
            tokio::time::sleep(HOLD_LIMIT).await;
            return Err(Dropped);
        }
        Some(Fault::Error(code)) => return Ok(aws_error(code, serde_json::Map::new())),
        Some(Fault::Conflict) => return Ok(transaction_conflict(&body)),
        Some(Fault::LoseAnswer | Fault::Delay(_)) | None => {}
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut forward = client.request(parts.method, format!("{target}{path}")).body(body);
    for (name, value) in &parts.headers {
        if !matches!(name.as_str(), "host" | "content-length" | "connection" | "transfer-encoding") {
            forward = forward.header(name, value);
        }
    }
    let answer = forward.send().await.map_err(|_| Dropped)?;
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if !matches!(name.as_str(), "content-length" | "connection" | "transfer-encoding") {
            response = response.header(name, value);
        }
    }
    let body = answer.bytes().await.map_err(|_| Dropped)?;
    match fault {
        Some(Fault::LoseAnswer) => return Err(Dropped),
        Some(Fault::Delay(delay)) => {
            let _held = Held::new(&shared.held);
            tokio::time::sleep(delay).await;
        }
        _ => {}
    }
    response.body(Full::new(body)).map_err(|_| Dropped)
}

/// A `TransactWriteItems` request's cancellation by a conflict on its first item.
fn transaction_conflict(request: &[u8]) -> Response<Full<Bytes>> {
    let request: serde_json::Value = serde_json::from_slice(request).unwrap_or_default();
    let items = request["TransactItems"].as_array().map_or(1, Vec::len);
    let reasons: Vec<serde_json::Value> = (0..items)
        .map(|i| match i {
            0 => serde_json::json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}),
            _ => serde_json::json!({"Code": "None"}),
        })
        .collect();
    let mut fields = serde_json::Map::new();
    fields.insert("CancellationReasons".into(), reasons.into());
    aws_error("TransactionCanceledException", fields)
}

/// An AWS JSON-protocol error, as DynamoDB (and SQS) send them, with the error's own `fields`.
fn aws_error(code: &str, fields: serde_json::Map<String, serde_json::Value>) -> Response<Full<Bytes>> {
    let mut body = serde_json::json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{code}"),
        "message": "injected by the fault proxy",
    });
    body.as_object_mut().expect("an object").extend(fields);
    Response::builder()
        .status(StatusCode::BAD_REQUEST)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amzn-errortype", code)
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a valid response")
}
