//! What clients ask for: kinds of work, each sized against the capacity of
//! the machine class it runs on, and named scenarios that mix them with a
//! load, a daily rhythm, bursts and a network that grows and shrinks.
//!
//! A scenario's load is a share of each class's capacity: at 60 %, the
//! training jobs and rentals aimed at H100 machines ask for 60 % of their
//! GPU-hours, the renders and rentals aimed at consumer cards for 60 % of
//! theirs. Arrival rates follow from it (`Rates`), so a scenario means the
//! same at 2,000 machines as at 100,000; what the market then achieves
//! (orders priced out, fragmentation, waits) is the report's to show.

use crate::model::CLASSES;
use gpunet_primitives::{Amount, GpuRequirement, JobSpec, Placement, Resources, UNIT};
use rand::rngs::StdRng;
use rand::Rng;

/// A kind of work clients place.
#[derive(Debug)]
pub struct Work {
    /// Its name in reports.
    pub name: &'static str,
    /// The class whose capacity it is sized against (`Class::name`).
    pub class: &'static str,
    /// GPUs per order; 0 for CPU-only work.
    pub gpus: u32,
    /// The GPU model it asks for (a part of the model's name); `None` takes any GPU.
    pub model: Option<&'static str>,
    /// Cores per order (CPU-only work) or per GPU.
    pub cores: u32,
    /// A rental (booked time) rather than a job (work that ends).
    pub rental: bool,
    /// Mean duration (exponential), in minutes.
    pub mean_minutes: u32,
    /// Longest duration drawn, in minutes.
    pub max_minutes: u32,
    /// Share of these jobs whose output is deterministic (and so audited), percent.
    pub deterministic_pct: u32,
    /// What its clients pay at most per GPU-hour (per core-hour for
    /// CPU-only work), in milli-GPN: drawn evenly between the two.
    pub budget_milli: (u32, u32),
}

/// Days-long training on whole 8-GPU datacenter machines.
pub const TRAINING: Work = Work {
    name: "training",
    class: "H100x8",
    gpus: 8,
    model: Some("H100"),
    cores: 12,
    rental: false,
    mean_minutes: 30 * 60,
    max_minutes: 72 * 60,
    deterministic_pct: 0,
    budget_milli: (1_800, 3_500),
};

/// Whole H100 machines rented for a working day.
pub const CLUSTER_RENTAL: Work = Work {
    name: "H100 rental",
    class: "H100x8",
    gpus: 8,
    model: Some("H100"),
    cores: 12,
    rental: true,
    mean_minutes: 10 * 60,
    max_minutes: 48 * 60,
    deterministic_pct: 0,
    budget_milli: (1_900, 3_800),
};

/// Fine-tuning on four datacenter GPUs for hours.
pub const FINE_TUNING: Work = Work {
    name: "fine-tuning",
    class: "A100x4",
    gpus: 4,
    model: Some("A100"),
    cores: 12,
    rental: false,
    mean_minutes: 4 * 60,
    max_minutes: 24 * 60,
    deterministic_pct: 0,
    budget_milli: (650, 1_300),
};

/// Batch inference on one datacenter GPU.
pub const BATCH_INFERENCE: Work = Work {
    name: "batch inference",
    class: "A100x4",
    gpus: 1,
    model: Some("A100"),
    cores: 8,
    rental: false,
    mean_minutes: 60,
    max_minutes: 8 * 60,
    deterministic_pct: 50,
    budget_milli: (650, 1_300),
};

/// Inference and small fine-tunes on a consumer card.
pub const INFERENCE: Work = Work {
    name: "inference",
    class: "RTX4090",
    gpus: 1,
    model: Some("4090"),
    cores: 4,
    rental: false,
    mean_minutes: 45,
    max_minutes: 6 * 60,
    deterministic_pct: 50,
    budget_milli: (360, 900),
};

/// Zero-knowledge proofs: deterministic, so every one can be audited.
pub const ZK_PROVING: Work = Work {
    name: "ZK proving",
    class: "RTX4090",
    gpus: 1,
    model: Some("4090"),
    cores: 4,
    rental: false,
    mean_minutes: 30,
    max_minutes: 4 * 60,
    deterministic_pct: 100,
    budget_milli: (360, 1_000),
};

/// Frames rendered on whatever GPU is free: deterministic.
pub const RENDERING: Work = Work {
    name: "rendering",
    class: "RTX3090",
    gpus: 1,
    model: None,
    cores: 4,
    rental: false,
    mean_minutes: 45,
    max_minutes: 4 * 60,
    deterministic_pct: 100,
    budget_milli: (170, 450),
};

/// A consumer card rented to work on (notebooks, experiments).
pub const CARD_RENTAL: Work = Work {
    name: "card rental",
    class: "RTX3090",
    gpus: 1,
    model: None,
    cores: 4,
    rental: true,
    mean_minutes: 6 * 60,
    max_minutes: 48 * 60,
    deterministic_pct: 0,
    budget_milli: (180, 500),
};

