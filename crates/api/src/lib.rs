//! The HTTP JSON API of a gpunet node.
//!
//! [`types`] holds the wire types, shared with clients; [`server`] serves them
//! with axum. Every error is JSON `{code, message}`.

pub mod server;
pub mod types;

pub use server::{router, serve};
pub use types::ApiError;
