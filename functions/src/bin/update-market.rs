//! The `update-market` function: see `shared::routes::update_market`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::serve(shared::routes::update_market).await
}
