//! Orders: what a client asked for, escrowed and got, through each kind's
//! lifecycle. The stored [`Order`] holds what only some states have (a
//! lease, a report, a settlement, a rental's meter) in the variant for
//! those states; [`Order`]'s transitions are the only way between them, so
//! execution code matches on phases instead of trusting `Option`s set by a
//! status. The API shows the flat [`OrderView`].

use crate::error::{TxError, Wanted};
use borsh::{BorshDeserialize, BorshSerialize};
use gpunet_primitives::{Address, Amount, Hash, JobSpec, OrderId, OutputHolder, WorkspaceSave};
use gpunet_types::Params;
use gpunet_types::{
    ArrayPlace, Attempt, AttemptFailure, AuditVerdict, Decline, Lease, OrderStatus, OrderView,
    Rental, Report, Settlement, WorkspaceState,
};

/// An order: what its client asked for and escrowed, and where it stands.
/// What exists only in some states (a lease, a report, a settlement, a
/// rental's meter) lives in the variant of [`OrderKind`] for those states,
/// so no code can find it missing; the API's flat record is [`OrderView`].
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Order {
    /// Its id, in submission order.
    pub id: OrderId,
    /// Who submitted and pays for it.
    pub client: Address,
    /// What it runs and on what.
    pub spec: JobSpec,
    /// The most its client pays a machine per hour.
    pub max_price_per_hour: Amount,
    /// What its client escrowed when submitting it.
    pub deposit: Amount,
    /// What the order still holds in escrow (the deposit while open, 0 once closed).
    pub escrow: Amount,
    /// Block time of its submission.
    pub submitted_ms: u64,
    /// Block time it last entered the pending queue: when it was submitted,
    /// or when a failed run sent it back (a decline keeps its place). The
    /// queue's key, with its id; its time to live counts from here.
    pub queued_ms: u64,
    /// A job, an audit run or a rental, and where it is.
    pub kind: OrderKind,
    /// Machines that declined it, with their reasons; matching skips them.
    pub declines: Vec<Decline>,
    /// Accounts its client lets read its result (`ShareResult`), sorted.
    pub result_readers: Vec<Address>,
}

/// What an order is for, with where it is in that kind's lifecycle.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum OrderKind {
    /// A job: a command whose result is reported, and may be audited or
    /// disputed; `attempts` are its earlier runs that failed or timed out;
    /// `array` its place in the job array it was submitted with, if any.
    Job {
        /// Where it is.
        phase: JobPhase,
        /// Its audits and dispute.
        checks: Checks,
        /// Earlier runs that failed or timed out, oldest first.
        attempts: Vec<Attempt>,
        /// Its job array and index there, if it has one.
        array: Option<ArrayPlace>,
    },
    /// A re-run of job `of`, checking its result (`exec::audits`).
    AuditRun {
        /// The job it re-runs.
        of: OrderId,
        /// Where it is.
        phase: JobPhase,
    },
    /// A machine rented for a time, billed as it runs (`exec::rentals`).
    Rental(RentalPhase),
}

/// The audits and the dispute of a job.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Checks {
    /// Its audit runs (a dispute's referee among them), in order.
    pub audit_runs: Vec<OrderId>,
    /// How its audit ended, once it has.
    pub verdict: Option<AuditVerdict>,
    /// The output root its client holds right, when it disputed the
    /// reported one (`exec::disputes`).
    pub disputed_root: Option<Hash>,
}

/// Where a job or an audit run is.
///
/// ```text
///            ┌──lease (a pushed image)──▶ Preparing ──start──┐
///            │                               │               ▼
/// Pending ───┴──lease──────────────────────────────────▶ Running ──report──▶ Reported ◀──▶ Auditing
///    ▲                                       │               │                  │
///    └────decline (or not started in time)───┴───────────────┤                  │ paid, or found wrong
///                                                            ▼                  ▼
///                                          Closed: timed out, stopped    Closed: settled, failed
/// ```
/// A pending one closes expired, cancelled or (after `max_declines`) declined;
/// a preparing one may also be stopped by its client (nothing ran, nothing paid).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum JobPhase {
    /// Waiting for a machine.
    Pending,
    /// Leased; its provider fetches and loads what the run needs, by the
    /// lease's deadline, and then starts it (`exec::preparing`).
    Preparing {
        /// Its machine, price and the deadline to start by.
        lease: Lease,
    },
    /// Leased; its provider runs it.
    Running {
        /// Its machine, price and deadline.
        lease: Lease,
    },
    /// Reported: in its dispute window, or audited and due to be paid.
    Reported {
        /// Its machine, price and deadline.
        lease: Lease,
        /// What its provider reported.
        report: Report,
    },
    /// Reported and held: an audited job until its audit runs are compared,
    /// an audit run until the verdict on the job it re-ran.
    Auditing {
        /// Its machine, price and deadline.
        lease: Lease,
        /// What its provider reported.
        report: Report,
    },
    /// Closed: nothing left in escrow.
    Closed {
        /// How it closed.
        end: JobEnd,
        /// Where its escrow went.
        settlement: Settlement,
    },
}

