//! `gpunet bench training`: the training example (examples/training) as a
//! user runs it through gpunet, from submission to its outputs verified on
//! disk, against the same container started directly with `docker run` on
//! the same inputs and limits, in the same run: what gpunet adds to a real
//! job. A devnet (one provider, the Docker executor) runs in this process;
//! the image is `gpunet/pytorch` (scripts/images/pytorch.sh).

use super::quantile;
use crate::output::Output;
use anyhow::{bail, Context};
use gpunet_client::jobfile::JobFile;
use gpunet_client::jobs::{fetch_outputs, is_final, submit_job, wait_for_order};
use gpunet_devnet::{Devnet, DevnetConfig};
use gpunet_primitives::JobOutcome;
use gpunet_provider::executor::ExecutorKind;
use gpunet_types::OrderView;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The image the examples run in, as scripts/images/pytorch.sh tags it.
const IMAGE: &str = "gpunet/pytorch:latest";

#[derive(serde::Serialize)]
struct Round {
    direct_s: f64,
    gpunet_s: f64,
    /// Inputs hashed and uploaded, the order signed and in a block.
    submit_s: f64,
    /// The run as its provider measured it (container start to exit).
    run_s: f64,
    /// The report seen to the outputs verified on the client's disk.
    fetch_s: f64,
    /// The rest: the lease and the report waiting for blocks, the agent
    /// fetching inputs, creating the container, uploading the result.
    other_s: f64,
}

#[derive(serde::Serialize)]
struct TrainingResult {
    epochs: u32,
    rounds: Vec<Round>,
    direct_p50_s: f64,
    gpunet_p50_s: f64,
    /// Direct over through gpunet (p50s): 1 is no overhead.
    ratio: f64,
}

pub(super) async fn run(
    job_path: &Path,
    epochs: u32,
    rounds: usize,
    output: Output,
) -> anyhow::Result<()> {
    let image = image_id()?;
    let mut job = JobFile::load(job_path)
        .context("run the benchmark from the repository root, or pass --job FILE")?;
    job.image = image.clone();
    // One run per round: an audit's second run would double what is timed.
    job.audit_bps = 0;
    job.env.insert("EPOCHS".into(), epochs.to_string());
    let script = job_path
        .parent()
        .unwrap_or(Path::new("."))
        .join("train.py")
        .canonicalize()
        .context("the training script beside the job file")?;

    let dir = tempfile::tempdir()?;
    let mut config = DevnetConfig::new(dir.path().join("devnet"));
    config.providers = 1;
    config.executor = ExecutorKind::Docker;
    let devnet = Devnet::start(config).await?;
    let wallet = devnet.client_wallet();

    let mut measured = Vec::new();
    for round in 0..rounds {
        let direct_s = direct(
            &image,
            &job,
            &script,
            &dir.path().join(format!("direct-{round}")),
        )?;

        let started = Instant::now();
        let id = submit_job(&wallet, &job).await?;
        let submit_s = started.elapsed().as_secs_f64();
        let order = wait_for_order(
            wallet.node(),
            id,
            Duration::from_secs(job.timeout_secs + 120),
            |o| o.report.is_some() || is_final(o.status),
            |_| {},
        )
        .await?;
        let reported_s = started.elapsed().as_secs_f64();
        let out = dir.path().join(format!("gpunet-{round}"));
        fetch_outputs(&wallet, &order, &out).await?;
        let gpunet_s = started.elapsed().as_secs_f64();
        let run_s = run_seconds(&order)?;
        let fetch_s = gpunet_s - reported_s;
        measured.push(Round {
            direct_s,
            gpunet_s,
            submit_s,
            run_s,
            fetch_s,
            other_s: gpunet_s - submit_s - run_s - fetch_s,
        });
    }
    let p50 = |f: fn(&Round) -> f64| quantile(&mut measured.iter().map(f).collect::<Vec<_>>(), 0.5);
    let (direct_p50_s, gpunet_p50_s) = (p50(|r| r.direct_s), p50(|r| r.gpunet_s));
    let result = TrainingResult {
        epochs,
        direct_p50_s,
        gpunet_p50_s,
        ratio: direct_p50_s / gpunet_p50_s,
        rounds: measured,
    };
    output.print(&result, || {
        let mut text = format!("training example, {epochs} epochs, {rounds} rounds (p50):\n");
        text += &format!("  docker run directly        {direct_p50_s:>8.2} s\n");
        text += &format!(
            "  through gpunet             {gpunet_p50_s:>8.2} s  (direct/gpunet {:.3})\n",
            result.ratio
        );
        for (i, r) in result.rounds.iter().enumerate() {
            text += &format!(
                "  round {i}: submit {:.2} s, run {:.2} s, outputs fetched and verified {:.2} s, \
                 the rest {:.2} s\n",
                r.submit_s, r.run_s, r.fetch_s, r.other_s
            );
        }
        text.trim_end().to_string()
    });
    Ok(())
}

/// The id of the examples' image, which pins the job (deterministic).
fn image_id() -> anyhow::Result<String> {
    let out = Command::new("docker")
        .args(["image", "inspect", "-f", "{{.Id}}", IMAGE])
        .output()
        .context("the docker command")?;
    if !out.status.success() {
        bail!("no image {IMAGE} here: build it with scripts/images/pytorch.sh");
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

/// Seconds `docker run` takes for the job's command in `image`, with the
/// job's limits and directories as the Docker executor gives them.
fn direct(image: &str, job: &JobFile, script: &Path, dir: &Path) -> anyhow::Result<f64> {
    let (inputs, outputs) = (dir.join("inputs"), dir.join("outputs"));
    std::fs::create_dir_all(&inputs)?;
    std::fs::create_dir_all(&outputs)?;
    std::fs::copy(script, inputs.join("train.py"))?;
    let mut docker = Command::new("docker");
    docker
        .args(["run", "--rm", "--network", "none", "--read-only"])
        .args(["--tmpfs", "/tmp"])
        .arg(format!("--cpus={}", job.resources.cpu))
        .arg(format!("--memory={}m", job.resources.memory_mb))
        .arg(format!("--volume={}:/gpunet/inputs:ro", inputs.display()))
        .arg(format!("--volume={}:/gpunet/outputs", outputs.display()))
        .args(["--env", "GPUNET_INPUT_DIR=/gpunet/inputs"])
        .args(["--env", "GPUNET_OUTPUT_DIR=/gpunet/outputs"]);
    for (name, value) in &job.env {
        docker.args(["--env", &format!("{name}={value}")]);
    }
    let started = Instant::now();
    let out = docker.arg(image).args(&job.command).output()?;
    let seconds = started.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "docker run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(seconds)
}

/// Seconds the run took, as its provider reported.
fn run_seconds(order: &OrderView) -> anyhow::Result<f64> {
    let Some(report) = &order.report else {
        bail!("order {} ended {} without a result", order.id, order.status);
    };
    match &report.outcome {
        JobOutcome::Completed { duration_ms, .. } => Ok(*duration_ms as f64 / 1e3),
        JobOutcome::Failed { reason } => bail!("the run failed: {reason}"),
    }
}
