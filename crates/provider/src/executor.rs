//! Executors run one job in its working directory with a hard time limit.
//!
//! The process executor (this module) runs the command as a local process in
//! its own process group, with a clean environment; the Docker executor plugs in
//! behind the same [`Executor`] trait.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Everything an executor needs to run one job.
pub struct JobRun {
    pub command: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Holds `inputs/` (read by the job) and `outputs/` (written by it).
    pub work_dir: PathBuf,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    pub timeout: Duration,
}

/// How a job ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecOutcome {
    pub exit_code: i32,
    pub timed_out: bool,
    pub duration_ms: u64,
}

/// Exit code reported for a job killed at its timeout (as `timeout(1)` does).
pub const TIMEOUT_EXIT_CODE: i32 = 124;

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("cannot start {program:?}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("executor I/O: {0}")]
    Io(#[from] std::io::Error),
}

pub type ExecFuture<'a> = Pin<Box<dyn Future<Output = Result<ExecOutcome, ExecError>> + Send + 'a>>;

pub trait Executor: Send + Sync {
    /// Name reported in the machine's registration ("process", "docker").
    fn name(&self) -> &'static str;
    /// Runs `job`. `started` is called with the process group id once the job runs,
    /// so the agent can journal it and clean it up after a crash.
    fn run<'a>(
        &'a self,
        job: &'a JobRun,
        started: Box<dyn FnOnce(i32) + Send + 'a>,
    ) -> ExecFuture<'a>;
}

/// Runs jobs as local processes.
pub struct ProcessExecutor;

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

fn open_log(path: &Path) -> Result<std::fs::File, ExecError> {
    Ok(std::fs::File::create(path)?)
}

impl Executor for ProcessExecutor {
    fn name(&self) -> &'static str {
        "process"
    }

    fn run<'a>(
        &'a self,
        job: &'a JobRun,
        started: Box<dyn FnOnce(i32) + Send + 'a>,
    ) -> ExecFuture<'a> {
        Box::pin(async move {
            let program = job.command.first().cloned().unwrap_or_default();
            let mut cmd = tokio::process::Command::new(&program);
            cmd.args(&job.command[1..])
                .current_dir(&job.work_dir)
                .env_clear()
                .env("PATH", "/usr/local/bin:/usr/bin:/bin")
                .env("HOME", &job.work_dir)
                .envs(job.env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null())
                .stdout(open_log(&job.stdout)?)
                .stderr(open_log(&job.stderr)?)
                .process_group(0)
                .kill_on_drop(false);
            let begin = Instant::now();
            let mut child = cmd
                .spawn()
                .map_err(|source| ExecError::Spawn { program, source })?;
            let pgid = child.id().map_or(0, |p| p as i32);
            started(pgid);
            let (status, timed_out) = match tokio::time::timeout(job.timeout, child.wait()).await {
                Ok(status) => (status?, false),
                Err(_) => {
                    kill_group(pgid);
                    (child.wait().await?, true)
                }
            };
            // Children the job left behind die with it.
            kill_group(pgid);
            let exit_code = if timed_out {
                TIMEOUT_EXIT_CODE
            } else {
                use std::os::unix::process::ExitStatusExt;
                status
                    .code()
                    .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
            };
            Ok(ExecOutcome {
                exit_code,
                timed_out,
                duration_ms: begin.elapsed().as_millis() as u64,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(dir: &Path, script: &str, timeout_ms: u64) -> JobRun {
        JobRun {
            command: vec!["sh".into(), "-c".into(), script.into()],
            env: vec![("GREETING".into(), "hi".into())],
            work_dir: dir.to_path_buf(),
            stdout: dir.join("stdout.log"),
            stderr: dir.join("stderr.log"),
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    #[tokio::test]
    async fn runs_in_its_directory_with_its_env_and_captures_logs() {
        let dir = tempfile::tempdir().unwrap();
        let j = job(
            dir.path(),
            "echo $GREETING; echo oops >&2; pwd > where; exit 3",
            10_000,
        );
        let out = ProcessExecutor.run(&j, Box::new(|_| {})).await.unwrap();
        assert_eq!((out.exit_code, out.timed_out), (3, false));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("stdout.log")).unwrap(),
            "hi\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("stderr.log")).unwrap(),
            "oops\n"
        );
        let pwd = std::fs::read_to_string(dir.path().join("where")).unwrap();
        assert_eq!(
            std::fs::canonicalize(pwd.trim()).unwrap(),
            std::fs::canonicalize(dir.path()).unwrap()
        );
    }

    #[tokio::test]
    async fn kills_the_whole_group_at_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let j = job(dir.path(), "sleep 30 & sleep 30", 300);
        let mut pgid = 0;
        let out = ProcessExecutor
            .run(&j, Box::new(|p| pgid = p))
            .await
            .unwrap();
        assert!(out.timed_out);
        assert_eq!(out.exit_code, TIMEOUT_EXIT_CODE);
        assert!(out.duration_ms < 10_000);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!group_alive(pgid), "background child survived the timeout");
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
