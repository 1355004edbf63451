#![doc = include_str!("../README.md")]

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