/// How a job or an audit run closed, with what it had by then.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum JobEnd {
    /// Its provider was paid for the result it reported.
    Settled {
        /// The lease it ran under.
        lease: Lease,
        /// The result paid for.
        report: Report,
    },
    /// Its run failed, or its result was found wrong.
    Failed {
        /// The lease it ran under.
        lease: Lease,
        /// What its provider reported.
        report: Report,
    },
    /// Its provider reported nothing by the lease's deadline.
    TimedOut {
        /// The lease it missed.
        lease: Lease,
    },
    /// Its client stopped it while it ran.
    Stopped {
        /// The lease it ran under.
        lease: Lease,
    },
    /// No machine took it within its time to live.
    Expired,
    /// Its client cancelled it while pending.
    Cancelled,
    /// Machines declined it `max_declines` times.
    Declined,
}

/// Where a rental is: pending, preparing (its machine fetches its pushed
/// image; not billed yet), active (billed as it runs; back to pending
/// when its machine declines it), saving its workspace (ended by its
/// renter with `save`; no longer billed), closed.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum RentalPhase {
    /// Waiting for a machine.
    Pending,
    /// Leased; its provider fetches and loads what it needs, by the lease's
    /// deadline, and then starts it: its meter starts then.
    Preparing {
        /// Its machine, price and the deadline to start by.
        lease: Lease,
    },
    /// Leased and billed as it runs.
    Active {
        /// Its machine, price and end.
        lease: Lease,
        /// Its billing, endpoints and probes.
        rental: Rental,
    },
    /// Billed to when its renter ended it; its machine is still leased
    /// while its provider saves the workspace, until `deadline_ms`.
    Saving {
        /// Its machine, price and end.
        lease: Lease,
        /// Its billing, endpoints and probes.
        rental: Rental,
        /// Block time by which its provider reports the save.
        deadline_ms: u64,
    },
    /// Closed: nothing left in escrow.
    Closed {
        /// How it closed.
        end: RentalEnd,
        /// Where its escrow went.
        settlement: Settlement,
    },
}

/// How a rental closed.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
#[allow(
    clippy::large_enum_variant,
    reason = "an order's size is set by its spec and live phases; boxing would only add an allocation"
)]
pub enum RentalEnd {
    /// Its time ran out, its renter ended it or its container stopped.
    Ended {
        /// The lease it ran under.
        lease: Lease,
        /// Its billing as it ended.
        rental: Rental,
    },
    /// Its renter ended it asking to save its workspace.
    Saved {
        /// The lease it ran under.
        lease: Lease,
        /// Its billing as it ended.
        rental: Rental,
        /// How the save went.
        save: SaveEnd,
    },
    /// No machine took it within its time to live.
    Expired,
    /// Its renter cancelled it while pending.
    Cancelled,
    /// Machines declined it `max_declines` times.
    Declined,
}

/// How saving a rental's workspace ended.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum SaveEnd {
    /// Its provider reported it saved, or why it could not.
    Reported(WorkspaceSave),
    /// Its provider reported nothing by the deadline.
    NotReported,
}

impl Order {
    /// Block time at which it expires if still pending.
    pub fn expires_ms(&self, params: &Params) -> u64 {
        self.queued_ms.saturating_add(params.order_ttl_ms)
    }

    /// Its key in the pending queue.
    pub fn queue_key(&self) -> (u64, OrderId) {
        (self.queued_ms, self.id)
    }

    /// A job's earlier runs that failed or timed out, oldest first; empty
    /// for audit runs and rentals.
    pub fn attempts(&self) -> &[Attempt] {
        match &self.kind {
            OrderKind::Job { attempts, .. } => attempts,
            _ => &[],
        }
    }

    /// A job's place in its job array, if it was submitted with one.
    pub fn array(&self) -> Option<ArrayPlace> {
        match &self.kind {
            OrderKind::Job { array, .. } => *array,
            _ => None,
        }
    }

    /// Whether a run of this order that fails now goes back to matching:
    /// a job whose spec allows another run after this one.
    pub fn retries_a_failed_run(&self) -> bool {
        matches!(self.kind, OrderKind::Job { .. })
            && self.attempts().len().saturating_add(1) < self.spec.max_attempts as usize
    }

