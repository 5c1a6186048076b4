//! The `list-markets` function: see `shared::routes::list_markets`.

use shared::wiring::Wiring;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    // Reads markets: the markets and users tables and the shared cache; no queue, no search.
    shared::runtime::serve(Wiring::market_reads, shared::routes::list_markets).await
}
