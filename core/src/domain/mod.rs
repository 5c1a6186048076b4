//! What the API is about: markets, their status rules, amounts, and the validated inputs that
//! change them. No I/O here.

mod access;
mod amount;
mod edit;
mod id;
mod index_job;
mod input;
mod market;
mod position;
mod timestamp;

pub use access::{Permission, Principal, Role};
pub use amount::Amount;
pub use edit::{EditRefused, Precondition};
pub use id::new_id;
pub use index_job::{IndexJob, JobOp};
pub use input::{FieldError, MarketPatch, MarketReplacement, NewMarket, PositionInput};
pub use market::{FILTERS, Filter, Market, MarketStatus, MarketView, Outcome, UserProfile};
pub use position::Position;
pub use timestamp::{Timestamp, now, parse_timestamp, unix_seconds};
