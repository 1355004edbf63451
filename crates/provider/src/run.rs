//! How a lease becomes a run and a run becomes a result: the run's
//! directory, environment and limits, and the manifest of what it left.
//! The agent runs leases this way, and a canary's issuer reruns a job the
//! same way to know its answer (`canary`), so both get the same output root.

use crate::executor::{ExecOutcome, JobRun, Limits, RunKind, SecretVars, Stop};
use gpunet_client::{ClientError, Wallet};
use gpunet_primitives::manifest::Manifest;
use gpunet_primitives::{Hash, InputRef, OrderId};
use gpunet_types::OrderView;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Smallest memory limit a job gets, whatever it asks.
const MIN_MEMORY_MB: u64 = 16;
/// Smallest disk limit a job gets, whatever it asks (room for its logs).
const MIN_DISK_MB: u64 = 64;

/// A run's name (its container's), `gpunet-{owner}-{dir}-order-{order}`:
/// unique per owner, data directory and order, and stable across restarts.
pub fn run_name(owner: &str, dir: &Path, order: OrderId) -> String {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let instance = blake3::hash(dir.as_os_str().as_encoded_bytes()).to_hex();
    format!("gpunet-{owner}-{}-order-{order}", &instance[..8])
}

/// Lays out a run of `order` named `name` under `job_dir` (inputs fetched and
/// verified, `logs/`, `outputs/`, `work/`), with no GPUs yet; `wallet`'s
/// account reads the inputs, as the order's provider or client. An `Err`
/// says why the job cannot start here.
pub async fn lay_out(
    wallet: &Wallet,
    order: &OrderView,
    name: String,
    job_dir: &Path,
    timeout: Duration,
) -> Result<JobRun, LayoutError> {
    // The process executor starts the job in its scratch directory, and a
    // container mounts these paths: relative ones would name nothing there.
    let job_dir = std::path::absolute(job_dir).map_err(|source| LayoutError::Resolve {
        path: job_dir.to_path_buf(),
        source,
    })?;
    let logs = job_dir.join("logs");
    let run = JobRun {
        name,
        image: order.spec.image.clone(),
        command: order.spec.command.clone(),
        env: order
            .spec
            .env
            .iter()
            .cloned()
            // An audit run sees the environment of the run it checks.
            .chain([(
                "GPUNET_ORDER_ID".to_string(),
                order.audit_of.unwrap_or(order.id).to_string(),
            )])
            .collect(),
        inputs: job_dir.join("inputs"),
        outputs: job_dir.join("outputs"),
        scratch: job_dir.join("work"),
        stdout: logs.join("stdout.log"),
        stderr: logs.join("stderr.log"),
        timeout,
        limits: Limits {
            cpu_cores: order.spec.resources.cpu_cores,
            // The engine refuses limits under 6 MiB.
            memory_mb: order.spec.resources.memory_mb.max(MIN_MEMORY_MB),
            disk_mb: order.spec.resources.disk_mb.max(MIN_DISK_MB),
            shm_mb: order.spec.resources.shm_mb,
            ulimits: order.spec.resources.ulimits,
        },
        network: order.spec.network,
        gpus: Vec::new(),
        ports: order.spec.ports.clone(),
        kind: match order.rental {
            Some(_) => RunKind::Rental,
            None => RunKind::Job,
        },
        workspace: None,
        secrets: SecretVars::default(),
    };
    for dir in [&run.inputs, &run.outputs, &run.scratch, &logs] {
        std::fs::create_dir_all(dir).map_err(|source| LayoutError::Prepare {
            dir: dir.clone(),
            source,
        })?;
    }
    for input in &order.spec.inputs {
        fetch_input(wallet, order.id, input, &run.inputs.join(&input.path))
            .await
            .map_err(|source| LayoutError::FetchInput {
                path: input.path.clone(),
                source,
            })?;
    }
    Ok(run)
}

/// Tries to fetch an input, a second apart: the node this agent talks to may
/// have to ask the node the client uploaded to, whose ledger may not show the
/// lease yet (and refuses the read until it does).
const INPUT_FETCH_TRIES: u32 = 5;

/// Downloads `input` of `order` to `dest` as the order's provider (or client).
async fn fetch_input(
    wallet: &Wallet,
    order: OrderId,
    input: &InputRef,
    dest: &Path,
) -> Result<u64, ClientError> {
    let mut tries = 1;
    loop {
        let read = wallet.blob_read(order).await?;
        match wallet.node().download_blob(&input.hash, dest, &read).await {
            Err(_) if tries < INPUT_FETCH_TRIES => {
                tries += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            done => return done,
        }
    }
}

/// The manifest of a finished run (its root is the output root) with each
/// file to upload, after noting in stderr why the run was cut short, if it was.
pub fn collect(
    run: &JobRun,
    result: &ExecOutcome,
) -> Result<(Manifest, Vec<(PathBuf, Hash)>), CollectError> {
    note_abnormal_end(run, result).map_err(CollectError::Log)?;
    Manifest::of_result(&run.stdout, &run.stderr, &run.outputs).map_err(CollectError::Outputs)
}

/// Why a run could not be laid out here: its job then cannot start on this
/// machine.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// A directory of the run has no absolute path.
    #[error("cannot resolve {}: {source}", path.display())]
    Resolve {
        /// The directory.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A directory of the run could not be made.
    #[error("cannot prepare {}: {source}", dir.display())]
    Prepare {
        /// The directory.
        dir: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// An input could not be fetched and verified.
    #[error("cannot fetch input {path}: {source}")]
    FetchInput {
        /// Its path among the inputs.
        path: String,
        /// Why.
        source: ClientError,
    },
    /// The saved workspace the spec names could not be fetched.
    #[error("cannot fetch the workspace rental {order} saved: {source}")]
    FetchWorkspace {
        /// The rental that saved it.
        order: OrderId,
        /// Why.
        source: ClientError,
    },
}

/// Why a finished run's result could not be collected.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// Its log files could not be written.
    #[error("cannot write the job's log: {0}")]
    Log(std::io::Error),
    /// Its output directory could not be read.
    #[error("cannot collect outputs: {0}")]
    Outputs(std::io::Error),
}

/// Tells the job's owner, in its stderr log, why the job was cut short.
fn note_abnormal_end(run: &JobRun, outcome: &ExecOutcome) -> std::io::Result<()> {
    use std::io::Write;
    let note = match outcome.stopped {
        Some(Stop::Timeout) => format!(
            "gpunet: the job was stopped at its timeout of {} s\n",
            run.timeout.as_secs()
        ),
        Some(Stop::Memory) => format!(
            "gpunet: the job was killed for exceeding its memory limit of {} MiB\n",
            run.limits.memory_mb
        ),
        Some(Stop::Disk) => format!(
            "gpunet: the job was stopped for writing more than its disk limit of {} MiB\n",
            run.limits.disk_mb
        ),
        None => return Ok(()),
    };
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&run.stderr)?
        .write_all(note.as_bytes())
}
