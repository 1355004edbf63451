//! Double-sign protection: what this validator signed, kept on disk apart
//! from the ledger, the certificate store and the engine's WAL, and synced
//! before a signature leaves the process.
//!
//! A validator restored from a backup of its stores comes back at heights it
//! has already voted on. Its engine, knowing nothing of those votes, votes
//! there again (nil where it had voted for a block, say), the other
//! validators catch the conflict, and it is slashed and tombstoned. The
//! guard refuses any vote below the highest height it has signed at, and at
//! that height any vote for another block than the one it signed for the
//! same round and step. The same vote again (the engine replaying its WAL)
//! is signed again: ed25519 signatures are deterministic, so it is the same
//! signature, no conflict. In place of a conflicting vote the signer sends
//! the one signed before again; a vote below the highest height goes out
//! with no valid signature, no peer counts it, and the node votes again once
//! it has caught up past the heights it voted on (`signing::Signer`). This is
//! CometBFT's `priv_validator_state.json`.

use gpunet_primitives::{Vote, VoteKind};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The file in the consensus home holding what was signed: one JSON vote a
/// line, appended and synced (one `fdatasync` a vote), compacted to the
/// current height's votes once it passes [`COMPACT_BYTES`].
pub(crate) const FILE: &str = "signed-votes.jsonl";

/// Size past which the file is rewritten with the current height's votes.
const COMPACT_BYTES: u64 = 256 << 10;

/// What this validator signed at its highest height.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Signed {
    height: u64,
    /// Every vote signed at `height`, by round and step.
    votes: Vec<Vote>,
}

impl Signed {
    fn record(&mut self, vote: Vote) {
        if vote.height > self.height {
            self.height = vote.height;
            self.votes.clear();
        }
        self.votes.push(vote);
    }
}

/// Why a vote was not signed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("already signed at height {signed}, above {height}")]
    BelowSignedHeight { height: u64, signed: u64 },
    #[error(
        "already signed a {kind:?} for {signed:?} at height {height}, round {round}, \
         not {asked:?}"
    )]
    Conflicting {
        height: u64,
        round: i64,
        kind: VoteKind,
        signed: Option<gpunet_primitives::Hash>,
        asked: Option<gpunet_primitives::Hash>,
    },
    #[error("cannot record the vote in {path}: {reason}")]
    Io { path: PathBuf, reason: String },
}

pub(crate) struct VoteGuard {
    path: PathBuf,
    inner: Mutex<Inner>,
}

struct Inner {
    signed: Signed,
    file: File,
    /// The length of the whole lines written.
    bytes: u64,
    /// A failed append may have left part of a line past `bytes`, not cut
    /// off yet.
    torn: bool,
}

