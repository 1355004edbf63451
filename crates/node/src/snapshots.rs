//! The state snapshots a node serves to nodes that join: under its data
//! directory, `snapshots/<height>/` holds `manifest`, `certificate` (the
//! commit certificate of the snapshot's block, as consensus encodes it),
//! `chunk-<index>` files and `info.json` (what `GET /v1/snapshots` lists).
//!
//! **Invariant:** a listed snapshot is whole. One is written into a
//! temporary directory and renamed into place once every file is synced; a
//! crash mid-write leaves only a `.partial-*` directory, removed at the next
//! write. The newest `keep` are kept.

use gpunet_ledger::snapshot::SnapshotSource;
use gpunet_ledger::LedgerError;
use gpunet_types::api::SnapshotInfo;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Blocks between snapshots unless configured: at a block or two a second,
/// a joining node replays at most a quarter of an hour of blocks.
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 1_000;

/// Snapshots kept unless configured: the newest stays whole while a joining
/// node fetches it even as the next is written.
pub const DEFAULT_SNAPSHOTS_KEPT: usize = 2;

/// One file of a snapshot, as the API names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotFile {
    /// The ledger's manifest (`gpunet_ledger::snapshot::SnapshotManifest`).
    Manifest,
    /// The commit certificate of the snapshot's block.
    Certificate,
    /// One chunk of state entries.
    Chunk(u32),
}

impl SnapshotFile {
    fn name(self) -> String {
        match self {
            SnapshotFile::Manifest => "manifest".into(),
            SnapshotFile::Certificate => "certificate".into(),
            SnapshotFile::Chunk(index) => format!("chunk-{index}"),
        }
    }
}

impl std::fmt::Display for SnapshotFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// A name that is no snapshot file.
#[derive(Debug, thiserror::Error)]
#[error("no snapshot file is named {0:?} (manifest, certificate or chunk-N)")]
pub struct NotASnapshotFile(String);

impl std::str::FromStr for SnapshotFile {
    type Err = NotASnapshotFile;

    fn from_str(name: &str) -> Result<SnapshotFile, NotASnapshotFile> {
        match name {
            "manifest" => Ok(SnapshotFile::Manifest),
            "certificate" => Ok(SnapshotFile::Certificate),
            _ => name
                .strip_prefix("chunk-")
                // Digits only: "chunk-+1" would parse as 1 otherwise.
                .filter(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|i| i.parse().ok())
                .map(SnapshotFile::Chunk)
                .ok_or_else(|| NotASnapshotFile(name.to_string())),
        }
    }
}

/// A node's snapshot directory and when it takes them.
#[derive(Clone, Debug)]
pub struct Snapshots {
    dir: PathBuf,
    /// A snapshot is taken after every block whose height is a multiple of
    /// this (0: never).
    pub every: u64,
    /// How many are kept, the newest.
    pub keep: usize,
}

impl Snapshots {
    /// Snapshots under `dir`, on the default schedule.
    pub fn new(dir: impl Into<PathBuf>) -> Snapshots {
        Snapshots {
            dir: dir.into(),
            every: DEFAULT_SNAPSHOT_EVERY,
            keep: DEFAULT_SNAPSHOTS_KEPT,
        }
    }

    /// Whether a snapshot is due after the block at `height`.
    pub fn due(&self, height: u64) -> bool {
        self.every > 0 && self.keep > 0 && height > 0 && height.is_multiple_of(self.every)
    }

    fn path(&self, height: u64) -> PathBuf {
        self.dir.join(height.to_string())
    }

    /// Writes the state of `source` with its block's `certificate`, then
    /// drops the snapshots beyond the newest `keep`.
    pub fn write(
        &self,
        source: &SnapshotSource,
        certificate: &[u8],
        chunk_bytes: usize,
    ) -> Result<SnapshotInfo, LedgerError> {
        std::fs::create_dir_all(&self.dir)?;
        self.remove_partial()?;
        let partial = self.dir.join(format!(".partial-{}", source.height()));
        std::fs::create_dir_all(&partial)?;
        let mut bytes = 0u64;
        let manifest = source.write(chunk_bytes, |index, chunk| {
            bytes = bytes.saturating_add(chunk.len() as u64);
            write_synced(
                &partial.join(SnapshotFile::Chunk(index as u32).name()),
                chunk,
            )
        })?;
        let info = SnapshotInfo {
            height: manifest.height(),
            block_hash: manifest.block.header.hash(),
            chunks: manifest.chunks.len() as u32,
            bytes,
        };
        write_synced(&partial.join("manifest"), &manifest.encode())?;
        write_synced(&partial.join("certificate"), certificate)?;
        let info_json = serde_json::to_vec(&info).map_err(std::io::Error::other)?;
        write_synced(&partial.join("info.json"), &info_json)?;
        let path = self.path(info.height);
        if path.exists() {
            std::fs::remove_dir_all(&path)?;
        }
        std::fs::rename(&partial, &path)?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        for old in self.list().iter().skip(self.keep) {
            std::fs::remove_dir_all(self.path(old.height))?;
        }
        Ok(info)
    }

    fn remove_partial(&self) -> std::io::Result<()> {
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(".partial-") {
                std::fs::remove_dir_all(entry.path())?;
            }
        }
        Ok(())
    }

    /// The snapshots held, newest first.
    pub fn list(&self) -> Vec<SnapshotInfo> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut list: Vec<SnapshotInfo> = entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().parse::<u64>().is_ok())
            .filter_map(|e| std::fs::read(e.path().join("info.json")).ok())
            .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
            .collect();
        list.sort_by_key(|s| std::cmp::Reverse(s.height));
        list
    }

    /// One file of the snapshot at `height`, if it is held.
    pub fn read(&self, height: u64, file: SnapshotFile) -> std::io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.path(height).join(file.name())) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip_and_nothing_else_is_a_file() {
        for file in [
            SnapshotFile::Manifest,
            SnapshotFile::Certificate,
            SnapshotFile::Chunk(0),
            SnapshotFile::Chunk(u32::MAX),
        ] {
            assert_eq!(file.name().parse::<SnapshotFile>().unwrap(), file);
        }
        for name in [
            "info.json",
            "chunk-",
            "chunk-+1",
            "chunk--1",
            "chunk-4294967296",
            "../manifest",
        ] {
            assert!(name.parse::<SnapshotFile>().is_err(), "{name}");
        }
    }

    #[test]
    fn due_at_multiples_of_the_interval_only() {
        let mut snapshots = Snapshots::new("/nowhere");
        snapshots.every = 10;
        assert!(!snapshots.due(0));
        assert!(snapshots.due(10) && snapshots.due(30));
        assert!(!snapshots.due(11));
        snapshots.every = 0;
        assert!(!snapshots.due(10));
    }
}
