//! How a lease becomes a run and a run becomes a result: the run's
//! directory, environment and limits, and the manifest of what it left.
//! The agent runs leases this way, and a canary's issuer reruns a job the
//! same way to know its answer (`canary`), so both get the same output root.

use crate::data_plane::AgentPeer;
use crate::executor::{ExecOutcome, JobRun, Limits, RunKind, SecretVars, Stop};
use gpunet_client::peer_fetch::{fetch_from_peer, WantedFile};
use gpunet_client::{ClientError, Wallet};
use gpunet_primitives::manifest::Manifest;
use gpunet_primitives::{Address, Hash, InputRef, InputSource, OrderId};
use gpunet_types::OrderView;
use std::collections::{BTreeMap, BTreeSet};
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
/// account reads the inputs, as the order's provider or client, and `own`
/// is its agent's peer, if it runs one (inputs it keeps come out of its
/// store). An `Err` says why the job cannot start here.
pub async fn lay_out(
    wallet: &Wallet,
    order: &OrderView,
    own: Option<&AgentPeer>,
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
    fetch_inputs(
        wallet,
        order,
        own,
        &run.inputs,
        &job_dir.join(INPUT_DOWNLOAD_STORE),
    )
    .await?;
    Ok(run)
}

/// Tries to fetch a job's inputs, longer apart each time: the client's
/// peer may still be adding a file it serves, and the node this agent
/// talks to may have to ask the node the client uploaded to, whose ledger
/// may not show the lease yet (either refuses the read until it does).
const INPUT_FETCH_TRIES: u32 = 5;

/// The download store of inputs fetched peer to peer, in the run's
/// directory beside (not inside) what the job sees.
const INPUT_DOWNLOAD_STORE: &str = "input-download";

/// Fetches and verifies every input of `order` into `dir` as the order's
/// provider (or client). An input the client holds comes from the node,
/// or, when the node lacks it, from the client's own peer (`gpunet serve`:
/// inputs that never reached a node); a file of an earlier result that its
/// provider keeps comes from that provider's peer, or out of `own` when
/// this agent's peer is the one keeping it.
async fn fetch_inputs(
    wallet: &Wallet,
    order: &OrderView,
    own: Option<&AgentPeer>,
    dir: &Path,
    store: &Path,
) -> Result<(), LayoutError> {
    if order.spec.inputs.is_empty() {
        return Ok(());
    }
    let holders = input_holders(wallet, order).await;
    let mut missing: Vec<&InputRef> = order.spec.inputs.iter().collect();
    let mut tries = 0;
    loop {
        tries += 1;
        let mut why = BTreeMap::new();
        // The node first: an input uploaded there comes at once, and one it
        // lacks is answered at once too, while a peer that has gone costs a
        // connection timeout.
        for input in &missing {
            let dest = dir.join(&input.path);
            let fetched = match (input.source, own) {
                (InputSource::Held { .. }, _) => download_input(wallet, order.id, input, &dest)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                (InputSource::KeptResult { order: earlier }, Some(own))
                    if holders.get(&earlier) == Some(&Ok(wallet.address())) =>
                {
                    export_kept(own, input, &dest).await
                }
                (InputSource::KeptResult { .. }, _) => Err(String::new()),
            };
            if let Err(e) = fetched {
                why.insert(input.path.clone(), e);
            }
        }
        missing.retain(|input| why.contains_key(&input.path));
        // Then each holder's peer, for what it holds.
        let mut by_holder: BTreeMap<Address, Vec<&InputRef>> = BTreeMap::new();
        let mut failed = BTreeSet::new();
        for input in &missing {
            let holder = match input.source {
                InputSource::Held { .. } => Ok(order.client),
                InputSource::KeptResult { order: earlier } => holders[&earlier].clone(),
            };
            match holder {
                // Its own store said why: no second endpoint of this key
                // dials the first.
                Ok(holder) if own.is_some() && holder == wallet.address() => {
                    failed.insert(input.path.clone());
                }
                Ok(holder) => by_holder.entry(holder).or_default().push(input),
                Err(e) => {
                    note(&mut why, &input.path, e);
                    failed.insert(input.path.clone());
                }
            }
        }
        for (holder, inputs) in by_holder {
            for (path, from_peer) in fetch_from_holder(wallet, holder, &inputs, dir, store).await {
                note(&mut why, &path, from_peer);
                failed.insert(path);
            }
        }
        missing.retain(|input| failed.contains(&input.path));
        match missing.first() {
            None => return Ok(()),
            Some(input) if tries == INPUT_FETCH_TRIES => {
                return Err(LayoutError::FetchInput {
                    path: input.path.clone(),
                    why: why.remove(&input.path).unwrap_or_default(),
                })
            }
            Some(_) => tokio::time::sleep(Duration::from_secs(u64::from(tries))).await,
        }
    }
}

