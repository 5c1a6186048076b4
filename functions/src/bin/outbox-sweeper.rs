//! The `outbox-sweeper` function: on a schedule, sends the index jobs still in the outbox,
//! see `markets_core::jobs::JobPublisher::sweep`.

use markets_lambda::wiring::Wiring;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    // The outbox table and the index queue.
    markets_lambda::runtime::serve_outbox_sweeper(Wiring::job_publisher).await
}
