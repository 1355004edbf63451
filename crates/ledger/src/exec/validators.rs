//! Validators: stake bonded for voting power, unbonding, and punishment of
//! double-signing. The set a block leaves behind decides the next height.

use super::staking::take_stake;
use super::Exec;
use crate::error::{CheckedAmount, TxError};
use gpunet_types::Event;

use crate::state::ValidatorEntry;
use gpunet_primitives::{Address, Amount, DoubleSign};

impl Exec<'_> {
    fn set_validator_stake(&mut self, who: Address, bonded: Amount) -> Result<(), TxError> {
        let mut entry = self.state.validators.get(&who).cloned().unwrap_or_default();
        let power = bonded / self.state.params.stake_per_vote;
        entry.power = if entry.tombstoned {
            0
        } else {
            u64::try_from(power).map_err(|_| TxError::Overflow)?
        };
        self.state.validators.insert(who, entry);
        if self.state.current_validators().is_empty() {
            return Err(TxError::LastValidator);
        }
        Ok(())
    }

    pub(crate) fn bond_validator(&mut self, who: Address, amount: Amount) -> Result<(), TxError> {
        if amount == 0 {
            return Err(TxError::ZeroAmount { what: "bond" });
        }
        if self
            .state
            .validators
            .get(&who)
            .is_some_and(|v| v.tombstoned)
        {
            return Err(TxError::Tombstoned(who));
        }
        self.debit(who, amount)?;
        let mut account = self.state.account(&who);
        account.validator_bonded = account.validator_bonded.add_or(amount)?;
        let bonded = account.validator_bonded;
        self.state.put_account(who, account);
        self.set_validator_stake(who, bonded)
    }

    pub(crate) fn unbond_validator(&mut self, who: Address, amount: Amount) -> Result<(), TxError> {
        if amount == 0 {
            return Err(TxError::ZeroAmount { what: "unbond" });
        }
        let mut account = self.state.account(&who);
        if account.validator_bonded < amount {
            return Err(TxError::InsufficientStake {
                need: amount,
                have: account.validator_bonded,
            });
        }
        account.validator_bonded -= amount;
        let bonded = account.validator_bonded;
        self.start_unbonding(who, &mut account, amount);
        self.state.put_account(who, account);
        self.set_validator_stake(who, bonded)
    }

    /// Slashes a share of the offender's validator stake (bonded first, then
    /// unbonding), tombstones it and starts unbonding the rest.
    pub(crate) fn punish_double_sign(
        &mut self,
        reporter: Address,
        evidence: &DoubleSign,
    ) -> Result<(), TxError> {
        let offender = evidence
            .offender(self.chain_id)
            .map_err(TxError::BadEvidence)?;
        if evidence.first.vote.height > self.height {
            return Err(TxError::FutureEvidence);
        }
        let mut entry: ValidatorEntry = self
            .state
            .validators
            .get(&offender)
            .cloned()
            .ok_or(TxError::NotAValidator(offender))?;
        if entry.tombstoned {
            return Err(TxError::Tombstoned(offender));
        }
        let mut account = self.state.account(&offender);
        let stake = account.validator_bonded.add_or(account.unbonding_total())?;
        let amount = stake.mul_or(self.state.params.slash_double_sign_bps as Amount)? / 10_000;
        let slashed = take_stake(
            &mut account.validator_bonded,
            &mut account.unbonding,
            amount,
        );
        let rest = std::mem::take(&mut account.validator_bonded);
        if rest > 0 {
            self.start_unbonding(offender, &mut account, rest);
        }
        self.state.put_account(offender, account);
        self.burn_slashed(slashed)?;
        entry.tombstoned = true;
        entry.power = 0;
        self.state.validators.insert(offender, entry);
        if self.state.current_validators().is_empty() {
            return Err(TxError::LastValidator);
        }
        self.emit(Event::DoubleSignPunished {
            validator: offender,
            slashed,
            height: evidence.first.vote.height,
            reporter,
        });
        Ok(())
    }

    /// Records the set the block leaves as the one deciding the next height,
    /// when it changed.
    pub(crate) fn update_validator_set(&mut self) {
        let next = self.state.current_validators();
        if self.state.validator_set(self.height + 1) != next {
            self.state.validator_sets.insert(self.height + 1, next);
        }
    }
}
