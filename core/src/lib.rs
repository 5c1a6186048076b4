//! The markets API's core: what a market is and its rules, the use cases, and the traits of
//! everything they stand on (storage, the shared cache, the index job queue and outbox, the vector
//! index, the embedder). It may not depend on the AWS SDK, Lambda, Redis or an HTTP stack
//! (`cargo tree -p markets-core` shows none): the adapters (`markets-aws`) implement its traits,
//! and the edge (`markets-lambda`) turns requests into calls of its services.
//!
//! Top-down, each layer using only those below it: [`service`] holds the use cases and their
//! [`service::Error`]; [`jobs`] (the outbox publisher and the index worker's logic), [`cache`],
//! [`embedder`] and [`repo`] are what the services stand on (every storage trait is in `repo`);
//! [`domain`] is what a market is and its rules; and [`observability`], [`json`],
//! [`packed_text`], [`retry`], [`stable_hash`] and [`error`] serve them all. With the
//! `in-memory` feature (unit tests, the warm-overhead benchmark) every trait has an in-memory twin.

pub mod cache;
pub mod domain;
pub mod embedder;
pub mod error;
pub mod jobs;
pub mod json;
pub mod observability;
pub mod packed_text;
pub mod repo;
pub mod retry;
pub mod service;
pub mod stable_hash;
