//! `gpunet rent`: rent a machine (or some of its GPUs) for a time.

use crate::ctx::Ctx;
use crate::job::describe;
use crate::secrets::{delivering, SecretFlags};
use crate::template::Template;
use anyhow::Context;
use clap::Subcommand;
use gpunet_client::jobfile::JobFile;
use gpunet_client::jobs::{end_rental, renew_rental, rental_ready, submit_rental, wait_for_order};
use gpunet_client::secrets::DeliverUntil;
use gpunet_client::ClientError;
use gpunet_primitives::{format_amount, Hash, OrderId, TxBody};
use gpunet_types::{OrderStatus, WorkspaceState};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Subcommand)]
pub(crate) enum RentCmd {
    /// Rent the resources FILE asks for (TOML job file; its container runs for
    /// you until the rental ends), or a ready-made --template, for DURATION,
    /// e.g. `90s`, `30m`, `2h`; prints how to connect once it is up.
    #[command(
        after_help = "Examples:\n  gpunet rent start examples/rental.toml --duration 2h\n  gpunet rent start --template jupyter --duration 2h\n  gpunet rent start --template shell --duration 2h --ssh-key ~/.ssh/id_ed25519.pub\n  gpunet rent start --template pytorch --duration 2h --secret HF_TOKEN\n  gpunet rent start examples/rental.toml --duration 8h --save-on-end"
    )]
    Start {
        #[arg(required_unless_present = "template")]
        file: Option<PathBuf>,
        /// A ready-made rental instead of a file (examples/rentals/; its
        /// image from scripts/images/ on the provider).
        #[arg(long, value_enum, conflicts_with = "file")]
        template: Option<Template>,
        #[arg(long, value_parser = parse_duration)]
        duration: u64,
        /// A public key (its `.pub` file) the rental's sshd lets in, given
        /// to the container as GPUNET_SSH_KEYS (public, like the whole
        /// spec); repeat for more. The shell template takes
        /// ~/.ssh/id_ed25519.pub (or ECDSA, or RSA) without it.
        #[arg(long = "ssh-key", value_name = "FILE")]
        ssh_keys: Vec<PathBuf>,
        /// A workspace one of your rentals saved (`gpunet rent end ID
        /// --save` printed its root), in /workspace when the rental starts;
        /// overrides the file's `workspace`.
        #[arg(long, value_name = "ROOT")]
        workspace: Option<Hash>,
        /// When its time runs out or its container stops for good, have
        /// its provider save /workspace first (as `rent end ID --save`
        /// does); `gpunet job describe ID` then shows the saved root.
        /// Sets the file's `save_on_end`.
        #[arg(long)]
        save_on_end: bool,
        /// How long to wait for a machine (and its ports' addresses), e.g.
        /// 90s; the rental stays pending after it, until ended or expired.
        #[arg(long = "wait-for", alias = "wait-secs", default_value = "60s", value_parser = crate::rent::parse_duration)]
        wait_secs: u64,
        #[command(flatten)]
        secrets: SecretFlags,
    },
    /// Extend a running rental by DURATION, paying for it into escrow.
    #[command(after_help = "Example:\n  gpunet rent renew 8 --duration 30m")]
    Renew {
        id: OrderId,
        #[arg(long, value_parser = parse_duration)]
        duration: u64,
    },
    /// End a rental now; the unused escrow is refunded. With --save, its
    /// provider first stores /workspace and this prints its root, which a
    /// later rental or job starts with (`--workspace ROOT`, or `workspace =
    /// "ROOT"` in its file); `gpunet job get ID --out DIR` fetches it. Saving is
    /// not billed.
    #[command(
        after_help = "Examples:\n  gpunet rent end 8\n  gpunet rent end 8 --save\n  gpunet rent start --template jupyter --duration 2h --workspace 9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c"
    )]
    End {
        id: OrderId,
        /// Save its /workspace before it ends, and print the saved root.
        #[arg(long)]
        save: bool,
        /// How long to wait for the provider to save it, e.g. 10m; the
        /// provider goes on saving after it (`gpunet job describe ID`
        /// shows the root once saved).
        #[arg(long = "wait-for", default_value = "10m", value_parser = parse_duration, requires = "save")]
        wait_secs: u64,
    },
    /// Run a command in a running rental's container, its input, output and
    /// exit code as if it ran here (only the renter's key gets in).
    #[command(
        after_help = "Examples:\n  gpunet rent exec 8 -- nvidia-smi\n  gpunet rent exec 8 -- sh -c 'cd /workspace && ls'\n  tar c data | gpunet rent exec 8 -- tar x -C /tmp"
    )]
    Exec {
        id: OrderId,
        /// The program and its arguments (after `--`).
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Open an interactive shell in a running rental's container (bash if
    /// its image has it, else sh); exit it to come back.
    #[command(after_help = "Example:\n  gpunet rent shell 8")]
    Shell { id: OrderId },
    /// Copy files or directories between here and a running rental (one
    /// side written ID:PATH): verified by SHA-256; run it again after an
    /// interruption and it goes on where it stopped (a directory: sends
    /// only the files missing or different there).
    #[command(
        after_help = "Examples:\n  gpunet rent cp ./data 8:/workspace/\n  gpunet rent cp 8:/workspace/model.pt .\n  gpunet rent cp 8:/workspace/runs ./runs"
    )]
    Cp {
        /// What to copy: a local path, or ID:PATH in rental ID.
        from: gpunet_client::rental_copy::Place,
        /// Where to: a local path, or ID:PATH in rental ID (into it, when
        /// it is a directory).
        to: gpunet_client::rental_copy::Place,
    },
    /// Forward a local port to a port in a running rental, reaching a
    /// server that listens on the rental's localhost (Jupyter, TensorBoard)
    /// without publishing it; until Ctrl-C.
    #[command(
        after_help = "Examples:\n  gpunet rent forward 8 8888\n  gpunet rent forward 8 9000:8888\n  gpunet rent forward 8 0.0.0.0:6006:6006"
    )]
    Forward {
        id: OrderId,
        /// `[[ADDRESS:]LOCAL:]REMOTE`: the port in the rental, and the local
        /// port (the same by default, 0 for any free one) and address
        /// (127.0.0.1 by default) to listen on.
        forwarding: crate::forward::Forwarding,
    },
    /// Connect this command's input and output to a port in a running
    /// rental (its sshd by default): OpenSSH's ProxyCommand.
    #[command(
        after_help = "Examples:\n  gpunet rent ssh-proxy 8\n  gpunet rent ssh-proxy 8 --port 2222"
    )]
    SshProxy {
        id: OrderId,
        /// The port in the rental.
        #[arg(long, default_value_t = 22)]
        port: u16,
    },
    /// Print the OpenSSH Host block that reaches a rental's sshd through
    /// `rent ssh-proxy` (for ~/.ssh/config): then ssh, scp, rsync and VS
    /// Code's Remote-SSH work with the key given to `rent start --ssh-key`.
    #[command(
        after_help = "Examples:\n  gpunet rent ssh-config 8 >> ~/.ssh/config\n  gpunet rent ssh-config 8 --host trainer"
    )]
    SshConfig {
        id: OrderId,
        /// The name ssh knows it by (default: gpunet-ID).
        #[arg(long)]
        host: Option<String>,
    },
    /// Report the rented machine unreachable: unless its provider answers a
    /// liveness probe in time, it is held down (not billed) and slashed.
    #[command(after_help = "Example:\n  gpunet rent report-offline 8")]
    ReportOffline { id: OrderId },
}

