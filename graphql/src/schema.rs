//! The schema: queries and mutations, each one call of the service the REST route calls, with the
//! REST route's input checks (the mutations' inputs become the REST body and go through the same
//! parsers, so a field error is the same field error).

use async_graphql::{
    ComplexObject, Context, EmptySubscription, Enum, InputObject, MaybeUndefined, Object, Schema, SimpleObject,
};
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::errors::{Answer, refused};
use crate::limits::{CONCURRENT_POSITION_LISTS, POSITIONS_COST};
use crate::loader::{CreatorLoader, feed};
use crate::nodes::{Decimal, MarketNode, MarketStatus, Outcome, PositionNode, User};
use markets_core::domain::{
    MarketPatch, MarketReplacement, NewMarket, Permission, PositionInput, Precondition, Principal,
};
use markets_core::json::{Json, JsonObject};
use markets_core::repo::{ListQuery, SortField, SortOrder};
use markets_core::service::{FirstResult, IdempotentRequest, MarketService, PositionService, SearchService, Written};
use markets_lambda::ApiError;
use markets_lambda::auth::Caller;
use markets_lambda::http::{CursorCodec, bad_query, checked_idempotency_key, market_id, precondition};
use markets_lambda::routes::list_filter;

pub type ApiSchema = Schema<Query, Mutation, EmptySubscription>;

/// The services the schema calls: the REST routes' own.
pub struct Services {
    pub markets: MarketService,
    pub positions: PositionService,
    pub search: SearchService,
}

/// What one request's resolvers share.
pub struct RequestData {
    pub services: &'static Services,
    pub cursors: &'static CursorCodec,
    pub caller: Caller,
    /// The response's creators (one loader for every operation of a batch).
    pub creators: Arc<CreatorLoader>,
    /// Bounds the positions lists read at the same time.
    pub position_lists: Semaphore,
}

impl RequestData {
    pub fn new(
        services: &'static Services,
        cursors: &'static CursorCodec,
        caller: Caller,
        creators: Arc<CreatorLoader>,
    ) -> Self {
        Self { services, cursors, caller, creators, position_lists: Semaphore::new(CONCURRENT_POSITION_LISTS) }
    }
}

fn request<'a>(ctx: &Context<'a>) -> &'a RequestData {
    ctx.data_unchecked::<RequestData>()
}

/// `market`, its creator (as the read that brought it found it) fed to the response's loader.
async fn known(ctx: &Context<'_>, market: MarketNode) -> MarketNode {
    let creators = market.creator.iter().map(|creator| (creator.id.clone(), creator.clone())).collect();
    feed(&request(ctx).creators, [market.creator_id.as_str()], &creators).await;
    market
}

/// A page size argument: `default` when absent, else `1..=max` (REST's `limit`; with the schema's
/// complexity limit, validation has refused any other already, see [`list_cost`]).
fn page_size(first: Option<i32>, default: usize, max: usize) -> Answer<usize> {
    match first {
        None => Ok(default),
        Some(first) => usize::try_from(first)
            .ok()
            .filter(|first| (1..=max).contains(first))
            .ok_or_else(|| refused(bad_query("first", &format!("an integer from 1 to {max}")))),
    }
}

/// What a list costs in complexity: its size times its items' cost. A `first` outside `1..=max`
/// costs more than any document may, so that validation refuses it before any resolver reads.
fn list_cost(first: Option<i32>, default: usize, max: usize, child_complexity: usize) -> usize {
    match first.map(usize::try_from) {
        None => default.saturating_mul(child_complexity),
        Some(Ok(first)) if (1..=max).contains(&first) => first.saturating_mul(child_complexity),
        Some(_) => crate::limits::MAX_COMPLEXITY + 1,
    }
}

/// Pages are cut where REST cuts them: `endCursor` is REST's `nextCursor`, valid in either API.
#[derive(SimpleObject)]
pub struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

impl PageInfo {
    fn new(end_cursor: Option<String>) -> Self {
        Self { has_next_page: end_cursor.is_some(), end_cursor }
    }
}

/// A Relay-style connection of `$node` and its edge type (a page: its items, and where the next
/// page starts).
macro_rules! connection {
    ($connection:ident, $edge:ident, $node:ty) => {
        #[derive(SimpleObject)]
        pub struct $connection {
            edges: Vec<$edge>,
            page_info: PageInfo,
        }

        #[derive(SimpleObject)]
        pub struct $edge {
            node: $node,
        }

        impl $connection {
            fn new(nodes: Vec<$node>, end_cursor: Option<String>) -> Self {
                Self {
                    edges: nodes.into_iter().map(|node| $edge { node }).collect(),
                    page_info: PageInfo::new(end_cursor),
                }
            }
        }
    };
}

