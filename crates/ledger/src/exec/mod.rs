//! Transaction execution, one module per concern. Every function here is
//! deterministic: it reads only the state, the transaction and the block time.

mod answers;
mod audits;
mod bank;
mod challenges;
mod declines;
mod disputes;
mod durations;
mod fit;
mod orders;
mod registry;
mod rentals;
mod rewards;
mod settlement;
mod specs;
mod staking;
mod validators;

use crate::error::TxError;
use gpunet_types::Event;

use crate::sigcache::SigCache;
use crate::state::State;
use gpunet_primitives::{Address, Amount, Hash, SignedTx, TxBody};

pub(crate) use fit::unmatched;
pub(crate) use orders::payment;
#[cfg(test)]
pub(crate) use specs::tests::job as test_spec;
pub use specs::SpecError;

/// A number drawn from `hash` (its first eight bytes): what a block's
/// parent hash decides, which nobody could predict when it mattered.
pub(crate) fn draw(hash: Hash) -> u64 {
    let [b0, b1, b2, b3, b4, b5, b6, b7, ..] = hash.0;
    u64::from_le_bytes([b0, b1, b2, b3, b4, b5, b6, b7])
}

/// The checks that need no state: chain, signature and least fee.
pub(crate) fn check_envelope(
    signed: &SignedTx,
    chain_id: &str,
    min_fee: Amount,
    sigs: &mut SigCache,
) -> Result<(), TxError> {
    let tx = &signed.tx;
    if tx.chain_id != chain_id {
        return Err(TxError::WrongChain {
            expected: chain_id.to_string(),
            got: tx.chain_id.clone(),
        });
    }
    if !sigs.verify(signed) {
        return Err(TxError::BadSignature);
    }
    if tx.fee < min_fee {
        return Err(TxError::FeeTooLow {
            min: min_fee,
            got: tx.fee,
        });
    }
    Ok(())
}

/// Execution context of one block.
pub(crate) struct Exec<'a> {
    pub state: &'a mut State,
    pub chain_id: &'a str,
    pub proposer: Address,
    pub now_ms: u64,
    /// Height of the block being executed, and the hash of its parent (the
    /// randomness no one could choose when earlier transactions were made).
    pub height: u64,
    pub parent: Hash,
    pub events: &'a mut Vec<Event>,
    pub sigs: &'a mut SigCache,
}

impl Exec<'_> {
    fn emit(&mut self, event: Event) {
        self.events.push(event);
    }

    /// Applies one signed transaction, all or nothing.
    pub(crate) fn apply_tx(&mut self, signed: &SignedTx) -> Result<(), TxError> {
        let events_before = self.events.len();
        let result = self.apply_tx_inner(signed);
        match result {
            Ok(()) => self.state.commit_tx(),
            Err(_) => {
                self.state.rollback_tx();
                self.events.truncate(events_before);
            }
        }
        result
    }

    fn apply_tx_inner(&mut self, signed: &SignedTx) -> Result<(), TxError> {
        let tx = &signed.tx;
        check_envelope(signed, self.chain_id, self.state.params.min_fee, self.sigs)?;
        let sender = tx.sender;
        let mut account = self.state.account(&sender);
        if tx.nonce != account.nonce {
            return Err(TxError::BadNonce {
                expected: account.nonce,
                got: tx.nonce,
            });
        }
        account.nonce += 1;
        self.state.put_account(sender, account);
        self.pay_fee(sender, tx.fee)?;
        self.apply_body(sender, &tx.body)
    }

    /// Executes a transaction's body for `sender` (already authenticated).
    pub(crate) fn apply_body(&mut self, sender: Address, body: &TxBody) -> Result<(), TxError> {
        match body {
            TxBody::Transfer { to, amount } => self.transfer(sender, *to, *amount),
            TxBody::BondValidator { amount } => self.bond_validator(sender, *amount),
            TxBody::UnbondValidator { amount } => self.unbond_validator(sender, *amount),
            TxBody::ReportDoubleSign { evidence } => self.punish_double_sign(sender, evidence),
            TxBody::Stake { amount } => self.stake(sender, *amount),
            TxBody::Unstake { amount } => self.unstake(sender, *amount),
            TxBody::RegisterMachine {
                spec,
                price_per_hour,
                resource_prices,
            } => self.register_machine(sender, spec, *price_per_hour, *resource_prices),
            TxBody::UpdateMachine {
                machine,
                price_per_hour,
                resource_prices,
                online,
            } => self.update_machine(sender, *machine, *price_per_hour, *resource_prices, *online),
            TxBody::DeregisterMachine { machine } => self.deregister_machine(sender, *machine),
            TxBody::SubmitOrder {
                spec,
                max_price_per_hour,
                deposit,
            } => self.submit_order(sender, spec, *max_price_per_hour, *deposit, false),
            TxBody::Rent {
                spec,
                max_price_per_hour,
                deposit,
            } => self.submit_order(sender, spec, *max_price_per_hour, *deposit, true),
            TxBody::RenewRental {
                order,
                extra_secs,
                deposit,
            } => self.renew_rental(sender, *order, *extra_secs, *deposit),
            TxBody::EndRental { order } => self.end_rental(sender, *order),
            TxBody::ReportOffline { order } => self.report_offline(sender, *order),
            TxBody::AnswerProbe { order } => self.answer_probe(sender, *order),
            TxBody::CancelOrder { order } => self.cancel_order(sender, *order),
            TxBody::ShareResult {
                order,
                reader,
                shared,
            } => self.share_result(sender, *order, *reader, *shared),
            TxBody::ReportResult { order, outcome } => self.report_result(sender, *order, outcome),
            TxBody::DeclineLease { order, reason } => self.decline_lease(sender, *order, reason),
            TxBody::DisputeResult {
                order,
                expected_root,
                deposit,
            } => self.dispute_result(sender, *order, *expected_root, *deposit),
            TxBody::AnnounceEndpoints { order, endpoints } => {
                self.announce_endpoints(sender, *order, endpoints)
            }
            TxBody::RentalStopped { order, how } => self.rental_stopped(sender, *order, *how),
            TxBody::StopJob { order } => self.stop_job(sender, *order),
            TxBody::CommitChallenge { challenge, root } => {
                self.commit_challenge(sender, *challenge, *root)
            }
            TxBody::OpenChallenge {
                challenge,
                openings,
            } => self.open_challenge(sender, *challenge, openings),
        }
    }

    /// Work at the start of every block, before its transactions.
    pub(crate) fn begin_block(&mut self) {
        self.draw_challenge_rows();
        self.state.commit_tx();
    }

    /// Time-driven work at the end of every block, in a fixed order.
    pub(crate) fn end_block(&mut self) -> Result<(), TxError> {
        self.run_challenges()?;
        self.pay_epoch_rewards()?;
        self.expire_probes()?;
        self.bill_rentals()?;
        self.settle_due()?;
        self.expire_deadlines()?;
        self.release_unbonded()?;
        self.match_pending()?;
        self.update_validator_set();
        self.state.commit_tx();
        Ok(())
    }
}
