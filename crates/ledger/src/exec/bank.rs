//! Balances, transfers, fees and burning.

use super::Exec;
use crate::error::{CheckedAmount, TxError};
use gpunet_primitives::{Address, Amount};

impl Exec<'_> {
    pub(crate) fn debit(&mut self, who: Address, amount: Amount) -> Result<(), TxError> {
        let mut account = self.state.account(&who);
        if account.balance < amount {
            return Err(TxError::InsufficientFunds {
                need: amount,
                have: account.balance,
            });
        }
        account.balance -= amount;
        self.state.put_account(who, account);
        Ok(())
    }

    pub(crate) fn credit(&mut self, who: Address, amount: Amount) -> Result<(), TxError> {
        if amount == 0 {
            return Ok(());
        }
        let mut account = self.state.account(&who);
        account.balance = account.balance.add_or(amount)?;
        self.state.put_account(who, account);
        Ok(())
    }

    /// Destroys `amount` tokens that have already left every balance.
    pub(crate) fn burn(&mut self, amount: Amount) -> Result<(), TxError> {
        let burned = self.state.globals().burned.add_or(amount)?;
        self.state.update_globals(|g| g.burned = burned);
        Ok(())
    }

    pub(crate) fn pay_fee(&mut self, payer: Address, fee: Amount) -> Result<(), TxError> {
        self.debit(payer, fee)?;
        self.credit(self.proposer, fee)?;
        let total = self.state.globals().fees_paid.add_or(fee)?;
        self.state.update_globals(|g| g.fees_paid = total);
        Ok(())
    }

    pub(crate) fn transfer(
        &mut self,
        from: Address,
        to: Address,
        amount: Amount,
    ) -> Result<(), TxError> {
        if amount == 0 {
            return Err(TxError::ZeroAmount { what: "transfer" });
        }
        // Tokens sent to a key no one holds (a weak point) are lost, and
        // before signatures were checked strictly anyone could spend them.
        to.key().map_err(|e| TxError::BadAddress(to, e))?;
        self.debit(from, amount)?;
        self.credit(to, amount)
    }
}
