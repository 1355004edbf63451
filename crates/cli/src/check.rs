//! `gpunet job get --check COMMAND`: a result that checks itself.
//!
//! Some results carry their own evidence (a zero-knowledge proof, a
//! checksum, a test suite's report): the client's program can tell a right
//! one from a wrong one in milliseconds, with no audit. `--check` runs that
//! program on the files `job get` has just verified against the output root
//! and fails the command when it says no, so a script that fetched a result
//! has also checked it. The command is the client's own, run here with the
//! client's rights, as a shell runs it: nothing on chain names it.

use gpunet_primitives::OrderId;
use gpunet_provider::executor::OUTPUT_DIR_VAR;
use std::path::Path;
use std::process::Command;

/// What a check that passed printed (its stdout, then its stderr).
#[derive(Debug, serde::Serialize)]
pub(crate) struct CheckPassed {
    pub(crate) command: String,
    pub(crate) output: String,
}

/// A result whose check said no (or could not run): the files stay where
/// `job get` put them.
#[derive(Debug, thiserror::Error)]
#[error(
    "order {order}'s result failed its check `{command}` ({status}); its files are in {dir}{}",
    if output.trim().is_empty() { String::new() } else { format!(":\n{}", output.trim_end()) }
)]
pub(crate) struct CheckFailed {
    pub(crate) order: OrderId,
    pub(crate) command: String,
    pub(crate) status: String,
    pub(crate) dir: String,
    pub(crate) output: String,
}

impl CheckFailed {
    /// The code `--output json` gives it.
    pub(crate) const CODE: &'static str = "check_failed";
}

/// Runs `command` with `sh -c` in the current directory (so the client's
/// own files, such as a verifying key, are at the paths it knows), with the
/// result's directories in its environment as a job sees its own:
/// `GPUNET_RESULT_DIR` (what `job get` wrote), [`OUTPUT_DIR_VAR`] (its
/// `outputs/`), `GPUNET_ORDER` and, for a job array's member,
/// `GPUNET_ARRAY_INDEX`.
pub(crate) fn run(
    command: &str,
    order: OrderId,
    array_index: Option<u32>,
    dir: &Path,
) -> Result<CheckPassed, CheckFailed> {
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let failed = |status: String, output: String| CheckFailed {
        order,
        command: command.to_string(),
        status,
        dir: dir.display().to_string(),
        output,
    };
    let mut check = Command::new("sh");
    check
        .arg("-c")
        .arg(command)
        .env("GPUNET_RESULT_DIR", &dir)
        .env(OUTPUT_DIR_VAR, dir.join("outputs"))
        .env("GPUNET_ORDER", order.to_string())
        .stdin(std::process::Stdio::null());
    if let Some(index) = array_index {
        check.env("GPUNET_ARRAY_INDEX", index.to_string());
    }
    let ran = check
        .output()
        .map_err(|e| failed(format!("could not start sh: {e}"), String::new()))?;
    let output =
        String::from_utf8_lossy(&ran.stdout).into_owned() + &String::from_utf8_lossy(&ran.stderr);
    if ran.status.success() {
        Ok(CheckPassed {
            command: command.to_string(),
            output,
        })
    } else {
        Err(failed(ran.status.to_string(), output))
    }
}
