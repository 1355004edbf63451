//! Provider stake: bonding, unbonding with a delay, and slashing.

use super::bank::{burn, credit, debit};
use super::emit;
use super::Exec;
use crate::error::TxError;
use gpunet_primitives::{Address, Amount};
use gpunet_types::pricing::CheckedAmount;
use gpunet_types::required_stake;
use gpunet_types::{Account, Event, Unbonding};

pub(crate) fn stake(ex: &mut Exec<'_>, who: Address, amount: Amount) -> Result<(), TxError> {
    if amount == 0 {
        return Err(TxError::ZeroAmount { what: "stake" });
    }
    debit(ex, who, amount)?;
    let mut account = ex.state.account(&who);
    account.bonded = account.bonded.add_or(amount)?;
    ex.state.put_account(who, account);
    Ok(())
}

pub(crate) fn unstake(ex: &mut Exec<'_>, who: Address, amount: Amount) -> Result<(), TxError> {
    if amount == 0 {
        return Err(TxError::ZeroAmount { what: "unstake" });
    }
    let mut account = ex.state.account(&who);
    if account.bonded < amount {
        return Err(TxError::InsufficientStake {
            need: amount,
            have: account.bonded,
        });
    }
    let need = required_stake(&ex.state.params, &account)?;
    let left = account.bonded - amount;
    if left < need {
        return Err(TxError::InsufficientStake { need, have: left });
    }
    account.bonded = left;
    start_unbonding(ex, who, &mut account, amount);
    ex.state.put_account(who, account);
    Ok(())
}

/// Adds `amount` to the account's unbonding stake, released after the delay.
pub(crate) fn start_unbonding(
    ex: &mut Exec<'_>,
    who: Address,
    account: &mut Account,
    amount: Amount,
) {
    let release_ms = ex.now_ms.saturating_add(ex.state.params.unbonding_ms);
    account.unbonding.push(Unbonding { amount, release_ms });
    ex.state.unbonding_queue.insert((release_ms, who), ());
}

/// Moves stake whose unbonding delay has passed back to balances.
pub(crate) fn release_unbonded(ex: &mut Exec<'_>) -> Result<(), TxError> {
    let due: Vec<(u64, Address)> = ex
        .state
        .unbonding_queue
        .range(..=(ex.now_ms, Address([0xff; 32])))
        .map(|(k, _)| *k)
        .collect();
    for key in due {
        ex.state.unbonding_queue.remove(&key);
        let who = key.1;
        let mut account = ex.state.account(&who);
        let now = ex.now_ms;
        let released: Amount = account
            .unbonding
            .iter()
            .filter(|u| u.release_ms <= now)
            .map(|u| u.amount)
            .sum();
        account.unbonding.retain(|u| u.release_ms > now);
        account.balance = account.balance.add_or(released)?;
        ex.state.put_account(who, account);
    }
    Ok(())
}

/// Takes up to `amount` of `who`'s stake (bonded first, then unbonding) and burns it.
/// Returns what was actually slashed.
pub(crate) fn slash(
    ex: &mut Exec<'_>,
    who: Address,
    amount: Amount,
    reason: &str,
) -> Result<Amount, TxError> {
    slash_paying(ex, who, amount, reason, None)
}

/// Slashes as [`slash`] does, but first pays `(payee, owed)` out of
/// what was taken (up to all of it); the rest is burned.
pub(crate) fn slash_paying(
    ex: &mut Exec<'_>,
    who: Address,
    amount: Amount,
    reason: &str,
    compensation: Option<(Address, Amount)>,
) -> Result<Amount, TxError> {
    let mut account = ex.state.account(&who);
    let slashed = take_stake(&mut account.bonded, &mut account.unbonding, amount);
    ex.state.put_account(who, account);
    if slashed > 0 {
        let mut burned = slashed;
        if let Some((payee, owed)) = compensation {
            let paid = owed.min(slashed);
            credit(ex, payee, paid)?;
            burned -= paid;
        }
        burn_slashed(ex, burned)?;
        emit(
            ex,
            Event::Slashed {
                provider: who,
                amount: slashed,
                reason: reason.to_string(),
            },
        );
    }
    Ok(slashed)
}

/// Burns slashed stake and counts it as slashed.
pub(crate) fn burn_slashed(ex: &mut Exec<'_>, amount: Amount) -> Result<(), TxError> {
    burn(ex, amount)?;
    let total = ex.state.globals().slashed.add_or(amount)?;
    ex.state.update_globals(|g| g.slashed = total);
    Ok(())
}

/// Takes up to `amount` from `bonded`, then from the newest `unbonding` entries
/// (the furthest from release); returns what was taken.
pub(crate) fn take_stake(
    bonded: &mut Amount,
    unbonding: &mut Vec<Unbonding>,
    amount: Amount,
) -> Amount {
    let from_bonded = amount.min(*bonded);
    *bonded -= from_bonded;
    let mut left = amount - from_bonded;
    for entry in unbonding.iter_mut().rev() {
        let take = left.min(entry.amount);
        entry.amount -= take;
        left -= take;
    }
    unbonding.retain(|u| u.amount > 0);
    amount - left
}
