//! The HTTP JSON API of a gpunet node.
//!
//! [`server`] serves the wire types of `gpunet-types` with axum over
//! [`tls`]; [`blob_replication`] copies blobs between nodes, when read and ahead of
//! reads. Every error is JSON `{code, message}`.

pub mod blob_replication;
pub mod server;
pub mod tls;

pub use blob_replication::{spawn_blob_replication, BlobReplication};
pub use server::{router, serve, serve_with, ServeLimits};
