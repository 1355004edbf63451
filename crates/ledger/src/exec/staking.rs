//! Provider stake: bonding, unbonding with a delay, and slashing.

use super::Exec;
use crate::error::{CheckedAmount, TxError};
use gpunet_types::required_stake;
use gpunet_types::{Account, Event, Unbonding};

use gpunet_primitives::{Address, Amount};

impl Exec<'_> {
    pub(crate) fn stake(&mut self, who: Address, amount: Amount) -> Result<(), TxError> {
        if amount == 0 {
            return Err(TxError::ZeroAmount { what: "stake" });
        }
        self.debit(who, amount)?;
        let mut account = self.state.account(&who);
        account.bonded = account.bonded.add_or(amount)?;
        self.state.put_account(who, account);
        Ok(())
    }

    pub(crate) fn unstake(&mut self, who: Address, amount: Amount) -> Result<(), TxError> {
        if amount == 0 {
            return Err(TxError::ZeroAmount { what: "unstake" });
        }
        let mut account = self.state.account(&who);
        if account.bonded < amount {
            return Err(TxError::InsufficientStake {
                need: amount,
                have: account.bonded,
            });
        }
        let need = required_stake(&self.state.params, &account)?;
        let left = account.bonded - amount;
        if left < need {
            return Err(TxError::InsufficientStake { need, have: left });
        }
        account.bonded = left;
        self.start_unbonding(who, &mut account, amount);
        self.state.put_account(who, account);
        Ok(())
    }

    /// Adds `amount` to the account's unbonding stake, released after the delay.
    pub(crate) fn start_unbonding(&mut self, who: Address, account: &mut Account, amount: Amount) {
        let release_ms = self.now_ms.saturating_add(self.state.params.unbonding_ms);
        account.unbonding.push(Unbonding { amount, release_ms });
        self.state.unbonding_queue.insert((release_ms, who), ());
    }

    /// Moves stake whose unbonding delay has passed back to balances.
    pub(crate) fn release_unbonded(&mut self) -> Result<(), TxError> {
        let due: Vec<(u64, Address)> = self
            .state
            .unbonding_queue
            .range(..=(self.now_ms, Address([0xff; 32])))
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            self.state.unbonding_queue.remove(&key);
            let who = key.1;
            let mut account = self.state.account(&who);
            let now = self.now_ms;
            let released: Amount = account
                .unbonding
                .iter()
                .filter(|u| u.release_ms <= now)
                .map(|u| u.amount)
                .sum();
            account.unbonding.retain(|u| u.release_ms > now);
            account.balance = account.balance.add_or(released)?;
            self.state.put_account(who, account);
        }
        Ok(())
    }

    /// Takes up to `amount` of `who`'s stake (bonded first, then unbonding) and burns it.
    /// Returns what was actually slashed.
    pub(crate) fn slash(
        &mut self,
        who: Address,
        amount: Amount,
        reason: &str,
    ) -> Result<Amount, TxError> {
        self.slash_paying(who, amount, reason, None)
    }

    /// Slashes as [`Exec::slash`] does, but first pays `(payee, owed)` out of
    /// what was taken (up to all of it); the rest is burned.
    pub(crate) fn slash_paying(
        &mut self,
        who: Address,
        amount: Amount,
        reason: &str,
        compensation: Option<(Address, Amount)>,
    ) -> Result<Amount, TxError> {
        let mut account = self.state.account(&who);
        let slashed = take_stake(&mut account.bonded, &mut account.unbonding, amount);
        self.state.put_account(who, account);
        if slashed > 0 {
            let mut burned = slashed;
            if let Some((payee, owed)) = compensation {
                let paid = owed.min(slashed);
                self.credit(payee, paid)?;
                burned -= paid;
            }
            self.burn_slashed(burned)?;
            self.emit(Event::Slashed {
                provider: who,
                amount: slashed,
                reason: reason.to_string(),
            });
        }
        Ok(slashed)
    }
}

impl Exec<'_> {
    /// Burns slashed stake and counts it as slashed.
    pub(crate) fn burn_slashed(&mut self, amount: Amount) -> Result<(), TxError> {
        self.burn(amount)?;
        let total = self.state.globals().slashed.add_or(amount)?;
        self.state.update_globals(|g| g.slashed = total);
        Ok(())
    }
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
