//! The `list-positions` function: see `shared::routes::list_positions`.

use shared::wiring::Wiring;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    // Positions: the markets and positions tables.
    shared::runtime::serve(Wiring::position_service, shared::routes::list_positions).await
}
