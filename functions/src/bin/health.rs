//! The `health` function: see `shared::routes::health`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::serve_stateless(shared::routes::health).await
}
