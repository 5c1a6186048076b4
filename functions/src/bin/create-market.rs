//! The `create-market` function: see `shared::routes::create_market`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::serve(shared::routes::create_market).await
}
