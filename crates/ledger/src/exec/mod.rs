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
mod matching;
mod orders;
mod peers;
mod preparing;
mod records;
mod registry;
mod rentals;
mod rewards;
mod secrets;
mod settle_queue;
mod settlement;
mod specs;
mod staking;
mod validators;

use crate::error::TxError;
use crate::sigcache::SigCache;
use crate::state::State;
use gpunet_primitives::{Address, Amount, Hash, SignedTx, TxBody};
use gpunet_types::Event;

#[cfg(feature = "sim")]
pub(crate) use challenges::{fail_challenge, pass_challenge};
pub(crate) use fit::unmatched;
pub(crate) use orders::payment;
pub(crate) use specs::check_order;
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
        bank::pay_fee(self, sender, tx.fee)?;
        self.apply_body(sender, &tx.body)
    }

    /// Executes a transaction's body for `sender` (already authenticated).
    pub(crate) fn apply_body(&mut self, sender: Address, body: &TxBody) -> Result<(), TxError> {
        match body {
            TxBody::Transfer { to, amount } => bank::transfer(self, sender, *to, *amount),
            TxBody::BondValidator { amount } => validators::bond_validator(self, sender, *amount),
            TxBody::UnbondValidator { amount } => {
                validators::unbond_validator(self, sender, *amount)
            }
            TxBody::ReportDoubleSign { evidence } => {
                validators::punish_double_sign(self, sender, evidence)
            }
            TxBody::Stake { amount } => staking::stake(self, sender, *amount),
            TxBody::Unstake { amount } => staking::unstake(self, sender, *amount),
            TxBody::RegisterMachine {
                spec,
                price_per_hour,
                resource_prices,
            } => registry::register_machine(self, sender, spec, *price_per_hour, *resource_prices),
            TxBody::UpdateMachine {
                machine,
                price_per_hour,
                resource_prices,
                online,
            } => registry::update_machine(
                self,
                sender,
                *machine,
                *price_per_hour,
                *resource_prices,
                *online,
            ),
            TxBody::DeregisterMachine { machine } => {
                registry::deregister_machine(self, sender, *machine)
            }
            TxBody::SubmitOrder {
                spec,
                max_price_per_hour,
                deposit,
            } => orders::submit_order(self, sender, spec, *max_price_per_hour, *deposit, false),
            TxBody::Rent {
                spec,
                max_price_per_hour,
                deposit,
            } => orders::submit_order(self, sender, spec, *max_price_per_hour, *deposit, true),
            TxBody::SubmitArray {
                spec,
                max_price_per_hour,
                deposit_each,
                size,
            } => orders::submit_array(
                self,
                sender,
                spec,
                *max_price_per_hour,
                *deposit_each,
                *size,
            ),
            TxBody::RenewRental {
                order,
                extra_secs,
                deposit,
            } => rentals::renew_rental(self, sender, *order, *extra_secs, *deposit),
            TxBody::EndRental { order, save } => rentals::end_rental(self, sender, *order, *save),
            TxBody::ReportWorkspace { order, save } => {
                rentals::report_workspace(self, sender, *order, save)
            }
            TxBody::ReportOffline { order } => rentals::report_offline(self, sender, *order),
            TxBody::AnswerProbe { order } => rentals::answer_probe(self, sender, *order),
            TxBody::CancelOrder { order } => orders::cancel_order(self, sender, *order),
            TxBody::ShareResult {
                order,
                reader,
                shared,
            } => orders::share_result(self, sender, *order, *reader, *shared),
            TxBody::ReportResult { order, outcome } => {
                settlement::report_result(self, sender, *order, outcome)
            }
            TxBody::StartLease { order } => preparing::start_lease(self, sender, *order),
            TxBody::DeclineLease { order, reason } => {
                declines::decline_lease(self, sender, *order, reason)
            }
            TxBody::DisputeResult {
                order,
                expected_root,
                deposit,
            } => disputes::dispute_result(self, sender, *order, *expected_root, *deposit),
            TxBody::AnnounceEndpoints { order, endpoints } => {
                rentals::announce_endpoints(self, sender, *order, endpoints)
            }
            TxBody::RentalStopped { order, how } => {
                rentals::rental_stopped(self, sender, *order, *how)
            }
            TxBody::StopJob { order } => settlement::stop_job(self, sender, *order),
            TxBody::AnnouncePeer { direct, relay } => {
                peers::announce_peer(self, sender, direct, relay.as_deref())
            }
            TxBody::SealSecrets { order, sealed } => {
                secrets::seal_secrets(self, sender, *order, sealed)
            }
            TxBody::CommitChallenge { challenge, root } => {
                challenges::commit_challenge(self, sender, *challenge, *root)
            }
            TxBody::OpenChallenge {
                challenge,
                openings,
            } => challenges::open_challenge(self, sender, *challenge, openings),
        }
    }

    /// Work at the start of every block, before its transactions.
    pub(crate) fn begin_block(&mut self) {
        challenges::draw_challenge_rows(self);
        self.state.commit_tx();
    }

    /// Time-driven work at the end of every block, in a fixed order.
    pub(crate) fn end_block(&mut self) -> Result<(), TxError> {
        challenges::run_challenges(self)?;
        rewards::pay_epoch_rewards(self)?;
        rentals::expire_probes(self)?;
        rentals::bill_rentals(self)?;
        settlement::settle_due(self)?;
        settlement::expire_deadlines(self)?;
        staking::release_unbonded(self)?;
        matching::match_pending(self)?;
        validators::update_validator_set(self);
        self.state.commit_tx();
        Ok(())
    }
}

/// Records `event` for the block's subscribers.
pub(super) fn emit(ex: &mut Exec<'_>, event: Event) {
    ex.events.push(event);
}
