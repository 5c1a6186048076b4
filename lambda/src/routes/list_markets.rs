//! GET /api/markets: filtered, sorted, cursor-paginated markets (`offset` kept for older clients).

use lambda_http::Request;

use super::page_limit;
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::{ApiResponse, ListMeta, bad_query, query_number, query_param};
use markets_core::domain::{FILTERS, Filter};
use markets_core::repo::{ListFilter, ListQuery, SortField, SortOrder};
use markets_core::service::MarketReads;

const MAX_OFFSET: usize = 1000;

/// The list's query parameters: one per filter, then order and paging.
pub const LIST_MARKETS_QUERY: [&str; FILTERS.len() + 5] = {
    let paging = ["sort", "order", "limit", "cursor", "offset"];
    let mut names = [""; FILTERS.len() + 5];
    let mut i = 0;
    while i < names.len() {
        names[i] = if i < FILTERS.len() { FILTERS[i].name } else { paging[i - FILTERS.len()] };
        i += 1;
    }
    names
};

/// The filter of a list from the value given, or not, for each filter by name (query parameters,
/// GraphQL arguments): at most one, and a value it takes.
pub fn list_filter<'a>(
    given: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Result<Option<ListFilter>, ApiError> {
    let mut filter = None;
    for (name, text) in given {
        let Some(text) = text else { continue };
        let field = Filter::named(name).expect("a filter of FILTERS");
        let value = (field.parse)(text).ok_or_else(|| bad_query(field.name, field.expected))?;
        if filter.replace(ListFilter { field, value }).is_some() {
            let names: Vec<&str> = FILTERS.iter().map(|field| field.name).collect();
            return Err(ApiError::BadRequest(format!("filter by at most one of {}", names.join(", "))));
        }
    }
    Ok(filter)
}

pub async fn list_markets(
    state: &AppState<MarketReads>,
    _caller: Caller,
    request: Request,
) -> Result<ApiResponse, ApiError> {
    let given = FILTERS.iter().map(|field| Ok((field.name, query_param(&request, field.name)?)));
    let filter = list_filter(given.collect::<Result<Vec<_>, ApiError>>()?)?;
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

    let query = ListQuery { filter, sort, order };
    let scope = query.scope();
    let cursors = state.cursors()?;
    let start = cursor.map(|cursor| cursors.decode(&scope, cursor)).transpose()?;
    let page = state.service.list(&query, start.as_ref(), offset.unwrap_or(0), limit).await?;
    let views: Vec<_> = page.markets.iter().map(|market| market.view(page.creators.get(&market.creator_id))).collect();
    let meta = ListMeta { count: views.len(), limit, next_cursor: page.next.map(|next| cursors.encode(&scope, &next)) };
    Ok(ApiResponse::list(views, meta))
}
