//! The `search-markets` function: see `shared::routes::search_markets`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::serve(shared::routes::search_markets).await
}
