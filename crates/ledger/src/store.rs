//! Persistence in redb: state entries, blocks and the head, one write transaction per block.

use crate::error::{EntryError, LedgerError};
use crate::table::Write;
use gpunet_primitives::{Block, BlockHeader, Hash};
use redb::{Database, ReadableTable, TableDefinition};
use std::path::Path;

const STATE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state");
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

const GENESIS_HASH: &str = "genesis_hash";
const HEAD: &str = "head";

pub(crate) struct Store {
    db: Database,
}

impl Store {
    /// Opens (or creates) the database at `path`; `None` keeps it in memory.
    pub(crate) fn open(path: Option<&Path>) -> Result<Store, LedgerError> {
        let db = match path {
            Some(p) => {
                if let Some(dir) = p.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                Database::create(p)?
            }
            None => {
                Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?
            }
        };
        let store = Store { db };
        let tx = store.db.begin_write()?;
        tx.open_table(STATE)?;
        tx.open_table(BLOCKS)?;
        tx.open_table(META)?;
        tx.commit()?;
        Ok(store)
    }

    pub(crate) fn genesis_hash(&self) -> Result<Option<Hash>, LedgerError> {
        let tx = self.db.begin_read()?;
        let meta = tx.open_table(META)?;
        meta.get(GENESIS_HASH)?
            .map(|v| {
                <[u8; 32]>::try_from(v.value())
                    .map(Hash)
                    .map_err(|_| LedgerError::Undecodable {
                        what: "genesis hash",
                        source: std::io::ErrorKind::InvalidData.into(),
                    })
            })
            .transpose()
    }

    pub(crate) fn head(&self) -> Result<Option<BlockHeader>, LedgerError> {
        self.frozen()?.head()
    }

    /// Calls `f` with every stored state entry.
    pub(crate) fn for_each_entry(
        &self,
        mut f: impl FnMut(&[u8], &[u8]) -> Result<(), EntryError>,
    ) -> Result<(), LedgerError> {
        self.frozen()?
            .for_each_entry(|k, v| f(k, v).map_err(LedgerError::from))
    }

    /// Persists a block, the state writes it caused and the new head, atomically.
    pub(crate) fn commit_block(
        &self,
        block: &Block,
        writes: &[Write],
        genesis_hash: Option<Hash>,
    ) -> Result<(), LedgerError> {
        let tx = self.db.begin_write()?;
        {
            let mut state = tx.open_table(STATE)?;
            for (key, value) in writes {
                match value {
                    Some(v) => state.insert(key.as_slice(), v.as_slice())?,
                    None => state.remove(key.as_slice())?,
                };
            }
            let mut blocks = tx.open_table(BLOCKS)?;
            blocks.insert(
                block.header.height,
                gpunet_primitives::encode(block).as_slice(),
            )?;
            let mut meta = tx.open_table(META)?;
            meta.insert(HEAD, gpunet_primitives::encode(&block.header).as_slice())?;
            if let Some(h) = genesis_hash {
                meta.insert(GENESIS_HASH, h.0.as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub(crate) fn block(&self, height: u64) -> Result<Option<Block>, LedgerError> {
        let tx = self.db.begin_read()?;
        let blocks = tx.open_table(BLOCKS)?;
        blocks
            .get(height)?
            .map(|v| {
                borsh::from_slice(v.value()).map_err(|source| LedgerError::Undecodable {
                    what: "block",
                    source,
                })
            })
            .transpose()
    }

    /// A view of the store as it is now, which blocks committed later do
    /// not change (redb's read transactions are snapshots).
    pub(crate) fn frozen(&self) -> Result<Frozen, LedgerError> {
        Ok(Frozen {
            tx: self.db.begin_read()?,
        })
    }

    /// Adds state entries (table-prefixed keys) in one write transaction:
    /// a snapshot being restored, chunk by chunk.
    pub(crate) fn insert_entries(&self, entries: &[(Vec<u8>, Vec<u8>)]) -> Result<(), LedgerError> {
        let tx = self.db.begin_write()?;
        {
            let mut state = tx.open_table(STATE)?;
            for (key, value) in entries {
                state.insert(key.as_slice(), value.as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

/// The store at one moment (`Store::frozen`).
pub(crate) struct Frozen {
    tx: redb::ReadTransaction,
}

impl Frozen {
    fn head(&self) -> Result<Option<BlockHeader>, LedgerError> {
        let meta = self.tx.open_table(META)?;
        meta.get(HEAD)?
            .map(|v| {
                borsh::from_slice(v.value()).map_err(|source| LedgerError::Undecodable {
                    what: "head block header",
                    source,
                })
            })
            .transpose()
    }

    /// The head block, whole.
    pub(crate) fn head_block(&self) -> Result<Block, LedgerError> {
        let header = self.head()?.ok_or(LedgerError::NoHead)?;
        let blocks = self.tx.open_table(BLOCKS)?;
        let block = blocks.get(header.height)?.ok_or(LedgerError::NoHead)?;
        borsh::from_slice(block.value()).map_err(|source| LedgerError::Undecodable {
            what: "block",
            source,
        })
    }

    /// Calls `f` with every state entry, in key order.
    pub(crate) fn for_each_entry(
        &self,
        mut f: impl FnMut(&[u8], &[u8]) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        let state = self.tx.open_table(STATE)?;
        for entry in state.iter()? {
            let (k, v) = entry?;
            f(k.value(), v.value())?;
        }
        Ok(())
    }
}