impl VoteGuard {
    /// The guard of the validator whose consensus home is `home`.
    pub(crate) fn open(home: &Path) -> std::io::Result<VoteGuard> {
        let path = home.join(FILE);
        let text = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        // A line cut short by a crash was never synced, so its signature
        // never left: it is dropped. Any other bad line is a damaged record.
        let whole = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let mut signed = Signed::default();
        for (n, line) in text[..whole].split(|b| *b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let vote: Vote = serde_json::from_slice(line).map_err(|e| {
                std::io::Error::other(format!(
                    "{} is damaged at line {} ({e}); without it this validator could sign \
                     twice: restore it, or remove it only once the chain is past every height \
                     it signed at",
                    path.display(),
                    n + 1
                ))
            })?;
            signed.record(vote);
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        file.set_len(whole as u64)?;
        Ok(VoteGuard {
            path,
            inner: Mutex::new(Inner {
                signed,
                file,
                bytes: whole as u64,
                torn: false,
            }),
        })
    }

    /// Records `vote` as signed, on disk, unless signing it could conflict
    /// with a vote signed before.
    pub(crate) fn admit(&self, vote: &Vote) -> Result<(), Refusal> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let signed = &inner.signed;
        if vote.height < signed.height {
            return Err(Refusal::BelowSignedHeight {
                height: vote.height,
                signed: signed.height,
            });
        }
        if vote.height == signed.height {
            let same_slot = signed
                .votes
                .iter()
                .find(|v| v.round == vote.round && v.kind == vote.kind);
            match same_slot {
                Some(earlier) if earlier.block == vote.block => return Ok(()),
                Some(earlier) => {
                    return Err(Refusal::Conflicting {
                        height: vote.height,
                        round: vote.round,
                        kind: vote.kind,
                        signed: earlier.block,
                        asked: vote.block,
                    })
                }
                None => {}
            }
        }
        let io = |e: std::io::Error| Refusal::Io {
            path: self.path.clone(),
            reason: e.to_string(),
        };
        let mut line = serde_json::to_vec(vote).map_err(|e| io(std::io::Error::other(e)))?;
        line.push(b'\n');
        // Part of a line written before a full disk stopped it would run into
        // the next line appended, and the record would no longer read back:
        // it is cut off first.
        if inner.torn {
            let whole = inner.bytes;
            inner.file.set_len(whole).map_err(io)?;
            inner.torn = false;
        }
        let appended = inner
            .file
            .write_all(&line)
            .and_then(|()| inner.file.sync_data());
        if let Err(e) = appended {
            let whole = inner.bytes;
            inner.torn = inner.file.set_len(whole).is_err();
            return Err(io(e));
        }
        inner.bytes += line.len() as u64;
        inner.signed.record(vote.clone());
        if inner.bytes > COMPACT_BYTES {
            // The vote is recorded: a failed compaction is tried again at the next.
            if let Err(e) = self.compact(&mut inner) {
                tracing::warn!("cannot compact {}: {e}", self.path.display());
            }
        }
        Ok(())
    }

    /// Rewrites the file with only the current height's votes: written
    /// whole to a temporary file, synced, renamed over it, directory synced.
    fn compact(&self, inner: &mut Inner) -> std::io::Result<()> {
        let tmp = self.path.with_extension("jsonl.tmp");
        let mut bytes = Vec::new();
        for vote in &inner.signed.votes {
            bytes.extend(serde_json::to_vec(vote).map_err(std::io::Error::other)?);
            bytes.push(b'\n');
        }
        let mut file = File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        inner.file = OpenOptions::new().append(true).open(&self.path)?;
        inner.bytes = bytes.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::small_disk::SmallDisk;
    use gpunet_primitives::{Hash, Keypair};
    use std::io::Write;

    fn vote(height: u64, round: i64, kind: VoteKind, block: Option<u8>) -> Vote {
        Vote {
            kind,
            height,
            round,
            block: block.map(|b| Hash([b; 32])),
            validator: Keypair::from_label("validator").address(),
        }
    }

    #[test]
    fn refuses_lower_heights_and_conflicts_and_remembers_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let guard = VoteGuard::open(dir.path()).unwrap();
        guard
            .admit(&vote(5, 0, VoteKind::Prevote, Some(1)))
            .unwrap();
        guard
            .admit(&vote(5, 0, VoteKind::Precommit, Some(1)))
            .unwrap();
        // The same vote again (a WAL replay) is fine.
        guard
            .admit(&vote(5, 0, VoteKind::Prevote, Some(1)))
            .unwrap();
        assert!(matches!(
            guard.admit(&vote(5, 0, VoteKind::Prevote, None)),
            Err(Refusal::Conflicting { .. })
        ));
        guard.admit(&vote(5, 1, VoteKind::Prevote, None)).unwrap();
        drop(guard);
        // A restarted node (or one restored from a backup) remembers.
        let guard = VoteGuard::open(dir.path()).unwrap();
        assert!(matches!(
            guard.admit(&vote(5, 1, VoteKind::Prevote, Some(2))),
            Err(Refusal::Conflicting { .. })
        ));
        assert_eq!(
            guard.admit(&vote(4, 0, VoteKind::Prevote, Some(1))),
            Err(Refusal::BelowSignedHeight {
                height: 4,
                signed: 5
            })
        );
        guard.admit(&vote(6, 0, VoteKind::Prevote, None)).unwrap();
        assert!(guard
            .admit(&vote(5, 0, VoteKind::Prevote, Some(1)))
            .is_err());
    }

