//! The `list-positions` function: see `shared::routes::list_positions`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::serve(shared::routes::list_positions).await
}
