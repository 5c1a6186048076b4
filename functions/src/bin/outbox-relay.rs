//! The `outbox-relay` function: fed by the outbox table's stream, sends each new index job to the
//! queue, see `markets_core::jobs::JobPublisher::relay`.

use markets_lambda::wiring::Wiring;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    // The outbox table and the index queue.
    markets_lambda::runtime::serve_outbox_relay(Wiring::job_publisher).await
}
