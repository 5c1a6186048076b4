//! The `health` function: see `markets_lambda::routes::health`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    markets_lambda::runtime::serve_stateless(markets_lambda::routes::health).await
}
