//! State snapshots: the whole state at one block, cut into chunks that a
//! joining node checks one by one as they arrive, instead of replaying every
//! block since genesis.
//!
//! A snapshot is the block it was taken at and the state entries after that
//! block, in key order, cut into chunks of about `chunk_bytes`. Its manifest
//! names each chunk by the BLAKE3 hash of its bytes and by the LtHash of its
//! entries. The state root is the hash of the LtHash of every entry, and the
//! LtHash of disjoint sets' union is the sum of theirs, so the manifest is
//! checked against the block's state root before any chunk is fetched (the
//! chunks' LtHashes must add up to it), and each chunk as soon as it arrives
//! (its bytes hash to its name, its entries to its LtHash, its keys follow the
//! previous chunk's, so no entry is counted twice). A peer serving a wrong
//! chunk is found out at that chunk, not after the whole state.
//!
//! **Invariant:** a restored ledger's state hashes to the state root of the
//! manifest's block, or no ledger is made (it is built beside its final path
//! and moved there, by [`RestoredLedger::install`], only once [`Ledger::open`]
//! has checked it again). Whether
//! the block itself was decided is the caller's to check: the ledger knows no
//! commit certificates (`gpunet_bft::state_sync` does).

use crate::error::{LedgerError, SnapshotError};
use crate::genesis::Genesis;
use crate::ledger::Ledger;
use crate::lthash::LtHash;
use crate::store::{Frozen, Store};
use crate::table::entry_bytes;
use borsh::{BorshDeserialize, BorshSerialize};
use gpunet_primitives::{Block, Hash};
use std::path::{Path, PathBuf};

/// The size snapshots are cut at: a chunk ends with the entry that reaches it.
pub const DEFAULT_CHUNK_BYTES: usize = 4 << 20;

/// The largest chunk a restore takes: what one peer can make a joining node
/// hold at once.
pub const MAX_CHUNK_BYTES: usize = 64 << 20;

/// The largest manifest a restore takes (about 30,000 chunks: a state of
/// 120 GiB at the default chunk size).
pub const MAX_MANIFEST_BYTES: usize = 64 << 20;

/// State entries as stored: table-prefixed key, value.
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// What a snapshot holds, short of its chunks.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SnapshotManifest {
    /// The block the state follows; its header's state root covers every chunk.
    pub block: Block,
    /// The chunks, in key order.
    pub chunks: Vec<ChunkSummary>,
}

/// One chunk as the manifest names it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ChunkSummary {
    /// BLAKE3 of the chunk's bytes.
    pub hash: Hash,
    /// The LtHash of the chunk's entries ([`LtHash::to_bytes`]).
    pub lthash: Vec<u8>,
}

impl SnapshotManifest {
    /// The height of the block the snapshot was taken at.
    pub fn height(&self) -> u64 {
        self.block.header.height
    }

    /// Its canonical encoding: what a snapshot's manifest file holds.
    pub fn encode(&self) -> Vec<u8> {
        gpunet_primitives::encode(self)
    }

    /// Decodes a manifest of at most [`MAX_MANIFEST_BYTES`].
    pub fn decode(bytes: &[u8]) -> Result<SnapshotManifest, SnapshotError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(SnapshotError::ManifestTooLarge {
                bytes: bytes.len(),
                max: MAX_MANIFEST_BYTES,
            });
        }
        borsh::from_slice(bytes).map_err(SnapshotError::ManifestUndecodable)
    }
}

/// The LtHash of stored entries, `None` if a key is empty (names no table).
fn entries_lthash(entries: &Entries) -> Option<LtHash> {
    let mut lthash = LtHash::default();
    for (key, value) in entries {
        let (table, key) = key.split_first()?;
        lthash.insert(&entry_bytes(*table, key, value));
    }
    Some(lthash)
}

/// The ledger's state at one block, to be written as a snapshot while later
/// blocks commit ([`Ledger::snapshot`]).
pub struct SnapshotSource {
    frozen: Frozen,
    block: Block,
}

impl SnapshotSource {
    pub(crate) fn new(frozen: Frozen) -> Result<SnapshotSource, LedgerError> {
        let block = frozen.head_block()?;
        Ok(SnapshotSource { frozen, block })
    }

    /// The height of the block the state follows.
    pub fn height(&self) -> u64 {
        self.block.header.height
    }

