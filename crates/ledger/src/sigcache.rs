//! Signatures already checked. A transaction is usually verified when it enters
//! the mempool, again when its block is proposed or validated, and again when
//! the decided block is applied; the cache makes the later checks free. A hit
//! needs the same hash of the whole signed transaction, signature included, so
//! the answer is the one verification would give: execution stays deterministic.

use gpunet_primitives::{Hash, SignedTx};
use std::collections::{HashSet, VecDeque};

pub(crate) struct SigCache {
    verified: HashSet<Hash>,
    order: VecDeque<Hash>,
    capacity: usize,
}

impl SigCache {
    pub(crate) fn new(capacity: usize) -> SigCache {
        SigCache {
            verified: HashSet::with_capacity(capacity),
            order: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Whether the transaction's signature is valid, verifying it at most once.
    pub(crate) fn verify(&mut self, tx: &SignedTx) -> bool {
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
        self.insert(hash);
        true
    }

    /// Verifies the signatures of `txs` not cached yet on all cores and caches
    /// the valid ones, so that executing them one by one afterwards finds
    /// them verified. Each signature gets the same check `verify` makes (no
    /// batch equation, whose verdicts can differ), so results do not depend
    /// on which path verified a transaction.
    pub(crate) fn verify_many(&mut self, txs: &[SignedTx]) {
        if self.capacity == 0 {
            return;
        }
        let mut seen = HashSet::new();
        let pending: Vec<(Hash, &SignedTx)> = txs
            .iter()
            .map(|tx| (tx.hash(), tx))
            .filter(|(hash, _)| !self.verified.contains(hash) && seen.insert(*hash))
            .take(self.capacity)
            .collect();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if pending.len() < PARALLEL_FROM || threads < 2 {
            return;
        }
        let chunk = pending.len().div_ceil(threads);
        let valid: Vec<Hash> = std::thread::scope(|scope| {
            let workers: Vec<_> = pending
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .filter(|(_, tx)| tx.verify_signature())
                            .map(|(hash, _)| *hash)
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                // A worker's panic is re-raised here, as if it had run inline.
                .flat_map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        for hash in valid {
            self.insert(hash);
        }
    }

    fn insert(&mut self, hash: Hash) {
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.verified.remove(&oldest);
            }
        }
        self.verified.insert(hash);
        self.order.push_back(hash);
    }
}

/// Fewer unverified signatures than this are left to `verify`: threads would
/// cost more than they save.
const PARALLEL_FROM: usize = 64;

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

    #[test]
    fn verifying_many_caches_exactly_the_valid_signatures() {
        let key = Keypair::from_label("k");
        let mut txs: Vec<_> = (0..200)
            .map(|nonce| {
                Tx {
                    chain_id: "c".into(),
                    sender: key.address(),
                    nonce,
                    fee: 1,
                    body: TxBody::Stake { amount: 1 },
                }
                .sign(&key)
            })
            .collect();
        txs[7].tx.fee = 2; // signature no longer matches
        let mut cache = SigCache::new(1 << 10);
        cache.verify_many(&txs);
        if std::thread::available_parallelism().map_or(1, |n| n.get()) > 1 {
            assert_eq!(cache.verified.len(), 199);
        }
        assert!(!cache.verified.contains(&txs[7].hash()));
        for (i, tx) in txs.iter().enumerate() {
            assert_eq!(cache.verify(tx), i != 7);
        }
    }
}
