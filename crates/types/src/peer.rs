//! Where a peer of the data plane (`gpunet-p2p`) is reached.

use gpunet_primitives::Address;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// The most direct addresses the chain keeps for one peer.
pub const MAX_PEER_ADDRESSES: usize = 8;

/// A peer's account and the ways to reach it. Whoever dials it checks, in
/// the QUIC handshake, that the far end holds `account`'s key: addresses
/// are hints, the account is the identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PeerAddr {
    /// Its account, whose ed25519 key is its peer id.
    pub account: Address,
    /// Socket addresses it is dialled at directly (`IP:port`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub direct: Vec<SocketAddr>,
    /// The relay it keeps a connection to, for peers that cannot dial it
    /// (no public address, no port forwarded): an `http(s)://` URL.
    #[serde(default)]
    pub relay: Option<String>,
}
