//! The `list-positions` function: see `markets_lambda::routes::list_positions`.

use markets_lambda::wiring::Wiring;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    // Positions: the markets and positions tables.
    markets_lambda::runtime::serve(Wiring::position_service, markets_lambda::routes::list_positions).await
}
