//! The `route-not-found` function: see `shared::routes::route_not_found`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::serve_stateless(shared::routes::route_not_found).await
}
