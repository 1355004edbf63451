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
//! signature, no conflict. A refused vote goes out with no valid signature:
//! no peer counts it, and the node votes again once it has caught up past
//! the heights it voted on. This is CometBFT's `priv_validator_state.json`.

use gpunet_primitives::{Vote, VoteKind};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The file in the consensus home holding what was signed.
pub const FILE: &str = "signed-votes.json";

/// What this validator signed at its highest height.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Signed {
    height: u64,
    /// Every vote signed at `height`, by round and step.
    votes: Vec<Vote>,
}

/// Why a vote was not signed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
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

pub struct VoteGuard {
    path: PathBuf,
    signed: Mutex<Signed>,
}

impl VoteGuard {
    /// The guard of the validator whose consensus home is `home`.
    pub fn open(home: &Path) -> std::io::Result<VoteGuard> {
        let path = home.join(FILE);
        let signed = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::other(format!(
                    "{} is unreadable ({e}); without it this validator could sign twice: \
                     restore it, or remove it only once the chain is past every height it \
                     signed at",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Signed::default(),
            Err(e) => return Err(e),
        };
        Ok(VoteGuard {
            path,
            signed: Mutex::new(signed),
        })
    }

    /// Records `vote` as signed, on disk, unless signing it could conflict
    /// with a vote signed before.
    pub fn admit(&self, vote: &Vote) -> Result<(), Refusal> {
        let mut signed = self.signed.lock().unwrap_or_else(|e| e.into_inner());
        if vote.height < signed.height {
            return Err(Refusal::BelowSignedHeight {
                height: vote.height,
                signed: signed.height,
            });
        }
        let mut next = if vote.height > signed.height {
            Signed {
                height: vote.height,
                votes: Vec::new(),
            }
        } else {
            signed.clone()
        };
        let same_slot = next
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
            None => next.votes.push(vote.clone()),
        }
        self.persist(&next)?;
        *signed = next;
        Ok(())
    }

    /// Writes `signed` in place of the file, synced: written whole to a
    /// temporary file, synced, renamed over it, and the directory synced.
    fn persist(&self, signed: &Signed) -> Result<(), Refusal> {
        let io = |e: std::io::Error| Refusal::Io {
            path: self.path.clone(),
            reason: e.to_string(),
        };
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec(signed).map_err(|e| io(std::io::Error::other(e)))?;
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        file.write_all(&bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpunet_primitives::{Hash, Keypair};

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
    fn an_unreadable_record_stops_the_node_rather_than_forget() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), b"{not json").unwrap();
        let err = VoteGuard::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("could sign twice"), "{err}");
    }
}
