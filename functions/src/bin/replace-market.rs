//! The `replace-market` function: see `shared::routes::replace_market`.

use shared::wiring::Wiring;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    // Writes markets: the markets, users and outbox tables, the index queue and the shared cache.
    shared::runtime::serve(Wiring::market_service, shared::routes::replace_market).await
}
