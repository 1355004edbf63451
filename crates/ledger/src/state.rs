//! The ledger's state: typed tables and the records they hold.

use crate::error::EntryError;
use crate::lthash::LtHash;
use crate::order::Order;
use crate::table::{Table, Write};
use borsh::{BorshDeserialize, BorshSerialize};
use gpunet_poc::Challenge;
use gpunet_primitives::{Address, Amount, ChallengeId, Hash, MachineId, OrderId, ResourcePrices};
use gpunet_types::Params;
use gpunet_types::{
    Account, Allocation, ChallengePhase, ChallengeTask, ChallengeView, HardwareStatus, Machine,
};
use serde::{Deserialize, Serialize};

/// A proof-of-compute challenge to one machine, from issue to verdict.
/// The API shows it as a [`ChallengeView`].
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct HardwareChallenge {
    /// Its id, in issue order.
    pub id: ChallengeId,
    /// The machine challenged.
    pub machine: MachineId,
    /// The machine's owner, who answers and is slashed for a miss.
    pub owner: Address,
    /// The work asked: seed, size and rows to open.
    pub challenge: Challenge,
    /// The compute class the machine's claimed hardware falls in.
    pub class: String,
    /// Block time it was issued.
    pub issued_ms: u64,
    /// Block time by which the machine commits to its result.
    pub commit_deadline_ms: u64,
    /// Where it is: awaiting the commitment, committed, opening rows.
    pub phase: ChallengePhase,
}

impl HardwareChallenge {
    /// Its entry in `challenge_deadlines` (commit or opening deadline), or
    /// `None` while committed and waiting for its rows (`awaiting_beacon`).
    pub fn deadline_key(&self) -> Option<(u64, ChallengeId)> {
        match &self.phase {
            ChallengePhase::AwaitingCommit => Some((self.commit_deadline_ms, self.id)),
            ChallengePhase::Committed { .. } => None,
            ChallengePhase::Opening { deadline_ms, .. } => Some((*deadline_ms, self.id)),
        }
    }

    /// The challenge as the API shows it.
    pub fn view(&self) -> ChallengeView {
        let Challenge {
            seed,
            rows,
            inner,
            cols,
        } = self.challenge;
        ChallengeView {
            id: self.id,
            machine: self.machine,
            owner: self.owner,
            challenge: ChallengeTask {
                seed,
                rows,
                inner,
                cols,
            },
            class: self.class.clone(),
            issued_ms: self.issued_ms,
            commit_deadline_ms: self.commit_deadline_ms,
            phase: self.phase.clone(),
        }
    }
}

/// Chain-wide counters and totals.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Globals {
    /// Tokens created at genesis.
    pub genesis_supply: Amount,
    /// Tokens created after genesis (rewards); zero until rewards exist.
    pub minted: Amount,
    /// Tokens destroyed: the burned share of payments and all slashed stake.
    pub burned: Amount,
    /// Of those burned, the stake slashed.
    pub slashed: Amount,
    /// Transaction fees paid (burned).
    pub fees_paid: Amount,
    /// The id the next registered machine gets.
    pub next_machine_id: MachineId,
    /// The id the next submitted order gets.
    pub next_order_id: OrderId,
    /// The id the next hardware challenge gets.
    pub next_challenge_id: ChallengeId,
    /// Block time of the next epoch boundary (rewards); 0 until the first block.
    pub next_epoch_ms: u64,
    /// The last pending order matching looked at (the window moves on from it).
    pub match_cursor: Option<(u64, OrderId)>,
}

/// Where an account's data-plane peer is reached, as it announced
/// (`TxBody::AnnouncePeer`): socket addresses in canonical form, a relay URL.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct PeerRecord {
    /// `IP:port`, each as `SocketAddr` writes it.
    pub direct: Vec<String>,
    /// An `http://` or `https://` URL.
    pub relay: Option<String>,
}

