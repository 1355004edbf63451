//! The Docker executor: each job in its own container through the Docker Engine
//! API (bollard).
//!
//! The sandbox of a run:
//! - the image's root filesystem read-only; `/tmp` a tmpfs private to the run;
//! - `/gpunet/inputs` bound read-only, `/gpunet/outputs` and `/gpunet/work`
//!   (the working directory) bound writable, all three the run's own
//!   directories; no other host path is mounted;
//! - no network unless the job asks for it;
//! - memory (no swap), CPU and PID limits; all capabilities dropped and
//!   `no-new-privileges`; the disk limit by measurement (`disk.rs`);
//! - `/dev/shm` and process limits (ulimits) as the job asks, within its memory;
//! - exactly the lease's GPUs, by NVIDIA device request.
//!
//! Logs are attached before the container starts and streamed to the run's log
//! files (the engine keeps no copy: log driver `none`). The container is named
//! after the run, so [`Executor::cleanup`] finds it after a crash.

use super::{
    disk, ExecCommand, ExecControl, ExecError, ExecFuture, ExecOutcome, ExecOutput, ExecSession,
    Executor, JobRun, RunKind, Started, Stop, INPUT_DIR_VAR, OUTPUT_DIR_VAR, TIMEOUT_EXIT_CODE,
};
use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::{
    ContainerCreateBody, DeviceRequest, ExecConfig, HostConfig, HostConfigLogConfig, Mount,
    MountType, PortBinding, PortMap, ResourcesUlimits,
};
use bollard::query_parameters::{
    AttachContainerOptions, CreateContainerOptions, CreateImageOptions, ImportImageOptions,
    InspectContainerOptions, KillContainerOptions, RemoveContainerOptions, RemoveImageOptions,
    ResizeExecOptions, WaitContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;
use gpunet_primitives::Ulimits;
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;
use tokio::io::AsyncWriteExt;

/// The image `scripts/busybox-image.sh` builds from Debian's busybox-static;
/// tests and the devnet run jobs in it.
pub const BUSYBOX_IMAGE: &str = "gpunet/busybox:latest";

const INPUTS_MOUNT: &str = "/gpunet/inputs";
const OUTPUTS_MOUNT: &str = "/gpunet/outputs";
const WORK_MOUNT: &str = "/gpunet/work";
/// Where a rental's workspace is mounted, and where its sessions start.
const WORKSPACE_MOUNT: &str = "/workspace";

/// What a rental's root user may do: own, and run as, other users (package
/// managers drop privileges; sshd separates them and chroots), signal its
/// processes and bind low ports. Docker's defaults, less raw sockets and
/// device nodes.
const RENTAL_CAPABILITIES: [&str; 9] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
];
const RUN_LABEL: &str = "org.gpunet.run";

/// Limits every container gets, whatever the job asks.
#[derive(Clone, Debug)]
pub struct DockerConfig {
    /// Most processes (and threads) a job may have at once.
    pub pids_limit: i64,
}

impl Default for DockerConfig {
    fn default() -> Self {
        DockerConfig { pids_limit: 1024 }
    }
}

/// Runs each job and rental in a sandboxed container of the local Docker
/// engine (no network unless asked, read-only root for jobs, limits from
/// the spec).
pub struct DockerExecutor {
    docker: Docker,
    config: DockerConfig,
}

fn engine(e: DockerError) -> ExecError {
    ExecError::Docker(e.to_string())
}

