//! The provider's data-plane peer: renters' sessions in their rentals
//! arrive on it (`rental_access`), and, when the provider keeps its
//! outputs ([`Outputs::Keep`]), it keeps the results of the jobs this
//! machine ran and serves them peer to peer, so that their files never pass
//! through the validators' disks (they keep the manifest alone).
//!
//! Who may read a result is the chain's word, as on a node (its
//! `ReadScope`): the order's client and the accounts it shared the result with
//! (and the provider of a lease of the same client whose spec starts with
//! it, for a saved workspace, or names a file of it as an input,
//! `InputSource::KeptResult`, for a job's result). The peer
//! asks its node about the orders a requested blob belongs to, per request;
//! which blobs belong to which order it keeps in `results/`, one manifest
//! per order, so that a restarted agent serves what it kept before. A
//! result is kept [`Retention::keep_for`] after its job ended, then
//! dropped; its files are tagged in the store by order, so a file that two
//! results share stays while either does.

use crate::images::ImageCache;
use gpunet_client::images::ImageGate;
use gpunet_client::NodeClient;
use gpunet_p2p::access::AccessHandler;
use gpunet_p2p::{P2pError, Peer, PeerAddr, PeerConfig, Reach, ReadGate};
use gpunet_primitives::manifest::Manifest;
use gpunet_primitives::{Address, Hash, InputSource, Keypair, OrderId};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How the provider's peer is reached, and what it keeps.
#[derive(Clone, Debug)]
pub struct DataPlaneConfig {
    /// Where it listens, or the relay it is reached through.
    pub reach: Reach,
    /// The addresses announced on chain; empty: those its socket reports
    /// (a machine behind NAT names its public address here).
    pub announce: Vec<SocketAddr>,
    /// Where finished jobs' files go.
    pub outputs: Outputs,
    /// Most bytes of pushed images' archives kept ([`ImageCache`]).
    pub image_budget: u64,
}

impl DataPlaneConfig {
    /// Reached as `reach` says, announcing what the socket reports,
    /// uploading outputs to the nodes.
    pub fn new(reach: Reach) -> DataPlaneConfig {
        DataPlaneConfig {
            reach,
            announce: Vec::new(),
            outputs: Outputs::UploadToNodes,
            image_budget: DataPlaneConfig::IMAGE_BUDGET,
        }
    }

    /// 50 GiB of pushed images by default: a few CUDA training images.
    pub const IMAGE_BUDGET: u64 = 50 << 30;
}

/// Where a finished job's files go; its manifest goes to the nodes either way.
#[derive(Clone, Debug, Default)]
pub enum Outputs {
    /// Uploaded to the node, whose validators replicate and serve them.
    #[default]
    UploadToNodes,
    /// Kept by the agent's peer and served from it to their readers:
    /// validators keep only manifests.
    Keep(Retention),
}

/// How long kept results stay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// How long a result is kept (and served) after its job ended.
    pub keep_for: Duration,
    /// How often results older than `keep_for` are dropped and their
    /// files deleted.
    pub sweep_every: Duration,
}

impl Default for Retention {
    fn default() -> Retention {
        Retention {
            keep_for: Retention::KEEP_FOR,
            sweep_every: Retention::SWEEP_EVERY,
        }
    }
}

impl Retention {
    /// A week: as long as nodes keep the files of results they hold
    /// (`gpunet_node::BlobRetention`'s default).
    pub const KEEP_FOR: Duration = Duration::from_secs(7 * 24 * 3600);
    /// Every ten minutes.
    pub const SWEEP_EVERY: Duration = Duration::from_secs(600);
}

/// Why a result could not be kept for serving.
#[derive(Debug, thiserror::Error)]
pub enum KeepError {
    /// The peer's store refused a file.
    #[error(transparent)]
    Store(#[from] P2pError),
    /// A file's content changed between hashing and keeping.
    #[error("{} changed while it was kept ({kept}, the manifest says {listed})", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
        /// What the store got.
        kept: Hash,
        /// What the manifest lists.
        listed: Hash,
    },
    /// The order's record could not be written.
    #[error("cannot record order {order}'s result: {source}")]
    Record {
        /// The order.
        order: OrderId,
        /// Why.
        source: std::io::Error,
    },
}