    /// Cuts the state into chunks of about `chunk_bytes`, hands each to
    /// `put` with its index, in order, and returns their manifest.
    pub fn write(
        &self,
        chunk_bytes: usize,
        mut put: impl FnMut(usize, &[u8]) -> std::io::Result<()>,
    ) -> Result<SnapshotManifest, LedgerError> {
        let mut chunks = Vec::new();
        let mut pending = Entries::new();
        let mut pending_bytes = 0usize;
        let mut seal = |entries: &Entries, chunks: &mut Vec<ChunkSummary>| {
            let bytes = gpunet_primitives::encode(entries);
            let lthash = entries_lthash(entries).ok_or(crate::EntryError::EmptyKey)?;
            put(chunks.len(), &bytes)?;
            chunks.push(ChunkSummary {
                hash: Hash::digest(&bytes),
                lthash: lthash.to_bytes(),
            });
            Ok::<(), LedgerError>(())
        };
        self.frozen.for_each_entry(|key, value| {
            // What the entry adds to the encoded chunk: two length prefixes.
            pending_bytes = pending_bytes.saturating_add(8 + key.len() + value.len());
            pending.push((key.to_vec(), value.to_vec()));
            if pending_bytes >= chunk_bytes {
                seal(&std::mem::take(&mut pending), &mut chunks)?;
                pending_bytes = 0;
            }
            Ok(())
        })?;
        if !pending.is_empty() {
            seal(&pending, &mut chunks)?;
        }
        Ok(SnapshotManifest {
            block: self.block.clone(),
            chunks,
        })
    }
}

/// A ledger being restored from a snapshot, chunk by chunk, beside the path
/// it will have.
pub struct Restore {
    store: Store,
    path: PathBuf,
    partial: PathBuf,
    manifest: SnapshotManifest,
    received: usize,
    last_key: Option<Vec<u8>>,
}

impl Restore {
    /// Starts restoring `manifest` into a ledger of `genesis`'s chain that
    /// will live at `path`, once the manifest's block, its chunks'
    /// LtHashes and its state root agree. It is built at `path` with the
    /// extension `restoring` (what an earlier, interrupted restore left there
    /// is dropped); `path` itself is replaced only by [`RestoredLedger::install`].
    pub fn begin(
        path: &Path,
        genesis: &Genesis,
        manifest: SnapshotManifest,
    ) -> Result<Restore, SnapshotError> {
        let header = &manifest.block.header;
        if header.chain_id != genesis.chain_id {
            return Err(SnapshotError::OtherChain {
                expected: genesis.chain_id.clone(),
                found: header.chain_id.clone(),
            });
        }
        if Block::txs_root(&manifest.block.txs) != header.txs_root {
            return Err(SnapshotError::TxsRoot);
        }
        let mut sum = LtHash::default();
        for (index, chunk) in manifest.chunks.iter().enumerate() {
            let lthash =
                LtHash::from_bytes(&chunk.lthash).ok_or(SnapshotError::BadSummary { index })?;
            sum.add(&lthash);
        }
        if sum.root() != header.state_root {
            return Err(SnapshotError::RootMismatch {
                height: header.height,
            });
        }
        let partial = path.with_extension("restoring");
        match std::fs::remove_file(&partial) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(LedgerError::from(e).into())
            }
            _ => {}
        }
        let store = Store::open(Some(&partial))?;
        Ok(Restore {
            store,
            path: path.to_path_buf(),
            partial,
            manifest,
            received: 0,
            last_key: None,
        })
    }

    /// The height of the block being restored.
    pub fn height(&self) -> u64 {
        self.manifest.height()
    }

    /// How many chunks the snapshot has.
    pub fn chunks(&self) -> usize {
        self.manifest.chunks.len()
    }

    /// How many chunks were restored: the index of the next one.
    pub fn received(&self) -> usize {
        self.received
    }

    /// Checks the next chunk against the manifest and stores its entries. A
    /// chunk refused changes nothing: the same index can be tried again
    /// (from another peer).
    pub fn add_chunk(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
        let index = self.received;
        let summary = self
            .manifest
            .chunks
            .get(index)
            .ok_or(SnapshotError::NoMoreChunks {
                chunks: self.manifest.chunks.len(),
            })?;
        if bytes.len() > MAX_CHUNK_BYTES {
            return Err(SnapshotError::ChunkTooLarge {
                index,
                bytes: bytes.len(),
                max: MAX_CHUNK_BYTES,
            });
        }
        if Hash::digest(bytes) != summary.hash {
            return Err(SnapshotError::ChunkHash { index });
        }
        let entries: Entries = borsh::from_slice(bytes)
            .map_err(|source| SnapshotError::ChunkUndecodable { index, source })?;
        let mut previous = self.last_key.as_deref();
        for (key, _) in &entries {
            if previous.is_some_and(|p| p >= key.as_slice()) {
                return Err(SnapshotError::ChunkUnsorted { index });
            }
            previous = Some(key);
        }
        match entries_lthash(&entries) {
            Some(lthash) if lthash.to_bytes() == summary.lthash => {}
            _ => return Err(SnapshotError::ChunkContent { index }),
        }
        self.store.insert_entries(&entries)?;
        if let Some((key, _)) = entries.last() {
            self.last_key = Some(key.clone());
        }
        self.received += 1;
        Ok(())
    }

    /// Makes the restored state a ledger at the snapshot's block, checked
    /// once more as every ledger is when opened, still beside its path:
    /// [`RestoredLedger::install`] moves it there.
    pub fn finish(mut self, genesis: &Genesis) -> Result<RestoredLedger, SnapshotError> {
        if self.received != self.manifest.chunks.len() {
            return Err(SnapshotError::Incomplete {
                received: self.received,
                chunks: self.manifest.chunks.len(),
            });
        }
        self.store
            .commit_block(&self.manifest.block, &[], Some(genesis.hash()))?;
        drop(self.store);
        let ledger = Ledger::open(Some(&self.partial), genesis)?;
        Ok(RestoredLedger {
            ledger,
            partial: self.partial,
            path: self.path,
        })
    }
}

