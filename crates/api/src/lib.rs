//! The HTTP JSON API of a gpunet node.
//!
//! [`types`] holds the wire types, shared with clients; [`server`] serves them
//! with axum; [`offers`] is the machine search both sides speak. Every error
//! is JSON `{code, message}`.

pub mod offers;
pub mod server;
pub mod types;

pub use server::{router, serve};
pub use types::ApiError;
