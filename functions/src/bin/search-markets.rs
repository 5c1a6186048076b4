//! The `search-markets` function: see `shared::routes::search_markets`.

use shared::wiring::Wiring;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    // Search: the embedder, the S3 Vectors index and the markets and users tables.
    shared::runtime::serve(Wiring::search_service, shared::routes::search_markets).await
}