connection!(MarketConnection, MarketEdge, MarketNode);
connection!(PositionConnection, PositionEdge, PositionNode);

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "markets_core::repo::SortField")]
pub enum MarketSort {
    CreatedAt,
    Volume,
    Name,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "markets_core::repo::SortOrder")]
pub enum Order {
    Asc,
    Desc,
}

/// A search hit: a market and how similar it is to the query (higher is closer).
#[derive(SimpleObject)]
pub struct SearchHit {
    market: MarketNode,
    score: f32,
}

pub struct Query;

#[Object]
impl Query {
    /// One market, as `GET /api/markets/{id}` reads it (through the shared cache; never older than
    /// the last answered write).
    async fn market(&self, ctx: &Context<'_>, id: String) -> Answer<MarketNode> {
        let reads = request(ctx).services.markets.reads();
        let read = reads.get_through_cache(&market_id(&id).map_err(refused)?).await.map_err(refused)?;
        Ok(known(ctx, MarketNode::new(&read.market, read.creator.as_ref())).await)
    }

    /// Markets as `GET /api/markets` lists them; `after` is its cursor.
    #[graphql(complexity = "1 + list_cost(first, 20, 100, child_complexity)")]
    async fn markets(
        &self,
        ctx: &Context<'_>,
        status: Option<MarketStatus>,
        sort: Option<MarketSort>,
        order: Option<Order>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Answer<MarketConnection> {
        let data = request(ctx);
        let status = status.map(|status| markets_core::domain::MarketStatus::from(status).as_str());
        let filter = list_filter([("status", status)]).map_err(refused)?;
        let query = ListQuery {
            filter,
            sort: sort.map_or(SortField::CreatedAt, Into::into),
            order: order.map_or(SortOrder::Desc, Into::into),
        };
        let limit = page_size(first, 20, 100)?;
        let scope = query.scope();
        let start = after.map(|cursor| data.cursors.decode(&scope, &cursor)).transpose().map_err(refused)?;
        let page = data.services.markets.reads().list(&query, start.as_ref(), 0, limit).await.map_err(refused)?;
        let ids = page.markets.iter().map(|market| market.creator_id.as_str());
        feed(&request(ctx).creators, ids, &page.creators).await;
        let nodes = page.markets.iter().map(|market| MarketNode::new(market, None)).collect();
        Ok(MarketConnection::new(nodes, page.next.map(|next| data.cursors.encode(&scope, &next))))
    }

    /// The markets most similar to `q`, best first, as `GET /api/markets/search` finds them.
    #[graphql(complexity = "1 + list_cost(first, 10, 50, child_complexity)")]
    async fn search(&self, ctx: &Context<'_>, q: String, first: Option<i32>) -> Answer<Vec<SearchHit>> {
        const MAX_QUERY_CHARS: usize = 500;
        let q = q.trim();
        if q.is_empty() || q.chars().count() > MAX_QUERY_CHARS {
            return Err(refused(bad_query("q", &format!("1 to {MAX_QUERY_CHARS} characters"))));
        }
        let limit = page_size(first, 10, 50)?;
        let (found, creators) = request(ctx).services.search.search(q, limit).await.map_err(refused)?;
        let ids = found.iter().map(|(market, _)| market.creator_id.as_str());
        feed(&request(ctx).creators, ids, &creators).await;
        Ok(found
            .iter()
            .map(|(market, score)| SearchHit { market: MarketNode::new(market, None), score: *score })
            .collect())
    }
}

#[ComplexObject]
impl MarketNode {
    /// The market's `ETag` as REST sends it (`"v<version>"`), for `ifMatch`.
    async fn etag(&self) -> String {
        markets_lambda::http::etag_for(self.version)
    }

    /// Who created the market: read with every other creator of the response in one batch.
    async fn creator(&self, ctx: &Context<'_>) -> Answer<Option<User>> {
        let loader = &request(ctx).creators;
        Ok(loader.load_one(self.creator_id.clone()).await?.flatten().map(User::from))
    }