/// Adds `more` to what `why` says of `path`.
fn note(why: &mut BTreeMap<String, String>, path: &str, more: String) {
    let said = why.entry(path.to_string()).or_default();
    if !said.is_empty() {
        said.push_str("; ");
    }
    said.push_str(&more);
}

/// The provider keeping each earlier result that `order`'s inputs name
/// (`InputSource::KeptResult`), or why it is not known.
async fn input_holders(
    wallet: &Wallet,
    order: &OrderView,
) -> BTreeMap<OrderId, Result<Address, String>> {
    let mut holders = BTreeMap::new();
    for input in &order.spec.inputs {
        let InputSource::KeptResult { order: earlier } = input.source else {
            continue;
        };
        if holders.contains_key(&earlier) {
            continue;
        }
        let provider = match wallet.node().order(earlier).await {
            Ok(view) => view.lease.map(|l| l.provider).ok_or_else(|| {
                format!("order {earlier}, whose result it is from, has no provider on record")
            }),
            Err(e) => Err(format!("cannot ask the node about order {earlier}: {e}")),
        };
        holders.insert(earlier, provider);
    }
    holders
}

/// Copies a kept result's file that this agent's own peer holds.
async fn export_kept(own: &AgentPeer, input: &InputRef, dest: &Path) -> Result<(), String> {
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    own.export(input.hash, dest)
        .await
        .map(|_| ())
        .map_err(|e| format!("from this agent's own kept results: {e}"))
}

/// Fetches `inputs` from `holder`'s announced peer into `dir`; what did not
/// come, by path, with why.
async fn fetch_from_holder(
    wallet: &Wallet,
    holder: Address,
    inputs: &[&InputRef],
    dir: &Path,
    store: &Path,
) -> Vec<(String, String)> {
    let all_failed = |why: String| {
        inputs
            .iter()
            .map(|input| (input.path.clone(), why.clone()))
            .collect()
    };
    let peer = match wallet.node().peer(&holder).await {
        Ok(Some(peer)) => peer,
        Ok(None) => return all_failed(format!("{holder} announces no data-plane peer")),
        Err(e) => return all_failed(format!("cannot ask where {holder} serves: {e}")),
    };
    let wanted: Vec<WantedFile<'_>> = inputs
        .iter()
        .map(|input| WantedFile {
            path: &input.path,
            hash: input.hash,
            size: input.size,
        })
        .collect();
    match fetch_from_peer(wallet, &peer, &wanted, dir, store).await {
        Ok(failures) => failures
            .into_iter()
            .map(|(path, e)| (path, format!("from {holder}'s peer: {e}")))
            .collect(),
        Err(e) => all_failed(format!("from {holder}'s peer: {e}")),
    }
}

/// Downloads `input` of `order` from the node to `dest`.
async fn download_input(
    wallet: &Wallet,
    order: OrderId,
    input: &InputRef,
    dest: &Path,
) -> Result<u64, ClientError> {
    let read = wallet.blob_read(order).await?;
    wallet.node().download_blob(&input.hash, dest, &read).await
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
    #[error("cannot fetch input {path}: {why}")]
    FetchInput {
        /// Its path among the inputs.
        path: String,
        /// Why, from the node and from the client's peer.
        why: String,
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
