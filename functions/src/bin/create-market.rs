//! The `create-market` function: see `markets_lambda::routes::create_market`.

use markets_lambda::wiring::Wiring;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    // Writes markets: the markets, users, idempotency and outbox tables, the index queue and the
    // shared cache.
    markets_lambda::runtime::serve(Wiring::market_service, markets_lambda::routes::create_market).await
}
