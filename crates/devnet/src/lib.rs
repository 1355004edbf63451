#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

use anyhow::Context;
use gpunet_client::{Keystore, NodeClient, Protection, Wallet};
use gpunet_ledger::{Genesis, GenesisAccount};
use gpunet_node::{BlobRetention, Node, NodeBuilder, SoloProducerConfig};
use gpunet_primitives::{Amount, Keypair, UNIT};
use gpunet_provider::data_plane::DataPlaneConfig;
use gpunet_provider::executor::{Executor, ExecutorKind};
use gpunet_provider::{Agent, AgentConfig, UnprovenGpus};
use gpunet_types::NodeAddress;
use gpunet_types::{HardwareStatus, Params};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// What a devnet is made of; [`DevnetConfig::new`] gives the embedded default.
#[derive(Clone, Debug)]
pub struct DevnetConfig {
    /// The node, the providers and the wallets keep their files under it.
    pub data_dir: PathBuf,
    /// API address; port 0 picks a free one.
    pub api_addr: SocketAddr,
    /// How many in-process providers serve jobs.
    pub providers: usize,
    /// How often the node produces a block.
    pub block_interval: Duration,
    /// The chain's parameters (see [`devnet_params`]).
    pub params: Params,
    /// Price of every devnet provider machine, per hour.
    pub provider_price: Amount,
    /// How providers run jobs.
    pub executor: ExecutorKind,
    /// Each provider's data-plane peer, if any (renters' sessions; kept
    /// outputs when its config says so).
    pub provider_peer: Option<DataPlaneConfig>,
}

impl DevnetConfig {
    /// Two providers running jobs as processes, 100 ms blocks, an API on a
    /// free loopback port, everything under `data_dir`.
    pub fn new(data_dir: PathBuf) -> DevnetConfig {
        DevnetConfig {
            data_dir,
            api_addr: "127.0.0.1:0".parse().expect("valid address"),
            providers: 2,
            block_interval: Duration::from_millis(100),
            params: devnet_params(),
            provider_price: 36 * UNIT,
            executor: ExecutorKind::Process,
            provider_peer: None,
        }
    }
}

/// Parameters for a local network: short windows so a job settles in seconds.
pub fn devnet_params() -> Params {
    Params {
        min_fee: 1,
        dispute_window_ms: 2_000,
        report_grace_ms: 3_000,
        order_ttl_ms: 600_000,
        unbonding_ms: 60_000,
        // Small proofs of compute, so machines are verified within a second.
        challenge_work_ms: 100,
        challenge_latency_ms: 10_000,
        challenge_open_ms: 10_000,
        challenge_interval_ms: 600_000,
        rental_billing_ms: 1_000,
        probe_answer_ms: 2_000,
        ..Params::default()
    }
}

/// The devnet's chain id.
pub const CHAIN_ID: &str = "gpunet-devnet";
const GENESIS_TIME_MS: u64 = 1_767_225_600_000; // 2026-01-01, before any devnet block

/// The devnet's one validator, which produces every block. Devnet keys are
/// derived from public labels: anyone can sign as them, which is the point
/// of a local network and why no real network may use them.
pub fn validator_key() -> Keypair {
    Keypair::from_label("gpunet-devnet/validator")
}
/// The funded account `gpunet devnet fund` pays from.
pub fn faucet_key() -> Keypair {
    Keypair::from_label("gpunet-devnet/faucet")
}
/// The funded client wallet (`wallets/client.json` in the data directory).
pub fn client_key() -> Keypair {
    Keypair::from_label("gpunet-devnet/client")
}
/// The account of provider `i`, funded to stake its machine.
pub fn provider_key(i: usize) -> Keypair {
    Keypair::from_label(&format!("gpunet-devnet/provider/{i}"))
}

/// Genesis of a devnet with `providers` funded providers.
pub fn genesis(providers: usize, params: Params) -> Genesis {
    let mut accounts = vec![
        GenesisAccount {
            address: faucet_key().address(),
            balance: 1_000_000 * UNIT,
        },
        GenesisAccount {
            address: client_key().address(),
            balance: 1_000 * UNIT,
        },
    ];
    accounts.extend((0..providers).map(|i| GenesisAccount {
        address: provider_key(i).address(),
        balance: 1_000 * UNIT,
    }));
    Genesis {
        chain_id: CHAIN_ID.into(),
        genesis_time_ms: GENESIS_TIME_MS,
        accounts,
        validators: vec![validator_key().address()],
        params,
    }
}

/// A running devnet: its node and API, and its providers.
pub struct Devnet {
    /// What it was started with.
    pub config: DevnetConfig,
    /// The API's address (also saved in the data directory, see [`NodeAddress::save`]).
    pub address: NodeAddress,
    /// The node itself, in this process.
    pub node: Node,
    /// Path of the client wallet's keystore file.
    pub client_keystore: PathBuf,
    providers: Vec<Option<(Agent, JoinHandle<()>)>>,
    executor: Arc<dyn Executor>,
    server: JoinHandle<()>,
}

