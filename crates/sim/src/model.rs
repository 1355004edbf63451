//! The synthetic market: machine classes, provider strategies, the workload.

use gpunet_primitives::{
    Address, Amount, GpuRequirement, GpuSpec, JobSpec, MachineSpec, Placement, ResourcePrices,
    Resources, UNIT,
};
use rand::rngs::StdRng;
use rand::Rng;

/// A kind of machine in the network, from datacenter nodes to single cards.
pub struct Class {
    /// Its name in reports.
    pub name: &'static str,
    /// Its GPU model; `None` for a CPU-only machine.
    pub model: Option<&'static str>,
    /// GPUs per machine.
    pub gpus: u32,
    /// Memory per GPU, in GB.
    pub vram_gb: u64,
    /// CPU cores per machine.
    pub cores: u32,
    /// Share of the machines, in percent.
    pub share: u32,
    /// Price per GPU-hour (or per core-hour for CPU machines), in milli-GPN.
    pub unit_price_milli: u128,
    /// Proven int8 giga-ops/s (its compute score).
    pub gops: u64,
}

/// The classes of the simulated network.
pub const CLASSES: &[Class] = &[
    Class {
        name: "H100x8",
        model: Some("NVIDIA H100 80GB HBM3"),
        gpus: 8,
        vram_gb: 80,
        cores: 96,
        share: 4,
        unit_price_milli: 2_000,
        gops: 4_000_000,
    },
    Class {
        name: "A100x4",
        model: Some("NVIDIA A100-SXM4-80GB"),
        gpus: 4,
        vram_gb: 80,
        cores: 48,
        share: 8,
        unit_price_milli: 1_100,
        gops: 700_000,
    },
    Class {
        name: "RTX4090",
        model: Some("NVIDIA GeForce RTX 4090"),
        gpus: 1,
        vram_gb: 24,
        cores: 16,
        share: 38,
        unit_price_milli: 400,
        gops: 200_000,
    },
    Class {
        name: "RTX3090",
        model: Some("NVIDIA GeForce RTX 3090"),
        gpus: 1,
        vram_gb: 24,
        cores: 12,
        share: 30,
        unit_price_milli: 250,
        gops: 80_000,
    },
    Class {
        name: "CPU",
        model: None,
        gpus: 0,
        vram_gb: 0,
        cores: 16,
        share: 20,
        unit_price_milli: 20,
        gops: 20,
    },
];

impl Class {
    /// The machine spec a provider of this class registers.
    pub fn spec(&self) -> MachineSpec {
        MachineSpec {
            cpu_cores: self.cores,
            memory_mb: u64::from(self.cores) * 8 * 1024,
            disk_mb: 2 << 20,
            gpu: self.model.map(|m| GpuSpec {
                vendor: "nvidia".into(),
                model: m.into(),
                count: self.gpus,
                vram_mb: self.vram_gb * 1024,
            }),
            region: "global".into(),
            executor: "docker".into(),
        }
    }

    /// Linear prices: per GPU (or per core on CPU machines) plus a little per core.
    pub fn prices(&self) -> (Amount, ResourcePrices) {
        let unit = self.unit_price_milli * UNIT / 1000;
        let per_cpu = UNIT / 100;
        let prices = if self.gpus > 0 {
            ResourcePrices {
                per_gpu_hour: unit,
                per_cpu_hour: per_cpu,
                per_gb_ram_hour: 0,
            }
        } else {
            ResourcePrices {
                per_gpu_hour: 0,
                per_cpu_hour: unit,
                per_gb_ram_hour: 0,
            }
        };
        (UNIT / 100, prices)
    }
}

/// How a provider behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Strategy {
    /// Runs and reports every job and rental as it should.
    Honest,
    /// Reports every job with a made-up output, saving the compute (but
    /// waiting as long as the work takes, to bill it).
    SkipWork,
    /// Skips only the jobs audits cannot check (not deterministic): only
    /// canary jobs, whose clients know the answer and dispute, catch it.
    SelectiveSkip,
    /// Claims a faster GPU than it has: cannot pass its hardware challenges.
    FakeHardware,
    /// Goes dark for hours during rentals, saving the running cost.
    OfflineWhileRented,
    /// As an auditor, reports a made-up output without running the job.
    LazyAuditor,
    /// Runs every job (and audit run) honestly but reports it a minute before
    /// its timeout, billing the whole timeout.
    PadBilling,
    /// Pads only the jobs audits cannot check (not deterministic): only
    /// canary clients, who know how long their job takes, catch it.
    SelectivePadding,
}