/// An account that bonded validator stake.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct ValidatorEntry {
    /// Voting power: whole multiples of `stake_per_vote` bonded; 0 once tombstoned.
    pub power: u64,
    /// Punished for double-signing: out of the set for good.
    pub tombstoned: bool,
}

/// A validator set: (validator, voting power) by address.
pub type ValidatorSet = Vec<(Address, u64)>;

/// Every table of the state. Index tables map a sortable key to `()`.
pub struct State {
    /// The protocol's parameters (from genesis).
    pub params: Params,
    /// Accounts that bonded validator stake.
    pub validators: Table<Address, ValidatorEntry>,
    /// Each validator set and the first height it decides: (height, set).
    pub validator_sets: Table<u64, ValidatorSet>,
    /// Chain-wide counters and totals: one entry.
    pub globals: Table<(), Globals>,
    /// Accounts with a balance, stake or nonce (an all-zero one is removed).
    pub accounts: Table<Address, Account>,
    /// Registered machines.
    pub machines: Table<MachineId, Machine>,
    /// Every order, open or closed. Boxed: ids ascend, so the map's nodes
    /// stay about half full, and a kilobyte-sized order held in them
    /// inline cost nearly twice its size (the simulator's peak memory fell
    /// by a third). Stored and hashed as the order itself.
    pub orders: Table<OrderId, Box<Order>>,
    /// Orders waiting for a machine, oldest first: (queued_ms, order).
    pub pending: Table<(u64, OrderId), ()>,
    /// Running orders by lease deadline: (deadline_ms, order).
    pub deadlines: Table<(u64, OrderId), ()>,
    /// Reported orders by settlement time: (settle_at_ms, order).
    pub settle_queue: Table<(u64, OrderId), ()>,
    /// Accounts with unbonding stake, by release time: (release_ms, account).
    pub unbonding_queue: Table<(u64, Address), ()>,
    /// Open leases of each provider: (provider, order).
    pub provider_leases: Table<(Address, OrderId), ()>,
    /// Every order of each client, audit runs included: (client, order).
    pub client_orders: Table<(Address, OrderId), ()>,
    /// Transaction receipts: tx hash -> (height, index).
    pub receipts: Table<Hash, (u64, u32)>,
    /// Open hardware challenges.
    pub challenges: Table<ChallengeId, HardwareChallenge>,
    /// Open challenges by their current deadline: (deadline_ms, challenge).
    pub challenge_deadlines: Table<(u64, ChallengeId), ()>,
    /// Challenges committed in a block, waiting for its hash: (height, challenge).
    pub awaiting_beacon: Table<(u64, ChallengeId), ()>,
    /// Listed machines by the time of their next challenge: (due_ms, machine).
    pub challenge_schedule: Table<(u64, MachineId), ()>,
    /// Running rentals by their next billing time: (bill_ms, order).
    pub rental_billing: Table<(u64, OrderId), ()>,
    /// Rentals with an unanswered liveness probe: (deadline_ms, order).
    pub probe_deadlines: Table<(u64, OrderId), ()>,
    /// Machines that can take work (online, verified, a core free), by GPU
    /// model and then least loaded, cheapest: see `OfferKey`. Each holds
    /// the machine's resource prices, so that matching quotes a job from
    /// the index and looks up only the machines that could win it.
    pub offers: Table<OfferKey, ResourcePrices>,
    /// The same machines by GPU model and then cheapest, least loaded.
    pub cheap_offers: Table<OfferKey, ResourcePrices>,
    /// Interned GPU models: id (from 1) to lowercase name.
    pub gpu_models: Table<u32, String>,
    /// Where accounts' data-plane peers are reached.
    pub peers: Table<Address, PeerRecord>,
    /// Pending orders other than audit runs by what they ask, oldest first
    /// within each bucket: see `WantKey`. Matching walks it from a machine
    /// that freed up to the oldest order that machine can take.
    pub wanting: Table<WantKey, ()>,
    /// Machines whose offer appeared or improved (anything but a lease
    /// stored for them) since matching last served them from `wanting`:
    /// the end of each block serves a bounded number and keeps the rest.
    pub offered: Table<MachineId, ()>,
}

