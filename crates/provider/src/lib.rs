//! The gpunet provider agent.
//!
//! It detects this machine's hardware ([`hardware`]), stakes and registers it,
//! then follows the node's event stream for leases of its machines. Each lease
//! runs through an [`executor::Executor`] in its own working directory; the
//! outputs and logs are hashed into a manifest, uploaded, and the result is
//! reported on chain. A [`journal`] on disk makes every job survive an agent
//! restart: a job in flight when the agent died is reported, never lost.

mod agent;
pub mod canary;
pub mod challenge;
pub mod executor;
pub mod hardware;
pub mod journal;
mod live_logs;
pub mod run;
#[cfg(any(test, feature = "test-utils"))]
pub mod testing;

pub use agent::{Agent, AgentConfig, AgentError, UnprovenGpus};
