//! The `index-worker` function: consumes the index queue, see `markets_core::jobs::worker`.

use markets_lambda::wiring::Wiring;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    // The markets and positions tables, the embedder and the S3 Vectors index.
    markets_lambda::runtime::serve_index_worker(Wiring::indexer).await
}
