//! Orders as clients see them: [`OrderView`], one flat record per order,
//! and the value records it is made of (a lease, a report, a settlement, a
//! rental's meter). The ledger stores these records inside its own `Order`,
//! whose phases hold each exactly where it exists; the view is built from it
//! and never stored.

use borsh::{BorshDeserialize, BorshSerialize};
use gpunet_primitives::{
    Address, Amount, ContainerStop, Hash, JobOutcome, JobSpec, MachineId, OrderId, OutputHolder,
    SealedSecrets, WorkspaceSave,
};
use serde::{Deserialize, Serialize};

mod status;
pub use status::OrderStatus;

/// An order's lease of a machine.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Lease {
    /// The machine it runs on.
    pub machine: MachineId,
    /// The machine's owner, who runs it and is paid.
    pub provider: Address,
    /// The job's hourly price on that machine (at most the order's max).
    #[serde(with = "gpunet_primitives::json::gpn")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
    pub price_per_hour: Amount,
    /// Block time the machine was leased to it: its run started then,
    /// unless it prepared first (fetched and loaded a pushed image).
    #[serde(rename = "leased_at", with = "gpunet_primitives::json::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Rfc3339))]
    pub leased_ms: u64,
    /// Block time its run started: its timeout, a rental's meter and the
    /// decline window count from here. While it prepares, its lease's.
    #[serde(rename = "started_at", with = "gpunet_primitives::json::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Rfc3339))]
    pub start_ms: u64,
    /// The provider must report by then or be slashed; while it prepares,
    /// start the run by then or have the lease handed back.
    #[serde(rename = "deadline", with = "gpunet_primitives::json::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Rfc3339))]
    pub deadline_ms: u64,
    /// The spec's secrets, sealed by the client to this lease's provider
    /// (`TxBody::SealSecrets`); none until then, or if the spec has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_secrets: Option<SealedSecrets>,
}

/// What a provider reported for a run.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Report {
    /// How the run ended: its output root, or why it failed.
    pub outcome: JobOutcome,
    /// Block time of the report.
    #[serde(rename = "reported_at", with = "gpunet_primitives::json::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Rfc3339))]
    pub reported_ms: u64,
    /// Time billed: the reported duration capped by the timeout and by block
    /// time elapsed, and by what agreeing runs allow if it was padded.
    pub billable_ms: u64,
    /// Set when a duration check found the run padded (`exec::durations`:
    /// it billed far longer than another run that agreed with it): what its
    /// provider was slashed for it.
    #[serde(default)]
    #[serde(with = "gpunet_primitives::json::gpn_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<gpunet_primitives::json::Gpn>))]
    pub padded: Option<Amount>,
}

impl Report {
    /// The output root reported, if the job completed.
    pub fn output_root(&self) -> Option<Hash> {
        match &self.outcome {
            JobOutcome::Completed { output_root, .. } => Some(*output_root),
            JobOutcome::Failed { .. } => None,
        }
    }

    /// Who keeps the result's files, if the job completed.
    pub fn files_held_by(&self) -> Option<OutputHolder> {
        match &self.outcome {
            JobOutcome::Completed { held_by, .. } => Some(*held_by),
            JobOutcome::Failed { .. } => None,
        }
    }
}

/// Where a closed order's escrow went.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Settlement {
    /// To the provider, net of the burn.
    #[serde(with = "gpunet_primitives::json::gpn")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
    pub paid_to_provider: Amount,
    /// The burned share of the payment.
    #[serde(with = "gpunet_primitives::json::gpn")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
    pub burned: Amount,
    /// Back to the client.
    #[serde(with = "gpunet_primitives::json::gpn")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
    pub refunded: Amount,
    /// Taken from the provider's stake.
    #[serde(with = "gpunet_primitives::json::gpn")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
    pub slashed: Amount,
    /// Block time it closed.
    #[serde(rename = "settled_at", with = "gpunet_primitives::json::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Rfc3339))]
    pub settled_ms: u64,
}

/// A provider's refusal of a lease its machine could not start.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Decline {
    /// The machine that could not start it.
    pub machine: MachineId,
    /// Why, in its provider's words.
    pub reason: String,
}

/// A run of a job that its provider did not deliver: the order went back
/// to matching without that machine (the job's `max_attempts` allows more
/// runs), and the provider was slashed.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attempt {
    /// The machine it ran on.
    pub machine: MachineId,
    /// That machine's owner.
    pub provider: Address,
    /// Block time its lease began.
    #[serde(rename = "started_at", with = "gpunet_primitives::json::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Rfc3339))]
    pub start_ms: u64,
    /// Block time it ended.
    #[serde(rename = "ended_at", with = "gpunet_primitives::json::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Rfc3339))]
    pub ended_ms: u64,
    /// How it ended.
    pub failure: AttemptFailure,
    /// Taken from the provider's stake for it.
    #[serde(with = "gpunet_primitives::json::gpn")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
    pub slashed: Amount,
}

