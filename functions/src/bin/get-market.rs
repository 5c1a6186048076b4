//! The `get-market` function: see `shared::routes::get_market`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::serve(shared::routes::get_market).await
}