    /// Where the order stands, as the API and the CLI name it.
    pub fn status(&self) -> OrderStatus {
        match &self.kind {
            OrderKind::Job { phase, .. } | OrderKind::AuditRun { phase, .. } => match phase {
                JobPhase::Pending => OrderStatus::Pending,
                JobPhase::Preparing { .. } => OrderStatus::Preparing,
                JobPhase::Running { .. } => OrderStatus::Running,
                JobPhase::Reported { .. } => OrderStatus::Reported,
                JobPhase::Auditing { .. } => OrderStatus::Auditing,
                JobPhase::Closed { end, .. } => match end {
                    JobEnd::Settled { .. } => OrderStatus::Settled,
                    JobEnd::Failed { .. } => OrderStatus::Failed,
                    JobEnd::TimedOut { .. } => OrderStatus::TimedOut,
                    JobEnd::Stopped { .. } => OrderStatus::Stopped,
                    JobEnd::Expired => OrderStatus::Expired,
                    JobEnd::Cancelled => OrderStatus::Cancelled,
                    JobEnd::Declined => OrderStatus::Declined,
                },
            },
            OrderKind::Rental(phase) => match phase {
                RentalPhase::Pending => OrderStatus::Pending,
                RentalPhase::Preparing { .. } => OrderStatus::Preparing,
                RentalPhase::Active { .. } => OrderStatus::Running,
                RentalPhase::Saving { .. } => OrderStatus::Saving,
                RentalPhase::Closed { end, .. } => match end {
                    RentalEnd::Ended { .. } | RentalEnd::Saved { .. } => OrderStatus::Settled,
                    RentalEnd::Expired => OrderStatus::Expired,
                    RentalEnd::Cancelled => OrderStatus::Cancelled,
                    RentalEnd::Declined => OrderStatus::Declined,
                },
            },
        }
    }

    /// The phase of a job or an audit run; `None` for a rental.
    pub fn job_phase(&self) -> Option<&JobPhase> {
        match &self.kind {
            OrderKind::Job { phase, .. } | OrderKind::AuditRun { phase, .. } => Some(phase),
            OrderKind::Rental(_) => None,
        }
    }

    /// Whether it is a rental (billed by time) rather than a job or audit run.
    pub fn is_rental(&self) -> bool {
        matches!(self.kind, OrderKind::Rental(_))
    }

    /// The job this order re-runs, for an audit run.
    pub fn audit_of(&self) -> Option<OrderId> {
        match self.kind {
            OrderKind::AuditRun { of, .. } => Some(of),
            _ => None,
        }
    }

    /// A job's audits and dispute; `None` for audit runs and rentals.
    pub fn checks(&self) -> Option<&Checks> {
        match &self.kind {
            OrderKind::Job { checks, .. } => Some(checks),
            _ => None,
        }
    }

    /// A job's audit runs, in order; empty for audit runs and rentals.
    pub fn audit_runs(&self) -> &[OrderId] {
        self.checks().map_or(&[], |c| &c.audit_runs)
    }

    /// How a job's audit ended, once it has.
    pub fn audit_verdict(&self) -> Option<&AuditVerdict> {
        self.checks()?.verdict.as_ref()
    }

    /// The root a job's client disputed its result with, if it did.
    pub fn disputed_root(&self) -> Option<Hash> {
        self.checks()?.disputed_root
    }

    /// Its lease: the current one while preparing, running, reported or
    /// audited, the last one once closed after running.
    pub fn lease(&self) -> Option<&Lease> {
        match &self.kind {
            OrderKind::Job { phase, .. } | OrderKind::AuditRun { phase, .. } => match phase {
                JobPhase::Pending => None,
                JobPhase::Preparing { lease }
                | JobPhase::Running { lease }
                | JobPhase::Reported { lease, .. }
                | JobPhase::Auditing { lease, .. } => Some(lease),
                JobPhase::Closed { end, .. } => match end {
                    JobEnd::Settled { lease, .. }
                    | JobEnd::Failed { lease, .. }
                    | JobEnd::TimedOut { lease }
                    | JobEnd::Stopped { lease } => Some(lease),
                    JobEnd::Expired | JobEnd::Cancelled | JobEnd::Declined => None,
                },
            },
            OrderKind::Rental(phase) => match phase {
                RentalPhase::Preparing { lease }
                | RentalPhase::Active { lease, .. }
                | RentalPhase::Saving { lease, .. }
                | RentalPhase::Closed {
                    end: RentalEnd::Ended { lease, .. } | RentalEnd::Saved { lease, .. },
                    ..
                } => Some(lease),
                _ => None,
            },
        }
    }

