#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod agent;
pub mod canary;
pub mod challenge;
pub mod data_plane;
pub mod endpoint;
pub mod executor;
pub mod hardware;
pub mod images;
pub mod journal;
mod live_logs;
pub mod metrics;
mod rental_access;
pub mod run;
#[cfg(any(test, feature = "test-utils"))]
pub mod testing;

pub use agent::{Agent, AgentConfig, AgentError, UnprovenGpus};
pub use data_plane::Outputs;
