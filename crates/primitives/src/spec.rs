//! What machines offer and what jobs ask for, in their on-chain form.

use crate::Hash;
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// The GPUs of one machine; a machine's GPUs are all of one model.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct GpuSpec {
    /// e.g. "nvidia"
    pub vendor: String,
    /// e.g. "NVIDIA H100 80GB HBM3"
    pub model: String,
    pub count: u32,
    /// Memory of one GPU in MiB.
    pub vram_mb: u64,
}

/// Hardware a provider declares for a machine.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct MachineSpec {
    pub cpu_cores: u32,
    pub memory_mb: u64,
    pub disk_mb: u64,
    pub gpu: Option<GpuSpec>,
    /// Free-form region label, e.g. "eu-west".
    pub region: String,
    /// Which executor runs jobs on this machine ("process" or "docker").
    pub executor: String,
}

impl MachineSpec {
    pub fn gpu_count(&self) -> u32 {
        self.gpu.as_ref().map_or(0, |g| g.count)
    }
}

/// GPU constraints of a job.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct GpuRequirement {
    pub count: u32,
    /// Required vendor (case-insensitive), if any.
    pub vendor: Option<String>,
    /// Substring the GPU model must contain (case-insensitive), if any.
    pub model: Option<String>,
    /// Minimum memory per GPU in MiB.
    pub min_vram_mb: u64,
}

/// Resources a job needs for its whole run.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Resources {
    pub cpu_cores: u32,
    pub memory_mb: u64,
    pub disk_mb: u64,
    pub gpu: GpuRequirement,
}

/// An input file, stored by content hash; the provider fetches and verifies it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct InputRef {
    /// Relative path inside the job's input directory.
    pub path: String,
    pub hash: Hash,
    pub size: u64,
}

/// A job as recorded on the ledger.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct JobSpec {
    pub name: String,
    /// Container image (used by the docker executor; informative for the process executor).
    pub image: String,
    /// Program and arguments.
    pub command: Vec<String>,
    /// Environment variables, sorted by name.
    pub env: Vec<(String, String)>,
    pub resources: Resources,
    pub inputs: Vec<InputRef>,
    pub timeout_secs: u64,
    /// Required region, if any.
    pub region: Option<String>,
    /// Whether the job needs network access (containers have none otherwise).
    pub network: bool,
    /// Probability, in basis points, that a random staked auditor re-runs the
    /// job before it is paid (the client pays for audit runs).
    pub audit_bps: u32,
    /// Least reliability (completed / finished leases, in basis points) a
    /// machine needs to take the job; 0 accepts any.
    pub min_reliability_bps: u32,
    pub placement: Placement,
}

/// How the ledger picks among the machines that can take a job.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// The least loaded machine, then the cheapest: work spreads across
    /// providers when offers are alike.
    #[default]
    Spread,
    /// The cheapest machine, then the least loaded.
    Cheapest,
}

impl JobSpec {
    /// Deterministic jobs (image pinned by digest, `name@sha256:…`, or by its
    /// content-addressed id, `sha256:…`; no network) must give the same outputs
    /// on every honest machine, so a mismatch is slashable.
    pub fn is_deterministic(&self) -> bool {
        (self.image.contains("@sha256:") || self.image.starts_with("sha256:")) && !self.network
    }
}