/// The agent's running peer, with the results and images it keeps.
pub struct AgentPeer {
    peer: Arc<Peer>,
    gate: Arc<ResultGate>,
    images: Arc<ImageCache>,
    records: PathBuf,
    announce: Vec<SocketAddr>,
    /// Drops expired results, when it keeps them.
    sweeper: Option<tokio::task::JoinHandle<()>>,
}

/// The store's tag prefix of `order`'s files.
fn tag_prefix(order: OrderId) -> String {
    format!("order/{order}/")
}

impl AgentPeer {
    /// Starts the peer of `key`'s account, storing under `dir`, serving
    /// renters' sessions with `access` and the results recorded there
    /// before, dropping them once they are older than the retention's
    /// `keep_for`.
    pub async fn start(
        key: &Keypair,
        dir: &Path,
        config: DataPlaneConfig,
        node: NodeClient,
        access: Arc<dyn AccessHandler>,
    ) -> Result<AgentPeer, P2pError> {
        let records = dir.join("results");
        std::fs::create_dir_all(&records)
            .map_err(|e| P2pError::Start(format!("{}: {e}", records.display())))?;
        let gate = Arc::new(ResultGate {
            node,
            orders: RwLock::default(),
        });
        gate.load(&records)
            .map_err(|e| P2pError::Start(format!("{}: {e}", records.display())))?;
        let retention = match config.outputs {
            Outputs::UploadToNodes => None,
            Outputs::Keep(retention) => Some(retention),
        };
        let peer_config = PeerConfig {
            dir: dir.join("store"),
            reach: config.reach,
            connect_timeout: PeerConfig::CONNECT_TIMEOUT,
            // Results let go and images dropped from the cache are
            // deleted at the next collection.
            collect_every: Some(retention.map_or(Retention::SWEEP_EVERY, |r| r.sweep_every)),
        };
        let image_gate = ImageGate::new(gate.node.clone());
        let either = Arc::new(EitherGate(gate.clone(), image_gate.clone()));
        let peer = Peer::start_with_access(key, peer_config, either, Some(access)).await?;
        let peer = Arc::new(peer);
        let images = ImageCache::open(
            peer.clone(),
            image_gate,
            dir.join("images.json"),
            config.image_budget,
        )
        .map_err(|e| P2pError::Start(format!("the image cache in {}: {e}", dir.display())))?;
        // Results kept before, while outputs were kept, are still dropped
        // on time.
        let sweeper = retention.map(|retention| {
            tokio::spawn(sweep_forever(
                peer.clone(),
                gate.clone(),
                records.clone(),
                retention,
            ))
        });
        Ok(AgentPeer {
            peer,
            gate,
            images,
            records,
            announce: config.announce,
            sweeper,
        })
    }

    /// Writes a file of a result this peer keeps to `to`, as its store
    /// verified it when it was kept.
    pub async fn export(&self, blob: Hash, to: &Path) -> Result<u64, P2pError> {
        self.peer.export(blob, to).await
    }

    /// The pushed images it fetched, loads and serves.
    pub fn images(&self) -> &ImageCache {
        &self.images
    }

    /// Whether it keeps finished jobs' files ([`Outputs::Keep`]).
    pub fn keeps_outputs(&self) -> bool {
        self.sweeper.is_some()
    }

    /// Where readers reach it: the announced addresses, or those it has.
    pub fn addr(&self) -> PeerAddr {
        let mut addr = self.peer.addr();
        if !self.announce.is_empty() {
            addr.direct = self.announce.clone();
        }
        addr
    }

    /// Keeps `files` (each path with the hash `manifest` lists for it) of
    /// `order`'s result, and serves them from now on. A result that cannot
    /// be kept whole is not kept at all: the files it had tagged are let go,
    /// as no record would ever sweep them.
    pub async fn keep(
        &self,
        order: OrderId,
        manifest: &Manifest,
        files: &[(PathBuf, Hash)],
    ) -> Result<(), KeepError> {
        let kept = self.keep_tagged(order, manifest, files).await;
        if kept.is_err() {
            if let Err(e) = self.peer.untag_prefix(&tag_prefix(order)).await {
                tracing::warn!("cannot let go of order {order}'s partly kept result: {e}");
            }
        }
        kept
    }

