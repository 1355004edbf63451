//! Job spec files: what a user writes (TOML), checked and turned into the on-chain spec.
//!
//! ```toml
//! name = "hello"
//! image = "gpunet/busybox"          # required; the process executor ignores it
//! command = ["sh", "-c", "echo hi > $GPUNET_OUTPUT_DIR/hi.txt"]
//! timeout_secs = 60
//! region = "eu-west"                # optional
//! network = false                   # optional; true gives the container a network
//! min_reliability_bps = 9500        # optional; only machines that completed 95 % of leases
//! placement = "cheapest"            # optional; default "spread" (least loaded first)
//! ports = [8888]                    # rentals only, with network = true: exposed to the renter
//! on_exit = "restart"               # rentals only; default "end": the rental ends when its
//!                                   # program exits ("restart": started again, same /workspace)
//! audit_bps = 1000                  # optional; 10 % chance a random auditor re-runs it
//!                                   # (deposit must cover 3 runs; pin the image by
//!                                   # digest and keep network off to make it slashable)
//! max_attempts = 3                  # optional; default 1: a run its provider fails or
//!                                   # lets time out goes to another machine, up to 3 runs
//! workspace = "9f2c…"               # optional: the root `gpunet rent end --save` printed;
//!                                   # its files are in /workspace when the run starts
//! save_on_end = true                # rentals only: when its time runs out or its container
//!                                   # stops for good, /workspace is saved first (as
//!                                   # `gpunet rent end --save` does)
//! serve_inputs = true               # optional: local inputs are served by your own
//!                                   # `gpunet serve` to the job's provider, peer to
//!                                   # peer, instead of uploaded to the nodes
//!
//! [env]                             # public: every spec is on chain
//! GREETING = "hello"
//!
//! [secrets]                         # only the names go on chain: the values are sealed
//!                                   # to the provider of each run when it is leased
//! HF_TOKEN = { env = "HF_TOKEN" }   # from your environment when you submit
//! DB_PASSWORD = { file = "db.key" } # a file's content (relative to this spec; one
//!                                   # trailing newline dropped)
//! API_KEY = "sk-..."                # or the value itself (keep such a file private)
//!
//! [resources]
//! cpu = 1
//! memory_mb = 256
//! disk_mb = 100                     # what it may write; default 1024
//! gpu = { count = 1, vendor = "nvidia", model = "H100", min_vram_mb = 80000 }  # optional
//! shm_mb = 8192                     # optional /dev/shm (Docker's default: 64), within memory_mb
//! ulimits = { nofile = 65536, memlock_mb = 16384, stack_mb = 64 }   # optional process limits
//!
//! [[inputs]]
//! path = "words.txt"                # where the job sees it, under $GPUNET_INPUT_DIR
//! source = "data/words.txt"         # local file, relative to this spec
//!                                   # (read only by this job's provider: where
//!                                   # secrets such as tokens and keys go)
//!
//! [[inputs]]                        # a file of one of your earlier jobs' results:
//! path = "model.bin"                # it stays where it is (on the nodes, or with the
//!                                   # provider that keeps it), no download
//! from_order = 12                   # or left out, and given by `job run --inputs-from 12`
//! from_output = "outputs/model.bin"
//!
//! [price]
//! max_per_hour = "2.5"              # GPN per hour
//! deposit = "1"                     # optional; defaults to the cost of the whole timeout
//! ```