/// (wanted GPU model: an id of `gpu_models`, `ANY_GPU`, `UNKNOWN_GPU` or
/// `CPU_WORK`; size class of the GPUs asked, of the cores for CPU work, see
/// `size_class`; queued_ms; order): a pending order's bucket by what it
/// asks, in queue order. An order whose model filter names exactly one
/// known model waits under that model; one with no filter, or a filter
/// that names several, under `ANY_GPU`; one whose filter names no known
/// model under `UNKNOWN_GPU`, which no machine walks (the order-side passes
/// find it once a machine of such a model appears). The index only
/// proposes candidates: matching checks every rule on each.
pub(crate) type WantKey = (u32, u8, u64, OrderId);

/// The `WantKey` model of orders that take any GPU model.
pub(crate) const ANY_GPU: u32 = u32::MAX;
/// The `WantKey` model of orders whose filter named no known GPU model.
const UNKNOWN_GPU: u32 = u32::MAX - 1;
/// The `WantKey` model of orders that ask for no GPU.
pub(crate) const CPU_WORK: u32 = 0;

/// (GPU model id, see `gpu_models`, 0 for none; size class, see
/// `size_class`; first order term; second order term; block time of its
/// last lease, 0 for never; machine): the terms are (leases, base price) in
/// `offers` and (base price, leases) in `cheap_offers`. Among equal terms
/// the machine leased longest ago comes first, so machines of the same load
/// and price take work in turn rather than the lowest id taking it all. Models are interned so index writes compare integers, not
/// names. Within a model, machines are kept apart by size class so a job
/// that needs many cores or GPUs skips the machines too small for it instead
/// of scanning past them.
pub(crate) type OfferKey = (u32, u8, u128, u128, u64, MachineId);

/// The size class of a machine's free resources in its GPU model's group of
/// the offer index, or of a job's needs there: the bit length (0 for none, 1
/// for 1, 2 for 2-3, 3 for 4-7, ...) of its GPUs in a GPU model's group, of
/// its cores among machines without GPUs. Monotone, so a machine whose class
/// is below a job's cannot hold it.
pub(crate) fn size_class(gpu_model: u32, cores: u32, gpus: u32) -> u8 {
    let sized = if gpu_model == 0 { cores } else { gpus };
    (u32::BITS - sized.leading_zeros()) as u8
}

/// Its turn among offers equal in load and price: the block time of its
/// last lease, 0 for never. The offer index orders by it, and matching
/// ranks offers by it as the index holds it.
fn lease_turn(m: &Machine) -> u64 {
    m.last_leased_ms.unwrap_or(0)
}

/// Whether any resource of `new` is more allocated than in `old`.
fn allocation_grew(old: &Allocation, new: &Allocation) -> bool {
    new.cpu_cores > old.cpu_cores
        || new.memory_mb > old.memory_mb
        || new.disk_mb > old.disk_mb
        || new.gpus > old.gpus
}

/// The machine's keys in the two offer indexes, if it can take work.
pub(crate) fn offer_keys(m: &Machine) -> Option<(OfferKey, OfferKey)> {
    let free_cores = m.spec.cpu_cores.saturating_sub(m.allocated.cpu_cores);
    if !(m.online && m.hardware == HardwareStatus::Verified && free_cores > 0) {
        return None;
    }
    let model = m.gpu_model_id;
    let free_gpus = m.spec.gpu_count().saturating_sub(m.allocated.gpus);
    let class = size_class(model, free_cores, free_gpus);
    let leases = u128::from(m.active_leases);
    let leased = lease_turn(m);
    Some((
        (model, class, leases, m.price_per_hour, leased, m.id),
        (model, class, m.price_per_hour, leases, leased, m.id),
    ))
}

