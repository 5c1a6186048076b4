//! The HTTP edge: reading requests (path, query, JSON bodies, preconditions) and building the
//! contract's response envelope. Handlers use these helpers and never touch raw headers themselves.

mod cursor;
mod request;
mod response;

pub use cursor::{CursorCodec, CursorScope};
pub use request::{
    MAX_BODY_BYTES, bad_query, checked_idempotency_key, etag_for, idempotency_key, if_match, if_none_match_hits,
    json_body, json_document, market_id, path_id, precondition, query_number, query_param, request_id, route_key,
    source_ip,
};
pub use response::{ApiResponse, ListMeta, ReadyResponse};