/// CPU-only work at the edge: data preparation, tests, small services.
pub const EDGE: Work = Work {
    name: "edge CPU",
    class: "CPU",
    gpus: 0,
    model: None,
    cores: 4,
    rental: false,
    mean_minutes: 90,
    max_minutes: 8 * 60,
    deterministic_pct: 50,
    budget_milli: (5, 12),
};

/// How much work a scenario places.
#[derive(Clone, Copy, Debug)]
pub enum Volume {
    /// Orders per listed machine per week, split between the kinds of work
    /// in proportion to their capacity shares.
    PerMachineWeek(u32),
    /// The share of every class's capacity its work asks for, percent.
    LoadPct(u32),
}

/// Extra arrivals of one kind of work for a few hours at a time.
#[derive(Debug)]
pub struct Bursts {
    /// Bursts per day, at random hours.
    pub per_day: u32,
    /// How long each lasts, in hours.
    pub hours: u32,
    /// During a burst, that work's arrivals times this, percent.
    pub factor_pct: u32,
    /// The work that bursts (`Work::name`).
    pub work: &'static str,
}

/// How the network's membership changes over the run.
#[derive(Debug)]
pub struct Network {
    /// Share of providers listed at the start, percent; the others join at
    /// random times over the run.
    pub start_pct: u32,
    /// Share of the providers listed that leave each day (their machines
    /// go offline for good), percent.
    pub leave_pct_per_day: u32,
}

/// A named market to simulate.
#[derive(Debug)]
pub struct Scenario {
    /// Its name (`gpunet sim --scenario NAME`).
    pub name: &'static str,
    /// What it models, in a line.
    pub about: &'static str,
    /// Machines when the command line names no count.
    pub machines: usize,
    /// How much work clients place.
    pub volume: Volume,
    /// Each kind of work with its share of its class's capacity at full
    /// load, percent (the shares of one class add up to 100).
    pub mix: &'static [(&'static Work, u32)],
    /// How far arrivals swing over a day around their mean, percent.
    pub rhythm_pct: u32,
    /// Bursts of one kind of work, if any.
    pub bursts: Option<Bursts>,
    /// Providers joining and leaving.
    pub network: Network,
    /// Share of honest providers that adapt their prices (undercut when
    /// idle, raise when full), percent; the others keep their list prices.
    pub adaptive_pct: u32,
}

const AI_MIX: &[(&Work, u32)] = &[
    (&TRAINING, 70),
    (&CLUSTER_RENTAL, 30),
    (&FINE_TUNING, 60),
    (&BATCH_INFERENCE, 40),
    (&INFERENCE, 55),
    (&ZK_PROVING, 45),
    (&RENDERING, 60),
    (&CARD_RENTAL, 40),
    (&EDGE, 100),
];

const TRAINING_MIX: &[(&Work, u32)] = &[
    (&TRAINING, 85),
    (&CLUSTER_RENTAL, 15),
    (&FINE_TUNING, 85),
    (&BATCH_INFERENCE, 15),
    (&INFERENCE, 70),
    (&ZK_PROVING, 30),
    (&RENDERING, 30),
    (&CARD_RENTAL, 70),
    (&EDGE, 100),
];

const STEADY: Network = Network {
    start_pct: 100,
    leave_pct_per_day: 0,
};

/// The named scenarios; the first is the default.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "default",
        about: "the AI mix at ten orders per machine a week (the scale benchmark)",
        machines: 100_000,
        volume: Volume::PerMachineWeek(10),
        mix: AI_MIX,
        rhythm_pct: 50,
        bursts: None,
        network: STEADY,
        adaptive_pct: 25,
    },
    Scenario {
        name: "quiet",
        about: "a young network: 10 % of its capacity asked for",
        machines: 10_000,
        volume: Volume::LoadPct(10),
        mix: AI_MIX,
        rhythm_pct: 50,
        bursts: None,
        network: STEADY,
        adaptive_pct: 25,
    },
    Scenario {
        name: "busy",
        about: "60 % of capacity asked for, a strong daily rhythm",
        machines: 10_000,
        volume: Volume::LoadPct(60),
        mix: AI_MIX,
        rhythm_pct: 60,
        bursts: None,
        network: STEADY,
        adaptive_pct: 25,
    },
    Scenario {
        name: "peak",
        about: "95 % of capacity asked for, with rendering bursts",
        machines: 10_000,
        volume: Volume::LoadPct(95),
        mix: AI_MIX,
        rhythm_pct: 20,
        bursts: Some(Bursts {
            per_day: 2,
            hours: 3,
            factor_pct: 300,
            work: "rendering",
        }),
        network: STEADY,
        adaptive_pct: 25,
    },
    Scenario {
        name: "training",
        about: "days-long training fills the datacenter machines (80 % load)",
        machines: 10_000,
        volume: Volume::LoadPct(80),
        mix: TRAINING_MIX,
        rhythm_pct: 10,
        bursts: None,
        network: STEADY,
        adaptive_pct: 25,
    },
    Scenario {
        name: "growing",
        about: "half the providers at the start, the rest joining, 2 % leaving a day (60 % load)",
        machines: 10_000,
        volume: Volume::LoadPct(60),
        mix: AI_MIX,
        rhythm_pct: 50,
        bursts: None,
        network: Network {
            start_pct: 50,
            leave_pct_per_day: 2,
        },
        adaptive_pct: 25,
    },
];

