//! The agent's lifecycle: its stake, pausing, recovery after a restart and
//! catching up with the leases the ledger gave it while it was away.

use super::{log, warn, AgentConfig, AgentError, Inner};
use crate::journal::JobRecord;
use gpunet_client::{ClientError, Wallet};
use gpunet_primitives::{JobOutcome, MachineId, MachineSpec, OrderId, TxBody};
use gpunet_types::{required_stake, Account, Event, OrderStatus, Params, Rental};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::task::JoinSet;

/// Bonds what `account` lacks of the stake its machines require.
pub(super) async fn top_up_stake(
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

/// Times registration is tried when another machine of the same account
/// registers in between (see [`register`]).
const REGISTER_TRIES: usize = 3;

/// The file in an agent's data directory that names the machine it serves.
pub(super) const MACHINE_RECORD: &str = "machine-id";

/// Which machine an agent's data directory serves: registered once, then
/// found again on every restart. Asking the node for the owner's newest
/// machine instead would hand two agents of one account the same machine.
pub(super) struct MachineRecord(pub(super) PathBuf);

impl MachineRecord {
    /// The machine recorded, if any.
    pub(super) fn read(&self) -> Result<Option<MachineId>, AgentError> {
        match std::fs::read_to_string(&self.0) {
            Ok(text) => text.trim().parse().map(Some).map_err(|_| {
                AgentError::Io(std::io::Error::other(format!(
                    "{} does not name a machine: {text:?}",
                    self.0.display()
                )))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Records `machine`.
    pub(super) fn write(&self, machine: MachineId) -> Result<(), AgentError> {
        Ok(std::fs::write(&self.0, format!("{machine}\n"))?)
    }
}

/// Registers a machine of `spec`, first staking what the account's machines
/// need with it, and returns its id. Agents sharing one account that start
/// together can each stake for their own machine and find, once the other
/// registered first, that the ledger now asks for both: that refusal
/// (`insufficient_stake`) tops the stake up again and registers anew.
pub(super) async fn register(
    wallet: &Wallet,
    params: &Params,
    spec: MachineSpec,
    config: &AgentConfig,
) -> Result<MachineId, ClientError> {
    let mut tries = 1;
    loop {
        // Registering a new machine raises the stake the ledger requires.
        let mut account = wallet.node().account(&wallet.address()).await?.account;
        account.machines += 1;
        account.gpus += spec.gpu_count();
        top_up_stake(wallet, params, &account).await?;
        // Another agent of this account may be registering a machine alike.
        let sent = wallet
            .send_distinct(TxBody::RegisterMachine {
                spec: spec.clone(),
                price_per_hour: config.price_per_hour,
                resource_prices: config.resource_prices,
            })
            .await;
        match sent {
            Err(e) if e.code() == Some("insufficient_stake") && tries < REGISTER_TRIES => {
                tries += 1;
            }
            Err(e) => return Err(e),
            Ok(included) => {
                return included
                    .events
                    .iter()
                    .find_map(|e| match e {
                        Event::MachineRegistered { machine, .. } => Some(*machine),
                        _ => None,
                    })
                    .ok_or_else(|| {
                        ClientError::BadResponse("registration names no machine".into())
                    })
            }
        }
    }
}

impl Inner {
    /// Unique per agent (provider address and data directory) and order, and
    /// stable across restarts, so a restarted agent finds what a run left behind
    /// and agents sharing a Docker engine never collide.
    pub(super) fn run_name(&self, order: OrderId) -> String {
        let provider = self.wallet.address().to_string();
        crate::run::run_name(&provider[..8], &self.config.data_dir, order)
    }

    /// Restores the required stake after a slash; without it the machine gets no work.
    pub(super) async fn ensure_stake(&self) -> Result<(), ClientError> {
        let node = self.wallet.node();
        let params = node.status().await?.params;
        let account = node.account(&self.wallet.address()).await?.account;
        top_up_stake(&self.wallet, &params, &account).await
    }

    /// Takes the machine off the market, so the ledger leases it nothing
    /// while the agent is away (its restart lists it again).
    pub(super) async fn pause(&self) {
        if let Err(e) = gpunet_client::owner::set_online(&self.wallet, self.machine, false).await {
            log(self, &format!("cannot pause the machine: {e}"));
        }
    }

    /// Reports every job the journal holds from before a restart.
    pub(super) async fn recover(&self) -> Result<(), AgentError> {
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
                    // A rental has nothing to report, nor a lease that was
                    // still preparing: catching up starts them again if
                    // they are still leased here.
                    if self
                        .wallet
                        .node()
                        .order(order)
                        .await
                        .is_ok_and(|o| o.rental.is_some() || o.status == OrderStatus::Preparing)
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

    pub(super) async fn stop_runs(&self) {
        let records = match self.journal.all() {
            Ok(records) => records,
            Err(e) => {
                warn(
                    self,
                    &format!("cannot read the journal to stop its runs: {e}"),
                );
                return;
            }
        };
        for record in records {
            if let JobRecord::Started {
                order,
                handle: Some(handle),
            } = record
            {
                if let Err(e) = self.executor.cleanup(&handle).await {
                    warn(
                        self,
                        &format!("cannot stop order {order}'s run ({handle}): {e}"),
                    );
                }
            }
        }
    }

    pub(super) async fn catch_up(
        self: &Arc<Self>,
        jobs: &mut JoinSet<()>,
    ) -> Result<(), ClientError> {
        // What follows is read as of this height or later: the tasks it
        // starts may ask another node, should this one go away.
        let seen_at = self.wallet.node().status().await?.height;
        if let Some(id) = self.wallet.node().machine(self.machine).await?.challenge {
            self.clone().spawn_challenge(id, seen_at, jobs);
        }
        let leases = self
            .wallet
            .node()
            .provider_leases(&self.wallet.address())
            .await?;
        let mut running_here = BTreeSet::new();
        for order in leases {
            // A probe sent while this agent was away: answer it now.
            if order.rental.as_ref().is_some_and(Rental::awaits_answer) {
                self.clone().answer_probe(order.id, seen_at, jobs);
            }
            let here = order
                .lease
                .as_ref()
                .is_some_and(|l| l.machine == self.machine);
            if (order.status.is_leased() || order.status == OrderStatus::Saving) && here {
                running_here.insert(order.id);
            }
            // Its renter ended it asking to save its workspace while this
            // agent was away: save it now.
            if order.status == OrderStatus::Saving && here {
                self.clone().spawn_save(order.id, jobs);
            }
            if order.status.is_leased() && !self.journal.contains(order.id) {
                self.clone().spawn_job(order.id, seen_at, jobs);
            }
        }
        self.drop_workspaces_but(&running_here).await;
        Ok(())
    }

    /// Deletes the workspaces of rentals that ended while this agent was
    /// away: every one but those of `running` orders.
    async fn drop_workspaces_but(&self, running: &BTreeSet<OrderId>) {
        let Ok(mut dirs) = tokio::fs::read_dir(self.config.data_dir.join("workspaces")).await
        else {
            return;
        };
        while let Ok(Some(dir)) = dirs.next_entry().await {
            let order = dir
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<OrderId>().ok());
            if let Some(order) = order.filter(|o| !running.contains(o)) {
                self.drop_workspace(order).await;
            }
        }
    }
}