    async fn keep_tagged(
        &self,
        order: OrderId,
        manifest: &Manifest,
        files: &[(PathBuf, Hash)],
    ) -> Result<(), KeepError> {
        let prefix = tag_prefix(order);
        for (i, (path, listed)) in files.iter().enumerate() {
            let (kept, _) = self
                .peer
                .add_file_tagged(path, &format!("{prefix}{i}"))
                .await?;
            if kept != *listed {
                return Err(KeepError::Changed {
                    path: path.clone(),
                    kept,
                    listed: *listed,
                });
            }
        }
        let record = self.records.join(order.to_string());
        std::fs::write(&record, manifest.encode())
            .map_err(|source| KeepError::Record { order, source })?;
        self.gate.add(order, manifest);
        Ok(())
    }

    /// Stops serving.
    pub async fn shutdown(&self) {
        if let Some(sweeper) = &self.sweeper {
            sweeper.abort();
        }
        self.peer.shutdown().await;
    }
}

/// Drops the results kept longer than `keep_for`, every `sweep_every`:
/// their records, their place in the gate and their tags (the store deletes
/// the files no other result holds at its next collection).
async fn sweep_forever(
    peer: Arc<Peer>,
    gate: Arc<ResultGate>,
    records: PathBuf,
    Retention {
        keep_for,
        sweep_every,
    }: Retention,
) {
    loop {
        for order in expired(&records, keep_for) {
            gate.remove(order);
            match peer.untag_prefix(&tag_prefix(order)).await {
                Ok(_) => {
                    let _ = std::fs::remove_file(records.join(order.to_string()));
                    tracing::info!("order {order}'s result is no longer kept (kept {keep_for:?})");
                }
                Err(e) => tracing::warn!("cannot drop order {order}'s result: {e}"),
            }
        }
        tokio::time::sleep(sweep_every).await;
    }
}

/// The orders whose records were written more than `keep_for` ago.
fn expired(records: &Path, keep_for: Duration) -> Vec<OrderId> {
    let Ok(entries) = std::fs::read_dir(records) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|written| written.elapsed().ok())
                .is_some_and(|age| age > keep_for)
        })
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect()
}

/// Lets a reader have a blob when either gate does: a result's file, or a
/// pushed image's archive.
struct EitherGate(Arc<ResultGate>, ImageGate);

impl ReadGate for EitherGate {
    fn may_read(&self, reader: Address, blob: Hash) -> Pin<Box<dyn Future<Output = bool> + Send>> {
        if self.1.serves(&blob) {
            return self.1.may_read(reader, blob);
        }
        self.0.may_read(reader, blob)
    }
}

/// Lets a reader have a blob when it belongs to the result of an order the
/// reader may read on chain.
struct ResultGate {
    node: NodeClient,
    /// The orders whose result each kept blob belongs to.
    orders: RwLock<BTreeMap<Hash, BTreeSet<OrderId>>>,
}

impl ResultGate {
    fn add(&self, order: OrderId, manifest: &Manifest) {
        let mut orders = self.orders.write().unwrap_or_else(|p| p.into_inner());
        for blob in manifest
            .files
            .iter()
            .map(|f| f.hash)
            .chain([manifest.root()])
        {
            orders.entry(blob).or_default().insert(order);
        }
    }

    fn remove(&self, order: OrderId) {
        let mut orders = self.orders.write().unwrap_or_else(|p| p.into_inner());
        orders.retain(|_, of| {
            of.remove(&order);
            !of.is_empty()
        });
    }

    /// Reads the records kept before; one that does not decode is skipped
    /// with a warning (its result is no longer served).
    fn load(&self, records: &Path) -> std::io::Result<()> {
        for entry in std::fs::read_dir(records)? {
            let path = entry?.path();
            let order = path.file_name().and_then(|n| n.to_str()?.parse().ok());
            let manifest = std::fs::read(&path)
                .ok()
                .and_then(|bytes| Manifest::decode(&bytes).ok());
            match (order, manifest) {
                (Some(order), Some(manifest)) => self.add(order, &manifest),
                _ => tracing::warn!("skipping {}: not a kept result", path.display()),
            }
        }
        Ok(())
    }
}

