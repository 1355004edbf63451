//! The verifier's side: pick rows after the commitment, check each exactly.
//!
//! Each opened row must hash to its committed leaf (Merkle path) and satisfy
//! Freivalds' check c·r = A_i·(B·r) over the prime field p = 2^61 - 1, where r
//! is drawn after the commitment. A wrong row passes with probability at most
//! 1/p. The verifier computes B·r once (inner × cols multiply-adds) and then
//! inner + cols per row: O(n²) against the prover's O(n³).

use crate::challenge::{entry, Challenge};
use crate::prover::Opening;
use gpunet_primitives::{verify_merkle_proof, Hash};

/// The Mersenne prime 2^61 - 1.
pub const FIELD_PRIME: u64 = (1 << 61) - 1;

/// Why a challenge's answer fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    /// Openings of other rows than those drawn.
    #[error("expected openings of rows {expected:?}, got rows {got:?}")]
    WrongRows {
        /// The rows drawn.
        expected: Vec<u32>,
        /// The rows opened.
        got: Vec<u32>,
    },
    /// A row of the wrong width.
    #[error("row {index} has {got} entries, expected {expected}")]
    WrongLength {
        /// The row.
        index: u32,
        /// Its entries.
        got: usize,
        /// The challenge's row width.
        expected: usize,
    },
    /// A row whose Merkle path does not lead to the committed root.
    #[error("row {index} does not match the committed root")]
    NotCommitted {
        /// The row.
        index: u32,
    },
    /// A committed row that is not that row of the product (Freivalds).
    #[error("row {index} is not row {index} of A·B")]
    WrongProduct {
        /// The row.
        index: u32,
    },
    /// Committed after the deadline of its class.
    #[error("committed at {committed_ms} ms, after the deadline at {deadline_ms} ms")]
    Late {
        /// When it committed.
        committed_ms: u64,
        /// When it had to.
        deadline_ms: u64,
    },
}

/// A commitment counts only if it arrived by the deadline.
pub fn check_deadline(committed_ms: u64, deadline_ms: u64) -> Result<(), Fault> {
    if committed_ms > deadline_ms {
        return Err(Fault::Late {
            committed_ms,
            deadline_ms,
        });
    }
    Ok(())
}

/// `count` distinct rows to open, drawn from the commitment and a beacon that
/// did not exist when the commitment was made (a later block's hash). Sorted.
pub fn sample_rows(ch: &Challenge, root: &Hash, beacon: &Hash, count: u32) -> Vec<u32> {
    let count = count.min(ch.rows) as usize;
    let mut xof = ch.bound_xof(b"rows", root, beacon);
    let mut picked = std::collections::BTreeSet::new();
    let mut word = [0u8; 8];
    while picked.len() < count {
        xof.fill(&mut word);
        // Modulo bias is below rows / 2^64: negligible.
        picked.insert((u64::from_le_bytes(word) % u64::from(ch.rows)) as u32);
    }
    picked.into_iter().collect()
}

fn field(value: i128) -> i128 {
    value.rem_euclid(i128::from(FIELD_PRIME))
}

/// Precomputed r and B·r for one challenge, commitment and beacon.
pub struct Verifier {
    challenge: Challenge,
    root: Hash,
    r: Vec<i128>,
    br: Vec<i128>,
}

impl Verifier {
    /// A verifier of openings of `challenge` committed to `root`, its
    /// randomness drawn from `beacon` (after the commitment).
    pub fn new(challenge: &Challenge, root: &Hash, beacon: &Hash) -> Verifier {
        let mut xof = challenge.bound_xof(b"freivalds", root, beacon);
        let mut word = [0u8; 8];
        let r: Vec<i128> = (0..challenge.cols)
            .map(|_| {
                xof.fill(&mut word);
                i128::from(u64::from_le_bytes(word) % FIELD_PRIME)
            })
            .collect();
        let b = challenge.b();
        let cols = challenge.cols as usize;
        // |b·r| < 2^7 · 2^61 per term and at most 2^14 terms: fits in i128.
        let br = b
            .chunks_exact(cols)
            .map(|b_row| {
                field(
                    b_row
                        .iter()
                        .zip(&r)
                        .map(|(&bv, &rv)| i128::from(entry(bv)) * rv)
                        .sum(),
                )
            })
            .collect();
        Verifier {
            challenge: *challenge,
            root: *root,
            r,
            br,
        }
    }

    /// Checks one opened row: its Merkle path, then Freivalds.
    pub fn check(&self, opening: &Opening, a_row: &mut [u8]) -> Result<(), Fault> {
        let ch = &self.challenge;
        let index = opening.index;
        if opening.row.len() != ch.cols as usize {
            return Err(Fault::WrongLength {
                index,
                got: opening.row.len(),
                expected: ch.cols as usize,
            });
        }
        let leaf = ch.row_hash(index, &opening.row);
        if !verify_merkle_proof(
            &self.root,
            &leaf,
            index as usize,
            ch.rows as usize,
            &opening.path,
        ) {
            return Err(Fault::NotCommitted { index });
        }
        self.check_product(index, &opening.row, a_row)
    }

    /// Freivalds' check of one row of C: c·r = A_i·(B·r) over the field.
    pub fn check_product(&self, index: u32, row: &[i32], a_row: &mut [u8]) -> Result<(), Fault> {
        let ch = &self.challenge;
        // |c·r| < 2^31 · 2^61 per term, at most 2^14 terms: fits in i128.
        let cr = field(
            row.iter()
                .zip(&self.r)
                .map(|(&c, &rv)| i128::from(c) * rv)
                .sum(),
        );
        ch.fill_a_row(index, a_row);
        let abr = field(
            a_row
                .iter()
                .zip(&self.br)
                .map(|(&a, &v)| i128::from(entry(a)) * v)
                .sum(),
        );
        if cr != abr {
            return Err(Fault::WrongProduct { index });
        }
        Ok(())
    }
}

/// Checks that `openings` are exactly the `requested` rows and each is right.
pub fn verify_openings(
    challenge: &Challenge,
    root: &Hash,
    beacon: &Hash,
    requested: &[u32],
    openings: &[Opening],
) -> Result<(), Fault> {
    let got: Vec<u32> = openings.iter().map(|o| o.index).collect();
    if got != requested {
        return Err(Fault::WrongRows {
            expected: requested.to_vec(),
            got,
        });
    }
    let verifier = Verifier::new(challenge, root, beacon);
    let mut a_row = vec![0u8; challenge.inner as usize];
    openings
        .iter()
        .try_for_each(|opening| verifier.check(opening, &mut a_row))
}
