//! A run's disk limit, enforced the way the kubelet enforces ephemeral
//! storage: by measuring what the run wrote, often, and stopping it once it is
//! over. Neither Docker's local volumes nor plain directories have quotas, and
//! a loop-mounted filesystem per run would need privileges most hosts refuse.
//!
//! A run can only write its working directory, its outputs, its logs and its
//! `/tmp` (a tmpfs charged to its memory), so the first three are what it
//! uses. Between two measurements a fast writer may overshoot by what it writes
//! in [`POLL`]; the limit bounds the damage, not the exact byte.

use super::JobRun;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often a running job's usage is measured.
pub(super) const POLL: Duration = Duration::from_millis(200);

/// Bytes of the files under `path` (a file or a directory), by apparent size:
/// a sparse file counts in full, as it would be hashed and uploaded in full.
/// Symbolic links are not followed; what vanishes while being read counts 0.
pub(super) fn usage(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| usage(&entry.path()))
        .fold(0, u64::saturating_add)
}

/// Everything a run writes on the host's disk.
fn written_by(job: &JobRun) -> [PathBuf; 4] {
    [
        job.scratch.clone(),
        job.outputs.clone(),
        job.stdout.clone(),
        job.stderr.clone(),
    ]
}

/// Resolves once `job` has written more than its disk limit; never if the
/// limit is 0 (none).
pub(super) async fn exceeded(job: &JobRun) {
    let limit = job.limits.disk_mb.saturating_mul(1 << 20);
    if limit == 0 {
        return std::future::pending().await;
    }
    let paths = written_by(job);
    loop {
        tokio::time::sleep(POLL).await;
        let paths = paths.clone();
        let used = tokio::task::spawn_blocking(move || {
            paths.iter().map(|p| usage(p)).fold(0, u64::saturating_add)
        })
        .await
        .unwrap_or(0);
        if used > limit {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_counts_files_in_nested_directories_without_following_links() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/one"), vec![0; 1000]).unwrap();
        std::fs::write(dir.path().join("a/b/two"), vec![0; 24]).unwrap();
        std::os::unix::fs::symlink("/usr", dir.path().join("a/link")).unwrap();
        let link = std::fs::symlink_metadata(dir.path().join("a/link"))
            .unwrap()
            .len();
        assert_eq!(usage(dir.path()), 1024 + link);
        assert_eq!(usage(&dir.path().join("a/one")), 1000);
        assert_eq!(usage(&dir.path().join("missing")), 0);
    }

    #[test]
    fn a_sparse_file_counts_in_full() {
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::File::create(dir.path().join("sparse")).unwrap();
        file.set_len(5 << 30).unwrap();
        assert_eq!(usage(dir.path()), 5 << 30);
    }
}