    /// Its provider's report, once it reported.
    pub fn report(&self) -> Option<&Report> {
        match self.job_phase()? {
            JobPhase::Reported { report, .. }
            | JobPhase::Auditing { report, .. }
            | JobPhase::Closed {
                end: JobEnd::Settled { report, .. } | JobEnd::Failed { report, .. },
                ..
            } => Some(report),
            _ => None,
        }
    }

    /// How it was paid out, once closed.
    pub fn settlement(&self) -> Option<&Settlement> {
        match &self.kind {
            OrderKind::Job { phase, .. } | OrderKind::AuditRun { phase, .. } => match phase {
                JobPhase::Closed { settlement, .. } => Some(settlement),
                _ => None,
            },
            OrderKind::Rental(RentalPhase::Closed { settlement, .. }) => Some(settlement),
            OrderKind::Rental(_) => None,
        }
    }

    /// A rental's meter, once it was leased.
    pub fn rental(&self) -> Option<&Rental> {
        match &self.kind {
            OrderKind::Rental(
                RentalPhase::Active { rental, .. }
                | RentalPhase::Saving { rental, .. }
                | RentalPhase::Closed {
                    end: RentalEnd::Ended { rental, .. } | RentalEnd::Saved { rental, .. },
                    ..
                },
            ) => Some(rental),
            _ => None,
        }
    }

    /// A rental's workspace, once its renter ended it asking to save it.
    pub fn workspace(&self) -> Option<WorkspaceState> {
        match &self.kind {
            OrderKind::Rental(RentalPhase::Saving { deadline_ms, .. }) => {
                Some(WorkspaceState::Saving {
                    deadline_ms: *deadline_ms,
                })
            }
            OrderKind::Rental(RentalPhase::Closed {
                end: RentalEnd::Saved { save, .. },
                ..
            }) => Some(match save {
                SaveEnd::Reported(save) => save.clone().into(),
                SaveEnd::NotReported => WorkspaceState::NotReported,
            }),
            _ => None,
        }
    }

    /// Its key in the rental billing queue, which meters an active rental
    /// (its next bill) and times a saving one (its deadline).
    pub fn billing_key(&self) -> Option<(u64, OrderId)> {
        match &self.kind {
            OrderKind::Rental(RentalPhase::Active { rental, .. }) => {
                Some((rental.next_bill_ms, self.id))
            }
            OrderKind::Rental(RentalPhase::Saving { deadline_ms, .. }) => {
                Some((*deadline_ms, self.id))
            }
            _ => None,
        }
    }

    /// The output root its provider reported, if the job completed.
    pub fn output_root(&self) -> Option<Hash> {
        self.report()?.output_root()
    }

    /// Its result's root and who keeps the files it lists: a completed
    /// job's outputs, or the workspace a rental saved.
    pub fn result(&self) -> Option<(Hash, OutputHolder)> {
        match self.report() {
            Some(report) => Some((report.output_root()?, report.files_held_by()?)),
            None => self.workspace()?.saved(),
        }
    }

    /// The order as the API shows it.
    pub fn view(&self) -> OrderView {
        OrderView {
            id: self.id,
            client: self.client,
            spec: self.spec.clone(),
            max_price_per_hour: self.max_price_per_hour,
            deposit: self.deposit,
            escrow: self.escrow,
            status: self.status(),
            submitted_ms: self.submitted_ms,
            lease: self.lease().cloned(),
            report: self.report().cloned(),
            settlement: self.settlement().cloned(),
            rental: match self.rental() {
                Some(rental) => Some(rental.clone()),
                None => self.is_rental().then(Rental::default),
            },
            audit_of: self.audit_of(),
            audit_runs: self.audit_runs().to_vec(),
            audit_verdict: self.audit_verdict().cloned(),
            declines: self.declines.clone(),
            attempts: self.attempts().to_vec(),
            disputed_root: self.disputed_root(),
            result_readers: self.result_readers.clone(),
            array: self.array(),
            workspace: self.workspace(),
        }
    }

    /// Its id and status, for [`wrong_phase`] once it is borrowed.
    fn id_status(&self) -> (OrderId, OrderStatus) {
        (self.id, self.status())
    }

    /// A job's audits and dispute, to change them.
    pub(crate) fn checks_mut(&mut self) -> Result<&mut Checks, TxError> {
        let now = self.id_status();
        match &mut self.kind {
            OrderKind::Job { checks, .. } => Ok(checks),
            _ => Err(wrong_phase(now, "audited (only a job is)")),
        }
    }

    /// The report of a reported or audited run, to bill it differently.
    pub(crate) fn report_mut(&mut self) -> Option<&mut Report> {
        match self.job_phase_mut()? {
            JobPhase::Reported { report, .. } | JobPhase::Auditing { report, .. } => Some(report),
            _ => None,
        }
    }

