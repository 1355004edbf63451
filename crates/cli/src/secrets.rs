//! Secrets on the command line (`--secret`, `--secret-file`) and their
//! delivery while a command waits on its order (`gpunet_client::secrets`).

use crate::output::Output;
use anyhow::Context;
use gpunet_client::jobfile::{JobFile, SecretSource};
use gpunet_client::secrets::{while_delivering, DeliverUntil, Sealed, SecretValues};
use gpunet_client::Wallet;
use gpunet_primitives::OrderId;
use std::future::Future;
use std::path::PathBuf;

/// Secret environment variables given on the command line.
#[derive(clap::Args, Default)]
#[command(next_help_heading = "Secrets (sealed to each provider; only names go on chain)")]
pub(crate) struct SecretFlags {
    /// A secret environment variable: NAME=VALUE, or NAME alone to take
    /// the value of your own environment's NAME (repeatable; over the job
    /// file's `[secrets]`).
    #[arg(long = "secret", value_name = "NAME[=VALUE]")]
    secrets: Vec<String>,
    /// A file of NAME=VALUE lines (a `.env` file: comments, quotes), each a
    /// secret (repeatable).
    #[arg(long = "secret-file", value_name = "FILE")]
    secret_files: Vec<PathBuf>,
}

impl SecretFlags {
    /// Adds these secrets to `job`'s `[secrets]` (a name given here
    /// replaces the file's) and returns the values of all of them.
    pub(crate) fn apply(self, job: &mut JobFile) -> anyhow::Result<SecretValues> {
        for file in &self.secret_files {
            let pairs = dotenvy::from_path_iter(file)
                .with_context(|| format!("cannot read secrets from {}", file.display()))?;
            for pair in pairs {
                let (name, value) =
                    pair.with_context(|| format!("secrets file {}", file.display()))?;
                job.secrets.insert(name, SecretSource::Value(value));
            }
        }
        for given in self.secrets {
            let (name, source) = match given.split_once('=') {
                Some((name, value)) => (name.to_string(), SecretSource::Value(value.to_string())),
                None => (given.clone(), SecretSource::Env { env: given }),
            };
            job.secrets.insert(name, source);
        }
        Ok(job.secret_values()?)
    }

    /// The secrets given, with no job file to add to (`gpunet job seal`).
    pub(crate) fn values(self) -> anyhow::Result<SecretValues> {
        let mut job =
            JobFile::from_command(String::new(), Vec::new(), 0, String::new(), ".".into());
        self.apply(&mut job)
    }
}

/// The line that says secrets were sealed.
pub(crate) fn sealed_line(s: &Sealed) -> String {
    format!(
        "[gpunet: order {}'s secrets sealed to machine {} of {}]",
        s.order, s.machine, s.provider
    )
}

/// Says that secrets were sealed, on stderr (stdout may be JSON).
fn say_sealed(output: Output) -> impl FnMut(&Sealed) {
    move |s: &Sealed| {
        if output == Output::Text {
            eprintln!("{}", sealed_line(s));
        }
    }
}

/// Runs `work` while sealing `secrets` to every lease of `orders` (and of
/// their audit runs) as they are leased, saying so on stderr; with no
/// secrets, just `work`. Returns `work`'s output; delivery stops with it.
pub(crate) async fn delivering<T>(
    wallet: &Wallet,
    orders: &[OrderId],
    secrets: &SecretValues,
    until: DeliverUntil,
    output: Output,
    work: impl Future<Output = T>,
) -> T {
    let failed = |e| eprintln!("gpunet: cannot seal the secrets: {e}");
    let sealed = say_sealed(output);
    while_delivering(wallet, orders, secrets, until, sealed, failed, work).await
}
