//! GET /api/markets: filtered, sorted, cursor-paginated markets (`offset` kept for older clients).

use lambda_http::Request;

use super::page_limit;
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::{ApiResponse, ListMeta, bad_query, query_number, query_param};
use markets_core::domain::MarketStatus;
use markets_core::repo::{ListQuery, SortField, SortOrder};
use markets_core::service::MarketReads;

const MAX_OFFSET: usize = 1000;

pub async fn list_markets(
    state: &AppState<MarketReads>,
    _caller: Caller,
    request: Request,
) -> Result<ApiResponse, ApiError> {
    let status = match query_param(&request, "status")? {
        None => None,
        Some(text) => Some(MarketStatus::parse(text).ok_or_else(|| bad_query("status", "active, closed or resolved"))?),
    };
    let sort = query_param(&request, "sort")?
        .map(|text| SortField::parse(text).ok_or_else(|| bad_query("sort", "createdAt, volume or name")))
        .transpose()?
        .unwrap_or(SortField::CreatedAt);
    let order = match query_param(&request, "order")? {
        None | Some("desc") => SortOrder::Desc,
        Some("asc") => SortOrder::Asc,
        Some(_) => return Err(bad_query("order", "asc or desc")),
    };
    let limit = page_limit(&request)?;
    let offset = query_number(&request, "offset", 0, MAX_OFFSET)?;
    let cursor = query_param(&request, "cursor")?;
    if cursor.is_some() && offset.is_some() {
        return Err(ApiError::BadRequest("use either cursor or offset, not both".into()));
    }

    let query = ListQuery { status, sort, order };
    let scope = query.scope();
    let cursors = state.cursors()?;
    let start = cursor.map(|cursor| cursors.decode(&scope, cursor)).transpose()?;
    let page = state.service.list(&query, start.as_ref(), offset.unwrap_or(0), limit).await?;
    let views: Vec<_> = page.markets.iter().map(|market| market.view(page.creators.get(&market.creator_id))).collect();
    let meta = ListMeta { count: views.len(), limit, next_cursor: page.next.map(|next| cursors.encode(&scope, &next)) };
    Ok(ApiResponse::list(views, meta))
}
