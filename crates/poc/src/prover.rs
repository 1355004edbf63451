//! The provider's side: compute C, commit to its rows, open the rows asked for.

use crate::challenge::Challenge;
use gpunet_primitives::{tree_depth, Hash, MerkleTree};
use std::collections::btree_map::{BTreeMap, Entry};
use std::ops::Range;
use std::sync::atomic::AtomicBool;

/// The computation was stopped (its deadline passed, or the device failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the proof of compute was cancelled")]
pub struct Cancelled;

/// Something that computes C = A·B: the CPU, or a GPU with the `cuda` feature.
pub trait Backend: Send + Sync {
    /// Its name, for logs and benchmarks (`cpu`, `cuda`).
    fn name(&self) -> &'static str;
    /// The hash of each row of C in `rows` ([`Challenge::row_hash`]), in
    /// order. Checks `cancel` as it goes.
    fn row_hashes(
        &self,
        ch: &Challenge,
        rows: Range<u32>,
        cancel: &AtomicBool,
    ) -> Result<Vec<Hash>, Cancelled>;
    /// The Merkle roots of C's rows in aligned runs of `2^depth` rows (the
    /// last may be shorter), each reduced exactly `depth` levels
    /// ([`MerkleTree::with_depth`]). Here: hashed a batch at a time and reduced
    /// on the host; a GPU reduces on the device.
    fn subtree_roots(
        &self,
        ch: &Challenge,
        depth: u32,
        cancel: &AtomicBool,
    ) -> Result<Vec<Hash>, Cancelled> {
        let run = 1u32 << depth;
        let batch = run.max(1 << 14);
        let mut roots = Vec::with_capacity(ch.rows.div_ceil(run) as usize);
        for start in (0..ch.rows).step_by(batch as usize) {
            let leaves =
                self.row_hashes(ch, start..ch.rows.min(start.saturating_add(batch)), cancel)?;
            roots.extend(
                leaves
                    .chunks(run as usize)
                    .map(|sub| MerkleTree::with_depth(sub.to_vec(), depth as usize).root()),
            );
        }
        Ok(roots)
    }
    /// The given rows of C, recomputed (the prover never stores C).
    fn rows(&self, ch: &Challenge, indices: &[u32]) -> Vec<Vec<i32>>;
}

/// One opened row: its values and its Merkle path to the committed root.
pub use gpunet_primitives::RowOpening as Opening;

/// Challenges of at most this many rows keep every row hash (32 MiB).
const KEEP_ALL_ROWS: u32 = 1 << 20;
/// Larger ones keep the roots of subtrees of `2^SUBTREE_DEPTH` rows (a
/// 2^31-row challenge keeps 32,768 of them) and rebuild one to open a row in it.
const SUBTREE_DEPTH: u32 = 16;

/// The prover's commitment to C: a Merkle tree over the row hashes, kept down
/// to the roots of aligned subtrees of `2^depth` rows.
pub struct Commitment {
    challenge: Challenge,
    depth: u32,
    /// The tree above the subtrees: its leaves are their roots.
    upper: MerkleTree,
}

impl Commitment {
    /// The commitment to `challenge`'s product, computed by `backend`;
    /// stops early (`Cancelled`) once `cancel` is set.
    pub fn compute(
        backend: &dyn Backend,
        challenge: &Challenge,
        cancel: &AtomicBool,
    ) -> Result<Commitment, Cancelled> {
        let depth = Commitment::subtree_depth(challenge.rows);
        let roots = backend.subtree_roots(challenge, depth, cancel)?;
        debug_assert_eq!(roots.len(), challenge.rows.div_ceil(1 << depth) as usize);
        Ok(Commitment {
            challenge: *challenge,
            depth,
            upper: MerkleTree::new(roots),
        })
    }

    /// The depth of the subtrees whose roots a commitment to `rows` rows keeps.
    pub fn subtree_depth(rows: u32) -> u32 {
        if rows <= KEEP_ALL_ROWS {
            0
        } else {
            SUBTREE_DEPTH
        }
    }

    /// The root the provider publishes before it learns which rows are checked.
    pub fn root(&self) -> Hash {
        self.upper.root()
    }

    /// Opens the requested rows; indices past the end are skipped (and the
    /// verifier will reject the answer). Rows in a subtree not kept are
    /// hashed again (`Cancelled` if the backend fails at that).
    pub fn open(&self, backend: &dyn Backend, indices: &[u32]) -> Result<Vec<Opening>, Cancelled> {
        let ch = &self.challenge;
        let indices: Vec<u32> = indices.iter().copied().filter(|&i| i < ch.rows).collect();
        let mut subtrees = BTreeMap::new();
        if self.depth > 0 {
            for &i in &indices {
                let s = i >> self.depth;
                if let Entry::Vacant(slot) = subtrees.entry(s) {
                    let start = s << self.depth;
                    let end = ch.rows.min(start + (1 << self.depth));
                    let leaves = backend.row_hashes(ch, start..end, &AtomicBool::new(false))?;
                    slot.insert(MerkleTree::with_depth(leaves, self.depth as usize));
                }
            }
        }
        let rows = backend.rows(ch, &indices);
        Ok(indices
            .into_iter()
            .zip(rows)
            .map(|(index, row)| {
                let s = index >> self.depth;
                // Depth 0 keeps every leaf: the upper tree's path is the whole path.
                let mut path = match subtrees.get(&s) {
                    Some(sub) => sub
                        .proof((index - (s << self.depth)) as usize)
                        .expect("index in its subtree"),
                    None => Vec::new(),
                };
                path.extend(self.upper.proof(s as usize).expect("index checked"));
                debug_assert_eq!(path.len(), tree_depth(ch.rows as usize));
                Opening { index, path, row }
            })
            .collect())
    }
}
