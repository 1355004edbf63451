//! Executors run one job with its inputs, outputs, limits and a hard time limit.
//!
//! Two implementations sit behind the [`Executor`] trait, chosen by the
//! provider's configuration and reported in the machine's registration:
//! - [`DockerExecutor`]: a sandboxed container through the Docker Engine API
//!   (read-only root, no network unless asked, CPU/memory/PID limits, GPUs by
//!   device request);
//! - [`ProcessExecutor`]: a local process in its own process group, for machines
//!   without Docker. It enforces the time and disk limits but is not a sandbox.
//!
//! Both stop a run that writes more than its disk limit (`disk.rs`).

mod disk;
mod docker;
mod port;
mod process;

pub use docker::{DockerConfig, DockerExecutor, BUSYBOX_IMAGE};
pub use process::{group_alive, kill_group, ProcessExecutor, JOB_PATH};

use gpunet_primitives::Ulimits;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Which executor a provider runs jobs with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorKind {
    /// Plain processes in their own process groups ([`ProcessExecutor`]).
    #[default]
    Process,
    /// Sandboxed containers of the local engine ([`DockerExecutor`]).
    Docker,
}

impl std::str::FromStr for ExecutorKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "process" => Ok(ExecutorKind::Process),
            "docker" => Ok(ExecutorKind::Docker),
            other => Err(format!(
                "unknown executor {other:?} (expected \"process\" or \"docker\")"
            )),
        }
    }
}

impl ExecutorKind {
    /// Builds the executor; Docker's connects to the local engine.
    pub async fn connect(self) -> Result<Arc<dyn Executor>, ExecError> {
        Ok(match self {
            ExecutorKind::Process => Arc::new(ProcessExecutor),
            ExecutorKind::Docker => {
                Arc::new(DockerExecutor::connect(DockerConfig::default()).await?)
            }
        })
    }
}

/// Everything an executor needs to run one job.
#[derive(Clone, Debug)]
pub struct JobRun {
    /// Unique name of this run; the Docker executor names its container and
    /// scratch volume after it, so a restarted agent can find them.
    pub name: String,
    /// Container image (tag or `name@sha256:digest`); the process executor ignores it.
    pub image: String,
    /// Program and arguments.
    pub command: Vec<String>,
    /// Its environment, secrets included (never logged).
    pub env: Vec<(String, String)>,
    /// Files the job reads; mounted read-only in a container.
    pub inputs: PathBuf,
    /// Where the job writes its results.
    pub outputs: PathBuf,
    /// The job's working directory (a container sees it as `/gpunet/work`).
    pub scratch: PathBuf,
    /// Where its standard output is written.
    pub stdout: PathBuf,
    /// Where its standard error is written.
    pub stderr: PathBuf,
    /// Longest it may run; stopped then ([`TIMEOUT_EXIT_CODE`]).
    pub timeout: Duration,
    /// What it may use.
    pub limits: Limits,
    /// Whether the job may use the network (containers have none otherwise).
    pub network: bool,
    /// UUIDs of the GPUs of this job's lease; the job sees exactly these.
    pub gpus: Vec<String>,
    /// Ports the run exposes (a rental's); see [`Executor::published_ports`].
    pub ports: Vec<u16>,
    /// Whether it is a job or a rental, which the executor sandboxes and
    /// logs differently.
    pub kind: RunKind,
    /// Its workspace: a rental's, kept across container and agent restarts
    /// until the rental ends, or the saved one a job starts with. A
    /// container mounts it at `/workspace`, its working directory; the
    /// process executor starts the run in it. Most jobs have none.
    pub workspace: Option<PathBuf>,
    /// Secret environment variables (the spec's `secrets`, opened from what
    /// its client sealed to this provider): set as `env` is, never shown.
    pub secrets: SecretVars,
}

/// What a run is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunKind {
    /// A job: a read-only root and no capabilities; its logs are part of
    /// its result.
    Job,
    /// A rental: a machine to work on, whose root its renter may write
    /// (within its disk limit) with the capabilities installing packages
    /// takes.
    Rental,
}

