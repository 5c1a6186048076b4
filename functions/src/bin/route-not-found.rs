//! The `route-not-found` function: see `shared::routes::route_not_found`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::serve(shared::routes::route_not_found).await
}