/// How a run its provider did not deliver ended.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum AttemptFailure {
    /// Its provider reported it failed, with why.
    Failed {
        /// Why, in the provider's words.
        reason: String,
    },
    /// Its provider reported nothing by the lease's deadline.
    TimedOut,
}

impl std::fmt::Display for AttemptFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttemptFailure::Failed { reason } => write!(f, "failed: {reason}"),
            AttemptFailure::TimedOut => f.write_str("timed out: no report by its deadline"),
        }
    }
}

/// A rental's streaming state.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rental {
    /// When the rented time runs out (set when leased, moved by renewals).
    #[serde(rename = "ends_at", with = "gpunet_primitives::json::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Rfc3339))]
    pub ends_ms: u64,
    /// Billed up to this time.
    #[serde(rename = "paid_until", with = "gpunet_primitives::json::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Rfc3339))]
    pub paid_until_ms: u64,
    /// When it is billed next (its key in the billing queue).
    #[serde(rename = "next_bill_at", with = "gpunet_primitives::json::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Rfc3339))]
    pub next_bill_ms: u64,
    /// Streamed to the provider so far (net of the burn).
    #[serde(with = "gpunet_primitives::json::gpn")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
    pub paid: Amount,
    /// The burned share of what streamed out.
    #[serde(with = "gpunet_primitives::json::gpn")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
    pub burned: Amount,
    /// An unanswered liveness probe.
    pub probe: Option<Probe>,
    /// Since when the machine has been held down: the report of the probe
    /// it left unanswered.
    #[serde(
        rename = "down_since",
        with = "gpunet_primitives::json::rfc3339_option"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<gpunet_primitives::json::Rfc3339>))]
    pub down_since_ms: Option<u64>,
    /// Where the renter reaches each of `spec.ports`, as its provider
    /// announced (`host:port`, in the order of `spec.ports`).
    pub endpoints: Vec<String>,
    /// Downtime so far (not billed).
    pub down_ms: u64,
    /// What its provider was slashed for downtime.
    #[serde(with = "gpunet_primitives::json::gpn")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
    pub slashed: Amount,
    /// How its container stopped, when it stopped by itself and so ended
    /// the rental.
    #[serde(default)]
    pub stopped: Option<ContainerStop>,
}

/// A renter's report that it cannot reach a rented machine, which its
/// provider must answer by `deadline_ms`. The time from the report on is
/// billed only once the provider answers; unanswered, the machine counts as
/// down from the report.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Probe {
    /// Block time of the renter's report.
    #[serde(rename = "reported_at", with = "gpunet_primitives::json::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Rfc3339))]
    pub reported_ms: u64,
    /// When the provider's answer is due.
    #[serde(rename = "deadline", with = "gpunet_primitives::json::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Rfc3339))]
    pub deadline_ms: u64,
}

impl Rental {
    /// Whether its provider must answer a probe: one is open, or the machine
    /// is held down until it answers.
    pub fn awaits_answer(&self) -> bool {
        self.probe.is_some() || self.down_since_ms.is_some()
    }
}

/// A rental's workspace, once its renter ended it asking to save it
/// (`TxBody::EndRental` with `save`).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum WorkspaceState {
    /// Its provider is saving it; billing stopped when it was asked.
    Saving {
        /// When the provider's report is due; the rental closes then
        /// without a saved workspace if none came.
        #[serde(rename = "deadline", with = "gpunet_primitives::json::rfc3339")]
        #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Rfc3339))]
        deadline_ms: u64,
    },
    /// Saved: a manifest (paths `workspace/...`) lists its files.
    Saved {
        /// BLAKE3 root of the manifest: what a later order names
        /// (`JobSpec::workspace`).
        root: Hash,
        /// Bytes of the files it lists.
        bytes: u64,
        /// Who keeps the files.
        held_by: OutputHolder,
    },
    /// Its provider could not save it.
    Failed {
        /// Why, in the provider's words.
        reason: String,
    },
    /// Its provider reported nothing by the deadline.
    NotReported,
}

impl WorkspaceState {
    /// The saved workspace's root and who keeps its files, once saved.
    pub fn saved(&self) -> Option<(Hash, OutputHolder)> {
        match self {
            WorkspaceState::Saved { root, held_by, .. } => Some((*root, *held_by)),
            _ => None,
        }
    }
}

impl From<WorkspaceSave> for WorkspaceState {
    fn from(save: WorkspaceSave) -> WorkspaceState {
        match save {
            WorkspaceSave::Saved {
                root,
                bytes,
                held_by,
            } => WorkspaceState::Saved {
                root,
                bytes,
                held_by,
            },
            WorkspaceSave::Failed { reason } => WorkspaceState::Failed { reason },
        }
    }
}

