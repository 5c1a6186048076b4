//! The `get-market` function: see `markets_lambda::routes::get_market`.

use markets_lambda::wiring::Wiring;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    // Reads markets: the markets and users tables and the shared cache; no queue, no search.
    markets_lambda::runtime::serve(Wiring::market_reads, markets_lambda::routes::get_market).await
}
