//! Commit certificates of decided blocks, kept so lagging peers can sync: a
//! block from the ledger plus its certificate is proof that it was decided.

use crate::context::GpunetContext;
use gpunet_ledger::Ledger;
use gpunet_primitives::Hash;
use malachitebft_app_channel::app::types::core::CommitCertificate;
use redb::{Database, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};

const CERTIFICATES: TableDefinition<u64, &[u8]> = TableDefinition::new("certificates");

#[derive(Debug, thiserror::Error)]
#[error("certificate store: {0}")]
pub struct StoreError(String);

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

/// Writes `bytes` as the certificate at `height` (boxed: redb's errors are large).
fn write(db: &Database, height: u64, bytes: &[u8]) -> Result<(), Box<redb::Error>> {
    let boxed = |e: redb::Error| Box::new(e);
    let txn = db.begin_write().map_err(|e| boxed(e.into()))?;
    txn.open_table(CERTIFICATES)
        .map_err(|e| boxed(e.into()))?
        .insert(height, bytes)
        .map_err(|e| boxed(e.into()))?;
    txn.commit().map_err(|e| boxed(e.into()))
}

/// How a node's certificate store and its ledger tell different histories.
#[derive(Debug, thiserror::Error)]
pub enum StoresDisagree {
    #[error("the ledger is at height {ledger}, but the certificate store has no certificate for it (its last is at {})", last.map_or("none".to_string(), |h| h.to_string()))]
    NoCertificate { ledger: u64, last: Option<u64> },
    #[error("at height {height} the ledger holds block {held}, but the certificate store certifies block {certified}")]
    OtherBlock {
        height: u64,
        certified: Hash,
        held: Hash,
    },
    #[error(transparent)]
    Unreadable(StoreError),
}

pub(crate) struct CertificateStore {
    path: PathBuf,
    /// `None` once an I/O error closed it: after one (a full disk) redb
    /// refuses every later write until the database is opened again, and a
    /// validator of the chaos soak retried its decided block for good. It is
    /// opened again at once, or before the next certificate.
    db: Option<Database>,
}

impl CertificateStore {
    pub(crate) fn open(path: &Path) -> Result<CertificateStore, StoreError> {
        let db = Database::create(path).map_err(err)?;
        let txn = db.begin_write().map_err(err)?;
        txn.open_table(CERTIFICATES).map_err(err)?;
        txn.commit().map_err(err)?;
        Ok(CertificateStore {
            path: path.to_path_buf(),
            db: Some(db),
        })
    }

    fn db(&self) -> Result<&Database, StoreError> {
        self.db.as_ref().ok_or_else(|| {
            StoreError("closed after an I/O error; opened again at the next block".into())
        })
    }

    pub(crate) fn put(
        &mut self,
        certificate: &CommitCertificate<GpunetContext>,
    ) -> Result<(), StoreError> {
        let bytes = borsh::to_vec(certificate).map_err(err)?;
        self.insert(certificate.height.0, &bytes)
    }

    fn insert(&mut self, height: u64, bytes: &[u8]) -> Result<(), StoreError> {
        let db = match self.db.take() {
            Some(db) => db,
            None => Database::create(&self.path).map_err(err)?,
        };
        let written = write(&db, height, bytes);
        match written {
            Err(e) if matches!(*e, redb::Error::Io(_) | redb::Error::PreviousIo) => {
                // Dropped first: the file is locked while a handle has it.
                drop(db);
                self.db = Database::create(&self.path).ok();
                Err(err(e))
            }
            written => {
                self.db = Some(db);
                written.map_err(err)
            }
        }
    }

    pub(crate) fn get(
        &self,
        height: u64,
    ) -> Result<Option<CommitCertificate<GpunetContext>>, StoreError> {
        let txn = self.db()?.begin_read().map_err(err)?;
        let table = txn.open_table(CERTIFICATES).map_err(err)?;
        match table.get(height).map_err(err)? {
            Some(bytes) => borsh::from_slice(bytes.value()).map(Some).map_err(err),
            None => Ok(None),
        }
    }

    /// The highest height with a certificate, if any.
    pub(crate) fn last_height(&self) -> Result<Option<u64>, StoreError> {
        let txn = self.db()?.begin_read().map_err(err)?;
        let table = txn.open_table(CERTIFICATES).map_err(err)?;
        let last = table.last().map_err(err)?.map(|(k, _)| k.value());
        Ok(last)
    }

    /// Checks that this store and the ledger tell one history: the ledger's
    /// head block is the one certified at its height. A block is committed
    /// only after its certificate is stored, so the store is never behind the
    /// ledger; it can be ahead (a crash between the two, or a ledger restored
    /// from an older copy), which syncing overwrites with the same certificates.
    pub(crate) fn check_agrees_with(&self, ledger: &Ledger) -> Result<(), StoresDisagree> {
        let head = ledger.head();
        if head.height == 0 {
            return Ok(());
        }
        let certificate = self
            .get(head.height)
            .map_err(StoresDisagree::Unreadable)?
            .ok_or_else(|| StoresDisagree::NoCertificate {
                ledger: head.height,
                last: self.last_height().ok().flatten(),
            })?;
        let held = head.hash();
        if certificate.value_id.0 != held {
            return Err(StoresDisagree::OtherBlock {
                height: head.height,
                certified: certificate.value_id.0,
                held,
            });
        }
        Ok(())
    }

    /// The lowest height with a certificate, if any.
    pub(crate) fn first_height(&self) -> Result<Option<u64>, StoreError> {
        let txn = self.db()?.begin_read().map_err(err)?;
        let table = txn.open_table(CERTIFICATES).map_err(err)?;
        let first = table.first().map_err(err)?.map(|(k, _)| k.value());
        Ok(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::small_disk::SmallDisk;

    /// The disk fills while a certificate is written; once there is room,
    /// the next goes through (redb refused every write after the first
    /// error until the database was opened again).
    #[test]
    fn a_store_an_io_error_closed_takes_the_next_certificate_once_there_is_room() {
        let disk = SmallDisk::mount("2m");
        let dir = disk.path();
        let mut store = CertificateStore::open(&dir.join("certificates.redb")).unwrap();
        store.insert(1, &[1; 1000]).unwrap();
        // The rest of the disk filled.
        let filler = dir.join("filler");
        let _ = std::fs::write(&filler, vec![0; 4 << 20]);
        let mut height = 2;
        while store.insert(height, &[2; 100_000]).is_ok() {
            height += 1;
            assert!(height < 100, "the disk never filled");
        }
        std::fs::remove_file(&filler).unwrap();
        store.insert(height, &[3; 1000]).unwrap();
        assert_eq!(store.last_height().unwrap(), Some(height));
        drop(store);
    }
}
