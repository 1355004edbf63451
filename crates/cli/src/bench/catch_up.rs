//! `gpunet bench catch-up`: a node that was away while four BFT validators
//! made N blocks comes back, once joining from a validator's state snapshot
//! over its API (as soon as the snapshot at N is written, up to the height
//! the chain then has) and once syncing the N blocks one by one from its
//! peers, with the rate the validators produced them as baseline, in one run.
//! The validators propose without waiting for transactions (no heartbeat),
//! so the chain grows as fast as consensus decides on this machine.

use super::consensus::{catch_up, follower, CatchUp};
use crate::output::Output;
use gpunet_node::{Consensus, NodeBase, NodeBuilder};
use gpunet_primitives::{Keypair, UNIT};
use gpunet_types::NodeAddress;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(serde::Serialize)]
struct Report {
    blocks: u64,
    produce_secs: f64,
    produced_blocks_per_sec: f64,
    replay: CatchUp,
    /// From the start of the restore to the validators' height then.
    snapshot_join_secs: f64,
    snapshot_height: u64,
    snapshot_chunks: usize,
    snapshot_bytes: u64,
    /// Replay time over snapshot join time.
    snapshot_speedup: f64,
}

pub(super) async fn run(blocks: u64, output: Output) -> anyhow::Result<()> {
    let validators: Vec<Keypair> = (0..4)
        .map(|i| Keypair::from_label(&format!("bench/validator-{i}")))
        .collect();
    let genesis = super::genesis(&validators, &validators, 1_000 * UNIT);
    let dir = tempfile::tempdir()?;
    let configs = gpunet_bft::loopback_configs(dir.path(), validators.len());
    let replay_config = follower(&dir.path().join("replay"), &configs);
    let snapshot_config = follower(&dir.path().join("snapshot"), &configs);

    let mut heads = Vec::new();
    // Consensus runs as long as its handle lives.
    let mut running = Vec::new();
    let mut api = None;
    for (i, (key, mut config)) in validators.iter().zip(configs).enumerate() {
        config.proposals.heartbeat = Duration::ZERO;
        let base = NodeBuilder::new(config.home.with_extension("node"), genesis.clone())
            .snapshot_every(blocks)
            .open()?;
        config.snapshots = Some(base.snapshots.clone());
        let consensus: Arc<dyn Consensus> = Arc::new(
            gpunet_bft::start(
                base.ledger.clone(),
                key.clone(),
                config,
                base.events.clone(),
            )
            .await?,
        );
        heads.push(base.ledger.clone());
        if i == 0 {
            api = Some(serve_api(base, consensus.clone()).await?);
        }
        running.push(consensus);
    }
    let height = |i: usize| heads[i].read().expect("ledger lock").head().height;

    let started = Instant::now();
    let mut next_report = 1_000;
    while height(0) < blocks {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if height(0) >= next_report {
            eprintln!("produced {next_report} of {blocks} blocks");
            next_report += 1_000;
        }
    }
    let produced_in = started.elapsed();
    let produce_secs = produced_in.as_secs_f64();

    let peer = gpunet_client::NodeClient::new(&api.expect("validator 0 serves its API"))?;
    let listed = Instant::now();
    while peer.snapshots().await?.is_empty() {
        anyhow::ensure!(
            listed.elapsed() < Duration::from_secs(600),
            "validator 0 wrote no snapshot in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let base = NodeBuilder::new(snapshot_config.home.with_extension("node"), genesis.clone());
    let started = Instant::now();
    let target = height(0);
    let restored = gpunet_bft::restore_from_snapshot(
        &peer,
        &genesis,
        &snapshot_config
            .home
            .with_extension("node")
            .join(gpunet_node::LEDGER_FILE),
        &snapshot_config.home,
    )
    .await?;
    let base = base.open()?;
    let _joined = gpunet_bft::start(
        base.ledger.clone(),
        Keypair::from_label("bench/joiner"),
        snapshot_config,
        base.events.clone(),
    )
    .await?;
    while base.ledger.read().expect("ledger lock").head().height < target {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "the node joined from the snapshot did not reach height {target} in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let snapshot_join_secs = started.elapsed().as_secs_f64();

    let replay = catch_up(&genesis, replay_config, blocks, produced_in).await?;

    let report = Report {
        blocks,
        produce_secs,
        produced_blocks_per_sec: blocks as f64 / produce_secs,
        snapshot_join_secs,
        snapshot_height: restored.height,
        snapshot_chunks: restored.chunks,
        snapshot_bytes: restored.bytes,
        snapshot_speedup: replay.secs / snapshot_join_secs,
        replay,
    };
    output.print(&report, || {
        let r = &report.replay;
        format!(
            "four validators made {blocks} blocks in {produce_secs:.1} s ({:.0} blocks/s, the baseline)\n  \
             a node from genesis synced them in {:.1} s: {:.0} blocks/s, {:.1}x production\n  \
             a node from validator 0's snapshot at {} ({} chunks, {} bytes) was at height {target} in {snapshot_join_secs:.2} s: \
             {:.0}x faster than syncing",
            report.produced_blocks_per_sec,
            r.secs,
            r.blocks_per_sec,
            r.ratio_to_production,
            report.snapshot_height,
            report.snapshot_chunks,
            report.snapshot_bytes,
            report.snapshot_speedup,
        )
    });
    Ok(())
}

/// Serves `base`'s API on loopback; returns its address.
async fn serve_api(base: NodeBase, consensus: Arc<dyn Consensus>) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let key = Keypair::from_label("bench/api");
    let address = NodeAddress::new(
        &format!("https://{}", listener.local_addr()?),
        key.address(),
    );
    let node = base.with_consensus(consensus);
    tokio::spawn(async move {
        if let Err(e) = gpunet_api::serve(listener, node, &key).await {
            eprintln!("validator 0's API stopped: {e}");
        }
    });
    Ok(address.to_string())
}
