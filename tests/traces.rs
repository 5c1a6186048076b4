//! Traces (X-Ray, issue 21): a write's request and the index job it causes are one trace, across
//! the outbox and SQS, whoever sends the job (the relay, or the sweeper when the relay could not);
//! each AWS call is a span under the work that made it; X-Ray's sampling decision is honoured and a
//! client's `traceparent` names the trace. The stack's daemon (dev/sim/traces.py) stores the
//! documents the functions send over UDP; these tests read them.

use std::time::Duration;

use api_tests::{Reply, Stack, User, eventually, job_done, positions_path};
use markets_core::domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// One span of a trace: a document or one of its nested subsegments, with its parent's id (the
/// enclosing one's, or the document's `parent_id`).
#[derive(Debug, Clone)]
struct Node {
    trace_id: String,
    id: String,
    parent_id: Option<String>,
    name: String,
    doc: Value,
}

impl Node {
    fn operation(&self) -> &str {
        self.doc["aws"]["operation"].as_str().unwrap_or_default()
    }

    fn is_call(&self, service: &str, operation: &str) -> bool {
        self.name == service && self.operation() == operation
    }
}

fn flatten(doc: &Value, trace_id: &str, parent_id: Option<String>, into: &mut Vec<Node>) {
    let id = doc["id"].as_str().unwrap_or_default().to_owned();
    for sub in doc["subsegments"].as_array().into_iter().flatten() {
        flatten(sub, trace_id, Some(id.clone()), into);
    }
    let name = doc["name"].as_str().unwrap_or_default().to_owned();
    into.push(Node { trace_id: trace_id.to_owned(), id, parent_id, name, doc: doc.clone() });
}

/// Every span the stack's functions sent so far.
fn nodes(stack: &Stack) -> Vec<Node> {
    let mut nodes = Vec::new();
    for doc in stack.trace_documents() {
        let trace_id = doc["trace_id"].as_str().unwrap_or_default().to_owned();
        flatten(&doc, &trace_id, doc["parent_id"].as_str().map(str::to_owned), &mut nodes);
    }
    nodes
}

/// The spans of the trace `trace_id`.
fn trace(nodes: &[Node], trace_id: &str) -> Vec<Node> {
    nodes.iter().filter(|node| node.trace_id == trace_id).cloned().collect()
}

/// Whether `node` is under `ancestor` (its parent, or its parent's, and so on) in `trace`.
fn is_under(trace: &[Node], node: &Node, ancestor: &Node) -> bool {
    let mut parent = node.parent_id.clone();
    for _ in 0..trace.len() {
        match parent {
            Some(id) if id == ancestor.id => return true,
            Some(id) => parent = trace.iter().find(|n| n.id == id).and_then(|n| n.parent_id.clone()),
            None => return false,
        }
    }
    false
}

/// The span of the request that answered `reply` (a `request` subsegment, or a segment named after
/// the function in a client's trace).
fn request_span(nodes: &[Node], reply: &Reply) -> Node {
    let request_id = reply.header("x-request-id").expect("every answer has a request id");
    nodes
        .iter()
        .find(|node| node.doc["annotations"]["request_id"] == request_id)
        .unwrap_or_else(|| panic!("no request span for {request_id}: {nodes:#?}"))
        .clone()
}

/// The index worker's span of the job for `market_id`, once the worker sent it.
async fn job_span(stack: &Stack, market_id: &str) -> Node {
    let is_it = |node: &Node| node.name == "index-worker" && node.doc["annotations"]["market_id"] == market_id;
    let sent = eventually(Duration::from_secs(30), async || nodes(stack).iter().any(is_it)).await;
    let nodes = nodes(stack);
    assert!(sent.is_some(), "no index worker span for market {market_id}: {nodes:#?}");
    nodes.into_iter().find(is_it).unwrap()
}

/// Asserts the trace from `reply`'s write to its index job: the request's DynamoDB transaction
/// under the request; the job's send (by `sender`: a segment of the same trace, child of the
/// request) with its SQS call; the worker's job segment child of that SQS call, with its DynamoDB
/// reads and S3 Vectors write under it. Returns the trace's spans.
async fn assert_one_trace(stack: &Stack, reply: &Reply, market_id: &str, sender: &str) -> Vec<Node> {
    let job = job_span(stack, market_id).await;
    let all = nodes(stack);
    let request = request_span(&all, reply);
    assert_eq!(job.trace_id, request.trace_id, "the job's span is not in its request's trace");
    let trace = trace(&all, &request.trace_id);

    for step in ["auth", "rate_limit", "handler"] {
        let found = trace.iter().any(|node| node.name == step && node.parent_id.as_ref() == Some(&request.id));
        assert!(found, "no {step} span under the request: {trace:#?}");
    }
    let write = trace.iter().find(|node| node.is_call("DynamoDB", "TransactWriteItems"));
    let write = write.unwrap_or_else(|| panic!("no TransactWriteItems in the request's trace: {trace:#?}"));
    assert!(is_under(&trace, write, &request), "the transaction is not under the request: {write:#?}");
    let outbox = format!("{}-OutboxTable", stack.prefix);
    let tables = write.doc["aws"]["table_name"].as_str().unwrap_or_default();
    assert!(tables.split(',').any(|table| table == outbox), "the transaction writes the outbox: {tables}");

    // The job's parent: the SQS call that sent it, in a segment of the sender under the request.
    let send = trace.iter().find(|node| Some(&node.id) == job.parent_id.as_ref());
    let send = send.unwrap_or_else(|| panic!("the job's parent is not in the request's trace: {job:#?} {trace:#?}"));
    assert!(send.is_call("SQS", "SendMessageBatch"), "the job's parent is its SQS send: {send:#?}");
    let queue = send.doc["aws"]["queue_url"].as_str().unwrap_or_default();
    assert!(queue.ends_with(&format!("{}-IndexQueue", stack.prefix)), "the send names the queue: {queue}");
    let sent_by = trace.iter().find(|node| Some(&node.id) == send.parent_id.as_ref()).expect("the send's segment");
    assert_eq!(sent_by.name, sender, "the job was sent by the {sender}: {sent_by:#?}");
    assert!(is_under(&trace, sent_by, &request), "the send is not under the request: {sent_by:#?}");

    for (service, operation) in [("DynamoDB", "GetItem"), ("S3Vectors", "PutVectors")] {
        let call = trace.iter().find(|node| node.is_call(service, operation) && is_under(&trace, node, &job));
        assert!(call.is_some(), "no {service} {operation} under the job's span: {trace:#?}");
    }
    // A traced DynamoDB call asks for the capacity it consumes, and its span shows it (moto gives a
    // GetItem's only when asked; it answers a transaction with an empty list, an update always).
    let read = trace.iter().find(|node| node.is_call("DynamoDB", "GetItem") && is_under(&trace, node, &job));
    let consumed = &read.expect("the job's GetItem").doc["aws"]["consumed_capacity"];
    assert!(consumed["CapacityUnits"].is_number(), "no consumed capacity on the job's GetItem: {read:#?}");
    trace
}