    /// An active rental's lease and meter.
    pub(crate) fn active_rental(&mut self) -> Result<(&Lease, &mut Rental), TxError> {
        let (id, status) = self.id_status();
        match &mut self.kind {
            OrderKind::Rental(RentalPhase::Active { lease, rental }) => Ok((lease, rental)),
            OrderKind::Rental(_) => Err(TxError::WrongStatus {
                order: id,
                status,
                wanted: Wanted::Running,
            }),
            _ => Err(TxError::NotARental(id)),
        }
    }

    /// A saving rental's lease.
    pub(crate) fn saving_rental(&self) -> Result<&Lease, TxError> {
        let (id, status) = self.id_status();
        match &self.kind {
            OrderKind::Rental(RentalPhase::Saving { lease, .. }) => Ok(lease),
            OrderKind::Rental(_) => Err(TxError::WrongStatus {
                order: id,
                status,
                wanted: Wanted::Saving,
            }),
            _ => Err(TxError::NotARental(id)),
        }
    }

    /// An active rental → saving its workspace until `deadline_ms`.
    pub(crate) fn start_saving(&mut self, deadline_ms: u64) -> Result<(), TxError> {
        let now = self.id_status();
        match &mut self.kind {
            OrderKind::Rental(phase) if matches!(phase, RentalPhase::Active { .. }) => {
                if let RentalPhase::Active { lease, rental } =
                    std::mem::replace(phase, RentalPhase::Pending)
                {
                    *phase = RentalPhase::Saving {
                        lease,
                        rental,
                        deadline_ms,
                    };
                }
                Ok(())
            }
            _ => Err(wrong_phase(now, "saved")),
        }
    }

    /// A saving rental → closed with how its save ended and `settlement`.
    /// The escrow is the caller's to pay out.
    pub(crate) fn close_saved(
        &mut self,
        save: SaveEnd,
        settlement: Settlement,
    ) -> Result<(), TxError> {
        let now = self.id_status();
        match &mut self.kind {
            OrderKind::Rental(RentalPhase::Saving { lease, rental, .. }) => {
                let end = RentalEnd::Saved {
                    lease: lease.clone(),
                    rental: rental.clone(),
                    save,
                };
                self.kind = OrderKind::Rental(RentalPhase::Closed { end, settlement });
                Ok(())
            }
            _ => Err(wrong_phase(now, "closed after saving")),
        }
    }

    /// The lease it is preparing or running on now (a job or audit run, a
    /// rental), to change; refused in any other phase.
    pub(crate) fn live_lease_mut(&mut self) -> Result<&mut Lease, TxError> {
        let (id, status) = self.id_status();
        match &mut self.kind {
            OrderKind::Job {
                phase: JobPhase::Preparing { lease } | JobPhase::Running { lease },
                ..
            }
            | OrderKind::AuditRun {
                phase: JobPhase::Preparing { lease } | JobPhase::Running { lease },
                ..
            }
            | OrderKind::Rental(
                RentalPhase::Preparing { lease } | RentalPhase::Active { lease, .. },
            ) => Ok(lease),
            _ => Err(TxError::WrongStatus {
                order: id,
                status,
                wanted: Wanted::Running,
            }),
        }
    }

    /// A pending job, audit run or rental → preparing on `lease`.
    pub(crate) fn prepare_on(&mut self, lease: Lease) -> Result<(), TxError> {
        let now = self.id_status();
        match &mut self.kind {
            OrderKind::Job { phase, .. } | OrderKind::AuditRun { phase, .. }
                if *phase == JobPhase::Pending =>
            {
                *phase = JobPhase::Preparing { lease };
                Ok(())
            }
            OrderKind::Rental(phase) if *phase == RentalPhase::Pending => {
                *phase = RentalPhase::Preparing { lease };
                Ok(())
            }
            _ => Err(wrong_phase(now, "prepared")),
        }
    }

    /// The lease it prepares on, while it does.
    pub fn preparing_lease(&self) -> Option<&Lease> {
        match &self.kind {
            OrderKind::Job {
                phase: JobPhase::Preparing { lease },
                ..
            }
            | OrderKind::AuditRun {
                phase: JobPhase::Preparing { lease },
                ..
            }
            | OrderKind::Rental(RentalPhase::Preparing { lease }) => Some(lease),
            _ => None,
        }
    }