impl Devnet {
    /// Starts the node, the API and every provider; returns once providers are registered.
    pub async fn start(config: DevnetConfig) -> anyhow::Result<Devnet> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating {}", config.data_dir.display()))?;
        let node = NodeBuilder::new(
            config.data_dir.join("node"),
            genesis(config.providers, config.params.clone()),
        )
        .start_solo(
            validator_key(),
            SoloProducerConfig {
                block_interval: config.block_interval,
                heartbeat: Duration::from_secs(1),
                check_invariants: true,
                ..SoloProducerConfig::default()
            },
        )
        .context(
            "starting the node (delete the devnet directory if it was made by another version)",
        )?;
        node.spawn_blob_collection(BlobRetention::default());
        let listener = tokio::net::TcpListener::bind(config.api_addr)
            .await
            .with_context(|| format!("binding the API to {}", config.api_addr))?;
        let api_key = Keystore::load_or_create(&config.data_dir.join("node").join("api-key.json"))?;
        let address = NodeAddress::new(
            &format!("https://{}", listener.local_addr()?),
            api_key.address(),
        );
        address
            .save(&config.data_dir)
            .with_context(|| format!("writing the API address to {}", config.data_dir.display()))?;
        let served = node.clone();
        let server = tokio::spawn(async move {
            if let Err(e) = gpunet_api::serve(listener, served, &api_key).await {
                tracing::error!("API server stopped: {e}");
            }
        });
        let client_keystore = config.data_dir.join("wallets").join("client.json");
        if !client_keystore.exists() {
            // Unencrypted: its key derives from a public label anyway.
            Keystore::create(&client_keystore, &client_key(), &Protection::Plaintext)?;
        }
        let executor = config
            .executor
            .connect()
            .await
            .context("preparing the providers' executor")?;
        let mut devnet = Devnet {
            executor,
            config,
            address,
            node,
            client_keystore,
            providers: Vec::new(),
            server,
        };
        for i in 0..devnet.config.providers {
            devnet.providers.push(None);
            devnet.start_provider(i).await?;
        }
        devnet.wait_verified().await?;
        Ok(devnet)
    }

    /// A client of the devnet's API, pinned to its key.
    pub fn client(&self) -> NodeClient {
        NodeClient::new(&self.address.to_string()).expect("the devnet's own address parses")
    }

    /// The funded client wallet, on [`Devnet::client`].
    pub fn client_wallet(&self) -> Wallet {
        Wallet::new(client_key(), self.client())
    }

    /// Where provider `i` keeps its journal and runs.
    pub fn provider_dir(&self, i: usize) -> PathBuf {
        self.config.data_dir.join("providers").join(i.to_string())
    }

    /// Provider `i`'s agent, while it runs.
    pub fn provider(&self, i: usize) -> Option<&Agent> {
        self.providers.get(i)?.as_ref().map(|(a, _)| a)
    }

    /// (Re)starts provider `i`; it recovers its journal and resumes serving leases.
    pub async fn start_provider(&mut self, i: usize) -> anyhow::Result<()> {
        let config = AgentConfig {
            node: self.address.to_string(),
            data_dir: self.provider_dir(i),
            region: "local".into(),
            price_per_hour: self.config.provider_price,
            resource_prices: Default::default(),
            public_host: "127.0.0.1".into(),
            unproven_gpus: UnprovenGpus::OfferCpuOnly,
            peer: self.config.provider_peer.clone(),
        };
        let agent = Agent::register(provider_key(i), config, self.executor.clone())
            .await
            .with_context(|| format!("registering provider {i}"))?;
        let running = agent.clone();
        let handle = tokio::spawn(async move {
            if let Err(e) = running.run().await {
                tracing::error!("provider {i} stopped: {e}");
            }
        });
        self.providers[i] = Some((agent, handle));
        Ok(())
    }

    /// Waits until every provider machine has passed its hardware challenge.
    async fn wait_verified(&self) -> anyhow::Result<()> {
        let node = self.client();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let machines = node.machines().await?;
            let verified = machines
                .iter()
                .filter(|m| m.hardware == HardwareStatus::Verified)
                .count();
            if verified >= self.config.providers {
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "provider machines did not pass their hardware challenges: {machines:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops provider `i` abruptly, as a crash would: its jobs' processes keep
    /// running and nothing is reported. Its data-plane peer is closed, as a
    /// dead process's would be: tasks of the peer outlive the aborted agent
    /// and held its blob store's lock, so that starting the provider again
    /// at once failed now and then ("Database already open").
    pub async fn kill_provider(&mut self, i: usize) {
        if let Some((agent, handle)) = self.providers[i].take() {
            handle.abort();
            agent.close().await;
        }
    }
}

impl Devnet {
    /// Stops the providers, the runs they started (containers and
    /// processes: none outlives the devnet) and their data-plane peers; the
    /// node and its API stop when the devnet is dropped.
    pub async fn shutdown(mut self) {
        for (agent, handle) in self.providers.iter_mut().filter_map(Option::take) {
            handle.abort();
            agent.stop_runs().await;
            agent.close().await;
        }
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        self.server.abort();
        for (_, handle) in self.providers.iter().flatten() {
            handle.abort();
        }
    }
}
