//! The `create-position` function: see `markets_lambda::routes::create_position`.

use markets_lambda::wiring::Wiring;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    // Positions: the markets, positions, users and idempotency tables and the shared cache.
    markets_lambda::runtime::serve(Wiring::position_service, markets_lambda::routes::create_position).await
}