    /// The market's positions, newest first, as `GET /api/markets/{id}/positions` lists them; a
    /// response reads a few lists at a time.
    #[graphql(complexity = "POSITIONS_COST + list_cost(first, 20, 100, child_complexity)")]
    async fn positions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Answer<PositionConnection> {
        let data = request(ctx);
        let limit = page_size(first, 20, 100)?;
        let scope = format!("positions:{}", self.id);
        let start = after.map(|cursor| data.cursors.decode(&scope, &cursor)).transpose().map_err(refused)?;
        let _turn = data.position_lists.acquire().await.map_err(|error| refused(ApiError::internal(error)))?;
        let page = data.services.positions.list(&self.id, start.as_ref(), limit).await.map_err(refused)?;
        let nodes = page.items.iter().map(PositionNode::new).collect();
        Ok(PositionConnection::new(nodes, page.next.map(|next| data.cursors.encode(&scope, &next))))
    }
}

/// `createMarket`'s input: `POST /api/markets`'s body.
#[derive(InputObject)]
pub struct CreateMarketInput {
    name: MaybeUndefined<String>,
    description: MaybeUndefined<String>,
    end_date: MaybeUndefined<String>,
    initial_position: MaybeUndefined<TakePositionInput>,
}

/// The editable fields: `replaceMarket`'s input (`PUT /api/markets/{id}`'s body, every field
/// but `endDate` required) and `updateMarket`'s (`PATCH`'s merge patch: `endDate: null` clears it).
#[derive(InputObject)]
pub struct MarketFieldsInput {
    name: MaybeUndefined<String>,
    description: MaybeUndefined<String>,
    status: MaybeUndefined<MarketStatus>,
    end_date: MaybeUndefined<String>,
}

/// `takePosition`'s input: `POST /api/markets/{id}/positions`'s body.
#[derive(InputObject)]
pub struct TakePositionInput {
    outcome: MaybeUndefined<Outcome>,
    amount: MaybeUndefined<Decimal>,
}

/// The REST body an input stands for: given fields, with `null` where it was given as null.
#[derive(Default)]
struct Body(JsonObject);

impl Body {
    fn field<T>(mut self, name: &str, value: MaybeUndefined<T>, json: impl FnOnce(T) -> Json) -> Self {
        match value {
            MaybeUndefined::Undefined => {}
            MaybeUndefined::Null => drop(self.0.insert(name.to_owned(), Json::Null)),
            MaybeUndefined::Value(value) => drop(self.0.insert(name.to_owned(), json(value))),
        }
        self
    }
}

fn status_json(status: MarketStatus) -> Json {
    Json::String(markets_core::domain::MarketStatus::from(status).as_str().to_owned())
}

impl TakePositionInput {
    fn body(self) -> JsonObject {
        let outcome = |outcome| Json::String(if outcome == Outcome::Yes { "yes" } else { "no" }.to_owned());
        Body::default().field("outcome", self.outcome, outcome).field("amount", self.amount, |a| Json::Number(a.0)).0
    }
}

impl CreateMarketInput {
    fn body(self) -> JsonObject {
        Body::default()
            .field("name", self.name, Json::String)
            .field("description", self.description, Json::String)
            .field("endDate", self.end_date, Json::String)
            .field("initialPosition", self.initial_position, |position| Json::Object(position.body()))
            .0
    }
}

impl MarketFieldsInput {
    fn body(self) -> JsonObject {
        Body::default()
            .field("name", self.name, Json::String)
            .field("description", self.description, Json::String)
            .field("status", self.status, status_json)
            .field("endDate", self.end_date, Json::String)
            .0
    }
}

/// An edit's editor (403 unless allowed to write), market id, precondition and REST body.
fn edit<'a>(
    ctx: &Context<'a>,
    id: &str,
    input: MarketFieldsInput,
    if_match: Option<String>,
) -> Answer<(&'a Principal, String, Precondition, JsonObject)> {
    let editor = request(ctx).caller.require(Permission::Write).map_err(refused)?;
    Ok((editor, market_id(id).map_err(refused)?, if_match_of(if_match)?, input.body()))
}

/// An idempotent write's key, checked as REST checks the header, with what it stands for.
fn idempotency(
    user_id: &str,
    operation: &str,
    key: Option<String>,
    body: &JsonObject,
) -> Answer<Option<IdempotentRequest>> {
    let Some(key) = key else { return Ok(None) };
    let key = checked_idempotency_key(&key).map_err(refused)?;
    Ok(Some(IdempotentRequest::new(user_id, operation, &key, body)))
}

pub struct Mutation;