    /// A pending job or audit run, or a preparing one that starts now →
    /// running on `lease`.
    pub(crate) fn run_on(&mut self, lease: Lease) -> Result<(), TxError> {
        let now = self.id_status();
        match &mut self.kind {
            OrderKind::Job { phase, .. } | OrderKind::AuditRun { phase, .. }
                if matches!(phase, JobPhase::Pending | JobPhase::Preparing { .. }) =>
            {
                *phase = JobPhase::Running { lease };
                Ok(())
            }
            _ => Err(wrong_phase(now, "run as a job")),
        }
    }

    /// A pending rental, or a preparing one that starts now → active on
    /// `lease`, its meter starting at `rental`.
    pub(crate) fn rent_out(&mut self, lease: Lease, rental: Rental) -> Result<(), TxError> {
        let now = self.id_status();
        match &mut self.kind {
            OrderKind::Rental(phase)
                if matches!(phase, RentalPhase::Pending | RentalPhase::Preparing { .. }) =>
            {
                *phase = RentalPhase::Active { lease, rental };
                Ok(())
            }
            _ => Err(wrong_phase(now, "rented out")),
        }
    }

    /// Preparing or running → back to pending: its machine declined it.
    pub(crate) fn requeue(&mut self) -> Result<(), TxError> {
        let now = self.id_status();
        match &mut self.kind {
            OrderKind::Job { phase, .. } | OrderKind::AuditRun { phase, .. }
                if matches!(phase, JobPhase::Preparing { .. } | JobPhase::Running { .. }) =>
            {
                *phase = JobPhase::Pending;
            }
            OrderKind::Rental(phase)
                if matches!(
                    phase,
                    RentalPhase::Preparing { .. } | RentalPhase::Active { .. }
                ) =>
            {
                *phase = RentalPhase::Pending;
            }
            _ => return Err(wrong_phase(now, "declined")),
        }
        Ok(())
    }

    /// A running job → pending again at `now_ms`, its run recorded as an
    /// attempt that ended in `failure` and cost its provider `slashed`.
    pub(crate) fn retry(
        &mut self,
        failure: AttemptFailure,
        slashed: Amount,
        now_ms: u64,
    ) -> Result<(), TxError> {
        let now = self.id_status();
        match &mut self.kind {
            OrderKind::Job {
                phase, attempts, ..
            } => match std::mem::replace(phase, JobPhase::Pending) {
                JobPhase::Running { lease } => {
                    attempts.push(Attempt {
                        machine: lease.machine,
                        provider: lease.provider,
                        start_ms: lease.start_ms,
                        ended_ms: now_ms,
                        failure,
                        slashed,
                    });
                    self.queued_ms = now_ms;
                    Ok(())
                }
                other => {
                    *phase = other;
                    Err(wrong_phase(now, "run again"))
                }
            },
            _ => Err(wrong_phase(now, "run again (only a job is)")),
        }
    }

    /// Running → reported with `report`, held (`Auditing`) when `held`.
    pub(crate) fn record_report(&mut self, report: Report, held: bool) -> Result<(), TxError> {
        let now = self.id_status();
        let phase = self.job_phase_mut().ok_or(wrong_phase(now, "reported"))?;
        match std::mem::replace(phase, JobPhase::Pending) {
            JobPhase::Running { lease } => {
                *phase = reported(lease, report, held);
                Ok(())
            }
            other => {
                *phase = other;
                Err(wrong_phase(now, "reported"))
            }
        }
    }

    /// Reported or auditing → `Auditing` when `held`, else `Reported`.
    pub(crate) fn hold(&mut self, held: bool) -> Result<(), TxError> {
        let now = self.id_status();
        let change = if held { "audited" } else { "settled" };
        let phase = self.job_phase_mut().ok_or(wrong_phase(now, change))?;
        match std::mem::replace(phase, JobPhase::Pending) {
            JobPhase::Reported { lease, report } | JobPhase::Auditing { lease, report } => {
                *phase = reported(lease, report, held);
                Ok(())
            }
            other => {
                *phase = other;
                Err(wrong_phase(now, change))
            }
        }
    }

    /// The phase of a job or an audit run, to move it on; `None` for a rental.
    fn job_phase_mut(&mut self) -> Option<&mut JobPhase> {
        match &mut self.kind {
            OrderKind::Job { phase, .. } | OrderKind::AuditRun { phase, .. } => Some(phase),
            OrderKind::Rental(_) => None,
        }
    }

