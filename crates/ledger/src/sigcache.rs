//! Signatures already checked. A transaction is usually verified when it enters
//! the mempool, again when its block is proposed or validated, and again when
//! the decided block is applied; the cache makes the later checks free. A hit
//! needs the same hash of the whole signed transaction, signature included, so
//! the answer is the one verification would give: execution stays deterministic.

use gpunet_primitives::{Hash, SignedTx};
use std::collections::{HashSet, VecDeque};

pub struct SigCache {
    verified: HashSet<Hash>,
    order: VecDeque<Hash>,
    capacity: usize,
}

impl SigCache {
    pub fn new(capacity: usize) -> SigCache {
        SigCache {
            verified: HashSet::with_capacity(capacity),
            order: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Whether the transaction's signature is valid, verifying it at most once.
    pub fn verify(&mut self, tx: &SignedTx) -> bool {
        if self.capacity == 0 {
            return tx.verify_signature();
        }
        let hash = tx.hash();
        if self.verified.contains(&hash) {
            return true;
        }
        if !tx.verify_signature() {
            return false;
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.verified.remove(&oldest);
            }
        }
        self.verified.insert(hash);
        self.order.push_back(hash);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpunet_primitives::{Keypair, Tx, TxBody};

    #[test]
    fn a_forged_copy_of_a_verified_transaction_is_still_refused() {
        let key = Keypair::from_label("k");
        let tx = Tx {
            chain_id: "c".into(),
            sender: key.address(),
            nonce: 0,
            fee: 1,
            body: TxBody::Stake { amount: 1 },
        }
        .sign(&key);
        let mut cache = SigCache::new(1);
        assert!(cache.verify(&tx));
        let mut forged = tx.clone();
        forged.tx.body = TxBody::Stake { amount: 2 };
        assert!(!cache.verify(&forged));
        assert!(cache.verify(&tx));
    }
}
