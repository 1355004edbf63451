//! The ledger: state, storage and block execution put together.

use crate::error::{BlockError, GenesisError, LedgerError, TxError};
use crate::exec::Exec;
use crate::genesis::Genesis;
use crate::lthash::LtHash;
use crate::order::{Checks, JobPhase, Order, OrderKind, RentalPhase};
use crate::sigcache::SigCache;
use crate::state::{Globals, HardwareChallenge, State, ValidatorEntry, ValidatorSet};
use crate::store::Store;
use crate::table::Write;
use gpunet_primitives::{
    Address, Amount, Block, BlockHeader, ChallengeId, Hash, JobSpec, MachineId, OrderId, SignedTx,
};
use gpunet_types::{Account, Event, Machine, PeerAddr};
use std::path::Path;

/// A block the ledger executed, with the fate of every candidate transaction.
pub struct ProducedBlock {
    /// The block: its header and the transactions that applied.
    pub block: Block,
    /// One result per candidate, in candidate order, with the events it caused;
    /// only the `Ok` ones are in the block.
    pub results: Vec<Result<Vec<Event>, TxError>>,
    /// Events of the block's time-driven work (matching, settlement, deadlines).
    pub block_events: Vec<Event>,
}

impl ProducedBlock {
    /// Every event of the block, in order.
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.results
            .iter()
            .flatten()
            .flatten()
            .chain(&self.block_events)
    }
}

/// Transactions whose verified signatures are remembered: a few blocks' worth.
const SIG_CACHE_CAPACITY: usize = 1 << 18;

/// An executed block with the writes that persist it, not yet committed.
#[derive(Clone)]
struct Sealed {
    block: Block,
    writes: Vec<Write>,
    lthash: LtHash,
}

/// The last block executed without being committed (checked by a validator,
/// or built by a proposer), kept so that committing it once consensus decides
/// replays its writes instead of executing it again.
struct Validated {
    /// The head it was executed on: the writes hold only on that state.
    parent: Hash,
    sealed: Sealed,
    tx_events: Vec<Vec<Event>>,
    block_events: Vec<Event>,
}

/// The replicated state machine: the committed blocks in their store, the
/// state they lead to, and its root. Every node of a chain executes the
/// same blocks to the same state; nothing here reads a clock, a random
/// source or a hash map's order.
pub struct Ledger {
    chain_id: String,
    store: Store,
    state: State,
    lthash: LtHash,
    head: BlockHeader,
    sigs: SigCache,
    validated: Option<Validated>,
}

impl Ledger {
    /// Opens the ledger stored at `path` (in memory when `None`), creating it from
    /// `genesis` when empty. A stored ledger must come from the same genesis.
    pub fn open(path: Option<&Path>, genesis: &Genesis) -> Result<Ledger, LedgerError> {
        genesis.validate()?;
        let mut store = Store::open(path)?;
        let mut state = State::new(genesis.params.clone());
        let mut lthash = LtHash::default();
        let head = match store.genesis_hash()? {
            Some(stored) if stored != genesis.hash() => return Err(LedgerError::OtherGenesis),
            Some(_) => {
                store.for_each_entry(|k, v| {
                    state.load(k, v)?;
                    if let Some((table, key)) = k.split_first() {
                        lthash.insert(&crate::table::entry_bytes(*table, key, v));
                    }
                    Ok(())
                })?;
                let head = store.head()?.ok_or(LedgerError::NoHead)?;
                if head.state_root != lthash.root() {
                    return Err(LedgerError::StateRootMismatch {
                        height: head.height,
                    });
                }
                head
            }
            None => {
                for a in &genesis.accounts {
                    state.put_account(
                        a.address,
                        Account {
                            balance: a.balance,
                            ..Default::default()
                        },
                    );
                }
                for v in &genesis.validators {
                    let mut account = state.account(v);
                    account.validator_bonded = genesis.params.stake_per_vote;
                    state.put_account(*v, account);
                    state.validators.insert(
                        *v,
                        ValidatorEntry {
                            power: 1,
                            tombstoned: false,
                        },
                    );
                }
                let set = state.current_validators();
                state.validator_sets.insert(1, set);
                state.globals.insert(
                    (),
                    Globals {
                        genesis_supply: genesis.total_supply(),
                        ..Default::default()
                    },
                );
                let writes = state.block_changes(&mut lthash);
                state.finish_block();
                let header = BlockHeader {
                    chain_id: genesis.chain_id.clone(),
                    height: 0,
                    parent: genesis.hash(),
                    time_ms: genesis.genesis_time_ms,
                    proposer: *genesis
                        .validators
                        .first()
                        .ok_or_else(|| LedgerError::Genesis(GenesisError::NoValidator))?,
                    txs_root: Hash::ZERO,
                    state_root: lthash.root(),
                };
                let block = Block {
                    header: header.clone(),
                    txs: vec![],
                };
                store.commit_block(&block, &writes, Some(genesis.hash()))?;
                header
            }
        };
        Ok(Ledger {
            chain_id: genesis.chain_id.clone(),
            store,
            state,
            lthash,
            head,
            sigs: SigCache::new(SIG_CACHE_CAPACITY),
            validated: None,
        })
    }

