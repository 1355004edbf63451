//! The agent loop: register, recover, follow leases, run jobs, report results.

mod challenges;
mod dispatch;
mod jobs;
mod lifecycle;
mod rentals;
mod secrets;
mod workspaces;

use crate::data_plane::{AgentPeer, DataPlaneConfig};
use crate::executor::Executor;
use crate::hardware::Hardware;
use crate::journal::Journal;
use crate::metrics::{AgentMetrics, ExecutorStage};
use crate::rental_access::{RentalAccess, RunningRentals};
use dispatch::Flow;
use gpunet_client::stall_watch::{self, StallWatch};
use gpunet_client::{ClientError, NodeClient, StreamItem, Wallet};
use gpunet_primitives::{Amount, ChallengeId, Keypair, MachineId, OrderId, ResourcePrices, TxBody};
use lifecycle::{register, top_up_stake, MachineRecord, MACHINE_RECORD};
use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinSet;

/// How a provider agent runs: where its node and data are, what it asks,
/// and how renters and readers reach it.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// The nodes to talk to: `https://HOST:PORT#KEY`, comma-separated.
    pub node: String,
    /// Jobs, the journal and outputs live here.
    pub data_dir: PathBuf,
    /// The region the machine is listed in (orders may require one).
    pub region: String,
    /// Base price of any job on this machine.
    pub price_per_hour: Amount,
    /// Added per GPU, core and GiB of memory a job asks for.
    pub resource_prices: ResourcePrices,
    /// Where renters reach this machine: a rental's exposed ports are
    /// announced as `public_host:port`.
    pub public_host: String,
    /// What to do when this machine's GPUs cannot be proven (the agent has
    /// no GPU prover): a provider means to offer them, so by default it stops.
    pub unproven_gpus: UnprovenGpus,
    /// The agent's data-plane peer, if it runs one: renters' sessions
    /// (`rent exec`, `rent shell`) need it, and it keeps finished jobs'
    /// files when its config says so. Without it, files go to the nodes.
    pub peer: Option<DataPlaneConfig>,
}

/// See [`AgentConfig::unproven_gpus`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UnprovenGpus {
    /// Registering fails with the reason.
    #[default]
    Refuse,
    /// The machine is offered without its GPUs (a local devnet's choice, so
    /// that its demo runs on any machine).
    OfferCpuOnly,
}