fn is_not_found(e: &DockerError) -> bool {
    matches!(
        e,
        DockerError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// The engine's answer to killing a container that has already stopped.
fn is_not_running(e: &DockerError) -> bool {
    matches!(
        e,
        DockerError::DockerResponseServerError {
            status_code: 409,
            ..
        }
    )
}

impl DockerExecutor {
    /// Connects to the local engine (`DOCKER_HOST` or the default socket) and
    /// agrees on an API version with it.
    pub async fn connect(config: DockerConfig) -> Result<DockerExecutor, ExecError> {
        let docker = Docker::connect_with_local_defaults()
            .map_err(engine)?
            .negotiate_version()
            .await
            .map_err(|e| ExecError::Docker(format!("cannot reach the engine: {e}")))?;
        docker
            .ping()
            .await
            .map_err(|e| ExecError::Docker(format!("cannot reach the engine: {e}")))?;
        Ok(DockerExecutor { docker, config })
    }

    /// Saves `image` as `docker save` does into `to`, and returns the id it
    /// loads as (`gpunet image push`).
    pub async fn save_image(
        &self,
        image: &str,
        to: &mut (impl tokio::io::AsyncWrite + Unpin),
    ) -> Result<String, ExecError> {
        let missing = |e: DockerError| match e {
            e if is_not_found(&e) => ExecError::Image {
                image: image.to_string(),
                reason: "the engine has no such image".into(),
            },
            e => engine(e),
        };
        let id = self
            .docker
            .inspect_image(image)
            .await
            .map_err(missing)?
            .id
            .ok_or_else(|| ExecError::Docker(format!("the engine gave {image:?} no id")))?;
        // By id: a tag moved meanwhile cannot change what is saved.
        let mut archive = std::pin::pin!(self.docker.export_image(&id));
        while let Some(chunk) = archive.next().await {
            to.write_all(&chunk.map_err(engine)?).await?;
        }
        to.flush().await?;
        Ok(id)
    }

    /// Makes `image` available locally, pulling it if the engine lacks it.
    async fn ensure_image(&self, image: &str) -> Result<(), ExecError> {
        match self.docker.inspect_image(image).await {
            Ok(_) => return Ok(()),
            Err(e) if !is_not_found(&e) => return Err(engine(e)),
            Err(_) => {}
        }
        let options = CreateImageOptions {
            from_image: Some(image.to_string()),
            ..Default::default()
        };
        let mut pull = self.docker.create_image(Some(options), None, None);
        while let Some(progress) = pull.next().await {
            progress.map_err(|e| ExecError::Image {
                image: image.to_string(),
                reason: e.to_string(),
            })?;
        }
        Ok(())
    }
}

/// The container a run gets: its sandbox, limits, mounts and GPUs.
fn container_body(job: &JobRun, config: &DockerConfig) -> ContainerCreateBody {
    let mib = |mb: u64| i64::try_from(mb.saturating_mul(1 << 20)).unwrap_or(i64::MAX);
    let bind = |source: &Path, target: &str, read_only: bool| Mount {
        typ: Some(MountType::BIND),
        source: Some(source.display().to_string()),
        target: Some(target.to_string()),
        read_only: Some(read_only),
        ..Default::default()
    };
    let mut mounts = vec![
        bind(&job.inputs, INPUTS_MOUNT, true),
        bind(&job.outputs, OUTPUTS_MOUNT, false),
        bind(&job.scratch, WORK_MOUNT, false),
    ];
    mounts.extend(
        job.workspace
            .as_ref()
            .map(|workspace| bind(workspace, WORKSPACE_MOUNT, false)),
    );
    let device_requests = (!job.gpus.is_empty()).then(|| {
        vec![DeviceRequest {
            driver: Some("nvidia".into()),
            device_ids: Some(job.gpus.clone()),
            capabilities: Some(vec![vec!["gpu".into()]]),
            ..Default::default()
        }]
    });
    // Each exposed port is published on a free host port (see `published_ports`).
    let port_bindings: PortMap = job
        .ports
        .iter()
        .map(|p| {
            let binding = PortBinding {
                host_ip: None,
                host_port: Some(String::new()),
            };
            (format!("{p}/tcp"), Some(vec![binding]))
        })
        .collect();
    let mut env: Vec<String> = job
        .env
        .iter()
        .chain(&job.secrets.0)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    env.push(format!("{INPUT_DIR_VAR}={INPUTS_MOUNT}"));
    env.push(format!("{OUTPUT_DIR_VAR}={OUTPUTS_MOUNT}"));
    ContainerCreateBody {
        image: Some(job.image.clone()),
        cmd: (!job.command.is_empty()).then(|| job.command.clone()),
        env: Some(env),
        working_dir: Some(
            match job.workspace {
                Some(_) => WORKSPACE_MOUNT,
                None => WORK_MOUNT,
            }
            .to_string(),
        ),
        labels: Some(HashMap::from([(RUN_LABEL.to_string(), job.name.clone())])),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        network_disabled: Some(!job.network),
        exposed_ports: (!job.ports.is_empty())
            .then(|| job.ports.iter().map(|p| format!("{p}/tcp")).collect()),
        host_config: Some(HostConfig {
            memory: Some(mib(job.limits.memory_mb)),
            memory_swap: Some(mib(job.limits.memory_mb)),
            nano_cpus: Some(i64::from(job.limits.cpu_cores.max(1)) * 1_000_000_000),
            pids_limit: Some(config.pids_limit),
            // A rental is a machine to work on: its root may install
            // packages (within its disk limit, see `disk`), as its root user
            // may with the capabilities that takes; a job's root is read-only
            // and its user has none.
            readonly_rootfs: Some(job.kind == RunKind::Job),
            network_mode: Some(if job.network { "bridge" } else { "none" }.into()),
            cap_drop: Some(vec!["ALL".into()]),
            cap_add: (job.kind == RunKind::Rental)
                .then(|| RENTAL_CAPABILITIES.map(String::from).to_vec()),
            security_opt: Some(vec!["no-new-privileges".into()]),
            mounts: Some(mounts),
            tmpfs: Some(HashMap::from([(
                "/tmp".to_string(),
                format!("rw,nosuid,nodev,size={}m", job.limits.memory_mb.max(1)),
            )])),
            log_config: Some(HostConfigLogConfig {
                typ: Some("none".into()),
                config: None,
            }),
            device_requests,
            shm_size: (job.limits.shm_mb > 0).then(|| mib(job.limits.shm_mb)),
            ulimits: ulimits(&job.limits.ulimits),
            port_bindings: (!job.ports.is_empty()).then_some(port_bindings),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The engine's ulimits for the ones a job asks for (soft and hard alike);
/// `None` when it asks for none.
fn ulimits(asked: &Ulimits) -> Option<Vec<ResourcesUlimits>> {
    let bytes = |mb: u64| mb.saturating_mul(1 << 20);
    let limits: Vec<ResourcesUlimits> = [
        ("nofile", asked.nofile),
        ("memlock", asked.memlock_mb.map(bytes)),
        ("stack", asked.stack_mb.map(bytes)),
    ]
    .into_iter()
    .filter_map(|(name, value)| {
        let value = i64::try_from(value?).unwrap_or(i64::MAX);
        Some(ResourcesUlimits {
            name: Some(name.into()),
            soft: Some(value),
            hard: Some(value),
        })
    })
    .collect();
    (!limits.is_empty()).then_some(limits)
}

impl DockerExecutor {
    /// Bytes a rental wrote to its container's root filesystem (0 for a
    /// job, whose root is read-only, or when the engine cannot tell).
    async fn root_layer_size(&self, job: &JobRun) -> u64 {
        if job.kind == RunKind::Job {
            return 0;
        }
        let options = InspectContainerOptions { size: true };
        match self
            .docker
            .inspect_container(&job.name, Some(options))
            .await
        {
            Ok(container) => container
                .size_rw
                .and_then(|bytes| u64::try_from(bytes).ok())
                .unwrap_or(0),
            Err(_) => 0,
        }
    }

    /// Creates the run's container, attaches its output and starts it.
    async fn run_container(&self, job: &JobRun) -> Result<ExecOutcome, ExecError> {
        self.ensure_image(&job.image).await?;
        // The job may run as any user of its image.
        for dir in [&job.outputs, &job.scratch]
            .into_iter()
            .chain(job.workspace.as_ref())
        {
            std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o777))?;
        }
        let options = CreateContainerOptions {
            name: Some(job.name.clone()),
            ..Default::default()
        };
        self.docker
            .create_container(Some(options), container_body(job, &self.config))
            .await
            .map_err(|e| match e {
                DockerError::DockerResponseServerError {
                    status_code: 400, ..
                } => ExecError::Spawn {
                    program: job.command.first().cloned().unwrap_or_default(),
                    source: std::io::Error::other(e.to_string()),
                },
                e => engine(e),
            })?;
        let attach = AttachContainerOptions {
            stream: true,
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let output = self
            .docker
            .attach_container(&job.name, Some(attach))
            .await
            .map_err(engine)?
            .output;
        let begin = Instant::now();
        self.docker
            .start_container(&job.name, None)
            .await
            .map_err(|e| ExecError::Spawn {
                program: job.command.first().cloned().unwrap_or_default(),
                source: std::io::Error::other(e.to_string()),
            })?;
        let copy_logs = copy_output(output, job);
        let wait = async {
            let stopped = tokio::select! {
                exited = self.wait(&job.name) => return exited.map(|()| None),
                () = tokio::time::sleep(job.timeout) => Stop::Timeout,
                () = disk::exceeded(job, || self.root_layer_size(job)) => Stop::Disk,
            };
            let kill = KillContainerOptions {
                signal: "SIGKILL".into(),
            };
            match self.docker.kill_container(&job.name, Some(kill)).await {
                Err(e) if !is_not_found(&e) && !is_not_running(&e) => return Err(engine(e)),
                _ => self.wait(&job.name).await?,
            }
            Ok::<_, ExecError>(Some(stopped))
        };
        let (logs, stopped) = tokio::join!(copy_logs, wait);
        let stopped = stopped?;
        logs?;
        let duration_ms = begin.elapsed().as_millis() as u64;
        let state = self
            .docker
            .inspect_container(&job.name, None)
            .await
            .map_err(engine)?
            .state
            .unwrap_or_default();
        let stopped = stopped.or(state.oom_killed.unwrap_or(false).then_some(Stop::Memory));
        let exit_code = if stopped == Some(Stop::Timeout) {
            TIMEOUT_EXIT_CODE
        } else {
            state
                .exit_code
                .and_then(|c| i32::try_from(c).ok())
                .unwrap_or(-1)
        };
        Ok(ExecOutcome {
            exit_code,
            stopped,
            duration_ms,
        })
    }

    /// Waits until the container is no longer running.
    async fn wait(&self, name: &str) -> Result<(), ExecError> {
        let options = WaitContainerOptions {
            condition: "not-running".into(),
        };
        let mut waiting = self.docker.wait_container(name, Some(options));
        while let Some(status) = waiting.next().await {
            match status {
                // A non-zero exit arrives as this error; the code is read later.
                Ok(_) | Err(DockerError::DockerContainerWaitError { .. }) => {}
                Err(e) if is_not_found(&e) => return Ok(()),
                Err(e) => return Err(engine(e)),
            }
        }
        Ok(())
    }

    async fn remove(&self, name: &str) -> Result<(), ExecError> {
        let container = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match self.docker.remove_container(name, Some(container)).await {
            Err(e) if !is_not_found(&e) => Err(engine(e)),
            _ => Ok(()),
        }
    }
}

/// Streams the container's demultiplexed output into the two log files, each
/// piece written through as it comes, so live logs see it.
async fn copy_output(
    mut output: std::pin::Pin<
        Box<
            dyn futures_util::Stream<Item = Result<bollard::container::LogOutput, DockerError>>
                + Send,
        >,
    >,
    job: &JobRun,
) -> Result<(), ExecError> {
    use bollard::container::LogOutput;
    let open = tokio::fs::OpenOptions::from(job.log_options());
    let mut out = open.open(&job.stdout).await?;
    let mut err = open.open(&job.stderr).await?;
    while let Some(chunk) = output.next().await {
        let (file, message) = match chunk.map_err(engine)? {
            LogOutput::StdErr { message } => (&mut err, message),
            LogOutput::StdOut { message } | LogOutput::Console { message } => (&mut out, message),
            LogOutput::StdIn { .. } => continue,
        };
        file.write_all(&message).await?;
        file.flush().await?;
    }
    Ok(())
}

impl Executor for DockerExecutor {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn run<'a>(&'a self, job: &'a JobRun, started: Started<'a>) -> ExecFuture<'a, ExecOutcome> {
        Box::pin(async move {
            // Journaled before anything exists, so a crash at any later point
            // leaves a handle that finds what to clean up.
            started(job.name.clone());
            // A run of this name left over from a crash must not be reused.
            self.remove(&job.name).await?;
            let outcome = self.run_container(job).await;
            let removed = self.remove(&job.name).await;
            let outcome = outcome?;
            removed?;
            Ok(outcome)
        })
    }

    fn cleanup<'a>(&'a self, handle: &'a str) -> ExecFuture<'a, ()> {
        Box::pin(self.remove(handle))
    }

    fn published_ports<'a>(&'a self, run: &'a JobRun) -> ExecFuture<'a, Option<Vec<u16>>> {
        Box::pin(async move {
            let container = match self.docker.inspect_container(&run.name, None).await {
                Ok(c) => c,
                Err(e) if is_not_found(&e) => return Ok(None),
                Err(e) => return Err(engine(e)),
            };
            let published = container
                .network_settings
                .and_then(|n| n.ports)
                .unwrap_or_default();
            // The first binding of each port: one per address family, same port.
            let host_port = |port: &u16| {
                published
                    .get(&format!("{port}/tcp"))
                    .and_then(|b| b.as_ref()?.first()?.host_port.as_ref()?.parse().ok())
            };
            Ok(run.ports.iter().map(host_port).collect())
        })
    }

    /// From inside the container's network namespace, found through its
    /// main process (the agent runs on the engine's host, as root).
    fn connect_port<'a>(&'a self, run: &'a JobRun, port: u16) -> ExecFuture<'a, ExecSession> {
        Box::pin(async move {
            let container = match self.docker.inspect_container(&run.name, None).await {
                Ok(c) => c,
                Err(e) if is_not_found(&e) => return Err(ExecError::NotRunning),
                Err(e) => return Err(engine(e)),
            };
            let pid = container
                .state
                .filter(|state| state.running == Some(true))
                .and_then(|state| state.pid)
                .filter(|pid| *pid > 0)
                .ok_or(ExecError::NotRunning)?;
            super::port::connect_in_namespace_of(pid, port).await
        })
    }

    fn has_image<'a>(&'a self, image: &'a str) -> ExecFuture<'a, bool> {
        Box::pin(async move {
            match self.docker.inspect_image(image).await {
                Ok(_) => Ok(true),
                Err(e) if is_not_found(&e) => Ok(false),
                Err(e) => Err(engine(e)),
            }
        })
    }

    fn load_image(&self, archive: super::ImageArchive) -> ExecFuture<'_, ()> {
        Box::pin(async move {
            let body = tokio_util::io::ReaderStream::with_capacity(archive, 1 << 20);
            let options = ImportImageOptions {
                quiet: true,
                ..Default::default()
            };
            let mut loading = std::pin::pin!(self.docker.import_image_stream(options, body, None));
            while let Some(progress) = loading.next().await {
                let progress = progress.map_err(engine)?;
                if let Some(error) = progress.error_detail.and_then(|d| d.message) {
                    return Err(ExecError::Docker(format!("loading an image: {error}")));
                }
            }
            Ok(())
        })
    }

    fn remove_image<'a>(&'a self, image: &'a str) -> ExecFuture<'a, ()> {
        Box::pin(async move {
            match self
                .docker
                .remove_image(image, None::<RemoveImageOptions>, None)
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if is_not_found(&e) => Ok(()),
                Err(e) => Err(engine(e)),
            }
        })
    }

    /// `docker exec` in the run's container, with a terminal if asked.
    fn exec<'a>(&'a self, run: &'a JobRun, command: ExecCommand) -> ExecFuture<'a, ExecSession> {
        Box::pin(async move {
            let tty = command.terminal.as_ref();
            let config = ExecConfig {
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(tty.is_some()),
                env: tty.map(|t| vec![format!("TERM={}", t.term)]),
                console_size: tty.map(|t| vec![usize::from(t.rows), usize::from(t.cols)]),
                cmd: Some(command.argv.clone()),
                ..Default::default()
            };
            let created = match self.docker.create_exec(&run.name, config).await {
                Ok(created) => created,
                Err(e) if is_not_found(&e) || is_not_running(&e) => {
                    return Err(ExecError::NotRunning)
                }
                Err(e) => return Err(engine(e)),
            };
            let start = StartExecOptions {
                detach: false,
                tty: tty.is_some(),
                output_capacity: None,
            };
            let started = self
                .docker
                .start_exec(&created.id, Some(start))
                .await
                .map_err(engine)?;
            let StartExecResults::Attached { output, input } = started else {
                return Err(ExecError::Docker("the exec started detached".into()));
            };
            let output = output.filter_map(|item| {
                std::future::ready(match item {
                    Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                        Some(Ok(ExecOutput::Stdout(message.to_vec())))
                    }
                    Ok(LogOutput::StdErr { message }) => {
                        Some(Ok(ExecOutput::Stderr(message.to_vec())))
                    }
                    Ok(LogOutput::StdIn { .. }) => None,
                    Err(e) => Some(Err(engine(e))),
                })
            });
            Ok(ExecSession {
                output: Box::pin(output),
                input,
                control: Box::new(DockerExec {
                    docker: self.docker.clone(),
                    id: created.id,
                }),
            })
        })
    }
}