/// The variable a rental's sshd reads its renter's public keys from (one
/// per line), as examples/rentals/shell.toml does.
const SSH_KEYS_VAR: &str = "GPUNET_SSH_KEYS";

/// The public keys in `files`, one per line; a private key is refused
/// before it goes anywhere (a spec is public).
fn read_public_keys(files: &[PathBuf]) -> anyhow::Result<String> {
    let mut keys = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading the SSH key {}", file.display()))?;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if line.contains("PRIVATE KEY") {
                anyhow::bail!(ClientError::Invalid(format!(
                    "{} is a private key: give its public half ({}.pub), which is all a \
                     rental needs and may be public",
                    file.display(),
                    file.display()
                )));
            }
            let kind = line.split_whitespace().next().unwrap_or_default();
            let known = kind.starts_with("ssh-")
                || kind.starts_with("ecdsa-sha2-")
                || kind.starts_with("sk-");
            if !known || line.split_whitespace().count() < 2 {
                anyhow::bail!(ClientError::Invalid(format!(
                    "{} is not an OpenSSH public key (a line like `ssh-ed25519 AAAA... \
                     you@host`)",
                    file.display()
                )));
            }
            keys.push(line.to_string());
        }
    }
    Ok(keys.join("\n"))
}

/// Whole seconds from a duration as people write it: `90s`, `30m`, `2h`,
/// `1d`, `1h 30m` (humantime), or a bare number of seconds.
pub(crate) fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let secs = match text.parse::<u64>() {
        Ok(secs) => secs,
        Err(_) => humantime::parse_duration(text)
            .map_err(|e| format!("{text:?} is not a duration like 90s, 30m, 2h or 1d: {e}"))?
            .as_secs(),
    };
    if secs == 0 {
        return Err(format!("{text:?} is not a positive duration"));
    }
    Ok(secs)
}

