#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod app;
mod certificates;
mod codec;
mod context;
mod engine;
mod evidence;
#[doc(hidden)]
pub mod fuzzing;
mod gossip;
mod mempool;
mod signing;
#[cfg(test)]
mod small_disk;
mod state_sync;
mod supervisor;
mod vote_guard;

pub use app::ProposalConfig;
pub use gossip::{GossipConfig, GossipError};
pub use libp2p::Multiaddr;
/// Malachite's configuration types (`TimeoutConfig` for [`BftConfig::timeouts`]).
pub use malachitebft_app_channel::app::config as engine_config;
pub use state_sync::{
    restore_from_snapshot, Restored, SnapshotPeer, StateSyncError, SNAPSHOT_RESTARTS,
};

use app::App;
use bytesize::ByteSize;
use certificates::CertificateStore;
use context::ValidatorAddress;
use engine::EngineConfig;
use engine::EngineNode;
use evidence::{VoteWatch, WatchingCodec};
use gossip::Gossip;
use gpunet_ledger::Ledger;
use gpunet_node::{Consensus, SubmitError, SubmitFuture};
use gpunet_primitives::{DoubleSign, Keypair, SignedTx, Tx, TxBody};
use gpunet_types::BlockEvent;
use malachitebft_app_channel::app::config::{
    BootstrapProtocol, ConsensusConfig, DiscoveryConfig, P2pConfig, TimeoutConfig, ValuePayload,
    ValueSyncConfig,
};
use mempool::Mempool;
use signing::Signer;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use supervisor::Supervisor;
use tokio::sync::{broadcast, mpsc, oneshot};
use vote_guard::VoteGuard;

/// Everything one node needs to take part in consensus.
#[derive(Clone, Debug)]
pub struct BftConfig {
    /// Where the write-ahead log and the commit certificates live.
    pub home: PathBuf,
    /// Consensus traffic (votes, proposals, sync).
    pub consensus_listen: Multiaddr,
    /// Peers to reach first; discovery finds the rest.
    pub consensus_peers: Vec<Multiaddr>,
    /// Transaction gossip.
    pub gossip: GossipConfig,
    /// How long each consensus step waits before moving on (Malachite's).
    pub timeouts: TimeoutConfig,
    /// How proposals are built and judged.
    pub proposals: ProposalConfig,
    /// Most transactions the mempool holds; a submission beyond is refused as busy.
    pub mempool_capacity: usize,
    /// A transaction not included within this long is dropped and its submitter told.
    pub tx_ttl: Duration,
    /// With no block committed for this long, the engine restarts and dials
    /// its peers anew (see `supervisor`); the wait doubles while it brings none.
    pub restart_after_stall: Duration,
    /// Where and how often the node takes state snapshots for others to
    /// join from (`None`: never).
    pub snapshots: Option<gpunet_node::Snapshots>,
}

impl BftConfig {
    /// Defaults for validators on one network: Tendermint timeouts well below a
    /// second for the common case, growing each round when things go wrong.
    pub fn new(home: PathBuf, consensus_listen: Multiaddr, gossip_listen: Multiaddr) -> BftConfig {
        BftConfig {
            home,
            consensus_listen,
            consensus_peers: Vec::new(),
            gossip: GossipConfig {
                listen: gossip_listen,
                bootstrap: Vec::new(),
                api_url: None,
            },
            timeouts: TimeoutConfig {
                timeout_propose: Duration::from_millis(2_000),
                timeout_propose_delta: Duration::from_millis(500),
                timeout_prevote: Duration::from_millis(500),
                timeout_prevote_delta: Duration::from_millis(250),
                timeout_precommit: Duration::from_millis(500),
                timeout_precommit_delta: Duration::from_millis(250),
                timeout_rebroadcast: Duration::from_millis(3_000),
            },
            proposals: ProposalConfig::default(),
            mempool_capacity: 100_000,
            tx_ttl: Duration::from_secs(120),
            restart_after_stall: Duration::from_secs(10),
            snapshots: None,
        }
    }
}

