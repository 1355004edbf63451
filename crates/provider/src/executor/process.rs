//! The process executor: a local process in its own process group with a clean
//! environment, a hard timeout and a disk limit. Not a sandbox; for machines
//! without Docker.

use super::{
    disk, ExecCommand, ExecControl, ExecError, ExecFuture, ExecOutcome, ExecOutput, ExecSession,
    Executor, JobRun, Started, Stop, INPUT_DIR_VAR, OUTPUT_DIR_VAR, TIMEOUT_EXIT_CODE,
};
use futures_util::StreamExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Instant;
use tokio_util::io::ReaderStream;

/// Runs jobs as local processes.
pub struct ProcessExecutor;

/// The `PATH` a job's process starts with (its own `PATH` variable replaces
/// it): the system's programs, nothing of the agent's environment.
pub const JOB_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Kills a whole process group; used at timeout and to clean up after a restart.
pub fn kill_group(pgid: i32) {
    if pgid > 1 {
        // SAFETY: plain syscall; a negative pid addresses the process group.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

/// Whether any live (not zombie) process of group `pgid` remains, from /proc.
pub fn group_alive(pgid: i32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            return false;
        };
        // Fields after the command name: state ppid pgrp ...
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return false;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("Z");
        let pgrp = fields.nth(1).and_then(|p| p.parse::<i32>().ok());
        pgrp == Some(pgid) && state != "Z" && state != "X"
    })
}

/// `program` with `args`, run as `job` runs: in its working directory, with
/// a clean environment that is its own and its GPUs, none of the agent's.
fn as_the_job(program: &str, args: &[String], job: &JobRun) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .current_dir(job.workspace.as_ref().unwrap_or(&job.scratch))
        .env_clear()
        .env("PATH", JOB_PATH)
        .env("HOME", &job.scratch)
        .envs(job.env.iter().chain(&job.secrets.0).map(|(k, v)| (k, v)))
        .env(INPUT_DIR_VAR, &job.inputs)
        .env(OUTPUT_DIR_VAR, &job.outputs)
        // The job sees exactly the GPUs of its lease (none: an empty list).
        .env("CUDA_VISIBLE_DEVICES", job.gpus.join(","));
    cmd
}

fn open_log(job: &JobRun, path: &Path) -> Result<std::fs::File, ExecError> {
    Ok(job.log_options().open(path)?)
}

