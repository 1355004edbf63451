//! Joining a chain from a state snapshot instead of replaying it from
//! genesis, and taking the snapshots that others join from.
//!
//! A validator takes a snapshot after every block whose height is a multiple
//! of its schedule (`gpunet_node::Snapshots`), in a thread of its own while
//! consensus goes on: the ledger's read transaction keeps the state of that
//! block. The snapshot carries the block's commit certificate.
//!
//! A joining node fetches the newest snapshot from one peer (a
//! [`SnapshotPeer`]: a node's API, failing over along its address list) and
//! trusts nothing it says:
//! 1. the certificate must name the snapshot's block and carry valid
//!    precommit signatures of genesis validators holding more than a third of
//!    the genesis power: at least one of them is honest, so the block was
//!    decided (the light-client rule of CometBFT with the genesis set as the
//!    trusted one);
//! 2. the state is checked against that block's state root, chunk by chunk
//!    (`gpunet_ledger::snapshot`);
//! 3. the certificate must then also carry more than two thirds of the power
//!    of the set the restored state records for that height.
//!
//! A peer keeps its newest few snapshots only: one pruned while it is
//! fetched (its chunks gone, its height no longer listed) sends the restore
//! back to the peer's newest, at most [`SNAPSHOT_RESTARTS`] times.
//!
//! The certificate is stored, so the node's stores agree at the snapshot's
//! height, serve blocks from there on, and consensus resumes at the next
//! height. **Limit:** once validators holding two thirds of the genesis power
//! have all left, rule 1 refuses every snapshot and a node joins by replaying
//! blocks (a trusted recent block hash would lift it).

use crate::certificates::CertificateStore;
use crate::context::GpunetContext;
use crate::CERTIFICATES_FILE;
use gpunet_client::{ClientError, NodeClient};
use gpunet_ledger::snapshot::{Restore, SnapshotManifest, MAX_CHUNK_BYTES, MAX_MANIFEST_BYTES};
use gpunet_ledger::{Genesis, SnapshotError};
use gpunet_node::{SnapshotFile, Snapshots};
use gpunet_primitives::{Address, Block, VoteKind};
use gpunet_types::api::SnapshotInfo;
use malachitebft_app_channel::app::types::core::CommitCertificate;
use std::collections::BTreeSet;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The largest certificate a joining node takes: a signature and an address
/// per validator.
const MAX_CERTIFICATE_BYTES: usize = 1 << 20;

/// Tries per chunk before the restore gives up on its peer.
const CHUNK_ATTEMPTS: usize = 3;

/// How many times a restore starts over at its peer's newest snapshot when
/// the one it was fetching was pruned under it.
pub const SNAPSHOT_RESTARTS: usize = 3;

/// Where a joining node fetches a snapshot: a node's API ([`NodeClient`]),
/// or, in tests, a peer that prunes under it.
pub trait SnapshotPeer: Sync {
    /// The snapshots it serves, newest first.
    fn snapshots(&self) -> impl Future<Output = Result<Vec<SnapshotInfo>, ClientError>> + Send;
    /// One file of the snapshot at `height`, refused past `max_bytes`.
    fn snapshot_file(
        &self,
        height: u64,
        file: &str,
        max_bytes: usize,
    ) -> impl Future<Output = Result<Vec<u8>, ClientError>> + Send;
    /// Who it is, for the log.
    fn name(&self) -> String;
}

impl SnapshotPeer for NodeClient {
    fn snapshots(&self) -> impl Future<Output = Result<Vec<SnapshotInfo>, ClientError>> + Send {
        NodeClient::snapshots(self)
    }

    fn snapshot_file(
        &self,
        height: u64,
        file: &str,
        max_bytes: usize,
    ) -> impl Future<Output = Result<Vec<u8>, ClientError>> + Send {
        NodeClient::snapshot_file(self, height, file, max_bytes)
    }

    fn name(&self) -> String {
        self.address().to_string()
    }
}

