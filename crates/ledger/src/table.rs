//! A typed in-memory table with transaction rollback and block change tracking.
//!
//! Writes go straight into the map; each one records the previous value twice:
//! in the transaction's undo log (so a rejected transaction is rolled back
//! exactly) and, on the first write in a block, in the block's change set (so
//! the block's commit knows which entries to persist and how to update the
//! state hash).

use crate::lthash::LtHash;
use borsh::{BorshDeserialize, BorshSerialize};
use std::collections::BTreeMap;

pub trait Key: Ord + Clone + BorshSerialize + BorshDeserialize {}
impl<T: Ord + Clone + BorshSerialize + BorshDeserialize> Key for T {}
pub trait Value: Clone + PartialEq + BorshSerialize + BorshDeserialize {}
impl<T: Clone + PartialEq + BorshSerialize + BorshDeserialize> Value for T {}

/// One persisted change: the table-prefixed key and the new value (None = deleted).
pub(crate) type Write = (Vec<u8>, Option<Vec<u8>>);

/// The bytes one state entry contributes to the state hash: table id,
/// length-prefixed key, value. Used when committing and when reloading.
pub(crate) fn entry_bytes(table: u8, key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(1 + 4 + key.len() + value.len());
    e.push(table);
    e.extend((key.len() as u32).to_le_bytes());
    e.extend(key);
    e.extend(value);
    e
}

pub struct Table<K, V> {
    id: u8,
    map: BTreeMap<K, V>,
    tx_undo: Vec<(K, Option<V>)>,
    block_before: BTreeMap<K, Option<V>>,
    /// Whether writes are recorded in `block_before`: always, but in a
    /// state that is never hashed, persisted nor rolled back a block at a
    /// time (the simulator's), where that copy is all cost.
    tracks_blocks: bool,
}

impl<K: Key, V: Value> Table<K, V> {
    pub fn new(id: u8) -> Self {
        Table {
            id,
            map: BTreeMap::new(),
            tx_undo: Vec::new(),
            block_before: BTreeMap::new(),
            tracks_blocks: true,
        }
    }

    /// Stops recording the block's changes (see `tracks_blocks`): the
    /// table then keeps only what rolls a transaction back.
    #[cfg(feature = "sim")]
    pub fn stop_tracking_blocks(&mut self) {
        self.tracks_blocks = false;
        self.block_before.clear();
    }

    pub fn id(&self) -> u8 {
        self.id
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }

    pub fn contains(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> {
        self.map.iter()
    }

    pub fn range<R: std::ops::RangeBounds<K>>(
        &self,
        range: R,
    ) -> impl DoubleEndedIterator<Item = (&K, &V)> {
        self.map.range(range)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn insert(&mut self, key: K, value: V) {
        let old = self.map.insert(key.clone(), value);
        self.record(key, old);
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let old = self.map.remove(key);
        if old.is_some() {
            self.record(key.clone(), old.clone());
        }
        old
    }

    fn record(&mut self, key: K, old: Option<V>) {
        if self.tracks_blocks {
            self.block_before
                .entry(key.clone())
                .or_insert_with(|| old.clone());
        }
        self.tx_undo.push((key, old));
    }

    /// Keeps the current transaction's writes.
    pub fn commit_tx(&mut self) {
        self.tx_undo.clear();
    }

    /// Undoes every write since the last `commit_tx`.
    pub fn rollback_tx(&mut self) {
        while let Some((key, old)) = self.tx_undo.pop() {
            match old {
                Some(v) => self.map.insert(key, v),
                None => self.map.remove(&key),
            };
        }
    }

    /// Undoes every write of the current block.
    pub fn rollback_block(&mut self) {
        self.tx_undo.clear();
        for (key, old) in std::mem::take(&mut self.block_before) {
            match old {
                Some(v) => self.map.insert(key, v),
                None => self.map.remove(&key),
            };
        }
    }

    /// Folds the block's changes into `hash` and appends them to `writes`.
    pub fn block_changes(&self, hash: &mut LtHash, writes: &mut Vec<Write>) {
        for (key, before) in &self.block_before {
            let after = self.map.get(key);
            if before.as_ref() == after {
                continue;
            }
            let key_bytes = gpunet_primitives::encode(key);
            if let Some(v) = before {
                hash.remove(&entry_bytes(
                    self.id,
                    &key_bytes,
                    &gpunet_primitives::encode(v),
                ));
            }
            let value_bytes = after.map(gpunet_primitives::encode);
            if let Some(v) = &value_bytes {
                hash.insert(&entry_bytes(self.id, &key_bytes, v));
            }
            let mut stored_key = vec![self.id];
            stored_key.extend(key_bytes);
            writes.push((stored_key, value_bytes));
        }
    }

    /// Makes the block's changes permanent (after they were persisted).
    pub fn finish_block(&mut self) {
        self.tx_undo.clear();
        self.block_before.clear();
    }

    /// Applies one stored entry (key without its table prefix; `None`
    /// deletes): as a change of the current block when `tracked` (replaying
    /// `block_changes`), else straight into the map (loading at startup).
    pub fn apply_stored(
        &mut self,
        key: &[u8],
        value: Option<&[u8]>,
        tracked: bool,
    ) -> Result<(), borsh::io::Error> {
        let k: K = borsh::from_slice(key)?;
        let v: Option<V> = value.map(borsh::from_slice).transpose()?;
        match (v, tracked) {
            (Some(v), true) => self.insert(k, v),
            (None, true) => {
                self.remove(&k);
            }
            (Some(v), false) => {
                self.map.insert(k, v);
            }
            (None, false) => {
                self.map.remove(&k);
            }
        }
        Ok(())
    }
}

/// A time-ordered queue: entries keyed `(time_ms, id)`.
impl<V: Value> Table<(u64, u64), V> {
    /// The keys due at `now_ms` (time at or before it), in order.
    pub fn due(&self, now_ms: u64) -> Vec<(u64, u64)> {
        self.map
            .range(..=(now_ms, u64::MAX))
            .map(|(k, _)| *k)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_restores_exactly_and_commit_reports_only_net_changes() {
        let mut t: Table<u64, u64> = Table::new(1);
        t.insert(1, 10);
        t.commit_tx();
        t.insert(1, 11);
        t.insert(2, 20);
        t.remove(&1);
        t.rollback_tx();
        assert_eq!(t.get(&1), Some(&10));
        assert_eq!(t.get(&2), None);
        let mut h = LtHash::default();
        let mut writes = Vec::new();
        t.block_changes(&mut h, &mut writes);
        assert_eq!(writes.len(), 1, "only key 1 changed in the block");
        t.finish_block();
        t.insert(3, 30);
        t.rollback_block();
        assert_eq!(t.len(), 1);
    }
}
