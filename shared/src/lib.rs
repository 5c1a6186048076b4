//! The markets API library: everything the route functions in `functions/` share.
//!
//! Reading order for newcomers: [`domain`] (what a market is and its rules), [`service`] (the use
//! cases, written against the [`repo`] traits), [`repo`] (DynamoDB behind a trait, plus an in-memory
//! twin for unit tests), [`cache`] (the shared cache of markets, and why it never serves the past),
//! [`auth`] (JWT and roles), [`http`] (request parsing, the response envelope, cursors), [`json`]
//! (strict request bodies with exact numbers), [`error`] (the one error type and its one mapping to
//! HTTP), and [`runtime`], which wires a route handler into a Lambda function.

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
pub mod repo;
pub mod retry;
pub mod routes;
pub mod runtime;
pub mod search;
pub mod service;
pub mod stable_hash;

pub use error::ApiError;
