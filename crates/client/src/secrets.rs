//! A job's secrets on the client's side: their values, held here until
//! they are sealed to the provider of each lease of the order (and of its
//! audit runs) as it is leased (`TxBody::SealSecrets`).
//!
//! The client must be there to seal: a provider's agent waits a little
//! for them and then declines the lease, and the order goes back to
//! matching. `gpunet job run` and `gpunet rent start` deliver while they
//! wait, and with `--no-wait` until the first lease has them.

use crate::error::ClientError;
use crate::jobs::is_final;
use crate::wallet::Wallet;
use gpunet_primitives::{
    Address, Keypair, MachineId, OrderId, SealError, SecretEnv, TxBody, MAX_SECRETS,
};
use gpunet_types::{ErrorCode, OrderView};
use std::collections::BTreeSet;
use std::time::Duration;

/// The values of a job's secrets, sorted by name. Its `Debug` shows the
/// names only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretValues(Vec<(String, String)>);

impl std::fmt::Debug for SecretValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl SecretValues {
    /// `vars` as secrets, checked: each name a variable name given once,
    /// each value one a process environment can hold, all of them small
    /// enough to seal in one transaction.
    pub fn new(mut vars: Vec<(String, String)>) -> Result<SecretValues, ClientError> {
        vars.sort();
        let invalid = |m: String| Err(ClientError::Invalid(m));
        if vars.len() > MAX_SECRETS {
            return invalid(format!("at most {MAX_SECRETS} secrets, not {}", vars.len()));
        }
        for pair in vars.windows(2) {
            if let [(a, _), (b, _)] = pair {
                if a == b {
                    return invalid(format!("secret {a} is given twice"));
                }
            }
        }
        for (name, value) in &vars {
            let first_ok = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
            if !first_ok || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return invalid(format!(
                    "secret name {name:?} is not a variable name (letters, digits and _, not first a digit)"
                ));
            }
            if value.contains('\0') {
                return invalid(format!("secret {name}'s value holds a NUL byte"));
            }
        }
        let values = SecretValues(vars);
        // Sealed to a throwaway key: what the box will weigh.
        match values.env_for(0).seal(&Keypair::generate().address()) {
            Err(e @ SealError::TooLarge { .. }) => invalid(format!("secrets: {e}")),
            _ => Ok(values),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Their names, sorted: what the spec declares.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(name, _)| name.as_str())
    }

    /// Adds or replaces `name` (a value given on the command line over the
    /// job file's).
    pub fn set(&mut self, name: String, value: String) -> Result<(), ClientError> {
        let mut vars: Vec<_> = self.0.drain(..).filter(|(n, _)| *n != name).collect();
        vars.push((name, value));
        *self = SecretValues::new(vars)?;
        Ok(())
    }

    fn env_for(&self, order: OrderId) -> SecretEnv {
        SecretEnv {
            order,
            vars: self.0.clone(),
        }
    }
}

/// Secrets sealed to one lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// The order (the job, one of its audit runs, or the rental).
    pub order: OrderId,
    /// Whose key they are sealed to.
    pub provider: Address,
    /// The machine leased.
    pub machine: MachineId,
}

/// How long [`deliver_secrets`] goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliverUntil {
    /// Until each order's first lease has them (or the order closed): a
    /// client that goes away after that leaves later leases (a run matched
    /// again, an audit run) without them, and they are declined.
    FirstLease,
    /// Until each order and its audit runs are closed.
    Closed,
}

/// Runs `work` while sealing `values` to every lease of `orders` (and of
/// their audit runs) as they are leased ([`deliver_secrets`], `sealed` told
/// of each); with no values, just `work`. Returns `work`'s output; delivery
/// stops with it. A delivery that fails goes to `failed`, and `work` goes
/// on (it may end without the secrets: a rental left unready, say).
pub async fn while_delivering<T>(
    wallet: &Wallet,
    orders: &[OrderId],
    values: &SecretValues,
    until: DeliverUntil,
    sealed: impl FnMut(&Sealed),
    failed: impl FnOnce(ClientError),
    work: impl std::future::Future<Output = T>,
) -> T {
    if values.is_empty() {
        return work.await;
    }
    let deliver = deliver_secrets(wallet, orders, values, until, sealed);
    tokio::pin!(work);
    tokio::pin!(deliver);
    let mut failed = Some(failed);
    loop {
        tokio::select! {
            out = &mut work => return out,
            done = &mut deliver, if failed.is_some() => {
                let failed = failed.take().expect("delivery is polled while it goes on");
                if let Err(e) = done {
                    failed(e);
                }
            }
        }
    }
}

