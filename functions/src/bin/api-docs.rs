//! The `api-docs` function: see `shared::routes::api_docs`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::serve_stateless(shared::routes::api_docs).await
}
