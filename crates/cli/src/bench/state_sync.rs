//! `gpunet bench state-sync`: how a node joins a long chain, by replaying
//! every block from genesis against taking a state snapshot, at the ledger
//! (what block sync and snapshot restore each come down to, without the
//! network), with the chain's own production rate in the same run as the
//! baseline.

use crate::output::Output;
use gpunet_ledger::snapshot::{Restore, DEFAULT_CHUNK_BYTES};
use gpunet_ledger::Ledger;
use gpunet_primitives::{Keypair, UNIT};
use std::time::Instant;

const SENDERS: usize = 1_000;

#[derive(serde::Serialize)]
struct Report {
    blocks: u64,
    txs: u64,
    produce_secs: f64,
    replay_secs: f64,
    snapshot_write_secs: f64,
    snapshot_chunks: usize,
    snapshot_bytes: u64,
    join_secs: f64,
    /// Replay speed against production speed.
    replay_vs_production: f64,
    /// Replay time over snapshot join time.
    snapshot_speedup: f64,
}

pub(super) fn run(blocks: u64, txs_per_block: usize, output: Output) -> anyhow::Result<()> {
    let senders: Vec<Keypair> = (0..SENDERS)
        .map(|i| Keypair::from_label(&format!("bench/{i}")))
        .collect();
    let validator = Keypair::from_label("bench/validator");
    let genesis = super::genesis(std::slice::from_ref(&validator), &senders, 1_000_000 * UNIT);
    let dir = tempfile::Builder::new()
        .prefix("gpunet-bench-state-sync")
        .tempdir()?;

    // The chain: every transaction leaves a receipt, so the state grows with it.
    let mut chain = Ledger::open(Some(&dir.path().join("chain.redb")), &genesis)?;
    let mut sent = 0usize;
    let started = Instant::now();
    for height in 1..=blocks {
        let txs: Vec<_> = (0..txs_per_block)
            .map(|_| {
                let i = sent;
                sent += 1;
                let to = senders[(i * 7 + 1) % SENDERS].address();
                super::transfer(&senders[i % SENDERS], (i / SENDERS) as u64, to)
            })
            .collect();
        let produced = chain.produce_block(validator.address(), height, &txs)?;
        anyhow::ensure!(
            produced.results.iter().all(|r| r.is_ok()),
            "a benchmark transaction was rejected"
        );
        if height % 10_000 == 0 {
            eprintln!("produced {height} of {blocks} blocks");
        }
    }
    let produce_secs = started.elapsed().as_secs_f64();

    // Replay: what a node syncing block by block does with each block.
    let mut replayed = Ledger::open(Some(&dir.path().join("replayed.redb")), &genesis)?;
    let started = Instant::now();
    for height in 1..=blocks {
        let block = chain
            .block(height)?
            .ok_or_else(|| anyhow::anyhow!("no block at {height}"))?;
        replayed.apply_block(&block)?;
    }
    let replay_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(replayed.state_root() == chain.state_root());
    drop(replayed);

    // Snapshot: written by the serving node, then fetched and checked chunk by chunk.
    let chunks_dir = dir.path().join("snapshot");
    std::fs::create_dir_all(&chunks_dir)?;
    let started = Instant::now();
    let mut snapshot_bytes = 0u64;
    let manifest = chain
        .snapshot()?
        .write(DEFAULT_CHUNK_BYTES, |index, bytes| {
            snapshot_bytes += bytes.len() as u64;
            std::fs::write(chunks_dir.join(index.to_string()), bytes)
        })?;
    let snapshot_write_secs = started.elapsed().as_secs_f64();
    let snapshot_chunks = manifest.chunks.len();
    let started = Instant::now();
    let mut restore = Restore::begin(&dir.path().join("joined.redb"), &genesis, manifest)?;
    while restore.received() < restore.chunks() {
        restore.add_chunk(&std::fs::read(
            chunks_dir.join(restore.received().to_string()),
        )?)?;
    }
    let joined = restore.finish(&genesis)?.install()?;
    let join_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(joined.state_root() == chain.state_root());

    let txs = blocks * txs_per_block as u64;
    let report = Report {
        blocks,
        txs,
        produce_secs,
        replay_secs,
        snapshot_write_secs,
        snapshot_chunks,
        snapshot_bytes,
        join_secs,
        replay_vs_production: produce_secs / replay_secs,
        snapshot_speedup: replay_secs / join_secs,
    };
    output.print(&report, || {
        format!(
            "a chain of {blocks} blocks, {txs} transfers ({txs_per_block} a block)\n  \
             produced (baseline):   {produce_secs:>8.1} s  {:>8.0} blocks/s  {:>8.0} tx/s\n  \
             replayed from genesis: {replay_secs:>8.1} s  {:>8.0} blocks/s  {:>8.0} tx/s  ({:.2}x production)\n  \
             snapshot written:      {snapshot_write_secs:>8.2} s  ({snapshot_chunks} chunks, {:.1} MiB)\n  \
             joined by snapshot:    {join_secs:>8.2} s  ({:.0}x faster than replaying)",
            blocks as f64 / produce_secs,
            txs as f64 / produce_secs,
            blocks as f64 / replay_secs,
            txs as f64 / replay_secs,
            report.replay_vs_production,
            snapshot_bytes as f64 / (1 << 20) as f64,
            report.snapshot_speedup,
        )
    });
    Ok(())
}
