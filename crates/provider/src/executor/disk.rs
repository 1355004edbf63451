//! A run's disk limit, enforced the way the kubelet enforces ephemeral
//! storage: by measuring what the run wrote, often, and stopping it once it is
//! over. Neither Docker's local volumes nor plain directories have quotas, and
//! a loop-mounted filesystem per run would need privileges most hosts refuse.
//!
//! A job can only write its working directory, its outputs, its logs and its
//! `/tmp` (a tmpfs charged to its memory), so the first three are what it
//! uses. A rental also writes its workspace and, in a container, its root
//! filesystem, whose layer the engine measures (slowly: every
//! [`LAYER_POLL`]). Between two measurements a fast writer may
//! overshoot by what it writes meanwhile; the limit bounds the damage, not
//! the exact byte.

use super::JobRun;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often a running job's usage is measured.
pub(super) const POLL: Duration = Duration::from_millis(200);

/// How often what the run wrote outside the host's paths is measured (a
/// container's root layer: the engine walks it to answer).
const LAYER_POLL: Duration = Duration::from_secs(5);

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
fn written_by(job: &JobRun) -> Vec<PathBuf> {
    let logs_and_files = [&job.scratch, &job.outputs, &job.stdout, &job.stderr];
    logs_and_files
        .into_iter()
        .chain(job.workspace.as_ref())
        .cloned()
        .collect()
}

/// Resolves once `job` has written more than its disk limit, on the host
/// and in what `layer` measures (a container's root layer; 0 for none);
/// never if the limit is 0 (none).
pub(super) async fn exceeded<Measured>(job: &JobRun, mut layer: impl FnMut() -> Measured)
where
    Measured: Future<Output = u64>,
{
    let limit = job.limits.disk_mb.saturating_mul(1 << 20);
    if limit == 0 {
        return std::future::pending().await;
    }
    let paths = written_by(job);
    let (mut in_layer, mut layer_measured) = (0, None::<tokio::time::Instant>);
    loop {
        tokio::time::sleep(POLL).await;
        if layer_measured.is_none_or(|at| at.elapsed() >= LAYER_POLL) {
            in_layer = layer().await;
            layer_measured = Some(tokio::time::Instant::now());
        }
        let paths = paths.clone();
        let on_host = tokio::task::spawn_blocking(move || {
            paths.iter().map(|p| usage(p)).fold(0, u64::saturating_add)
        })
        .await
        .unwrap_or(0);
        if on_host.saturating_add(in_layer) > limit {
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