    /// Closes the order as `status` with `settlement`, keeping what it had
    /// that `status` shows (its lease, report, rental meter). The escrow is
    /// the caller's to pay out.
    pub(crate) fn close(
        &mut self,
        status: OrderStatus,
        settlement: Settlement,
    ) -> Result<(), TxError> {
        let now = self.id_status();
        let change = match status {
            OrderStatus::Settled => "settled",
            OrderStatus::Failed => "failed",
            OrderStatus::TimedOut => "timed out",
            OrderStatus::Stopped => "stopped",
            OrderStatus::Expired => "expired",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Declined => "declined",
            _ => "closed as an open status",
        };
        match &mut self.kind {
            OrderKind::Job { phase, .. } | OrderKind::AuditRun { phase, .. } => {
                let (lease, report) = match phase {
                    JobPhase::Pending => (None, None),
                    JobPhase::Preparing { lease } | JobPhase::Running { lease } => {
                        (Some(lease.clone()), None)
                    }
                    JobPhase::Reported { lease, report } | JobPhase::Auditing { lease, report } => {
                        (Some(lease.clone()), Some(report.clone()))
                    }
                    JobPhase::Closed { .. } => return Err(wrong_phase(now, change)),
                };
                let end = match (status, lease, report) {
                    (OrderStatus::Settled, Some(lease), Some(report)) => {
                        JobEnd::Settled { lease, report }
                    }
                    (OrderStatus::Failed, Some(lease), Some(report)) => {
                        JobEnd::Failed { lease, report }
                    }
                    (OrderStatus::TimedOut, Some(lease), None) => JobEnd::TimedOut { lease },
                    (OrderStatus::Stopped, Some(lease), None) => JobEnd::Stopped { lease },
                    (OrderStatus::Expired, None, None) => JobEnd::Expired,
                    (OrderStatus::Cancelled, None, None) => JobEnd::Cancelled,
                    (OrderStatus::Declined, None, None) => JobEnd::Declined,
                    _ => return Err(wrong_phase(now, change)),
                };
                *phase = JobPhase::Closed { end, settlement };
            }
            OrderKind::Rental(phase) => {
                let end = match (status, &*phase) {
                    (OrderStatus::Settled, RentalPhase::Active { lease, rental }) => {
                        RentalEnd::Ended {
                            lease: lease.clone(),
                            rental: rental.clone(),
                        }
                    }
                    (OrderStatus::Expired, RentalPhase::Pending) => RentalEnd::Expired,
                    (OrderStatus::Cancelled, RentalPhase::Pending) => RentalEnd::Cancelled,
                    (OrderStatus::Declined, RentalPhase::Pending) => RentalEnd::Declined,
                    _ => return Err(wrong_phase(now, change)),
                };
                *phase = RentalPhase::Closed { end, settlement };
            }
        }
        Ok(())
    }
}

/// A reported run's phase: held for an audit (`Auditing`) when `held`.
fn reported(lease: Lease, report: Report, held: bool) -> JobPhase {
    if held {
        JobPhase::Auditing { lease, report }
    } else {
        JobPhase::Reported { lease, report }
    }
}

