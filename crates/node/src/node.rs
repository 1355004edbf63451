//! Assembles a node: ledger, block producer, event bus and blob store.

use crate::blobs::{BlobStore, DEFAULT_MAX_BLOB_BYTES, DEFAULT_MIN_FREE_BYTES};
use crate::consensus::{Consensus, SoloProducer, SoloProducerConfig};
use crate::history::UtilizationHistory;
use crate::live_logs::LiveLogs;
use crate::metrics::NodeMetrics;
use crate::snapshots::Snapshots;
use crate::uploads::Uploads;
use gpunet_ledger::{Genesis, Ledger, LedgerError};
use gpunet_primitives::Keypair;
use gpunet_types::BlockEvent;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use tokio::sync::broadcast;

/// A running node. Cheap to clone; every clone shares the same ledger.
#[derive(Clone)]
pub struct Node {
    /// The ledger; written only by committed blocks.
    pub ledger: Arc<RwLock<Ledger>>,
    /// How transactions get into blocks.
    pub consensus: Arc<dyn Consensus>,
    /// Every committed event, for subscribers.
    pub events: broadcast::Sender<BlockEvent>,
    /// Job inputs and results.
    pub blobs: BlobStore,
    /// Running jobs' logs.
    pub live_logs: Arc<LiveLogs>,
    /// Each account's upload quota.
    pub uploads: Arc<Uploads>,
    /// The state snapshots it serves to joining nodes.
    pub snapshots: Snapshots,
    /// What `/metrics` shows.
    pub metrics: Arc<NodeMetrics>,
    /// What the console charts over time.
    pub history: Arc<UtilizationHistory>,
}

/// Why a node's stores do not open.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The ledger's database.
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// The blob store's directory.
    #[error("blob store: {0}")]
    Blobs(#[from] crate::BlobError),
}

/// The ledger's database, under a node's data directory.
pub const LEDGER_FILE: &str = "ledger.redb";

/// The state snapshots' directory, under a node's data directory.
pub const SNAPSHOTS_DIR: &str = "snapshots";

/// What a node holds before its consensus runs: the ledger, the event bus and
/// the blob store. A consensus engine is started on these, then joined to them.
pub struct NodeBase {
    /// The ledger, at its stored head.
    pub ledger: Arc<RwLock<Ledger>>,
    /// The event bus.
    pub events: broadcast::Sender<BlockEvent>,
    /// The blob store.
    pub blobs: BlobStore,
    /// The state snapshots it serves (consensus writes them).
    pub snapshots: Snapshots,
}

/// Assembles a node: its ledger under `data_dir` (created from `genesis`
/// on first start), its blob store and its event bus. The one way every
/// node is put together, by `gpunet node` (solo or BFT), the devnet, the
/// benchmarks and the tests.
pub struct NodeBuilder {
    data_dir: PathBuf,
    genesis: Genesis,
    max_blob_bytes: u64,
    min_free_disk: u64,
    snapshot_every: u64,
}

impl NodeBuilder {
    /// A node under `data_dir`, of the chain `genesis` starts.
    pub fn new(data_dir: impl Into<PathBuf>, genesis: Genesis) -> NodeBuilder {
        NodeBuilder {
            data_dir: data_dir.into(),
            genesis,
            max_blob_bytes: DEFAULT_MAX_BLOB_BYTES,
            min_free_disk: DEFAULT_MIN_FREE_BYTES,
            snapshot_every: crate::snapshots::DEFAULT_SNAPSHOT_EVERY,
        }
    }

    /// Blocks between state snapshots (0: none), taken where consensus
    /// certifies blocks.
    pub fn snapshot_every(mut self, blocks: u64) -> NodeBuilder {
        self.snapshot_every = blocks;
        self
    }

    /// Largest blob (job input or output) the node accepts.
    pub fn max_blob_bytes(mut self, bytes: u64) -> NodeBuilder {
        self.max_blob_bytes = bytes;
        self
    }

    /// Disk the blob store leaves free for the ledger (`DEFAULT_MIN_FREE_BYTES`
    /// unless set).
    pub fn min_free_disk(mut self, bytes: u64) -> NodeBuilder {
        self.min_free_disk = bytes;
        self
    }

    /// Opens the stores, for a consensus to be started on them and joined
    /// with [`NodeBase::with_consensus`].
    pub fn open(self) -> Result<NodeBase, NodeError> {
        let ledger = Ledger::open(Some(&self.data_dir.join(LEDGER_FILE)), &self.genesis)?;
        let blobs = BlobStore::open(&self.data_dir.join("blobs"), self.max_blob_bytes)?
            .with_min_free(self.min_free_disk);
        let (events, _) = broadcast::channel(16_384);
        let mut snapshots = Snapshots::new(self.data_dir.join(SNAPSHOTS_DIR));
        snapshots.every = self.snapshot_every;
        Ok(NodeBase {
            ledger: Arc::new(RwLock::new(ledger)),
            events,
            blobs,
            snapshots,
        })
    }

    /// Opens the stores and starts producing blocks alone, signed by
    /// `validator_key` (one validator: the devnet's and `gpunet node`'s
    /// without `--bft`). Must be called inside a Tokio runtime.
    pub fn start_solo(
        self,
        validator_key: Keypair,
        producer: SoloProducerConfig,
    ) -> Result<Node, NodeError> {
        let base = self.open()?;
        let producer = SoloProducer::start(
            base.ledger.clone(),
            validator_key,
            producer,
            base.events.clone(),
        );
        Ok(base.with_consensus(Arc::new(producer)))
    }
}

impl NodeBase {
    /// The node, with `consensus` making its blocks. Must be called inside
    /// a Tokio runtime: a task counts the node's events for its metrics.
    pub fn with_consensus(self, consensus: Arc<dyn Consensus>) -> Node {
        let metrics = Arc::new(NodeMetrics::new());
        tokio::spawn(metrics.clone().count_events(self.events.subscribe()));
        let history = Arc::new(UtilizationHistory::default());
        tokio::spawn(history.clone().sample_every_minute(self.ledger.clone()));
        Node {
            metrics,
            history,
            ledger: self.ledger,
            consensus,
            events: self.events,
            blobs: self.blobs,
            snapshots: self.snapshots,
            live_logs: Arc::default(),
            uploads: Arc::default(),
        }
    }
}