#[Object]
impl Mutation {
    /// `POST /api/markets`: a market by the caller, with their first position if given (one
    /// transaction); a retry with the same `idempotencyKey` and input returns the first market.
    async fn create_market(
        &self,
        ctx: &Context<'_>,
        input: CreateMarketInput,
        idempotency_key: Option<String>,
    ) -> Answer<MarketNode> {
        let data = request(ctx);
        let author = data.caller.require(Permission::Write).map_err(refused)?;
        let body = input.body();
        let idempotency = idempotency(&author.user_id, "create-market", idempotency_key, &body)?;
        let input = NewMarket::from_json(body).map_err(refused)?;
        match data.services.markets.create(author, input, idempotency).await.map_err(refused)? {
            Written::New((market, creator)) => Ok(known(ctx, MarketNode::new(&market, Some(&creator))).await),
            Written::Replayed(FirstResult::Market { market, creator }) => {
                Ok(known(ctx, MarketNode::new(&market, Some(&creator))).await)
            }
            Written::Replayed(other) => Err(refused(ApiError::internal(format!("not a market: {other:?}")))),
        }
    }

    /// `PATCH /api/markets/{id}`: the given fields changed, by the creator or a moderator; a stale
    /// `ifMatch` (`"v<version>"`) changes nothing.
    async fn update_market(
        &self,
        ctx: &Context<'_>,
        id: String,
        input: MarketFieldsInput,
        if_match: Option<String>,
    ) -> Answer<MarketNode> {
        let (editor, id, precondition, body) = edit(ctx, &id, input, if_match)?;
        let patch = MarketPatch::from_json(body).map_err(refused)?;
        let markets = &request(ctx).services.markets;
        let (market, creator) = markets.patch(editor, &id, patch, precondition).await.map_err(refused)?;
        Ok(known(ctx, MarketNode::new(&market, creator.as_ref())).await)
    }

    /// `PUT /api/markets/{id}`: every editable field replaced (a missing `endDate` clears it).
    async fn replace_market(
        &self,
        ctx: &Context<'_>,
        id: String,
        input: MarketFieldsInput,
        if_match: Option<String>,
    ) -> Answer<MarketNode> {
        let (editor, id, precondition, body) = edit(ctx, &id, input, if_match)?;
        let replacement = MarketReplacement::from_json(body).map_err(refused)?;
        let markets = &request(ctx).services.markets;
        let (market, creator) = markets.replace(editor, &id, replacement, precondition).await.map_err(refused)?;
        Ok(known(ctx, MarketNode::new(&market, creator.as_ref())).await)
    }

    /// `DELETE /api/markets/{id}`, for moderators and admins: the deleted market's id.
    async fn delete_market(&self, ctx: &Context<'_>, id: String, if_match: Option<String>) -> Answer<String> {
        let data = request(ctx);
        let deleter = data.caller.require(Permission::Delete).map_err(refused)?;
        let (id, precondition) = (market_id(&id).map_err(refused)?, if_match_of(if_match)?);
        data.services.markets.delete(deleter, &id, precondition).await.map_err(refused)?;
        Ok(id)
    }

    /// `POST /api/markets/{id}/positions`: a position on an active market, its volume moved in the
    /// same transaction; a retry with the same `idempotencyKey` and input returns the first one.
    async fn take_position(
        &self,
        ctx: &Context<'_>,
        market_id: String,
        input: TakePositionInput,
        if_match: Option<String>,
        idempotency_key: Option<String>,
    ) -> Answer<PositionNode> {
        let data = request(ctx);
        let user = data.caller.require(Permission::Write).map_err(refused)?;
        let (id, precondition) = (self::market_id(&market_id).map_err(refused)?, if_match_of(if_match)?);
        let body = input.body();
        let idempotency = idempotency(&user.user_id, &format!("create-position:{id}"), idempotency_key, &body)?;
        let input = PositionInput::from_json(body).map_err(refused)?;
        match data.services.positions.take(user, &id, input, precondition, idempotency).await.map_err(refused)? {
            Written::New(position) => Ok(PositionNode::new(&position)),
            Written::Replayed(FirstResult::Position(position)) => Ok(PositionNode::new(&position)),
            Written::Replayed(other) => Err(refused(ApiError::internal(format!("not a position: {other:?}")))),
        }
    }
}

/// An `ifMatch` argument, read as REST reads `If-Match`.
fn if_match_of(value: Option<String>) -> Answer<Precondition> {
    value.map_or(Ok(Precondition::Any), |value| precondition(&value).map_err(refused))
}

/// The schema with its limits (see [`crate::limits`]).
pub fn schema() -> ApiSchema {
    use crate::limits::*;
    Schema::build(Query, Mutation, EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_directives(MAX_DIRECTIVES)
        .extension(DocumentLimits)
        .finish()
}
