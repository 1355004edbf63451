//! What a machine owner does besides running the agent: take a machine
//! offline and back, remove it, and get back the stake it no longer needs.
//!
//! Removing is the way out that loses nothing: the machine goes offline
//! first (matching gives it no new work), its open leases end and an open
//! hardware challenge is answered (the agent keeps running meanwhile), then
//! it is deregistered and the stake no machine requires any more unbonds. The
//! ledger refuses to deregister earlier, so walking out of a lease or a
//! challenge is not a way to escape its slashing.

use crate::{ClientError, Wallet};
use gpunet_primitives::{Amount, MachineId, TxBody};
use gpunet_types::Included;
use gpunet_types::{required_stake, Machine};
use serde::Serialize;
use std::time::{Duration, Instant};

/// Stake that started unbonding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Unbonded {
    /// How much, in base units.
    #[serde(with = "gpunet_primitives::json::gpn")]
    pub amount: Amount,
    /// Block time (ms) at which it returns to the balance; slashable until then.
    #[serde(rename = "releases_at", with = "gpunet_primitives::json::rfc3339")]
    pub release_ms: u64,
}

/// What removing a machine did.
#[derive(Clone, Debug, Serialize)]
pub struct Removal {
    /// The machine removed.
    pub machine: MachineId,
    /// The block that deregistered it.
    pub height: u64,
    /// The stake it freed, unbonding (None when kept bonded, or nothing was free).
    pub unbonded: Option<Unbonded>,
}

/// Machine `id`, which must belong to `wallet`.
async fn owned_machine(wallet: &Wallet, id: MachineId) -> Result<Machine, ClientError> {
    let machine = wallet.node().machine(id).await?;
    if machine.owner != wallet.address() {
        return Err(ClientError::Invalid(format!(
            "machine {id} belongs to {}, not to this wallet ({})",
            machine.owner,
            wallet.address()
        )));
    }
    Ok(machine)
}

/// Lists machine `id` (online) or takes it off the market (offline: no new
/// work; what runs goes on), keeping its prices.
pub async fn set_online(
    wallet: &Wallet,
    id: MachineId,
    online: bool,
) -> Result<Included, ClientError> {
    let machine = owned_machine(wallet, id).await?;
    wallet
        .send(TxBody::UpdateMachine {
            machine: id,
            price_per_hour: machine.price_per_hour,
            resource_prices: machine.resource_prices,
            online,
        })
        .await
}

/// Removes machine `id`: offline first, then, once its leases ended and its
/// challenge is answered (waiting up to `wait`), deregistered; with
/// `unstake_freed`, the stake it freed starts unbonding.
pub async fn remove_machine(
    wallet: &Wallet,
    id: MachineId,
    wait: Duration,
    unstake_freed: bool,
) -> Result<Removal, ClientError> {
    let machine = owned_machine(wallet, id).await?;
    if machine.online {
        set_online(wallet, id, false).await?;
    }
    let deadline = Instant::now() + wait;
    loop {
        let machine = wallet.node().machine(id).await?;
        if machine.active_leases == 0 && machine.challenge.is_none() {
            break;
        }
        if Instant::now() >= deadline {
            let challenge = machine.challenge.map_or(String::new(), |c| {
                format!(" and hardware challenge {c} open")
            });
            return Err(ClientError::Invalid(format!(
                "machine {id} still has {} open lease(s){challenge}; it is offline now and \
                 takes no new work: keep its agent running and try again once they end",
                machine.active_leases
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let included = wallet
        .send(TxBody::DeregisterMachine { machine: id })
        .await?;
    let unbonded = if unstake_freed {
        unstake(wallet, None).await?
    } else {
        None
    };
    Ok(Removal {
        machine: id,
        height: included.height,
        unbonded,
    })
}

/// Unbonds `amount` of provider stake (all that the wallet's machines do
/// not require when None). None when nothing was free.
pub async fn unstake(
    wallet: &Wallet,
    amount: Option<Amount>,
) -> Result<Option<Unbonded>, ClientError> {
    let amount = match amount {
        Some(amount) => amount,
        None => {
            let free = free_stake(wallet).await?;
            if free == 0 {
                return Ok(None);
            }
            free
        }
    };
    wallet.send(TxBody::Unstake { amount }).await?;
    let account = wallet.node().account(&wallet.address()).await?.account;
    let release_ms = account.unbonding.iter().map(|u| u.release_ms).max();
    Ok(release_ms.map(|release_ms| Unbonded { amount, release_ms }))
}

/// Bonded provider stake beyond what the wallet's machines require.
async fn free_stake(wallet: &Wallet) -> Result<Amount, ClientError> {
    let params = wallet.node().status().await?.params;
    let account = wallet.node().account(&wallet.address()).await?.account;
    let required =
        required_stake(&params, &account).map_err(|e| ClientError::Invalid(e.to_string()))?;
    Ok(account.bonded.saturating_sub(required))
}
