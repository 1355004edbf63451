//! The agent's on-disk record of each job, so a restart never loses one.
//!
//! A job's record moves `Started` -> `Finished` -> (deleted once reported).
//! Each write replaces the file atomically (write, fsync, rename).

use gpunet_primitives::{JobOutcome, OrderId};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where a job stands on this machine, as last written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum JobRecord {
    /// The job was accepted; `handle` is what the executor needs to clean up
    /// after it (a process group, a container name) once it exists.
    Started {
        /// The job's order.
        order: OrderId,
        /// The executor's handle of its run, once it has one.
        handle: Option<String>,
    },
    /// The job ended and its outputs are uploaded; the report is pending.
    Finished {
        /// The job's order.
        order: OrderId,
        /// What is to be reported.
        outcome: JobOutcome,
    },
}

impl JobRecord {
    /// The job's order.
    pub fn order(&self) -> OrderId {
        match self {
            JobRecord::Started { order, .. } | JobRecord::Finished { order, .. } => *order,
        }
    }
}

/// A directory of one record per job (`<order>.json`).
#[derive(Clone)]
pub struct Journal {
    dir: PathBuf,
}

impl Journal {
    /// The journal in `dir`, made if new.
    pub fn open(dir: &Path) -> std::io::Result<Journal> {
        std::fs::create_dir_all(dir)?;
        Ok(Journal {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, order: OrderId) -> PathBuf {
        self.dir.join(format!("{order}.json"))
    }

    /// Replaces its order's record by `record`, synced to disk.
    pub fn write(&self, record: &JobRecord) -> std::io::Result<()> {
        use std::io::Write;
        let path = self.path(record.order());
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(record).expect("record serializes"))?;
        f.sync_all()?;
        std::fs::rename(tmp, path)
    }

    /// Deletes `order`'s record (none is not an error).
    pub fn remove(&self, order: OrderId) -> std::io::Result<()> {
        match std::fs::remove_file(self.path(order)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Whether `order` has a record.
    pub fn contains(&self, order: OrderId) -> bool {
        self.path(order).exists()
    }

    /// Every record, oldest order first. Unreadable records are reported as errors.
    pub fn all(&self) -> std::io::Result<Vec<JobRecord>> {
        let mut records = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") {
                let record = serde_json::from_slice(&std::fs::read(&path)?)
                    .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
                records.push(record);
            }
        }
        records.sort_by_key(JobRecord::order);
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopening_and_removal_is_final() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        j.write(&JobRecord::Started {
            order: 7,
            handle: Some("42".into()),
        })
        .unwrap();
        j.write(&JobRecord::Started {
            order: 3,
            handle: None,
        })
        .unwrap();
        let j = Journal::open(dir.path()).unwrap();
        assert_eq!(
            j.all()
                .unwrap()
                .iter()
                .map(JobRecord::order)
                .collect::<Vec<_>>(),
            [3, 7]
        );
        j.remove(3).unwrap();
        j.remove(3).unwrap();
        assert!(!j.contains(3) && j.contains(7));
    }
}
