//! What the API is about: markets, their status rules, amounts, and the validated inputs that
//! change them. No I/O here.

mod amount;
mod id;
mod input;
mod market;
mod position;
mod timestamp;

pub use amount::Amount;
pub use id::new_id;
pub use input::{MarketPatch, MarketReplacement, NewMarket, PositionInput};
pub use market::{Market, MarketStatus, MarketView, Outcome, UserProfile};
pub use position::Position;
pub use timestamp::{Timestamp, now, parse_timestamp, unix_seconds};