/// The scenario called `name`.
pub fn scenario(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

impl Work {
    /// What it holds of its class's capacity: GPUs, or cores without GPUs.
    pub fn units(&self) -> u32 {
        if self.gpus > 0 {
            self.gpus
        } else {
            self.cores
        }
    }

    /// Mean hours of a draw (the exponential cut at its longest).
    pub fn mean_hours(&self) -> f64 {
        let (mean, max) = (f64::from(self.mean_minutes), f64::from(self.max_minutes));
        mean * (1.0 - (-max / mean).exp()) / 60.0
    }

    /// Draws one order of this kind; a deterministic job is audited `audit_bps`.
    pub fn draw(&self, rng: &mut StdRng, max_timeout_secs: u64, audit_bps: u32) -> Demand {
        let mean = f64::from(self.mean_minutes);
        let minutes =
            (-mean * (1.0 - rng.gen::<f64>()).ln()).clamp(1.0, f64::from(self.max_minutes));
        let duration_ms = (minutes * 60_000.0) as u64;
        let timeout_secs = if self.rental {
            duration_ms / 1000
        } else {
            (duration_ms * 2 / 1000 + 600).min(max_timeout_secs)
        };
        let deterministic = !self.rental && rng.gen_ratio(self.deterministic_pct, 100);
        let cores = if self.gpus > 0 {
            self.cores * self.gpus
        } else {
            self.cores
        };
        let (low, high) = self.budget_milli;
        let per_unit = Amount::from(rng.gen_range(low..=high)) * UNIT / 1000;
        let max_price_per_hour = per_unit * Amount::from(self.units())
            + if self.gpus > 0 {
                // What a GPU machine asks for the cores, and its base price.
                Amount::from(cores) * crate::model::CORE_PRICE_ON_GPU_MACHINES + BASE_PRICE
            } else {
                BASE_PRICE
            };
        let spec = JobSpec {
            name: self.name.into(),
            audit_bps: if deterministic { audit_bps } else { 0 },
            placement: if rng.gen_ratio(1, 5) {
                Placement::Cheapest
            } else {
                Placement::Spread
            },
            ..JobSpec::new(
                if deterministic {
                    format!("sha256:{}", "ab".repeat(32))
                } else {
                    "trainer:latest".into()
                },
                vec!["run".into()],
                Resources {
                    gpu: GpuRequirement {
                        count: self.gpus,
                        model: self.model.map(str::to_string),
                        ..Default::default()
                    },
                    ..Resources::new(cores, 8 * 1024, 100)
                },
                timeout_secs,
            )
        };
        Demand {
            spec,
            rental: self.rental,
            duration_ms,
            max_price_per_hour,
        }
    }
}

/// Every machine's base price per hour (a job's price is the base plus its resources').
pub const BASE_PRICE: Amount = UNIT / 100;

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

/// Orders per hour of each kind of work in a scenario's mix, at the mean
/// of the daily rhythm.
pub struct Rates {
    /// In the order of `Scenario::mix`.
    pub per_hour: Vec<f64>,
}

impl Rates {
    /// The rates for `scenario` over a network of `units[c]` GPUs (cores
    /// for CPU machines) in class `c` when complete, over `days`;
    /// `orders` overrides the scenario's volume with a total count.
    pub fn new(
        scenario: &Scenario,
        units: &[u64],
        machines: usize,
        days: u64,
        orders: Option<usize>,
    ) -> Rates {
        let class_units = |w: &Work| {
            CLASSES
                .iter()
                .position(|c| c.name == w.class)
                .and_then(|i| units.get(i))
                .copied()
                .unwrap_or(0) as f64
        };
        // Orders per hour that would ask for all of each work's share.
        let full: Vec<f64> = scenario
            .mix
            .iter()
            .map(|(w, share)| {
                class_units(w) * f64::from(*share) / 100.0 / (f64::from(w.units()) * w.mean_hours())
            })
            .collect();
        let hours = (days * 24).max(1) as f64;
        let scale = match (orders, scenario.volume) {
            (Some(n), _) => n as f64 / hours / full.iter().sum::<f64>().max(f64::MIN_POSITIVE),
            (None, Volume::LoadPct(pct)) => f64::from(pct) / 100.0,
            (None, Volume::PerMachineWeek(n)) => {
                let total = f64::from(n) * machines as f64 * days as f64 / 7.0;
                total / hours / full.iter().sum::<f64>().max(f64::MIN_POSITIVE)
            }
        };
        Rates {
            per_hour: full.iter().map(|r| r * scale).collect(),
        }
    }
}

/// Orders per hour at hour `h` of the day relative to the mean, for a
/// rhythm that swings `swing_pct` either way (busiest at 15:00).
pub fn daily_rhythm(hour_of_day: f64, swing_pct: u32) -> f64 {
    1.0 + f64::from(swing_pct) / 100.0 * ((hour_of_day - 15.0) / 24.0 * std::f64::consts::TAU).cos()
}