/// The error for a change that an order's status does not allow.
fn wrong_phase((id, status): (OrderId, OrderStatus), change: &'static str) -> TxError {
    TxError::WrongPhase {
        order: id,
        status,
        change,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpunet_primitives::{ContainerStop, JobOutcome, Keypair};

    fn order(kind: OrderKind) -> Order {
        Order {
            id: 7,
            client: Keypair::from_label("client").address(),
            spec: crate::exec::test_spec(),
            max_price_per_hour: 10,
            deposit: 100,
            escrow: 100,
            submitted_ms: 0,
            queued_ms: 0,
            kind,
            declines: Vec::new(),
            result_readers: Vec::new(),
        }
    }

    fn job() -> Order {
        order(OrderKind::Job {
            phase: JobPhase::Pending,
            checks: Checks::default(),
            attempts: Vec::new(),
            array: None,
        })
    }

    fn lease() -> Lease {
        Lease {
            machine: 3,
            provider: Keypair::from_label("provider").address(),
            price_per_hour: 5,
            leased_ms: 1_000,
            start_ms: 1_000,
            deadline_ms: 61_000,
            sealed_secrets: None,
        }
    }

    fn report() -> Report {
        Report {
            outcome: JobOutcome::Failed {
                reason: "broke".into(),
            },
            reported_ms: 2_000,
            billable_ms: 0,
            padded: None,
        }
    }

    #[test]
    fn a_job_moves_through_its_phases_keeping_what_each_shows() {
        let mut o = job();
        assert_eq!((o.status(), o.lease()), (OrderStatus::Pending, None));
        o.run_on(lease()).unwrap();
        assert_eq!(
            (o.status(), o.lease()),
            (OrderStatus::Running, Some(&lease()))
        );
        o.record_report(report(), false).unwrap();
        assert_eq!(
            (o.status(), o.report()),
            (OrderStatus::Reported, Some(&report()))
        );
        o.hold(true).unwrap();
        assert_eq!(o.status(), OrderStatus::Auditing);
        o.close(OrderStatus::Failed, Settlement::default()).unwrap();
        assert_eq!(o.status(), OrderStatus::Failed);
        assert_eq!((o.lease(), o.report()), (Some(&lease()), Some(&report())));
        assert_eq!(o.settlement(), Some(&Settlement::default()));
    }

    #[test]
    fn a_change_its_phase_does_not_allow_is_refused_and_changes_nothing() {
        let pending = job();
        for change in [
            |o: &mut Order| o.close(OrderStatus::TimedOut, Settlement::default()),
            |o: &mut Order| o.close(OrderStatus::Running, Settlement::default()),
            |o: &mut Order| o.record_report(report(), false),
            |o: &mut Order| o.hold(false),
            |o: &mut Order| o.requeue(),
            |o: &mut Order| o.retry(AttemptFailure::TimedOut, 0, 9),
            |o: &mut Order| o.rent_out(lease(), Rental::default()),
        ] {
            let mut o = pending.clone();
            let err = change(&mut o).unwrap_err();
            assert_eq!(err.code(), "wrong_phase");
            assert!(
                err.to_string()
                    .starts_with("order 7 is Pending: it cannot be"),
                "{err}"
            );
            assert_eq!(o, pending);
        }
        let mut running = job();
        running.run_on(lease()).unwrap();
        let mut closed = running.clone();
        closed
            .close(OrderStatus::Stopped, Settlement::default())
            .unwrap();
        assert_eq!(closed.lease(), Some(&lease()));
        assert!(closed
            .close(OrderStatus::Stopped, Settlement::default())
            .is_err());
        assert!(running
            .clone()
            .close(OrderStatus::Settled, Settlement::default())
            .is_err());
    }

    #[test]
    fn a_failed_run_of_a_job_is_kept_as_an_attempt_and_the_job_queued_again() {
        let mut o = job();
        o.spec.max_attempts = 2;
        assert!(o.retries_a_failed_run());
        o.run_on(lease()).unwrap();
        let failure = AttemptFailure::Failed {
            reason: "agent restarted".into(),
        };
        o.retry(failure.clone(), 10, 5_000).unwrap();
        assert_eq!(
            (o.status(), o.lease(), o.queued_ms),
            (OrderStatus::Pending, None, 5_000)
        );
        assert_eq!(
            o.view().attempts,
            [Attempt {
                machine: 3,
                provider: lease().provider,
                start_ms: 1_000,
                ended_ms: 5_000,
                failure,
                slashed: 10,
            }]
        );
        assert!(!o.retries_a_failed_run(), "two runs are all it asked for");
        let mut rental = order(OrderKind::Rental(RentalPhase::Pending));
        rental.spec.max_attempts = 2;
        assert!(!rental.retries_a_failed_run());
        rental.rent_out(lease(), Rental::default()).unwrap();
        assert!(rental.retry(AttemptFailure::TimedOut, 0, 9).is_err());
    }

    #[test]
    fn a_rental_is_shown_with_a_meter_even_before_it_is_leased() {
        let mut o = order(OrderKind::Rental(RentalPhase::Pending));
        let view = o.view();
        assert_eq!(
            (view.status, view.rental),
            (OrderStatus::Pending, Some(Rental::default()))
        );
        assert!(o.run_on(lease()).is_err(), "a rental is not run as a job");
        let meter = Rental {
            ends_ms: 61_000,
            stopped: Some(ContainerStop::Exited { exit_code: 0 }),
            ..Rental::default()
        };
        o.rent_out(lease(), meter.clone()).unwrap();
        assert_eq!(o.active_rental().unwrap().1, &meter);
        o.close(OrderStatus::Settled, Settlement::default())
            .unwrap();
        let view = o.view();
        assert_eq!(view.status, OrderStatus::Settled);
        assert_eq!((view.lease, view.rental), (Some(lease()), Some(meter)));
        assert!(view.report.is_none() && view.audit_runs.is_empty());
    }

    #[test]
    fn the_view_keeps_the_api_field_names() {
        let mut o = job();
        o.run_on(lease()).unwrap();
        let json = serde_json::to_value(o.view()).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = [
            "order",
            "client",
            "spec",
            "max_price_per_hour",
            "deposit",
            "escrow",
            "status",
            "submitted_at",
            "lease",
            "report",
            "settlement",
            "rental",
            "audit_of",
            "audit_runs",
            "audit_verdict",
            "declines",
            "attempts",
            "disputed_root",
            "result_readers",
            "array",
        ];
        expected.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, expected);
        assert_eq!(json["status"], "running");
        let back: OrderView = serde_json::from_value(json).unwrap();
        assert_eq!(back, o.view());
    }
}
