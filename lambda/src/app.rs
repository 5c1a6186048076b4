//! What a route handler is given: the service its route uses (`S`, built once per cold start by
//! the builder its function's `main` names in [`crate::wiring`]) and, in a function that pages, the
//! cursor codec.

use crate::error::ApiError;
use crate::http::CursorCodec;

pub struct AppState<S> {
    pub service: S,
    cursors: Option<CursorCodec>,
}

impl<S> AppState<S> {
    pub fn new(service: S, cursors: Option<CursorCodec>) -> Self {
        Self { service, cursors }
    }

    /// The cursor codec of a function that pages.
    pub fn cursors(&self) -> Result<&CursorCodec, ApiError> {
        self.cursors.as_ref().ok_or_else(|| ApiError::internal("CURSOR_SECRET_ARN is not set for this function"))
    }
}
