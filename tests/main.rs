//! The black-box tests: the real binaries behind the local stack, over HTTP, against moto. One module
//! per concern; `cargo test -p api-tests --test api -- cache::` runs one of them.

mod auth;
mod aws_limits;
mod cache;
mod conflicts;
mod cursors;
mod documents;
mod faults;
mod gateway;
mod graphql;
mod hardening;
mod hostile;
mod limits;
mod logging;
mod markets;
mod paging;
mod positions;
mod roundtrips;
mod search;
mod traces;
