//! Content-addressed storage of job inputs and outputs: files named by their BLAKE3.

use gpunet_primitives::{BlobHasher, Hash, ReadSecret};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio::io::AsyncWriteExt;

/// Why a blob was not stored.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// What arrived is not the blob announced.
    #[error("content hash {actual} does not match the expected {expected}")]
    HashMismatch {
        /// The hash announced.
        expected: Hash,
        /// The hash of what arrived.
        actual: Hash,
    },
    /// Larger than this node stores.
    #[error("blob is larger than the {limit}-byte limit")]
    TooLarge {
        /// The node's limit.
        limit: u64,
    },
    /// Storing it would eat into the disk space its ledger needs.
    #[error(
        "this node's disk is full: {available} bytes free, {reserve} kept free for its ledger"
    )]
    DiskFull {
        /// Bytes free.
        available: u64,
        /// Bytes kept free for the ledger.
        reserve: u64,
    },
    /// The disk failed.
    #[error("blob store I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Disk space a blob store leaves free by default: the ledger's database
/// shares the disk, and a node that cannot write its ledger stops.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 1 << 30;

/// The largest job input or output a node stores, unless told otherwise.
pub const DEFAULT_MAX_BLOB_BYTES: u64 = 4 << 30;

/// How often a long write checks the free space again (other writes share it).
const FREE_SPACE_CHECK_BYTES: u64 = 64 << 20;

/// Read secrets kept in memory (64 bytes each), so a blob is hashed again
/// only when it was written before this process started or dropped since.
const CACHED_SECRETS: usize = 1 << 16;

/// Content-addressed files in a directory, each named by its BLAKE3 hash.
#[derive(Clone)]
pub struct BlobStore {
    dir: PathBuf,
    max_size: u64,
    min_free: u64,
    secrets: Arc<Mutex<BTreeMap<Hash, ReadSecret>>>,
}

/// An upload in progress: chunks are hashed as they are written to a temporary file.
pub struct BlobWriter {
    store: BlobStore,
    tmp: PathBuf,
    file: tokio::fs::File,
    hasher: BlobHasher,
    size: u64,
    /// `size` at which free space is checked next.
    next_space_check: u64,
}

impl BlobStore {
    /// A store in `dir` taking blobs of at most `max_size` bytes and leaving
    /// [`DEFAULT_MIN_FREE_BYTES`] of its disk free.
    pub fn open(dir: &Path, max_size: u64) -> Result<BlobStore, BlobError> {
        std::fs::create_dir_all(dir.join("tmp"))?;
        Ok(BlobStore {
            dir: dir.to_path_buf(),
            max_size,
            min_free: DEFAULT_MIN_FREE_BYTES,
            secrets: Arc::default(),
        })
    }

    /// The store, leaving `bytes` of its disk free instead.
    pub fn with_min_free(self, bytes: u64) -> BlobStore {
        BlobStore {
            min_free: bytes,
            ..self
        }
    }

    /// Checks that `more` bytes fit on the disk with the reserve left free.
    fn check_space(&self, more: u64) -> Result<(), BlobError> {
        let available = available_bytes(&self.dir)?;
        if available.saturating_sub(more) < self.min_free {
            return Err(BlobError::DiskFull {
                available,
                reserve: self.min_free,
            });
        }
        Ok(())
    }

    /// Where blob `hash` is (or would be) stored.
    pub fn path(&self, hash: &Hash) -> PathBuf {
        self.dir.join(hash.to_string())
    }

    /// Bytes of the blobs it holds (one directory listing: metrics read it
    /// per scrape). Blocking.
    pub fn stored_bytes(&self) -> u64 {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        entries
            .filter_map(|entry| entry.ok()?.metadata().ok())
            .filter(std::fs::Metadata::is_file)
            .map(|meta| meta.len())
            .sum()
    }

    /// Whether it holds blob `hash`.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.path(hash).is_file()
    }

    /// Starts writing a blob expected to be `size` bytes long (0 if
    /// unknown): refused when that would leave less than the reserve free.
    pub async fn writer(&self, size: u64) -> Result<BlobWriter, BlobError> {
        self.check_space(size)?;
        let tmp = self
            .dir
            .join("tmp")
            .join(format!("{}-{}", std::process::id(), rand_suffix()));
        let file = tokio::fs::File::create(&tmp).await?;
        Ok(BlobWriter {
            store: self.clone(),
            tmp,
            file,
            hasher: BlobHasher::default(),
            size: 0,
            next_space_check: FREE_SPACE_CHECK_BYTES,
        })
    }

    /// The read secret of blob `hash` (see `gpunet_primitives::BlobHasher`),
    /// or `None` if this store does not hold it. Blocking: may hash the blob.
    pub fn read_secret(&self, hash: &Hash) -> Option<ReadSecret> {
        if let Some(secret) = self.secrets.lock().expect("secrets lock").get(hash) {
            return Some(*secret);
        }
        let (actual, secret, _) = BlobHasher::of_file(&self.path(hash)).ok()?;
        // A blob altered on disk is not the blob its name says.
        (actual == *hash).then(|| {
            self.remember_secret(actual, secret);
            secret
        })
    }

    fn remember_secret(&self, hash: Hash, secret: ReadSecret) {
        let mut secrets = self.secrets.lock().expect("secrets lock");
        if secrets.len() >= CACHED_SECRETS {
            secrets.pop_first();
        }
        secrets.insert(hash, secret);
    }

    /// Stores `bytes`; their hash and size.
    pub async fn put(&self, bytes: &[u8]) -> Result<(Hash, u64), BlobError> {
        let mut w = self.writer(bytes.len() as u64).await?;
        w.write(bytes).await?;
        w.finish(None).await
    }
}

