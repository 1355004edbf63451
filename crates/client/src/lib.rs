//! Client side of gpunet: talk to a node, hold keys, describe jobs, verify outputs.
//!
//! - [`NodeClient`]: typed calls to the node API, including the event stream and blobs.
//! - [`Wallet`]: a key in a 0600 keystore file that signs and submits transactions.
//! - [`jobfile`]: the TOML job spec users write, turned into an on-chain [`gpunet_primitives::JobSpec`].
//! - [`logs`]: a job's logs, followed live while it runs, then verified.
//! - [`owner`]: a machine owner's actions: offline and back, removal, unstaking.
//! - [`tls`]: TLS that accepts a node only with the key pinned in its address.
//!
//! It speaks the types of `gpunet-types` and needs no ledger, node or server.

mod error;
pub mod jobfile;
pub mod jobs;
pub mod logs;
mod node_client;
pub mod owner;
pub mod tls;
mod wallet;

pub use error::ClientError;
pub use node_client::{EventStream, NodeClient, StreamItem};
pub use wallet::{Keystore, Wallet};
