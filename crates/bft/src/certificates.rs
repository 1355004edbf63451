//! Commit certificates of decided blocks, kept so lagging peers can sync: a
//! block from the ledger plus its certificate is proof that it was decided.

use crate::context::GpunetContext;
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

pub struct CertificateStore {
    db: Database,
}

impl CertificateStore {
    pub fn open(path: &Path) -> Result<CertificateStore, StoreError> {
        let db = Database::create(path).map_err(err)?;
        let txn = db.begin_write().map_err(err)?;
        txn.open_table(CERTIFICATES).map_err(err)?;
        txn.commit().map_err(err)?;
        Ok(CertificateStore { db })
    }

    pub fn put(&self, certificate: &CommitCertificate<GpunetContext>) -> Result<(), StoreError> {
        let bytes = borsh::to_vec(certificate).map_err(err)?;
        let txn = self.db.begin_write().map_err(err)?;
        txn.open_table(CERTIFICATES)
            .map_err(err)?
            .insert(certificate.height.0, bytes.as_slice())
            .map_err(err)?;
        txn.commit().map_err(err)
    }

    pub fn get(&self, height: u64) -> Result<Option<CommitCertificate<GpunetContext>>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(CERTIFICATES).map_err(err)?;
        match table.get(height).map_err(err)? {
            Some(bytes) => borsh::from_slice(bytes.value()).map(Some).map_err(err),
            None => Ok(None),
        }
    }

    /// The lowest height with a certificate, if any.
    pub fn first_height(&self) -> Result<Option<u64>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(CERTIFICATES).map_err(err)?;
        let first = table.first().map_err(err)?.map(|(k, _)| k.value());
        Ok(first)
    }
}
