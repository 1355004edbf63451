//! The HTTP JSON API of a gpunet node.
//!
//! [`types`] holds the wire types, shared with clients; [`server`] serves them
//! with axum; [`offers`] is the machine search both sides speak;
//! [`blob_replication`] copies blobs between nodes, when read and ahead of
//! reads. Every error is JSON `{code, message}`.

pub mod blob_replication;
pub mod offers;
pub mod server;
pub mod tls;
pub mod types;

pub use blob_replication::{spawn_blob_replication, BlobReplication};
pub use server::{router, serve, serve_with, ServeLimits};
pub use tls::NodeAddress;
pub use types::ApiError;
