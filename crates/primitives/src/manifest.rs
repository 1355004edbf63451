//! The output manifest: every output file with its size and BLAKE3, sorted by path.
//! Its canonical encoding is stored as a blob; the hash of that blob is the job's
//! output root, so one hash on chain commits to every byte of output.

use crate::Hash;
use borsh::{BorshDeserialize, BorshSerialize};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One file of a result.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ManifestEntry {
    /// Relative path, `/`-separated, without `.` or `..` components.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// BLAKE3 of its content: the blob it is stored as.
    pub hash: Hash,
}

/// The files of a job's result (its logs and outputs), sorted by path;
/// its hash is the output root a provider reports.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Manifest {
    /// Its files, sorted by path, each path once.
    pub files: Vec<ManifestEntry>,
}

fn safe_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// BLAKE3 of a file, streamed.
pub fn hash_file(path: &Path) -> std::io::Result<(Hash, u64)> {
    let mut hasher = blake3::Hasher::new();
    let size = std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    Ok((Hash(*hasher.finalize().as_bytes()), size))
}

/// Why bytes are not a manifest.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Not the encoding of a manifest.
    #[error("malformed manifest: {0}")]
    Malformed(String),
    /// A path that could leave the directory it is written into (absolute,
    /// `..`, empty parts).
    #[error("manifest has an unsafe path {0:?}")]
    UnsafePath(String),
    /// Paths out of order, or one listed twice.
    #[error("manifest paths are not sorted and unique")]
    Unsorted,
    /// Files whose sizes add up to more than 2^64 bytes: no result is that big.
    #[error("manifest files add up to more than 2^64 bytes")]
    TooLarge,
}

/// What [`Manifest::add_tree`] found under a directory.
#[derive(Debug, Default)]
pub struct Tree {
    /// Each regular file added, with its hash.
    pub files: Vec<(PathBuf, Hash)>,
    /// What was left out: symbolic links, sockets, devices.
    pub not_files: Vec<PathBuf>,
}

impl Manifest {
    /// The manifest of a job's result: its two logs and every file under
    /// `outputs` (absent: none), named as agents name them (`logs/stdout.log`,
    /// `logs/stderr.log`, `outputs/...`). Returns it with each file and its hash.
    pub fn of_result(
        stdout: &Path,
        stderr: &Path,
        outputs: &Path,
    ) -> std::io::Result<(Manifest, Vec<(PathBuf, Hash)>)> {
        let mut manifest = Manifest::default();
        let mut files = vec![
            (
                stdout.to_path_buf(),
                manifest.add_file("logs/stdout.log", stdout)?,
            ),
            (
                stderr.to_path_buf(),
                manifest.add_file("logs/stderr.log", stderr)?,
            ),
        ];
        if outputs.exists() {
            files.extend(manifest.add_dir(outputs, "outputs/")?);
        }
        Ok((manifest, files))
    }

    /// The manifest of a result laid out in `dir` as `gpunet job get` writes
    /// it; its root is the output root the job's provider reported, if the
    /// files are the same. A canary's issuer keeps the known answer this way.
    pub fn of_result_dir(dir: &Path) -> std::io::Result<Manifest> {
        let logs = dir.join("logs");
        Manifest::of_result(
            &logs.join("stdout.log"),
            &logs.join("stderr.log"),
            &dir.join("outputs"),
        )
        .map(|(manifest, _)| manifest)
    }

    /// Builds the manifest of every regular file under `root`, named relative to it
    /// and prefixed with `prefix`, and returns each file with its hash.
    /// Symbolic links are refused.
    pub fn add_dir(&mut self, root: &Path, prefix: &str) -> std::io::Result<Vec<(PathBuf, Hash)>> {
        let tree = self.add_tree(root, prefix)?;
        match tree.not_files.first() {
            None => Ok(tree.files),
            Some(path) => Err(std::io::Error::other(format!(
                "output {} is not a regular file (links are not allowed)",
                path.display()
            ))),
        }
    }

