//! Compute classes: what a claimed GPU model must achieve, and the challenge
//! and deadline sized for it.
//!
//! A deadline is the time the claimed hardware needs at a conservative share
//! of its datasheet int8 peak (the PRG, hashing and transfers cost too), plus
//! network latency. Hardware slower than claimed cannot meet it: a machine that
//! claims a faster class than it is fails its challenges.

use crate::challenge::Challenge;
use gpunet_primitives::Hash;

/// A class of hardware, matched by GPU model name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ComputeClass {
    /// Its name, as challenges and machines are labelled (e.g. `H100`).
    pub name: &'static str,
    /// Case-insensitive substring of the GPU model name; empty for the CPU class.
    pub model_pattern: &'static str,
    /// Datasheet dense int8 tensor throughput of one device, in giga-ops/s.
    pub peak_int8_gops: u64,
    /// Inner dimension and row width of its challenges.
    pub inner: u32,
    /// Row width of its challenges (columns of B and C).
    pub cols: u32,
}

/// Most specific patterns first ("H100 PCIe" before "H100").
pub const CLASSES: &[ComputeClass] = &[
    gpu("H200", "h200", 1_979_000),
    gpu("H100 PCIe", "h100 pcie", 1_513_000),
    gpu("H100", "h100", 1_979_000),
    gpu("A100", "a100", 624_000),
    gpu("L40S", "l40s", 733_000),
    gpu("RTX 4090", "4090", 660_600),
    gpu("RTX 3090", "3090", 284_700),
    gpu("A10", "a10", 250_000),
    gpu("T4", "t4", 130_000),
];

const fn gpu(name: &'static str, model_pattern: &'static str, peak: u64) -> ComputeClass {
    ComputeClass {
        name,
        model_pattern,
        peak_int8_gops: peak,
        // A row of C is 4 KiB: eight openings fit in one transaction. Hashing
        // C costs the prover 4·cols bytes per row against 2·inner·cols
        // operations, so a long inner dimension keeps it small beside the
        // GEMM (BENCHMARKS.md, `gpunet bench gpu`).
        inner: 16_384,
        cols: 1024,
    }
}

/// A machine's CPUs (all of a machine without a GPU, or with one no class
/// matches): one device per claimed core, so a machine claiming more cores
/// than it has cannot meet its deadline. The peak is per core: 2.5 GOPS
/// required of each, where a core of a 2024 server VM does about 7
/// (BENCHMARKS.md).
pub const CPU_CLASS: ComputeClass = ComputeClass {
    name: "CPU",
    model_pattern: "",
    peak_int8_gops: 10,
    inner: 256,
    cols: 256,
};

/// Share of the peak an honest device must reach, in percent.
pub const REQUIRED_EFFICIENCY_PCT: u64 = 25;

impl ComputeClass {
    /// The class of a GPU model name (`None`: no GPU).
    pub fn of_model(model: Option<&str>) -> ComputeClass {
        let Some(model) = model.map(str::to_ascii_lowercase) else {
            return CPU_CLASS;
        };
        CLASSES
            .iter()
            .find(|c| model.contains(c.model_pattern))
            .copied()
            .unwrap_or(CPU_CLASS)
    }

    /// Operations per millisecond `devices` of this class must sustain.
    pub fn required_ops_per_ms(&self, devices: u32) -> u128 {
        u128::from(self.peak_int8_gops)
            * 1_000_000
            * u128::from(devices.max(1))
            * u128::from(REQUIRED_EFFICIENCY_PCT)
            / 100
    }

    /// A challenge of about `work_ms` of required work for `devices` of this
    /// class, and the milliseconds allowed to commit to it (work plus `latency_ms`).
    pub fn plan(
        &self,
        seed: Hash,
        devices: u32,
        work_ms: u64,
        latency_ms: u64,
    ) -> (Challenge, u64) {
        let per_ms = self.required_ops_per_ms(devices);
        let row_ops = 2 * u128::from(self.inner) * u128::from(self.cols);
        let rows = (per_ms * u128::from(work_ms.max(1)) / row_ops)
            .clamp(1, u128::from(crate::challenge::MAX_ROWS)) as u32;
        let challenge =
            Challenge::new(seed, rows, self.inner, self.cols).expect("class shapes are in bounds");
        (challenge, self.deadline_ms(&challenge, devices, latency_ms))
    }

    /// Milliseconds `devices` of this class may take to commit to `challenge`.
    pub fn deadline_ms(&self, challenge: &Challenge, devices: u32, latency_ms: u64) -> u64 {
        let work = challenge.ops().div_ceil(self.required_ops_per_ms(devices));
        latency_ms.saturating_add(u64::try_from(work).unwrap_or(u64::MAX))
    }

    /// Achieved throughput in mega-ops/s of a commitment made in
    /// `elapsed_ms`: what a passed challenge measures (its compute score is
    /// this in giga-ops/s).
    pub fn achieved_mops(challenge: &Challenge, elapsed_ms: u64) -> u64 {
        let mops = challenge.ops() / u128::from(elapsed_ms.max(1)) / 1_000;
        u64::try_from(mops).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_map_to_classes() {
        let of = |m| ComputeClass::of_model(Some(m)).name;
        assert_eq!(of("NVIDIA H100 80GB HBM3"), "H100");
        assert_eq!(of("NVIDIA H100 PCIe"), "H100 PCIe");
        assert_eq!(of("NVIDIA GeForce RTX 4090"), "RTX 4090");
        assert_eq!(of("Some Unknown Accelerator"), "CPU");
        assert_eq!(ComputeClass::of_model(None), CPU_CLASS);
    }

    #[test]
    fn plans_scale_with_the_claim_and_deadlines_with_the_work() {
        let h100 = ComputeClass::of_model(Some("H100"));
        let (one, d1) = h100.plan(Hash::ZERO, 1, 1_000, 500);
        let (eight, d8) = h100.plan(Hash::ZERO, 8, 1_000, 500);
        assert!(eight.rows >= 7 * one.rows, "{} vs {}", eight.rows, one.rows);
        for (d, ch, n) in [(d1, one, 1), (d8, eight, 8)] {
            assert!((1_400..=1_500).contains(&d), "deadline {d}");
            assert_eq!(h100.deadline_ms(&ch, n, 500), d);
        }
        // The same challenge gives a slower class far more time.
        let t4 = ComputeClass::of_model(Some("Tesla T4"));
        assert!(t4.deadline_ms(&one, 1, 500) > 10 * (d1 - 500));
        assert_eq!(
            (ComputeClass::achieved_mops(&one, 1_000) / 1_000) as u128,
            one.ops() / 1_000_000_000
        );
    }
}