    /// The chain this ledger follows (its genesis's).
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// The header of the newest committed block.
    pub fn head(&self) -> &BlockHeader {
        &self.head
    }

    /// The state after the newest committed block.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The state root after the newest committed block.
    pub fn state_root(&self) -> Hash {
        self.head.state_root
    }

    /// The validator set deciding `height`: (validator, voting power).
    pub fn validator_set(&self, height: u64) -> ValidatorSet {
        self.state.validator_set(height)
    }

    fn check_header_time(&self, proposer: &Address, time_ms: u64) -> Result<(), LedgerError> {
        let set = self.state.validator_set(self.head.height + 1);
        if !set.iter().any(|(v, _)| v == proposer) {
            return Err(BlockError::NotAValidator(*proposer).into());
        }
        if time_ms <= self.head.time_ms {
            return Err(BlockError::TimeNotAfterParent {
                time_ms,
                parent_ms: self.head.time_ms,
            }
            .into());
        }
        Ok(())
    }

    /// Builds and commits the next block from `candidates`, leaving out those that fail.
    pub fn produce_block(
        &mut self,
        proposer: Address,
        time_ms: u64,
        candidates: &[SignedTx],
    ) -> Result<ProducedBlock, LedgerError> {
        self.make_block(proposer, time_ms, candidates, true)
    }

    /// Builds the block `produce_block` would commit, without committing it: a
    /// consensus proposer offers it to the other validators first. The ledger is
    /// left unchanged.
    pub fn build_block(
        &mut self,
        proposer: Address,
        time_ms: u64,
        candidates: &[SignedTx],
    ) -> Result<ProducedBlock, LedgerError> {
        self.make_block(proposer, time_ms, candidates, false)
    }

    fn make_block(
        &mut self,
        proposer: Address,
        time_ms: u64,
        candidates: &[SignedTx],
        commit: bool,
    ) -> Result<ProducedBlock, LedgerError> {
        let (txs, results, block_events) =
            self.execute_candidates(proposer, time_ms, candidates)?;
        let sealed = self.seal(proposer, time_ms, txs);
        let block = if commit {
            self.persist(sealed)?
        } else {
            self.state.rollback_block();
            let tx_events = results.iter().filter_map(|r| r.clone().ok()).collect();
            self.keep_validated(sealed.clone(), tx_events, block_events.clone());
            sealed.block
        };
        Ok(ProducedBlock {
            block,
            results,
            block_events,
        })
    }

