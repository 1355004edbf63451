#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
//!
//! # Design
//!
//! - **Transport and transfer are iroh's** (ARCHITECTURE.md says why iroh and
//!   not libp2p): an [`iroh::Endpoint`] keyed with the account's secret key,
//!   so a peer's id *is* its address on the chain and a connection proves
//!   who is at the other end; [`iroh_blobs`] serves and fetches blobs as
//!   BLAKE3 verified streams, keeps partial downloads in its store and asks
//!   only for the ranges still missing, so a cut transfer resumes. Its hash
//!   is plain BLAKE3, the same as [`gpunet_primitives::Hash`].
//! - **No lookup service**: iroh's public discovery and relays (n0's) are
//!   off. A peer is dialled at the [`PeerAddr`] that names it, given by the
//!   chain or a node; relays are the network's own ([`Reach`]).
//! - **Reads are gated per request**: every get or observe request is held
//!   until the [`ReadGate`] has answered for the reader's account and the
//!   hash; requests that name many blobs at once and pushes are refused
//!   outright, so that no request escapes the per-hash decision.

pub mod access;
mod gate;
mod peer;
#[cfg(feature = "relay")]
mod relay;

pub use gate::{AllowList, ReadGate};
pub use gpunet_types::PeerAddr;
pub use peer::{Fetched, Peer, PeerConfig, Reach};
#[cfg(feature = "relay")]
pub use relay::Relay;

use gpunet_primitives::{Address, Hash};

/// Why a data-plane operation failed.
#[derive(Debug, thiserror::Error)]
pub enum P2pError {
    /// The peer's endpoint or store could not start.
    #[error("the data plane could not start: {0}")]
    Start(String),
    /// A peer address that cannot be dialled as given.
    #[error("peer {account} has an invalid address: {why}")]
    BadAddress {
        /// The peer.
        account: Address,
        /// What is wrong with it.
        why: String,
    },
    /// No connection to a peer could be made.
    #[error("could not connect to peer {account}: {why}")]
    Connect {
        /// The peer.
        account: Address,
        /// Why.
        why: String,
    },
    /// A peer was reached but the transfer failed (refused by its gate, it
    /// does not hold the blob, the connection broke, data did not verify).
    #[error("fetching {blob} from peer {account} failed: {why}")]
    Fetch {
        /// The blob.
        blob: Hash,
        /// The peer.
        account: Address,
        /// Why.
        why: String,
    },
    /// No peer was given to fetch from.
    #[error("no peer to fetch {0} from")]
    NoPeer(Hash),
    /// A rental-access session broke (the connection, or a frame that does
    /// not decode).
    #[error("rental access session: {0}")]
    Session(String),
    /// The local store failed.
    #[error("the blob store failed: {0}")]
    Store(String),
}

/// The iroh-blobs hash of a gpunet hash: both are BLAKE3 of the content.
fn to_iroh(hash: Hash) -> iroh_blobs::Hash {
    iroh_blobs::Hash::from_bytes(hash.0)
}

/// The gpunet hash of an iroh-blobs hash.
fn from_iroh(hash: iroh_blobs::Hash) -> Hash {
    Hash(*hash.as_bytes())
}
