//! The AWS adapters: the core's traits (`markets_core::repo`, `cache`, `embedder`) implemented on
//! AWS services, and the plain settings they are given. It may depend on the core and on the AWS
//! SDK and Redis clients, never on Lambda or HTTP routing (`markets-lambda` wires these adapters
//! into functions; the core never sees them).
//!
//! [`dynamodb`] (one module per table, the market and position item codecs, named transactions,
//! the capacity model test), [`s3vectors`] (the vector index), [`sqs`] (the index job queue),
//! [`bedrock`] (the embedder), [`valkey`] (the shared cache of markets, on ElastiCache Serverless or
//! any Redis), [`clients`] (SDK clients that count their calls per request) and [`settings`].

pub mod bedrock;
pub mod clients;
pub mod dynamodb;
pub mod s3vectors;
pub mod settings;
pub mod sqs;
pub mod valkey;
