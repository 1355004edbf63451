#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod blob_replication;
pub mod console;
mod routes;
pub mod server;
pub mod tls;

pub use blob_replication::{spawn_blob_replication, BlobReplication};
pub use routes::openapi;
pub use server::{router, serve, serve_console, serve_with, ServeLimits};
