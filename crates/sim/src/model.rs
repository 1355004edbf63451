//! The synthetic market: machine classes, provider strategies, the workload.

use gpunet_primitives::{Address, Amount, GpuSpec, MachineSpec, ResourcePrices, UNIT};
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
    /// What the whole machine draws while it works, in watts.
    pub busy_watts: u32,
    /// What centralized markets asked per GPU-hour in 2026, in USD (low,
    /// high): vast.ai's on-demand and interruptible listings (H100 2.5-4.0,
    /// AWS 3.93; A100 80GB 0.78-1.21; RTX 4090 0.31-0.88; RTX 3090 from
    /// 0.18, up to what a 4090 starts at). `None` for CPU machines.
    pub reference_usd: Option<(f64, f64)>,
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
        busy_watts: 7_500,
        reference_usd: Some((2.5, 4.0)),
    },
    Class {
        name: "A100x4",
        model: Some("NVIDIA A100-SXM4-80GB"),
        gpus: 4,
        vram_gb: 80,
        cores: 48,
        share: 8,
        unit_price_milli: 700,
        gops: 700_000,
        busy_watts: 2_400,
        reference_usd: Some((0.78, 1.21)),
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
        busy_watts: 600,
        reference_usd: Some((0.31, 0.88)),
    },
    Class {
        name: "RTX3090",
        model: Some("NVIDIA GeForce RTX 3090"),
        gpus: 1,
        vram_gb: 24,
        cores: 12,
        share: 30,
        unit_price_milli: 180,
        gops: 80_000,
        busy_watts: 500,
        reference_usd: Some((0.18, 0.31)),
    },
    Class {
        name: "CPU",
        model: None,
        gpus: 0,
        vram_gb: 0,
        cores: 16,
        share: 20,
        unit_price_milli: 5,
        gops: 20,
        busy_watts: 200,
        reference_usd: None,
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

    /// GPUs, or cores for a machine without GPUs: what its list price is per.
    pub fn units(&self) -> u32 {
        if self.gpus > 0 {
            self.gpus
        } else {
            self.cores
        }
    }

    /// Of machine `m` of this class: its units (GPUs, or cores without
    /// GPUs) leased and listed, and the price it asks per unit-hour.
    pub fn units_of(&self, m: &gpunet_types::Machine) -> (u32, u32, Amount) {
        if self.gpus > 0 {
            (
                m.allocated.gpus,
                m.spec.gpu_count(),
                m.resource_prices.per_gpu_hour,
            )
        } else {
            (
                m.allocated.cpu_cores,
                m.spec.cpu_cores,
                m.resource_prices.per_cpu_hour,
            )
        }
    }

    /// Its list price per unit-hour (GPU-hour, or core-hour without GPUs).
    pub fn unit_price(&self) -> Amount {
        self.unit_price_milli * UNIT / 1000
    }

    /// Linear prices at `unit_price` per GPU (or per core on CPU machines),
    /// plus a little per core on GPU machines, over the base price.
    pub fn prices_at(&self, unit_price: Amount) -> (Amount, ResourcePrices) {
        let prices = if self.gpus > 0 {
            ResourcePrices {
                per_gpu_hour: unit_price,
                per_cpu_hour: CORE_PRICE_ON_GPU_MACHINES,
                per_gb_ram_hour: 0,
            }
        } else {
            ResourcePrices {
                per_gpu_hour: 0,
                per_cpu_hour: unit_price,
                per_gb_ram_hour: 0,
            }
        };
        (crate::workload::BASE_PRICE, prices)
    }
}

/// What a GPU machine asks per core-hour beside its GPUs (a CPU machine's
/// cores are cheaper, so CPU work goes there first).
pub const CORE_PRICE_ON_GPU_MACHINES: Amount = UNIT / 100;

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
    /// One of a cartel of providers under different accounts (a share of
    /// the network set by `Config::collusion_pct`, none by default): pads
    /// every job, and when it audits another member's job it pads that run
    /// alike, so that the audit confirms the padded time. Only audits by
    /// others and canaries catch it.
    ColludingPadding,
}

/// Each strategy with its share of providers, in percent (colluders
/// apart: see `Strategy::ColludingPadding`).
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
            Strategy::ColludingPadding => "colluding padding",
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

/// How an honest provider sets its prices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pricing {
    /// Keeps its class's list price.
    Fixed,
    /// Every few hours, lowers the price of an idle machine and raises that
    /// of a full one (never below its power cost, never above three times
    /// its list price).
    Adaptive,
}

/// What the report's money figures assume, beside the ledger's parameters.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Economics {
    /// What one GPN buys, in USD.
    pub gpn_usd: f64,
    /// What providers pay for power, in USD per kWh.
    pub power_usd_per_kwh: f64,
    /// What staked tokens would earn elsewhere, in percent a year.
    pub stake_apr_pct: f64,
}

impl Default for Economics {
    fn default() -> Self {
        Economics {
            gpn_usd: 1.5,
            power_usd_per_kwh: 0.15,
            stake_apr_pct: 10.0,
        }
    }
}

impl Economics {
    /// What `class`'s power costs per hour of work, in GPN base units.
    pub fn power_per_hour(&self, class: &Class) -> Amount {
        let usd = f64::from(class.busy_watts) / 1000.0 * self.power_usd_per_kwh;
        (usd / self.gpn_usd * UNIT as f64) as Amount
    }

    /// GPN base units in USD.
    pub fn usd(&self, amount: f64) -> f64 {
        amount / UNIT as f64 * self.gpn_usd
    }
}
