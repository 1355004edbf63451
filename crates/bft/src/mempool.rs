//! Transactions waiting for a block, and the submitters waiting for them.
//!
//! The mempool is local to a node and never part of the ledger's state, so
//! nothing here needs to be deterministic. Transactions arrive from this node's
//! API (with a waiting submitter) or from gossip.

use gpunet_ledger::TxError;
use gpunet_node::SubmitError;
use gpunet_primitives::{Hash, SignedTx};
use gpunet_types::Included;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

pub(crate) type Reply = oneshot::Sender<Result<Included, SubmitError>>;

struct Entry {
    tx: SignedTx,
    added: Instant,
}

pub(crate) struct Mempool {
    next_seq: u64,
    /// Arrival order, so the oldest transactions are proposed first.
    by_arrival: BTreeMap<u64, Entry>,
    seq_of: HashMap<Hash, u64>,
    waiters: HashMap<Hash, Vec<Reply>>,
    capacity: usize,
}

impl Mempool {
    pub(crate) fn new(capacity: usize) -> Mempool {
        Mempool {
            next_seq: 0,
            by_arrival: BTreeMap::new(),
            seq_of: HashMap::new(),
            waiters: HashMap::new(),
            capacity,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.by_arrival.len()
    }

    /// Adds a transaction; false when it was already here. A full mempool refuses.
    pub(crate) fn insert(&mut self, tx: SignedTx) -> Result<bool, SubmitError> {
        let hash = tx.hash();
        if self.seq_of.contains_key(&hash) {
            return Ok(false);
        }
        if self.by_arrival.len() >= self.capacity {
            return Err(SubmitError::Busy);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.seq_of.insert(hash, seq);
        self.by_arrival.insert(
            seq,
            Entry {
                tx,
                added: Instant::now(),
            },
        );
        Ok(true)
    }

    /// Registers a submitter to be told what became of the transaction.
    pub(crate) fn wait(&mut self, hash: Hash, reply: Reply) {
        self.waiters.entry(hash).or_default().push(reply);
    }

    /// Up to `max` of the oldest transactions, each sender's in nonce order so that
    /// a sender's later transactions do not fail for coming before earlier ones.
    pub(crate) fn candidates(&self, max: usize) -> Vec<SignedTx> {
        let mut txs: Vec<SignedTx> = self
            .by_arrival
            .values()
            .take(max)
            .map(|e| e.tx.clone())
            .collect();
        txs.sort_by_key(|tx| (tx.tx.sender, tx.tx.nonce));
        txs
    }

    /// Removes a transaction and answers its submitters.
    pub(crate) fn resolve(&mut self, hash: &Hash, answer: Result<Included, SubmitError>) {
        if let Some(seq) = self.seq_of.remove(hash) {
            self.by_arrival.remove(&seq);
        }
        for reply in self.waiters.remove(hash).unwrap_or_default() {
            let _ = reply.send(answer.clone());
        }
    }

    /// Drops a transaction that cannot be included, unless it only waits for the
    /// sender's earlier transactions (a nonce ahead of the account's).
    pub(crate) fn reject(&mut self, hash: &Hash, error: TxError) {
        if let TxError::BadNonce { expected, got } = error {
            if got > expected {
                return;
            }
        }
        self.resolve(hash, Err(SubmitError::Rejected(error)));
    }

    /// Transactions somebody on this node is waiting for.
    pub(crate) fn awaited(&self) -> Vec<SignedTx> {
        self.waiters
            .keys()
            .filter_map(|h| self.seq_of.get(h))
            .filter_map(|seq| self.by_arrival.get(seq))
            .map(|e| e.tx.clone())
            .collect()
    }

    /// Drops what waited longer than `ttl`; their submitters learn it expired.
    pub(crate) fn expire(&mut self, ttl: Duration) {
        let now = Instant::now();
        let expired: Vec<Hash> = self
            .by_arrival
            .values()
            .take_while(|e| now.duration_since(e.added) > ttl)
            .map(|e| e.tx.hash())
            .collect();
        for hash in expired {
            self.resolve(&hash, Err(SubmitError::Expired));
        }
        // Submitters whose transaction left without an answer (gone before they
        // started waiting) are told too.
        let orphaned: Vec<Hash> = self
            .waiters
            .keys()
            .filter(|h| !self.seq_of.contains_key(*h))
            .copied()
            .collect();
        for hash in orphaned {
            self.resolve(&hash, Err(SubmitError::Expired));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpunet_primitives::{Keypair, Tx, TxBody};

    fn tx(key: &Keypair, nonce: u64) -> SignedTx {
        Tx {
            chain_id: "t".into(),
            sender: key.address(),
            nonce,
            fee: 1,
            body: TxBody::Stake { amount: 1 },
        }
        .sign(key)
    }

    #[test]
    fn candidates_keep_each_senders_nonce_order_and_answers_reach_waiters() {
        let (a, b) = (Keypair::from_label("a"), Keypair::from_label("b"));
        let mut pool = Mempool::new(10);
        for t in [tx(&a, 1), tx(&b, 0), tx(&a, 0)] {
            assert!(pool.insert(t).unwrap());
        }
        assert!(!pool.insert(tx(&a, 0)).unwrap(), "duplicates are ignored");
        let order: Vec<(bool, u64)> = pool
            .candidates(10)
            .iter()
            .map(|t| (t.tx.sender == a.address(), t.tx.nonce))
            .collect();
        let a_nonces: Vec<u64> = order
            .iter()
            .filter(|(is_a, _)| *is_a)
            .map(|o| o.1)
            .collect();
        assert_eq!(a_nonces, vec![0, 1]);

        let (reply, answer) = oneshot::channel();
        let future = tx(&a, 1);
        pool.wait(future.hash(), reply);
        pool.reject(
            &future.hash(),
            TxError::BadNonce {
                expected: 0,
                got: 1,
            },
        );
        assert_eq!(
            pool.candidates(10).len(),
            3,
            "a transaction ahead of its nonce waits"
        );
        pool.reject(&future.hash(), TxError::BadSignature);
        assert_eq!(pool.candidates(10).len(), 2);
        assert!(matches!(
            answer.blocking_recv().unwrap(),
            Err(SubmitError::Rejected(TxError::BadSignature))
        ));
    }

    #[test]
    fn a_full_mempool_refuses_and_old_transactions_expire() {
        let a = Keypair::from_label("a");
        let mut pool = Mempool::new(2);
        pool.insert(tx(&a, 0)).unwrap();
        pool.insert(tx(&a, 1)).unwrap();
        assert!(matches!(pool.insert(tx(&a, 2)), Err(SubmitError::Busy)));
        let (reply, answer) = oneshot::channel();
        pool.wait(tx(&a, 0).hash(), reply);
        pool.expire(Duration::ZERO);
        assert_eq!(pool.len(), 0);
        assert!(matches!(
            answer.blocking_recv().unwrap(),
            Err(SubmitError::Expired)
        ));
    }
}
