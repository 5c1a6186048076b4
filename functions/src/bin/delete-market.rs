//! The `delete-market` function: see `shared::routes::delete_market`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::serve(shared::routes::delete_market).await
}
