//! The `graphql` function: see `markets_graphql::graphql`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    // Reads and writes markets and positions and searches: the REST routes' tables, queue, vector
    // index and shared cache, each reached through the same service as there.
    markets_lambda::runtime::serve(markets_graphql::build, markets_graphql::graphql).await
}