/// Why the agent could not register or stopped.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Its node refused a request or could not be reached.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Its data directory (journal, runs, outputs) could not be used.
    #[error("provider data directory: {0}")]
    Io(#[from] std::io::Error),
    /// It has GPUs it cannot prove, and is not to offer the machine without.
    #[error("hardware challenges: {0}")]
    Prover(#[from] crate::challenge::NoGpuProver),
    /// Its data-plane peer did not start.
    #[error(transparent)]
    DataPlane(#[from] gpunet_p2p::P2pError),
}

/// Why a run ended without a result.
enum RunError {
    /// Nothing started: the image, the program or an input is not to be had
    /// on this machine. The lease is declined, so no one is slashed for a
    /// spec that cannot run.
    CannotStart(String),
    /// It started and broke on this machine's side: reported failed.
    Failed(String),
}

impl RunError {
    /// Where the executor failed, for the metrics.
    fn stage(&self) -> ExecutorStage {
        match self {
            RunError::CannotStart(_) => ExecutorStage::Start,
            RunError::Failed(_) => ExecutorStage::Run,
        }
    }
}

/// Longest the agent waits for a node that has committed the block an event
/// it acts on came in: past it, the task gives up until the next catch-up
/// (on the event stream's reconnection) starts it again.
const CATCH_UP_PATIENCE: Duration = Duration::from_secs(300);

/// A registered provider agent, ready to [`run`](Agent::run).
#[derive(Clone)]
pub struct Agent {
    inner: Arc<Inner>,
}

struct Inner {
    wallet: Wallet,
    config: AgentConfig,
    executor: Arc<dyn Executor>,
    journal: Journal,
    machine: MachineId,
    hardware: Hardware,
    running: Mutex<BTreeSet<OrderId>>,
    /// Hardware challenges being answered.
    answering: Mutex<BTreeSet<ChallengeId>>,
    /// Leases running here, each with the signal that the ledger ended it
    /// (a rental's time ran out or its renter ended it, a job was stopped).
    ending: Mutex<std::collections::BTreeMap<OrderId, Arc<tokio::sync::Notify>>>,
    /// Computes proofs of compute.
    prover: Arc<dyn gpunet_poc::Backend>,
    /// UUIDs of the offered GPUs no running job holds.
    free_gpus: Mutex<Vec<String>>,
    /// What `/metrics` shows.
    metrics: Arc<AgentMetrics>,
    /// Leases this machine ran whose payment is still to come, so that the
    /// payment counts for this machine and not for another agent of the
    /// same account.
    unpaid: Mutex<BTreeSet<OrderId>>,
    /// Its data-plane peer, if it runs one.
    peer: Option<AgentPeer>,
    /// The rentals whose containers run here, for renters' sessions.
    rentals: Arc<RunningRentals>,
}

/// What the agent does, for its operator: `gpunet provider` shows these by
/// default (`RUST_LOG` chooses otherwise), with the account and machine.
fn log(agent: &Inner, msg: &str) {
    let account = agent.wallet.address().to_string();
    tracing::info!(provider = &account[..8], machine = %agent.machine, "{msg}");
}

/// Something that went wrong and that the agent rides out.
fn warn(agent: &Inner, msg: &str) {
    let account = agent.wallet.address().to_string();
    tracing::warn!(provider = &account[..8], machine = %agent.machine, "{msg}");
}

impl Inner {
    /// Waits until the node the agent asks has committed block `height`, the
    /// one an event it acts on came in. Read from a node behind (the one the
    /// client moved on to when the event's node went down, say), a lease
    /// would look unknown or not yet granted, and be dropped.
    async fn caught_up_to(&self, height: u64) -> Result<(), ClientError> {
        self.wallet
            .node()
            .caught_up_to(height, CATCH_UP_PATIENCE)
            .await
    }
}

impl Agent {
    /// Detects the hardware, then stakes and registers the machine if needed.
    pub async fn register(
        key: Keypair,
        mut config: AgentConfig,
        executor: Arc<dyn Executor>,
    ) -> Result<Agent, AgentError> {
        // Jobs, the journal and run names keep paths under it: absolute, so
        // that none depends on the directory the agent was started from.
        config.data_dir = std::path::absolute(&config.data_dir)?;
        let node = NodeClient::new(&config.node)?;
        let wallet = Wallet::new(key, node.clone());
        let jobs_dir = config.data_dir.join("jobs");
        std::fs::create_dir_all(&jobs_dir)?;
        let mut hardware = crate::hardware::detect(&config.data_dir);
        let prover: Arc<dyn gpunet_poc::Backend> = match crate::challenge::local_backend(&hardware)
        {
            Ok(prover) => prover,
            Err(why) if config.unproven_gpus == UnprovenGpus::OfferCpuOnly => {
                hardware.gpus.clear();
                hardware.gpu_note = Some(format!("GPUs not offered: {why}"));
                Arc::new(gpunet_poc::CpuBackend::default())
            }
            Err(why) => return Err(AgentError::Prover(why)),
        };
        let spec = hardware.machine_spec(&config.region, executor.name());
        let me = wallet.address();
        // The machine this data directory serves, if it registered one that
        // is still this provider's: one account may run many agents.
        let record = MachineRecord(config.data_dir.join(MACHINE_RECORD));
        let mine = match record.read()? {
            Some(id) => match node.machine(id).await {
                Ok(m) => (m.owner == me).then_some(m),
                Err(e) if e.code() == Some("not_found") => None,
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        let params = node.status().await?.params;
        // Other nodes to turn to if this one goes away (none with one validator).
        let _ = node.discover().await;
        let machine = match mine {
            Some(m) => {
                if m.price_per_hour != config.price_per_hour
                    || m.resource_prices != config.resource_prices
                    || !m.online
                {
                    wallet
                        .send(TxBody::UpdateMachine {
                            machine: m.id,
                            price_per_hour: config.price_per_hour,
                            resource_prices: config.resource_prices,
                            online: true,
                        })
                        .await?;
                }
                Some(m.id)
            }
            None => None,
        };
        let machine = match machine {
            Some(id) => {
                let account = node.account(&me).await?.account;
                top_up_stake(&wallet, &params, &account).await?;
                id
            }
            None => {
                let id = register(&wallet, &params, spec, &config).await?;
                record.write(id)?;
                id
            }
        };
        let journal = Journal::open(&config.data_dir.join("journal"))?;
        let rentals = Arc::new(RunningRentals::default());
        let peer = match &config.peer {
            None => None,
            Some(data_plane) => {
                let access = Arc::new(RentalAccess {
                    node: node.clone(),
                    machine,
                    executor: executor.clone(),
                    rentals: rentals.clone(),
                });
                let dir = config.data_dir.join("p2p");
                let peer =
                    AgentPeer::start(wallet.key(), &dir, data_plane.clone(), node.clone(), access)
                        .await?;
                wallet.announce_peer(peer.addr()).await?;
                Some(peer)
            }
        };
        let free_gpus = Mutex::new(hardware.offered_gpus().map(|g| g.uuid.clone()).collect());
        Ok(Agent {
            inner: Arc::new(Inner {
                wallet,
                config,
                executor,
                journal,
                machine,
                hardware,
                running: Mutex::new(BTreeSet::new()),
                answering: Mutex::new(BTreeSet::new()),
                ending: Mutex::new(Default::default()),
                prover,
                free_gpus,
                metrics: Arc::default(),
                unpaid: Mutex::new(BTreeSet::new()),
                peer,
                rentals,
            }),
        })
    }

    /// The machine this agent registered (or found registered) for its key.
    pub fn machine_id(&self) -> MachineId {
        self.inner.machine
    }

    /// What it detected on this machine, as offered.
    pub fn hardware(&self) -> &Hardware {
        &self.inner.hardware
    }

    /// Closes its data-plane peer, if it runs one, so that readers and
    /// renters see the connection end rather than time out. The agent's
    /// task should have stopped first; its `run_until` does this itself
    /// when it drains.
    pub async fn close(&self) {
        if let Some(peer) = &self.inner.peer {
            peer.shutdown().await;
        }
    }

    /// Stops and removes every run this agent started and has not finished
    /// (a job's or a rental's container, a job's processes), for a devnet
    /// that stops with its agents: an aborted agent task leaves its runs
    /// going, and a Docker run would outlive the devnet that made it. The
    /// journal keeps their records, so an agent started again on the same
    /// data directory still reports the jobs failed. The agent's task should
    /// have stopped first.
    pub async fn stop_runs(&self) {
        self.inner.stop_runs().await;
    }

    /// Its metrics, for `/metrics`.
    pub fn metrics(&self) -> Arc<AgentMetrics> {
        self.inner.metrics.clone()
    }

    /// The name of this agent's run of `order` (its container's with the
    /// Docker executor).
    pub fn run_name(&self, order: OrderId) -> String {
        self.inner.run_name(order)
    }

    /// Recovers jobs from the journal, then serves leases until the task is dropped.
    pub async fn run(self) -> Result<(), AgentError> {
        self.run_until(std::future::pending()).await
    }

    /// Serves leases as [`Agent::run`] does until `stop` resolves, then
    /// drains: the machine is paused (no new work) and the agent returns once
    /// its running jobs, rentals and challenges are done, so stopping it
    /// fails nothing that was given to it.
    pub async fn run_until(self, stop: impl Future<Output = ()>) -> Result<(), AgentError> {
        let inner = self.inner.clone();
        inner.recover().await?;
        inner.ensure_stake().await?;
        let node = inner.wallet.node().clone();
        let me = inner.wallet.address();
        // Job tasks live in this set: if the agent's task ends or is aborted, its
        // jobs' tasks go with it (their processes stay, and the journal has them).
        let mut jobs: JoinSet<()> = JoinSet::new();
        let mut stop = std::pin::pin!(stop);
        let mut phase = Phase::Serving;
        loop {
            // Subscribe before catching up, so no lease falls between the two.
            let mut stream = match node.events(None, Some(&me)).await {
                Ok(s) => s,
                Err(e) => {
                    warn(&inner, &format!("event stream unavailable ({e}); retrying"));
                    tokio::select! {
                        () = &mut stop, if phase == Phase::Serving => {
                            phase = Phase::StopAsked;
                            log(&inner, "stopping: the machine is paused as soon as its node answers");
                        }
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                    continue;
                }
            };
            if let Err(e) = inner.catch_up(&mut jobs).await {
                warn(&inner, &format!("cannot list leases: {e}"));
            }
            let mut watch = StallWatch::default();
            let mut check = stall_watch::checks();
            loop {
                while jobs.try_join_next().is_some() {}
                if phase == Phase::StopAsked {
                    phase = Phase::Draining;
                    inner.pause().await;
                    let running = jobs.len();
                    log(
                        &inner,
                        &format!(
                            "stopping: the machine is paused (no new work); waiting for {running} \
                             running task(s) to finish and report"
                        ),
                    );
                }
                if phase == Phase::Draining && jobs.is_empty() {
                    if let Some(peer) = &inner.peer {
                        peer.shutdown().await;
                    }
                    log(&inner, "nothing left running; stopped");
                    return Ok(());
                }
                let item = tokio::select! {
                    () = &mut stop, if phase == Phase::Serving => {
                        phase = Phase::StopAsked;
                        continue;
                    }
                    Some(_) = jobs.join_next(), if phase == Phase::Draining => continue,
                    _ = check.tick() => {
                        let heights = node.heights().await;
                        let Some(stalled) = watch.check(stream.node(), &heights) else {
                            continue;
                        };
                        warn(
                            &inner,
                            &format!(
                                "node {} stopped following the chain at height {} (node {} is \
                                 at {}): following that one",
                                stream.node().url, stalled.at, stalled.ahead.url, stalled.ahead_at
                            ),
                        );
                        node.prefer(&stalled.ahead);
                        break;
                    }
                    item = stream.next() => item,
                };
                let Some(item) = item else { break };
                match item {
                    Ok(StreamItem::Event(e)) => {
                        if inner.dispatch(e, &mut jobs).await == Flow::Removed {
                            return Ok(());
                        }
                    }
                    Ok(StreamItem::Lagged) => {
                        let _ = inner.catch_up(&mut jobs).await;
                    }
                    Err(e) => {
                        warn(&inner, &format!("{e}"));
                        break;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Where the agent is in stopping (`Agent::run_until`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Taking work.
    Serving,
    /// Its stop signal came; the machine is paused once its node answers.
    StopAsked,
    /// The machine is paused (no new work): the agent returns once the tasks
    /// it runs are done.
    Draining,
}
