//! A machine on offer and its hardware challenges, as the ledger keeps them
//! and clients read them.

use borsh::{BorshDeserialize, BorshSerialize};
use gpunet_primitives::{
    Address, Amount, ChallengeId, Hash, MachineId, MachineSpec, ResourcePrices,
};
use serde::{Deserialize, Serialize};

/// Resources currently leased out of a machine.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Allocation {
    /// CPU cores.
    pub cpu_cores: u32,
    /// Memory, in MiB.
    pub memory_mb: u64,
    /// Disk, in MiB.
    pub disk_mb: u64,
    /// Whole GPUs.
    pub gpus: u32,
}

/// A registered machine: what it offers, at what price, what is leased out
/// of it and what it has proven.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Machine {
    /// Its id, given at registration.
    #[serde(rename = "machine", alias = "id")]
    pub id: MachineId,
    /// The provider account that registered it and stakes for it.
    pub owner: Address,
    /// The hardware it claims.
    pub spec: MachineSpec,
    /// Base hourly price of any job on it.
    #[serde(with = "gpunet_primitives::json::gpn")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
    pub price_per_hour: Amount,
    /// Hourly prices per GPU, core, GiB of memory and of disk, on top of the base.
    pub resource_prices: ResourcePrices,
    /// Whether it takes new leases (its owner paused it, or it is held down, when not).
    pub online: bool,
    /// Block time of its registration.
    #[serde(rename = "registered_at", with = "gpunet_primitives::json::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Rfc3339))]
    pub registered_ms: u64,
    /// What its open leases hold.
    pub allocated: Allocation,
    /// Its open leases.
    pub active_leases: u32,
    /// Block time of its last lease; `None` until its first. Among offers
    /// equal in load and price, the one leased longest ago wins, so that
    /// machines of the same price take work in turn.
    #[serde(
        rename = "last_leased_at",
        default,
        with = "gpunet_primitives::json::rfc3339_option"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<gpunet_primitives::json::Rfc3339>))]
    pub last_leased_ms: Option<u64>,
    /// Leases it completed (a run reported with a result, a rental that ran its course).
    pub completed: u64,
    /// Leases it failed: reported failed, or timed out.
    pub failed: u64,
    /// Leases it handed back unstarted (not failures: see `exec::declines`).
    pub declined: u64,
    /// Its GPU model's interned id (`State::gpu_models`); 0 without a GPU.
    pub gpu_model_id: u32,
    /// Whether its hardware claims are proven (see `exec::challenges`).
    pub hardware: HardwareStatus,
    /// The hardware challenge it is answering now, if any.
    pub challenge: Option<ChallengeId>,
    /// Throughput achieved in its last passed challenge of its class (its
    /// GPUs', or its CPUs' without GPUs), in giga-ops/s: its compute score.
    pub compute_gops: u64,
    /// Throughput of its CPUs (all cores) in its last passed CPU-class
    /// challenge, in mega-ops/s: what CPU jobs run on. A machine with GPUs
    /// answers CPU-class challenges in turn with GPU ones.
    pub cpu_mops: u64,
    /// Hardware challenges it has passed.
    pub challenges_passed: u32,
}

impl Machine {
    /// Its CPU throughput per core, in kilo-ops/s (0 until measured): how
    /// fast a CPU job given some of its cores runs.
    pub fn cpu_kops_per_core(&self) -> u64 {
        self.cpu_mops.saturating_mul(1000) / u64::from(self.spec.cpu_cores.max(1))
    }
}

/// Whether a machine's hardware claims are proven.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HardwareStatus {
    /// Registered (or re-listed); its first challenge is pending.
    Unverified,
    /// Passed its last challenge: eligible for leases.
    Verified,
    /// Failed a challenge: slashed and delisted until it passes a new one.
    Failed,
}

