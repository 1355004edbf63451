//! Blocks: a header that commits to the transactions and the resulting state.

use crate::{Address, Hash, SignedTx};
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// What a block commits to: its place in the chain, its time, its
/// proposer, its transactions and the state after them.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockHeader {
    /// The chain it belongs to.
    pub chain_id: String,
    /// Its height: the parent's plus one (genesis is 0).
    pub height: u64,
    /// The hash of the parent's header.
    pub parent: Hash,
    /// Block time in milliseconds since the Unix epoch, chosen by the proposer and
    /// strictly increasing. The ledger measures every deadline against it, never
    /// against a local clock.
    #[serde(rename = "time", with = "crate::json::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::json::Rfc3339))]
    pub time_ms: u64,
    /// The validator that proposed it (and is paid its fees).
    pub proposer: Address,
    /// Merkle root of the transaction hashes.
    pub txs_root: Hash,
    /// State root after applying this block.
    pub state_root: Hash,
}

impl BlockHeader {
    /// The block's hash: BLAKE3 of the header's encoding.
    pub fn hash(&self) -> Hash {
        crate::hash_of(self)
    }
}

/// A block: its header and its transactions, in order.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Block {
    /// What it commits to.
    pub header: BlockHeader,
    /// Its transactions, applied in this order.
    pub txs: Vec<SignedTx>,
}

impl Block {
    /// The Merkle root of `txs`' hashes, as a header's `txs_root`.
    pub fn txs_root(txs: &[SignedTx]) -> Hash {
        let hashes: Vec<Hash> = txs.iter().map(SignedTx::hash).collect();
        crate::merkle_root(&hashes)
    }
}
