//! Validators: stake bonded for voting power, unbonding, and punishment of
//! double-signing. The set a block leaves behind decides the next height.

use super::bank::debit;
use super::emit;
use super::staking::take_stake;
use super::staking::{burn_slashed, start_unbonding};
use super::Exec;
use crate::error::TxError;
use crate::state::ValidatorEntry;
use gpunet_primitives::{Address, Amount, DoubleSign};
use gpunet_types::pricing::CheckedAmount;
use gpunet_types::Event;

fn set_validator_stake(ex: &mut Exec<'_>, who: Address, bonded: Amount) -> Result<(), TxError> {
    let mut entry = ex.state.validators.get(&who).cloned().unwrap_or_default();
    let power = bonded / ex.state.params.stake_per_vote;
    entry.power = if entry.tombstoned {
        0
    } else {
        u64::try_from(power).map_err(|_| TxError::Overflow)?
    };
    ex.state.validators.insert(who, entry);
    if ex.state.current_validators().is_empty() {
        return Err(TxError::LastValidator);
    }
    Ok(())
}

pub(crate) fn bond_validator(
    ex: &mut Exec<'_>,
    who: Address,
    amount: Amount,
) -> Result<(), TxError> {
    if amount == 0 {
        return Err(TxError::ZeroAmount { what: "bond" });
    }
    if ex.state.validators.get(&who).is_some_and(|v| v.tombstoned) {
        return Err(TxError::Tombstoned(who));
    }
    debit(ex, who, amount)?;
    let mut account = ex.state.account(&who);
    account.validator_bonded = account.validator_bonded.add_or(amount)?;
    let bonded = account.validator_bonded;
    ex.state.put_account(who, account);
    set_validator_stake(ex, who, bonded)
}

pub(crate) fn unbond_validator(
    ex: &mut Exec<'_>,
    who: Address,
    amount: Amount,
) -> Result<(), TxError> {
    if amount == 0 {
        return Err(TxError::ZeroAmount { what: "unbond" });
    }
    let mut account = ex.state.account(&who);
    if account.validator_bonded < amount {
        return Err(TxError::InsufficientStake {
            need: amount,
            have: account.validator_bonded,
        });
    }
    account.validator_bonded -= amount;
    let bonded = account.validator_bonded;
    start_unbonding(ex, who, &mut account, amount);
    ex.state.put_account(who, account);
    set_validator_stake(ex, who, bonded)
}

/// Slashes a share of the offender's validator stake (bonded first, then
/// unbonding), tombstones it and starts unbonding the rest.
pub(crate) fn punish_double_sign(
    ex: &mut Exec<'_>,
    reporter: Address,
    evidence: &DoubleSign,
) -> Result<(), TxError> {
    let offender = evidence
        .offender(ex.chain_id)
        .map_err(TxError::BadEvidence)?;
    if evidence.first.vote.height > ex.height {
        return Err(TxError::FutureEvidence);
    }
    let mut entry: ValidatorEntry = ex
        .state
        .validators
        .get(&offender)
        .cloned()
        .ok_or(TxError::NotAValidator(offender))?;
    if entry.tombstoned {
        return Err(TxError::Tombstoned(offender));
    }
    let mut account = ex.state.account(&offender);
    let stake = account.validator_bonded.add_or(account.unbonding_total())?;
    let amount = stake.mul_or(ex.state.params.slash_double_sign_bps as Amount)? / 10_000;
    let slashed = take_stake(
        &mut account.validator_bonded,
        &mut account.unbonding,
        amount,
    );
    let rest = std::mem::take(&mut account.validator_bonded);
    if rest > 0 {
        start_unbonding(ex, offender, &mut account, rest);
    }
    ex.state.put_account(offender, account);
    burn_slashed(ex, slashed)?;
    entry.tombstoned = true;
    entry.power = 0;
    ex.state.validators.insert(offender, entry);
    if ex.state.current_validators().is_empty() {
        return Err(TxError::LastValidator);
    }
    emit(
        ex,
        Event::DoubleSignPunished {
            validator: offender,
            slashed,
            height: evidence.first.vote.height,
            reporter,
        },
    );
    Ok(())
}

/// Records the set the block leaves as the one deciding the next height,
/// when it changed.
pub(crate) fn update_validator_set(ex: &mut Exec<'_>) {
    let next = ex.state.current_validators();
    if ex.state.validator_set(ex.height + 1) != next {
        ex.state.validator_sets.insert(ex.height + 1, next);
    }
}