impl Machine {
    /// Completed leases over finished ones, in basis points; 10000 without history.
    pub fn reliability_bps(&self) -> u32 {
        let finished = self.completed + self.failed;
        if finished == 0 {
            return 10_000;
        }
        (u128::from(self.completed) * 10_000 / u128::from(finished)) as u32
    }
}

/// Where a hardware challenge is.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChallengePhase {
    /// The owner must commit a root by `commit_deadline_ms`.
    AwaitingCommit,
    /// Committed in block `height`; the rows are drawn from that block's hash.
    Committed {
        /// The Merkle root of the product's row hashes.
        root: Hash,
        /// Block time of the commitment.
        #[serde(rename = "committed_at", with = "gpunet_primitives::json::rfc3339")]
        #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Rfc3339))]
        committed_ms: u64,
        /// The block that took it.
        height: u64,
    },
    /// The owner must open `rows` by `deadline_ms`.
    Opening {
        /// The Merkle root committed.
        root: Hash,
        /// Block time of the commitment.
        #[serde(rename = "committed_at", with = "gpunet_primitives::json::rfc3339")]
        #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Rfc3339))]
        committed_ms: u64,
        /// The hash the rows were drawn from.
        beacon: Hash,
        /// The rows to open, with their Merkle paths.
        rows: Vec<u32>,
        /// When the openings are due.
        #[serde(rename = "deadline", with = "gpunet_primitives::json::rfc3339")]
        #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Rfc3339))]
        deadline_ms: u64,
    },
}

/// What a hardware challenge asks of a machine: the product C = A·B of an
/// int8 `rows × inner` matrix A and an `inner × cols` matrix B, both drawn
/// from `seed` (see `gpunet_poc::Challenge`, which checks the dimensions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChallengeTask {
    /// What A and B are drawn from.
    pub seed: Hash,
    /// Rows of A and of C.
    pub rows: u32,
    /// Columns of A, rows of B.
    pub inner: u32,
    /// Columns of B and of C.
    pub cols: u32,
}

/// A proof-of-compute challenge to one machine, from issue to verdict, as
/// the API shows it (`GET /v1/challenges/{id}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChallengeView {
    /// Its id.
    #[serde(rename = "challenge", alias = "id")]
    pub id: ChallengeId,
    /// The machine challenged.
    pub machine: MachineId,
    /// The machine's owner, who answers.
    pub owner: Address,
    /// What it asks.
    #[serde(rename = "task")]
    pub challenge: ChallengeTask,
    /// The compute class the machine's claimed hardware falls in.
    pub class: String,
    /// Block time it was issued.
    #[serde(rename = "issued_at", with = "gpunet_primitives::json::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Rfc3339))]
    pub issued_ms: u64,
    /// When the commitment is due.
    #[serde(rename = "commit_deadline", with = "gpunet_primitives::json::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Rfc3339))]
    pub commit_deadline_ms: u64,
    /// Where it is.
    pub phase: ChallengePhase,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_view_round_trips_through_json_with_its_id_as_challenge() {
        let view = ChallengeView {
            id: 7,
            machine: 3,
            owner: Address([9; 32]),
            challenge: ChallengeTask {
                seed: Hash::digest(b"seed"),
                rows: 8,
                inner: 16,
                cols: 8,
            },
            class: "cpu".into(),
            issued_ms: 1_000,
            commit_deadline_ms: 2_000,
            phase: ChallengePhase::Opening {
                root: Hash::digest(b"root"),
                committed_ms: 1_500,
                beacon: Hash::digest(b"beacon"),
                rows: vec![1, 5],
                deadline_ms: 3_000,
            },
        };
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["challenge"], 7, "{json}");
        assert_eq!(json["task"]["rows"], 8, "{json}");
        assert_eq!(
            json["commit_deadline"], "1970-01-01T00:00:02.000Z",
            "{json}"
        );
        assert_eq!(
            json["phase"]["opening"]["deadline"],
            "1970-01-01T00:00:03.000Z"
        );
        assert_eq!(serde_json::from_value::<ChallengeView>(json).unwrap(), view);
    }
}