impl JobRun {
    /// How the run's logs are opened. A rental's are appended to: its
    /// container may be started again (`OnExit::Restart`) and its renter
    /// follows one log across its starts. A job's logs are part of its
    /// result and start empty.
    pub(crate) fn log_options(&self) -> std::fs::OpenOptions {
        let mut options = std::fs::OpenOptions::new();
        options.create(true);
        match self.kind {
            RunKind::Rental => options.append(true),
            RunKind::Job => options.write(true).truncate(true),
        };
        options
    }
}

/// NAME and VALUE of a run's secret variables. Its `Debug` lists the names
/// only, so no log line that shows a run shows a secret.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretVars(pub Vec<(String, String)>);

impl std::fmt::Debug for SecretVars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, _)| name))
            .finish()
    }
}

/// Resource limits of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// CPU cores (a CPU quota in a container).
    pub cpu_cores: u32,
    /// Memory, in MiB.
    pub memory_mb: u64,
    /// Most MiB the run may write (working directory, outputs and logs
    /// together); 0: no limit.
    pub disk_mb: u64,
    /// Size of `/dev/shm` in MiB; 0: the executor's default.
    pub shm_mb: u64,
    /// Process limits beyond the executor's defaults (Docker only: the
    /// process executor runs jobs under the agent's own).
    pub ulimits: Ulimits,
}

/// The environment variable that tells a job where its inputs are.
pub const INPUT_DIR_VAR: &str = "GPUNET_INPUT_DIR";
/// The environment variable that tells a job where to write its outputs.
pub const OUTPUT_DIR_VAR: &str = "GPUNET_OUTPUT_DIR";

/// How a job ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecOutcome {
    /// Its program's exit code ([`TIMEOUT_EXIT_CODE`] when cut at its timeout).
    pub exit_code: i32,
    /// Why the run was cut short, if it was.
    pub stopped: Option<Stop>,
    /// How long it ran, by this machine's clock.
    pub duration_ms: u64,
}

pub use gpunet_primitives::Stop;

/// Exit code reported for a job killed at its timeout (as `timeout(1)` does).
pub const TIMEOUT_EXIT_CODE: i32 = 124;

/// Why an executor could not run, reach or clean up a run.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The job's program could not be started (the job's fault).
    #[error("cannot start {program:?}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// The job's image is not in this machine's engine (the job's fault).
    #[error("image {image:?} is not available: {reason}")]
    Image {
        /// The image the spec names.
        image: String,
        /// What the engine said.
        reason: String,
    },
    /// The Docker engine refused or failed.
    #[error("Docker engine: {0}")]
    Docker(String),
    /// The run is not up (not started yet, or gone).
    #[error("the rental's container is not running")]
    NotRunning,
    /// A renter's connection found no server on this port in its rental.
    #[error("nothing listens on port {0} in the rental")]
    NothingListening(u16),
    /// What this executor cannot do (a terminal without Docker).
    #[error("{0}")]
    Unsupported(&'static str),
    /// Files or processes on this machine.
    #[error("executor I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl ExecError {
    /// Whether the job itself could not start (bad command or image), as
    /// opposed to a fault of the provider's machine.
    pub fn is_job_error(&self) -> bool {
        matches!(self, ExecError::Spawn { .. } | ExecError::Image { .. })
    }
}

/// What an executor's methods return: boxed, so that [`Executor`] is a
/// trait object the agent holds whichever engine runs its jobs.
pub type ExecFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ExecError>> + Send + 'a>>;

/// Called once with the run's handle as soon as it exists, so the agent can
/// journal it and [`Executor::cleanup`] it after a crash.
pub type Started<'a> = Box<dyn FnOnce(String) + Send + 'a>;