/// A command [`DockerExecutor::exec`] started.
struct DockerExec {
    docker: Docker,
    id: String,
}

impl ExecControl for DockerExec {
    fn resize(&self, cols: u16, rows: u16) -> ExecFuture<'_, ()> {
        Box::pin(async move {
            let size = ResizeExecOptions {
                h: i32::from(rows),
                w: i32::from(cols),
            };
            self.docker
                .resize_exec(&self.id, size)
                .await
                .map_err(engine)
        })
    }

    fn exit_code(&mut self) -> ExecFuture<'_, i32> {
        Box::pin(async move {
            // The engine may still be reaping the process when its output
            // ends: a few tries, then a plain failure.
            for _ in 0..100 {
                let inspected = self.docker.inspect_exec(&self.id).await.map_err(engine)?;
                if inspected.running != Some(true) {
                    if let Some(code) = inspected.exit_code {
                        return Ok(i32::try_from(code).unwrap_or(-1));
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(ExecError::Docker(format!("exec {} did not end", self.id)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::test_job;
    use crate::testing::{docker_or_skip, http_get};

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }

    async fn exists(docker: &DockerExecutor, name: &str) -> bool {
        docker.docker.inspect_container(name, None).await.is_ok()
    }

    #[tokio::test]
    async fn runs_a_job_in_a_sandbox_with_its_inputs_outputs_and_logs() {
        let Some(docker) = docker_or_skip(DockerConfig::default()).await else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let script = r#"
            echo "$GREETING from $(pwd)"; echo oops >&2
            cat $GPUNET_INPUT_DIR/in.txt > $GPUNET_OUTPUT_DIR/copy.txt
            echo scratch > scratch.txt && cat scratch.txt >> $GPUNET_OUTPUT_DIR/copy.txt
            echo tmp > /tmp/t && cat /tmp/t >> $GPUNET_OUTPUT_DIR/copy.txt
            touch /etc/forbidden 2>/dev/null && echo "root fs writable"
            { echo x > $GPUNET_INPUT_DIR/in.txt; } 2>/dev/null && echo "inputs writable"
            exit 3"#;
        let job = test_job(dir.path(), script, 30_000);
        std::fs::write(job.inputs.join("in.txt"), "input\n").unwrap();
        let mut handle = String::new();
        let out = docker.run(&job, Box::new(|h| handle = h)).await.unwrap();
        assert_eq!((out.exit_code, out.stopped), (3, None));
        assert_eq!(read(&job.stdout), "hi from /gpunet/work\n");
        assert_eq!(read(&job.stderr), "oops\n");
        assert_eq!(read(&job.outputs.join("copy.txt")), "input\nscratch\ntmp\n");
        assert_eq!(read(&job.inputs.join("in.txt")), "input\n");
        assert_eq!(handle, job.name);
        assert!(!exists(&docker, &job.name).await, "cleaned up");
    }

    #[tokio::test]
    async fn has_no_network_unless_the_job_asks() {
        let Some(docker) = docker_or_skip(DockerConfig::default()).await else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let mut job = test_job(dir.path(), "ls /sys/class/net", 30_000);
        docker.run(&job, Box::new(|_| {})).await.unwrap();
        assert_eq!(read(&job.stdout), "lo\n", "only loopback without network");
        job.network = true;
        docker.run(&job, Box::new(|_| {})).await.unwrap();
        assert!(read(&job.stdout).contains("eth0"), "{}", read(&job.stdout));
    }

    #[tokio::test]
    async fn a_memory_hog_is_killed_at_its_limit() {
        let Some(docker) = docker_or_skip(DockerConfig::default()).await else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        // dd fills a 256 MiB buffer; the job may have 64 MiB.
        let job = test_job(
            dir.path(),
            "dd if=/dev/zero of=/dev/null bs=256M count=1",
            30_000,
        );
        let out = docker.run(&job, Box::new(|_| {})).await.unwrap();
        assert_eq!(out.stopped, Some(Stop::Memory), "{out:?}");
        assert_eq!(out.exit_code, 137);
    }

    #[tokio::test]
    async fn a_job_writing_past_its_disk_limit_is_stopped() {
        let Some(docker) = docker_or_skip(DockerConfig::default()).await else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        // Writes 1 MiB a step, up to 200 MiB, into its working directory; it may have 8.
        let script = "i=0; while [ $i -lt 200 ]; do \
                      dd if=/dev/zero bs=1M count=1 >> fill 2>/dev/null; i=$((i+1)); \
                      sleep 0.01; done; echo filled";
        let mut job = test_job(dir.path(), script, 60_000);
        job.limits.disk_mb = 8;
        let out = docker.run(&job, Box::new(|_| {})).await.unwrap();
        assert_eq!(out.stopped, Some(Stop::Disk), "{out:?}");
        assert_eq!(out.exit_code, 137);
        assert_eq!(read(&job.stdout), "", "stopped before it finished");
        let written = disk::usage(&job.scratch);
        assert!(written > 8 << 20 && written < 100 << 20, "{written}");
        assert!(!exists(&docker, &job.name).await);
    }

    #[tokio::test]
    async fn a_job_gets_the_shared_memory_and_process_limits_it_asks_for() {
        let Some(docker) = docker_or_skip(DockerConfig::default()).await else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let script =
            "df -m /dev/shm | tail -n 1 | awk '{print $2}'; ulimit -n; ulimit -l; ulimit -s";
        let mut job = test_job(dir.path(), script, 30_000);
        let out = docker.run(&job, Box::new(|_| {})).await.unwrap();
        assert_eq!(out.exit_code, 0, "{}", read(&job.stderr));
        let defaults = read(&job.stdout);
        assert!(
            defaults.starts_with("64\n"),
            "Docker's /dev/shm: {defaults}"
        );

        let dir = tempfile::tempdir().unwrap();
        job = test_job(dir.path(), script, 30_000);
        job.limits.memory_mb = 512;
        job.limits.shm_mb = 300;
        // Within what the engine itself may grant (its own hard limits:
        // a job asking more cannot start, and its provider declines it).
        job.limits.ulimits = Ulimits {
            nofile: Some(4_321),
            memlock_mb: Some(4),
            stack_mb: Some(16),
        };
        let out = docker.run(&job, Box::new(|_| {})).await.unwrap();
        assert_eq!(out.exit_code, 0, "{}", read(&job.stderr));
        // /dev/shm in MiB, open files, locked memory and stack in KiB.
        assert_eq!(read(&job.stdout), "300\n4321\n4096\n16384\n");
    }

    #[tokio::test]
    async fn a_job_within_its_disk_limit_runs_to_its_end() {
        let Some(docker) = docker_or_skip(DockerConfig::default()).await else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let script = "dd if=/dev/zero of=$GPUNET_OUTPUT_DIR/out bs=1M count=4 2>/dev/null; \
                      sleep 1; echo done";
        let mut job = test_job(dir.path(), script, 60_000);
        job.limits.disk_mb = 8;
        let out = docker.run(&job, Box::new(|_| {})).await.unwrap();
        assert_eq!((out.exit_code, out.stopped), (0, None));
        assert_eq!(read(&job.stdout), "done\n");
    }

    #[tokio::test]
    async fn a_job_past_its_timeout_is_stopped_and_removed() {
        let Some(docker) = docker_or_skip(DockerConfig::default()).await else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let job = test_job(dir.path(), "echo started; sleep 60", 1_000);
        let out = docker.run(&job, Box::new(|_| {})).await.unwrap();
        assert_eq!(out.stopped, Some(Stop::Timeout));
        assert_eq!(out.exit_code, TIMEOUT_EXIT_CODE);
        assert!(out.duration_ms < 30_000, "{out:?}");
        assert_eq!(read(&job.stdout), "started\n");
        assert!(!exists(&docker, &job.name).await);
    }

    #[tokio::test]
    async fn the_pid_limit_stops_a_fork_bomb() {
        let Some(docker) = docker_or_skip(DockerConfig { pids_limit: 32 }).await else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let script = "i=0; while [ $i -lt 100 ]; do sleep 5 & i=$((i+1)); done; echo all forked";
        let job = test_job(dir.path(), script, 30_000);
        let out = docker.run(&job, Box::new(|_| {})).await.unwrap();
        assert_ne!(out.exit_code, 0);
        assert!(
            read(&job.stderr).contains("can't fork"),
            "{}",
            read(&job.stderr)
        );
        assert_eq!(read(&job.stdout), "");
    }

    #[tokio::test]
    async fn cleanup_removes_what_a_crashed_agent_left_running() {
        let Some(docker) = docker_or_skip(DockerConfig::default()).await else {
            return;
        };
        let docker = std::sync::Arc::new(docker);
        let dir = tempfile::tempdir().unwrap();
        let job = test_job(dir.path(), "sleep 120", 300_000);
        let name = job.name.clone();
        let runner = docker.clone();
        let task = tokio::spawn(async move {
            let _ = runner.run(&job, Box::new(|_| {})).await;
        });
        let deadline = Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let running = docker
                .docker
                .inspect_container(&name, None)
                .await
                .ok()
                .and_then(|c| c.state)
                .and_then(|s| s.running);
            if running == Some(true) {
                break;
            }
            assert!(Instant::now() < deadline, "the container never started");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        // The agent dies: its future is dropped, the container keeps running.
        task.abort();
        let _ = task.await;
        assert!(exists(&docker, &name).await);
        docker.cleanup(&name).await.unwrap();
        assert!(!exists(&docker, &name).await);
        docker.cleanup(&name).await.unwrap();
    }

    #[tokio::test]
    async fn an_image_pinned_by_its_content_id_runs() {
        let Some(docker) = docker_or_skip(DockerConfig::default()).await else {
            return;
        };
        let id = docker
            .docker
            .inspect_image(BUSYBOX_IMAGE)
            .await
            .unwrap()
            .id
            .unwrap();
        assert!(id.starts_with("sha256:"), "{id}");
        let dir = tempfile::tempdir().unwrap();
        let mut job = test_job(dir.path(), "echo pinned", 30_000);
        job.image = id;
        let out = docker.run(&job, Box::new(|_| {})).await.unwrap();
        assert_eq!(out.exit_code, 0);
        assert_eq!(read(&job.stdout), "pinned\n");
    }

    #[tokio::test]
    async fn an_exposed_port_is_published_and_reaches_the_container() {
        let Some(docker) = docker_or_skip(DockerConfig::default()).await else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let serve = "mkdir /tmp/www && echo hello-renter > /tmp/www/index.html \
                     && exec httpd -f -p 8080 -h /tmp/www";
        let mut job = test_job(dir.path(), serve, 60_000);
        job.network = true;
        job.ports = vec![8080];
        let running = docker.run(&job, Box::new(|_| {}));
        let visit = async {
            let ports = loop {
                if let Some(ports) = docker.published_ports(&job).await.unwrap() {
                    break ports;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            };
            assert_eq!(ports.len(), 1);
            assert_ne!(ports[0], 0);
            let response = http_get(&format!("127.0.0.1:{}", ports[0])).await;
            docker.cleanup(&job.name).await.unwrap();
            response
        };
        let (_, response) = tokio::join!(running, visit);
        assert!(response.contains("hello-renter"), "{response}");
        assert!(!exists(&docker, &job.name).await);
    }

    #[tokio::test]
    async fn a_missing_image_is_a_job_error() {
        let Some(docker) = docker_or_skip(DockerConfig::default()).await else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let mut job = test_job(dir.path(), "true", 30_000);
        job.image = "gpunet/does-not-exist:1".into();
        let err = docker.run(&job, Box::new(|_| {})).await.unwrap_err();
        assert!(matches!(err, ExecError::Image { .. }), "{err}");
        assert!(err.is_job_error());
        assert!(!exists(&docker, &job.name).await);
    }

    /// A renter's connection (`rent forward`) reaches a server listening on
    /// the container's own loopback, in a container without any network; a
    /// port nobody listens on, and a container that is gone, are told.
    #[tokio::test]
    async fn a_connection_reaches_a_port_on_the_containers_own_loopback() {
        let Some(docker) = docker_or_skip(DockerConfig::default()).await else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let serve = "mkdir /tmp/www && echo hello-loopback > /tmp/www/index.html \
                     && exec httpd -f -p 127.0.0.1:8080 -h /tmp/www";
        let job = test_job(dir.path(), serve, 60_000);
        let running = docker.run(&job, Box::new(|_| {}));
        let visit = async {
            let session = loop {
                match docker.connect_port(&job, 8080).await {
                    Ok(session) => break session,
                    Err(ExecError::NotRunning | ExecError::NothingListening(_)) => {
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await
                    }
                    Err(e) => panic!("{e}"),
                }
            };
            let ExecSession {
                mut output,
                mut input,
                mut control,
            } = session;
            input
                .write_all(b"GET /index.html HTTP/1.0\r\n\r\n")
                .await
                .unwrap();
            let mut answer = Vec::new();
            while let Some(piece) = output.next().await {
                match piece.unwrap() {
                    ExecOutput::Stdout(bytes) => answer.extend(bytes),
                    ExecOutput::Stderr(_) => panic!("a connection has no stderr"),
                }
            }
            assert_eq!(control.exit_code().await.unwrap(), 0);
            let closed = docker.connect_port(&job, 9).await.err();
            assert!(
                matches!(closed, Some(ExecError::NothingListening(9))),
                "{closed:?}"
            );
            docker.cleanup(&job.name).await.unwrap();
            String::from_utf8(answer).unwrap()
        };
        let (_, answer) = tokio::join!(running, visit);
        assert!(answer.ends_with("hello-loopback\n"), "{answer}");
        let gone = docker.connect_port(&job, 8080).await.err();
        assert!(matches!(gone, Some(ExecError::NotRunning)), "{gone:?}");
    }

    /// A rental's container may write its root, starts in its workspace,
    /// and is stopped once its root layer and workspace hold more than its
    /// disk limit.
    #[tokio::test]
    async fn a_rental_writes_its_root_and_workspace_within_its_disk_limit() {
        let Some(docker) = docker_or_skip(DockerConfig::default()).await else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let script = "touch /etc/installed && pwd > notes && echo kept >> /workspace/notes";
        let mut job = test_job(dir.path(), script, 30_000);
        let workspace = dir.path().join("workspace");
        std::fs::create_dir_all(&workspace).unwrap();
        job.kind = RunKind::Rental;
        job.workspace = Some(workspace.clone());
        let out = docker.run(&job, Box::new(|_| {})).await.unwrap();
        assert_eq!(
            (out.exit_code, out.stopped),
            (0, None),
            "{}",
            read(&job.stderr)
        );
        assert_eq!(read(&workspace.join("notes")), "/workspace\nkept\n");

        // 8 MiB in the root layer, 2 MiB in the workspace: over 8 MiB.
        job.limits.disk_mb = 8;
        job.command = vec![
            "sh".into(),
            "-c".into(),
            "head -c 8000000 /dev/zero > /big && head -c 2000000 /dev/zero > more \
             && sleep 60"
                .into(),
        ];
        let out = docker.run(&job, Box::new(|_| {})).await.unwrap();
        assert_eq!(out.stopped, Some(Stop::Disk), "{}", read(&job.stderr));
    }

    #[test]
    fn a_job_gets_exactly_the_gpus_of_its_lease() {
        let dir = tempfile::tempdir().unwrap();
        let mut job = test_job(dir.path(), "nvidia-smi -L", 1_000);
        let body = container_body(&job, &DockerConfig::default());
        assert_eq!(body.host_config.unwrap().device_requests, None);
        job.gpus = vec!["GPU-aaaa".into(), "GPU-cccc".into()];
        let host = container_body(&job, &DockerConfig::default())
            .host_config
            .unwrap();
        let requests = host.device_requests.unwrap();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].driver.as_deref(), Some("nvidia"));
        assert_eq!(requests[0].device_ids, Some(job.gpus.clone()));
        assert_eq!(requests[0].count, None, "by id, not by count");
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(host.cap_add, None);
        assert_eq!(host.network_mode.as_deref(), Some("none"));
        assert_eq!(host.memory, Some(64 << 20));
        assert_eq!(host.memory_swap, host.memory, "no swap");
    }

    #[test]
    fn a_rental_gets_a_writable_root_its_workspace_and_no_raw_sockets() {
        let dir = tempfile::tempdir().unwrap();
        let mut job = test_job(dir.path(), "sleep 60", 1_000);
        job.kind = RunKind::Rental;
        job.workspace = Some(dir.path().join("workspace"));
        let body = container_body(&job, &DockerConfig::default());
        assert_eq!(body.working_dir.as_deref(), Some(WORKSPACE_MOUNT));
        let host = body.host_config.unwrap();
        assert_eq!(host.readonly_rootfs, Some(false));
        let caps = host.cap_add.unwrap();
        assert!(caps.contains(&"SYS_CHROOT".to_string()), "{caps:?}");
        assert!(!caps.contains(&"NET_RAW".to_string()), "{caps:?}");
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_string()]));
        let workspace = host
            .mounts
            .unwrap()
            .into_iter()
            .find(|m| m.target.as_deref() == Some(WORKSPACE_MOUNT))
            .expect("the workspace is mounted");
        assert_eq!(workspace.read_only, Some(false));
    }
}
