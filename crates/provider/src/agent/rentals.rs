//! Rentals: a container kept up until the ledger ends the rental, its ports
//! announced and its liveness probes answered.

use super::jobs::{run_error, HandleSlot};
use super::{log, AgentError, Inner, RunError};
use crate::executor::JobRun;
use crate::metrics::{ExecutorStage, LeaseKind, RunOutcome};
use gpunet_primitives::{ContainerStop, OnExit, OrderId, TxBody};
use gpunet_types::OrderView;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// A rental that restarts its container ([`OnExit::Restart`]) ends once its
/// container stopped within `QUICK_STOP` of each of `MAX_QUICK_STOPS`
/// starts in a row: nothing runs for the renter then, and an idle machine
/// is not billed to the renter by surprise.
const QUICK_STOP: Duration = Duration::from_secs(60);
const MAX_QUICK_STOPS: u32 = 5;

/// How long to wait before starting a container again that stopped quickly
/// `quick_stops` times in a row: 1 s, then doubling (a program that fails at
/// once is not restarted in a tight loop).
fn restart_delay(quick_stops: u32) -> Duration {
    Duration::from_secs(1 << quick_stops.saturating_sub(1).min(5))
}

/// Appends the agent's `note` to rental `run`'s stderr, where its renter,
/// following the log, sees why the container started again.
async fn note_in_log(run: &JobRun, note: &str) {
    use tokio::io::AsyncWriteExt;
    let appended = async {
        let mut file = tokio::fs::OpenOptions::from(run.log_options())
            .open(&run.stderr)
            .await?;
        file.write_all(format!("{note}\n").as_bytes()).await
    };
    // The log is the renter's convenience; the agent's own log has the note.
    let _ = appended.await;
}

/// Longest a rental's container may run: rentals end by the ledger's word,
/// this only bounds a container the agent lost track of.
pub(super) const RENTAL_RUN_LIMIT: Duration = Duration::from_secs(366 * 24 * 3600);

impl Inner {
    /// Tells the ledger this machine is up, for a rental's liveness probe.
    /// Answers the probe sent at block `sent_at` or before.
    pub(super) fn answer_probe(
        self: Arc<Self>,
        order: OrderId,
        sent_at: u64,
        tasks: &mut JoinSet<()>,
    ) {
        tasks.spawn(async move {
            let answered = match self.caught_up_to(sent_at).await {
                Ok(()) => self.wallet.send(TxBody::AnswerProbe { order }).await,
                Err(e) => Err(e),
            };
            match answered {
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
    /// itself and is not to be started again ([`OnExit`]), which ends the
    /// rental; the ledger bills it by time, so there is nothing else to
    /// report.
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
            let container = self.run_container(id, order.spec.on_exit, &run, &handle);
            tokio::pin!(container);
            // The live logs go on across the container's starts.
            let stopped = tokio::select! {
                stopped = &mut container => stopped,
                () = self.push_live_logs(id, &run) => container.await,
            };
            drop(gpus);
            stopped
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
                        Ok(how) => (how, how.to_string(), RunOutcome::Completed),
                        Err(RunError::CannotStart(e) | RunError::Failed(e)) => {
                            (ContainerStop::Failed, e, RunOutcome::Failed)
                        }
                    };
                    self.metrics.run_ended(self.machine, outcome);
                    log(self, &format!("rental {id} stopped ({note}); ending the rental"));
                    if !self
                        .send_until_answered(TxBody::RentalStopped { order: id, how })
                        .await
                    {
                        self.wait_lease_end(id, &ended).await;
                    }
                }
            },
            // Its time ran out, or its renter ended it (saving its
            // workspace or not).
            () = self.wait_lease_end(id, &ended) => {
                self.metrics.run_ended(self.machine, RunOutcome::Completed);
            }
        }
        // Renters' sessions end before the container goes.
        self.rentals.remove(id);
        self.stop_run(id, &handle).await;
        // Its renter may have ended it asking to save its workspace; the
        // container is stopped, so the files hold still.
        if self.is_saving(id).await {
            self.save_workspace(id).await;
        }
        self.drop_workspace(id).await;
        log(self, &format!("rental {id} ended"));
        self.forget(id).await
    }

    /// Runs rental `id`'s container until it stops for good: at once with
    /// [`OnExit::End`]; with [`OnExit::Restart`], once it stopped soon
    /// after each of [`MAX_QUICK_STOPS`] starts in a row. Each start
    /// announces where the renter reaches its ports (they may move).
    async fn run_container(
        &self,
        id: OrderId,
        on_exit: OnExit,
        run: &JobRun,
        handle: &HandleSlot,
    ) -> Result<ContainerStop, RunError> {
        let mut quick_stops = 0;
        let mut first_start = true;
        loop {
            let began = Instant::now();
            let started = Box::new(self.journal_start(id, handle.clone()));
            let result = self
                .run_beside(run, started, self.announce_endpoints(id, run))
                .await
                .map_err(run_error);
            let how = match (result, on_exit) {
                (Ok(exit), _) => ContainerStop::Exited {
                    exit_code: exit.exit_code,
                },
                // The first start may still be declined (`run_rental`).
                (Err(e), OnExit::End) => return Err(e),
                (Err(RunError::CannotStart(e)), OnExit::Restart) if first_start => {
                    return Err(RunError::CannotStart(e))
                }
                (Err(RunError::CannotStart(_) | RunError::Failed(_)), OnExit::Restart) => {
                    ContainerStop::Failed
                }
            };
            if on_exit == OnExit::End {
                return Ok(how);
            }
            first_start = false;
            quick_stops = if began.elapsed() < QUICK_STOP {
                quick_stops + 1
            } else {
                0
            };
            if quick_stops >= MAX_QUICK_STOPS {
                return Ok(ContainerStop::KeptStopping {
                    starts: quick_stops,
                });
            }
            let delay = restart_delay(quick_stops);
            let note = format!(
                "gpunet: {how}; starting the container again in {} s (on_exit = \"restart\")",
                delay.as_secs()
            );
            log(self, &format!("rental {id}: {note}"));
            note_in_log(run, &note).await;
            tokio::time::sleep(delay).await;
        }
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
