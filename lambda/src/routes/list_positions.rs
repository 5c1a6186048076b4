//! GET /api/markets/{id}/positions: a market's positions, newest first, cursor-paginated.

use lambda_http::Request;

use super::page_limit;
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::{ApiResponse, ListMeta, path_id, query_param};
use markets_core::service::PositionService;

pub async fn list_positions(
    state: &AppState<PositionService>,
    _caller: Caller,
    request: Request,
) -> Result<ApiResponse, ApiError> {
    let market_id = path_id(&request)?;
    let limit = page_limit(&request)?;
    let scope = format!("positions:{market_id}");
    let cursors = state.cursors()?;
    let start = query_param(&request, "cursor")?.map(|cursor| cursors.decode(&scope, cursor)).transpose()?;
    let page = state.service.list(&market_id, start.as_ref(), limit).await?;
    let meta =
        ListMeta { count: page.items.len(), limit, next_cursor: page.next.map(|next| cursors.encode(&scope, &next)) };
    Ok(ApiResponse::list(&page.items, meta))
}