    /// Adds every regular file under `root`, named relative to it and
    /// prefixed with `prefix`; returns what it added, and what it left out
    /// for not being a regular file or a directory, which the caller
    /// refuses or reports.
    pub fn add_tree(&mut self, root: &Path, prefix: &str) -> std::io::Result<Tree> {
        let mut stack = vec![root.to_path_buf()];
        let mut added = Vec::new();
        let mut not_files = Vec::new();
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let kind = entry.file_type()?;
                let path = entry.path();
                if kind.is_dir() {
                    stack.push(path);
                } else if kind.is_file() {
                    let rel = path
                        .strip_prefix(root)
                        .map_err(std::io::Error::other)?
                        .to_string_lossy()
                        .replace('\\', "/");
                    let hash = self.push_file(&format!("{prefix}{rel}"), &path)?;
                    added.push((path, hash));
                } else {
                    not_files.push(path);
                }
            }
        }
        // Sorted once: a tree may hold many thousands of files.
        self.files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Tree {
            files: added,
            not_files,
        })
    }

    /// Adds one file under `name` and returns its hash.
    pub fn add_file(&mut self, name: &str, path: &Path) -> std::io::Result<Hash> {
        let hash = self.push_file(name, path)?;
        self.files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(hash)
    }

    /// Adds one file under `name`, leaving the list for the caller to sort.
    fn push_file(&mut self, name: &str, path: &Path) -> std::io::Result<Hash> {
        let (hash, size) = hash_file(path)?;
        self.files.push(ManifestEntry {
            path: name.to_string(),
            size,
            hash,
        });
        Ok(hash)
    }

    /// Its canonical bytes (stored as the blob whose hash is the root).
    pub fn encode(&self) -> Vec<u8> {
        crate::encode(self)
    }

    /// The output root: hash of the canonical encoding.
    pub fn root(&self) -> Hash {
        Hash::digest(&self.encode())
    }

    /// The size of all its files together (at most `u64::MAX`: a decoded
    /// manifest never adds up to more).
    pub fn total_bytes(&self) -> u64 {
        self.files
            .iter()
            .fold(0u64, |total, f| total.saturating_add(f.size))
    }

    /// Decodes a manifest, refusing unsafe, unsorted or duplicate paths.
    pub fn decode(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let m: Manifest =
            borsh::from_slice(bytes).map_err(|e| ManifestError::Malformed(e.to_string()))?;
        if let Some(f) = m.files.iter().find(|f| !safe_path(&f.path)) {
            return Err(ManifestError::UnsafePath(f.path.clone()));
        }
        if m.files.windows(2).any(|w| w[0].path >= w[1].path) {
            return Err(ManifestError::Unsorted);
        }
        // Found by fuzzing: sizes that wrap summed to a small total.
        m.files
            .iter()
            .try_fold(0u64, |total, f| total.checked_add(f.size))
            .ok_or(ManifestError::TooLarge)?;
        Ok(m)
    }

    /// The file at `path`, if it lists one.
    pub fn get(&self, path: &str) -> Option<&ManifestEntry> {
        self.files.iter().find(|f| f.path == path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_commits_to_every_file_and_decode_checks_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/x.txt"), b"x").unwrap();
        std::fs::write(dir.path().join("y.txt"), b"y").unwrap();
        let mut m = Manifest::default();
        m.add_dir(dir.path(), "outputs/").unwrap();
        assert_eq!(
            m.files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
            ["outputs/a/b/x.txt", "outputs/y.txt"]
        );
        let root = m.root();
        assert_eq!(Manifest::decode(&m.encode()).unwrap().root(), root);
        std::fs::write(dir.path().join("y.txt"), b"Y").unwrap();
        let mut changed = Manifest::default();
        changed.add_dir(dir.path(), "outputs/").unwrap();
        assert_ne!(changed.root(), root);
        let evil = Manifest {
            files: vec![ManifestEntry {
                path: "../etc/passwd".into(),
                size: 0,
                hash: Hash::ZERO,
            }],
        };
        assert_eq!(
            Manifest::decode(&evil.encode()),
            Err(ManifestError::UnsafePath("../etc/passwd".into()))
        );
        let mut unsorted = changed.clone();
        unsorted.files.reverse();
        assert_eq!(
            Manifest::decode(&unsorted.encode()),
            Err(ManifestError::Unsorted)
        );
        assert!(matches!(
            Manifest::decode(b"\x01"),
            Err(ManifestError::Malformed(_))
        ));
        // Sizes that wrap in a sum would pass for a small result.
        let wrapping = Manifest {
            files: ["a", "b"]
                .iter()
                .map(|path| ManifestEntry {
                    path: path.to_string(),
                    size: u64::MAX / 2 + 1,
                    hash: Hash::ZERO,
                })
                .collect(),
        };
        assert_eq!(wrapping.total_bytes(), u64::MAX);
        assert_eq!(
            Manifest::decode(&wrapping.encode()),
            Err(ManifestError::TooLarge)
        );
    }
}
