//! The `list-markets` function: see `shared::routes::list_markets`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::serve(shared::routes::list_markets).await
}
