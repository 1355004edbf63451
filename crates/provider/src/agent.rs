//! The agent loop: register, recover, follow leases, run jobs, report results.

use crate::executor::{ExecError, ExecOutcome, Executor, JobRun, Started};
use crate::hardware::Hardware;
use crate::journal::{JobRecord, Journal};
use gpunet_client::{ClientError, MachineSearch, NodeClient, StreamItem, Wallet};
use gpunet_ledger::{required_stake, Account, Event, OrderStatus, OrderView, Params, Rental};
use gpunet_primitives::{
    Amount, ChallengeId, ContainerStop, JobOutcome, Keypair, MachineId, OrderId, ResourcePrices,
    TxBody,
};
use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinSet;

#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// The nodes to talk to: `https://HOST:PORT#KEY`, comma-separated.
    pub node: String,
    /// Jobs, the journal and outputs live here.
    pub data_dir: PathBuf,
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

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("provider data directory: {0}")]
    Io(#[from] std::io::Error),
    #[error("hardware challenges: {0}")]
    Prover(String),
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
        // This provider's newest machine, searched by the node.
        let newest_of_mine = MachineSearch {
            q: Some(format!("owner={me}")),
            order: Some("-id".into()),
            limit: Some(1),
        };
        let mine = || async {
            let (machines, _) = node.find_machines(&newest_of_mine).await?;
            Ok::<_, ClientError>(machines.into_iter().next())
        };
        let params = node.status().await?.params;
        // Other nodes to turn to if this one goes away (none with one validator).
        let _ = node.discover().await;
        let machine = match mine().await? {
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
        // Registering a new machine raises the stake the ledger requires.
        let mut account = node.account(&me).await?.account;
        if machine.is_none() {
            account.machines += 1;
            account.gpus += spec.gpu_count();
        }
        top_up_stake(&wallet, &params, &account).await?;
        let machine = match machine {
            Some(id) => id,
            None => {
                wallet
                    .send(TxBody::RegisterMachine {
                        spec,
                        price_per_hour: config.price_per_hour,
                        resource_prices: config.resource_prices,
                    })
                    .await?;
                mine()
                    .await?
                    .ok_or_else(|| {
                        ClientError::BadResponse("registered machine is not listed".into())
                    })?
                    .id
            }
        };
        let journal = Journal::open(&config.data_dir.join("journal"))?;
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
            }),
        })
    }

    pub fn machine_id(&self) -> MachineId {
        self.inner.machine
    }

    pub fn hardware(&self) -> &Hardware {
        &self.inner.hardware
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
        // `stop` resolved (it is not polled again); `draining` once the
        // machine was paused because of it.
        let mut stop_seen = false;
        let mut draining = false;
        loop {
            // Subscribe before catching up, so no lease falls between the two.
            let mut stream = match node.events(None, Some(&me)).await {
                Ok(s) => s,
                Err(e) => {
                    warn(&inner, &format!("event stream unavailable ({e}); retrying"));
                    tokio::select! {
                        () = &mut stop, if !stop_seen => {
                            stop_seen = true;
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
            loop {
                while jobs.try_join_next().is_some() {}
                if stop_seen && !draining {
                    draining = true;
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
                if draining && jobs.is_empty() {
                    log(&inner, "nothing left running; stopped");
                    return Ok(());
                }
                let item = tokio::select! {
                    () = &mut stop, if !stop_seen => {
                        stop_seen = true;
                        continue;
                    }
                    Some(_) = jobs.join_next(), if draining => continue,
                    item = stream.next() => item,
                };
                let Some(item) = item else { break };
                match item {
                    Ok(StreamItem::Event(e)) => match e.event {
                        Event::OrderLeased {
                            order, provider, ..
                        } if provider == me => {
                            inner.clone().spawn_job(order, &mut jobs);
                        }
                        Event::LivenessProbe {
                            order, provider, ..
                        } if provider == me => {
                            inner.clone().answer_probe(order, &mut jobs);
                        }
                        Event::RentalEnded {
                            order, provider, ..
                        }
                        | Event::JobStopped {
                            order, provider, ..
                        } if provider == me => {
                            // notify_one keeps the signal if the task is not waiting
                            // yet; a lease not registered yet finds out by polling.
                            if let Some(ended) = inner.ending.lock().expect("ending").get(&order) {
                                ended.notify_one();
                            }
                        }
                        Event::ChallengeIssued {
                            challenge, owner, ..
                        } if owner == me => {
                            inner.clone().spawn_challenge(challenge, &mut jobs);
                        }
                        Event::ChallengePassed {
                            challenge,
                            owner,
                            gops,
                            ..
                        } if owner == me => {
                            log(
                                &inner,
                                &format!("passed hardware challenge {challenge} ({gops} GOPS)"),
                            );
                        }
                        Event::ChallengeFailed {
                            challenge,
                            owner,
                            reason,
                            ..
                        } if owner == me => {
                            log(
                                &inner,
                                &format!(
                                    "FAILED hardware challenge {challenge}: {reason}; the machine is \
                                     delisted until the agent restarts and passes a new one"
                                ),
                            );
                        }
                        Event::MachineDeregistered { machine, .. } if machine == inner.machine => {
                            log(
                                &inner,
                                &format!(
                                    "machine {machine} was removed from the network; stopping"
                                ),
                            );
                            return Ok(());
                        }
                        Event::Slashed { provider, .. } if provider == me => {
                            if let Err(e) = inner.ensure_stake().await {
                                warn(&inner, &format!("cannot restore stake after a slash: {e}"));
                            }
                        }
                        _ => {}
                    },
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

/// Where a run's executor handle is kept once it starts.
type HandleSlot = Arc<Mutex<Option<String>>>;

/// Longest a rental's container may run: rentals end by the ledger's word,
/// this only bounds a container the agent lost track of.
const RENTAL_RUN_LIMIT: Duration = Duration::from_secs(366 * 24 * 3600);

/// Cuts a failure or decline reason to what the ledger takes (1024 bytes;
/// 250 characters are at most 1000).
fn clip(reason: &str) -> String {
    reason.chars().take(250).collect()
}

/// Sorts an executor error: a job that could not start (bad image or
/// program) is the spec's doing, anything else is this machine's.
fn run_error(e: ExecError) -> RunError {
    if e.is_job_error() {
        RunError::CannotStart(format!("job could not start: {e}"))
    } else {
        RunError::Failed(format!("executor failed: {e}"))
    }
}

/// GPUs held by one running job; they return to the pool when it is dropped.
struct GpuLease<'a> {
    pool: &'a Mutex<Vec<String>>,
    uuids: Vec<String>,
}

impl<'a> GpuLease<'a> {
    fn take(pool: &'a Mutex<Vec<String>>, count: u32) -> Result<GpuLease<'a>, String> {
        let mut free = pool.lock().expect("gpu pool");
        let count = count as usize;
        if free.len() < count {
            return Err(format!(
                "{count} GPUs leased but only {} are free on this machine",
                free.len()
            ));
        }
        let keep = free.len() - count;
        let uuids = free.split_off(keep);
        Ok(GpuLease { pool, uuids })
    }
}

impl Drop for GpuLease<'_> {
    fn drop(&mut self) {
        let mut free = self.pool.lock().expect("gpu pool");
        free.append(&mut self.uuids);
        free.sort();
    }
}

/// Bonds what `account` lacks of the stake its machines require.
async fn top_up_stake(
    wallet: &Wallet,
    params: &Params,
    account: &Account,
) -> Result<(), ClientError> {
    let required =
        required_stake(params, account).map_err(|e| ClientError::Invalid(e.to_string()))?;
    if account.bonded < required {
        wallet
            .send(TxBody::Stake {
                amount: required - account.bonded,
            })
            .await?;
    }
    Ok(())
}

impl Inner {
    /// Unique per agent (provider address and data directory) and order, and
    /// stable across restarts, so a restarted agent finds what a run left behind
    /// and agents sharing a Docker engine never collide.
    fn run_name(&self, order: OrderId) -> String {
        let provider = self.wallet.address().to_string();
        crate::run::run_name(&provider[..8], &self.config.data_dir, order)
    }

    /// Restores the required stake after a slash; without it the machine gets no work.
    async fn ensure_stake(&self) -> Result<(), ClientError> {
        let node = self.wallet.node();
        let params = node.status().await?.params;
        let account = node.account(&self.wallet.address()).await?.account;
        top_up_stake(&self.wallet, &params, &account).await
    }

    /// Takes the machine off the market, so the ledger leases it nothing
    /// while the agent is away (its restart lists it again).
    async fn pause(&self) {
        if let Err(e) = gpunet_client::owner::set_online(&self.wallet, self.machine, false).await {
            log(self, &format!("cannot pause the machine: {e}"));
        }
    }

    /// Reports every job the journal holds from before a restart.
    async fn recover(&self) -> Result<(), AgentError> {
        for record in self.journal.all()? {
            let order = record.order();
            let outcome = match record {
                JobRecord::Started { handle, .. } => {
                    if let Some(handle) = handle {
                        if let Err(e) = self.executor.cleanup(&handle).await {
                            log(
                                self,
                                &format!("cannot clean up order {order} ({handle}): {e}"),
                            );
                        }
                    }
                    // A rental has nothing to report: catching up restarts it
                    // if it is still running.
                    if self
                        .wallet
                        .node()
                        .order(order)
                        .await
                        .is_ok_and(|o| o.rental.is_some())
                    {
                        self.forget(order).await?;
                        continue;
                    }
                    log(
                        self,
                        &format!("order {order} was interrupted by a restart; reporting it failed"),
                    );
                    JobOutcome::Failed {
                        reason: "interrupted by a provider agent restart".into(),
                    }
                }
                JobRecord::Finished { outcome, .. } => {
                    log(
                        self,
                        &format!("order {order} finished before a restart; reporting it"),
                    );
                    outcome
                }
            };
            self.report(order, outcome).await;
            self.forget(order).await?;
        }
        Ok(())
    }

    /// Tells the ledger this machine is up, for a rental's liveness probe.
    fn answer_probe(self: Arc<Self>, order: OrderId, tasks: &mut JoinSet<()>) {
        tasks.spawn(async move {
            match self.wallet.send(TxBody::AnswerProbe { order }).await {
                Ok(_) => log(
                    &self,
                    &format!("answered the liveness probe of rental {order}"),
                ),
                Err(e) => log(
                    &self,
                    &format!("cannot answer the probe of rental {order}: {e}"),
                ),
            }
        });
    }

    fn spawn_challenge(self: Arc<Self>, id: ChallengeId, tasks: &mut JoinSet<()>) {
        if !self.answering.lock().expect("answering set").insert(id) {
            return;
        }
        tasks.spawn(async move {
            log(&self, &format!("answering hardware challenge {id}"));
            if let Err(e) = crate::challenge::answer(&self.wallet, self.prover.clone(), id).await {
                warn(&self, &format!("challenge {id}: {e}"));
            }
            self.answering.lock().expect("answering set").remove(&id);
        });
    }

    async fn catch_up(self: &Arc<Self>, jobs: &mut JoinSet<()>) -> Result<(), ClientError> {
        if let Some(id) = self.wallet.node().machine(self.machine).await?.challenge {
            self.clone().spawn_challenge(id, jobs);
        }
        for order in self
            .wallet
            .node()
            .provider_leases(&self.wallet.address())
            .await?
        {
            // A probe sent while this agent was away: answer it now.
            if order.rental.as_ref().is_some_and(Rental::awaits_answer) {
                self.clone().answer_probe(order.id, jobs);
            }
            if order.status == OrderStatus::Running && !self.journal.contains(order.id) {
                self.clone().spawn_job(order.id, jobs);
            }
        }
        Ok(())
    }

    fn spawn_job(self: Arc<Self>, order: OrderId, jobs: &mut JoinSet<()>) {
        if !self.running.lock().expect("running set").insert(order) {
            return;
        }
        jobs.spawn(async move {
            if let Err(e) = self.run_job(order).await {
                warn(&self, &format!("order {order}: {e}"));
            }
            self.running.lock().expect("running set").remove(&order);
        });
    }

    async fn run_job(&self, id: OrderId) -> Result<(), AgentError> {
        let order = self.wallet.node().order(id).await?;
        if order.status != OrderStatus::Running
            || order
                .lease
                .as_ref()
                .is_none_or(|l| l.machine != self.machine)
        {
            return Ok(());
        }
        self.journal.write(&JobRecord::Started {
            order: id,
            handle: None,
        })?;
        if order.rental.is_some() {
            return self.run_rental(&order).await;
        }
        log(self, &format!("running order {id} ({})", order.spec.name));
        let ended = self.lease_ended(id);
        let handle = HandleSlot::default();
        let outcome = tokio::select! {
            outcome = self.execute(&order, handle.clone()) => outcome,
            // Its client stopped it (the ledger paid for the time it ran),
            // or its lease ran out: nothing is left to run it for.
            () = self.wait_lease_end(id, &ended) => {
                self.stop_run(id, &handle).await;
                log(self, &format!("order {id} no longer runs on the ledger (stopped by its client, or past its deadline); its run is stopped"));
                return self.forget(id).await;
            }
        };
        self.ending.lock().expect("ending").remove(&id);
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(RunError::CannotStart(reason)) if self.decline(id, &reason).await => {
                return self.forget(id).await;
            }
            Err(RunError::CannotStart(reason) | RunError::Failed(reason)) => {
                log(self, &format!("order {id} failed: {reason}"));
                JobOutcome::Failed {
                    reason: clip(&reason),
                }
            }
        };
        self.journal.write(&JobRecord::Finished {
            order: id,
            outcome: outcome.clone(),
        })?;
        self.report(id, outcome).await;
        self.forget(id).await
    }

    /// Drops what the agent kept of a run: its journal record and its files.
    async fn forget(&self, id: OrderId) -> Result<(), AgentError> {
        self.journal.remove(id)?;
        let _ =
            tokio::fs::remove_dir_all(self.config.data_dir.join("jobs").join(id.to_string())).await;
        Ok(())
    }

    /// Hands a lease that cannot start here back to the ledger. Returns
    /// whether it was declined; `false` when the ledger refused (too late:
    /// the caller reports the run instead).
    async fn decline(&self, order: OrderId, reason: &str) -> bool {
        log(
            self,
            &format!("order {order} cannot start here ({reason}); declining it"),
        );
        let declined = self
            .send_until_answered(TxBody::DeclineLease {
                order,
                reason: clip(reason),
            })
            .await;
        if declined {
            log(self, &format!("declined order {order}"));
        }
        declined
    }

    /// Runs a rental's container until the ledger ends the rental (its time
    /// ran out or the renter ended it), or until the container stops by
    /// itself, which ends the rental; the ledger bills it by time, so there
    /// is nothing else to report.
    async fn run_rental(&self, order: &OrderView) -> Result<(), AgentError> {
        let id = order.id;
        let ends = order.rental.as_ref().map_or(0, |r| r.ends_ms);
        log(self, &format!("starting rental {id} (until {ends} ms)"));
        let ended = self.lease_ended(id);
        // The run's handle, to stop it when the rental ends.
        let handle = HandleSlot::default();
        let outcome = async {
            let (run, gpus) = self
                .prepare(order, RENTAL_RUN_LIMIT)
                .await
                .map_err(RunError::CannotStart)?;
            let started = Box::new(self.journal_start(id, handle.clone()));
            let beside = async {
                tokio::join!(
                    self.announce_endpoints(id, &run),
                    self.push_live_logs(id, &run)
                );
            };
            let result = self.run_beside(&run, started, beside).await;
            drop(gpus);
            result.map_err(run_error)
        };
        tokio::select! {
            result = outcome => match result {
                // Declined before its first bill: the renter pays nothing.
                Err(RunError::CannotStart(reason)) if self.decline(id, &reason).await => {}
                result => {
                    // Nothing runs for the renter any more: the rental ends
                    // here rather than bill the renter for an empty machine.
                    let (how, note) = match result {
                        Ok(exit) => (
                            ContainerStop::Exited { exit_code: exit.exit_code },
                            format!("exit code {}", exit.exit_code),
                        ),
                        Err(RunError::CannotStart(e) | RunError::Failed(e)) => {
                            (ContainerStop::Failed, e)
                        }
                    };
                    log(self, &format!("rental {id}'s container stopped ({note}); ending the rental"));
                    if !self
                        .send_until_answered(TxBody::RentalStopped { order: id, how })
                        .await
                    {
                        self.wait_lease_end(id, &ended).await;
                    }
                }
            },
            () = self.wait_lease_end(id, &ended) => {}
        }
        self.stop_run(id, &handle).await;
        log(self, &format!("rental {id} ended"));
        self.forget(id).await
    }

    /// Stops what still runs of lease `id` (its executor handle in `handle`)
    /// and forgets its end signal.
    async fn stop_run(&self, id: OrderId, handle: &HandleSlot) {
        let handle = handle.lock().expect("handle slot").clone();
        if let Some(handle) = handle {
            if let Err(e) = self.executor.cleanup(&handle).await {
                log(
                    self,
                    &format!("cannot stop order {id}'s run ({handle}): {e}"),
                );
            }
        }
        self.ending.lock().expect("ending").remove(&id);
    }

    /// Runs `run` to its end with `beside` going on meanwhile (dropped if
    /// still going when the run ends).
    async fn run_beside(
        &self,
        run: &JobRun,
        started: Started<'_>,
        beside: impl std::future::Future<Output = ()>,
    ) -> Result<ExecOutcome, ExecError> {
        let running = self.executor.run(run, started);
        tokio::pin!(running);
        tokio::select! {
            result = &mut running => result,
            () = beside => running.await,
        }
    }

    /// Pushes `run`'s logs to the node while it runs (`live_logs`).
    async fn push_live_logs(&self, order: OrderId, run: &JobRun) {
        crate::live_logs::push(&self.wallet, order, run, |m| log(self, m)).await
    }

    /// Tells the ledger where the renter reaches the rental's ports, once the
    /// executor has published them. Returns when announced (or refused).
    async fn announce_endpoints(&self, order: OrderId, run: &JobRun) {
        if run.ports.is_empty() {
            return;
        }
        loop {
            match self.executor.published_ports(run).await {
                Ok(Some(ports)) => {
                    let host = &self.config.public_host;
                    let endpoints = ports.iter().map(|p| format!("{host}:{p}")).collect();
                    let body = TxBody::AnnounceEndpoints { order, endpoints };
                    if self.send_until_answered(body).await {
                        log(self, &format!("announced rental {order}'s endpoints"));
                    }
                    return;
                }
                Ok(None) => {}
                Err(e) => {
                    log(self, &format!("cannot find rental {order}'s ports: {e}"));
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Journals a run's executor handle as soon as it exists (the executor's
    /// `started` callback), so a restart can clean up after it, and keeps it
    /// in `slot`, so the run can be stopped when the ledger ends its lease.
    fn journal_start(
        &self,
        order: OrderId,
        slot: HandleSlot,
    ) -> impl FnOnce(String) + Send + 'static {
        let journal = self.journal.clone();
        move |handle| {
            *slot.lock().expect("handle slot") = Some(handle.clone());
            let _ = journal.write(&JobRecord::Started {
                order,
                handle: Some(handle),
            });
        }
    }

    /// The signal that the ledger ended lease `id`, registered before it runs.
    fn lease_ended(&self, id: OrderId) -> Arc<tokio::sync::Notify> {
        self.ending
            .lock()
            .expect("ending")
            .entry(id)
            .or_default()
            .clone()
    }

    /// Returns once the ledger no longer has lease `id` running: told by the
    /// event stream, or found by asking the node (events can be missed).
    async fn wait_lease_end(&self, id: OrderId, ended: &tokio::sync::Notify) {
        loop {
            tokio::select! {
                () = ended.notified() => return,
                () = tokio::time::sleep(Duration::from_secs(2)) => {
                    if let Ok(order) = self.wallet.node().order(id).await {
                        if order.status != OrderStatus::Running {
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Lays out a run of `order` (`run::lay_out`) and takes the lease's GPUs.
    async fn prepare(
        &self,
        order: &OrderView,
        timeout: Duration,
    ) -> Result<(JobRun, GpuLease<'_>), String> {
        let job_dir = self.config.data_dir.join("jobs").join(order.id.to_string());
        let run = crate::run::lay_out(
            &self.wallet,
            order,
            self.run_name(order.id),
            &job_dir,
            timeout,
        )
        .await?;
        let gpus = GpuLease::take(&self.free_gpus, order.spec.resources.gpu.count)?;
        let run = JobRun {
            gpus: gpus.uuids.clone(),
            ..run
        };
        Ok((run, gpus))
    }

    /// Fetches inputs, runs the job, uploads logs and outputs.
    async fn execute(&self, order: &OrderView, handle: HandleSlot) -> Result<JobOutcome, RunError> {
        let timeout = Duration::from_secs(order.spec.timeout_secs);
        let (run, gpus) = self
            .prepare(order, timeout)
            .await
            .map_err(RunError::CannotStart)?;
        let started = Box::new(self.journal_start(order.id, handle));
        let result = self
            .run_beside(&run, started, self.push_live_logs(order.id, &run))
            .await;
        drop(gpus);
        let result = result.map_err(run_error)?;
        self.deliver(&run, &result).await.map_err(RunError::Failed)
    }

    /// Uploads a finished run's logs, outputs and manifest; the manifest's
    /// root is the output root the result commits to.
    async fn deliver(&self, run: &JobRun, result: &ExecOutcome) -> Result<JobOutcome, String> {
        let (manifest, files) = crate::run::collect(run, result)?;
        for (path, hash) in files {
            self.wallet
                .put_blob_file(&path, hash)
                .await
                .map_err(|e| format!("cannot upload {}: {e}", path.display()))?;
        }
        self.wallet
            .put_blob(manifest.encode())
            .await
            .map_err(|e| format!("cannot upload the manifest: {e}"))?;
        Ok(JobOutcome::Completed {
            exit_code: result.exit_code,
            output_root: manifest.root(),
            output_bytes: manifest.total_bytes(),
            duration_ms: result.duration_ms,
            stopped: result.stopped,
        })
    }

    /// Reports a result. A report the ledger refuses (the lease already timed
    /// out) is dropped with a note.
    async fn report(&self, order: OrderId, outcome: JobOutcome) {
        if self
            .send_until_answered(TxBody::ReportResult { order, outcome })
            .await
        {
            log(self, &format!("reported order {order}"));
        }
    }

    /// Sends `body`, retrying while the node is unreachable. Returns whether
    /// the ledger accepted it; a refusal is logged.
    async fn send_until_answered(&self, body: TxBody) -> bool {
        let kind = body.kind();
        let mut delay = Duration::from_millis(200);
        loop {
            match self.wallet.send(body.clone()).await {
                Ok(_) => return true,
                Err(ClientError::Api(e)) => {
                    log(self, &format!("{kind} refused: {e}"));
                    return false;
                }
                Err(e) => {
                    log(self, &format!("{kind} failed ({e}); retrying"));
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}
