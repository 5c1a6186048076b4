//! The Lambda edge of the markets API: everything between API Gateway (or SQS, or the schedule)
//! and the core's services. The route functions in `functions/` are thin `main`s over it.
//!
//! Top-down, each layer using only those below it: [`runtime`] turns a handler, the index worker
//! or the outbox sweeper into a Lambda function; [`routes`] holds one handler per route;
//! [`wiring`] reads the settings ([`config`]) and builds, once per cold start, only the services and
//! AWS adapters a function names; [`app`] is what a handler is given; [`http`], [`auth`] and
//! [`error`] are the HTTP edge (parsing, tokens, the one mapping of errors to statuses);
//! [`xray_daemon`] sends the functions' traces to the X-Ray daemon.
//!
//! It is the only crate that knows Lambda and HTTP, and the only one that reads the environment:
//! the core (`markets-core`) and the adapters (`markets-aws`) are given plain settings.

pub mod app;
pub mod auth;
pub mod config;
pub mod error;
pub mod http;
pub mod routes;
pub mod runtime;
pub mod wiring;
pub mod xray_daemon;

pub use error::ApiError;
