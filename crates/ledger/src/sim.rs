//! Simulation (feature `sim`): the real execution code (matching, escrow,
//! settlement, audits, rentals, rewards, slashing) driven without signatures,
//! nonces, fees or storage, for `gpunet sim` and the matching benchmark.
//! The `gpunet` binary enables the feature for those two commands; a node's
//! code never calls it (only `cli::sim` and `cli::bench` do), and nothing it
//! does reaches a stored ledger.

use crate::error::TxError;
use crate::exec::{fail_challenge, pass_challenge, Exec};
use crate::sigcache::SigCache;
use crate::state::State;
use gpunet_primitives::{hash_of, Address, Amount, Hash, MachineId, TxBody};
use gpunet_types::{Event, Params};

/// A market run through the ledger's execution code, one block at a time,
/// from its own clock.
pub struct Simulation {
    state: State,
    now_ms: u64,
    height: u64,
    parent: Hash,
    events: Vec<Event>,
    sigs: SigCache,
}

impl Simulation {
    /// An empty state under `params`, its clock at `start_ms`.
    pub fn new(params: Params, start_ms: u64) -> Simulation {
        // Nothing here is hashed or stored: a block's changes need no copy.
        let mut state = State::new(params);
        state.stop_tracking_blocks();
        Simulation {
            state,
            now_ms: start_ms,
            height: 1,
            parent: Hash::ZERO,
            events: Vec::new(),
            // The simulation applies bodies directly; nothing is signed.
            sigs: SigCache::new(0),
        }
    }

    /// The state after the last block.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The simulated block time.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    fn exec(&mut self) -> Exec<'_> {
        Exec {
            state: &mut self.state,
            chain_id: "sim",
            proposer: Address([0; 32]),
            now_ms: self.now_ms,
            height: self.height,
            parent: self.parent,
            events: &mut self.events,
            sigs: &mut self.sigs,
        }
    }

    /// Credits `amount` to `who` as if at genesis (the supply grows with it).
    pub fn fund(&mut self, who: Address, amount: Amount) {
        let mut account = self.state.account(&who);
        account.balance += amount;
        self.state.put_account(who, account);
        self.state.update_globals(|g| g.genesis_supply += amount);
        self.state.commit_tx();
    }

    /// Executes `body` for `sender`, all or nothing, as a transaction would.
    pub fn apply(&mut self, sender: Address, body: &TxBody) -> Result<(), TxError> {
        let result = self.exec().apply_body(sender, body);
        match result {
            Ok(()) => self.state.commit_tx(),
            Err(_) => self.state.rollback_tx(),
        }
        result
    }

    /// Settles `machine`'s hardware challenge, while it awaits a commitment,
    /// as passed (with the compute score `gops`) or failed, through the
    /// ledger's own verdict code: the simulator decides the outcome from the
    /// provider's strategy instead of computing proofs. Returns whether there
    /// was such a challenge.
    pub fn settle_challenge(&mut self, machine: MachineId, pass: bool, gops: u64) -> bool {
        let Some(ch) = self
            .state
            .machines
            .get(&machine)
            .and_then(|m| m.challenge)
            .and_then(|id| self.state.challenges.get(&id))
            .filter(|ch| ch.phase == gpunet_types::ChallengePhase::AwaitingCommit)
            .cloned()
        else {
            return false;
        };
        let mut exec = self.exec();
        let result = if pass {
            pass_challenge(&mut exec, &ch, gops.saturating_mul(1_000))
        } else {
            fail_challenge(&mut exec, &ch, "simulated")
        };
        match result {
            Ok(()) => self.state.commit_tx(),
            Err(_) => self.state.rollback_tx(),
        }
        true
    }

    /// Ends the current block at `now_ms` (time-driven work: challenges,
    /// rewards, rentals, settlement, deadlines, matching) and starts the next.
    pub fn next_block(&mut self, now_ms: u64) -> Result<(), TxError> {
        self.now_ms = now_ms.max(self.now_ms);
        self.exec().end_block()?;
        self.state.finish_block();
        self.parent = hash_of(&(self.parent, self.height));
        self.height += 1;
        self.exec().begin_block();
        self.state.finish_block();
        Ok(())
    }

    /// Drops the per-block change sets (a simulation keeps no history).
    pub fn flush(&mut self) {
        self.state.finish_block();
    }

    /// Events since the last call.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }
}