impl Executor for ProcessExecutor {
    fn name(&self) -> &'static str {
        "process"
    }

    fn run<'a>(&'a self, job: &'a JobRun, started: Started<'a>) -> ExecFuture<'a, ExecOutcome> {
        Box::pin(async move {
            let program = job.command.first().cloned().unwrap_or_default();
            let mut cmd = as_the_job(&program, &job.command[1..], job);
            cmd.stdin(Stdio::null())
                .stdout(open_log(job, &job.stdout)?)
                .stderr(open_log(job, &job.stderr)?)
                .process_group(0)
                .kill_on_drop(false);
            let begin = Instant::now();
            let mut child = cmd
                .spawn()
                .map_err(|source| ExecError::Spawn { program, source })?;
            let pgid = child.id().map_or(0, |p| p as i32);
            started(pgid.to_string());
            let stopped = tokio::select! {
                status = child.wait() => {
                    status?;
                    None
                }
                () = tokio::time::sleep(job.timeout) => Some(Stop::Timeout),
                () = disk::exceeded(job, || std::future::ready(0)) => Some(Stop::Disk),
            };
            // Children the job left behind die with it.
            kill_group(pgid);
            let status = child.wait().await?;
            let exit_code = if stopped == Some(Stop::Timeout) {
                TIMEOUT_EXIT_CODE
            } else {
                exit_code(status)
            };
            Ok(ExecOutcome {
                exit_code,
                stopped,
                duration_ms: begin.elapsed().as_millis() as u64,
            })
        })
    }

    /// A process listens on the host itself: its ports are the host's.
    fn published_ports<'a>(&'a self, run: &'a JobRun) -> ExecFuture<'a, Option<Vec<u16>>> {
        Box::pin(async move { Ok(Some(run.ports.clone())) })
    }

    /// The command runs as the run does (its directory, environment and
    /// GPUs) in a process group of its own, killed when the session is
    /// dropped. No terminal: this executor has no pseudo-terminals to give.
    fn exec<'a>(&'a self, run: &'a JobRun, command: ExecCommand) -> ExecFuture<'a, ExecSession> {
        Box::pin(async move {
            if command.terminal.is_some() {
                return Err(ExecError::Unsupported(
                    "a terminal needs a provider running the Docker executor; \
                     commands without one (rent exec) run here",
                ));
            }
            let Some((program, args)) = command.argv.split_first() else {
                return Err(ExecError::Unsupported("an empty command"));
            };
            let mut child = as_the_job(program, args, run)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .process_group(0)
                .spawn()
                .map_err(|source| ExecError::Spawn {
                    program: program.clone(),
                    source,
                })?;
            let pipes = (child.stdin.take(), child.stdout.take(), child.stderr.take());
            let (Some(stdin), Some(stdout), Some(stderr)) = pipes else {
                return Err(ExecError::Unsupported("a process without its pipes"));
            };
            let stdout = ReaderStream::new(stdout).map(|r| Ok(ExecOutput::Stdout(r?.to_vec())));
            let stderr = ReaderStream::new(stderr).map(|r| Ok(ExecOutput::Stderr(r?.to_vec())));
            let pgid = child.id().map_or(0, |p| p as i32);
            Ok(ExecSession {
                output: Box::pin(futures_util::stream::select(stdout, stderr)),
                input: Box::pin(stdin),
                control: Box::new(ExecProcess { child, pgid }),
            })
        })
    }

    /// The run shares this host's network: its loopback is the host's.
    fn connect_port<'a>(&'a self, _run: &'a JobRun, port: u16) -> ExecFuture<'a, ExecSession> {
        Box::pin(super::port::connect_here(port))
    }

    /// A process runs on the host as it is: no image to have.
    fn has_image<'a>(&'a self, _image: &'a str) -> ExecFuture<'a, bool> {
        Box::pin(std::future::ready(Ok(true)))
    }

    fn load_image(&self, _archive: super::ImageArchive) -> ExecFuture<'_, ()> {
        Box::pin(std::future::ready(Ok(())))
    }

    fn remove_image<'a>(&'a self, _image: &'a str) -> ExecFuture<'a, ()> {
        Box::pin(std::future::ready(Ok(())))
    }

    fn cleanup<'a>(&'a self, handle: &'a str) -> ExecFuture<'a, ()> {
        Box::pin(async move {
            if let Some(pgid) = handle.parse::<i32>().ok().filter(|p| group_alive(*p)) {
                kill_group(pgid);
                // Return once the kill has landed, as the Docker executor's
                // removal does: callers rely on nothing being left running.
                for _ in 0..500 {
                    if !group_alive(pgid) {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
            Ok(())
        })
    }
}

/// A command [`ProcessExecutor::exec`] started; its group dies with it.
struct ExecProcess {
    child: tokio::process::Child,
    pgid: i32,
}

impl ExecControl for ExecProcess {
    fn resize(&self, _cols: u16, _rows: u16) -> ExecFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }

    fn exit_code(&mut self) -> ExecFuture<'_, i32> {
        Box::pin(async move {
            let status = self.child.wait().await?;
            Ok(exit_code(status))
        })
    }
}

impl Drop for ExecProcess {
    fn drop(&mut self) {
        kill_group(self.pgid);
    }
}

