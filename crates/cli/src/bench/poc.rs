//! `gpunet bench poc`: what verifying a hardware challenge costs a validator's
//! CPU, against the work it proves.
//!
//! For the CPU class the whole protocol runs here (prover included). For GPU
//! classes the challenge a claim of that class gets is built, and the verifier
//! runs on the rows it would open (computed here on the CPU); Merkle paths are
//! at most 31 hashes per row and left out of the timing.

use crate::output::Output;
use gpunet_poc::{
    sample_rows, verify_openings, Backend, Challenge, Commitment, ComputeClass, CpuBackend,
    Verifier, CLASSES, CPU_CLASS,
};
use gpunet_primitives::Hash;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

#[derive(serde::Serialize)]
struct ClassResult {
    class: &'static str,
    rows: u32,
    inner: u32,
    cols: u32,
    prover_ops: u128,
    /// Multiply-adds the verifier does (B·r, then A_i·(B·r) and c·r per row), ×2.
    verifier_ops: u128,
    verifier_ops_share: f64,
    verifier_ms: f64,
    /// Measured only for the CPU class (the prover runs here).
    prover_ms: Option<f64>,
    deadline_ms: u64,
}

fn verifier_ops(ch: &Challenge, openings: u32) -> u128 {
    let (inner, cols) = (u128::from(ch.inner), u128::from(ch.cols));
    2 * (inner * cols + u128::from(openings) * (inner + cols))
}

fn result(
    class: &ComputeClass,
    ch: &Challenge,
    openings: u32,
    verifier_ms: f64,
    prover_ms: Option<f64>,
    deadline_ms: u64,
) -> ClassResult {
    let v = verifier_ops(ch, openings);
    ClassResult {
        class: class.name,
        rows: ch.rows,
        inner: ch.inner,
        cols: ch.cols,
        prover_ops: ch.ops(),
        verifier_ops: v,
        verifier_ops_share: v as f64 / ch.ops() as f64,
        verifier_ms,
        prover_ms,
        deadline_ms,
    }
}

pub(super) fn run(openings: u32, work_secs: u64, output: Output) -> anyhow::Result<()> {
    let beacon = Hash::digest(b"bench beacon");
    let work_ms = work_secs * 1000;
    let mut results = Vec::new();

    // CPU class: the whole protocol on this machine, sized for its cores.
    let cpu = CpuBackend::default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let (ch, deadline_ms) = CPU_CLASS.plan(Hash::digest(b"bench cpu"), cores, work_ms, 1000);
    let t = Instant::now();
    let commitment = Commitment::compute(&cpu, &ch, &AtomicBool::new(false))?;
    let prover_ms = t.elapsed().as_secs_f64() * 1e3;
    let rows = sample_rows(&ch, &commitment.root(), &beacon, openings);
    let opened = commitment.open(&cpu, &rows)?;
    let t = Instant::now();
    verify_openings(&ch, &commitment.root(), &beacon, &rows, &opened)?;
    let verifier_ms = t.elapsed().as_secs_f64() * 1e3;
    results.push(result(
        &CPU_CLASS,
        &ch,
        openings,
        verifier_ms,
        Some(prover_ms),
        deadline_ms,
    ));

    // GPU classes: the verifier's side of the challenge each claim gets.
    for class in CLASSES {
        let (ch, deadline_ms) = class.plan(Hash::digest(class.name.as_bytes()), 1, work_ms, 1000);
        let root = Hash::digest(b"bench root");
        let rows = sample_rows(&ch, &root, &beacon, openings);
        let opened = cpu.rows(&ch, &rows);
        let t = Instant::now();
        let verifier = Verifier::new(&ch, &root, &beacon);
        let mut a_row = vec![0u8; ch.inner as usize];
        for (&index, row) in rows.iter().zip(&opened) {
            ch.row_hash(index, row);
            verifier.check_product(index, row, &mut a_row)?;
        }
        let verifier_ms = t.elapsed().as_secs_f64() * 1e3;
        results.push(result(class, &ch, openings, verifier_ms, None, deadline_ms));
    }

    output.print(&results, || {
        let mut text = format!(
            "proof of compute: challenges sized for {work_secs} s of required work, {openings} rows opened\n\
             {:<10} {:>24} {:>12} {:>12} {:>12} {:>12} {:>12}\n",
            "class", "A·B shape", "prover ops", "verifier ms", "ops ratio", "prover ms", "deadline ms"
        );
        for r in &results {
            text += &format!(
                "{:<10} {:>24} {:>12.3e} {:>12.1} {:>12.2e} {:>12} {:>12}\n",
                r.class,
                format!("{}x{}x{}", r.rows, r.inner, r.cols),
                r.prover_ops as f64,
                r.verifier_ms,
                r.verifier_ops_share,
                r.prover_ms.map_or("-".into(), |p| format!("{p:.0}")),
                r.deadline_ms,
            );
        }
        text
    });
    Ok(())
}