pub(crate) async fn rent(ctx: &Ctx, cmd: RentCmd) -> anyhow::Result<()> {
    let wallet = ctx.wallet()?;
    let client = wallet.node().clone();
    match cmd {
        RentCmd::Start {
            file,
            template,
            duration,
            mut ssh_keys,
            workspace,
            save_on_end,
            wait_secs,
            secrets,
        } => {
            let mut job = match (&file, template) {
                (Some(file), _) => JobFile::load(file)?,
                (None, Some(template)) => template.job_file()?,
                (None, None) => anyhow::bail!(ClientError::Invalid(
                    "name a job file or a --template".into()
                )),
            };
            job.timeout_secs = duration;
            if let Some(root) = workspace {
                job.set_workspace(root);
            }
            job.save_on_end |= save_on_end;
            if ssh_keys.is_empty() && template.is_some_and(Template::takes_ssh_keys) {
                ssh_keys.extend(crate::template::default_ssh_key());
            }
            if !ssh_keys.is_empty() {
                job.env
                    .insert(SSH_KEYS_VAR.into(), read_public_keys(&ssh_keys)?);
            }
            let secrets = secrets.apply(&mut job)?;
            let id = submit_rental(&wallet, &job).await?;
            crate::job::warn_if_unmatched(&client, id).await;
            let wait = Duration::from_secs(wait_secs);
            let waited = wait_for_order(&client, id, wait, rental_ready, |_| {});
            let until = DeliverUntil::FirstLease;
            let order = delivering(&wallet, &[id], &secrets, until, ctx.output, waited).await?;
            ctx.output.print(&order, || {
                let connect = match template {
                    Some(template) => template.how_to_connect(id),
                    None => format!(
                        "connect: gpunet rent shell {id}\nfiles: gpunet rent cp ./data {id}:/workspace/"
                    ),
                };
                match order.status {
                    OrderStatus::Running => format!("{}\n{connect}", describe(&order)),
                    _ => describe(&order),
                }
            });
        }
        RentCmd::Renew { id, duration } => {
            let (deposit, included) = renew_rental(&wallet, id, duration).await?;
            ctx.output.print(&included, || {
                format!(
                    "rental {id} extended by {duration} s ({} GPN into escrow)",
                    format_amount(deposit)
                )
            });
        }
        RentCmd::ReportOffline { id } => {
            let included = wallet.send(TxBody::ReportOffline { order: id }).await?;
            ctx.output.print(&included, || {
                format!("reported rental {id}'s machine offline; its provider must answer a liveness probe")
            });
        }
        RentCmd::Exec { id, command } => {
            let code = crate::session::run(&wallet, id, command, false).await?;
            std::process::exit(code);
        }
        RentCmd::Shell { id } => {
            let code = crate::session::run(&wallet, id, Vec::new(), true).await?;
            std::process::exit(code);
        }
        RentCmd::Cp { from, to } => crate::copy::copy(ctx, &wallet, from, to).await?,
        RentCmd::Forward { id, forwarding } => {
            crate::forward::forward(ctx, &wallet, id, forwarding).await?;
        }
        RentCmd::SshProxy { id, port } => {
            crate::forward::proxy(&wallet, id, port).await?;
            // A read of the standard input may still be pending, which
            // would hold the runtime open: the port is closed, so is this.
            std::process::exit(0);
        }
        RentCmd::SshConfig { id, host } => {
            let host = host.unwrap_or_else(|| format!("gpunet-{id}"));
            let config = crate::forward::ssh_config(ctx, id, &host)?;
            let printed = serde_json::json!({ "host": host, "config": config });
            ctx.output.print(&printed, || config.trim_end().to_string());
        }
        RentCmd::End {
            id,
            save,
            wait_secs,
        } => {
            let order = end_rental(&wallet, id, save, Duration::from_secs(wait_secs)).await?;
            match save {
                false => ctx.output.print(&order, || describe(&order)),
                true => {
                    ctx.output.print(&order, || saved_workspace(&order));
                    if !matches!(order.workspace, Some(WorkspaceState::Saved { .. })) {
                        anyhow::bail!(ClientError::Invalid(format!(
                            "rental {id} ended without a saved workspace"
                        )));
                    }
                }
            }
        }
    }
    Ok(())
}

/// What `rent end --save` says of the rental it ended: the saved root and
/// how to use it, or why there is none.
fn saved_workspace(order: &gpunet_types::OrderView) -> String {
    let id = order.id;
    match &order.workspace {
        Some(WorkspaceState::Saved {
            root,
            bytes,
            held_by,
        }) => {
            let kept = crate::job::kept_by(*held_by);
            format!(
                "rental {id} ended; its workspace is saved ({bytes} bytes, kept by {kept}):\n\
                 {root}\n\
                 start a rental with it: gpunet rent start FILE --duration 1h --workspace {root}\n\
                 or a job: workspace = \"{root}\" in its file\n\
                 fetch it here: gpunet job get {id} --out DIR"
            )
        }
        Some(WorkspaceState::Failed { reason }) => {
            format!("rental {id} ended; its provider could not save its workspace: {reason}")
        }
        Some(WorkspaceState::NotReported) => {
            format!("rental {id} ended; its provider did not report its workspace saved in time")
        }
        Some(WorkspaceState::Saving { .. }) | None => describe(order),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("90"), Ok(90));
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("30m"), Ok(1_800));
        assert_eq!(parse_duration("2h"), Ok(7_200));
        assert_eq!(parse_duration("1d"), Ok(86_400));
        assert!(parse_duration("0m").is_err());
        assert!(parse_duration("ten minutes").is_err());
        assert_eq!(parse_duration("1h 30m"), Ok(5_400));
        assert!(parse_duration("5 parsecs").is_err());
    }
}
