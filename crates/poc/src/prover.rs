//! The provider's side: compute C, commit to its rows, open the rows asked for.

use crate::challenge::Challenge;
use gpunet_primitives::{Hash, MerkleTree};
use std::sync::atomic::AtomicBool;

/// The computation was stopped (its deadline passed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the proof of compute was cancelled")]
pub struct Cancelled;

/// Something that computes C = A·B: the CPU, or a GPU with the `cuda` feature.
pub trait Backend: Send + Sync {
    fn name(&self) -> &'static str;
    /// The hash of every row of C ([`Challenge::row_hash`]), in order. Checks
    /// `cancel` as it goes.
    fn row_hashes(&self, ch: &Challenge, cancel: &AtomicBool) -> Result<Vec<Hash>, Cancelled>;
    /// The given rows of C, recomputed (the prover never stores all of C).
    fn rows(&self, ch: &Challenge, indices: &[u32]) -> Vec<Vec<i32>>;
}

/// One opened row: its values and its Merkle path to the committed root.
pub use gpunet_primitives::RowOpening as Opening;

/// The prover's commitment to C: a Merkle tree over the row hashes.
pub struct Commitment {
    challenge: Challenge,
    tree: MerkleTree,
}

impl Commitment {
    pub fn compute(
        backend: &dyn Backend,
        challenge: &Challenge,
        cancel: &AtomicBool,
    ) -> Result<Commitment, Cancelled> {
        let hashes = backend.row_hashes(challenge, cancel)?;
        Ok(Commitment {
            challenge: *challenge,
            tree: MerkleTree::new(hashes),
        })
    }

    /// The root the provider publishes before it learns which rows are checked.
    pub fn root(&self) -> Hash {
        self.tree.root()
    }

    /// Opens the requested rows; indices past the end are skipped (and the
    /// verifier will reject the answer).
    pub fn open(&self, backend: &dyn Backend, indices: &[u32]) -> Vec<Opening> {
        let indices: Vec<u32> = indices
            .iter()
            .copied()
            .filter(|&i| i < self.challenge.rows)
            .collect();
        let rows = backend.rows(&self.challenge, &indices);
        indices
            .into_iter()
            .zip(rows)
            .map(|(index, row)| Opening {
                index,
                path: self.tree.proof(index as usize).expect("index checked"),
                row,
            })
            .collect()
    }
}