use crate::error::ClientError;
use crate::images::ImageStore;
use crate::jobs::output_entry;
use crate::secrets::SecretValues;
use crate::served::ServedInputs;
use crate::wallet::Wallet;
use gpunet_primitives::{
    parse_amount, Amount, BlobHasher, GpuRequirement, Hash, InputRef, InputSource, JobSpec, OnExit,
    OrderId, OutputHolder, Placement, Resources, Ulimits, WorkspaceRef,
};
use gpunet_types::api::{OrdersPage, MAX_ORDERS_PAGE};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A job file (TOML) as people write it; see `examples/` and README.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobFile {
    /// A label for people.
    pub name: String,
    /// The container image; required, though the process executor ignores it.
    pub image: String,
    /// Program and arguments.
    pub command: Vec<String>,
    /// Environment variables (public: they are on chain).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Secret environment variables (`[secrets]`) and where their values
    /// come from: only the names go on chain.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretSource>,
    /// Longest it may run, in seconds.
    pub timeout_secs: u64,
    /// The region a machine must be in, if any.
    pub region: Option<String>,
    /// Whether the job needs network access; containers have none otherwise.
    #[serde(default)]
    pub network: bool,
    /// Probability in basis points that a random auditor re-runs the job.
    #[serde(default)]
    pub audit_bps: u32,
    /// Least share of completed leases a machine needs, in basis points.
    #[serde(default)]
    pub min_reliability_bps: u32,
    /// "spread" (default: least loaded first) or "cheapest".
    #[serde(default)]
    pub placement: Placement,
    /// Container ports a rental exposes to its renter.
    #[serde(default)]
    pub ports: Vec<u16>,
    /// Most runs it gets (default 1): a run whose provider fails it or lets
    /// it time out is matched again to another machine until this many ran.
    #[serde(default = "one")]
    pub max_attempts: u32,
    /// A rental's answer to its program exiting: end (the default) or
    /// start the container again.
    #[serde(default)]
    pub on_exit: OnExit,
    /// The root of a workspace one of the client's rentals saved, put in
    /// `/workspace` before the run starts.
    #[serde(default)]
    pub workspace: Option<Hash>,
    /// A rental's `/workspace` is saved when it ends by itself (its time
    /// runs out, its container stops for good), as `rent end --save` saves
    /// it.
    #[serde(default)]
    pub save_on_end: bool,
    /// What it needs (`[resources]`).
    #[serde(default)]
    pub resources: ResourcesFile,
    /// Files it reads (`[[inputs]]`).
    #[serde(default)]
    pub inputs: Vec<InputFile>,
    /// Its local inputs are served by the client's own peer (`gpunet
    /// serve`) rather than uploaded to the nodes: they never reach a
    /// validator's disk, and the client's peer must serve them until the
    /// job ran.
    #[serde(default)]
    pub serve_inputs: bool,
    /// What it pays (`[price]`).
    pub price: PriceFile,
    #[serde(skip)]
    base_dir: PathBuf,
}

/// A job file's `[resources]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcesFile {
    /// CPU cores (default 1).
    #[serde(default = "one")]
    pub cpu: u32,
    /// Memory in MiB (default 256).
    #[serde(default = "default_memory")]
    pub memory_mb: u64,
    /// Most it may write, in MiB (default 1024).
    #[serde(default = "default_disk")]
    pub disk_mb: u64,
    /// GPUs (`[resources.gpu]`; none by default).
    #[serde(default)]
    pub gpu: GpuRequirement,
    /// Size of `/dev/shm` in MiB (0, the default: the executor's, 64 in Docker).
    #[serde(default)]
    pub shm_mb: u64,
    /// Process limits (`[resources.ulimits]`: `nofile`, `memlock_mb`, `stack_mb`).
    #[serde(default)]
    pub ulimits: Ulimits,
}

fn one() -> u32 {
    1
}
fn default_memory() -> u64 {
    256
}
fn default_disk() -> u64 {
    1024
}

impl Default for ResourcesFile {
    fn default() -> Self {
        ResourcesFile {
            cpu: 1,
            memory_mb: default_memory(),
            disk_mb: default_disk(),
            gpu: GpuRequirement::default(),
            shm_mb: 0,
            ulimits: Ulimits::default(),
        }
    }
}

/// One input: a local file (`source`), or a file of an earlier order's
/// result (`from_order` and `from_output`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputFile {
    /// Where the job finds it, under `$GPUNET_INPUT_DIR`.
    pub path: String,
    /// A local file, relative to the job file's directory.
    pub source: Option<PathBuf>,
    /// An earlier order whose result holds it...
    pub from_order: Option<OrderId>,
    /// ...at this path of that result.
    pub from_output: Option<String>,
}

/// An input that names neither a local file nor an earlier result's file,
/// or parts of both.
#[derive(Debug, thiserror::Error)]
#[error(
    "input {input} needs either `source` (a local file) or both `from_order` and \
     `from_output` (a file of an earlier order's result; `gpunet job run --inputs-from ORDER` \
     gives the order to every input that names only `from_output`)"
)]
struct UnclearOrigin {
    input: String,
}

