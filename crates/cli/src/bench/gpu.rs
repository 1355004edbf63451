//! `gpunet bench gpu`: the CUDA prover on this machine's first GPU.
//!
//! For the challenge a claim of the GPU's class gets, and for a GEMM-heavy
//! shape (the cuBLASLt ceiling on this device), the time of each stage (A
//! generated, C = A·B, rows hashed and reduced to subtree roots) and the int8
//! throughput reached, against the class's datasheet peak. Then a whole
//! commitment is made, opened and verified, timed by the host's clock against
//! the class deadline. `--inner` replaces the class's inner dimension (rows
//! sized for the same work) to compare shapes.

use crate::output::Output;
use anyhow::Context;
use gpunet_poc::cuda::{CudaBackend, StageTimes};
use gpunet_poc::{sample_rows, verify_openings, Challenge, Commitment, ComputeClass};
use gpunet_primitives::Hash;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

#[derive(serde::Serialize)]
struct ShapeResult {
    shape: &'static str,
    rows: u32,
    inner: u32,
    cols: u32,
    /// Medians over the runs, by CUDA events (setup and total by the host clock).
    setup_ms: f64,
    gen_a_ms: f64,
    gemm_ms: f64,
    hash_ms: f64,
    total_ms: f64,
    gemm_tops: f64,
    end_to_end_tops: f64,
}

#[derive(serde::Serialize)]
struct GpuResult {
    device: String,
    class: &'static str,
    peak_int8_tops: f64,
    compile_ms: f64,
    shapes: Vec<ShapeResult>,
    /// A whole commitment to the class challenge, opened and verified.
    commit_ms: f64,
    deadline_ms: u64,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn measure(
    gpu: &CudaBackend,
    shape: &'static str,
    ch: &Challenge,
    repeat: usize,
) -> anyhow::Result<ShapeResult> {
    let depth = Commitment::subtree_depth(ch.rows);
    let runs: Vec<StageTimes> = (0..repeat.max(1))
        .map(|_| gpu.profile(ch, depth).map(|(_, times)| times))
        .collect::<Result<_, _>>()?;
    let stage = |f: fn(&StageTimes) -> f64| median(runs.iter().map(f).collect());
    let tops = |ms: f64| ch.ops() as f64 / (ms * 1e-3) / 1e12;
    let (gemm_ms, total_ms) = (stage(|t| t.gemm_ms), stage(|t| t.total_ms));
    Ok(ShapeResult {
        shape,
        rows: ch.rows,
        inner: ch.inner,
        cols: ch.cols,
        setup_ms: stage(|t| t.setup_ms),
        gen_a_ms: stage(|t| t.gen_a_ms),
        gemm_ms,
        hash_ms: stage(|t| t.hash_ms),
        total_ms,
        gemm_tops: tops(gemm_ms),
        end_to_end_tops: tops(total_ms),
    })
}

pub(super) fn run(
    work_secs: u64,
    repeat: usize,
    inner: Option<u32>,
    output: Output,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let gpu = CudaBackend::new(0).context("opening GPU 0")?;
    let compile_ms = started.elapsed().as_secs_f64() * 1e3;
    let class = ComputeClass::of_model(Some(gpu.device_name()));
    let (mut ch, deadline_ms) = class.plan(Hash::digest(b"bench gpu"), 1, work_secs * 1000, 0);
    if let Some(inner) = inner {
        let rows = ch.ops() / (2 * u128::from(inner) * u128::from(ch.cols));
        ch = Challenge::new(ch.seed, u32::try_from(rows)?, inner, ch.cols)?;
    }
    // Warm-up: module load, cuBLASLt's heuristics, the allocator.
    gpu.profile(&Challenge::new(ch.seed, 1 << 16, ch.inner, ch.cols)?, 0)?;

    let ceiling = Challenge::new(ch.seed, 1 << 16, 8192, 8192)?;
    let shapes = vec![
        measure(&gpu, "class challenge", &ch, repeat)?,
        measure(&gpu, "GEMM-heavy", &ceiling, repeat)?,
    ];

    let no = AtomicBool::new(false);
    let t = Instant::now();
    let commitment = Commitment::compute(&gpu, &ch, &no)?;
    let commit_ms = t.elapsed().as_secs_f64() * 1e3;
    let beacon = Hash::digest(b"bench beacon");
    let rows = sample_rows(&ch, &commitment.root(), &beacon, 8);
    let openings = commitment.open(&gpu, &rows)?;
    verify_openings(&ch, &commitment.root(), &beacon, &rows, &openings)
        .context("the GPU's commitment failed verification")?;

    let result = GpuResult {
        device: gpu.device_name().to_string(),
        class: class.name,
        peak_int8_tops: class.peak_int8_gops as f64 / 1e3,
        compile_ms,
        shapes,
        commit_ms,
        deadline_ms,
    };
    output.print(&result, || {
        let peak = result.peak_int8_tops;
        let mut text = format!(
            "{} (class {}, datasheet int8 peak {peak:.0} TOPS); kernels compiled in {:.0} ms\n\
             {:<16} {:>20} {:>9} {:>9} {:>9} {:>9} {:>9} {:>16} {:>16}\n",
            result.device,
            result.class,
            result.compile_ms,
            "shape",
            "rows x inner x cols",
            "setup ms",
            "gen A ms",
            "GEMM ms",
            "hash ms",
            "total ms",
            "GEMM TOPS",
            "end-to-end TOPS",
        );
        for s in &result.shapes {
            text += &format!(
                "{:<16} {:>20} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>8.0} ({:>3.0}%) {:>8.0} ({:>3.0}%)\n",
                s.shape,
                format!("{}x{}x{}", s.rows, s.inner, s.cols),
                s.setup_ms,
                s.gen_a_ms,
                s.gemm_ms,
                s.hash_ms,
                s.total_ms,
                s.gemm_tops,
                100.0 * s.gemm_tops / peak,
                s.end_to_end_tops,
                100.0 * s.end_to_end_tops / peak,
            );
        }
        text + &format!(
            "commitment to the class challenge ({work_secs} s of required work): {:.0} ms, \
             opened and verified; deadline {} ms (latency not included)",
            result.commit_ms, result.deadline_ms
        )
    });
    Ok(())
}