/// Each strategy with its share of providers, in percent.
pub const STRATEGIES: &[(Strategy, u32)] = &[
    (Strategy::Honest, 73),
    (Strategy::SkipWork, 4),
    (Strategy::SelectiveSkip, 4),
    (Strategy::FakeHardware, 3),
    (Strategy::OfflineWhileRented, 4),
    (Strategy::LazyAuditor, 4),
    (Strategy::PadBilling, 4),
    (Strategy::SelectivePadding, 4),
];

impl Strategy {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Honest => "honest",
            Strategy::SkipWork => "skip-work",
            Strategy::SelectiveSkip => "selective skip-work",
            Strategy::FakeHardware => "fake hardware",
            Strategy::OfflineWhileRented => "offline while rented",
            Strategy::LazyAuditor => "lazy auditor",
            Strategy::PadBilling => "pad billing",
            Strategy::SelectivePadding => "selective padding",
        }
    }
}

/// Picks an entry of `table` by its weight.
pub fn pick<T: Copy>(rng: &mut StdRng, table: &[(T, u32)]) -> T {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut draw = rng.gen_range(0..total);
    for (item, weight) in table {
        if draw < *weight {
            return *item;
        }
        draw -= weight;
    }
    table[table.len() - 1].0
}

/// An address that needs no key (the simulation does not sign).
pub fn address(label: &str) -> Address {
    Address(*blake3::hash(label.as_bytes()).as_bytes())
}

/// The share of a provider's price that running a job costs it (power, wear).
pub const RUNNING_COST_PCT: u128 = 50;

/// One order a client places.
pub struct Demand {
    /// What it runs.
    pub spec: JobSpec,
    /// Whether it is a rental.
    pub rental: bool,
    /// How long the work really takes (jobs) or is booked (rentals), in ms.
    pub duration_ms: u64,
    /// The most it pays per hour.
    pub max_price_per_hour: Amount,
}

/// Draws a job or a rental: mostly small jobs, some multi-GPU work, some rentals.
pub fn demand(rng: &mut StdRng) -> Demand {
    let rental = rng.gen_ratio(15, 100);
    let (gpus, model): (u32, Option<&str>) = match rng.gen_range(0..100) {
        0..=34 => (0, None),
        35..=69 => (1, None),
        70..=84 => (1, Some("4090")),
        85..=94 => (4, Some("A100")),
        _ => (8, Some("H100")),
    };
    // Exponential durations: jobs about 40 minutes, rentals about 6 hours.
    let mean_min = if rental { 360.0 } else { 40.0 };
    let minutes = (-mean_min * (1.0 - rng.gen::<f64>()).ln()).clamp(1.0, 48.0 * 60.0);
    let duration_ms = (minutes * 60_000.0) as u64;
    let timeout_secs = if rental {
        duration_ms / 1000
    } else {
        duration_ms * 2 / 1000 + 600
    };
    let deterministic = !rental && rng.gen_bool(0.5);
    let spec = JobSpec {
        name: if rental { "rental" } else { "job" }.into(),
        image: if deterministic {
            format!("sha256:{}", "ab".repeat(32))
        } else {
            "trainer:latest".into()
        },
        command: vec!["run".into()],
        env: vec![],
        resources: Resources {
            cpu_cores: if gpus == 0 { 2 } else { 4 * gpus },
            memory_mb: 8 * 1024,
            disk_mb: 100,
            gpu: GpuRequirement {
                count: gpus,
                model: model.map(str::to_string),
                ..Default::default()
            },
            shm_mb: 0,
            ulimits: Default::default(),
        },
        inputs: vec![],
        timeout_secs,
        region: None,
        network: false,
        audit_bps: if deterministic { 1_000 } else { 0 },
        min_reliability_bps: 0,
        ports: Vec::new(),
        max_attempts: 1,
        secrets: Vec::new(),
        on_exit: Default::default(),
        workspace: None,
        placement: if rng.gen_ratio(1, 5) {
            Placement::Cheapest
        } else {
            Placement::Spread
        },
    };
    Demand {
        spec,
        rental,
        duration_ms,
        max_price_per_hour: 50 * UNIT,
    }
}

/// Orders per hour at hour `h` of the day, relative to the mean (a daily rhythm).
pub fn daily_rhythm(hour_of_day: f64) -> f64 {
    1.0 + 0.5 * ((hour_of_day - 15.0) / 24.0 * std::f64::consts::TAU).cos()
}
