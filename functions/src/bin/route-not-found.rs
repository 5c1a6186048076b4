//! The `route-not-found` function: see `shared::routes::route_not_found`.

use shared::wiring::Wiring;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    // Nothing beyond the envelope (the token verifier and the rate limiter).
    shared::runtime::serve(Wiring::no_service, shared::routes::route_not_found).await
}
