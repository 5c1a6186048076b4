//! The `update-market` function: see `markets_lambda::routes::update_market`.

use markets_lambda::wiring::Wiring;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    // Writes markets: the markets, users and outbox tables, the index queue and the shared cache.
    markets_lambda::runtime::serve(Wiring::market_service, markets_lambda::routes::update_market).await
}