/// Calls `$body` with `$t` bound to each table of a `State`, in a fixed order.
macro_rules! for_each_table {
    ($state:expr, |$t:ident| $body:expr) => {{
        for_each_table!(@each $state, $t, $body, globals accounts machines orders pending
            deadlines settle_queue unbonding_queue provider_leases client_orders receipts challenges
            challenge_deadlines awaiting_beacon challenge_schedule rental_billing probe_deadlines offers cheap_offers gpu_models validators validator_sets peers wanting offered);
    }};
    (@each $state:expr, $t:ident, $body:expr, $($field:ident)*) => {
        $( { let $t = &mut $state.$field; $body; } )*
    };
}

macro_rules! for_each_table_ref {
    ($state:expr, |$t:ident| $body:expr) => {{
        for_each_table_ref!(@each $state, $t, $body, globals accounts machines orders pending
            deadlines settle_queue unbonding_queue provider_leases client_orders receipts challenges
            challenge_deadlines awaiting_beacon challenge_schedule rental_billing probe_deadlines offers cheap_offers gpu_models validators validator_sets peers wanting offered);
    }};
    (@each $state:expr, $t:ident, $body:expr, $($field:ident)*) => {
        $( { let $t = &$state.$field; $body; } )*
    };
}

impl State {
    /// An empty state under `params`.
    pub fn new(params: Params) -> State {
        State {
            params,
            validators: Table::new(20),
            validator_sets: Table::new(21),
            globals: Table::new(1),
            accounts: Table::new(2),
            machines: Table::new(3),
            orders: Table::new(4),
            pending: Table::new(5),
            deadlines: Table::new(6),
            settle_queue: Table::new(7),
            unbonding_queue: Table::new(8),
            provider_leases: Table::new(9),
            receipts: Table::new(10),
            challenges: Table::new(11),
            challenge_deadlines: Table::new(12),
            awaiting_beacon: Table::new(13),
            challenge_schedule: Table::new(14),
            rental_billing: Table::new(15),
            probe_deadlines: Table::new(16),
            offers: Table::new(17),
            cheap_offers: Table::new(18),
            gpu_models: Table::new(19),
            client_orders: Table::new(22),
            peers: Table::new(23),
            wanting: Table::new(24),
            offered: Table::new(25),
        }
    }

    /// The validator set deciding `height`.
    pub fn validator_set(&self, height: u64) -> ValidatorSet {
        self.validator_sets
            .range(..=height)
            .next_back()
            .map(|(_, set)| set.clone())
            .unwrap_or_default()
    }

    /// The set the validators table describes now.
    pub(crate) fn current_validators(&self) -> ValidatorSet {
        self.validators
            .iter()
            .filter(|(_, v)| v.power > 0)
            .map(|(a, v)| (*a, v.power))
            .collect()
    }

    /// The chain-wide counters and totals.
    pub fn globals(&self) -> Globals {
        self.globals.get(&()).cloned().unwrap_or_default()
    }

    /// Changes the chain-wide counters and totals with `f`.
    pub fn update_globals(&mut self, f: impl FnOnce(&mut Globals)) {
        let mut g = self.globals();
        f(&mut g);
        self.globals.insert((), g);
    }

    /// An account (all zero if never used).
    pub fn account(&self, address: &Address) -> Account {
        self.accounts.get(address).cloned().unwrap_or_default()
    }

    /// Stores an account; an all-zero one is removed, as if never used.
    pub fn put_account(&mut self, address: Address, account: Account) {
        if account == Account::default() {
            self.accounts.remove(&address);
        } else {
            self.accounts.insert(address, account);
        }
    }

    /// The id of a GPU model name (lowercased), interned on first sight.
    pub fn gpu_model_id(&mut self, name: &str) -> u32 {
        let name = name.to_lowercase();
        if let Some((id, _)) = self.gpu_models.iter().find(|(_, n)| **n == name) {
            return *id;
        }
        let id = self.gpu_models.len() as u32 + 1;
        self.gpu_models.insert(id, name);
        id
    }

