//! Balances, transfers, fees and burning.

use super::Exec;
use crate::error::TxError;
use gpunet_primitives::{Address, Amount};
use gpunet_types::pricing::CheckedAmount;

pub(crate) fn debit(ex: &mut Exec<'_>, who: Address, amount: Amount) -> Result<(), TxError> {
    let mut account = ex.state.account(&who);
    if account.balance < amount {
        return Err(TxError::InsufficientFunds {
            need: amount,
            have: account.balance,
        });
    }
    account.balance -= amount;
    ex.state.put_account(who, account);
    Ok(())
}

pub(crate) fn credit(ex: &mut Exec<'_>, who: Address, amount: Amount) -> Result<(), TxError> {
    if amount == 0 {
        return Ok(());
    }
    let mut account = ex.state.account(&who);
    account.balance = account.balance.add_or(amount)?;
    ex.state.put_account(who, account);
    Ok(())
}

/// Destroys `amount` tokens that have already left every balance.
pub(crate) fn burn(ex: &mut Exec<'_>, amount: Amount) -> Result<(), TxError> {
    let burned = ex.state.globals().burned.add_or(amount)?;
    ex.state.update_globals(|g| g.burned = burned);
    Ok(())
}

pub(crate) fn pay_fee(ex: &mut Exec<'_>, payer: Address, fee: Amount) -> Result<(), TxError> {
    debit(ex, payer, fee)?;
    credit(ex, ex.proposer, fee)?;
    let total = ex.state.globals().fees_paid.add_or(fee)?;
    ex.state.update_globals(|g| g.fees_paid = total);
    Ok(())
}

pub(crate) fn transfer(
    ex: &mut Exec<'_>,
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
    debit(ex, from, amount)?;
    credit(ex, to, amount)
}