    /// Verifies and applies a block made elsewhere; every transaction must succeed
    /// and the resulting state root must match the header. A bad block changes nothing.
    /// Returns the block with its events, as `produce_block` does. The block
    /// last checked or built on this head is not executed again: its kept
    /// writes are replayed.
    pub fn apply_block(&mut self, block: &Block) -> Result<ProducedBlock, LedgerError> {
        let (sealed, tx_events, block_events) = match self.take_validated(block) {
            Some(v) => {
                if let Err(e) = self.state.replay(&v.sealed.writes) {
                    self.state.rollback_block();
                    return Err(e.into());
                }
                (v.sealed, v.tx_events, v.block_events)
            }
            None => self.execute_block(block)?,
        };
        let block = self.persist(sealed)?;
        Ok(ProducedBlock {
            block,
            results: tx_events.into_iter().map(Ok).collect(),
            block_events,
        })
    }

    /// Checks that `block` would apply on top of the head (the checks of
    /// `apply_block`) without applying it. The ledger is left unchanged.
    pub fn check_block(&mut self, block: &Block) -> Result<(), LedgerError> {
        let (sealed, tx_events, block_events) = self.execute_block(block)?;
        self.state.rollback_block();
        self.keep_validated(sealed, tx_events, block_events);
        Ok(())
    }

    fn keep_validated(
        &mut self,
        sealed: Sealed,
        tx_events: Vec<Vec<Event>>,
        block_events: Vec<Event>,
    ) {
        self.validated = Some(Validated {
            parent: self.head.hash(),
            sealed,
            tx_events,
            block_events,
        });
    }

    /// The kept execution of `block`, if it is the block last validated or
    /// built on the current head.
    fn take_validated(&mut self, block: &Block) -> Option<Validated> {
        let v = self.validated.take()?;
        let same = v.parent == self.head.hash()
            && v.sealed.block.header == block.header
            && Block::txs_root(&block.txs) == block.header.txs_root;
        same.then_some(v)
    }

    /// Checks a transaction against the committed state before it enters a mempool:
    /// signature, chain, fee and a stale nonce always; with the sender's next nonce
    /// the whole transaction is executed and undone. A transaction waiting behind
    /// the sender's earlier ones passes with only the first checks. The ledger is
    /// left unchanged.
    pub fn check_tx(&mut self, tx: &SignedTx) -> Result<(), TxError> {
        let expected = self.state.account(&tx.tx.sender).nonce;
        if tx.tx.nonce > expected {
            let min_fee = self.state.params.min_fee;
            return crate::exec::check_envelope(tx, &self.chain_id, min_fee, &mut self.sigs);
        }
        let mut events = Vec::new();
        let result = Exec {
            state: &mut self.state,
            chain_id: &self.chain_id,
            proposer: self.head.proposer,
            now_ms: self.head.time_ms,
            height: self.head.height + 1,
            parent: self.head.hash(),
            events: &mut events,
            sigs: &mut self.sigs,
        }
        .apply_tx(tx);
        self.state.rollback_block();
        result
    }

    /// Runs the block's time-driven work and every candidate that succeeds, leaving
    /// the changes uncommitted. Returns the included transactions, one result per
    /// candidate, and the events of the time-driven work.
    #[allow(clippy::type_complexity)]
    fn execute_candidates(
        &mut self,
        proposer: Address,
        time_ms: u64,
        candidates: &[SignedTx],
    ) -> Result<(Vec<SignedTx>, Vec<Result<Vec<Event>, TxError>>, Vec<Event>), LedgerError> {
        self.check_header_time(&proposer, time_ms)?;
        self.sigs.verify_many(candidates);
        let mut events = Vec::new();
        let mut results = Vec::with_capacity(candidates.len());
        let mut txs = Vec::new();
        let mut exec = Exec {
            state: &mut self.state,
            chain_id: &self.chain_id,
            proposer,
            now_ms: time_ms,
            height: self.head.height + 1,
            parent: self.head.hash(),
            events: &mut events,
            sigs: &mut self.sigs,
        };
        exec.begin_block();
        let mut block_events = std::mem::take(exec.events);
        for tx in candidates {
            let r = exec.apply_tx(tx);
            if r.is_ok() {
                txs.push(tx.clone());
            }
            results.push(r.map(|()| std::mem::take(&mut *exec.events)));
        }
        if let Err(e) = exec.end_block() {
            self.state.rollback_block();
            return Err(BlockError::EndOfBlock(e).into());
        }
        block_events.extend(events);
        Ok((txs, results, block_events))
    }

