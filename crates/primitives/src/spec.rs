//! What machines offer and what jobs ask for, in their on-chain form.

use crate::{Amount, Hash};
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// The GPUs of one machine; a machine's GPUs are all of one model.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct GpuSpec {
    /// e.g. "nvidia"
    pub vendor: String,
    /// e.g. "NVIDIA H100 80GB HBM3"
    pub model: String,
    /// How many.
    pub count: u32,
    /// Memory of one GPU in MiB.
    pub vram_mb: u64,
}

/// Hardware a provider declares for a machine.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct MachineSpec {
    /// CPU cores it offers.
    pub cpu_cores: u32,
    /// Memory it offers, in MiB.
    pub memory_mb: u64,
    /// Disk it offers to jobs, in MiB.
    pub disk_mb: u64,
    /// Its GPUs; `None` for a CPU-only machine.
    pub gpu: Option<GpuSpec>,
    /// Free-form region label, e.g. "eu-west".
    pub region: String,
    /// Which executor runs jobs on this machine ("process" or "docker").
    pub executor: String,
}

impl MachineSpec {
    /// How many GPUs it has (0 without any).
    pub fn gpu_count(&self) -> u32 {
        self.gpu.as_ref().map_or(0, |g| g.count)
    }
}

/// Golem-style linear prices on top of a machine's hourly base price: a job
/// pays the base plus, for each resource it asks for, the amount times that
/// resource's price.
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ResourcePrices {
    /// Per GPU.
    #[serde(with = "crate::json::gpn")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::json::Gpn))]
    pub per_gpu_hour: Amount,
    /// Per CPU core.
    #[serde(with = "crate::json::gpn")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::json::Gpn))]
    pub per_cpu_hour: Amount,
    /// Per GiB of memory.
    #[serde(with = "crate::json::gpn")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::json::Gpn))]
    pub per_gb_ram_hour: Amount,
}

impl ResourcePrices {
    /// The hourly price of a job needing `r` on a machine with this base
    /// price; `None` on overflow. Memory is billed per started MiB.
    pub fn job_price(&self, base_per_hour: Amount, r: &Resources) -> Option<Amount> {
        let ram = self
            .per_gb_ram_hour
            .checked_mul(Amount::from(r.memory_mb))?
            .div_ceil(1024);
        base_per_hour
            .checked_add(self.per_gpu_hour.checked_mul(Amount::from(r.gpu.count))?)?
            .checked_add(self.per_cpu_hour.checked_mul(Amount::from(r.cpu_cores))?)?
            .checked_add(ram)
    }
}

/// GPU constraints of a job.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct GpuRequirement {
    /// GPUs it needs; 0 for none (and then no other constraint).
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Resources {
    /// CPU cores.
    pub cpu_cores: u32,
    /// Memory, in MiB.
    pub memory_mb: u64,
    /// Most the job may write (working directory, outputs and logs together),
    /// in MiB; executors stop it past that, and give it at least 64.
    pub disk_mb: u64,
    /// GPUs.
    pub gpu: GpuRequirement,
    /// Size of `/dev/shm` in MiB (PyTorch's data loaders and NCCL share
    /// memory through it; Docker gives 64 without this); 0: the executor's
    /// default. Counted within `memory_mb`.
    #[serde(default)]
    pub shm_mb: u64,
    /// Process limits the job runs under, where it needs more than the
    /// executor's defaults.
    #[serde(default)]
    pub ulimits: Ulimits,
}

impl Resources {
    /// `cpu_cores` cores, `memory_mb` of memory and `disk_mb` of disk (MiB),
    /// no GPU, the executor's `/dev/shm` and process limits.
    pub fn new(cpu_cores: u32, memory_mb: u64, disk_mb: u64) -> Resources {
        Resources {
            cpu_cores,
            memory_mb,
            disk_mb,
            gpu: GpuRequirement::default(),
            shm_mb: 0,
            ulimits: Ulimits::default(),
        }
    }

    /// These resources with `count` GPUs of any model.
    pub fn with_gpus(self, count: u32) -> Resources {
        Resources {
            gpu: GpuRequirement {
                count,
                ..GpuRequirement::default()
            },
            ..self
        }
    }
}

/// Process limits (`setrlimit`, Docker's `--ulimit`), soft and hard alike;
/// `None` leaves the executor's default.
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[serde(deny_unknown_fields)]
pub struct Ulimits {
    /// Open files (`nofile`).
    pub nofile: Option<u64>,
    /// Locked memory in MiB (`memlock`: RDMA and NCCL pin buffers).
    pub memlock_mb: Option<u64>,
    /// Stack size in MiB (`stack`).
    pub stack_mb: Option<u64>,
}