/// Where an input comes from.
enum InputOrigin<'a> {
    Local(PathBuf),
    Result { order: OrderId, path: &'a str },
}

/// Where a secret's value comes from, read when the job is submitted.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum SecretSource {
    /// The value itself: `NAME = "value"`.
    Value(String),
    /// The submitting shell's environment variable: `NAME = { env = "VAR" }`.
    Env {
        /// The variable.
        env: String,
    },
    /// A file's content, relative to the job file, less one trailing
    /// newline: `NAME = { file = "token.txt" }`.
    File {
        /// The file.
        file: PathBuf,
    },
}

/// Shows where a value comes from, never the value.
impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Value(_) => f.write_str("Value(..)"),
            SecretSource::Env { env } => write!(f, "Env({env})"),
            SecretSource::File { file } => write!(f, "File({})", file.display()),
        }
    }
}

/// A job file's `[price]`, in GPN.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceFile {
    /// The most it pays per hour, e.g. `"2.5"`.
    pub max_per_hour: String,
    /// What to escrow; the least the order needs when absent.
    pub deposit: Option<String>,
}

/// A job ready to submit: the on-chain spec, its price and deposit.
#[derive(Debug, Clone)]
pub struct PreparedJob {
    /// The on-chain spec.
    pub spec: JobSpec,
    /// The most it pays per hour, in base units.
    pub max_price_per_hour: Amount,
    /// What it escrows, in base units.
    pub deposit: Amount,
    /// Its inputs read from local files, as the spec names them.
    pub local_inputs: Vec<LocalInput>,
}

/// A local file among a prepared job's inputs.
#[derive(Clone, Debug)]
pub struct LocalInput {
    /// The file.
    pub source: PathBuf,
    /// Its BLAKE3, as the spec names it.
    pub hash: Hash,
    /// Its size in bytes.
    pub size: u64,
}