    /// Executes a block made elsewhere, leaving its changes uncommitted when it is
    /// valid and the ledger unchanged when it is not.
    #[allow(clippy::type_complexity)]
    fn execute_block(
        &mut self,
        block: &Block,
    ) -> Result<(Sealed, Vec<Vec<Event>>, Vec<Event>), LedgerError> {
        let h = &block.header;
        if h.chain_id != self.chain_id
            || h.height != self.head.height + 1
            || h.parent != self.head.hash()
        {
            return Err(BlockError::NotOnHead.into());
        }
        self.check_header_time(&h.proposer, h.time_ms)?;
        if Block::txs_root(&block.txs) != h.txs_root {
            return Err(BlockError::TxsRoot.into());
        }
        self.sigs.verify_many(&block.txs);
        let mut events = Vec::new();
        let mut exec = Exec {
            state: &mut self.state,
            chain_id: &self.chain_id,
            proposer: h.proposer,
            now_ms: h.time_ms,
            height: h.height,
            parent: h.parent,
            events: &mut events,
            sigs: &mut self.sigs,
        };
        exec.begin_block();
        let mut block_events = std::mem::take(exec.events);
        let mut tx_events = Vec::with_capacity(block.txs.len());
        let mut failure = None;
        for (i, tx) in block.txs.iter().enumerate() {
            if let Err(error) = exec.apply_tx(tx) {
                failure = Some(BlockError::Tx { index: i, error });
                break;
            }
            tx_events.push(std::mem::take(&mut *exec.events));
        }
        if failure.is_none() {
            if let Err(e) = exec.end_block() {
                failure = Some(BlockError::EndOfBlock(e));
            }
        }
        if let Some(reason) = failure {
            self.state.rollback_block();
            return Err(reason.into());
        }
        let sealed = self.seal(h.proposer, h.time_ms, block.txs.clone());
        if sealed.block.header.state_root != h.state_root {
            self.state.rollback_block();
            return Err(BlockError::StateRoot.into());
        }
        block_events.extend(events);
        Ok((sealed, tx_events, block_events))
    }

    /// Records receipts for the executed block and computes its header.
    fn seal(&mut self, proposer: Address, time_ms: u64, txs: Vec<SignedTx>) -> Sealed {
        let height = self.head.height + 1;
        for (i, tx) in txs.iter().enumerate() {
            self.state.receipts.insert(tx.hash(), (height, i as u32));
        }
        self.state.commit_tx();
        let mut lthash = self.lthash.clone();
        let writes = self.state.block_changes(&mut lthash);
        let header = BlockHeader {
            chain_id: self.chain_id.clone(),
            height,
            parent: self.head.hash(),
            time_ms,
            proposer,
            txs_root: Block::txs_root(&txs),
            state_root: lthash.root(),
        };
        Sealed {
            block: Block { header, txs },
            writes,
            lthash,
        }
    }

    /// Persists a sealed block and makes it the head; on error the block is undone.
    fn persist(&mut self, sealed: Sealed) -> Result<Block, LedgerError> {
        if let Err(e) = self.store.commit_block(&sealed.block, &sealed.writes, None) {
            self.state.rollback_block();
            return Err(e);
        }
        self.state.finish_block();
        self.lthash = sealed.lthash;
        self.head = sealed.block.header.clone();
        Ok(sealed.block)
    }

    /// The committed block at `height`, if the store holds it (a node that
    /// joined from a snapshot holds none before it).
    pub fn block(&self, height: u64) -> Result<Option<Block>, LedgerError> {
        self.store.block(height)
    }

