//! What the API is about: markets, their status rules, amounts, and the validated inputs that
//! change them. No I/O here.

mod amount;
mod input;
mod market;
mod timestamp;

pub use amount::Amount;
pub use input::{MarketPatch, MarketReplacement, NewMarket, PositionInput};
pub use market::{Market, MarketStatus, MarketView, Outcome, UserProfile};
pub use timestamp::{Timestamp, now, parse_timestamp};
