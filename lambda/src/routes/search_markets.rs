//! GET /api/markets/search?q=TEXT&limit=N: the markets most similar to the text, best first,
//! each with its `score`.

use lambda_http::Request;
use serde::Serialize;

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::{ApiResponse, ListMeta, bad_query, query_number, query_param};
use markets_core::domain::MarketView;
use markets_core::service::SearchService;

const MAX_QUERY_CHARS: usize = 500;

#[derive(Serialize)]
struct Hit<'a> {
    #[serde(flatten)]
    market: MarketView<'a>,
    score: f32,
}

pub async fn search_markets(
    state: &AppState<SearchService>,
    _caller: Caller,
    request: Request,
) -> Result<ApiResponse, ApiError> {
    let query = query_param(&request, "q")?.map(str::trim).unwrap_or("");
    if query.is_empty() || query.chars().count() > MAX_QUERY_CHARS {
        return Err(bad_query("q", &format!("1 to {MAX_QUERY_CHARS} characters")));
    }
    let limit = query_number(&request, "limit", 1, 50)?.unwrap_or(10);
    let (found, creators) = state.service.search(query, limit).await?;
    let hits: Vec<Hit> = found
        .iter()
        .map(|(market, score)| Hit { market: market.view(creators.get(&market.creator_id)), score: *score })
        .collect();
    let meta = ListMeta { count: hits.len(), limit, next_cursor: None };
    Ok(ApiResponse::list(hits, meta))
}