impl JobFile {
    /// Reads the job file at `path`; local inputs are relative to its directory.
    pub fn load(path: &Path) -> Result<JobFile, ClientError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ClientError::Invalid(format!("cannot read job spec {}: {e}", path.display()))
        })?;
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        JobFile::from_toml(&text, &path.display().to_string(), base_dir)
    }

    /// A job file's text (`origin` names it in errors); local inputs are
    /// relative to `base_dir`.
    pub fn from_toml(text: &str, origin: &str, base_dir: PathBuf) -> Result<JobFile, ClientError> {
        let mut job: JobFile = toml::from_str(text)
            .map_err(|e| ClientError::Invalid(format!("job spec {origin}: {e}")))?;
        job.base_dir = base_dir;
        Ok(job)
    }

    /// A job file's fields as JSON (what the Python package sends from a
    /// dict); local inputs are relative to `base_dir`.
    pub fn from_json(json: &str, base_dir: PathBuf) -> Result<JobFile, ClientError> {
        let mut job: JobFile = serde_json::from_str(json)
            .map_err(|e| ClientError::Invalid(format!("job spec: {e}")))?;
        job.base_dir = base_dir;
        Ok(job)
    }

    /// A job told on a command line rather than in a file (`gpunet job run
    /// --image IMG -- CMD ARGS`): a file's defaults, local inputs relative to
    /// `base_dir`, the whole timeout's cost as deposit.
    pub fn from_command(
        image: String,
        command: Vec<String>,
        timeout_secs: u64,
        max_per_hour: String,
        base_dir: PathBuf,
    ) -> JobFile {
        let name = command
            .first()
            .and_then(|program| Path::new(program).file_name())
            .map_or_else(|| "job".to_string(), |n| n.to_string_lossy().into_owned());
        JobFile {
            name,
            image,
            command,
            env: BTreeMap::new(),
            secrets: BTreeMap::new(),
            timeout_secs,
            region: None,
            network: false,
            audit_bps: 0,
            min_reliability_bps: 0,
            placement: Placement::default(),
            ports: Vec::new(),
            max_attempts: 1,
            on_exit: OnExit::End,
            workspace: None,
            save_on_end: false,
            resources: ResourcesFile::default(),
            inputs: Vec::new(),
            serve_inputs: false,
            price: PriceFile {
                max_per_hour,
                deposit: None,
            },
            base_dir,
        }
    }

    /// Adds `source` (relative to the job's directory) as an input: a file
    /// under its own name, or every file under a directory by its path
    /// within it, as the job sees them under `$GPUNET_INPUT_DIR`.
    pub fn add_local_input(&mut self, source: &Path) -> Result<(), ClientError> {
        let given = self.base_dir.join(source);
        let unreadable =
            |e: std::io::Error| ClientError::Invalid(format!("input {}: {e}", given.display()));
        // Absolute, as every source is kept: joined to the job's directory
        // again, an absolute path stays itself.
        let full = std::fs::canonicalize(&given).map_err(unreadable)?;
        if !full.is_dir() {
            let name = full.file_name().ok_or_else(|| {
                ClientError::Invalid(format!("input {} names no file", full.display()))
            })?;
            self.inputs.push(InputFile {
                path: name.to_string_lossy().into_owned(),
                source: Some(full.clone()),
                from_order: None,
                from_output: None,
            });
            return Ok(());
        }
        let mut pending = vec![full.clone()];
        let mut files = Vec::new();
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).map_err(unreadable)? {
                let path = entry.map_err(unreadable)?.path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        // In a stable order: the spec (and so its hash) does not depend on the directory listing's.
        files.sort();
        for path in files {
            let within = path.strip_prefix(&full).unwrap_or(&path);
            self.inputs.push(InputFile {
                path: within.to_string_lossy().into_owned(),
                source: Some(path.clone()),
                from_order: None,
                from_output: None,
            });
        }
        Ok(())
    }

    /// Makes `order` the earlier order of every input that names a file of
    /// a result (`from_output`) but not whose (`from_order`): a chained job's
    /// file says what it reads, the command line which run made it.
    pub fn set_inputs_from(&mut self, order: OrderId) -> Result<(), ClientError> {
        let mut set = 0;
        for input in &mut self.inputs {
            if input.from_output.is_some() && input.from_order.is_none() {
                input.from_order = Some(order);
                set += 1;
            }
        }
        if set == 0 {
            return Err(ClientError::Invalid(format!(
                "job {:?}: no input names a file of an earlier result without its order \
                 (`from_output` without `from_order`), so there is nothing to read from order {order}",
                self.name
            )));
        }
        Ok(())
    }

    /// The values of the job's secrets, read from where `[secrets]` says
    /// (the environment, files relative to the job file).
    pub fn secret_values(&self) -> Result<SecretValues, ClientError> {
        let mut vars = Vec::new();
        for (name, source) in &self.secrets {
            let value = match source {
                SecretSource::Value(value) => value.clone(),
                SecretSource::Env { env } => std::env::var(env).map_err(|_| {
                    ClientError::Invalid(format!(
                        "secret {name}: the environment variable {env} is not set (or not UTF-8)"
                    ))
                })?,
                SecretSource::File { file } => {
                    let path = self.base_dir.join(file);
                    let text = std::fs::read_to_string(&path).map_err(|e| {
                        ClientError::Invalid(format!("secret {name}: {}: {e}", path.display()))
                    })?;
                    text.strip_suffix('\n').unwrap_or(&text).to_string()
                }
            };
            vars.push((name.clone(), value));
        }
        SecretValues::new(vars)
    }

    /// Checks that every input says where it comes from (a local file, or
    /// an earlier order's result), before anything is read or sent.
    pub fn check_inputs(&self) -> Result<(), ClientError> {
        for input in &self.inputs {
            self.origin(input)
                .map_err(|e| ClientError::Invalid(format!("job {:?}: {e}", self.name)))?;
        }
        Ok(())
    }

    /// The local file `input` comes from (joined to the job's directory),
    /// when it names one.
    pub fn local_source(&self, input: &InputFile) -> Option<PathBuf> {
        match self.origin(input) {
            Ok(InputOrigin::Local(file)) => Some(file),
            _ => None,
        }
    }

    fn origin<'a>(&self, input: &'a InputFile) -> Result<InputOrigin<'a>, UnclearOrigin> {
        match (&input.source, input.from_order, &input.from_output) {
            (Some(source), None, None) => Ok(InputOrigin::Local(self.base_dir.join(source))),
            (None, Some(order), Some(path)) => Ok(InputOrigin::Result { order, path }),
            _ => Err(UnclearOrigin {
                input: input.path.clone(),
            }),
        }
    }

    /// Checks the spec and builds its on-chain form for `wallet`'s account:
    /// local inputs are hashed, earlier results' files looked up on the
    /// node, each named with the proof that the account holds it; an image
    /// pushed from here (`gpunet image push`, kept in
    /// [`ImageStore::default_dir`]) is named by its id and archive, with the
    /// same proof.
    pub async fn prepare(&self, wallet: &Wallet) -> Result<PreparedJob, ClientError> {
        let invalid = |m: String| ClientError::Invalid(format!("job {:?}: {m}", self.name));
        let mut inputs = Vec::new();
        let mut local_inputs = Vec::new();
        for input in &self.inputs {
            let (hash, size, source) =
                match self.origin(input).map_err(|e| invalid(e.to_string()))? {
                    InputOrigin::Local(source) => {
                        let (hash, secret, size) = BlobHasher::of_file(&source)
                            .map_err(|e| invalid(format!("input {}: {e}", source.display())))?;
                        local_inputs.push(LocalInput { source, hash, size });
                        let holder_proof = secret.proof_for(&wallet.address());
                        (hash, size, InputSource::Held { holder_proof })
                    }
                    InputOrigin::Result { order, path } => {
                        let earlier = wallet.node().order(order).await?;
                        // The manifest is on the nodes either way.
                        let file = output_entry(wallet, &earlier, path).await?;
                        let kept_by_provider =
                            earlier.report.as_ref().and_then(|r| r.files_held_by())
                                == Some(OutputHolder::Provider);
                        let source = if kept_by_provider {
                            // Fetched from that provider by this job's.
                            InputSource::KeptResult { order }
                        } else {
                            let read = wallet.blob_read(order).await?;
                            let proof = wallet.node().holder_proof(&file.hash, &read).await?;
                            InputSource::Held {
                                holder_proof: proof.proof,
                            }
                        };
                        (file.hash, file.size, source)
                    }
                };
            inputs.push(InputRef {
                path: input.path.clone(),
                hash,
                size,
                source,
            });
        }
        let workspace = match self.workspace {
            Some(root) => Some(saved_workspace(wallet, root).await?),
            None => None,
        };
        let mut prepared = self.resolved(inputs, workspace)?;
        prepared.local_inputs = local_inputs;
        let images = ImageStore::at(&ImageStore::default_dir());
        if let Some(pushed) = images.find(&self.image)? {
            prepared.spec.image_blob = Some(images.blob_for(&pushed, &wallet.address())?);
            prepared.spec.image = pushed.image_id;
        }
        Ok(prepared)
    }

    /// The on-chain form of this job with `inputs` and its `workspace`
    /// already resolved: the spec, its price and its deposit (checked to
    /// cover every run), without touching files or the network.
    pub fn resolved(
        &self,
        inputs: Vec<InputRef>,
        workspace: Option<WorkspaceRef>,
    ) -> Result<PreparedJob, ClientError> {
        let invalid = |m: String| ClientError::Invalid(format!("job {:?}: {m}", self.name));
        let max_price_per_hour =
            parse_amount(&self.price.max_per_hour).map_err(|e| invalid(e.to_string()))?;
        let spec = JobSpec {
            name: self.name.clone(),
            image: self.image.clone(),
            image_blob: None,
            command: self.command.clone(),
            env: self.env.clone().into_iter().collect(),
            resources: Resources {
                cpu_cores: self.resources.cpu,
                memory_mb: self.resources.memory_mb,
                disk_mb: self.resources.disk_mb,
                gpu: self.resources.gpu.clone(),
                shm_mb: self.resources.shm_mb,
                ulimits: self.resources.ulimits,
            },
            inputs,
            timeout_secs: self.timeout_secs,
            region: self.region.clone(),
            network: self.network,
            audit_bps: self.audit_bps,
            min_reliability_bps: self.min_reliability_bps,
            placement: self.placement,
            ports: self.ports.clone(),
            max_attempts: self.max_attempts,
            secrets: self.secrets.keys().cloned().collect(),
            on_exit: self.on_exit,
            workspace,
            save_on_end: self.save_on_end,
        };
        let full_cost = gpunet_types::min_deposit(max_price_per_hour, &spec)
            .map_err(|e| invalid(format!("price: {e}")))?;
        let deposit = match &self.price.deposit {
            Some(d) => parse_amount(d).map_err(|e| invalid(e.to_string()))?,
            None => full_cost,
        };
        if deposit < full_cost {
            return Err(invalid(format!(
                "deposit {} GPN does not cover max_per_hour for the whole timeout, for each possible run ({} GPN)",
                gpunet_primitives::format_amount(deposit),
                gpunet_primitives::format_amount(full_cost)
            )));
        }
        Ok(PreparedJob {
            spec,
            max_price_per_hour,
            deposit,
            local_inputs: Vec::new(),
        })
    }

    /// Sets the workspace a run starts with: the root a saved rental printed.
    pub fn set_workspace(&mut self, root: Hash) {
        self.workspace = Some(root);
    }

    /// Makes the local inputs of `prepared` readable by the job's provider:
    /// recorded for this machine's `gpunet serve` when the job serves its
    /// inputs (whose peer must be announced), else uploaded to the node's
    /// blob store as `wallet`'s account (the node verifies each hash).
    pub async fn place_inputs(
        &self,
        wallet: &Wallet,
        prepared: &PreparedJob,
    ) -> Result<PlacedInputs, ClientError> {
        if !self.serve_inputs {
            for input in &prepared.local_inputs {
                wallet.put_blob_file(&input.source, input.hash).await?;
            }
            return Ok(PlacedInputs::Uploaded);
        }
        if prepared.local_inputs.is_empty() {
            return Ok(PlacedInputs::Uploaded);
        }
        if wallet.node().peer(&wallet.address()).await?.is_none() {
            return Err(ClientError::Invalid(format!(
                "job {:?} serves its inputs, but {} announces no peer to serve them from: \
                 start `gpunet serve` first (and keep it running until the job ran)",
                self.name,
                wallet.address()
            )));
        }
        let served = ServedInputs::open(&ServedInputs::default_dir())?;
        let files: Vec<_> = prepared
            .local_inputs
            .iter()
            .map(|i| (i.source.clone(), i.hash, i.size))
            .collect();
        served.record(&files)?;
        Ok(PlacedInputs::Served {
            served,
            hashes: prepared.local_inputs.iter().map(|i| i.hash).collect(),
        })
    }
}

