//! Jobs: a lease's run from its inputs to its reported result (or its
//! decline, when it cannot start here), with the GPUs it holds.

use super::secrets::SecretsError;
use super::{log, warn, AgentError, Inner, RunError};
use crate::data_plane::KeepError;
use crate::executor::{ExecError, ExecOutcome, JobRun, Started};
use crate::images::ImageError;
use crate::journal::JobRecord;
use crate::metrics::{LeaseKind, RunOutcome};
use crate::run::{CollectError, LayoutError};
use gpunet_client::ClientError;
use gpunet_primitives::manifest::Manifest;
use gpunet_primitives::{Hash, JobOutcome, OrderId, OutputHolder, TxBody};
use gpunet_types::{OrderStatus, OrderView};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinSet;
use tracing::Instrument;

/// Where a run's executor handle is kept once it starts.
pub(super) type HandleSlot = Arc<Mutex<Option<String>>>;

/// Cuts a failure or decline reason to what the ledger takes (1024 bytes;
/// 250 characters are at most 1000).
pub(super) fn clip(reason: &str) -> String {
    reason.chars().take(250).collect()
}

/// Sorts an executor error: a job that could not start (bad image or
/// program) is the spec's doing, anything else is this machine's.
pub(super) fn run_error(e: ExecError) -> RunError {
    if e.is_job_error() {
        RunError::CannotStart(format!("job could not start: {e}"))
    } else {
        RunError::Failed(format!("executor failed: {e}"))
    }
}

/// Why a leased job cannot start on this machine (the lease is declined).
#[derive(Debug, thiserror::Error)]
pub(super) enum StartError {
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("{leased} GPUs leased but only {free} are free on this machine")]
    GpusBusy { leased: usize, free: usize },
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("the ledger did not start the lease (it no longer prepares on this machine)")]
    NotStarted,
}

