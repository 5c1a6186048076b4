//! The `index-worker` function: consumes the index queue, see `shared::jobs::worker`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::runtime::serve_index_worker().await
}
