//! Binary Merkle trees over BLAKE3 leaf hashes, with inclusion proofs.
//!
//! An odd node at any level is paired with itself; interior nodes hash
//! `0x01 || left || right`, so they cannot be confused with leaves.

use crate::Hash;

fn node(left: &Hash, right: &Hash) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(&[1u8]);
    h.update(&left.0);
    h.update(&right.0);
    Hash(*h.finalize().as_bytes())
}

fn next_level(level: &[Hash]) -> Vec<Hash> {
    level
        .chunks(2)
        .map(|pair| node(&pair[0], pair.get(1).unwrap_or(&pair[0])))
        .collect()
}

/// Levels above `leaf_count` leaves: the length of every proof.
pub fn tree_depth(leaf_count: usize) -> usize {
    let mut depth = 0;
    let mut width = leaf_count;
    while width > 1 {
        width = width.div_ceil(2);
        depth += 1;
    }
    depth
}

/// Merkle root over leaf hashes. The empty tree has root [`Hash::ZERO`].
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return Hash::ZERO;
    }
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        level = next_level(&level);
    }
    level[0]
}

/// A whole tree kept in memory, to prove any leaf.
pub struct MerkleTree {
    /// `levels[0]` are the leaves, the last level is the root.
    levels: Vec<Vec<Hash>>,
}

impl MerkleTree {
    /// The tree over `leaves`, as deep as their count needs.
    pub fn new(leaves: Vec<Hash>) -> MerkleTree {
        let depth = tree_depth(leaves.len());
        MerkleTree::with_depth(leaves, depth)
    }

    /// Exactly `depth` levels above the leaves (a lone node pairs with itself
    /// on the way up). With `2^depth` leaves or fewer, this is the subtree a
    /// larger tree holds over them when they start at a multiple of
    /// `2^depth`: provers keep only such subtrees' roots and rebuild one to
    /// prove a leaf in it.
    pub fn with_depth(leaves: Vec<Hash>, depth: usize) -> MerkleTree {
        let mut levels = vec![leaves];
        for _ in 0..depth {
            let next = next_level(levels.last().expect("non-empty"));
            levels.push(next);
        }
        MerkleTree { levels }
    }

    /// Its root ([`Hash::ZERO`] for no leaves).
    pub fn root(&self) -> Hash {
        self.levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or(Hash::ZERO)
    }

    /// How many leaves it holds.
    pub fn leaf_count(&self) -> usize {
        self.levels[0].len()
    }

    /// The sibling hashes from leaf `index` up to the root, or `None` past the end.
    pub fn proof(&self, index: usize) -> Option<Vec<Hash>> {
        if index >= self.leaf_count() {
            return None;
        }
        let mut i = index;
        let mut path = Vec::new();
        for level in &self.levels[..self.levels.len() - 1] {
            let sibling = i ^ 1;
            path.push(*level.get(sibling).unwrap_or(&level[i]));
            i /= 2;
        }
        Some(path)
    }
}

/// Whether `leaf` is leaf `index` of a tree of `leaf_count` leaves with `root`.
pub fn verify_merkle_proof(
    root: &Hash,
    leaf: &Hash,
    index: usize,
    leaf_count: usize,
    path: &[Hash],
) -> bool {
    if index >= leaf_count {
        return false;
    }
    // The path length is fixed by the tree's shape.
    if path.len() != tree_depth(leaf_count) {
        return false;
    }
    let (mut hash, mut i) = (*leaf, index);
    for sibling in path {
        hash = if i % 2 == 0 {
            node(&hash, sibling)
        } else {
            node(sibling, &hash)
        };
        i /= 2;
    }
    hash == *root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merkle_root_depends_on_every_leaf_and_order() {
        let l: Vec<Hash> = (0u8..5).map(|i| Hash::digest(&[i])).collect();
        let root = merkle_root(&l);
        let mut swapped = l.clone();
        swapped.swap(0, 1);
        assert_ne!(root, merkle_root(&swapped));
        assert_ne!(root, merkle_root(&l[..4]));
        assert_eq!(merkle_root(&l[..1]), l[0]);
    }

    #[test]
    fn every_leaf_proves_and_nothing_else_does() {
        for n in [1usize, 2, 3, 5, 8, 13] {
            let leaves: Vec<Hash> = (0..n as u8).map(|i| Hash::digest(&[i])).collect();
            let tree = MerkleTree::new(leaves.clone());
            assert_eq!(tree.root(), merkle_root(&leaves));
            for (i, leaf) in leaves.iter().enumerate() {
                let path = tree.proof(i).unwrap();
                assert!(verify_merkle_proof(&tree.root(), leaf, i, n, &path));
                let other = Hash::digest(b"other");
                assert!(!verify_merkle_proof(&tree.root(), &other, i, n, &path));
                if n > 1 {
                    let j = (i + 1) % n;
                    assert!(
                        !verify_merkle_proof(&tree.root(), leaf, j, n, &path),
                        "leaf {i} of {n} proved at {j}"
                    );
                }
                assert!(!verify_merkle_proof(&tree.root(), leaf, i, n + 9, &path));
            }
            assert!(tree.proof(n).is_none());
        }
    }

    #[test]
    fn aligned_subtrees_are_the_inner_nodes_of_the_whole_tree() {
        for n in [5usize, 8, 13, 17, 32, 33] {
            let leaves: Vec<Hash> = (0..n as u32)
                .map(|i| Hash::digest(&i.to_le_bytes()))
                .collect();
            let whole = MerkleTree::new(leaves.clone());
            for depth in 0..=2 {
                let roots: Vec<Hash> = leaves
                    .chunks(1 << depth)
                    .map(|sub| MerkleTree::with_depth(sub.to_vec(), depth).root())
                    .collect();
                assert_eq!(
                    MerkleTree::new(roots.clone()).root(),
                    whole.root(),
                    "{n} leaves, depth {depth}"
                );
                // A proof in a subtree, then the subtree's proof among the roots, proves the leaf.
                let i = n - 1;
                let start = i >> depth << depth;
                let sub = MerkleTree::with_depth(
                    leaves[start..(start + (1 << depth)).min(n)].to_vec(),
                    depth,
                );
                let mut path = sub.proof(i - start).unwrap();
                path.extend(MerkleTree::new(roots).proof(i >> depth).unwrap());
                assert_eq!(path, whole.proof(i).unwrap());
            }
        }
    }
}
