//! A homomorphic set hash (LtHash) over the state's entries.
//!
//! Every `(table, key, value)` entry maps to 1024 16-bit lanes expanded from
//! BLAKE3's extendable output; the accumulator is their lane-wise wrapping sum.
//! Updating one entry costs O(1) (subtract its old lanes, add its new ones), and
//! the result depends only on the set of entries, not on the order they were
//! written in, so the state root is a function of the state itself.

use gpunet_primitives::Hash;

/// 16-bit lanes per entry and in the accumulator: 2 KiB, the size at which
/// LtHash's authors put finding a collision beyond reach.
pub const LANES: usize = 1024;

/// The accumulator: the lane-wise sum of every entry's lanes.
#[derive(Clone, PartialEq, Eq)]
pub struct LtHash {
    lanes: Box<[u16; LANES]>,
}

impl Default for LtHash {
    fn default() -> Self {
        LtHash {
            lanes: Box::new([0; LANES]),
        }
    }
}

impl LtHash {
    fn expand(entry: &[u8]) -> [u16; LANES] {
        let mut bytes = [0u8; LANES * 2];
        blake3::Hasher::new()
            .update(entry)
            .finalize_xof()
            .fill(&mut bytes);
        let mut lanes = [0u16; LANES];
        for (lane, pair) in lanes.iter_mut().zip(bytes.as_chunks::<2>().0) {
            *lane = u16::from_le_bytes(*pair);
        }
        lanes
    }

    /// Adds `entry` to the set.
    pub fn insert(&mut self, entry: &[u8]) {
        for (acc, x) in self.lanes.iter_mut().zip(Self::expand(entry)) {
            *acc = acc.wrapping_add(x);
        }
    }

    /// Takes `entry`, which must be in the set, out of it.
    pub fn remove(&mut self, entry: &[u8]) {
        for (acc, x) in self.lanes.iter_mut().zip(Self::expand(entry)) {
            *acc = acc.wrapping_sub(x);
        }
    }

    /// Adds another accumulator's entries to this one: the hash of the
    /// union of two disjoint sets is the sum of theirs.
    pub fn add(&mut self, other: &LtHash) {
        for (acc, x) in self.lanes.iter_mut().zip(other.lanes.iter()) {
            *acc = acc.wrapping_add(*x);
        }
    }

    /// The set's 32-byte digest: the state root.
    pub fn root(&self) -> Hash {
        Hash::digest(&self.to_bytes())
    }

    /// The accumulator's lanes, little-endian (2 KiB).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.lanes.iter().flat_map(|l| l.to_le_bytes()).collect()
    }

    /// An accumulator from [`LtHash::to_bytes`]; `None` if the length is not
    /// 2 KiB.
    pub fn from_bytes(bytes: &[u8]) -> Option<LtHash> {
        if bytes.len() != LANES * 2 {
            return None;
        }
        let mut h = LtHash::default();
        for (lane, pair) in h.lanes.iter_mut().zip(bytes.as_chunks::<2>().0) {
            *lane = u16::from_le_bytes(*pair);
        }
        Some(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_independent_and_removable() {
        let mut a = LtHash::default();
        a.insert(b"x");
        a.insert(b"y");
        let mut b = LtHash::default();
        b.insert(b"y");
        b.insert(b"x");
        assert_eq!(a.root(), b.root());
        b.insert(b"z");
        assert_ne!(a.root(), b.root());
        b.remove(b"z");
        assert_eq!(a.root(), b.root());
        assert_eq!(LtHash::from_bytes(&a.to_bytes()).unwrap().root(), a.root());
    }
}
