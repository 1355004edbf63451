//! `gpunet bench training`: the training example (examples/training) as a
//! user runs it through gpunet, from submission to its outputs verified on
//! disk, against the same job started directly on the same inputs, in the
//! same run: what gpunet adds to a real job. A devnet (one provider) runs in
//! this process. With the Docker executor the direct run is `docker run` of
//! the same image (`gpunet/pytorch`, scripts/images/pytorch.sh) with the same
//! limits; with the process executor (a machine without Docker, e.g. a lent
//! GPU) it is the job's command as a plain process with the environment that
//! executor gives. With `--gpus N` the job asks for N GPUs, which the
//! devnet's provider offers only when it can prove them (`--features cuda`).

use super::{quantile, until_reported};
use crate::output::Output;
use anyhow::{bail, Context};
use gpunet_client::jobfile::JobFile;
use gpunet_client::jobs::{fetch_outputs, submit_job};
use gpunet_devnet::{Devnet, DevnetConfig};
use gpunet_primitives::JobOutcome;
use gpunet_provider::executor::{ExecutorKind, INPUT_DIR_VAR, JOB_PATH, OUTPUT_DIR_VAR};
use gpunet_types::OrderView;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The image the examples run in, as scripts/images/pytorch.sh tags it.
const IMAGE: &str = "gpunet/pytorch:latest";

/// One round, in the JSON schema every command speaks: durations in
/// milliseconds under `_ms` keys.
#[derive(serde::Serialize)]
struct Round {
    direct_ms: u64,
    gpunet_ms: u64,
    /// Training speed as the script measured it, directly and through gpunet.
    direct_samples_per_s: Option<u64>,
    gpunet_samples_per_s: Option<u64>,
    /// The device the job trained on through gpunet, as its metrics say.
    gpunet_device: Option<String>,
    /// Inputs hashed and uploaded, the order signed and in a block.
    submit_ms: u64,
    /// The run as its provider measured it (start to exit).
    run_ms: u64,
    /// The report seen to the outputs verified on the client's disk.
    fetch_ms: u64,
    /// The rest: the lease and the report waiting for blocks, the agent
    /// fetching inputs, starting the job, uploading the result.
    other_ms: u64,
}

#[derive(serde::Serialize)]
struct TrainingResult {
    epochs: u32,
    executor: ExecutorKind,
    gpus: u32,
    rounds: Vec<Round>,
    direct_p50_ms: u64,
    gpunet_p50_ms: u64,
    /// Direct over through gpunet (p50s) to three decimals: "1.000" is no
    /// overhead.
    ratio: String,
}

/// What `gpunet bench training` runs.
pub(super) struct Training<'a> {
    pub job_path: &'a Path,
    pub epochs: u32,
    pub rounds: usize,
    pub executor: ExecutorKind,
    pub gpus: u32,
    /// Variables added to the job's environment.
    pub env: Vec<(String, String)>,
}