    #[test]
    fn a_damaged_record_stops_the_node_rather_than_forget() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), b"{not json\n").unwrap();
        let err = VoteGuard::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("could sign twice"), "{err}");
    }

    #[test]
    fn a_line_cut_short_by_a_crash_is_dropped_and_the_record_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let guard = VoteGuard::open(dir.path()).unwrap();
        guard
            .admit(&vote(5, 0, VoteKind::Prevote, Some(1)))
            .unwrap();
        drop(guard);
        let mut file = OpenOptions::new()
            .append(true)
            .open(dir.path().join(FILE))
            .unwrap();
        file.write_all(b"{\"kind\":\"Prec").unwrap();
        let guard = VoteGuard::open(dir.path()).unwrap();
        guard.admit(&vote(5, 0, VoteKind::Precommit, None)).unwrap();
        drop(guard);
        let guard = VoteGuard::open(dir.path()).unwrap();
        assert!(guard
            .admit(&vote(5, 0, VoteKind::Precommit, Some(1)))
            .is_err());
        assert!(guard.admit(&vote(5, 0, VoteKind::Prevote, None)).is_err());
    }

    /// The disk fills in the middle of a line: the line is cut off, the
    /// vote refused, and once there is room the record goes on and reads
    /// back (the part left behind once ran into the next line, and a
    /// validator of the chaos soak no longer started).
    #[test]
    fn a_line_cut_short_by_a_full_disk_is_cut_off_and_the_record_reads_back() {
        // Two pages: one holds a filler, the record the other.
        let disk = SmallDisk::mount("8k");
        std::fs::write(disk.path().join("filler"), [0; 4096]).unwrap();
        let guard = VoteGuard::open(disk.path()).unwrap();
        let mut height = 1;
        let refused = loop {
            match guard.admit(&vote(height, 0, VoteKind::Prevote, Some(1))) {
                Ok(()) => height += 1,
                Err(refusal) => break refusal,
            }
            assert!(height < 1_000, "the disk never filled");
        };
        assert!(matches!(refused, Refusal::Io { .. }), "{refused}");
        std::fs::remove_file(disk.path().join("filler")).unwrap();
        guard
            .admit(&vote(height, 0, VoteKind::Prevote, Some(1)))
            .unwrap();
        drop(guard);
        let guard = VoteGuard::open(disk.path()).unwrap();
        assert!(matches!(
            guard.admit(&vote(height, 0, VoteKind::Prevote, None)),
            Err(Refusal::Conflicting { .. })
        ));
        assert!(matches!(
            guard.admit(&vote(height - 1, 0, VoteKind::Prevote, Some(1))),
            Err(Refusal::BelowSignedHeight { .. })
        ));
    }

    #[test]
    fn the_record_is_compacted_to_its_highest_height() {
        let dir = tempfile::tempdir().unwrap();
        let guard = VoteGuard::open(dir.path()).unwrap();
        for height in 1..=2_000 {
            guard
                .admit(&vote(height, 0, VoteKind::Prevote, Some(1)))
                .unwrap();
        }
        let size = std::fs::metadata(dir.path().join(FILE)).unwrap().len();
        assert!(size <= COMPACT_BYTES, "{size} bytes");
        drop(guard);
        let guard = VoteGuard::open(dir.path()).unwrap();
        assert!(guard
            .admit(&vote(1_999, 0, VoteKind::Prevote, None))
            .is_err());
        assert!(guard
            .admit(&vote(2_000, 0, VoteKind::Prevote, None))
            .is_err());
        guard
            .admit(&vote(2_000, 0, VoteKind::Prevote, Some(1)))
            .unwrap();
    }
}