/// Why a finished run's result could not be handed in (it is reported failed).
#[derive(Debug, thiserror::Error)]
pub(super) enum DeliverError {
    #[error(transparent)]
    Collect(#[from] CollectError),
    #[error("cannot upload {}: {source}", path.display())]
    Upload { path: PathBuf, source: ClientError },
    #[error("cannot upload the manifest: {0}")]
    Manifest(ClientError),
    #[error("cannot keep the result for serving: {0}")]
    Keep(#[from] KeepError),
}

/// GPUs held by one running job; they return to the pool when it is dropped.
pub(super) struct GpuLease<'a> {
    pool: &'a Mutex<Vec<String>>,
    uuids: Vec<String>,
}

impl<'a> GpuLease<'a> {
    fn take(pool: &'a Mutex<Vec<String>>, count: u32) -> Result<GpuLease<'a>, StartError> {
        let mut free = pool.lock().expect("gpu pool");
        let count = count as usize;
        if free.len() < count {
            return Err(StartError::GpusBusy {
                leased: count,
                free: free.len(),
            });
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

impl Inner {
    /// Runs lease `order`, granted at block `leased_at` or before.
    pub(super) fn spawn_job(
        self: Arc<Self>,
        order: OrderId,
        leased_at: u64,
        jobs: &mut JoinSet<()>,
    ) {
        if !self.running.lock().expect("running set").insert(order) {
            return;
        }
        // Every line logged for this lease carries its order id.
        let span = tracing::info_span!("lease", order);
        jobs.spawn(
            async move {
                if let Err(e) = self.run_job(order, leased_at).await {
                    warn(&self, &format!("order {order}: {e}"));
                }
                self.running.lock().expect("running set").remove(&order);
            }
            .instrument(span),
        );
    }

    /// Lease `id` as a node at block `leased_at` or later has it, asked
    /// again while no node can be reached: dropped on one failed read, the
    /// lease would time out and its provider be slashed.
    async fn leased_order(&self, id: OrderId, leased_at: u64) -> Result<OrderView, ClientError> {
        let mut delay = Duration::from_millis(200);
        loop {
            let read = match self.caught_up_to(leased_at).await {
                Ok(()) => self.wallet.node().order(id).await,
                Err(e) => Err(e),
            };
            match read {
                Err(e @ ClientError::Unreachable { .. }) => {
                    warn(self, &format!("cannot read order {id} ({e}); retrying"));
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                read => return read,
            }
        }
    }

    pub(super) async fn run_job(&self, id: OrderId, leased_at: u64) -> Result<(), AgentError> {
        let order = self.leased_order(id, leased_at).await?;
        if !order.status.is_leased()
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
        self.unpaid.lock().expect("unpaid").insert(id);
        if order.rental.is_some() {
            return self.run_rental(&order).await;
        }
        // A job's workspace (the saved one it started with) goes with it.
        let _workspace = order
            .spec
            .workspace
            .map(|_| super::workspaces::RemovedOnDrop(self.workspace_dir(id)));
        let _running = self.metrics.lease_running(self.machine, LeaseKind::Job);
        log(self, &format!("running order {id} ({})", order.spec.name));
        let ended = self.lease_ended(id);
        let handle = HandleSlot::default();
        let outcome = tokio::select! {
            outcome = self.execute(&order, handle.clone()) => outcome,
            // Its client stopped it (the ledger paid for the time it ran),
            // or its lease ran out: nothing is left to run it for.
            () = self.wait_lease_end(id, &ended) => {
                self.stop_run(id, &handle).await;
                self.metrics.run_ended(self.machine, RunOutcome::Stopped);
                log(self, &format!("order {id} no longer runs on the ledger (stopped by its client, or past its deadline); its run is stopped"));
                return self.forget(id).await;
            }
        };
        self.ending.lock().expect("ending").remove(&id);
        if let Err(e) = &outcome {
            self.metrics.executor_error(self.machine, e.stage());
        }
        let outcome = match outcome {
            Ok(outcome) => {
                self.metrics.run_ended(self.machine, RunOutcome::Completed);
                outcome
            }
            Err(RunError::CannotStart(reason)) if self.decline(id, &reason).await => {
                self.metrics.run_ended(self.machine, RunOutcome::Declined);
                return self.forget(id).await;
            }
            Err(RunError::CannotStart(reason) | RunError::Failed(reason)) => {
                self.metrics.run_ended(self.machine, RunOutcome::Failed);
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
    pub(super) async fn forget(&self, id: OrderId) -> Result<(), AgentError> {
        self.journal.remove(id)?;
        let _ =
            tokio::fs::remove_dir_all(self.config.data_dir.join("jobs").join(id.to_string())).await;
        Ok(())
    }

    /// Hands a lease that cannot start here back to the ledger. Returns
    /// whether it was declined; `false` when the ledger refused (too late:
    /// the caller reports the run instead).
    pub(super) async fn decline(&self, order: OrderId, reason: &str) -> bool {
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

    /// Stops what still runs of lease `id` (its executor handle in `handle`)
    /// and forgets its end signal.
    pub(super) async fn stop_run(&self, id: OrderId, handle: &HandleSlot) {
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
    pub(super) async fn run_beside(
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
    pub(super) async fn push_live_logs(&self, order: OrderId, run: &JobRun) {
        crate::live_logs::push(&self.wallet, order, run, |m| log(self, m)).await
    }

    /// Journals a run's executor handle as soon as it exists (the executor's
    /// `started` callback), so a restart can clean up after it, and keeps it
    /// in `slot`, so the run can be stopped when the ledger ends its lease.
    pub(super) fn journal_start(
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
    pub(super) fn lease_ended(&self, id: OrderId) -> Arc<tokio::sync::Notify> {
        self.ending
            .lock()
            .expect("ending")
            .entry(id)
            .or_default()
            .clone()
    }

    /// Returns once the ledger no longer has lease `id` running on this
    /// machine: told by the event stream, or found by asking the node
    /// (events can be missed; a timed-out job may run elsewhere by then).
    pub(super) async fn wait_lease_end(&self, id: OrderId, ended: &tokio::sync::Notify) {
        loop {
            tokio::select! {
                () = ended.notified() => return,
                () = tokio::time::sleep(Duration::from_secs(2)) => {
                    if let Ok(order) = self.wallet.node().order(id).await {
                        let here = order.lease.as_ref().is_some_and(|l| l.machine == self.machine);
                        if !order.status.is_leased() || !here {
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Lays out a run of `order` (`run::lay_out`) with its secrets, and
    /// takes the lease's GPUs; a lease that was preparing is started on the
    /// ledger once its pushed image is loaded here, so its timeout and
    /// meter count from then.
    pub(super) async fn prepare(
        &self,
        order: &OrderView,
        timeout: Duration,
    ) -> Result<(JobRun, GpuLease<'_>), StartError> {
        // First: a run without its secrets is declined before anything is fetched.
        let secrets = self.secrets_of(order).await?;
        self.ensure_image(order).await?;
        // The image is here: what follows (inputs, the run) counts against
        // the timeout, as it does for a lease that had nothing to prepare.
        if order.status == OrderStatus::Preparing {
            if !self
                .send_until_answered(TxBody::StartLease { order: order.id })
                .await
            {
                return Err(StartError::NotStarted);
            }
            log(
                self,
                &format!("order {}: prepared; its run starts", order.id),
            );
        }
        let job_dir = self.config.data_dir.join("jobs").join(order.id.to_string());
        let run = crate::run::lay_out(
            &self.wallet,
            order,
            self.peer.as_ref(),
            self.run_name(order.id),
            &job_dir,
            timeout,
        )
        .await?;
        let workspace = match (&order.rental, order.spec.workspace) {
            (Some(_), _) | (None, Some(_)) => Some(self.workspace(order).await?),
            (None, None) => None,
        };
        let gpus = GpuLease::take(&self.free_gpus, order.spec.resources.gpu.count)?;
        let run = JobRun {
            gpus: gpus.uuids.clone(),
            workspace,
            secrets,
            ..run
        };
        Ok((run, gpus))
    }

    /// Makes the image `order` runs available: a pushed one is fetched and
    /// loaded ([`crate::images`]) before the run's timeout starts.
    async fn ensure_image(&self, order: &OrderView) -> Result<(), ImageError> {
        let Some(peer) = &self.peer else {
            let pushed = order.spec.image_blob.is_some();
            return match pushed && !self.executor.has_image(&order.spec.image).await? {
                true => Err(ImageError::NoPeer),
                false => Ok(()),
            };
        };
        let started = std::time::Instant::now();
        let loaded = peer
            .images()
            .ensure(order, &*self.executor, self.wallet.node())
            .await?;
        if let Some(blob) = loaded {
            log(
                self,
                &format!(
                    "order {}: image {} fetched ({} bytes, archive {}) and loaded in {:.1} s",
                    order.id,
                    order.spec.image,
                    blob.size,
                    blob.hash,
                    started.elapsed().as_secs_f64()
                ),
            );
        }
        Ok(())
    }

    /// Fetches inputs, runs the job, uploads logs and outputs.
    pub(super) async fn execute(
        &self,
        order: &OrderView,
        handle: HandleSlot,
    ) -> Result<JobOutcome, RunError> {
        let timeout = Duration::from_secs(order.spec.timeout_secs);
        let (run, gpus) = self
            .prepare(order, timeout)
            .await
            .map_err(|e| RunError::CannotStart(e.to_string()))?;
        let started = Box::new(self.journal_start(order.id, handle));
        let result = self
            .run_beside(&run, started, self.push_live_logs(order.id, &run))
            .await;
        drop(gpus);
        let result = result.map_err(run_error)?;
        self.deliver(order.id, &run, &result)
            .await
            .map_err(|e| RunError::Failed(e.to_string()))
    }

    /// Hands in a finished run of `order`: its logs and outputs are uploaded
    /// to the node or kept by this agent's peer ([`Outputs`](crate::data_plane::Outputs)), its
    /// manifest uploaded either way; the manifest's root is the output root
    /// the result commits to.
    pub(super) async fn deliver(
        &self,
        order: OrderId,
        run: &JobRun,
        result: &ExecOutcome,
    ) -> Result<JobOutcome, DeliverError> {
        let (manifest, files) = crate::run::collect(run, result)?;
        let held_by = self.store(order, &manifest, files).await?;
        Ok(JobOutcome::Completed {
            exit_code: result.exit_code,
            output_root: manifest.root(),
            output_bytes: manifest.total_bytes(),
            duration_ms: result.duration_ms,
            stopped: result.stopped,
            held_by,
        })
    }

    /// Stores the files of `order`'s result (its outputs, or a rental's
    /// saved workspace) where its readers fetch them: kept by this agent's
    /// peer, or uploaded to the node; its manifest goes to the node either
    /// way. Returns who keeps the files.
    pub(super) async fn store(
        &self,
        order: OrderId,
        manifest: &Manifest,
        files: Vec<(PathBuf, Hash)>,
    ) -> Result<OutputHolder, DeliverError> {
        let keeper = self.peer.as_ref().filter(|peer| peer.keeps_outputs());
        let held_by = match keeper {
            None => {
                for (path, hash) in files {
                    self.wallet
                        .put_blob_file(&path, hash)
                        .await
                        .map_err(|source| DeliverError::Upload { path, source })?;
                }
                OutputHolder::Nodes
            }
            Some(peer) => {
                peer.keep(order, manifest, &files).await?;
                OutputHolder::Provider
            }
        };
        self.wallet
            .put_blob(manifest.encode())
            .await
            .map_err(DeliverError::Manifest)?;
        Ok(held_by)
    }

    /// Reports a result. A report the ledger refuses (the lease already timed
    /// out) is dropped with a note.
    pub(super) async fn report(&self, order: OrderId, outcome: JobOutcome) {
        if self
            .send_until_answered(TxBody::ReportResult { order, outcome })
            .await
        {
            log(self, &format!("reported order {order}"));
        }
    }

    /// Sends `body`, retrying while the node is unreachable. Returns whether
    /// the ledger accepted it; a refusal is logged.
    pub(super) async fn send_until_answered(&self, body: TxBody) -> bool {
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