/// Seals `values` to the provider of every lease of `orders`, and of their
/// audit runs, that needs them and lacks them, as they are leased; `sealed`
/// is told of each. Returns as `until` says.
pub async fn deliver_secrets(
    wallet: &Wallet,
    orders: &[OrderId],
    values: &SecretValues,
    until: DeliverUntil,
    mut sealed: impl FnMut(&Sealed),
) -> Result<(), ClientError> {
    let node = wallet.node();
    // Leases show up in the account's events; the poll is for a stream
    // that broke or missed one.
    let mut events = node.events(None, Some(&wallet.address())).await.ok();
    let mut delivered: BTreeSet<OrderId> = BTreeSet::new();
    loop {
        let mut open = false;
        for &id in orders {
            let order = node.order(id).await?;
            let mut runs = vec![order];
            for &audit in &runs[0].audit_runs.clone() {
                runs.push(node.order(audit).await?);
            }
            for run in &runs {
                open |= !is_final(run.status);
                let Some(lease) = run.lease.as_ref() else {
                    continue;
                };
                if lease.sealed_secrets.is_some() {
                    delivered.insert(id);
                    continue;
                }
                if !run.status.is_leased() || run.spec.secrets.is_empty() {
                    continue;
                }
                if seal_to_lease(wallet, run, values).await? {
                    delivered.insert(id);
                    sealed(&Sealed {
                        order: run.id,
                        provider: lease.provider,
                        machine: lease.machine,
                    });
                }
            }
        }
        let first_leases = orders.iter().all(|id| delivered.contains(id));
        if !open || (until == DeliverUntil::FirstLease && first_leases) {
            return Ok(());
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
            item = async {
                match events.as_mut() {
                    Some(stream) => stream.next().await,
                    None => std::future::pending().await,
                }
            } => {
                if item.is_none() {
                    events = None;
                }
            }
        }
    }
}

/// Seals `values` to `run`'s current lease. Returns `false` when the ledger
/// no longer wants them (the lease ended, or they were sealed meanwhile).
async fn seal_to_lease(
    wallet: &Wallet,
    run: &OrderView,
    values: &SecretValues,
) -> Result<bool, ClientError> {
    let Some(lease) = run.lease.as_ref() else {
        return Ok(false);
    };
    let declared: Vec<&str> = run.spec.secrets.iter().map(String::as_str).collect();
    if !values.names().eq(declared.iter().copied()) {
        return Err(ClientError::Invalid(format!(
            "order {} declares the secrets {declared:?}; the values given are for {:?}",
            run.id,
            values.names().collect::<Vec<_>>()
        )));
    }
    let sealed = values
        .env_for(run.id)
        .seal(&lease.provider)
        .map_err(|e| ClientError::Invalid(format!("order {}: {e}", run.id)))?;
    let body = TxBody::SealSecrets {
        order: run.id,
        sealed,
    };
    match wallet.send(body).await {
        Ok(_) => Ok(true),
        Err(ClientError::Api(e))
            if [ErrorCode::WrongStatus, ErrorCode::SecretsAlreadySealed]
                .iter()
                .any(|code| e.code == code.as_str()) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_checked_before_anything_is_sent() {
        let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
        let values = SecretValues::new(vec![pair("B", "2"), pair("A", "1")]).unwrap();
        assert_eq!(values.names().collect::<Vec<_>>(), ["A", "B"]);
        assert!(!format!("{values:?}").contains('1'));
        for bad in [
            vec![pair("A", "1"), pair("A", "2")],
            vec![pair("1A", "x")],
            vec![pair("A-B", "x")],
            vec![pair("", "x")],
            vec![pair("A", "nul\0byte")],
            vec![pair("BIG", &"x".repeat(20_000))],
        ] {
            assert!(SecretValues::new(bad).is_err());
        }
        let mut values = values;
        values.set("A".into(), "changed".into()).unwrap();
        assert_eq!(values.0, vec![pair("A", "changed"), pair("B", "2")]);
    }
}