/// An input file, stored by content hash; the provider fetches and verifies it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct InputRef {
    /// Relative path inside the job's input directory.
    pub path: String,
    /// BLAKE3 of its content.
    pub hash: Hash,
    /// Its size in bytes.
    pub size: u64,
    /// Who holds it, and why the order's parties may read it.
    pub source: InputSource,
}

impl InputRef {
    /// The proof that the order's client holds the file, for an input it
    /// holds.
    pub fn holder_proof(&self) -> Option<Hash> {
        match self.source {
            InputSource::Held { holder_proof } => Some(holder_proof),
            InputSource::KeptResult { .. } => None,
        }
    }
}

/// Who holds an input, and why the order's parties may read it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[serde(rename_all = "snake_case")]
pub enum InputSource {
    /// The client holds the file: uploaded to the nodes, or served from
    /// its own peer (`gpunet serve`).
    Held {
        /// That the order's client holds the file
        /// ([`ReadSecret::proof_for`]): without it, nodes serve the file to
        /// no party of the order.
        ///
        /// [`ReadSecret::proof_for`]: crate::ReadSecret::proof_for
        holder_proof: Hash,
    },
    /// A file of the result of `order`, an earlier job of the same client,
    /// which that job's provider keeps (it ran with its outputs kept) and
    /// serves to the provider of a lease of that client naming it: the
    /// ledger checked the client's claim when the order was placed, so no
    /// proof of holding is needed, and the file never reaches a node.
    KeptResult {
        /// The earlier order.
        order: crate::OrderId,
    },
}

/// The slowest a provider is expected to receive a pushed image: 10 MB/s
/// (80 Mbit/s, a modest home uplink of the client's or a provider's).
pub const IMAGE_FETCH_BYTES_PER_MS: u64 = 10_000;

/// A container image its client saved from its own engine (`gpunet image
/// push`) and serves peer to peer: a provider whose engine lacks the image
/// fetches this blob (a `docker save` archive) from the client's peer or
/// from another provider that loaded it, and loads it. Nothing goes
/// through a registry or a validator.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[serde(deny_unknown_fields)]
pub struct ImageBlob {
    /// BLAKE3 of the archive.
    pub hash: Hash,
    /// Its size in bytes.
    pub size: u64,
    /// That the order's client holds the archive ([`ReadSecret::proof_for`]):
    /// a provider that loaded it serves it to the provider of another order
    /// only when that order's proof holds, so naming a root seen on chain
    /// does not read someone else's image.
    ///
    /// [`ReadSecret::proof_for`]: crate::ReadSecret::proof_for
    pub holder_proof: Hash,
}

/// A job as recorded on the ledger.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct JobSpec {
    /// A label for people; not unique.
    pub name: String,
    /// Container image (used by the docker executor; informative for the
    /// process executor). With [`JobSpec::image_blob`], the image's id
    /// (`sha256:…`) that the blob loads as.
    pub image: String,
    /// Where a provider whose engine lacks `image` gets it, for an image its
    /// client pushed; `None`: the provider's engine has it or pulls it.
    #[serde(default)]
    pub image_blob: Option<ImageBlob>,
    /// Program and arguments.
    pub command: Vec<String>,
    /// Environment variables, sorted by name.
    pub env: Vec<(String, String)>,
    /// What it needs for its whole run.
    pub resources: Resources,
    /// Files it reads, fetched into its input directory before it starts.
    pub inputs: Vec<InputRef>,
    /// Longest it may run; its provider stops it then, and is paid at most that.
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
    /// How matching chooses among the machines that fit.
    pub placement: Placement,
    /// Container ports a rental exposes to its renter (needs `network`): its
    /// provider publishes each and announces where to reach it.
    #[serde(default)]
    pub ports: Vec<u16>,
    /// Most runs a job gets: a run whose provider reports it failed or lets
    /// it time out (its provider is slashed either way) is matched again to
    /// another machine until this many have run, and only then is the
    /// client refunded. 1 (the default) never retries; rentals have 1.
    #[serde(default = "one_attempt")]
    pub max_attempts: u32,
    /// Names of environment variables whose values are secret: its client
    /// seals them to the provider of each lease (`TxBody::SealSecrets`),
    /// and no block, event or API answer holds them in the clear. Sorted;
    /// none of them in `env`.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// What a rental's container does when its program exits: the rental
    /// ends (the default) or the container is started again. A job ends
    /// when its program does: only [`OnExit::End`].
    #[serde(default)]
    pub on_exit: OnExit,
    /// A workspace its client saved from an earlier rental
    /// (`TxBody::EndRental` with `save`), put in the run's `/workspace`
    /// before it starts.
    #[serde(default)]
    pub workspace: Option<WorkspaceRef>,
    /// Whether a rental that ends by itself (its time runs out, or its
    /// container stops for good) has its provider save `/workspace` first,
    /// as ending it with `TxBody::EndRental`'s `save` does: work is not lost
    /// to a clock. Only rentals; a job's results are its outputs.
    #[serde(default)]
    pub save_on_end: bool,
}

