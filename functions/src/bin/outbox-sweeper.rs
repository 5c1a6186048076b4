//! The `outbox-sweeper` function: on a schedule, sends the index jobs still in the outbox,
//! see `shared::jobs::JobPublisher::sweep`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::runtime::serve_outbox_sweeper().await
}