/// Where a submitted job's local inputs went ([`JobFile::place_inputs`]).
pub enum PlacedInputs {
    /// To the node's blob store (or there were none).
    Uploaded,
    /// Into this machine's record of served inputs, which is told the
    /// orders once they exist.
    Served {
        /// The record.
        served: ServedInputs,
        /// The inputs' hashes.
        hashes: Vec<Hash>,
    },
}

impl PlacedInputs {
    /// Notes that `orders` were placed with these inputs.
    pub fn named_by(&self, orders: &[OrderId]) -> Result<(), ClientError> {
        match self {
            PlacedInputs::Uploaded => Ok(()),
            PlacedInputs::Served { served, hashes } => served.named_by(hashes, orders),
        }
    }
}

/// The rental of `wallet`'s account that saved the workspace `root`,
/// looked for among its orders, newest first.
async fn saved_workspace(wallet: &Wallet, root: Hash) -> Result<WorkspaceRef, ClientError> {
    let node = wallet.node();
    let mut page = OrdersPage {
        before: None,
        limit: Some(MAX_ORDERS_PAGE),
    };
    loop {
        let orders = node.orders_of(&wallet.address(), &page).await?;
        if let Some(saved) = orders
            .iter()
            .find(|o| o.workspace.as_ref().and_then(|w| w.saved()).map(|(r, _)| r) == Some(root))
        {
            return Ok(WorkspaceRef {
                order: saved.id,
                root,
            });
        }
        match orders.last() {
            Some(oldest) if orders.len() == MAX_ORDERS_PAGE => page.before = Some(oldest.id),
            _ => {
                return Err(ClientError::Invalid(format!(
                    "no rental of {} saved the workspace {root}: use the root that \
                     `gpunet rent end ID --save` printed (`gpunet job describe ID` shows it)",
                    wallet.address()
                )))
            }
        }
    }
}
