//! The `create-position` function: see `shared::routes::create_position`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::serve(shared::routes::create_position).await
}
