//! The `create-position` function: see `shared::routes::create_position`.

use shared::wiring::Wiring;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    // Positions: the markets, positions, users and idempotency tables and the shared cache.
    shared::runtime::serve(Wiring::position_service, shared::routes::create_position).await
}
