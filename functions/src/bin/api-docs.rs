//! The `api-docs` function: see `markets_lambda::routes::api_docs`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    markets_lambda::runtime::serve_stateless(markets_lambda::routes::api_docs).await
}