/// What a collection removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Removed {
    /// Blobs removed.
    pub blobs: u64,
    /// Bytes freed.
    pub bytes: u64,
}

impl BlobStore {
    /// Removes every blob not in `keep` that was written before
    /// `written_before`, and unfinished uploads older than that. Blocking.
    pub fn remove_unreferenced(
        &self,
        keep: &BTreeSet<Hash>,
        written_before: SystemTime,
    ) -> Result<Removed, BlobError> {
        let mut removed = Removed::default();
        let stale = |meta: &std::fs::Metadata| meta.modified().is_ok_and(|t| t < written_before);
        for entry in std::fs::read_dir(&self.dir)?.chain(std::fs::read_dir(self.dir.join("tmp"))?) {
            let entry = entry?;
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            let in_use = entry
                .file_name()
                .to_str()
                .and_then(|name| name.parse::<Hash>().ok())
                .is_some_and(|hash| keep.contains(&hash));
            if meta.is_file()
                && !in_use
                && stale(&meta)
                && std::fs::remove_file(entry.path()).is_ok()
            {
                removed.blobs += 1;
                removed.bytes += meta.len();
            }
        }
        Ok(removed)
    }
}

/// Bytes an unprivileged process may still write on the filesystem of `dir`.
fn available_bytes(dir: &Path) -> std::io::Result<u64> {
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
        .map_err(std::io::Error::other)?;
    // SAFETY: an all-zero statvfs is a valid value of this plain C struct.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a valid NUL-terminated string and `st` a writable statvfs.
    if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl BlobWriter {
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), BlobError> {
        self.size += chunk.len() as u64;
        if self.size > self.store.max_size {
            let _ = tokio::fs::remove_file(&self.tmp).await;
            return Err(BlobError::TooLarge {
                limit: self.store.max_size,
            });
        }
        if self.size >= self.next_space_check {
            self.next_space_check = self.size + FREE_SPACE_CHECK_BYTES;
            self.store.check_space(chunk.len() as u64)?;
        }
        self.hasher.update(chunk);
        self.file.write_all(chunk).await?;
        Ok(())
    }

    /// Completes the upload. The blob appears under its hash only once complete
    /// and verified, so a reader never sees a partial blob.
    pub async fn finish(mut self, expected: Option<Hash>) -> Result<(Hash, u64), BlobError> {
        self.file.flush().await?;
        self.file.sync_all().await?;
        let (actual, secret) = self.hasher.finalize();
        if let Some(expected) = expected.filter(|e| *e != actual) {
            let _ = tokio::fs::remove_file(&self.tmp).await;
            return Err(BlobError::HashMismatch { expected, actual });
        }
        tokio::fs::rename(&self.tmp, self.store.path(&actual)).await?;
        self.store.remember_secret(actual, secret);
        Ok((actual, self.size))
    }
}

/// An unfinished blob (an interrupted upload or fetch) leaves nothing behind.
impl Drop for BlobWriter {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn removes_only_old_unreferenced_blobs_and_stale_uploads() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path(), 1 << 20).unwrap();
        let (kept, _) = store.put(b"kept").await.unwrap();
        let (dropped, _) = store.put(b"dropped").await.unwrap();
        let stale_upload = dir.path().join("tmp").join("interrupted");
        std::fs::write(&stale_upload, b"part").unwrap();
        let keep = BTreeSet::from([kept]);
        let past = SystemTime::now() - Duration::from_secs(3600);
        // Written after the cutoff: all kept.
        assert_eq!(
            store.remove_unreferenced(&keep, past).unwrap(),
            Removed::default()
        );
        let future = SystemTime::now() + Duration::from_secs(3600);
        let removed = store.remove_unreferenced(&keep, future).unwrap();
        assert_eq!(
            removed,
            Removed {
                blobs: 2,
                bytes: 7 + 4
            }
        );
        assert!(store.contains(&kept));
        assert!(!store.contains(&dropped));
        assert!(!stale_upload.exists());
    }

    #[tokio::test]
    async fn stores_by_hash_and_refuses_mismatch_and_oversize() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path(), 10).unwrap();
        let (hash, size) = store.put(b"hello").await.unwrap();
        assert_eq!((hash, size), (Hash::digest(b"hello"), 5));
        assert_eq!(std::fs::read(store.path(&hash)).unwrap(), b"hello");
        let mut w = store.writer(0).await.unwrap();
        w.write(b"abc").await.unwrap();
        assert!(matches!(
            w.finish(Some(hash)).await,
            Err(BlobError::HashMismatch { .. })
        ));
        assert!(matches!(
            store.put(&[0; 11]).await,
            Err(BlobError::TooLarge { .. })
        ));
        let mut w = store.writer(0).await.unwrap();
        w.write(b"part").await.unwrap();
        drop(w);
        let full = store.with_min_free(available_bytes(dir.path()).unwrap() + (1 << 30));
        assert!(matches!(
            full.put(b"x").await,
            Err(BlobError::DiskFull { .. })
        ));
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }
}
