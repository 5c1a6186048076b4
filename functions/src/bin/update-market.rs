//! The `update-market` function: see `shared::routes::update_market`.

use shared::wiring::Wiring;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    // Writes markets: the markets, users and outbox tables, the index queue and the shared cache.
    shared::runtime::serve(Wiring::market_service, shared::routes::update_market).await
}
