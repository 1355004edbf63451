//! Client side of gpunet: talk to a node, hold keys, describe jobs, verify outputs.
//!
//! - [`NodeClient`]: typed calls to the node API, including the event stream and blobs.
//! - [`Wallet`]: a key in a 0600 keystore file that signs and submits transactions.
//! - [`jobfile`]: the TOML job spec users write, turned into an on-chain [`gpunet_primitives::JobSpec`].
//! - [`logs`]: a job's logs, followed live while it runs, then verified.
//! - [`owner`]: a machine owner's actions: offline and back, removal, unstaking.

mod error;
pub mod jobfile;
pub mod jobs;
pub mod logs;
mod node_client;
pub mod owner;
mod wallet;

pub use error::ClientError;
pub use gpunet_api::offers;
pub use gpunet_api::types::{MachineSearch, OrdersPage};
pub use node_client::{EventStream, NodeClient, StreamItem};
pub use wallet::{Keystore, Wallet};
