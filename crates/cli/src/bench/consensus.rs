//! `gpunet bench consensus`: finalized transfers per second, finality
//! latency (submission to inclusion in a decided block) and the process's
//! CPU time per finalized transaction for four BFT validators on loopback,
//! against the single-validator producer, in one run on the same machine.
//! Four validators sharing two cores cannot show a throughput ratio; their
//! CPU time per transaction against four times the solo producer's (the
//! efficiency) says what consensus costs beyond executing every block four
//! times.

use crate::output::Output;
use gpunet_bft::BftConfig;
use gpunet_ledger::Genesis;
use gpunet_node::{Consensus, NodeBuilder, SoloProducerConfig};
use gpunet_primitives::{Keypair, SignedTx, UNIT};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

#[derive(serde::Serialize)]
struct Run {
    setup: String,
    txs: usize,
    blocks: u64,
    tx_per_sec: f64,
    finality_p50_ms: f64,
    finality_p99_ms: f64,
    /// The process's CPU time (user and system, every thread) while the
    /// transactions were submitted and finalized, per transaction.
    cpu_ms_per_tx: f64,
}

/// A node started from genesis after the run, syncing the chain it made.
#[derive(serde::Serialize)]
pub(super) struct CatchUp {
    pub(super) blocks: u64,
    pub(super) txs: usize,
    pub(super) secs: f64,
    pub(super) blocks_per_sec: f64,
    pub(super) tx_per_sec: f64,
    /// Blocks per second synced, against those the validators produced.
    pub(super) ratio_to_production: f64,
}

#[derive(serde::Serialize)]
struct BenchResult {
    solo: Run,
    bft: Run,
    throughput_ratio: f64,
    /// Four times the solo producer's CPU time per transaction over the
    /// four validators': 1 when consensus costs nothing beyond four
    /// executions of every block.
    efficiency: f64,
    catch_up: CatchUp,
}