#[tokio::test]
async fn a_write_and_its_index_job_are_one_trace_through_the_outbox_and_sqs() {
    let stack = Stack::start_with(&["--param", "LocalTraceSampleRate=1"]);
    let alice = User::new(Role::User);
    let market = stack.create_market(&alice, "Will the trace reach the index?").await;
    let position = json!({"outcome": "yes", "amount": 2.5});
    let taken = stack.post(&positions_path(&market.id)).as_user(&alice).json(position).await;
    assert_eq!(taken.status, StatusCode::CREATED, "{}", taken.text);

    let trace = assert_one_trace(&stack, &market.reply, &market.id, "outbox-relay").await;
    let (first, last) = (trace.iter().map(|n| n.doc["start_time"].as_f64().unwrap_or_default()), trace.iter());
    let duration = last.map(|n| n.doc["end_time"].as_f64().unwrap_or_default()).fold(0.0, f64::max)
        - first.fold(f64::MAX, f64::min);
    println!("the create's trace: {} spans over {:.0} ms", trace.len(), duration * 1000.0);

    // The position is a trace of its own, its transaction under its request.
    let all = nodes(&stack);
    let request = request_span(&all, &taken);
    assert_ne!(request.trace_id, trace[0].trace_id, "each request is a trace");
    let position_trace = self::trace(&all, &request.trace_id);
    let write = position_trace.iter().find(|node| node.is_call("DynamoDB", "TransactWriteItems"));
    assert!(write.is_some_and(|write| is_under(&position_trace, write, &request)), "{position_trace:#?}");

    // A client's traceparent names the trace and the request's parent.
    let traceparent = "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01";
    let reply = stack.get(&market.path).header("traceparent", traceparent).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    stack.request_log(reply.header("x-request-id").unwrap());
    let sent = eventually(Duration::from_secs(5), async || {
        let request_id = reply.header("x-request-id").unwrap();
        nodes(&stack).iter().any(|node| node.doc["annotations"]["request_id"] == request_id)
    });
    assert!(sent.await.is_some(), "the GET's span was sent");
    let request = request_span(&nodes(&stack), &reply);
    assert_eq!(request.trace_id, "1-5759e988-bd862e3fe1be46a994272793", "the client's trace");
    assert_eq!(request.parent_id.as_deref(), Some("53995c3f42cd8ad8"), "the client's span is the parent");
    // Its read asked the shared cache first.
    let get_trace = self::trace(&nodes(&stack), &request.trace_id);
    let lookup =
        get_trace.iter().find(|node| node.name == "Valkey" && node.doc["annotations"]["operation"] == "lookup");
    let under = lookup.is_some_and(|lookup| is_under(&get_trace, lookup, &request));
    assert!(under, "no cache lookup span under the GET: {get_trace:#?}");
}

#[tokio::test]
async fn a_job_the_sweeper_sends_stays_in_its_request_trace() {
    // The relay cannot send (its role lacks sqs:SendMessage): only the sweeper, every second, for
    // jobs older than a second, delivers the job, from the context the outbox kept.
    let stack = Stack::start_with(&[
        "--param",
        "LocalTraceSampleRate=1",
        "--without-permission",
        "outbox-relay=sqs:SendMessage",
        "--schedule-seconds",
        "1",
        "--env",
        "OUTBOX_GRACE_SECONDS=1",
    ]);
    let market = stack.create_market(&User::new(Role::User), "Will the sweeper keep the trace?").await;
    assert_one_trace(&stack, &market.reply, &market.id, "outbox-sweeper").await;
}

#[tokio::test]
async fn an_unsampled_invocation_sends_nothing_whatever_the_client_asks() {
    let stack = Stack::start_with(&["--param", "LocalTraceSampleRate=0"]);
    let alice = User::new(Role::User);
    let sampled = "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01";
    let reply = stack
        .post("/api/markets")
        .as_user(&alice)
        .header("traceparent", sampled)
        .json(json!({"name": "Untraced"}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let id = reply.body["data"]["id"].as_str().unwrap().to_owned();
    let logs = stack.logs_within(Duration::from_secs(30), |logs| logs.iter().any(job_done(&id)));
    assert!(logs.iter().any(job_done(&id)), "the job was done");
    let documents = stack.trace_documents();
    assert!(documents.is_empty(), "unsampled, yet sent: {documents:#?}");
}
