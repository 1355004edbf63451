//! Assembles a node: ledger, block producer, event bus and blob store.

use crate::blobs::BlobStore;
use crate::consensus::{Consensus, SoloProducer, SoloProducerConfig};
use crate::live_logs::LiveLogs;
use crate::uploads::Uploads;
use gpunet_ledger::{Event, Genesis, Ledger, LedgerError};
use gpunet_primitives::Keypair;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tokio::sync::broadcast;

/// An event and the height of the block that caused it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct BlockEvent {
    pub height: u64,
    pub event: Event,
}

pub struct NodeConfig {
    pub data_dir: PathBuf,
    pub genesis: Genesis,
    /// The validator key that signs produced blocks and receives fees.
    pub validator_key: Keypair,
    pub producer: SoloProducerConfig,
    /// Largest blob (job input or output) the node accepts.
    pub max_blob_bytes: u64,
}

/// A running node. Cheap to clone; every clone shares the same ledger.
#[derive(Clone)]
pub struct Node {
    pub ledger: Arc<RwLock<Ledger>>,
    pub consensus: Arc<dyn Consensus>,
    pub events: broadcast::Sender<BlockEvent>,
    pub blobs: BlobStore,
    pub live_logs: Arc<LiveLogs>,
    pub uploads: Arc<Uploads>,
}

impl Node {
    /// Opens the ledger under `data_dir` (creating it from genesis) and starts producing blocks.
    /// Must be called inside a Tokio runtime.
    pub fn start(config: NodeConfig) -> Result<Node, NodeError> {
        let base = NodeBase::open(&config.data_dir, &config.genesis, config.max_blob_bytes)?;
        let producer = SoloProducer::start(
            base.ledger.clone(),
            config.validator_key,
            config.producer,
            base.events.clone(),
        );
        Ok(base.with_consensus(Arc::new(producer)))
    }
}

/// Why a node's stores do not open.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    #[error("blob store: {0}")]
    Blobs(#[from] crate::BlobError),
}

/// The ledger's database, under a node's data directory.
pub const LEDGER_FILE: &str = "ledger.redb";

/// What a node holds before its consensus runs: the ledger, the event bus and
/// the blob store. A consensus engine is started on these, then joined to them.
pub struct NodeBase {
    pub ledger: Arc<RwLock<Ledger>>,
    pub events: broadcast::Sender<BlockEvent>,
    pub blobs: BlobStore,
}

impl NodeBase {
    pub fn open(
        data_dir: &Path,
        genesis: &Genesis,
        max_blob_bytes: u64,
    ) -> Result<NodeBase, NodeError> {
        let ledger = Ledger::open(Some(&data_dir.join(LEDGER_FILE)), genesis)?;
        let blobs = BlobStore::open(&data_dir.join("blobs"), max_blob_bytes)?;
        let (events, _) = broadcast::channel(16_384);
        Ok(NodeBase {
            ledger: Arc::new(RwLock::new(ledger)),
            events,
            blobs,
        })
    }

    pub fn with_consensus(self, consensus: Arc<dyn Consensus>) -> Node {
        Node {
            ledger: self.ledger,
            consensus,
            events: self.events,
            blobs: self.blobs,
            live_logs: Arc::default(),
            uploads: Arc::default(),
        }
    }
}