/// CPU time this process used so far, every thread, user and system: from
/// `/proc/self/stat`, in clock ticks of 1/100 s (Linux's fixed `USER_HZ`).
fn cpu_time() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name, which may hold spaces, in parentheses.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow::anyhow!("unreadable /proc/self/stat"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime: fields 14 and 15 of the line, 12 and 13 after it.
    let ticks = |i: usize| -> anyhow::Result<u64> {
        let field = fields
            .get(i)
            .ok_or_else(|| anyhow::anyhow!("short /proc/self/stat"))?;
        Ok(field.parse()?)
    };
    Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

/// Transfers from `n` distinct senders (one each, so none waits on another's nonce).
fn workload(n: usize) -> (Genesis, Vec<Keypair>, Vec<SignedTx>) {
    let validators: Vec<Keypair> = (0..4)
        .map(|i| Keypair::from_label(&format!("bench/validator-{i}")))
        .collect();
    let senders: Vec<Keypair> = (0..n)
        .map(|i| Keypair::from_label(&format!("bench/sender-{i}")))
        .collect();
    let genesis = super::genesis(&validators, &senders, 10 * UNIT);
    let txs = senders
        .iter()
        .enumerate()
        .map(|(i, from)| super::transfer(from, 0, senders[(i + 1) % n].address()))
        .collect();
    (genesis, validators, txs)
}

/// Submits every transaction, at most `window` in flight (and, with
/// `rate`, one every 1/rate s), spread over the nodes; returns (elapsed,
/// per-transaction finality latencies, CPU time used meanwhile).
async fn drive(
    nodes: &[Arc<dyn Consensus>],
    txs: Vec<SignedTx>,
    window: usize,
    rate: Option<NonZeroU32>,
) -> anyhow::Result<(Duration, Vec<Duration>, Duration)> {
    let permits = Arc::new(Semaphore::new(window));
    let cpu_before = cpu_time()?;
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(txs.len());
    for (i, tx) in txs.into_iter().enumerate() {
        if let Some(rate) = rate {
            let due = start + Duration::from_secs_f64(i as f64 / f64::from(rate.get()));
            tokio::time::sleep_until(due.into()).await;
        }
        let permit = permits.clone().acquire_owned().await?;
        let node = nodes[i % nodes.len()].clone();
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let included = node.submit(tx).await;
            drop(permit);
            included.map(|_| t.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    for task in tasks {
        latencies.push(task.await??);
    }
    let elapsed = start.elapsed();
    Ok((elapsed, latencies, cpu_time()?.saturating_sub(cpu_before)))
}

fn summarize(
    setup: &str,
    blocks: u64,
    elapsed: Duration,
    mut latencies: Vec<Duration>,
    cpu: Duration,
) -> Run {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    Run {
        setup: setup.into(),
        txs: latencies.len(),
        blocks,
        tx_per_sec: latencies.len() as f64 / elapsed.as_secs_f64(),
        finality_p50_ms: at(0.5),
        finality_p99_ms: at(0.99),
        cpu_ms_per_tx: cpu.as_secs_f64() * 1e3 / latencies.len().max(1) as f64,
    }
}

pub(super) async fn run(
    n: usize,
    window: usize,
    rate: Option<NonZeroU32>,
    gather: Option<Duration>,
    output: Output,
) -> anyhow::Result<()> {
    let (genesis, validators, txs) = workload(n);
    let dir = tempfile::tempdir()?;

    let solo_node = NodeBuilder::new(dir.path().join("solo"), genesis.clone())
        .max_blob_bytes(1 << 20)
        .start_solo(
            validators[0].clone(),
            SoloProducerConfig {
                block_interval: Duration::from_millis(100),
                ..SoloProducerConfig::default()
            },
        )?;
    let (elapsed, latencies, cpu) = drive(
        std::slice::from_ref(&solo_node.consensus),
        txs.clone(),
        window,
        rate,
    )
    .await?;
    let blocks = solo_node.ledger.read().expect("ledger lock").head().height;
    // Its producer stops with it, and takes no CPU from the validators' run.
    drop(solo_node);
    let solo = summarize(
        "1 validator (solo producer, 100 ms blocks)",
        blocks,
        elapsed,
        latencies,
        cpu,
    );

    let mut configs: Vec<BftConfig> = gpunet_bft::loopback_configs(dir.path(), validators.len());
    for config in &mut configs {
        config.proposals.gather = gather.unwrap_or(config.proposals.gather);
    }
    let gathered = configs
        .first()
        .map_or(Duration::ZERO, |c| c.proposals.gather);
    let follower_config = follower(dir.path(), &configs);
    let mut nodes: Vec<Arc<dyn Consensus>> = Vec::new();
    let mut bases = Vec::new();
    for (key, config) in validators.iter().zip(configs) {
        let base = NodeBuilder::new(config.home.with_extension("node"), genesis.clone())
            .max_blob_bytes(1 << 20)
            .open()?;
        let consensus = gpunet_bft::start(
            base.ledger.clone(),
            key.clone(),
            config,
            base.events.clone(),
        )
        .await?;
        nodes.push(Arc::new(consensus));
        bases.push(base);
    }
    let (elapsed, latencies, cpu) = drive(&nodes, txs, window, rate).await?;
    let blocks = bases[0].ledger.read().expect("ledger lock").head().height;
    let bft = summarize(
        &format!(
            "4 validators (BFT, blocks gathered {} ms)",
            gathered.as_millis()
        ),
        blocks,
        elapsed,
        latencies,
        cpu,
    );
    // The validators agree on every block, up to the lowest head among them.
    let height = bases
        .iter()
        .map(|b| b.ledger.read().expect("ledger lock").head().height)
        .min()
        .unwrap_or(0);
    let headers: Vec<_> = bases
        .iter()
        .map(|b| b.ledger.read().expect("ledger lock").block(height))
        .collect::<Result<_, _>>()?;
    anyhow::ensure!(
        headers.windows(2).all(|w| w[0] == w[1]),
        "validators disagree at height {height}"
    );

    let catch_up = catch_up(&genesis, follower_config, height, elapsed).await?;
    let result = BenchResult {
        throughput_ratio: bft.tx_per_sec / solo.tx_per_sec,
        efficiency: 4.0 * solo.cpu_ms_per_tx / bft.cpu_ms_per_tx.max(f64::MIN_POSITIVE),
        solo,
        bft,
        catch_up,
    };
    output.print(&result, || {
        let line = |r: &Run| {
            format!(
                "  {:<44} {:>8.0} tx/s   finality p50 {:>6.0} ms   p99 {:>6.0} ms   {} blocks   CPU {:.3} ms/tx",
                r.setup, r.tx_per_sec, r.finality_p50_ms, r.finality_p99_ms, r.blocks, r.cpu_ms_per_tx
            )
        };
        let c = &result.catch_up;
        format!(
            "{n} signed transfers, {window} in flight{}\n{}\n{}\n  BFT throughput is {:.2}x the single validator's; \
             CPU efficiency (4 x solo CPU per tx / BFT CPU per tx) {:.2}\n\
             a node started from genesis after the run synced {} blocks ({} transactions) in {:.1} s: \
             {:.0} blocks/s, {:.0} tx/s, {:.1}x the rate the validators produced them",
            rate.map_or(String::new(), |r| format!(", submitted at {r} a second")),
            line(&result.solo),
            line(&result.bft),
            result.throughput_ratio,
            result.efficiency,
            c.blocks,
            c.txs,
            c.secs,
            c.blocks_per_sec,
            c.tx_per_sec,
            c.ratio_to_production,
        )
    });
    Ok(())
}

/// A node under `dir` that follows the validators without a vote: they are its peers.
pub(super) fn follower(dir: &std::path::Path, validators: &[BftConfig]) -> BftConfig {
    let mut config = gpunet_bft::loopback_configs(&dir.join("follower"), 1).remove(0);
    config.consensus_peers = validators
        .iter()
        .map(|v| v.consensus_listen.clone())
        .collect();
    config.gossip.bootstrap = validators
        .iter()
        .map(|v| v.gossip.listen.clone())
        .take(1)
        .collect();
    config
}

/// Starts the follower from genesis once the validators made `height` blocks
/// in `produced_in`, and times its sync up to that height.
pub(super) async fn catch_up(
    genesis: &Genesis,
    config: BftConfig,
    height: u64,
    produced_in: Duration,
) -> anyhow::Result<CatchUp> {
    let base = NodeBuilder::new(config.home.with_extension("node"), genesis.clone())
        .max_blob_bytes(1 << 20)
        .open()?;
    let start = Instant::now();
    let _follower = gpunet_bft::start(
        base.ledger.clone(),
        Keypair::from_label("bench/follower"),
        config,
        base.events.clone(),
    )
    .await?;
    while base.ledger.read().expect("ledger lock").head().height < height {
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(600),
            "the follower did not reach height {height} in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    let ledger = base.ledger.read().expect("ledger lock");
    let mut txs = 0;
    for h in 1..=height {
        txs += ledger.block(h)?.map_or(0, |b| b.txs.len());
    }
    let blocks_per_sec = height as f64 / secs;
    Ok(CatchUp {
        blocks: height,
        txs,
        secs,
        blocks_per_sec,
        tx_per_sec: txs as f64 / secs,
        ratio_to_production: blocks_per_sec / (height as f64 / produced_in.as_secs_f64()),
    })
}