    /// Stores a machine, keeping the offer indexes in step with it, and
    /// notes it in `offered` if it can take work and was not just leased
    /// more (its allocation grew): it may fit orders it did not fit before.
    pub fn put_machine(&mut self, machine: Machine) {
        let old = self.machines.get(&machine.id);
        let leased_more =
            old.is_some_and(|old| allocation_grew(&old.allocated, &machine.allocated));
        let (old_keys, new_keys) = (old.and_then(offer_keys), offer_keys(&machine));
        // Most writes (a challenge passed, a result counted) leave the
        // offer where it was: the indexes are touched only when it moves.
        let moved = old_keys != new_keys
            || old.is_some_and(|old| old.resource_prices != machine.resource_prices);
        if moved {
            if let Some((spread, cheap)) = old_keys {
                self.offers.remove(&spread);
                self.cheap_offers.remove(&cheap);
            }
            if let Some((spread, cheap)) = new_keys {
                self.offers.insert(spread, machine.resource_prices);
                self.cheap_offers.insert(cheap, machine.resource_prices);
            }
        }
        if new_keys.is_some() && !leased_more {
            self.offered.insert(machine.id, ());
        }
        self.machines.insert(machine.id, machine);
    }

    /// Removes a machine and its entries in the offer indexes.
    pub fn remove_machine(&mut self, id: MachineId) -> Option<Machine> {
        self.unindex_machine(id);
        self.offered.remove(&id);
        self.machines.remove(&id)
    }

    fn unindex_machine(&mut self, id: MachineId) {
        if let Some((spread, cheap)) = self.machines.get(&id).and_then(offer_keys) {
            self.offers.remove(&spread);
            self.cheap_offers.remove(&cheap);
        }
    }

    /// The GPU models whose names contain `filter`, as a job's model filter
    /// is read (case-insensitively), by id.
    fn models_matching(&self, filter: &str) -> Vec<u32> {
        let filter = filter.to_lowercase();
        self.gpu_models
            .iter()
            .filter(|(_, name)| name.contains(&filter))
            .map(|(id, _)| *id)
            .collect()
    }

    /// `order`'s key in `wanting` as it would be queued now (see `WantKey`;
    /// none for an audit run), with the models its filter names now.
    fn want_key(&self, order: &Order) -> Option<(WantKey, Vec<u32>)> {
        if order.audit_of().is_some() {
            return None;
        }
        let (queued_ms, id) = order.queue_key();
        let r = &order.spec.resources;
        if r.gpu.count == 0 {
            let class = size_class(0, r.cpu_cores, 0);
            return Some(((CPU_WORK, class, queued_ms, id), Vec::new()));
        }
        let class = size_class(ANY_GPU, 0, r.gpu.count);
        let Some(filter) = &r.gpu.model else {
            return Some(((ANY_GPU, class, queued_ms, id), Vec::new()));
        };
        let named = self.models_matching(filter);
        let wanted = match named[..] {
            [] => UNKNOWN_GPU,
            [one] => one,
            _ => ANY_GPU,
        };
        Some(((wanted, class, queued_ms, id), named))
    }

    /// The keys `order` may wait under in `wanting`: models interned since
    /// it was queued can only have widened its filter's matches (from none
    /// to one or several, from one to several), so under its key now, under
    /// `UNKNOWN_GPU`, or under one of the models its filter names now.
    fn wanting_keys(&self, order: &Order) -> Vec<WantKey> {
        let Some((key, named)) = self.want_key(order) else {
            return Vec::new();
        };
        let (_, class, queued_ms, id) = key;
        let mut keys = vec![key];
        if order.spec.resources.gpu.count > 0 && order.spec.resources.gpu.model.is_some() {
            keys.push((UNKNOWN_GPU, class, queued_ms, id));
            keys.extend(named.into_iter().map(|m| (m, class, queued_ms, id)));
        }
        keys
    }

    /// Whether `order` has a place in `wanting` while pending: all but
    /// audit runs do.
    pub(crate) fn is_wanting(&self, order: &Order) -> bool {
        order.audit_of().is_none()
    }

