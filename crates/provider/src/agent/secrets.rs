//! Secrets: a run whose spec names secrets starts only once its client has
//! sealed their values to this provider (`TxBody::SealSecrets`, on the
//! lease) and they open with this provider's key, sealed for this very
//! order, with exactly the names the spec declares. Otherwise the lease is
//! declined: nothing ran, nobody pays, nobody is slashed.
//!
//! The values live in the run's memory (`JobRun::secrets`) and the
//! container's environment only: the agent writes them to no file and no
//! log line.

use super::{log, Inner};
use crate::executor::SecretVars;
use gpunet_primitives::{SealError, SecretsMismatch};
use gpunet_types::OrderView;
use std::time::Duration;

/// How long a lease waits for its secrets. Under a rental's first bill
/// (60 s with the default parameters), after which it can no longer be
/// declined, and far under a job's decline window (300 s).
pub(super) const SECRETS_WAIT: Duration = Duration::from_secs(40);

/// How often the order is read again while its secrets are awaited.
const POLL: Duration = Duration::from_millis(300);

/// Why a run has no secrets to start with.
#[derive(Debug, thiserror::Error)]
pub(super) enum SecretsError {
    #[error("its client did not seal its secrets to this provider within {} s", SECRETS_WAIT.as_secs())]
    NotSealed,
    #[error("its secrets cannot be read: {0}")]
    Unreadable(#[from] SealError),
    #[error("its secrets are not this run's: {0}")]
    NotThisRun(#[from] SecretsMismatch),
}

impl Inner {
    /// The values of `order`'s secrets (none if its spec names none),
    /// waiting up to [`SECRETS_WAIT`] for its client to seal them.
    pub(super) async fn secrets_of(&self, order: &OrderView) -> Result<SecretVars, SecretsError> {
        if order.spec.secrets.is_empty() {
            return Ok(SecretVars::default());
        }
        let deadline = tokio::time::Instant::now() + SECRETS_WAIT;
        let mut current = order.clone();
        let mut said = false;
        loop {
            let lease = current
                .lease
                .as_ref()
                .filter(|l| l.machine == self.machine && current.status.is_leased());
            if let Some(sealed) = lease.and_then(|l| l.sealed_secrets.as_ref()) {
                let env = self.wallet.key().open_secrets(sealed)?;
                env.check_for(order.id, &order.spec.secrets)?;
                return Ok(SecretVars(env.vars));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(SecretsError::NotSealed);
            }
            if !said {
                log(
                    self,
                    &format!(
                        "order {}: waiting for its client to seal its secrets",
                        order.id
                    ),
                );
                said = true;
            }
            tokio::time::sleep(POLL).await;
            // A node that does not answer is asked again until the deadline.
            if let Ok(order) = self.wallet.node().order(order.id).await {
                current = order;
            }
        }
    }
}