impl ReadGate for ResultGate {
    fn may_read(&self, reader: Address, blob: Hash) -> Pin<Box<dyn Future<Output = bool> + Send>> {
        let orders: Vec<OrderId> = self
            .orders
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&blob)
            .map(|orders| orders.iter().copied().collect())
            .unwrap_or_default();
        let node = self.node.clone();
        Box::pin(async move {
            let mut kept = Vec::new();
            for id in orders {
                match node.order(id).await {
                    Ok(order)
                        if order.client == reader
                            || order.result_readers.binary_search(&reader).is_ok() =>
                    {
                        return true
                    }
                    Ok(order) => kept.push(order),
                    Err(e) => tracing::warn!("cannot ask the node about order {id}: {e}"),
                }
            }
            leases_one_that_starts_from(&node, reader, blob, &kept).await
        })
    }
}

/// Whether `reader` is the provider of a lease of the same client as one
/// of `kept` (whose results hold `blob`) that starts from that result: its
/// spec starts with the workspace it saved, or names `blob` as an input
/// taken from it. The ledger checked, when the lease's order was placed,
/// that the result is its client's; that provider fetches the files
/// before the run starts.
async fn leases_one_that_starts_from(
    node: &NodeClient,
    reader: Address,
    blob: Hash,
    kept: &[gpunet_types::OrderView],
) -> bool {
    if kept.is_empty() {
        return false;
    }
    let leases = match node.provider_leases(&reader).await {
        Ok(leases) => leases,
        Err(e) => {
            tracing::warn!("cannot ask the node about {reader}'s leases: {e}");
            return false;
        }
    };
    let kept_for = |client: Address, order: OrderId| {
        kept.iter()
            .any(|result| result.id == order && result.client == client)
    };
    leases.iter().any(|lease| {
        let workspace = lease
            .spec
            .workspace
            .is_some_and(|w| kept_for(lease.client, w.order));
        let input = lease.spec.inputs.iter().any(|input| match input.source {
            InputSource::KeptResult { order } => {
                input.hash == blob && kept_for(lease.client, order)
            }
            InputSource::Held { .. } => false,
        });
        workspace || input
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpunet_p2p::access::{AccessRequest, ProviderSession};

    /// Refuses every renter: these tests open no session.
    struct NoSessions;

    impl AccessHandler for NoSessions {
        fn serve(
            &self,
            _: Address,
            _: AccessRequest,
            _: ProviderSession,
        ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
            Box::pin(async {})
        }
    }

    /// A result whose file changed after it was hashed is not kept, and
    /// the files it had already put in the store go at the next collection
    /// rather than stay tagged forever.
    #[tokio::test]
    async fn a_result_that_cannot_be_kept_whole_leaves_no_file_behind() {
        let dir = tempfile::tempdir().unwrap();
        let config = DataPlaneConfig {
            outputs: Outputs::Keep(Retention {
                keep_for: Duration::from_secs(3600),
                sweep_every: Duration::from_millis(100),
            }),
            ..DataPlaneConfig::new(Reach::Direct {
                bind: "127.0.0.1:0".parse().unwrap(),
                relay: None,
            })
        };
        // No node: nothing here is read.
        let nobody = Keypair::generate().address();
        let node = NodeClient::new(&format!("https://127.0.0.1:9#{nobody}")).unwrap();
        let peer = AgentPeer::start(
            &Keypair::generate(),
            &dir.path().join("peer"),
            config,
            node,
            Arc::new(NoSessions),
        )
        .await
        .unwrap();
        let outputs = dir.path().join("outputs");
        std::fs::create_dir_all(&outputs).unwrap();
        std::fs::write(outputs.join("a"), "first file").unwrap();
        std::fs::write(outputs.join("b"), "second file").unwrap();
        let mut manifest = Manifest::default();
        let mut files = manifest.add_dir(&outputs, "outputs/").unwrap();
        files.sort();
        let first = files[0].1;
        // The second changed after it was listed.
        files[1].1 = Hash::digest(b"what it held before");

        let kept = peer.keep(7, &manifest, &files).await;
        assert!(matches!(kept, Err(KeepError::Changed { .. })), "{kept:?}");
        let mut gone = false;
        for _ in 0..100 {
            if peer.peer.size(first).await.unwrap().is_none() {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(gone, "the first file stayed in the store");
        assert!(!dir.path().join("peer/results/7").exists());
        peer.shutdown().await;
    }
}