    /// Puts `order` in the pending queue and, unless it is an audit run, in
    /// `wanting`.
    pub(crate) fn queue_order(&mut self, order: &Order) {
        self.pending.insert(order.queue_key(), ());
        if let Some((key, _)) = self.want_key(order) {
            self.wanting.insert(key, ());
        }
    }

    /// Takes `order` out of the pending queue and `wanting`.
    pub(crate) fn unqueue_order(&mut self, order: &Order) {
        self.pending.remove(&order.queue_key());
        for key in self.wanting_keys(order) {
            self.wanting.remove(&key);
        }
    }

    /// Whether `wanting` holds `order`, a pending order that belongs there,
    /// under one of the keys it may wait under (the count of entries,
    /// checked apart, makes that exactly one).
    pub(crate) fn wanting_consistent(&self, order: &Order) -> bool {
        self.wanting_keys(order)
            .iter()
            .any(|key| self.wanting.contains(key))
    }

    /// Whether the offer indexes hold exactly the machines that can take work.
    pub(crate) fn offers_consistent(&self) -> bool {
        let mut offering = 0;
        let each_indexed = self.machines.iter().all(|(_, m)| {
            offer_keys(m).is_none_or(|(spread, cheap)| {
                offering += 1;
                let prices = Some(&m.resource_prices);
                self.offers.get(&spread) == prices && self.cheap_offers.get(&cheap) == prices
            })
        });
        each_indexed && offering == self.offers.len() && offering == self.cheap_offers.len()
    }

    /// Stops recording each block's changes in every table, for a state
    /// that is never hashed, persisted nor rolled back a block at a time.
    #[cfg(feature = "sim")]
    pub(crate) fn stop_tracking_blocks(&mut self) {
        for_each_table!(self, |t| t.stop_tracking_blocks());
    }

    /// Keeps the current transaction's writes (in every table).
    pub fn commit_tx(&mut self) {
        for_each_table!(self, |t| t.commit_tx());
    }

    /// Undoes the current transaction's writes: a rejected one changes nothing.
    pub fn rollback_tx(&mut self) {
        for_each_table!(self, |t| t.rollback_tx());
    }

    /// Undoes every write of the block being built or checked.
    pub fn rollback_block(&mut self) {
        for_each_table!(self, |t| t.rollback_block());
    }

    /// Folds the block's changes into `hash` and returns the writes to persist.
    pub fn block_changes(&self, hash: &mut LtHash) -> Vec<Write> {
        let mut writes = Vec::new();
        for_each_table_ref!(self, |t| t.block_changes(hash, &mut writes));
        writes
    }

    /// Makes the block's changes permanent once they are persisted.
    pub fn finish_block(&mut self) {
        for_each_table!(self, |t| t.finish_block());
    }

    /// Applies writes made by `block_changes` from this same state, as
    /// changes of the current block (so a failed commit still rolls back).
    pub fn replay(&mut self, writes: &[Write]) -> Result<(), EntryError> {
        for (stored_key, value) in writes {
            self.apply_stored(stored_key, value.as_deref(), true)?;
        }
        self.commit_tx();
        Ok(())
    }

    /// Loads one stored entry at startup.
    pub fn load(&mut self, stored_key: &[u8], value: &[u8]) -> Result<(), EntryError> {
        self.apply_stored(stored_key, Some(value), false)
    }

    /// Hands a stored entry (table-prefixed key, value; `None` deletes) to its
    /// table: as a change of the current block when `tracked`, else as
    /// loaded state.
    fn apply_stored(
        &mut self,
        stored_key: &[u8],
        value: Option<&[u8]>,
        tracked: bool,
    ) -> Result<(), EntryError> {
        let (&table, key) = stored_key.split_first().ok_or(EntryError::EmptyKey)?;
        let mut result = Err(EntryError::UnknownTable(table));
        for_each_table!(self, |t| if t.id() == table {
            result = t
                .apply_stored(key, value, tracked)
                .map_err(|source| EntryError::Undecodable { table, source });
        });
        result
    }
}