pub(super) async fn run(bench: Training<'_>, output: Output) -> anyhow::Result<()> {
    let Training {
        job_path,
        epochs,
        rounds,
        executor,
        gpus,
        env,
    } = bench;
    let mut job = JobFile::load(job_path)
        .context("run the benchmark from the repository root, or pass --job FILE")?;
    if executor == ExecutorKind::Docker {
        job.image = image_id()?;
    }
    // One run per round: an audit's second run would double what is timed.
    job.audit_bps = 0;
    job.env.insert("EPOCHS".into(), epochs.to_string());
    job.env.insert("REPORT_SPEED".into(), "1".into());
    job.env.extend(env);
    job.resources.gpu.count = gpus;

    let dir = tempfile::tempdir()?;
    let mut config = DevnetConfig::new(dir.path().join("devnet"));
    config.providers = 1;
    config.executor = executor;
    let devnet = Devnet::start(config).await?;
    let wallet = devnet.client_wallet();
    if gpus > 0 {
        let offered: u32 = wallet
            .node()
            .machines()
            .await?
            .iter()
            .map(|m| m.spec.gpu_count())
            .sum();
        if offered < gpus {
            bail!(
                "the devnet's provider offers {offered} GPUs, the job asks for {gpus}: it \
                 offers only the NVIDIA GPUs it finds (NVML) and can prove (a binary built \
                 with `--features cuda`)"
            );
        }
    }

    let mut measured = Vec::new();
    for round in 0..rounds {
        let direct_dir = dir.path().join(format!("direct-{round}"));
        let direct = direct(executor, &job, &direct_dir)?;

        let started = Instant::now();
        let id = submit_job(&wallet, &job).await?;
        let submitted = started.elapsed();
        let order = until_reported(&wallet, id, &job).await?;
        let reported = started.elapsed();
        let out = dir.path().join(format!("gpunet-{round}"));
        fetch_outputs(&wallet, &order, &out).await?;
        let whole = started.elapsed();
        let run_ms = run_ms(&order)?;
        let fetch_ms = millis(whole - reported);
        measured.push(Round {
            direct_ms: millis(direct),
            gpunet_ms: millis(whole),
            direct_samples_per_s: samples_per_s(&direct_dir.join("stderr.log")),
            gpunet_samples_per_s: samples_per_s(&out.join("logs/stderr.log")),
            gpunet_device: trained_on(&out.join("outputs/metrics.json")),
            submit_ms: millis(submitted),
            run_ms,
            fetch_ms,
            other_ms: millis(whole)
                .saturating_sub(millis(submitted))
                .saturating_sub(run_ms)
                .saturating_sub(fetch_ms),
        });
    }
    let p50 = |f: fn(&Round) -> u64| {
        quantile(
            &mut measured.iter().map(|r| f(r) as f64).collect::<Vec<_>>(),
            0.5,
        ) as u64
    };
    let (direct_p50_ms, gpunet_p50_ms) = (p50(|r| r.direct_ms), p50(|r| r.gpunet_ms));
    let ratio = direct_p50_ms as f64 / gpunet_p50_ms.max(1) as f64;
    let result = TrainingResult {
        epochs,
        executor,
        gpus,
        direct_p50_ms,
        gpunet_p50_ms,
        ratio: format!("{ratio:.3}"),
        rounds: measured,
    };
    let secs = |ms: u64| ms as f64 / 1e3;
    output.print(&result, || {
        let mut text =
            format!("training example, {epochs} epochs, {rounds} rounds, {gpus} GPUs (p50):\n");
        let direct = match executor {
            ExecutorKind::Docker => "docker run directly",
            ExecutorKind::Process => "a process directly",
        };
        text += &format!("  {direct:<26} {:>8.2} s\n", secs(direct_p50_ms));
        text += &format!(
            "  through gpunet             {:>8.2} s  (direct/gpunet {})\n",
            secs(gpunet_p50_ms),
            result.ratio
        );
        for (i, r) in result.rounds.iter().enumerate() {
            text += &format!(
                "  round {i}: submit {:.2} s, run {:.2} s, outputs fetched and verified {:.2} s, \
                 the rest {:.2} s",
                secs(r.submit_ms),
                secs(r.run_ms),
                secs(r.fetch_ms),
                secs(r.other_ms)
            );
            if let (Some(direct), Some(gpunet)) = (r.direct_samples_per_s, r.gpunet_samples_per_s) {
                text += &format!("; {direct} samples/s directly, {gpunet} through gpunet");
            }
            if let Some(device) = &r.gpunet_device {
                text += &format!(" (on the {device})");
            }
            text += "\n";
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

/// Seconds the job takes started directly in `dir`, as `executor` would
/// start it: its inputs copied in, its environment and limits given; its
/// standard error kept in `dir/stderr.log`.
fn direct(executor: ExecutorKind, job: &JobFile, dir: &Path) -> anyhow::Result<Duration> {
    let (inputs, outputs) = (dir.join("inputs"), dir.join("outputs"));
    std::fs::create_dir_all(&inputs)?;
    std::fs::create_dir_all(&outputs)?;
    for input in &job.inputs {
        let Some(source) = job.local_source(input) else {
            bail!(
                "input {} is no local file: the benchmark takes local files only",
                input.path
            );
        };
        let to = inputs.join(&input.path);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(&source, &to).with_context(|| format!("copying {}", source.display()))?;
    }
    let [program, args @ ..] = job.command.as_slice() else {
        bail!("the job has no command");
    };
    let mut command = match executor {
        ExecutorKind::Docker => {
            let mut docker = Command::new("docker");
            docker
                .args(["run", "--rm", "--network", "none", "--read-only"])
                .args(["--tmpfs", "/tmp"])
                .arg(format!("--cpus={}", job.resources.cpu))
                .arg(format!("--memory={}m", job.resources.memory_mb))
                .arg(format!("--volume={}:/gpunet/inputs:ro", inputs.display()))
                .arg(format!("--volume={}:/gpunet/outputs", outputs.display()))
                .args(["--env", &format!("{INPUT_DIR_VAR}=/gpunet/inputs")])
                .args(["--env", &format!("{OUTPUT_DIR_VAR}=/gpunet/outputs")]);
            if job.resources.gpu.count > 0 {
                docker.arg(format!("--gpus={}", job.resources.gpu.count));
            }
            for (name, value) in &job.env {
                docker.args(["--env", &format!("{name}={value}")]);
            }
            docker.arg(&job.image).arg(program).args(args);
            docker
        }
        ExecutorKind::Process => {
            let mut process = Command::new(program);
            process
                .args(args)
                .current_dir(dir)
                .env_clear()
                .env("PATH", JOB_PATH)
                .env("HOME", dir)
                .envs(&job.env)
                // What the process executor gives a job without GPUs: none.
                .envs((job.resources.gpu.count == 0).then_some(("CUDA_VISIBLE_DEVICES", "")))
                .env(INPUT_DIR_VAR, &inputs)
                .env(OUTPUT_DIR_VAR, &outputs);
            process
        }
    };
    let started = Instant::now();
    let out = command.output()?;
    let took = started.elapsed();
    std::fs::write(dir.join("stderr.log"), &out.stderr)?;
    if !out.status.success() {
        bail!(
            "the direct run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(took)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The device train.py's metrics say it trained on.
fn trained_on(metrics: &Path) -> Option<String> {
    let metrics: serde_json::Value = serde_json::from_slice(&std::fs::read(metrics).ok()?).ok()?;
    Some(metrics.get("device")?.as_str()?.to_string())
}

/// The speed train.py reports last in a log ("...: N samples/s").
fn samples_per_s(log: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().rev().find_map(|line| {
        let (before, _) = line.rsplit_once(" samples/s")?;
        let speed: f64 = before.rsplit(' ').next()?.parse().ok()?;
        Some(speed.round() as u64)
    })
}

/// Milliseconds the run took, as its provider reported.
fn run_ms(order: &OrderView) -> anyhow::Result<u64> {
    let Some(report) = &order.report else {
        bail!("order {} ended {} without a result", order.id, order.status);
    };
    match &report.outcome {
        JobOutcome::Completed { duration_ms, .. } => Ok(*duration_ms),
        JobOutcome::Failed { reason } => bail!("the run failed: {reason}"),
    }
}
