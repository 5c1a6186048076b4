//! The `replace-market` function: see `shared::routes::replace_market`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::serve(shared::routes::replace_market).await
}