/// A process's exit code; killed by a signal, 128 plus the signal, as
/// shells report it.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::test_job as job;
    use crate::executor::Tty;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;

    /// A command beside a run: the run's directory and environment, its
    /// input to its end, its output and errors apart, its exit code.
    #[tokio::test]
    async fn a_command_beside_a_run_gets_its_input_and_gives_its_output_and_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let run = job(dir.path(), "true", 10_000);
        let script = "cat > got; echo \"$GREETING $(cat got) in $(basename \"$PWD\")\"; \
                      echo oops >&2; exit 7";
        let command = ExecCommand {
            argv: vec!["sh".into(), "-c".into(), script.into()],
            terminal: None,
        };
        let mut session = ProcessExecutor.exec(&run, command).await.unwrap();
        session.input.write_all(b"there").await.unwrap();
        // Dropped, as the session does on the renter's end of input: a
        // pipe ends when closed.
        session.input = Box::pin(tokio::io::sink());
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        while let Some(item) = session.output.next().await {
            match item.unwrap() {
                ExecOutput::Stdout(bytes) => stdout.extend(bytes),
                ExecOutput::Stderr(bytes) => stderr.extend(bytes),
            }
        }
        assert_eq!(String::from_utf8(stdout).unwrap(), "hi there in work\n");
        assert_eq!(String::from_utf8(stderr).unwrap(), "oops\n");
        assert_eq!(session.control.exit_code().await.unwrap(), 7);
    }

    /// A renter's connection reaches a port on this host's loopback, its
    /// end of writing a half-close the server still answers; a closed port
    /// is told.
    #[tokio::test]
    async fn a_connection_reaches_a_port_here_and_half_closes() {
        use tokio::io::AsyncReadExt;
        let dir = tempfile::tempdir().unwrap();
        let run = job(dir.path(), "true", 10_000);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut asked = Vec::new();
            stream.read_to_end(&mut asked).await.unwrap();
            stream.write_all(&asked.repeat(2)).await.unwrap();
        });
        let mut session = ProcessExecutor.connect_port(&run, port).await.unwrap();
        session.input.write_all(b"echo").await.unwrap();
        session.input.shutdown().await.unwrap();
        let mut answer = Vec::new();
        while let Some(item) = session.output.next().await {
            match item.unwrap() {
                ExecOutput::Stdout(bytes) => answer.extend(bytes),
                ExecOutput::Stderr(_) => panic!("a connection has no stderr"),
            }
        }
        assert_eq!(answer, b"echoecho");
        assert_eq!(session.control.exit_code().await.unwrap(), 0);
        server.await.unwrap();
        let closed = ProcessExecutor.connect_port(&run, port).await.err();
        assert!(
            matches!(closed, Some(ExecError::NothingListening(p)) if p == port),
            "{closed:?}"
        );
    }

    /// No pseudo-terminals here: a shell is refused with the way around.
    #[tokio::test]
    async fn a_terminal_is_refused_without_docker() {
        let dir = tempfile::tempdir().unwrap();
        let run = job(dir.path(), "true", 10_000);
        let command = ExecCommand {
            argv: vec!["sh".into()],
            terminal: Some(Tty {
                term: "xterm".into(),
                cols: 80,
                rows: 24,
            }),
        };
        let refused = ProcessExecutor.exec(&run, command).await.err().unwrap();
        assert!(refused.to_string().contains("Docker executor"), "{refused}");
    }

    #[tokio::test]
    async fn runs_in_its_directory_with_its_env_and_captures_logs() {
        let dir = tempfile::tempdir().unwrap();
        let j = job(
            dir.path(),
            "echo $GREETING; echo oops >&2; pwd > where; echo $CUDA_VISIBLE_DEVICES > gpus; exit 3",
            10_000,
        );
        let out = ProcessExecutor.run(&j, Box::new(|_| {})).await.unwrap();
        assert_eq!((out.exit_code, out.stopped), (3, None));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("stdout.log")).unwrap(),
            "hi\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("stderr.log")).unwrap(),
            "oops\n"
        );
        let pwd = std::fs::read_to_string(j.scratch.join("where")).unwrap();
        assert_eq!(
            std::fs::canonicalize(pwd.trim()).unwrap(),
            std::fs::canonicalize(&j.scratch).unwrap()
        );
        let gpus = std::fs::read_to_string(j.scratch.join("gpus")).unwrap();
        assert_eq!(gpus, "\n", "a job without GPUs sees none");
    }

    #[tokio::test]
    async fn kills_the_whole_group_at_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let j = job(dir.path(), "sleep 30 & sleep 30", 300);
        let mut handle = String::new();
        let out = ProcessExecutor
            .run(&j, Box::new(|h| handle = h))
            .await
            .unwrap();
        let pgid: i32 = handle.parse().unwrap();
        assert_eq!(out.stopped, Some(Stop::Timeout));
        assert_eq!(out.exit_code, TIMEOUT_EXIT_CODE);
        assert!(out.duration_ms < 10_000);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!group_alive(pgid), "background child survived the timeout");
    }

    #[tokio::test]
    async fn a_job_writing_past_its_disk_limit_is_stopped_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        // A background child writes 1 MiB a step into the outputs; the job may have 4 MiB.
        let script = "(while true; do head -c 1048576 /dev/zero >> $GPUNET_OUTPUT_DIR/fill; \
                      sleep 0.01; done) & wait";
        let mut j = job(dir.path(), script, 60_000);
        j.limits.disk_mb = 4;
        let mut handle = String::new();
        let out = ProcessExecutor
            .run(&j, Box::new(|h| handle = h))
            .await
            .unwrap();
        assert_eq!(out.stopped, Some(Stop::Disk), "{out:?}");
        assert!(out.duration_ms < 30_000);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!group_alive(handle.parse().unwrap()), "the writer survived");
        let written = disk::usage(&j.outputs);
        assert!(written > 4 << 20, "{written}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(disk::usage(&j.outputs), written, "still writing");
    }

    #[tokio::test]
    async fn a_missing_program_is_a_spawn_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = job(dir.path(), "", 1000);
        j.command = vec!["/nonexistent/program".into()];
        assert!(matches!(
            ProcessExecutor.run(&j, Box::new(|_| {})).await,
            Err(ExecError::Spawn { .. })
        ));
    }
}
