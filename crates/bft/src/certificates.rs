//! Commit certificates of decided blocks, kept so lagging peers can sync: a
//! block from the ledger plus its certificate is proof that it was decided.

use crate::context::GpunetContext;
use gpunet_ledger::Ledger;
use gpunet_primitives::Hash;
use malachitebft_app_channel::app::types::core::CommitCertificate;
use redb::{Database, ReadableTable, TableDefinition};
use std::path::Path;

const CERTIFICATES: TableDefinition<u64, &[u8]> = TableDefinition::new("certificates");

#[derive(Debug, thiserror::Error)]
#[error("certificate store: {0}")]
pub struct StoreError(String);

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
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
    db: Database,
}

impl CertificateStore {
    pub(crate) fn open(path: &Path) -> Result<CertificateStore, StoreError> {
        let db = Database::create(path).map_err(err)?;
        let txn = db.begin_write().map_err(err)?;
        txn.open_table(CERTIFICATES).map_err(err)?;
        txn.commit().map_err(err)?;
        Ok(CertificateStore { db })
    }

    pub(crate) fn put(
        &self,
        certificate: &CommitCertificate<GpunetContext>,
    ) -> Result<(), StoreError> {
        let bytes = borsh::to_vec(certificate).map_err(err)?;
        let txn = self.db.begin_write().map_err(err)?;
        txn.open_table(CERTIFICATES)
            .map_err(err)?
            .insert(certificate.height.0, bytes.as_slice())
            .map_err(err)?;
        txn.commit().map_err(err)
    }

    pub(crate) fn get(
        &self,
        height: u64,
    ) -> Result<Option<CommitCertificate<GpunetContext>>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(CERTIFICATES).map_err(err)?;
        match table.get(height).map_err(err)? {
            Some(bytes) => borsh::from_slice(bytes.value()).map(Some).map_err(err),
            None => Ok(None),
        }
    }

    /// The highest height with a certificate, if any.
    pub(crate) fn last_height(&self) -> Result<Option<u64>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
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
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(CERTIFICATES).map_err(err)?;
        let first = table.first().map_err(err)?.map(|(k, _)| k.value());
        Ok(first)
    }
}
