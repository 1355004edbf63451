//! Starting Malachite: the `Node` description its channel interface asks for
//! (configuration, keys, where the write-ahead log lives) and the running
//! engine with the channels the application serves.

use crate::app;
use crate::codec::BorshCodec;
use crate::context::{GpunetContext, ValidatorAddress};
use crate::evidence::WatchingCodec;
use crate::signing::Signer;
use crate::vote_guard::VoteGuard;
use advisory_lock::{AdvisoryFileLock, FileLockMode};
use async_trait::async_trait;
use gpunet_ledger::Ledger;
use gpunet_primitives::{Address, Keypair};
use malachitebft_app_channel::app::config::{ConsensusConfig, ValueSyncConfig};
use malachitebft_app_channel::app::events::RxEvent;
use malachitebft_app_channel::app::node::{self, EngineHandle, NodeConfig, NodeHandle};
use malachitebft_app_channel::app::types::Keypair as PeerKeypair;
use malachitebft_app_channel::Channels;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct EngineConfig {
    pub moniker: String,
    pub consensus: ConsensusConfig,
    pub value_sync: ValueSyncConfig,
}

impl NodeConfig for EngineConfig {
    fn moniker(&self) -> &str {
        &self.moniker
    }

    fn consensus(&self) -> &ConsensusConfig {
        &self.consensus
    }

    fn value_sync(&self) -> &ValueSyncConfig {
        &self.value_sync
    }
}

/// One validator's engine: its key, home directory and configuration, and the
/// ledger it starts from (each start resumes at the ledger's next height).
#[derive(Clone)]
pub(crate) struct EngineNode {
    pub home: PathBuf,
    pub key: Keypair,
    pub chain_id: String,
    pub config: EngineConfig,
    pub ledger: Arc<RwLock<Ledger>>,
    /// This node's network identity, apart from its validator key.
    pub peer_secret: [u8; 32],
    pub net_codec: WatchingCodec,
    /// What this validator signed, shared by every engine it starts.
    pub vote_guard: Arc<VoteGuard>,
}

/// How long the engine's actors get to stop (closing their connections and
/// their log) before they are killed.
const STOP_CHILDREN_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a start waits for the previous engine's log thread to unlock the
/// write-ahead log before trying anyway.
const WAL_RELEASE_TIMEOUT: Duration = Duration::from_secs(10);

/// Returns once the write-ahead log at `path` is not locked (or does not
/// exist), or after [`WAL_RELEASE_TIMEOUT`].
async fn wal_released(path: &Path) {
    let deadline = tokio::time::Instant::now() + WAL_RELEASE_TIMEOUT;
    while tokio::time::Instant::now() < deadline {
        let Ok(file) = std::fs::File::open(path) else {
            return;
        };
        // Taken and let go at once (flock, as Malachite's own lock).
        if AdvisoryFileLock::try_lock(&file, FileLockMode::Exclusive).is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tracing::warn!(
        "the write-ahead log {} is still locked after {WAL_RELEASE_TIMEOUT:?}; starting anyway",
        path.display()
    );
}

/// A running engine and the channels through which the application serves it.
pub(crate) struct Engine {
    engine: EngineHandle,
    pub channels: Channels<GpunetContext>,
}

#[async_trait]
impl NodeHandle<GpunetContext> for Engine {
    fn subscribe(&self) -> RxEvent<GpunetContext> {
        self.channels.events.subscribe()
    }

    /// Stops the engine's actors before the node actor that supervises them.
    /// Killed with it, they would skip their `post_stop`: the network
    /// actor's swarm task would live on, still listening on the consensus
    /// port (libp2p binds it with port reuse) and holding connections that
    /// no consensus reads, and the write-ahead log would stay locked. After
    /// a few restarts most peers' connections landed on such dead swarms and
    /// the chain stayed stalled for minutes.
    async fn kill(&self, reason: Option<String>) -> eyre::Result<()> {
        self.engine
            .actor
            .stop_children_and_wait(reason, Some(STOP_CHILDREN_TIMEOUT))
            .await;
        self.engine.actor.kill_and_wait(None).await?;
        self.engine.handle.abort();
        Ok(())
    }
}

#[async_trait]
impl node::Node for EngineNode {
    type Context = GpunetContext;
    type Config = EngineConfig;
    type Genesis = ();
    type PrivateKeyFile = [u8; 32];
    type SigningProvider = Signer;
    type NodeHandle = Engine;

    /// Waits for the previous engine's write-ahead log to be let go first:
    /// its actor stops before its log thread unlocks the file, and a start
    /// that finds it locked fails after it has spawned the network actor,
    /// which then lives on with nothing to stop it (a swarm listening on the
    /// consensus port that no consensus reads).
    async fn start(&self) -> eyre::Result<Engine> {
        wal_released(&self.home.join(crate::WAL_DIR).join(crate::WAL_FILE)).await;
        let (start_height, validators) =
            app::resume_point(&self.ledger.read().expect("ledger lock"));
        let (channels, engine) = malachitebft_app_channel::start_engine(
            GpunetContext,
            self.clone(),
            self.config.clone(),
            BorshCodec,
            self.net_codec.clone(),
            Some(start_height),
            validators,
        )
        .await?;
        Ok(Engine { engine, channels })
    }

    /// An engine alone cannot run: `supervisor` serves it with the application.
    async fn run(self) -> eyre::Result<()> {
        Err(eyre::eyre!(
            "gpunet runs its engine through gpunet_bft::start"
        ))
    }

    fn get_home_dir(&self) -> PathBuf {
        self.home.clone()
    }

    fn load_config(&self) -> eyre::Result<EngineConfig> {
        Ok(self.config.clone())
    }

    fn get_address(&self, key: &Address) -> ValidatorAddress {
        ValidatorAddress(*key)
    }

    fn get_public_key(&self, key: &Keypair) -> Address {
        key.address()
    }

    /// The network identity is the node's own, not its validator key's.
    fn get_keypair(&self, _validator_key: Keypair) -> PeerKeypair {
        PeerKeypair::ed25519_from_bytes(self.peer_secret)
            .expect("32-byte ed25519 secrets are valid")
    }

    fn load_private_key(&self, file: [u8; 32]) -> Keypair {
        Keypair::from_seed(file)
    }

    fn load_private_key_file(&self) -> eyre::Result<[u8; 32]> {
        Ok(self.key.secret_bytes())
    }

    fn load_genesis(&self) -> eyre::Result<()> {
        Ok(())
    }

    fn get_signing_provider(&self, key: Keypair) -> Signer {
        Signer::new(key, &self.chain_id, self.vote_guard.clone())
    }
}