    /// The state at the head, to be written as a snapshot: blocks committed
    /// while it is written do not change it.
    pub fn snapshot(&self) -> Result<crate::snapshot::SnapshotSource, LedgerError> {
        crate::snapshot::SnapshotSource::new(self.store.frozen()?)
    }

    /// An account (all zero if never used).
    pub fn account(&self, address: &Address) -> Account {
        self.state.account(address)
    }

    /// Where `account`'s data-plane peer is reached, as it last announced.
    pub fn peer(&self, account: &Address) -> Option<PeerAddr> {
        let record = self.state.peers.get(account)?;
        Some(PeerAddr {
            account: *account,
            // Stored as `SocketAddr` wrote them: they parse back.
            direct: record
                .direct
                .iter()
                .filter_map(|a| a.parse().ok())
                .collect(),
            relay: record.relay.clone(),
        })
    }

    /// A registered machine.
    pub fn machine(&self, id: MachineId) -> Option<&Machine> {
        self.state.machines.get(&id)
    }

    /// Every registered machine, by id.
    pub fn machines(&self) -> impl Iterator<Item = &Machine> {
        self.state.machines.iter().map(|(_, m)| m)
    }

    /// An order, open or closed.
    pub fn order(&self, id: OrderId) -> Option<&Order> {
        self.state.orders.get(&id).map(|o| &**o)
    }

    /// Why order `id` finds no machine now, over every registered machine,
    /// naming the `closest` that miss the fewest requirements.
    pub fn unmatched(&self, id: OrderId, closest: usize) -> Option<gpunet_types::Unmatched> {
        let order = self.state.orders.get(&id)?;
        Some(crate::exec::unmatched(&self.state, order, closest))
    }

    /// What matching would make now of an order for `spec` at
    /// `max_price_per_hour` (a rental with `rental`), without placing it:
    /// [`Ledger::unmatched`] of that order, its `closest` machines those
    /// that could take it first, cheapest first. A spec that placing the
    /// order would refuse is refused the same way.
    pub fn dry_run(
        &self,
        spec: &JobSpec,
        max_price_per_hour: Amount,
        rental: bool,
        closest: usize,
    ) -> Result<gpunet_types::Unmatched, TxError> {
        crate::exec::check_order(&self.state.params, spec, max_price_per_hour, rental)?;
        let deposit = gpunet_types::min_deposit(max_price_per_hour, spec)?;
        let order = Order {
            id: self.state.globals().next_order_id,
            // Nobody's: what fits does not depend on who asks.
            client: Address([0; 32]),
            spec: spec.clone(),
            max_price_per_hour,
            deposit,
            escrow: deposit,
            submitted_ms: self.head.time_ms,
            queued_ms: self.head.time_ms,
            kind: if rental {
                OrderKind::Rental(RentalPhase::Pending)
            } else {
                OrderKind::Job {
                    phase: JobPhase::Pending,
                    checks: Checks::default(),
                    attempts: Vec::new(),
                    array: None,
                }
            },
            declines: Vec::new(),
            result_readers: Vec::new(),
        };
        Ok(crate::exec::unmatched(&self.state, &order, closest))
    }

    /// Every order ever submitted, by id.
    pub fn orders(&self) -> impl DoubleEndedIterator<Item = &Order> {
        self.state.orders.iter().map(|(_, o)| &**o)
    }

    /// `client`'s orders (audit runs of its jobs included), newest first,
    /// from the one before `before` on (from the newest without it), at most
    /// `limit` of them.
    pub fn client_orders(
        &self,
        client: &Address,
        before: Option<OrderId>,
        limit: usize,
    ) -> Vec<&Order> {
        let end = (*client, before.unwrap_or(OrderId::MAX));
        self.state
            .client_orders
            .range((*client, 0)..end)
            .rev()
            .take(limit)
            .filter_map(|((_, id), _)| self.state.orders.get(id).map(|o| &**o))
            .collect()
    }