/// A restored ledger, checked, not yet at its path: what the caller still
/// checks (who decided its block) comes before [`RestoredLedger::install`].
pub struct RestoredLedger {
    ledger: Ledger,
    partial: PathBuf,
    path: PathBuf,
}

impl RestoredLedger {
    /// The ledger as restored, at the snapshot's height.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Moves the ledger to its path, replacing what was there.
    pub fn install(self) -> Result<Ledger, LedgerError> {
        // The database stays open across the rename: it holds the file, not its name.
        std::fs::rename(&self.partial, &self.path)?;
        Ok(self.ledger)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genesis::GenesisAccount;
    use gpunet_primitives::{Keypair, Tx, TxBody, UNIT};
    use gpunet_types::Params;

    const CHAIN: &str = "snapshots";

    fn genesis() -> Genesis {
        Genesis {
            chain_id: CHAIN.into(),
            genesis_time_ms: 0,
            accounts: vec![GenesisAccount {
                address: Keypair::from_label("rich").address(),
                balance: 1_000 * UNIT,
            }],
            validators: vec![Keypair::from_label("validator").address()],
            params: Params::default(),
        }
    }

    /// The next block of `ledger`: one transfer from the rich account to a
    /// new one, so that every block adds entries.
    fn next_block(ledger: &mut Ledger) -> Block {
        let rich = Keypair::from_label("rich");
        let height = ledger.head().height;
        let tx = Tx {
            chain_id: CHAIN.into(),
            sender: rich.address(),
            nonce: ledger.account(&rich.address()).nonce,
            fee: Params::default().min_fee,
            body: TxBody::Transfer {
                to: Keypair::from_label(&format!("to-{height}")).address(),
                amount: UNIT,
            },
        }
        .sign(&rich);
        let produced = ledger
            .build_block(
                Keypair::from_label("validator").address(),
                (height + 1) * 1_000,
                &[tx],
            )
            .unwrap();
        assert_eq!(produced.block.txs.len(), 1);
        produced.block
    }

    /// A ledger 20 blocks past genesis, and its snapshot in chunks of about
    /// 300 bytes (several).
    fn snapshot() -> (Ledger, SnapshotManifest, Vec<Vec<u8>>) {
        let mut ledger = Ledger::open(None, &genesis()).unwrap();
        for _ in 0..20 {
            let block = next_block(&mut ledger);
            ledger.apply_block(&block).unwrap();
        }
        let mut chunks = Vec::new();
        let manifest = ledger
            .snapshot()
            .unwrap()
            .write(300, |index, bytes| {
                assert_eq!(index, chunks.len());
                chunks.push(bytes.to_vec());
                Ok(())
            })
            .unwrap();
        assert!(
            manifest.chunks.len() > 3,
            "{} chunks",
            manifest.chunks.len()
        );
        (ledger, manifest, chunks)
    }

    fn restore(
        dir: &Path,
        manifest: &SnapshotManifest,
        chunks: &[Vec<u8>],
    ) -> Result<Ledger, SnapshotError> {
        let mut restore = Restore::begin(&dir.join("ledger.redb"), &genesis(), manifest.clone())?;
        for chunk in chunks {
            restore.add_chunk(chunk)?;
        }
        Ok(restore.finish(&genesis())?.install()?)
    }

    #[test]
    fn a_restored_ledger_holds_the_same_state_and_follows_the_chain() {
        let (mut ledger, manifest, chunks) = snapshot();
        let dir = tempfile::tempdir().unwrap();
        let mut restored = restore(dir.path(), &manifest, &chunks).unwrap();
        assert_eq!(restored.head(), ledger.head());
        assert_eq!(restored.block(20).unwrap(), ledger.block(20).unwrap());
        assert_eq!(
            restored.block(19).unwrap(),
            None,
            "earlier blocks are not replayed"
        );
        assert_eq!(restored.check_invariants(), Ok(()));
        let rich = Keypair::from_label("rich").address();
        assert_eq!(restored.account(&rich), ledger.account(&rich));
        // Both take the next block to the same state.
        let block = next_block(&mut ledger);
        ledger.apply_block(&block).unwrap();
        restored.apply_block(&block).unwrap();
        assert_eq!(restored.state_root(), ledger.state_root());
        // Only the finished ledger is left, where it belongs.
        drop(restored);
        assert!(!dir.path().join("ledger.restoring").exists());
        let reopened = Ledger::open(Some(&dir.path().join("ledger.redb")), &genesis()).unwrap();
        assert_eq!(reopened.head().height, 21);
    }

    #[test]
    fn a_manifest_that_does_not_add_up_to_the_state_root_is_refused_before_any_chunk() {
        let (_, mut manifest, _) = snapshot();
        let dir = tempfile::tempdir().unwrap();
        // One entry fewer: the last chunk's sum is left out.
        manifest.chunks.pop();
        let path = dir.path().join("ledger.redb");
        assert!(matches!(
            Restore::begin(&path, &genesis(), manifest.clone()),
            Err(SnapshotError::RootMismatch { height: 20 })
        ));
        manifest.chunks[0].lthash.truncate(10);
        assert!(matches!(
            Restore::begin(&path, &genesis(), manifest),
            Err(SnapshotError::BadSummary { index: 0 })
        ));
        let (_, mut manifest, _) = snapshot();
        manifest.block.header.chain_id = "other".into();
        assert!(matches!(
            Restore::begin(&path, &genesis(), manifest),
            Err(SnapshotError::OtherChain { .. })
        ));
        let (_, mut manifest, _) = snapshot();
        manifest.block.txs.clear();
        assert!(matches!(
            Restore::begin(&path, &genesis(), manifest),
            Err(SnapshotError::TxsRoot)
        ));
        assert!(!path.exists());
    }

    #[test]
    fn a_wrong_chunk_is_refused_where_it_arrives_and_the_right_one_then_taken() {
        let (_, manifest, chunks) = snapshot();
        let dir = tempfile::tempdir().unwrap();
        let mut restore =
            Restore::begin(&dir.path().join("ledger.redb"), &genesis(), manifest).unwrap();
        restore.add_chunk(&chunks[0]).unwrap();
        let mut flipped = chunks[1].clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(matches!(
            restore.add_chunk(&flipped),
            Err(SnapshotError::ChunkHash { index: 1 })
        ));
        assert!(matches!(
            restore.add_chunk(&chunks[2]),
            Err(SnapshotError::ChunkHash { index: 1 })
        ));
        assert_eq!(restore.received(), 1);
        for chunk in &chunks[1..chunks.len() - 1] {
            restore.add_chunk(chunk).unwrap();
        }
        assert!(matches!(
            Restore::finish(restore, &genesis()),
            Err(SnapshotError::Incomplete { .. })
        ));
    }

    /// A dishonest manifest names chunks by their real LtHash but reorders
    /// them (so a peer could send an entry twice) or names other bytes with
    /// the right LtHash: both are caught at the chunk.
    #[test]
    fn chunks_out_of_order_or_with_other_entries_are_refused() {
        let (_, manifest, chunks) = snapshot();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.redb");
        let mut swapped = manifest.clone();
        swapped.chunks.swap(0, 1);
        let mut restore = Restore::begin(&path, &genesis(), swapped).unwrap();
        restore.add_chunk(&chunks[1]).unwrap();
        assert!(matches!(
            restore.add_chunk(&chunks[0]),
            Err(SnapshotError::ChunkUnsorted { index: 1 })
        ));

        let mut entries: Entries = borsh::from_slice(&chunks[0]).unwrap();
        entries.last_mut().unwrap().1.push(0);
        let forged = gpunet_primitives::encode(&entries);
        let mut lying = manifest;
        lying.chunks[0].hash = Hash::digest(&forged);
        let mut restore = Restore::begin(&path, &genesis(), lying).unwrap();
        assert!(matches!(
            restore.add_chunk(&forged),
            Err(SnapshotError::ChunkContent { index: 0 })
        ));
    }
}