/// A saved workspace, by the rental that saved it and its root.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct WorkspaceRef {
    /// The rental that saved it: a closed rental of the same client.
    pub order: crate::OrderId,
    /// The root of its manifest, as that rental's provider reported it.
    pub root: Hash,
}

fn one_attempt() -> u32 {
    1
}

/// What happens when a rental's program exits by itself.
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum OnExit {
    /// The rental ends, billed to that moment; the rest of its escrow is
    /// refunded. Nobody pays for a machine that runs nothing.
    #[default]
    End,
    /// Its provider starts the container again (a fresh root filesystem,
    /// the same `/workspace`); one that keeps exiting soon after each start
    /// ends the rental, as [`OnExit::End`] would.
    Restart,
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Placement {
    /// The least loaded machine, then the cheapest: work spreads across
    /// providers when offers are alike.
    #[default]
    Spread,
    /// The cheapest machine, then the least loaded.
    Cheapest,
}

impl JobSpec {
    /// `command` run in `image` with `resources` for at most `timeout_secs`,
    /// every other choice at its default (as a job file that names only
    /// those would have it): no name, environment, inputs, region, network,
    /// ports, secrets or workspace; no audit; any machine's reliability;
    /// spread placement; one attempt; it ends when its program exits, its
    /// workspace unsaved.
    pub fn new(
        image: impl Into<String>,
        command: Vec<String>,
        resources: Resources,
        timeout_secs: u64,
    ) -> JobSpec {
        JobSpec {
            name: String::new(),
            image: image.into(),
            image_blob: None,
            command,
            env: Vec::new(),
            resources,
            inputs: Vec::new(),
            timeout_secs,
            region: None,
            network: false,
            audit_bps: 0,
            min_reliability_bps: 0,
            placement: Placement::default(),
            ports: Vec::new(),
            max_attempts: one_attempt(),
            secrets: Vec::new(),
            on_exit: OnExit::default(),
            workspace: None,
            save_on_end: false,
        }
    }

    /// Time a lease gets to fetch and load a pushed image
    /// ([`JobSpec::image_blob`]) before its run starts: the archive's size
    /// at [`IMAGE_FETCH_BYTES_PER_MS`], rounded up. A lease with one is
    /// preparing on the ledger until its provider starts it, by this plus
    /// the decline window, so that preparing never eats the job's time nor
    /// turns a slow fetch into a slash. 0 without one (the run starts with
    /// the lease).
    pub fn preparation_ms(&self) -> u64 {
        self.image_blob
            .map_or(0, |blob| blob.size.div_ceil(IMAGE_FETCH_BYTES_PER_MS))
    }

    /// Deterministic jobs (image pinned by digest, `name@sha256:…`, or by its
    /// content-addressed id, `sha256:…`; no network) must give the same outputs
    /// on every honest machine, so a mismatch is slashable.
    pub fn is_deterministic(&self) -> bool {
        (self.image.contains("@sha256:") || self.image.starts_with("sha256:")) && !self.network
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_pays_the_base_plus_each_resource_it_asks_for() {
        let prices = ResourcePrices {
            per_gpu_hour: 2_000,
            per_cpu_hour: 100,
            per_gb_ram_hour: 1_024,
        };
        let r = Resources {
            cpu_cores: 4,
            memory_mb: 2_048 + 1,
            disk_mb: 0,
            gpu: GpuRequirement {
                count: 2,
                ..Default::default()
            },
            shm_mb: 0,
            ulimits: Ulimits::default(),
        };
        // 50 + 2·2000 + 4·100 + ceil(1024·2049/1024)
        assert_eq!(prices.job_price(50, &r), Some(50 + 4_000 + 400 + 2_049));
        assert_eq!(ResourcePrices::default().job_price(7, &r), Some(7));
        let huge = ResourcePrices {
            per_gpu_hour: Amount::MAX,
            ..prices
        };
        assert_eq!(huge.job_price(0, &r), None, "overflow is no price");
    }
}
