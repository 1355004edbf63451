#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

/// The user's profiles: node addresses and keystores by name.
pub mod config;
mod error;
/// Container images pushed from this machine: `gpunet image push`.
pub mod images;
/// Job files (TOML) as people write them.
pub mod jobfile;
/// Submit, wait, fetch and verify; why an order waits.
pub mod jobs;
mod keystore;
/// A job's logs: live while it runs, then its verified result's.
pub mod logs;
mod node_client;
/// A machine owner's actions.
pub mod owner;
pub mod peer_fetch;
/// Files between here and a rental: `rent cp`.
#[cfg(feature = "p2p")]
pub mod rental_copy;
/// Sessions in a rental: `rent exec` and `rent shell`.
#[cfg(feature = "p2p")]
pub mod rental_session;
/// A job's secrets: their values, sealed to each lease's provider.
pub mod secrets;
/// What this machine serves peer to peer: pushed images and jobs' inputs.
pub mod served;
pub mod stall_watch;
/// TLS that accepts a node only with the key pinned in its address.
pub mod tls;
mod wallet;

pub use error::ClientError;
pub use keystore::{Keystore, Protection, PASSPHRASE_VAR};
pub use node_client::{EventStream, NodeClient, StreamItem};
pub use wallet::Wallet;
