//! The X-Ray daemon Lambda runs in every traced sandbox, as the functions' traces reach it: each
//! finished segment document (see `markets_core::observability::xray`) as one UDP datagram to
//! `AWS_XRAY_DAEMON_ADDRESS` (the local stack runs one too, dev/sim/traces.py).

use std::net::UdpSocket;

use markets_core::observability::xray::Exporter;
use serde_json::{Value, json};

/// The daemon's datagram header.
const DAEMON_HEADER: &[u8] = b"{\"format\": \"json\", \"version\": 1}\n";
/// The largest document the daemon takes.
const MAX_DOCUMENT: usize = 64 * 1024 - DAEMON_HEADER.len();

/// Sends documents to the daemon; `None` outside a traced sandbox (no daemon address).
pub fn exporter() -> Option<Exporter> {
    let address = std::env::var("AWS_XRAY_DAEMON_ADDRESS").ok()?;
    let service = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "markets".into());
    exporter_to(&address, service)
}

/// Sends `service`'s documents to the daemon at `address`: "host:port", or "udp:host:port
/// tcp:host:port" as the daemon's own setting may say.
pub fn exporter_to(address: &str, service: String) -> Option<Exporter> {
    let udp = address.split_whitespace().find_map(|a| a.strip_prefix("udp:")).unwrap_or(address.trim());
    let socket = UdpSocket::bind("0.0.0.0:0").and_then(|socket| socket.connect(udp).map(|()| socket)).ok()?;
    Some(Exporter { service, export: Box::new(move |document| send(&socket, document)) })
}

fn send(socket: &UdpSocket, mut document: Value) {
    let mut bytes = serde_json::to_vec(&document).unwrap_or_default();
    if bytes.len() > MAX_DOCUMENT {
        // Too many calls for one datagram: the document without them still places the work.
        document["subsegments"] = json!([]);
        document["annotations"]["subsegments_dropped"] = json!(true);
        bytes = serde_json::to_vec(&document).unwrap_or_default();
    }
    // Lost if the daemon is not there: tracing never fails an invocation.
    let _ = socket.send(&[DAEMON_HEADER, &bytes].concat());
}
