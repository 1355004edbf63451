//! `gpunet bench ledger`: signed transfers applied and committed per second by the
//! ledger (signature check, execution, state root, redb commit), against raw
//! ed25519 verification of the same transactions in the same run.

use crate::output::Output;
use gpunet_ledger::Ledger;
use gpunet_primitives::{Keypair, SignedTx, UNIT};
use std::time::Instant;

const SENDERS: usize = 1_000;

#[derive(serde::Serialize)]
struct BenchResult {
    txs: usize,
    block_size: usize,
    ed25519_verify_per_sec: f64,
    ledger_tx_per_sec: f64,
    ratio: f64,
}

pub(super) fn run(n: usize, block_size: usize, output: Output) -> anyhow::Result<()> {
    let senders: Vec<Keypair> = (0..SENDERS)
        .map(|i| Keypair::from_label(&format!("bench/{i}")))
        .collect();
    let validator = Keypair::from_label("bench/validator");
    let genesis = super::genesis(std::slice::from_ref(&validator), &senders, 1_000_000 * UNIT);
    let txs: Vec<SignedTx> = (0..n)
        .map(|i| {
            let to = senders[(i * 7 + 1) % SENDERS].address();
            super::transfer(&senders[i % SENDERS], (i / SENDERS) as u64, to)
        })
        .collect();

    let t = Instant::now();
    let valid = txs.iter().filter(|tx| tx.verify_signature()).count();
    let verify_rate = n as f64 / t.elapsed().as_secs_f64();
    assert_eq!(valid, n);

    let dir = std::env::temp_dir().join(format!("gpunet-bench-{}", std::process::id()));
    let mut ledger = Ledger::open(Some(&dir.join("ledger.redb")), &genesis)?;
    let t = Instant::now();
    for (time, block) in (1..).zip(txs.chunks(block_size)) {
        let produced = ledger.produce_block(validator.address(), time, block)?;
        anyhow::ensure!(
            produced.results.iter().all(|r| r.is_ok()),
            "a benchmark transaction was rejected"
        );
    }
    let ledger_rate = n as f64 / t.elapsed().as_secs_f64();
    ledger.check_invariants()?;
    drop(ledger);
    let _ = std::fs::remove_dir_all(&dir);

    let result = BenchResult {
        txs: n,
        block_size,
        ed25519_verify_per_sec: verify_rate,
        ledger_tx_per_sec: ledger_rate,
        ratio: ledger_rate / verify_rate,
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    output.print(&result, || {
        format!(
            "{n} signed transfers, blocks of {block_size}, {cores} cores\n  ed25519 verify only, one core: {verify_rate:>10.0} tx/s (baseline)\n  ledger apply + commit:         {ledger_rate:>10.0} tx/s ({:.2}x the baseline; signatures on all cores)",
            result.ratio
        )
    });
    Ok(())
}