/// The most members a job array has (`TxBody::SubmitArray`).
pub const MAX_ARRAY_SIZE: u32 = 1_000;
/// What a member of a job array finds its index in (0, 1, ...).
pub const ARRAY_INDEX_VAR: &str = "GPUNET_ARRAY_INDEX";
/// What a member of a job array finds the array's size in.
pub const ARRAY_SIZE_VAR: &str = "GPUNET_ARRAY_SIZE";

/// A job's place in the array it was submitted with: the array's orders are
/// `first..first + size`, this one `first + index`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArrayPlace {
    /// The array's first order.
    pub first: OrderId,
    /// This order's index in it.
    pub index: u32,
    /// How many orders it has.
    pub size: u32,
}

impl ArrayPlace {
    /// The array's orders, in index order.
    pub fn orders(&self) -> impl Iterator<Item = OrderId> {
        let first = self.first;
        (0..u64::from(self.size)).map(move |i| first.saturating_add(i))
    }
}

/// How an audit ended.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AuditVerdict {
    /// The audit run gave the same output root.
    Agreed,
    /// Two runs agreed against the provider: it is slashed and not paid.
    ProviderWrong,
    /// Two runs agreed against this auditor: it is slashed and not paid.
    AuditorWrong {
        /// The auditor's account.
        auditor: Address,
    },
    /// The outputs differ but the job is not deterministic: nobody is slashed.
    NonDeterministicMismatch,
    /// No majority, or the audit runs did not finish: everyone is paid.
    Inconclusive,
    /// The referee of a client's dispute agreed with the provider: it is
    /// paid, and the client's dispute deposit paid the referee.
    DisputeRejected,
    /// The output stands (an audit or a referee agreed with it), but the
    /// provider billed far more time than the agreeing run allows: it is
    /// billed that bound, slashed, and pays for the runs that checked it.
    ProviderPadded,
}

/// An order as the API shows it: one flat record, each part present when
/// the order's status has it (`rental` for every rental, all zero until it
/// is leased). Built by the ledger's `Order::view`; never stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderView {
    /// Its id.
    #[serde(rename = "order", alias = "id")]
    pub id: OrderId,
    /// The account that placed it and pays for it.
    pub client: Address,
    /// What it asks to run, on what.
    pub spec: JobSpec,
    /// The most it pays per hour.
    #[serde(with = "gpunet_primitives::json::gpn")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
    pub max_price_per_hour: Amount,
    /// What its client escrowed when it placed it.
    #[serde(with = "gpunet_primitives::json::gpn")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
    pub deposit: Amount,
    /// What the order still holds in escrow (the deposit while open, 0 once closed).
    #[serde(with = "gpunet_primitives::json::gpn")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
    pub escrow: Amount,
    /// Where it stands.
    pub status: OrderStatus,
    /// Block time it was placed.
    #[serde(rename = "submitted_at", with = "gpunet_primitives::json::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Rfc3339))]
    pub submitted_ms: u64,
    /// Its lease, once leased (kept when it closes).
    pub lease: Option<Lease>,
    /// Its provider's report, once reported.
    pub report: Option<Report>,
    /// Where its escrow went, once closed.
    pub settlement: Option<Settlement>,
    /// For a rental: its time budget and what has streamed out of escrow.
    pub rental: Option<Rental>,
    /// For an audit run: the order it re-runs.
    pub audit_of: Option<OrderId>,
    /// For an audited order: its audit runs, in order.
    pub audit_runs: Vec<OrderId>,
    /// For an audited order: how its audit ended, once it has.
    pub audit_verdict: Option<AuditVerdict>,
    /// Machines that declined it, with their reasons; matching skips them.
    pub declines: Vec<Decline>,
    /// Earlier runs of a job that their providers failed or let time out,
    /// oldest first; matching skips their machines. The current run, if
    /// any, is `lease`.
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// The output root its client holds right, when it disputed the reported
    /// one (`exec::disputes`).
    pub disputed_root: Option<Hash>,
    /// Accounts its client lets read its result (`ShareResult`), sorted.
    pub result_readers: Vec<Address>,
    /// For a member of a job array: its place in it.
    #[serde(default)]
    pub array: Option<ArrayPlace>,
    /// For a rental its renter ended asking to save its workspace: how
    /// that went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<WorkspaceState>,
}

impl OrderView {
    /// The root of its result: the output root its provider reported, if
    /// the job completed, or the workspace a rental saved.
    pub fn output_root(&self) -> Option<Hash> {
        self.result_files().map(|(root, _)| root)
    }

    /// Its result's root and who keeps the files it lists: a completed
    /// job's outputs, or a rental's saved workspace.
    pub fn result_files(&self) -> Option<(Hash, OutputHolder)> {
        match (&self.report, &self.workspace) {
            (Some(report), _) => Some((report.output_root()?, report.files_held_by()?)),
            (None, Some(workspace)) => workspace.saved(),
            (None, None) => None,
        }
    }
}
