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
    db: Handle,
    /// Opens the database again, after an I/O error closed it.
    reopen: Reopen,
}

/// Opens a store's database again.
type Reopen = Box<dyn Fn() -> Result<Database, LedgerError> + Send + Sync>;

/// The database, unless an I/O error closed it. After one (a full disk),
/// redb refuses every later write ("Previous I/O error occurred. Please
/// close and re-open the database"): a validator of the chaos soak retried
/// its decided block for good. The handle is closed and opened again, at
/// once or at the next commit, which then goes through once there is room.
enum Handle {
    Open(Database),
    Closed,
}

impl Store {
    /// Opens (or creates) the database at `path`; `None` keeps it in memory.
    pub(crate) fn open(path: Option<&Path>) -> Result<Store, LedgerError> {
        let reopen: Reopen = match path {
            Some(p) => {
                if let Some(dir) = p.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let p = p.to_path_buf();
                Box::new(move || Ok(Database::create(&p)?))
            }
            // Memory has no I/O errors, and nothing to open again.
            None => Box::new(|| Err(LedgerError::StoreClosed)),
        };
        let db = match path {
            Some(_) => reopen()?,
            None => {
                Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?
            }
        };
        Store::with(db, reopen)
    }

    /// The store in `db`, reopened by `reopen`.
    fn with(db: Database, reopen: Reopen) -> Result<Store, LedgerError> {
        let tx = db.begin_write()?;
        tx.open_table(STATE)?;
        tx.open_table(BLOCKS)?;
        tx.open_table(META)?;
        tx.commit()?;
        Ok(Store {
            db: Handle::Open(db),
            reopen,
        })
    }

    fn db(&self) -> Result<&Database, LedgerError> {
        match &self.db {
            Handle::Open(db) => Ok(db),
            Handle::Closed => Err(LedgerError::StoreClosed),
        }
    }

    /// Closes the database after an I/O error and tries to open it again.
    fn close_after_io_error(&mut self) {
        // Dropped first: the file is locked while a handle has it.
        self.db = Handle::Closed;
        // Else it stays closed until the next commit (a snapshot being
        // written may still hold the file).
        if let Ok(db) = (self.reopen)() {
            self.db = Handle::Open(db);
        }
    }

    pub(crate) fn genesis_hash(&self) -> Result<Option<Hash>, LedgerError> {
        let tx = self.db()?.begin_read()?;
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

    /// Persists a block, the state writes it caused and the new head,
    /// atomically. A database an I/O error closed is opened again first.
    pub(crate) fn commit_block(
        &mut self,
        block: &Block,
        writes: &[Write],
        genesis_hash: Option<Hash>,
    ) -> Result<(), LedgerError> {
        if matches!(self.db, Handle::Closed) {
            self.db = Handle::Open((self.reopen)()?);
        }
        let written = self.write_block(block, writes, genesis_hash);
        if let Err(LedgerError::Storage(e)) = &written {
            if matches!(**e, redb::Error::Io(_) | redb::Error::PreviousIo) {
                self.close_after_io_error();
            }
        }
        written
    }

    fn write_block(
        &self,
        block: &Block,
        writes: &[Write],
        genesis_hash: Option<Hash>,
    ) -> Result<(), LedgerError> {
        let tx = self.db()?.begin_write()?;
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
        let tx = self.db()?.begin_read()?;
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
            tx: self.db()?.begin_read()?,
        })
    }

    /// Adds state entries (table-prefixed keys) in one write transaction:
    /// a snapshot being restored, chunk by chunk.
    pub(crate) fn insert_entries(&self, entries: &[(Vec<u8>, Vec<u8>)]) -> Result<(), LedgerError> {
        let tx = self.db()?.begin_write()?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use gpunet_primitives::Address;
    use std::io;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    /// A disk in memory whose writes fail while it is `full`.
    #[derive(Clone, Debug, Default)]
    struct Disk {
        bytes: Arc<Mutex<Vec<u8>>>,
        full: Arc<AtomicBool>,
    }

    impl Disk {
        fn room(&self) -> io::Result<()> {
            if self.full.load(Ordering::SeqCst) {
                return Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    "no space left on device",
                ));
            }
            Ok(())
        }
    }

    impl redb::StorageBackend for Disk {
        fn len(&self) -> io::Result<u64> {
            Ok(self.bytes.lock().unwrap().len() as u64)
        }

        fn read(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
            let offset = offset as usize;
            Ok(self.bytes.lock().unwrap()[offset..offset + len].to_vec())
        }

        fn set_len(&self, len: u64) -> io::Result<()> {
            self.room()?;
            self.bytes.lock().unwrap().resize(len as usize, 0);
            Ok(())
        }

        fn sync_data(&self, _eventual: bool) -> io::Result<()> {
            self.room()
        }

        fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
            self.room()?;
            let mut bytes = self.bytes.lock().unwrap();
            let (start, end) = (offset as usize, offset as usize + data.len());
            if bytes.len() < end {
                bytes.resize(end, 0);
            }
            bytes[start..end].copy_from_slice(data);
            Ok(())
        }
    }

    fn block(height: u64) -> Block {
        Block {
            header: BlockHeader {
                chain_id: "test".into(),
                height,
                parent: Hash([0; 32]),
                time_ms: height,
                proposer: Address([0; 32]),
                txs_root: Hash([0; 32]),
                state_root: Hash([0; 32]),
            },
            txs: vec![],
        }
    }

    #[test]
    fn a_database_an_io_error_closed_is_opened_again_and_takes_the_next_block() {
        let disk = Disk::default();
        let open = {
            let disk = disk.clone();
            move || Ok(Database::builder().create_with_backend(disk.clone())?)
        };
        let mut store = Store::with(open().unwrap(), Box::new(open)).unwrap();
        store.commit_block(&block(1), &[], None).unwrap();
        disk.full.store(true, Ordering::SeqCst);
        assert!(store.commit_block(&block(2), &[], None).is_err());
        // Room again: the same block goes through, and nothing before it is lost.
        disk.full.store(false, Ordering::SeqCst);
        store.commit_block(&block(2), &[], None).unwrap();
        assert_eq!(store.head().unwrap().map(|h| h.height), Some(2));
        assert_eq!(store.block(1).unwrap(), Some(block(1)));
    }
}
