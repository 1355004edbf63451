//! What a challenge asks: C = A·B for PRG-defined int8 matrices.
//!
//! A is `rows × inner`, B is `inner × cols`, both filled by BLAKE3 in keyed XOF
//! (counter) mode from the challenge seed: row `i` of A is the XOF of
//! `"A" || i`, B is the XOF of `"B"`, read row-major. Rows of A are generated
//! on demand, so neither side ever stores A. C is accumulated in i32, which is
//! exact for `inner <= MAX_INNER`.

use borsh::{BorshDeserialize, BorshSerialize};
use gpunet_primitives::Hash;
use serde::{Deserialize, Serialize};

/// Largest inner dimension: |a·b| <= 2^14, so 2^16 terms stay within i32.
pub const MAX_INNER: u32 = 1 << 16;
/// Largest number of rows (the commitment is a Merkle tree of row hashes; a
/// prover for the largest classes keeps only its upper levels and recomputes a
/// subtree's rows to open one).
pub const MAX_ROWS: u32 = 1 << 31;
/// Largest row width.
pub const MAX_COLS: u32 = 1 << 14;

/// Domain of the challenge's keyed XOFs (key: the seed).
const DOMAIN: &[u8] = b"gpunet-poc-v1";
/// Row `i` of A is the keyed XOF of this prefix (`DOMAIN || "A"`), then `i` (u32 LE).
pub(crate) const A_ROW_PREFIX: &[u8] = b"gpunet-poc-v1A";
/// Row `i` of C hashes (unkeyed) as this prefix, then `i` (u32 LE), then its entries (i32 LE).
pub(crate) const ROW_HASH_PREFIX: &[u8] = b"gpunet-poc-row-v1";

/// A challenge: the product of two int8 matrices drawn from `seed`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Challenge {
    /// What A and B are drawn from.
    pub seed: Hash,
    /// Rows of A and of C.
    pub rows: u32,
    /// Columns of A, rows of B.
    pub inner: u32,
    /// Columns of B and of C.
    pub cols: u32,
}

/// Dimensions no challenge may have.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShapeError {
    /// A dimension of zero.
    #[error("challenge dimensions must be positive, got {rows}x{inner}x{cols}")]
    Empty {
        /// Rows asked.
        rows: u32,
        /// Inner dimension asked.
        inner: u32,
        /// Columns asked.
        cols: u32,
    },
    /// A dimension over its limit ([`MAX_ROWS`], [`MAX_INNER`], [`MAX_COLS`]).
    #[error("challenge {what} {got} is over the limit {max}")]
    TooLarge {
        /// Which dimension.
        what: &'static str,
        /// Its value.
        got: u32,
        /// Its limit.
        max: u32,
    },
}

impl Challenge {
    /// The challenge of this shape drawn from `seed`, if its dimensions are
    /// positive and within their limits.
    pub fn new(seed: Hash, rows: u32, inner: u32, cols: u32) -> Result<Challenge, ShapeError> {
        if rows == 0 || inner == 0 || cols == 0 {
            return Err(ShapeError::Empty { rows, inner, cols });
        }
        for (what, got, max) in [
            ("rows", rows, MAX_ROWS),
            ("inner dimension", inner, MAX_INNER),
            ("columns", cols, MAX_COLS),
        ] {
            if got > max {
                return Err(ShapeError::TooLarge { what, got, max });
            }
        }
        Ok(Challenge {
            seed,
            rows,
            inner,
            cols,
        })
    }

    /// Integer operations of the whole product (a multiply and an add per term).
    pub fn ops(&self) -> u128 {
        2 * u128::from(self.rows) * u128::from(self.inner) * u128::from(self.cols)
    }

    fn xof(&self, parts: &[&[u8]]) -> blake3::OutputReader {
        let mut h = blake3::Hasher::new_keyed(&self.seed.0);
        for part in parts {
            h.update(part);
        }
        h.finalize_xof()
    }

    /// Row `i` of A into `out` (`inner` entries; each byte is an i8 in two's
    /// complement, see [`entry`]).
    pub fn fill_a_row(&self, i: u32, out: &mut [u8]) {
        debug_assert_eq!(out.len(), self.inner as usize);
        self.xof(&[A_ROW_PREFIX, &i.to_le_bytes()]).fill(out);
    }

    /// The whole of B, row-major (`inner × cols`), as bytes (see [`entry`]).
    pub fn b(&self) -> Vec<u8> {
        let mut b = vec![0u8; self.inner as usize * self.cols as usize];
        self.xof(&[DOMAIN, b"B"]).fill(&mut b);
        b
    }

    /// The hash of row `i` of C that the commitment's leaf holds.
    pub fn row_hash(&self, i: u32, row: &[i32]) -> Hash {
        let mut h = blake3::Hasher::new();
        h.update(ROW_HASH_PREFIX);
        h.update(&i.to_le_bytes());
        for v in row {
            h.update(&v.to_le_bytes());
        }
        Hash(*h.finalize().as_bytes())
    }

    /// A keyed XOF of this challenge bound to extra context (for the verifier's
    /// randomness, drawn after the commitment).
    pub(crate) fn bound_xof(&self, tag: &[u8], root: &Hash, beacon: &Hash) -> blake3::OutputReader {
        self.xof(&[DOMAIN, tag, &root.0, &beacon.0])
    }
}

/// The value of a matrix byte: an int8 in two's complement.
#[inline(always)]
pub fn entry(byte: u8) -> i32 {
    i32::from(byte as i8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrices_are_a_function_of_the_seed() {
        let ch = Challenge::new(Hash::digest(b"s"), 4, 8, 3).unwrap();
        let mut r0 = vec![0u8; 8];
        let mut r0_again = vec![0u8; 8];
        let mut r1 = vec![0u8; 8];
        ch.fill_a_row(0, &mut r0);
        ch.fill_a_row(0, &mut r0_again);
        ch.fill_a_row(1, &mut r1);
        assert_eq!(r0, r0_again);
        assert_ne!(r0, r1);
        let other = Challenge::new(Hash::digest(b"t"), 4, 8, 3).unwrap();
        assert_ne!(ch.b(), other.b());
        assert_eq!(ch.b().len(), 24);
    }

    #[test]
    fn the_a_row_prefix_is_the_domain_then_a() {
        assert_eq!(A_ROW_PREFIX, [DOMAIN, b"A"].concat());
    }

    #[test]
    fn shapes_are_bounded() {
        let s = Hash::ZERO;
        assert!(matches!(
            Challenge::new(s, 0, 1, 1),
            Err(ShapeError::Empty { .. })
        ));
        assert!(matches!(
            Challenge::new(s, 1, MAX_INNER + 1, 1),
            Err(ShapeError::TooLarge { .. })
        ));
        assert_eq!(Challenge::new(s, 2, 3, 4).unwrap().ops(), 48);
    }
}