/// Configurations for `n` validators on this machine's loopback, homes under
/// `dir`: free ports, every validator a consensus peer of the others, gossip
/// bootstrapped from the first (the rest is discovered). For tests and benchmarks.
pub fn loopback_configs(dir: &Path, n: usize) -> Vec<BftConfig> {
    let port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port")
    };
    let addr = |port: u16| -> Multiaddr {
        format!("/ip4/127.0.0.1/tcp/{port}")
            .parse()
            .expect("a valid multiaddr")
    };
    let ports: Vec<(u16, u16)> = (0..n).map(|_| (port(), port())).collect();
    (0..n)
        .map(|i| {
            let mut config = BftConfig::new(
                dir.join(format!("validator-{i}")),
                addr(ports[i].0),
                addr(ports[i].1),
            );
            config.consensus_peers = (0..n)
                .filter(|j| *j != i)
                .map(|j| addr(ports[j].0))
                .collect();
            if i > 0 {
                config.gossip.bootstrap = vec![addr(ports[0].1)];
            }
            config
        })
        .collect()
}

/// Why a node's consensus does not start.
#[derive(Debug, thiserror::Error)]
pub enum BftError {
    /// The transaction gossip network could not start (its listen address).
    #[error(transparent)]
    Gossip(#[from] GossipError),
    /// The commit certificate store could not be opened or read.
    #[error(transparent)]
    Store(#[from] certificates::StoreError),
    /// Malachite's engine did not start.
    #[error("consensus engine: {0}")]
    Engine(String),
    /// The ledger and the certificate store under `home` come from different
    /// moments or chains (a partial restore): the node would serve peers
    /// blocks its certificates do not name. Rebuilding both from peers
    /// ([`set_aside_rebuilt_stores`], then a start from genesis) is the way out.
    #[error("this node's stores disagree: {disagreement} (stores under {})", home.display())]
    StoresDisagree {
        /// Where the two stores part.
        disagreement: certificates::StoresDisagree,
        /// The node's consensus directory.
        home: PathBuf,
    },
}

/// A node's consensus: submitted transactions enter the mempool, are gossiped,
/// and resolve once a decided block includes them.
pub struct BftConsensus {
    submitter: Submitter,
    supervisor: Supervisor,
}

/// Admits a transaction to this node's mempool and the network's.
#[derive(Clone)]
struct Submitter {
    ledger: Arc<RwLock<Ledger>>,
    mempool: Arc<Mutex<Mempool>>,
    gossip: Gossip,
}

impl Submitter {
    async fn submit(&self, tx: SignedTx) -> Result<gpunet_types::Included, SubmitError> {
        self.ledger
            .write()
            .expect("ledger lock")
            .check_tx(&tx)
            .map_err(SubmitError::Rejected)?;
        let (reply, answer) = oneshot::channel();
        {
            let mut pool = self.mempool.lock().expect("mempool lock");
            pool.insert(tx.clone())?;
            pool.wait(tx.hash(), reply);
        }
        self.gossip.publish(tx);
        answer
            .await
            .map_err(|_| SubmitError::Stopped("consensus is gone".into()))?
    }
}

impl BftConsensus {
    /// Stops the engine (as a crash would: the write-ahead log stays).
    pub async fn stop(&self) {
        self.supervisor.stop().await;
    }
}

/// Starts consensus for `ledger` with this node's validator key. Must be called
/// inside a Tokio runtime.
pub async fn start(
    ledger: Arc<RwLock<Ledger>>,
    key: Keypair,
    config: BftConfig,
    events: broadcast::Sender<BlockEvent>,
) -> Result<BftConsensus, BftError> {
    std::fs::create_dir_all(&config.home).map_err(|e| BftError::Engine(e.to_string()))?;
    // Before anything listens: a node whose stores disagree does not start.
    let certificates = CertificateStore::open(&config.home.join(CERTIFICATES_FILE))?;
    certificates
        .check_agrees_with(&ledger.read().expect("ledger lock"))
        .map_err(|disagreement| BftError::StoresDisagree {
            disagreement,
            home: config.home.clone(),
        })?;
    let chain_id = ledger.read().expect("ledger lock").chain_id().to_string();
    let peer_secret = peer_secret(&config.home)?;
    let mempool = Arc::new(Mutex::new(Mempool::new(config.mempool_capacity)));
    let (gossip, inbound) = gossip::spawn(peer_secret, &chain_id, config.gossip.clone())?;
    tokio::spawn(admit_gossip(ledger.clone(), mempool.clone(), inbound));
    tokio::spawn(expire(Arc::downgrade(&mempool), config.tx_ttl));
    let (watch, double_signs) = VoteWatch::new(&chain_id);
    let submitter = Submitter {
        ledger: ledger.clone(),
        mempool: mempool.clone(),
        gossip: gossip.clone(),
    };
    tokio::spawn(report_double_signs(
        submitter.clone(),
        key.clone(),
        double_signs,
    ));

    let vote_guard =
        Arc::new(VoteGuard::open(&config.home).map_err(|e| BftError::Engine(e.to_string()))?);
    let mut app = App::new(
        ledger.clone(),
        Signer::new(key.clone(), &chain_id, vote_guard.clone()),
        ValidatorAddress(key.address()),
        mempool.clone(),
        certificates,
        events,
        config.proposals.clone(),
    );
    if let Some(snapshots) = config.snapshots.clone() {
        app = app.with_snapshots(state_sync::SnapshotTaker::new(snapshots));
    }
    let engine_config = EngineConfig {
        moniker: key.address().to_string(),
        consensus: ConsensusConfig {
            timeouts: config.timeouts,
            p2p: P2pConfig {
                listen_addr: config.consensus_listen.clone(),
                persistent_peers: config.consensus_peers.clone(),
                discovery: DiscoveryConfig {
                    enabled: true,
                    // Malachite 0.5's Kademlia bootstrap panics on a peer
                    // that identifies with no listen address (any peer can):
                    // its own peer exchange does not.
                    bootstrap_protocol: BootstrapProtocol::Full,
                    num_outbound_peers: 20,
                    num_inbound_peers: 40,
                    ephemeral_connection_timeout: Duration::from_secs(5),
                    ..DiscoveryConfig::default()
                },
                rpc_max_size: sync_response_limit(&config.proposals),
                ..P2pConfig::default()
            },
            value_payload: ValuePayload::PartsOnly,
            queue_capacity: 0,
        },
        value_sync: ValueSyncConfig {
            // A node behind syncs up to the tips its peers announce: announced
            // once a second, a node started under load trails the chain by a
            // second's blocks (tens) as long as the load lasts.
            status_update_interval: Duration::from_millis(100),
            request_timeout: Duration::from_secs(5),
            ..ValueSyncConfig::default()
        },
    };
    let node = EngineNode {
        home: config.home.clone(),
        key,
        chain_id,
        config: engine_config,
        ledger,
        peer_secret,
        net_codec: WatchingCodec { watch },
        vote_guard,
    };
    let supervisor = Supervisor::start(node, app, config.restart_after_stall)
        .await
        .map_err(|e| BftError::Engine(format!("{e:#}")))?;
    Ok(BftConsensus {
        submitter,
        supervisor,
    })
}

/// The commit certificates of decided blocks, under a node's consensus home.
const CERTIFICATES_FILE: &str = "certificates.redb";

/// Malachite's write-ahead log, under a node's consensus home (Malachite names it).
const WAL_DIR: &str = "wal";

/// The write-ahead log's file in [`WAL_DIR`] (Malachite names it).
const WAL_FILE: &str = "consensus.wal";

/// Moves what a node rebuilds from its peers out of its consensus `home`
/// into `aside`: the commit certificates and the write-ahead log. Its network
/// identity and its record of signed votes stay, so that a node started
/// afresh from genesis syncs to the tip without ever signing a vote that
/// conflicts with one it signed before. The caller sets its ledger aside too.
/// Returns whether there was anything to move (`aside` is made only then).
pub fn set_aside_rebuilt_stores(home: &Path, aside: &Path) -> std::io::Result<bool> {
    let mut moved = false;
    for name in [CERTIFICATES_FILE, WAL_DIR] {
        if home.join(name).exists() {
            std::fs::create_dir_all(aside)?;
            std::fs::rename(home.join(name), aside.join(name))?;
            moved = true;
        }
    }
    Ok(moved)
}

/// Room in a sync response for the commit certificate and the framing
/// around the block (a certificate holds one signature per validator).
const SYNC_RESPONSE_SLACK: usize = 1 << 20;

/// The largest sync response: a decided block travels to a peer that syncs
/// whole, with its certificate, in one response. Malachite's default (10 MiB)
/// is below the largest block a proposer may build, and a block that cannot be
/// served would hold every node behind it at that height for good.
fn sync_response_limit(proposals: &ProposalConfig) -> ByteSize {
    ByteSize::b(
        proposals
            .max_block_bytes
            .saturating_add(SYNC_RESPONSE_SLACK) as u64,
    )
}

/// This node's network identity, made on first start: separate from the
/// validator key, so the key never leaves the signer and two processes never
/// share a peer id.
fn peer_secret(home: &Path) -> Result<[u8; 32], BftError> {
    let path = home.join("peer.key");
    let io = |e: std::io::Error| BftError::Engine(format!("{}: {e}", path.display()));
    match std::fs::read(&path) {
        Ok(bytes) => bytes
            .try_into()
            .map_err(|_| BftError::Engine(format!("{} is not a 32-byte key", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = Keypair::generate().secret_bytes();
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(io)?;
            file.write_all(&secret).map_err(io)?;
            Ok(secret)
        }
        Err(e) => Err(io(e)),
    }
}

/// Reports each double-signing this node witnesses, from its validator account.
async fn report_double_signs(
    submitter: Submitter,
    key: Keypair,
    mut found: mpsc::UnboundedReceiver<DoubleSign>,
) {
    while let Some(evidence) = found.recv().await {
        let tx = {
            let l = submitter.ledger.read().expect("ledger lock");
            Tx {
                chain_id: l.chain_id().to_string(),
                sender: key.address(),
                nonce: l.account(&key.address()).nonce,
                fee: l.state().params.min_fee,
                body: TxBody::ReportDoubleSign {
                    evidence: Box::new(evidence),
                },
            }
            .sign(&key)
        };
        let offender = tx.tx.body.kind();
        match submitter.submit(tx).await {
            Ok(included) => tracing::info!(height = included.height, "{offender} recorded"),
            Err(e) => tracing::warn!("{offender} not recorded: {e}"),
        }
    }
}

/// Admits gossiped transactions that pass the ledger's admission check.
async fn admit_gossip(
    ledger: Arc<RwLock<Ledger>>,
    mempool: Arc<Mutex<Mempool>>,
    mut inbound: mpsc::Receiver<Vec<SignedTx>>,
) {
    while let Some(txs) = inbound.recv().await {
        let admitted: Vec<SignedTx> = {
            let mut l = ledger.write().expect("ledger lock");
            txs.into_iter()
                .filter(|tx| l.check_tx(tx).is_ok())
                .collect()
        };
        let mut pool = mempool.lock().expect("mempool lock");
        for tx in admitted {
            // A full mempool drops gossip; the submitter's own node still holds it.
            let _ = pool.insert(tx);
        }
    }
}

async fn expire(mempool: std::sync::Weak<Mutex<Mempool>>, ttl: Duration) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let Some(pool) = mempool.upgrade() else {
            return;
        };
        pool.lock().expect("mempool lock").expire(ttl);
    }
}

impl Consensus for BftConsensus {
    fn submit(&self, tx: SignedTx) -> SubmitFuture<'_> {
        Box::pin(self.submitter.submit(tx))
    }

    fn peer_apis(&self) -> Vec<String> {
        self.submitter.gossip.peer_apis()
    }

    fn mempool_txs(&self) -> usize {
        self.submitter.mempool.lock().expect("mempool lock").len()
    }

    fn engine_restarts(&self) -> u64 {
        self.supervisor.restarts()
    }

    /// Malachite's metrics (rounds, time per block, sync): the engine
    /// registers them in its process-wide registry.
    fn engine_metrics(&self) -> String {
        let mut text = String::new();
        malachitebft_app::metrics::export(&mut text);
        match text.strip_suffix("# EOF\n") {
            Some(body) => body.to_string(),
            None => text,
        }
    }
}
