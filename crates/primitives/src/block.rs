//! Blocks: a header that commits to the transactions and the resulting state.

use crate::{Address, Hash, SignedTx};
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct BlockHeader {
    pub chain_id: String,
    pub height: u64,
    pub parent: Hash,
    /// Block time in milliseconds since the Unix epoch, chosen by the proposer and
    /// strictly increasing. The ledger measures every deadline against it, never
    /// against a local clock.
    pub time_ms: u64,
    pub proposer: Address,
    /// Merkle root of the transaction hashes.
    pub txs_root: Hash,
    /// State root after applying this block.
    pub state_root: Hash,
}

impl BlockHeader {
    pub fn hash(&self) -> Hash {
        crate::hash_of(self)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Block {
    pub header: BlockHeader,
    pub txs: Vec<SignedTx>,
}

impl Block {
    pub fn txs_root(txs: &[SignedTx]) -> Hash {
        let hashes: Vec<Hash> = txs.iter().map(SignedTx::hash).collect();
        crate::merkle_root(&hashes)
    }
}
