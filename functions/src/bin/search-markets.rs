//! The `search-markets` function: see `markets_lambda::routes::search_markets`.

use markets_lambda::wiring::Wiring;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    // Search: the embedder, the S3 Vectors index and the markets and users tables.
    markets_lambda::runtime::serve(Wiring::search_service, markets_lambda::routes::search_markets).await
}