/// Why a node could not join from a peer's snapshot.
#[derive(Debug, thiserror::Error)]
pub enum StateSyncError {
    /// The peer did not answer as a node does.
    #[error("the snapshot's peer: {0}")]
    Peer(#[from] ClientError),
    /// The peer pruned the snapshot being fetched, again and again.
    #[error("the peer pruned the snapshot at height {height} while it was fetched, {restarts} times in a row; try again, or join from another peer")]
    Pruned {
        /// The last snapshot pruned.
        height: u64,
        /// How many times the restore started over.
        restarts: usize,
    },
    /// The peer serves no snapshot.
    #[error("the peer serves no snapshot yet (nodes take one every so many blocks)")]
    NoSnapshot,
    /// The certificate does not decode.
    #[error("the snapshot's certificate does not decode: {0}")]
    CertificateUndecodable(std::io::Error),
    /// The certificate is of another block than the snapshot's.
    #[error("the snapshot's certificate is for block {certified} at height {certified_height}, not its block {block} at {height}")]
    CertificateForOtherBlock {
        /// The block the certificate names.
        certified: gpunet_primitives::Hash,
        /// At what height.
        certified_height: u64,
        /// The snapshot's block.
        block: gpunet_primitives::Hash,
        /// At what height.
        height: u64,
    },
    /// A signature in the certificate is not its validator's.
    #[error("the snapshot's certificate holds a signature that is not {0}'s")]
    BadSignature(Address),
    /// Too little power signed.
    #[error("the snapshot's block is signed by {signed} of the {total} voting power of {set}: more than {needed} is needed")]
    TooLittlePower {
        /// The power whose signatures are valid.
        signed: u64,
        /// The set's power.
        total: u64,
        /// Which set: the genesis validators, or those at the block's height.
        set: &'static str,
        /// The share needed ("a third", "two thirds").
        needed: &'static str,
    },
    /// The snapshot itself is wrong (the peer is).
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// The certificate store.
    #[error(transparent)]
    Store(#[from] crate::certificates::StoreError),
}

/// What a restore brought in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restored {
    /// The height of the snapshot's block: the ledger's head now.
    pub height: u64,
    /// How many chunks were fetched.
    pub chunks: usize,
    /// Their size in bytes.
    pub bytes: u64,
}

/// Restores the ledger at `ledger_path` (replacing what is there) and the
/// certificate of its head under the consensus `home` from the newest
/// snapshot `peer` serves, checked as the module says; starts over at the
/// newest when the peer prunes the one it fetches. A snapshot refused
/// leaves `ledger_path` as it was.
pub async fn restore_from_snapshot(
    peer: &impl SnapshotPeer,
    genesis: &Genesis,
    ledger_path: &Path,
    home: &Path,
) -> Result<Restored, StateSyncError> {
    let mut restarts = 0;
    loop {
        match restore_newest(peer, genesis, ledger_path, home).await {
            Err(Fetch::Pruned { height }) if restarts < SNAPSHOT_RESTARTS => {
                restarts += 1;
                tracing::warn!(
                    "{} pruned the snapshot at {height} while it was fetched: starting over at its newest",
                    peer.name()
                );
            }
            Err(Fetch::Pruned { height }) => {
                return Err(StateSyncError::Pruned { height, restarts })
            }
            Err(Fetch::Failed(e)) => return Err(e),
            Ok(restored) => return Ok(restored),
        }
    }
}

/// How one attempt at a snapshot ended, when not restored.
enum Fetch {
    /// The peer no longer lists the snapshot: a newer one may do.
    Pruned {
        height: u64,
    },
    Failed(StateSyncError),
}

impl<E: Into<StateSyncError>> From<E> for Fetch {
    fn from(e: E) -> Fetch {
        Fetch::Failed(e.into())
    }
}

/// [`restore_from_snapshot`] of the newest snapshot `peer` lists now.
async fn restore_newest(
    peer: &impl SnapshotPeer,
    genesis: &Genesis,
    ledger_path: &Path,
    home: &Path,
) -> Result<Restored, Fetch> {
    let newest = peer
        .snapshots()
        .await?
        .into_iter()
        .next()
        .ok_or(StateSyncError::NoSnapshot)?;
    let height = newest.height;
    let manifest = SnapshotManifest::decode(
        &peer
            .snapshot_file(height, "manifest", MAX_MANIFEST_BYTES)
            .await?,
    )?;
    let certificate: CommitCertificate<GpunetContext> = borsh::from_slice(
        &peer
            .snapshot_file(height, "certificate", MAX_CERTIFICATE_BYTES)
            .await?,
    )
    .map_err(StateSyncError::CertificateUndecodable)?;
    let genesis_set: Vec<(Address, u64)> = genesis.validators.iter().map(|v| (*v, 1)).collect();
    check_certificate(
        &certificate,
        &manifest.block,
        &genesis.chain_id,
        &genesis_set,
        Trust::MoreThanAThird,
    )?;
    tracing::info!(
        height,
        chunks = manifest.chunks.len(),
        "restoring the state at height {height} from {}",
        peer.name()
    );
    let started = Instant::now();
    let block = manifest.block.clone();
    let mut restore = Restore::begin(ledger_path, genesis, manifest)?;
    let mut bytes = 0u64;
    while restore.received() < restore.chunks() {
        let index = restore.received();
        let chunk = match fetch_chunk(peer, height, index).await {
            Ok(chunk) => chunk,
            // Gone from the list too: pruned, not a fault of the peer's.
            Err(e) if !peer.snapshots().await?.iter().any(|s| s.height == height) => {
                tracing::debug!("chunk {index} of the snapshot at {height}: {e}");
                return Err(Fetch::Pruned { height });
            }
            Err(e) => return Err(e.into()),
        };
        bytes = bytes.saturating_add(chunk.len() as u64);
        restore.add_chunk(&chunk)?;
        if (index + 1) % 16 == 0 {
            tracing::info!("restored {} of {} chunks", index + 1, restore.chunks());
        }
    }
    let chunks = restore.chunks();
    let owned = genesis.clone();
    let restored = tokio::task::spawn_blocking(move || restore.finish(&owned))
        .await
        .map_err(|e| SnapshotError::Ledger(std::io::Error::other(e).into()))?
        .map_err(StateSyncError::from)?;
    check_certificate(
        &certificate,
        &block,
        &genesis.chain_id,
        &restored.ledger().validator_set(height),
        Trust::MoreThanTwoThirds,
    )?;
    // The certificate first: a node's certificate store may be ahead of its
    // ledger, never behind.
    std::fs::create_dir_all(home).map_err(|e| SnapshotError::Ledger(e.into()))?;
    CertificateStore::open(&home.join(CERTIFICATES_FILE))?.put(&certificate)?;
    drop(restored.install().map_err(SnapshotError::Ledger)?);
    tracing::info!(
        height,
        chunks,
        bytes,
        "restored the state at height {height} in {:.1?}",
        started.elapsed()
    );
    Ok(Restored {
        height,
        chunks,
        bytes,
    })
}

async fn fetch_chunk(
    peer: &impl SnapshotPeer,
    height: u64,
    index: usize,
) -> Result<Vec<u8>, ClientError> {
    let name = SnapshotFile::Chunk(index as u32).to_string();
    let mut attempt = 1;
    loop {
        match peer.snapshot_file(height, &name, MAX_CHUNK_BYTES).await {
            Ok(chunk) => return Ok(chunk),
            Err(e) if attempt < CHUNK_ATTEMPTS => {
                tracing::warn!("fetching {name} of the snapshot at {height}: {e}; trying again");
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// How much of a set's power a certificate must carry.
#[derive(Clone, Copy, Debug)]
enum Trust {
    /// At least one honest signer, if at most a third of the set is not.
    MoreThanAThird,
    /// What deciding a block takes.
    MoreThanTwoThirds,
}

/// Checks that `certificate` certifies `block` with valid precommit
/// signatures from members of `set` holding the power `trust` asks.
fn check_certificate(
    certificate: &CommitCertificate<GpunetContext>,
    block: &Block,
    chain_id: &str,
    set: &[(Address, u64)],
    trust: Trust,
) -> Result<(), StateSyncError> {
    let hash = block.header.hash();
    if certificate.value_id.0 != hash || certificate.height.0 != block.header.height {
        return Err(StateSyncError::CertificateForOtherBlock {
            certified: certificate.value_id.0,
            certified_height: certificate.height.0,
            block: hash,
            height: block.header.height,
        });
    }
    let mut counted = BTreeSet::new();
    let mut signed = 0u64;
    for commit in &certificate.commit_signatures {
        let validator = commit.address.0;
        let Some((_, power)) = set.iter().find(|(v, _)| *v == validator) else {
            continue;
        };
        let vote = gpunet_primitives::Vote {
            kind: VoteKind::Precommit,
            height: certificate.height.0,
            round: certificate.round.as_i64(),
            block: Some(hash),
            validator,
        };
        if !validator.verify(&vote.sign_bytes(chain_id), &commit.signature) {
            return Err(StateSyncError::BadSignature(validator));
        }
        if counted.insert(validator) {
            signed = signed.saturating_add(*power);
        }
    }
    let total = set
        .iter()
        .fold(0u64, |sum, (_, power)| sum.saturating_add(*power));
    let (enough, set_name, needed) = match trust {
        Trust::MoreThanAThird => (
            u128::from(signed) * 3 > u128::from(total),
            "the genesis validators",
            "a third",
        ),
        Trust::MoreThanTwoThirds => (
            u128::from(signed) * 3 > u128::from(total) * 2,
            "the validators at its height",
            "two thirds",
        ),
    };
    if !enough {
        return Err(StateSyncError::TooLittlePower {
            signed,
            total,
            set: set_name,
            needed,
        });
    }
    Ok(())
}

/// Takes snapshots on `snapshots`' schedule, one at a time.
pub(crate) struct SnapshotTaker {
    snapshots: Snapshots,
    writing: Arc<AtomicBool>,
}

impl SnapshotTaker {
    pub(crate) fn new(snapshots: Snapshots) -> SnapshotTaker {
        SnapshotTaker {
            snapshots,
            writing: Arc::default(),
        }
    }

    /// After the block `certificate` decided was applied to `ledger`: writes
    /// a snapshot of it in a thread of its own when one is due and none is
    /// being written.
    pub(crate) fn after_commit(
        &self,
        ledger: &gpunet_ledger::Ledger,
        certificate: &CommitCertificate<GpunetContext>,
    ) {
        let height = certificate.height.0;
        if !self.snapshots.due(height) {
            return;
        }
        if self.writing.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                height,
                "skipping the snapshot at {height}: the previous one is still being written"
            );
            return;
        }
        let source = match ledger.snapshot() {
            Ok(source) => source,
            Err(e) => {
                tracing::error!(height, "cannot take a snapshot: {e}");
                self.writing.store(false, Ordering::Release);
                return;
            }
        };
        let certificate = borsh::to_vec(certificate).expect("certificates encode");
        let snapshots = self.snapshots.clone();
        let writing = self.writing.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            match snapshots.write(
                &source,
                &certificate,
                gpunet_ledger::snapshot::DEFAULT_CHUNK_BYTES,
            ) {
                Ok(info) => tracing::info!(
                    height,
                    chunks = info.chunks,
                    bytes = info.bytes,
                    "snapshot of the state at {height} written in {:.1?}",
                    started.elapsed()
                ),
                Err(e) => tracing::error!(height, "writing the snapshot at {height}: {e}"),
            }
            writing.store(false, Ordering::Release);
        });
    }
}
