//! Rentals: a container kept up until the ledger ends the rental, its ports
//! announced and its liveness probes answered.

use super::jobs::{run_error, HandleSlot};
use super::{log, AgentError, Inner, RunError};
use crate::executor::JobRun;
use crate::metrics::{ExecutorStage, LeaseKind, RunOutcome};
use gpunet_primitives::{ContainerStop, OrderId, TxBody};
use gpunet_types::OrderView;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// Longest a rental's container may run: rentals end by the ledger's word,
/// this only bounds a container the agent lost track of.
pub(super) const RENTAL_RUN_LIMIT: Duration = Duration::from_secs(366 * 24 * 3600);

impl Inner {
    /// Tells the ledger this machine is up, for a rental's liveness probe.
    pub(super) fn answer_probe(self: Arc<Self>, order: OrderId, tasks: &mut JoinSet<()>) {
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

    /// Runs a rental's container until the ledger ends the rental (its time
    /// ran out or the renter ended it), or until the container stops by
    /// itself, which ends the rental; the ledger bills it by time, so there
    /// is nothing else to report.
    pub(super) async fn run_rental(&self, order: &OrderView) -> Result<(), AgentError> {
        let id = order.id;
        let ends = order.rental.as_ref().map_or(0, |r| r.ends_ms);
        log(self, &format!("starting rental {id} (until {ends} ms)"));
        let _running = self.metrics.lease_running(self.machine, LeaseKind::Rental);
        let ended = self.lease_ended(id);
        // The run's handle, to stop it when the rental ends.
        let handle = HandleSlot::default();
        let outcome = async {
            let (run, gpus) = self
                .prepare(order, RENTAL_RUN_LIMIT)
                .await
                .map_err(|e| RunError::CannotStart(e.to_string()))?;
            // Renters' sessions may open from here on (`rental_access`).
            self.rentals.insert(id, run.clone());
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
                Err(RunError::CannotStart(reason)) if self.decline(id, &reason).await => {
                    self.metrics.executor_error(self.machine, ExecutorStage::Start);
                    self.metrics.run_ended(self.machine, RunOutcome::Declined);
                }
                result => {
                    // Nothing runs for the renter any more: the rental ends
                    // here rather than bill the renter for an empty machine.
                    if let Err(e) = &result {
                        self.metrics.executor_error(self.machine, e.stage());
                    }
                    let (how, note, outcome) = match result {
                        Ok(exit) => (
                            ContainerStop::Exited { exit_code: exit.exit_code },
                            format!("exit code {}", exit.exit_code),
                            RunOutcome::Completed,
                        ),
                        Err(RunError::CannotStart(e) | RunError::Failed(e)) => {
                            (ContainerStop::Failed, e, RunOutcome::Failed)
                        }
                    };
                    self.metrics.run_ended(self.machine, outcome);
                    log(self, &format!("rental {id}'s container stopped ({note}); ending the rental"));
                    if !self
                        .send_until_answered(TxBody::RentalStopped { order: id, how })
                        .await
                    {
                        self.wait_lease_end(id, &ended).await;
                    }
                }
            },
            // Its time ran out, or its renter ended it.
            () = self.wait_lease_end(id, &ended) => {
                self.metrics.run_ended(self.machine, RunOutcome::Completed);
            }
        }
        // Renters' sessions end before the container goes.
        self.rentals.remove(id);
        self.stop_run(id, &handle).await;
        self.drop_workspace(id).await;
        log(self, &format!("rental {id} ended"));
        self.forget(id).await
    }

    /// Tells the ledger where the renter reaches the rental's ports, once the
    /// executor has published them. Returns when announced (or refused).
    pub(super) async fn announce_endpoints(&self, order: OrderId, run: &JobRun) {
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
}
