//! The `health` function: see `shared::routes::health`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::serve_stateless(shared::routes::health).await
}