/// Runs jobs and rentals on this machine: in Docker containers
/// ([`DockerExecutor`]) or as plain processes
/// ([`ProcessExecutor`]).
pub trait Executor: Send + Sync {
    /// Name reported in the machine's registration ("process", "docker").
    fn name(&self) -> &'static str;
    /// Runs `job` to its end (or its timeout) and cleans up after it.
    fn run<'a>(&'a self, job: &'a JobRun, started: Started<'a>) -> ExecFuture<'a, ExecOutcome>;
    /// Stops and removes whatever a run with this handle left behind (after an
    /// agent crash). Removing nothing is not an error.
    fn cleanup<'a>(&'a self, handle: &'a str) -> ExecFuture<'a, ()>;
    /// The host port each of `run.ports` is reachable on while the run is up,
    /// in the same order; `None` while they are not published yet.
    fn published_ports<'a>(&'a self, run: &'a JobRun) -> ExecFuture<'a, Option<Vec<u16>>>;
    /// Starts `command` beside `run` while it is up (a renter's `rent exec`
    /// or shell): in its container, with its environment and limits.
    fn exec<'a>(&'a self, run: &'a JobRun, command: ExecCommand) -> ExecFuture<'a, ExecSession>;
    /// Connects to `port` on `run`'s own loopback while it is up (a
    /// renter's `rent forward`): the session's output is what the port
    /// sends, its input what it receives, its exit code 0 once it closed.
    fn connect_port<'a>(&'a self, run: &'a JobRun, port: u16) -> ExecFuture<'a, ExecSession>;
    /// Whether a run of `image` (a name or an id) can start without
    /// loading it: its engine has it, or the executor runs no images.
    fn has_image<'a>(&'a self, image: &'a str) -> ExecFuture<'a, bool>;
    /// Loads the image archive (`docker save`'s) that `archive` reads.
    fn load_image(&self, archive: ImageArchive) -> ExecFuture<'_, ()>;
    /// Removes `image` (an id) from the engine; one a container still uses
    /// stays. Removing nothing is not an error.
    fn remove_image<'a>(&'a self, image: &'a str) -> ExecFuture<'a, ()>;
}

/// An image archive being read, for [`Executor::load_image`].
pub type ImageArchive = Pin<Box<dyn tokio::io::AsyncRead + Send>>;

/// A command run beside a running run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecCommand {
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// A pseudo-terminal for it, or plain pipes.
    pub terminal: Option<Tty>,
}

/// A pseudo-terminal's `TERM` and size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tty {
    /// `TERM`, as the renter's terminal has it.
    pub term: String,
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
}

/// What a command beside a run writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecOutput {
    /// To its standard output, or its terminal.
    Stdout(Vec<u8>),
    /// To its standard error (not with a terminal).
    Stderr(Vec<u8>),
}

/// A command started by [`Executor::exec`], or a connection
/// [`Executor::connect_port`] made.
pub struct ExecSession {
    /// What it writes, until it ends.
    pub output: Pin<Box<dyn futures_util::Stream<Item = Result<ExecOutput, ExecError>> + Send>>,
    /// Its standard input (its terminal's, with one); shut down to close it.
    pub input: Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
    /// Resizes its terminal and tells its exit code.
    pub control: Box<dyn ExecControl>,
}

/// The control side of an [`ExecSession`].
pub trait ExecControl: Send + Sync {
    /// Resizes its terminal (nothing without one).
    fn resize(&self, cols: u16, rows: u16) -> ExecFuture<'_, ()>;
    /// Its exit code, once its output has ended.
    fn exit_code(&mut self) -> ExecFuture<'_, i32>;
}

/// A `sh -c script` run laid out under `dir` the way the agent lays out a job.
#[cfg(test)]
pub(crate) fn test_job(dir: &std::path::Path, script: &str, timeout_ms: u64) -> JobRun {
    let (inputs, outputs, scratch) = (dir.join("inputs"), dir.join("outputs"), dir.join("work"));
    for d in [&inputs, &outputs, &scratch] {
        std::fs::create_dir_all(d).unwrap();
    }
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    JobRun {
        name: format!("gpunet-test-{}-{run}", std::process::id()),
        image: BUSYBOX_IMAGE.into(),
        command: vec!["sh".into(), "-c".into(), script.into()],
        env: vec![("GREETING".into(), "hi".into())],
        inputs,
        outputs,
        scratch,
        stdout: dir.join("stdout.log"),
        stderr: dir.join("stderr.log"),
        timeout: Duration::from_millis(timeout_ms),
        limits: Limits {
            cpu_cores: 1,
            memory_mb: 64,
            disk_mb: 0,
            shm_mb: 0,
            ulimits: Ulimits::default(),
        },
        network: false,
        gpus: vec![],
        ports: vec![],
        kind: RunKind::Job,
        workspace: None,
        secrets: SecretVars::default(),
    }
}
