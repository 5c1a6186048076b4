//! The markets API library: everything the route functions in `functions/` share.
//!
//! Top-down, each layer using only those below it (`dev/module-map` checks it): [`runtime`] turns a
//! handler into a Lambda function; [`routes`] holds one handler per route; [`wiring`] builds, once
//! per cold start, only the services and clients a function names; [`app`] is what a handler is
//! given; [`http`], [`auth`] and [`error`] are the HTTP edge (parsing, tokens, the one mapping of
//! errors to statuses); [`service`] holds the use cases and their [`service::Error`]; [`jobs`],
//! [`cache`], [`search`] and [`repo`] are what the services stand on (every storage trait is in
//! `repo`, with its DynamoDB implementation); [`domain`] is what a market is and its rules; and
//! [`config`], [`observability`], [`json`], [`packed_text`], [`retry`], [`stable_hash`] and [`failure`]
//! serve them all.

pub mod app;
pub mod auth;
pub mod cache;
pub mod config;
pub mod domain;
pub mod error;
pub mod failure;
pub mod http;
pub mod jobs;
pub mod json;
pub mod observability;
pub mod packed_text;
pub mod repo;
pub mod retry;
pub mod routes;
pub mod runtime;
pub mod search;
pub mod service;
pub mod stable_hash;
pub mod wiring;

pub use error::ApiError;
