//! `gpunet bench results`: a job's large result handed to its client two
//! ways, in the same run: uploaded to the node and downloaded from it (the
//! baseline), and kept by the provider and fetched from its peer
//! (`--serve-outputs`). Each way gets its own devnet (one provider, process
//! executor) in this process; a round is one job writing `--mib` MiB of
//! random bytes. What is timed: the job's end to its report (the upload, or
//! the provider keeping the files) and the report to the files verified on
//! the client's disk; what the validator's blob store holds afterwards is
//! the disk a result costs the chain's machines.

use super::{quantile, until_reported};
use crate::output::Output;
use gpunet_client::jobfile::JobFile;
use gpunet_client::jobs::{fetch_outputs, submit_job};
use gpunet_devnet::{Devnet, DevnetConfig};
use gpunet_p2p::Reach;
use gpunet_primitives::JobOutcome;
use gpunet_provider::data_plane::{DataPlaneConfig, Retention};
use gpunet_provider::Outputs;
use std::path::Path;
use std::time::Instant;

/// One round of one way.
#[derive(serde::Serialize)]
struct Round {
    /// The job's end to its report (the provider handing the result in).
    hand_in_ms: u64,
    /// The report to the files verified on the client's disk.
    fetch_ms: u64,
}

/// One way of handing a result over, measured.
#[derive(serde::Serialize)]
struct Way {
    /// "nodes" or "provider".
    held_by: &'static str,
    rounds: Vec<Round>,
    hand_in_p50_ms: u64,
    fetch_p50_ms: u64,
    /// What the validator's blob store holds after every round.
    validator_bytes: u64,
}

#[derive(serde::Serialize)]
struct ResultsBench {
    mib: u64,
    rounds: usize,
    ways: Vec<Way>,
    /// The baseline's fetch p50 over the provider's, to three decimals.
    fetch_ratio: String,
}

pub(super) async fn run(mib: u64, rounds: usize, output: Output) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut ways = Vec::new();
    for (held_by, outputs) in [
        ("nodes", Outputs::UploadToNodes),
        ("provider", Outputs::Keep(Retention::default())),
    ] {
        ways.push(measure(held_by, outputs, &dir.path().join(held_by), mib, rounds).await?);
    }
    let fetch_ratio = ways[0].fetch_p50_ms as f64 / ways[1].fetch_p50_ms.max(1) as f64;
    let result = ResultsBench {
        mib,
        rounds,
        fetch_ratio: format!("{fetch_ratio:.3}"),
        ways,
    };
    let secs = |ms: u64| ms as f64 / 1e3;
    output.print(&result, || {
        let mut text = format!("a {mib} MiB result, {rounds} rounds (p50):\n");
        for way in &result.ways {
            text += &format!(
                "  files kept by {:<9} handed in {:>6.2} s, fetched and verified {:>6.2} s, \
                 validator holds {} bytes\n",
                way.held_by,
                secs(way.hand_in_p50_ms),
                secs(way.fetch_p50_ms),
                way.validator_bytes
            );
        }
        text += &format!("  fetch, nodes/provider: {}", result.fetch_ratio);
        text
    });
    Ok(())
}

async fn measure(
    held_by: &'static str,
    outputs: Outputs,
    dir: &Path,
    mib: u64,
    rounds: usize,
) -> anyhow::Result<Way> {
    let mut config = DevnetConfig::new(dir.join("devnet"));
    config.providers = 1;
    config.provider_peer = Some(DataPlaneConfig {
        outputs,
        ..DataPlaneConfig::new(Reach::Direct {
            bind: "127.0.0.1:0".parse()?,
            relay: None,
        })
    });
    let devnet = Devnet::start(config).await?;
    let wallet = devnet.client_wallet();
    let spec = dir.join("result.toml");
    std::fs::write(
        &spec,
        format!(
            "name = \"result\"\nimage = \"gpunet/busybox\"\n\
             command = [\"sh\", \"-c\", \"head -c {} /dev/urandom > $GPUNET_OUTPUT_DIR/result.bin\"]\n\
             timeout_secs = 600\naudit_bps = 0\n\
             [resources]\ndisk_mb = {}\n[price]\nmax_per_hour = \"50\"\n",
            mib << 20,
            mib + 64
        ),
    )?;
    let job = JobFile::load(&spec)?;
    let mut measured = Vec::new();
    for round in 0..rounds {
        let id = submit_job(&wallet, &job).await?;
        let order = until_reported(&wallet, id, &job).await?;
        let reported = Instant::now();
        let out = dir.join(format!("round-{round}"));
        fetch_outputs(&wallet, &order, &out).await?;
        measured.push(Round {
            fetch_ms: reported.elapsed().as_millis() as u64,
            hand_in_ms: hand_in(&order)?,
        });
        std::fs::remove_dir_all(&out)?;
    }
    let validator_bytes = devnet.node.blobs.stored_bytes();
    devnet.shutdown().await;
    let p50 = |f: fn(&Round) -> u64| {
        quantile(
            &mut measured.iter().map(|r| f(r) as f64).collect::<Vec<_>>(),
            0.5,
        ) as u64
    };
    Ok(Way {
        held_by,
        hand_in_p50_ms: p50(|r| r.hand_in_ms),
        fetch_p50_ms: p50(|r| r.fetch_ms),
        rounds: measured,
        validator_bytes,
    })
}

/// The job's end to its report, in block time: the report's time less the
/// lease's start and the run.
fn hand_in(order: &gpunet_types::OrderView) -> anyhow::Result<u64> {
    let (Some(lease), Some(report)) = (&order.lease, &order.report) else {
        anyhow::bail!("order {} has no report: {order:?}", order.id);
    };
    let JobOutcome::Completed { duration_ms, .. } = &report.outcome else {
        anyhow::bail!("order {} failed: {:?}", order.id, report.outcome);
    };
    Ok(report
        .reported_ms
        .saturating_sub(lease.start_ms)
        .saturating_sub(*duration_ms))
}