    /// Orders currently leased to `provider`'s machines and not yet reported.
    pub fn open_leases(&self, provider: &Address) -> Vec<&Order> {
        self.state
            .provider_leases
            .range((*provider, 0)..=(*provider, OrderId::MAX))
            .filter_map(|((_, id), _)| self.state.orders.get(id).map(|o| &**o))
            .collect()
    }

    /// Where a transaction was included: (height, index).
    pub fn receipt(&self, tx_hash: &Hash) -> Option<(u64, u32)> {
        self.state.receipts.get(tx_hash).copied()
    }

    /// A hardware challenge, open or decided.
    pub fn challenge(&self, id: ChallengeId) -> Option<&HardwareChallenge> {
        self.state.challenges.get(&id)
    }

    /// The earliest block time at which time-driven work (settlement, deadlines,
    /// unbonding, order expiry, hardware challenges) becomes due, if any is scheduled.
    pub fn next_due_ms(&self) -> Option<u64> {
        let s = &self.state;
        [
            // Rows of a committed challenge are drawn in the very next block.
            (!s.awaiting_beacon.is_empty()).then_some(self.head.time_ms + 1),
            s.challenge_deadlines.iter().next().map(|((t, _), _)| *t),
            s.challenge_schedule.iter().next().map(|((t, _), _)| *t),
            Some(s.globals().next_epoch_ms).filter(|t| *t > 0),
            s.settle_queue.iter().next().map(|((t, _), _)| *t),
            s.rental_billing.iter().next().map(|((t, _), _)| *t),
            s.probe_deadlines.iter().next().map(|((t, _), _)| *t),
            s.deadlines.iter().next().map(|((t, _), _)| *t),
            s.unbonding_queue.iter().next().map(|((t, _), _)| *t),
            s.pending
                .iter()
                .next()
                .map(|((t, _), _)| t.saturating_add(s.params.order_ttl_ms)),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Checks every invariant of the state (`invariants::check`).
    pub fn check_invariants(&self) -> Result<(), crate::invariants::Violation> {
        crate::invariants::check(&self.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genesis::GenesisAccount;
    use crate::invariants::Violation;
    use gpunet_primitives::{Keypair, UNIT};
    use gpunet_types::Params;

    /// A ledger at genesis: one validator, one funded account.
    fn ledger() -> (Ledger, Address, Address) {
        let validator = Keypair::from_label("validator").address();
        let rich = Keypair::from_label("rich").address();
        let genesis = Genesis {
            chain_id: "invariants".into(),
            genesis_time_ms: 0,
            accounts: vec![GenesisAccount {
                address: rich,
                balance: 10 * UNIT,
            }],
            validators: vec![validator],
            params: Params::default(),
        };
        (Ledger::open(None, &genesis).unwrap(), validator, rich)
    }

    #[test]
    fn a_token_from_nowhere_breaks_supply_conservation() {
        let (mut ledger, _, rich) = ledger();
        assert_eq!(ledger.check_invariants(), Ok(()));
        let mut account = ledger.state.account(&rich);
        account.balance += 1;
        ledger.state.put_account(rich, account);
        match ledger.check_invariants() {
            Err(Violation::SupplyNotConserved { held, issued, .. }) => {
                assert_eq!(held, issued + 1)
            }
            other => panic!("expected a broken supply, got {other:?}"),
        }
    }

    #[test]
    fn voting_power_that_stake_does_not_back_is_named() {
        let (mut ledger, validator, _) = ledger();
        let mut entry = ledger.state.validators.get(&validator).unwrap().clone();
        entry.power += 1;
        ledger.state.validators.insert(validator, entry.clone());
        let violation = ledger.check_invariants().unwrap_err();
        assert!(
            matches!(violation, Violation::WrongPower { validator: v, power, .. }
                if v == validator && power == entry.power),
            "{violation:?}"
        );
        assert!(violation
            .to_string()
            .starts_with(&format!("validator {validator} has power")));
    }
}
