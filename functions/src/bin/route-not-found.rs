//! The `route-not-found` function: see `markets_lambda::routes::route_not_found`.

use markets_lambda::wiring::Wiring;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    // Nothing beyond the request pipeline (the token verifier and the rate limiter).
    markets_lambda::runtime::serve(Wiring::no_service, markets_lambda::routes::route_not_found).await
}
